//! The command killed at exact system calls (strace SIGKILLs it when it enters its Nth write,
//! fdatasync, fsync or rename, for every N in turn): `init` leaves no store or a whole one, and
//! an import killed anywhere resumes, when run again, to exactly the store an uninterrupted
//! import makes.

mod common;

use common::Sandbox;
use common::kill::{DURABILITY_SYSCALLS, run_killed_at, strace_available};

#[test]
fn init_killed_at_any_write_sync_or_rename_leaves_no_store_or_a_whole_one() {
    if !strace_available() {
        return;
    }
    let mut kills = 0;
    for &syscall in DURABILITY_SYSCALLS {
        for n in 1.. {
            let sandbox = Sandbox::new();
            let run = run_killed_at(&sandbox.std_command(&["init", "--dim", "64"]), syscall, n);
            if !run.killed {
                assert!(run.output.status.success(), "{syscall} #{n}");
                break;
            }
            kills += 1;
            if sandbox.db.exists() {
                // A whole store, its embedder recorded.
                let stats = sandbox.json(&["stats"]);
                assert_eq!(stats["embedder"], "hash-v1 dim=64", "{syscall} #{n}");
                assert_eq!(stats["dimension"], 64);
                assert!(
                    sandbox
                        .fails(&["init", "--dim", "64"])
                        .contains("already exists")
                );
            } else {
                let err = sandbox.fails(&["stats"]);
                assert!(err.contains("no store at"), "{syscall} #{n}: {err}");
                sandbox.ok(&["init", "--dim", "64"]);
                assert_eq!(sandbox.json(&["stats"])["embedder"], "hash-v1 dim=64");
            }
        }
    }
    assert!(kills >= DURABILITY_SYSCALLS.len(), "{kills} kills");
}

/// 60 records whose links go backward, forward (across batches) and within a batch.
fn records() -> String {
    (0..60)
        .map(|i| {
            let links: Vec<String> = [(i * 7 + 3) % 60, (i + 1) % 60, (i + 59) % 60]
                .into_iter()
                .filter(|&j| j != i)
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .map(|j| format!(r#"{{"to": "r{j}", "weight": 0.{}}}"#, 1 + j % 9))
                .collect();
            format!(
                r#"{{"id": "r{i}", "text": "record {i} of the crash test", "time": {}, "links": [{}]}}"#,
                1_700_000_000 + i,
                links.join(", ")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

const IMPORT: [&str; 4] = ["import", "in.jsonl", "--batch", "7"];

/// A store of dimension 16 with the records in `in.jsonl`, not imported yet.
fn ready() -> Sandbox {
    let sandbox = Sandbox::new();
    sandbox.init(16);
    std::fs::write(sandbox.path("in.jsonl"), records()).expect("write");
    sandbox
}

/// What an uninterrupted import of the records exports.
fn uninterrupted() -> String {
    let reference = ready();
    reference.ok(&IMPORT);
    let export = reference.ok(&["export"]);
    assert_eq!(export.lines().count(), 60);
    export
}

#[test]
fn an_import_killed_at_any_sync_or_write_resumes_to_the_same_store() {
    if !strace_available() {
        return;
    }
    let expected = uninterrupted();

    let mut resumed = 0;
    // Every fdatasync, and every third pwrite64 (a batch makes two: its pages and the meta
    // page).
    for (syscall, step) in [("fdatasync", 1), ("pwrite64", 3)] {
        for n in (1..).step_by(step) {
            let sandbox = ready();
            let run = run_killed_at(&sandbox.std_command(&IMPORT), syscall, n);
            if !run.killed {
                assert!(run.output.status.success(), "{syscall} #{n}");
                break;
            }
            let out = sandbox.engram(&IMPORT).output().expect("run");
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "{syscall} #{n}: {stderr}");
            let before = resumed_after(&stderr);
            resumed += usize::from(before > 0);
            assert_eq!(
                sandbox.ok(&["export"]),
                expected,
                "{syscall} #{n}: resumed after {before} records"
            );
        }
    }
    assert!(resumed >= 10, "only {resumed} kills fell after a commit");
}

/// The records a resumed import said were stored before, from its note (0 if it started
/// afresh).
fn resumed_after(stderr: &str) -> usize {
    stderr
        .lines()
        .find_map(|line| {
            line.strip_prefix("engram: resuming the import of in.jsonl after the ")?
                .split_once(' ')?
                .0
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

#[test]
fn a_resumed_import_killed_again_still_ends_in_the_same_store() {
    if !strace_available() {
        return;
    }
    let expected = uninterrupted();

    let sandbox = ready();
    // Three kills, each a few commits into its run (a batch commits with one fdatasync, and
    // 60 records in batches of 7 make 9), then a run to the end.
    for n in [3, 2, 2] {
        let run = run_killed_at(&sandbox.std_command(&IMPORT), "fdatasync", n);
        assert!(run.killed, "killed at fdatasync #{n}");
    }
    let stored: u64 = sandbox.json(&["stats"])["memories"]
        .as_u64()
        .expect("memories");
    assert!(
        (1..60).contains(&stored),
        "{stored} stored after three kills"
    );
    sandbox.ok(&IMPORT);
    assert_eq!(sandbox.ok(&["export"]), expected);
    // Once more: nothing to do.
    assert!(sandbox.ok(&IMPORT).contains("already imported"));
    assert_eq!(sandbox.ok(&["export"]), expected);
}
