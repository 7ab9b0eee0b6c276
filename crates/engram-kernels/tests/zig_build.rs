//! What the linked Zig library says about how it was built: the pinned Zig, the CPU that
//! build.rs asked for (never the build machine's by default), and a working FFI call.

use engram_kernels::{Backend, Kernels, zig_add_u32, zig_build_info};

#[test]
#[cfg_attr(not(feature = "zig-kernels"), ignore = "needs the zig-kernels feature")]
fn library_was_built_by_the_pinned_zig() {
    let info = zig_build_info().expect("the zig-kernels feature is on");
    let zon = include_str!("../zig/build.zig.zon");
    assert!(zon.contains(&format!(".minimum_zig_version = \"{}\"", info.zig_version)));
    assert_eq!(info.zig_version, info.pinned_version);
    assert_eq!(info.abi_version, 1);
}

#[test]
#[cfg_attr(not(feature = "zig-kernels"), ignore = "needs the zig-kernels feature")]
fn library_targets_the_requested_cpu_not_the_host() {
    let info = zig_build_info().expect("the zig-kernels feature is on");
    assert_ne!(info.requested_cpu, "", "build.rs must always pass -Dcpu");
    let model = info
        .requested_cpu
        .split(['+', '-'])
        .next()
        .unwrap_or_default();
    if model == "baseline" {
        // Zig's baseline model for each architecture we build on.
        let expected: &[&str] = match std::env::consts::ARCH {
            "x86_64" => &["x86_64"],
            "aarch64" => &["generic", "cortex_a35", "apple_m1"],
            _ => &[],
        };
        assert!(
            expected.is_empty() || expected.contains(&info.cpu_model),
            "requested baseline, got cpu model {} (the host's?)",
            info.cpu_model
        );
    } else if model != "native" {
        assert_eq!(info.cpu_model, model);
    }
    // The target Zig compiled for is the one cargo compiles for.
    assert!(
        info.target.starts_with(std::env::consts::ARCH),
        "{}",
        info.target
    );
}

#[test]
#[cfg_attr(not(feature = "zig-kernels"), ignore = "needs the zig-kernels feature")]
fn zig_is_the_default_and_describes_itself() {
    assert_eq!(Backend::best_compiled(), Backend::Zig);
    let description = Kernels::best_compiled().describe();
    assert!(description.starts_with("zig (Zig 0.17.1"), "{description}");
    assert_eq!(zig_add_u32(u32::MAX, 3), Some(2));
}

#[test]
#[cfg_attr(
    feature = "zig-kernels",
    ignore = "only meaningful without the zig-kernels feature"
)]
fn without_the_feature_there_is_no_zig() {
    assert!(zig_build_info().is_none());
    assert_eq!(zig_add_u32(1, 2), None);
    assert_eq!(Backend::best_compiled(), Backend::Rust);
    assert_eq!(
        Kernels::best_compiled().describe(),
        "rust (pure-Rust reference backend)"
    );
}
