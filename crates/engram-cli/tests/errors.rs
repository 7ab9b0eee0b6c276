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
        (&["recall", "one", "--spread-decay", "0"], "spread_decay"),
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
        (&["import", "missing.jsonl"], "is not a file"),
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
