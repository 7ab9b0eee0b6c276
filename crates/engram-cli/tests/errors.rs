//! User mistakes: each is one line on stderr saying what and what to do, exit status 1, no
//! panic or backtrace, and nothing changed in the store. Usage errors exit with 2.

mod common;

use common::Sandbox;

fn memories(sandbox: &Sandbox) -> u64 {
    sandbox.json(&["stats"])["memories"]
        .as_u64()
        .expect("count")
}

#[test]
fn a_missing_store_says_how_to_create_one() {
    let sandbox = Sandbox::new();
    for args in [
        vec!["remember", "x"],
        vec!["recall", "x"],
        vec!["associate", "1", "2"],
        vec!["forget", "1"],
        vec!["show", "1"],
        vec!["stats"],
        vec!["export"],
        vec!["import", "x.jsonl"],
        vec!["bench"],
    ] {
        let err = sandbox.fails(&args);
        assert!(
            err.contains("no store at") && err.contains("engram init"),
            "{err}"
        );
    }
    assert!(!sandbox.db.exists(), "nothing was created");
}

#[test]
fn bad_values_are_refused_and_nothing_is_stored() {
    let sandbox = Sandbox::new();
    sandbox.init(4);
    sandbox.ok(&["remember", "one"]);
    sandbox.ok(&["remember", "two"]);
    let cases: &[(&[&str], &str)] = &[
        (
            &["remember", "x", "--strength", "2"],
            "strength 2 is outside [0, 1]",
        ),
        (
            &["remember", "--vector", "[1, 2, 3]"],
            "3 elements but this store's dimension is 4",
        ),
        (
            &["remember", "--vector", "[1, 2, \"x\", 4]"],
            "not a JSON array of numbers",
        ),
        (
            &["remember", "--vector-file", "missing.json"],
            "reading the vector file",
        ),
        (&["remember", "!!! ???"], "has no words"),
        (&["remember"], "give a TEXT, or a vector"),
        (
            &["remember", "x", "--at", "yesterday"],
            "neither Unix seconds nor RFC 3339",
        ),
        (&["associate", "1", "9"], "no memory has id 9"),
        (&["associate", "1", "1"], "itself"),
        (
            &["associate", "1", "2", "--weight", "1.5"],
            "outside [-1, 1]",
        ),
        (&["dissociate", "1", "2"], "no association from 1 to 2"),
        (&["forget", "1", "9"], "no memory has id 9"),
        (&["show", "9"], "no memory has id 9"),
        (&["recall", "one", "--k", "0"], "parameter k = 0 is invalid"),
        (&["recall", "one", "--hops", "17"], "hops"),
        (&["recall", "one", "--attenuation", "0"], "attenuation"),
        (&["recall", "one", "--spread-decay", "0"], "attenuation"),
        (&["recall", "one", "--threshold", "-1"], "threshold"),
        (
            &["remember", "x", "--strength", "-0.5"],
            "strength -0.5 is outside [0, 1]",
        ),
        (&["recall", "one", "--half-life", "soon"], "not a duration"),
        (&["recall", "one", "--power-law", "1d"], "SCALE,EXPONENT"),
        (&["recall", "one", "--reinforce", "2"], "reinforce"),
        (&["recall", "--vector", "[1e40, 0, 0, 0]"], "finite"),
        (&["bench", "--recalls", "0"], "--recalls must be at least 1"),
        (&["import", "missing.jsonl"], "does not exist"),
        (
            &["remember", "--vector", "[0, 0, 0, 0]"],
            "all zeros; cosine similarity needs at least one non-zero element",
        ),
        (&["recall", "--vector", "[0, -0, 0, 0]"], "all zeros"),
        (
            &["remember", "x", "--at", "9223372036854775807"],
            "outside the supported range: Unix seconds -62167219200..=253402300799",
        ),
        (
            &["remember", "x", "--at", "10000-01-01T00:00:00Z"],
            "neither Unix seconds nor RFC 3339",
        ),
        (
            &["recall", "one", "--at", "-99999999999999"],
            "outside the supported range",
        ),
        (&["export", "test.db"], "is the store itself"),
    ];
    for (args, expected) in cases {
        let err = sandbox.fails(args);
        assert!(err.contains(expected), "engram {args:?}: {err}");
    }
    assert_eq!(memories(&sandbox), 2);
    assert_eq!(sandbox.json(&["stats"])["associations"], 0);
    // forget is all or nothing: 1 exists, 9 does not, so 1 stays.
    assert!(sandbox.json(&["show", "1"])["id"] == 1);
}

#[test]
fn a_vector_only_store_asks_for_vectors() {
    let sandbox = Sandbox::new();
    sandbox.ok(&["init", "--dim", "2", "--embedder", "none"]);
    let err = sandbox.fails(&["remember", "some text"]);
    assert!(
        err.contains("no text embedder") && err.contains("--vector"),
        "{err}"
    );
    assert_eq!(
        sandbox.json(&["remember", "labelled", "--vector", "[1, 0]"])["id"],
        1
    );
    let err = sandbox.fails(&["recall", "text"]);
    assert!(err.contains("no text embedder"), "{err}");
    assert_eq!(
        common::ids(&sandbox.json(&["recall", "--vector", "[1, 0.1]"])),
        [1]
    );
}

#[test]
fn damaged_or_foreign_files_and_bad_settings_are_one_line_errors() {
    let sandbox = Sandbox::new();
    std::fs::write(&sandbox.db, "this is not a database").expect("write");
    let err = sandbox.fails(&["stats"]);
    assert!(err.contains("test.db"), "{err}");
    let err = sandbox.fails(&["init", "--dim", "0"]);
    assert!(err.contains("dimension 0"), "{err}");

    let sandbox = Sandbox::new();
    sandbox.init(4);
    let out = sandbox
        .engram(&["recall", "x"])
        .env("ENGRAM_KERNELS", "fortran")
        .output()
        .expect("run");
    let err = common::user_error(&out, &["recall"]);
    assert!(
        err.contains("fortran") && err.contains("ENGRAM_KERNELS"),
        "{err}"
    );
}

#[test]
fn usage_errors_exit_with_2_and_show_usage() {
    let sandbox = Sandbox::new();
    for args in [
        vec!["frobnicate"],
        vec!["associate", "1"],
        vec!["associate", "a", "b"],
        vec!["init", "--embedder", "bert"],
        vec!["remember", "x", "--vector", "[1]", "--vector-file", "f"],
    ] {
        let out = sandbox.engram(&args).output().expect("run");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.starts_with("error:") && stderr.contains("--help"),
            "{args:?}: {stderr}"
        );
    }
}

#[test]
fn endless_or_huge_vector_files_are_refused_at_the_limit() {
    let sandbox = Sandbox::new();
    sandbox.init(4);
    let started = std::time::Instant::now();
    let err = sandbox.fails(&["remember", "--vector-file", "/dev/zero"]);
    assert!(err.contains("more than 16 MiB"), "{err}");
    let err = sandbox.fails(&["recall", "--vector-file", "/dev/zero"]);
    assert!(err.contains("more than 16 MiB"), "{err}");
    let zeros = std::fs::File::open("/dev/zero").expect("/dev/zero");
    let out = sandbox
        .std_command(&["remember", "--vector-file", "-"])
        .stdin(zeros)
        .output()
        .expect("run");
    assert!(common::user_error(&out, &["remember"]).contains("16 MiB"));
    // Refused after reading the limit, not after filling the memory.
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    assert_eq!(memories(&sandbox), 0);
}

#[test]
fn storage_errors_say_what_to_do_and_only_a_busy_store_blames_another_process() {
    const OTHER_PROCESS: &str = "another engram process";
    let sandbox = Sandbox::new();
    std::fs::write(&sandbox.db, "").expect("write");
    let err = sandbox.fails(&["stats"]);
    assert!(
        err.contains("not an engram store")
            && err.contains("the file is empty")
            && !err.contains(OTHER_PROCESS),
        "{err}"
    );
    std::fs::write(&sandbox.db, "plain text\n".repeat(1000)).expect("write");
    let err = sandbox.fails(&["recall", "x"]);
    assert!(
        err.contains("not an engram store")
            && err.contains("engram init")
            && !err.contains(OTHER_PROCESS),
        "{err}"
    );

    // A path through a file, or into a directory that does not exist.
    let sandbox = Sandbox::new().with_db("file/s.db");
    std::fs::write(sandbox.path("file"), "x").expect("write");
    let err = sandbox.fails(&["init"]);
    assert!(
        err.contains("not a directory") && !err.contains(OTHER_PROCESS),
        "{err}"
    );
    let sandbox = sandbox.with_db("missing/s.db");
    let err = sandbox.fails(&["init"]);
    assert!(
        err.contains("create it first") && !err.contains(OTHER_PROCESS),
        "{err}"
    );
    let sandbox = sandbox.with_db(".");
    let err = sandbox.fails(&["stats"]);
    assert!(
        err.contains("directory") && !err.contains(OTHER_PROCESS),
        "{err}"
    );

    // Busy: another process writes for longer than a writer waits (`flock` holds the lock an
    // engram writer holds while it commits). Reading does not wait.
    let sandbox = Sandbox::new();
    sandbox.init(4);
    let ready = sandbox.path("ready");
    let mut holder = std::process::Command::new("flock");
    std::os::unix::process::CommandExt::process_group(&mut holder, 0);
    let mut holder = holder
        .arg("--exclusive")
        .arg(&sandbox.db)
        .args(["sh", "-c"])
        .arg(format!("touch '{}'; sleep 30", ready.display()))
        .spawn()
        .expect("flock");
    let start = std::time::Instant::now();
    while !ready.exists() {
        assert!(start.elapsed().as_secs() < 20, "flock never started");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let out = sandbox
        .std_command(&["remember", "x"])
        .env("ENGRAM_BUSY_TIMEOUT", "300ms")
        .output()
        .expect("run");
    let err = common::user_error(&out, &["remember"]);
    assert!(
        err.contains("busy") && err.contains("another engram process"),
        "{err}"
    );
    assert!(sandbox.ok(&["stats"]).contains("memories      0"));
    let group = format!("-{}", holder.id());
    let killed = std::process::Command::new("kill")
        .args(["-KILL", "--", &group])
        .status();
    assert!(killed.expect("kill").success());
    holder.wait().expect("wait");

    if !common::kill::strace_available() {
        return;
    }
    // Failures the machine cannot be put into here, injected at the store's system calls.
    let sandbox = Sandbox::new();
    sandbox.init(4);
    for (args, syscall, errno, expected) in [
        (
            &["remember", "x"][..],
            "pwrite64",
            "ENOSPC",
            "free some space",
        ),
        (
            &["remember", "x"],
            "openat",
            "EROFS",
            "read-only file system",
        ),
        (&["stats"], "openat", "EACCES", "permission denied"),
        (&["remember", "x"], "fdatasync", "EIO", "Input/output error"),
    ] {
        let out = sandbox.under_strace(&sandbox.db, args, &format!("{syscall}:error={errno}"));
        let err = common::user_error(&out, args);
        assert!(
            err.contains(expected) && !err.contains(OTHER_PROCESS),
            "{errno}: {err}"
        );
    }
    assert_eq!(memories(&sandbox), 0, "the failed writes stored nothing");
}

/// Runs `engram --db DB ARGS REDIRECT` through bash.
fn redirected(sandbox: &Sandbox, args: &str, redirect: &str) -> std::process::Output {
    sandbox.shell(&format!(r#""$ENGRAM" --db "$DB" {args} {redirect}"#))
}

#[test]
fn a_full_standard_error_or_output_is_exit_1_never_a_panic() {
    let sandbox = Sandbox::new();
    // No store: the error cannot be printed, but the status says it.
    let out = redirected(&sandbox, "stats", "2>/dev/full");
    assert_eq!(out.status.code(), Some(1));
    sandbox.init(4);
    sandbox.ok(&["remember", "one"]);
    for args in ["stats", "recall one", "export", "show 1", "info"] {
        let out = redirected(&sandbox, args, ">/dev/full");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args}: {stderr}");
        assert!(
            stderr.contains("cannot write to standard output") && !stderr.contains("panicked"),
            "{args}: {stderr}"
        );
        let out = redirected(&sandbox, args, ">/dev/full 2>/dev/full");
        assert_eq!(out.status.code(), Some(1), "{args}");
    }
    let err = sandbox.fails(&["export", "/dev/full"]);
    assert!(err.contains("cannot write /dev/full"), "{err}");
    // An import whose messages cannot be written still imports, and says so by its status.
    std::fs::write(sandbox.path("in.jsonl"), "{\"text\": \"two\"}\n").expect("write");
    let out = redirected(
        &sandbox,
        &format!("import '{}'", sandbox.path("in.jsonl").display()),
        ">/dev/full 2>/dev/full",
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(memories(&sandbox), 2);
}

/// Runs `engram --db DB ARGS` as the user `nobody` (root runs the tests here), with
/// `setpriv`, from a copy of the binary in the sandbox (the build directory may be closed to
/// other users).
fn as_nobody(sandbox: &Sandbox, args: &[&str]) -> std::process::Output {
    let command = sandbox.std_command(args);
    let binary = sandbox.path("engram-for-nobody");
    if !binary.exists() {
        std::fs::copy(command.get_program(), &binary).expect("copy the binary");
    }
    std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(&binary)
        .args(command.get_args())
        .current_dir(sandbox.dir.path())
        .output()
        .expect("setpriv")
}

#[test]
fn another_user_reads_a_store_given_its_lock_file_and_writes_nothing() {
    use std::os::unix::fs::PermissionsExt;
    // Only root can act as another user; CI runs as root.
    let root = std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"));
    if !root {
        eprintln!("skipped: needs root to run engram as another user");
        return;
    }
    let sandbox = Sandbox::new();
    sandbox.init(4);
    sandbox.ok(&["remember", "a cat"]);
    // The directory and the store are root's, readable by all (0755 and 0644).
    std::fs::set_permissions(sandbox.dir.path(), std::fs::Permissions::from_mode(0o755))
        .expect("chmod dir");
    std::fs::set_permissions(&sandbox.db, std::fs::Permissions::from_mode(0o644))
        .expect("chmod store");
    let lock = sandbox.path("test.db-lock");
    std::fs::set_permissions(&lock, std::fs::Permissions::from_mode(0o644)).expect("chmod lock");
    let before = std::fs::read(&sandbox.db).expect("read");
    // Without write access to the lock file: a clear error naming it.
    let out = as_nobody(&sandbox, &["stats"]);
    let err = common::user_error(&out, &["stats"]);
    assert!(
        err.contains("permission denied") && err.contains("lock file"),
        "{err}"
    );
    // With it, every reading command works, and nothing is written.
    std::fs::set_permissions(&lock, std::fs::Permissions::from_mode(0o666)).expect("chmod lock");
    for args in [
        &["stats"][..],
        &["recall", "cat"],
        &["show", "1"],
        &["export"],
    ] {
        let out = as_nobody(&sandbox, args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = as_nobody(&sandbox, &["--json", "recall", "cat"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("a cat"));
    // Writing needs write access to the store.
    let out = as_nobody(&sandbox, &["remember", "a dog"]);
    let err = common::user_error(&out, &["remember"]);
    assert!(err.contains("permission denied"), "{err}");
    assert_eq!(
        std::fs::read(&sandbox.db).expect("read"),
        before,
        "unchanged"
    );
}
