//! `import` and `export`: the JSON Lines format both ways, links across batches, bad lines
//! reported by number with nothing imported, and an exact round trip.

mod common;

use common::Sandbox;

fn stats(sandbox: &Sandbox) -> (u64, u64) {
    let stats = sandbox.json(&["stats"]);
    (
        stats["memories"].as_u64().expect("memories"),
        stats["associations"].as_u64().expect("associations"),
    )
}

const FILE: &str = r#"{"id": "cat", "text": "small domestic cat", "links": [{"to": "lion", "weight": 0.3}, {"to": 7}]}
{"id": "lion", "text": "Panthera leo", "strength": 0.5, "time": "2023-11-14T22:13:20Z", "links": [{"to": "cat", "weight": -0.25}]}

{"text": "a memory nothing links to", "created": 1600000000}
{"id": 7, "embedding": [0.5, 0.5, 0.5, 0.5], "time": 1700000000, "created": 1690000000, "links": [{"to": "cat", "weight": 1}]}
"#;

#[test]
fn import_maps_file_ids_and_links_forward_and_across_batches() {
    for batch in ["1", "2", "1000"] {
        let sandbox = Sandbox::new();
        sandbox.init(4);
        std::fs::write(sandbox.path("in.jsonl"), FILE).expect("write");
        let summary = sandbox.json(&["import", "in.jsonl", "--batch", batch]);
        assert_eq!(summary["memories"], 4, "batch {batch}");
        assert_eq!(summary["associations"], 4, "batch {batch}");
        assert_eq!(
            (summary["first_id"].as_u64(), summary["last_id"].as_u64()),
            (Some(1), Some(4))
        );
        let cat = sandbox.json(&["show", "1"]);
        assert_eq!(
            cat["links"],
            serde_json::json!([{"to": 2, "weight": 0.3}, {"to": 4, "weight": 0.5}])
        );
        let lion = sandbox.json(&["show", "2"]);
        assert_eq!(lion["strength"], 0.5);
        assert_eq!(
            (lion["time"].as_i64(), lion["created"].as_i64()),
            (Some(1_700_000_000), Some(1_700_000_000))
        );
        assert_eq!(
            lion["links"],
            serde_json::json!([{"to": 1, "weight": -0.25}])
        );
        let lone = sandbox.json(&["show", "3"]);
        assert_eq!(
            (lone["time"].as_i64(), lone["created"].as_i64()),
            (Some(1_600_000_000), Some(1_600_000_000))
        );
        let seven = sandbox.json(&["show", "4", "--embedding"]);
        assert_eq!(seven["created"], 1_690_000_000);
        assert_eq!(seven["text"], serde_json::Value::Null);
        assert_eq!(seven["embedding"], serde_json::json!([0.5, 0.5, 0.5, 0.5]));
    }
}

#[test]
fn import_limit_skips_links_past_it_and_says_so() {
    let sandbox = Sandbox::new();
    sandbox.init(4);
    std::fs::write(sandbox.path("in.jsonl"), FILE).expect("write");
    let summary = sandbox.json(&["import", "in.jsonl", "--limit", "2"]);
    assert_eq!(summary["memories"], 2);
    assert_eq!(summary["associations"], 2);
    assert_eq!(summary["skipped_links"], 1);
    let text = Sandbox::new();
    text.init(4);
    std::fs::write(text.path("in.jsonl"), FILE).expect("write");
    assert!(
        text.ok(&["import", "in.jsonl", "--limit", "2"])
            .contains("skipped 1 links")
    );
}

/// Imports with `args` (`import FILE ...`), expects it refused with `count` bad lines and
/// nothing imported, and each `(line, why)` reported on its line.
fn refused_lines(sandbox: &Sandbox, args: &[&str], count: usize, expected: &[(usize, &str)]) {
    let out = sandbox.engram(args).output().expect("run");
    let last = common::user_error(&out, args);
    assert!(
        last.contains(&format!("{count} bad lines")) && last.contains("nothing was imported"),
        "{last}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    let file = args[1];
    for (line, why) in expected {
        let reported = stderr
            .lines()
            .find(|l| l.starts_with(&format!("{file}: line {line}: ")));
        assert!(
            reported.is_some_and(|l| l.contains(why)),
            "line {line} ({why}): {stderr}"
        );
    }
    assert!(!stderr.contains("untagged enum"), "{stderr}");
    assert_eq!(stats(sandbox), (0, 0));
}

#[test]
fn bad_lines_are_reported_by_number_and_nothing_is_imported() {
    let sandbox = Sandbox::new();
    sandbox.init(4);
    let mut lines: Vec<String> = (0..30)
        .map(|i| format!(r#"{{"id": {i}, "text": "memory number {i}"}}"#))
        .collect();
    lines[3] = r#"{"id": 3, "embedding": [1, 2]}"#.into();
    lines[5] = r#"{"id": 5, "text": "x", "strenght": 1}"#.into();
    lines[8] = r#"{"id": 8, "text": "x", "strength": 7}"#.into();
    lines[11] = r#"{"id": 2, "text": "duplicate id"}"#.into();
    lines[14] = r#"{"id": 14, "text": "x", "links": [{"to": 99}]}"#.into();
    lines[17] = r#"{"id": 17, "text": "x", "links": [{"to": 17}]}"#.into();
    lines[20] = r#"{"id": 20, "text": "x", "links": [{"to": 1, "weight": 3}]}"#.into();
    lines[23] = r#"{"id": 23, "text": "x", "time": "tomorrow"}"#.into();
    lines[26] = "{not json".into();
    std::fs::write(sandbox.path("bad.jsonl"), lines.join("\n")).expect("write");
    refused_lines(
        &sandbox,
        &["import", "bad.jsonl", "--batch", "4"],
        9,
        &[
            (4, "2 dimensions but this store's dimension is 4"),
            (6, "unknown field `strenght`"),
            (9, "strength 7"),
            (12, "already used on line 3"),
            (15, "no record has"),
            (18, "links to itself"),
            (21, "weight 3"),
            (24, "tomorrow"),
            (27, "column"),
        ],
    );
}

#[test]
fn export_then_import_gives_the_same_store_exactly() {
    let sandbox = Sandbox::new();
    sandbox.init(16);
    std::fs::write(
        sandbox.path("in.jsonl"),
        FILE.replace("[0.5, 0.5, 0.5, 0.5]", &format!("{:?}", [0.1f32; 16])),
    )
    .expect("write");
    sandbox.ok(&["import", "in.jsonl"]);
    sandbox.ok(&["forget", "3"]);
    sandbox.ok(&[
        "remember",
        "after the import: ünïcödé, \"quotes\"\nand a newline",
    ]);
    let exported = sandbox.json(&["export", "out.jsonl"]);
    assert_eq!(
        (
            exported["memories"].as_u64(),
            exported["associations"].as_u64()
        ),
        (Some(4), Some(4))
    );
    let first = std::fs::read_to_string(sandbox.path("out.jsonl")).expect("read");
    // Standard output gets the same lines.
    assert_eq!(sandbox.ok(&["export"]), first);

    let copy = Sandbox::new();
    copy.init(16);
    std::fs::copy(sandbox.path("out.jsonl"), copy.path("in.jsonl")).expect("copy");
    copy.ok(&["import", "in.jsonl"]);
    copy.ok(&["export", "out.jsonl"]);
    let second = std::fs::read_to_string(copy.path("out.jsonl")).expect("read");
    // Ids are renumbered densely in the same order (the forgotten 3 leaves no gap); map the
    // first export's ids onto the second's and everything else must be equal.
    let parse = |text: &str| -> Vec<serde_json::Value> {
        text.lines()
            .map(|l| serde_json::from_str(l).expect("json line"))
            .collect()
    };
    let (first, second) = (parse(&first), parse(&second));
    let new_id: std::collections::HashMap<u64, u64> = first
        .iter()
        .zip(&second)
        .map(|(a, b)| (a["id"].as_u64().expect("id"), b["id"].as_u64().expect("id")))
        .collect();
    assert_eq!(new_id.len(), 4);
    for (mut a, b) in first.into_iter().zip(second) {
        let id = a["id"].as_u64().expect("id");
        a["id"] = new_id[&id].into();
        if let Some(links) = a.get_mut("links").and_then(|l| l.as_array_mut()) {
            for link in links {
                let to = link["to"].as_u64().expect("to");
                link["to"] = new_id[&to].into();
            }
        }
        assert_eq!(a, b);
    }
    let at = ["--at", "1700000000"];
    let recall = |s: &Sandbox| {
        let r = s.json(&["recall", "domestic cat", at[0], at[1]]);
        r["results"]
            .as_array()
            .expect("results")
            .iter()
            .map(|r| (r["score"].clone(), r["text"].clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(recall(&sandbox), recall(&copy));
}

#[test]
fn export_into_a_closed_pipe_is_not_an_error() {
    let sandbox = Sandbox::new();
    sandbox.init(4);
    let lines: Vec<String> = (0..5000)
        .map(|i| format!(r#"{{"text": "memory {i}"}}"#))
        .collect();
    std::fs::write(sandbox.path("in.jsonl"), lines.join("\n")).expect("write");
    sandbox.ok(&["import", "in.jsonl"]);
    let out = sandbox.shell(
        r#""$ENGRAM" --db "$DB" export | head -n 1 >/dev/null; echo "status ${PIPESTATUS[0]}""#,
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.trim(), "status 0");
}

#[test]
fn a_byte_order_mark_crlf_and_blank_lines_are_accepted() {
    let sandbox = Sandbox::new();
    sandbox.init(4);
    std::fs::write(
        sandbox.path("bom.jsonl"),
        "\u{feff}{\"id\": 1, \"text\": \"first\"}\r\n\r\n{\"text\": \"second\", \"links\": [{\"to\": 1}]}\r\n",
    )
    .expect("write");
    let summary = sandbox.json(&["import", "bom.jsonl"]);
    assert_eq!(
        (
            summary["memories"].as_u64(),
            summary["associations"].as_u64()
        ),
        (Some(2), Some(1))
    );
    assert_eq!(sandbox.json(&["show", "1"])["text"], "first");
}

#[test]
fn bad_ids_times_and_repeated_links_say_what_is_allowed() {
    let sandbox = Sandbox::new();
    sandbox.init(4);
    let lines = [
        r#"{"id": -1, "text": "a"}"#,
        r#"{"id": 18446744073709551616, "text": "b"}"#,
        r#"{"id": 1.5, "text": "c"}"#,
        r#"{"id": true, "text": "d"}"#,
        r#"{"text": "e", "time": 1e30}"#,
        r#"{"text": "f", "time": 9223372036854775807}"#,
        r#"{"text": "g", "created": 1.5}"#,
        r#"{"id": 8, "text": "h", "links": [{"to": 9}, {"to": "9"}]}"#,
        r#"{"id": 9, "text": "i", "embedding": [0, 0, 0, 0]}"#,
        r#"{"text": "j", "time": "99999-01-01T00:00:00Z"}"#,
    ];
    std::fs::write(sandbox.path("bad.jsonl"), lines.join("\n")).expect("write");
    refused_lines(
        &sandbox,
        &["import", "bad.jsonl"],
        10,
        &[
            (
                1,
                "id -1 is negative; an id is a string, or an integer from 0 to 18446744073709551615",
            ),
            (2, "an integer from 0 to 18446744073709551615"),
            (3, "id 1.5 is not an integer"),
            (4, "expected an id: a string, or an integer"),
            (5, "outside the supported range"),
            (6, "outside the supported range"),
            (7, "not a whole number of seconds"),
            (8, "links to id \"9\" twice"),
            (9, "all zeros"),
            (10, "neither Unix seconds nor RFC 3339"),
        ],
    );
}

#[test]
fn export_never_overwrites_the_store_by_another_name() {
    let sandbox = Sandbox::new();
    sandbox.init(4);
    sandbox.ok(&["remember", "keep me"]);
    std::fs::hard_link(&sandbox.db, sandbox.path("hard.db")).expect("hard link");
    std::os::unix::fs::symlink(&sandbox.db, sandbox.path("soft.db")).expect("symlink");
    for name in ["hard.db", "soft.db", "test.db", "./test.db"] {
        let err = sandbox.fails(&["export", name]);
        assert!(err.contains("is the store itself"), "{name}: {err}");
    }
    // Standard output appended to the store.
    let out = sandbox.shell(r#""$ENGRAM" --db test.db export >> test.db"#);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("standard output is the store itself"));
    // Still a whole store (its bytes may differ: opening a store writes to it).
    assert_eq!(stats(&sandbox), (1, 0));
    assert_eq!(sandbox.json(&["show", "1"])["text"], "keep me");
}

fn lines(n: usize) -> String {
    (1..=n)
        .map(|i| {
            let link = if i > 1 {
                format!(r#", "links": [{{"to": {}}}]"#, i - 1)
            } else {
                String::new()
            };
            format!(
                r#"{{"id": {i}, "text": "record {i}", "time": {}{link}}}"#,
                1_700_000_000 + i
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

#[test]
fn standard_input_and_pipes_import_and_a_bad_line_there_imports_nothing() {
    let sandbox = Sandbox::new();
    sandbox.init(4);
    let summary: serde_json::Value = {
        let out = sandbox
            .engram(&["--json", "import", "-", "--batch", "3"])
            .write_stdin(lines(10))
            .output()
            .expect("run");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("json")
    };
    assert_eq!(
        (
            summary["memories"].as_u64(),
            summary["associations"].as_u64()
        ),
        (Some(10), Some(9))
    );
    assert_eq!(summary["source"], "standard input");
    // The same input again: nothing to do.
    let out = sandbox
        .engram(&["import", "-"])
        .write_stdin(lines(10))
        .output()
        .expect("run");
    assert!(String::from_utf8_lossy(&out.stdout).contains("already imported"));
    let mut bad = lines(5);
    bad.push_str("{\"text\": \"six\", \"strength\": 3}\n");
    let out = sandbox
        .engram(&["import", "-"])
        .write_stdin(bad)
        .output()
        .expect("run");
    let err = common::user_error(&out, &["import", "-"]);
    assert!(err.contains("nothing was imported"), "{err}");
    assert_eq!(stats(&sandbox), (10, 9));

    // A pipe named by a path, as a shell's process substitution makes.
    let fresh = Sandbox::new();
    fresh.init(4);
    std::fs::write(fresh.path("in.jsonl"), lines(4)).expect("write");
    let out = fresh.shell(r#""$ENGRAM" --db test.db import <(cat in.jsonl)"#);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stats(&fresh), (4, 3));
    // The file itself holds the same records: imported already, through the pipe.
    assert!(
        fresh
            .ok(&["import", "in.jsonl"])
            .contains("already imported")
    );
}

#[test]
fn importing_again_continues_after_what_is_stored() {
    let sandbox = Sandbox::new();
    sandbox.init(4);
    std::fs::write(sandbox.path("in.jsonl"), lines(12)).expect("write");
    // A first part (--limit), then the rest: one import, no record twice.
    let first = sandbox.json(&["import", "in.jsonl", "--limit", "5"]);
    assert_eq!(
        (first["memories"].as_u64(), first["complete"].as_bool()),
        (Some(5), Some(true))
    );
    let rest = sandbox.json(&["import", "in.jsonl"]);
    assert_eq!(rest["resumed_after"], 5);
    assert_eq!(
        (rest["memories"].as_u64(), rest["associations"].as_u64()),
        (Some(7), Some(7))
    );
    assert_eq!(
        (rest["first_id"].as_u64(), rest["last_id"].as_u64()),
        (Some(6), Some(12))
    );
    assert_eq!(stats(&sandbox), (12, 11));
    // The 6th record's link to the 5th, written when the 6th was stored.
    assert_eq!(
        sandbox.json(&["show", "6"])["links"],
        serde_json::json!([{"to": 5, "weight": 0.5}])
    );
    // The same file again: nothing to do, and it says so.
    let out = sandbox.ok(&["import", "in.jsonl"]);
    assert!(
        out.contains("already imported") && out.contains("--again"),
        "{out}"
    );
    assert_eq!(stats(&sandbox), (12, 11));
    // The file grew: only its new records are imported.
    std::fs::write(sandbox.path("in.jsonl"), lines(15)).expect("write");
    let grown = sandbox.ok(&["import", "in.jsonl"]);
    assert!(
        grown.contains("imported 3 memories") && grown.contains("after the 12 records"),
        "{grown}"
    );
    assert_eq!(stats(&sandbox), (15, 14));
    // --again imports it once more, as a new import.
    let again = sandbox.json(&["import", "in.jsonl", "--again"]);
    assert_eq!(
        (again["memories"].as_u64(), again["resumed_after"].as_u64()),
        (Some(15), Some(0))
    );
    assert_ne!(again["import"], rest["import"]);
    assert_eq!(stats(&sandbox), (30, 28));
    // A different file is a new import, even under the same name.
    std::fs::write(
        sandbox.path("in.jsonl"),
        lines(3).replace("record", "entry"),
    )
    .expect("write");
    let out = sandbox
        .engram(&["import", "in.jsonl"])
        .output()
        .expect("run");
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("new import"), "{stderr}");
    assert_eq!(stats(&sandbox), (33, 30));
}

#[test]
fn a_full_disk_or_a_signal_stops_an_import_saying_what_is_stored_and_how_to_go_on() {
    if !common::kill::strace_available() {
        return;
    }
    let reference = Sandbox::new();
    reference.init(4);
    std::fs::write(reference.path("in.jsonl"), lines(40)).expect("write");
    reference.ok(&["import", "in.jsonl", "--batch", "5"]);
    let expected = reference.ok(&["export"]);

    let sandbox = Sandbox::new();
    sandbox.init(4);
    std::fs::write(sandbox.path("in.jsonl"), lines(40)).expect("write");
    // The disk fills during the import (a commit makes one fdatasync, so the 4th fails the
    // 4th batch): text, without a terminal.
    let out = sandbox.under_strace(
        &sandbox.db,
        &["import", "in.jsonl", "--batch", "5"],
        "fdatasync:error=ENOSPC:when=4+",
    );
    let err = common::user_error(&out, &["import"]);
    let committed = sandbox.json(&["stats"])["memories"]
        .as_u64()
        .expect("memories");
    assert_eq!(committed, 15, "three whole batches");
    for part in [
        "No space left on device",
        "free some space",
        &format!(
            "stored before it stopped: {committed} of 40 records ({committed} memories, ids 1..={committed}"
        ),
        "run `engram --db",
        "import in.jsonl --batch 5` again to continue",
    ] {
        assert!(err.contains(part), "{part}: {err}");
    }
    // Again, with --json: the summary of what is stored on stdout, the error on stderr.
    let out = sandbox.under_strace(
        &sandbox.db,
        &["--json", "import", "in.jsonl", "--batch", "5"],
        "fdatasync:error=ENOSPC:when=3+",
    );
    assert_eq!(out.status.code(), Some(1));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json summary");
    assert_eq!(summary["complete"], false);
    assert_eq!(summary["resumed_after"].as_u64(), Some(committed));
    let now = summary["committed"].as_u64().expect("committed");
    assert_eq!(now, 25, "two more batches: {summary}");
    assert!(
        summary["error"]
            .as_str()
            .is_some_and(|e| e.contains("No space left"))
    );
    let done = sandbox.ok(&["import", "in.jsonl", "--batch", "5"]);
    assert!(done.contains("all 40 are now imported"), "{done}");
    assert_eq!(sandbox.ok(&["export"]), expected);

    // SIGTERM and SIGINT while a batch commits (a batch makes one fdatasync, so the 7th is in
    // the 7th of 8 batches): that batch is stored, then the import stops; run again, it
    // finishes the same store.
    for (signal, status) in [("SIGTERM", 143), ("SIGINT", 130)] {
        let sandbox = Sandbox::new();
        sandbox.init(4);
        std::fs::write(sandbox.path("in.jsonl"), lines(40)).expect("write");
        let out = sandbox.under_strace(
            &sandbox.db,
            &["import", "in.jsonl", "--batch", "5"],
            &format!("fdatasync:signal={signal}:when=7"),
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(status), "{signal}: {stderr}");
        let (stored, _) = stats(&sandbox);
        assert!(
            stored % 5 == 0 && (5..40).contains(&stored),
            "{signal}: {stored}"
        );
        assert!(
            stderr.contains(&format!(
                "interrupted by {signal}; stored before it stopped: {stored} of 40 records"
            )) && stderr.contains("again to continue"),
            "{signal}: {stderr}"
        );
        sandbox.ok(&["import", "in.jsonl", "--batch", "5"]);
        assert_eq!(sandbox.ok(&["export"]), expected, "{signal}");
    }
    // A second signal ends the import at once, without a word; what is stored stays whole
    // batches, and running the import again finishes it.
    let sandbox = Sandbox::new();
    sandbox.init(4);
    std::fs::write(sandbox.path("in.jsonl"), lines(40)).expect("write");
    let out = sandbox.under_strace(
        &sandbox.db,
        &["import", "in.jsonl", "--batch", "5"],
        // Both in the 7th batch's commit: when it takes the writer lock (each commit takes and
        // releases it: two flocks) and at its fdatasync, before the meta page is written.
        "flock:signal=SIGINT:when=13;fdatasync:signal=SIGINT:when=7",
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(!stderr.contains("interrupted by"), "{stderr}");
    let (stored, _) = stats(&sandbox);
    assert!(stored % 5 == 0 && stored < 40, "{stored}");
    sandbox.ok(&["import", "in.jsonl", "--batch", "5"]);
    assert_eq!(sandbox.ok(&["export"]), expected);

    // A signal while the records are checked: nothing is written.
    let sandbox = Sandbox::new();
    sandbox.init(4);
    std::fs::write(sandbox.path("in.jsonl"), lines(40)).expect("write");
    let out = sandbox.under_strace(
        &sandbox.path("in.jsonl"),
        &["import", "in.jsonl"],
        "read:signal=SIGINT:when=1",
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(
        stderr.contains("interrupted by SIGINT before it wrote anything"),
        "{stderr}"
    );
    assert_eq!(stats(&sandbox), (0, 0));
}

/// A store made by the release that wrote format 1 (see the engine's
/// `tests/fixtures/README.md`): every command names `engram migrate`, which converts it into a
/// store that exports exactly what that release exported, and leaves it as it was.
#[test]
fn a_format_1_store_is_named_and_migrates_to_what_its_release_exported() {
    let fixtures =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../engram/tests/fixtures");
    let sandbox = Sandbox::new().with_db("old.db");
    std::fs::copy(fixtures.join("format-1.engram"), &sandbox.db).expect("copy the fixture");
    let original = std::fs::read(&sandbox.db).expect("read");
    for args in [
        &["stats"][..],
        &["export"],
        &["recall", "cat"],
        &["remember", "x"],
    ] {
        let err = sandbox.fails(args);
        assert!(
            err.contains("format 1") && err.contains("engram migrate OLD NEW"),
            "{args:?}: {err}"
        );
    }
    let out = sandbox.ok(&["migrate", "old.db", "new.db"]);
    assert!(
        out.contains("3 memories, 3 associations") && out.contains("old.db is unchanged"),
        "{out}"
    );
    assert_eq!(std::fs::read(&sandbox.db).expect("read"), original);
    let expected =
        std::fs::read_to_string(fixtures.join("format-1.export.jsonl")).expect("read the export");
    let new = sandbox.with_db("new.db");
    assert_eq!(new.ok(&["export"]), expected);
    assert!(
        new.fails(&["migrate", "old.db", "new.db"])
            .contains("already exists")
    );
    assert!(
        new.fails(&["migrate", "new.db", "newer.db"])
            .contains("not an engram store")
    );
}

/// Two imports of one file into one store at once, while another process remembers: every
/// record is stored once (an import that finds the other writing its records stops and says
/// so), the other process's memories are all there, and importing again does nothing.
#[test]
fn imports_racing_on_one_store_store_each_record_once() {
    let sandbox = Sandbox::new();
    sandbox.init(16);
    std::fs::write(sandbox.path("in.jsonl"), lines(3000)).expect("write");
    let import = || {
        sandbox
            .std_command(&["import", "in.jsonl", "--batch", "50"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("engram import")
    };
    let (first, second) = (import(), import());
    let mut remembered = 0;
    for i in 0..20 {
        sandbox.ok(&["remember", &format!("written meanwhile {i}")]);
        remembered += 1;
    }
    let mut succeeded = 0;
    for child in [first, second] {
        let out = child.wait_with_output().expect("import finishes");
        let stderr = String::from_utf8_lossy(&out.stderr);
        if out.status.success() {
            succeeded += 1;
        } else {
            assert!(
                stderr.contains("another import of these records is writing them"),
                "{stderr}"
            );
        }
    }
    assert!(succeeded >= 1);
    // Finish whatever a stopped import left, then nothing is left to do.
    sandbox.ok(&["import", "in.jsonl", "--batch", "50"]);
    assert!(
        sandbox
            .ok(&["import", "in.jsonl"])
            .contains("is already imported into this store (3000 records")
    );
    let exported = sandbox.ok(&["export"]);
    let mut texts: Vec<&str> = exported
        .lines()
        .map(|line| {
            let start = line.find("\"text\":\"").expect("a text") + 8;
            let end = start + line[start..].find('"').expect("its end");
            &line[start..end]
        })
        .collect();
    assert_eq!(texts.len(), 3000 + remembered);
    texts.sort_unstable();
    texts.dedup();
    assert_eq!(texts.len(), 3000 + remembered, "a record was stored twice");
    assert_eq!(stats(&sandbox), (3020, 2999));
}

/// This import leaves a file that ends before the last page its meta page names (LMDB
/// writes only the pages a commit dirtied; one it took from the end and freed in the same
/// commit is never written). It was refused as "truncated" by every later open: the store
/// must open, and read and take writes.
#[test]
fn a_store_whose_last_page_lmdb_never_wrote_opens() {
    let sandbox = Sandbox::new();
    sandbox.init(16);
    std::fs::write(sandbox.path("in.jsonl"), lines(3000)).expect("write");
    sandbox.ok(&["import", "in.jsonl", "--batch", "50"]);
    let bytes = std::fs::read(&sandbox.db).expect("read");
    let meta = |at: usize| {
        let u64_at = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8"));
        let page_size = u32::from_le_bytes(bytes[at + 40..at + 44].try_into().expect("4"));
        (
            u64_at(at + 16 + 128),
            u64_at(at + 16 + 120),
            u64::from(page_size),
        )
    };
    let (first, second) = (meta(0), meta(4096));
    let (_, last_page, page_size) = if second.0 > first.0 { second } else { first };
    // The case this test is for (if LMDB or the layout changes, pick an import that makes it).
    assert!(
        (bytes.len() as u64) < (last_page + 1) * page_size,
        "{} bytes, last page {last_page}",
        bytes.len()
    );
    assert_eq!(stats(&sandbox), (3000, 2999));
    sandbox.ok(&["remember", "one more"]);
    assert_eq!(stats(&sandbox), (3001, 2999));
}
