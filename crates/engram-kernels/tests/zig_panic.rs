//! A Zig panic must reach the Rust handler, which prints a clear message and aborts: it must
//! never unwind into Rust, return, or die silently. Rust validates every input, so no real
//! kernel call can panic; this test forces one through a raw, test-only call
//! (`__test_only_force_zig_panic`, which calls `ek_test_force_panic` in `zig/src/root.zig`),
//! in a child process.

use std::process::Command;

/// Set in the child process, which then makes the panicking call.
const CHILD: &str = "ENGRAM_KERNELS_TEST_FORCE_ZIG_PANIC";

#[test]
#[cfg_attr(not(feature = "zig-kernels"), ignore = "needs the zig-kernels feature")]
fn a_zig_panic_prints_a_clear_message_and_aborts() {
    if std::env::var_os(CHILD).is_some() {
        #[cfg(feature = "zig-kernels")]
        engram_kernels::__test_only_force_zig_panic();
        #[cfg(not(feature = "zig-kernels"))]
        unreachable!("only run with the zig-kernels feature");
    }
    let exe = std::env::current_exe().expect("the test binary knows its path");
    let output = Command::new(exe)
        .args([
            "a_zig_panic_prints_a_clear_message_and_aborts",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .output()
        .expect("the child test process starts");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success(),
        "the child should have aborted; stderr:\n{stderr}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(
            output.status.signal(),
            Some(6),
            "expected SIGABRT, got {:?}; stderr:\n{stderr}",
            output.status
        );
    }
    assert!(
        stderr.contains("engram-kernels: a Zig kernel panicked: deliberate panic, forced by engram-kernels' panic-handler test"),
        "the handler's message is missing; stderr:\n{stderr}"
    );
    assert!(
        stderr.contains("This is a bug in engram-kernels"),
        "stderr:\n{stderr}"
    );
    assert!(
        !stderr.contains("never returns"),
        "the handler returned; stderr:\n{stderr}"
    );
}
