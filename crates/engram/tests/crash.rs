//! Crash safety at exact system calls. A child process (this test binary, in a child mode)
//! creates a store or appends batches to it; strace SIGKILLs it when it enters its Nth
//! pwrite64, writev, fdatasync, fsync or rename, for every N in turn, so every point where the store reaches the
//! disk is a crash point — deterministically, never by luck. After each kill the store is
//! reopened and checked: creation left no store or a whole one (with its properties), every
//! acknowledged batch is there, no batch is half-stored, no association points at a missing
//! memory. `CRASH_KILLS` sets how many appending children are killed (default 24). The same
//! runs on an int8 store whose children compact often (every code rewritten), checking after
//! each kill that its recalls find what the f32 scan finds.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use common::kill::{CREATE_SYSCALLS, DURABILITY_SYSCALLS, run_killed_at, strace_available};
use common::{Rng, file_names, memory};
use engram_graph::{Engram, MemoryId, Options, Precision, RecallParams, WriteBatch};

const DIM: usize = 16;
const ITEMS: usize = 5;
/// Batches an appending child writes before it exits on its own.
const CHILD_BATCHES: u64 = 8;
const CHILD_ENV: &str = "ENGRAM_CRASH_CHILD_STORE";
const MODE_ENV: &str = "ENGRAM_CRASH_CHILD_MODE";
const PROPERTIES: [(&str, &str); 2] = [("engram.embedder", "hash-v1 dim=16"), ("owner", "test")];

/// `(batch, item)` of a memory written by the child: content "b{batch}i{item}".
fn parse(content: &str) -> Option<(u64, usize)> {
    let rest = content.strip_prefix('b')?;
    let (batch, item) = rest.split_once('i')?;
    Some((batch.parse().ok()?, item.parse().ok()?))
}

/// The child. Mode `create`: creates the store with [`PROPERTIES`]. Mode `append`: opens
/// (or creates) the store and appends [`CHILD_BATCHES`] batches, printing "ack {batch}" after
/// each returns Ok. Batch b remembers ITEMS memories, chains them with associations, links
/// its item 0 to the last item of batch b − 1, and forgets item 0 of batch b − 2.
#[test]
#[ignore = "run by the crash tests in a child process"]
fn crash_child() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return;
    };
    if std::env::var(MODE_ENV).as_deref() == Ok("create") {
        Engram::create_with_properties(&path, DIM, &PROPERTIES, Options::default())
            .expect("create");
        return;
    }
    // Mode `append-compact`: the same, compacting in every batch that forgets (from the
    // third on), so that kills land inside compactions, which rewrite every code.
    let options = if std::env::var(MODE_ENV).as_deref() == Ok("append-compact") {
        Options {
            min_compaction_changes: 0,
            ..Options::default()
        }
    } else {
        Options::default()
    };
    let engram = Engram::open_or_create(&path, DIM, options).expect("open");
    let snapshot = engram.snapshot();
    let mut index: BTreeMap<(u64, usize), MemoryId> = snapshot
        .memories()
        .filter_map(|m| Some((parse(m.content.as_deref()?)?, m.id)))
        .collect();
    let first = index.keys().map(|&(b, _)| b + 1).max().unwrap_or(0);
    let mut rng = Rng(first);
    for next in first..first + CHILD_BATCHES {
        let mut batch = WriteBatch::new();
        let refs: Vec<_> = (0..ITEMS)
            .map(|i| batch.remember(memory(rng.vector(DIM)).with_content(format!("b{next}i{i}"))))
            .collect();
        for pair in refs.windows(2) {
            batch.associate(pair[0], pair[1], 0.5);
        }
        if let Some(&previous) = next.checked_sub(1).and_then(|p| index.get(&(p, ITEMS - 1))) {
            batch.associate(refs[0], previous, 0.25);
            batch.associate(previous, refs[0], 0.25);
        }
        if let Some(old) = next.checked_sub(2).and_then(|p| index.remove(&(p, 0))) {
            batch.forget(old);
        }
        let ids = engram.write(&batch).expect("write");
        for (i, id) in ids.into_iter().enumerate() {
            index.insert((next, i), id);
        }
        // println! writes and flushes a whole line; the parent reads the pipe after the end.
        println!("ack {next}");
    }
}

/// The child of `mode` on `path`, as a command.
fn child(path: &Path, mode: &str) -> Command {
    let mut command = Command::new(std::env::current_exe().expect("test binary"));
    command
        .args([
            "--exact",
            "crash_child",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
            "--quiet",
        ])
        .env(CHILD_ENV, path)
        .env(MODE_ENV, mode)
        .env("RUST_BACKTRACE", "0");
    command
}

#[test]
fn a_create_killed_at_any_write_sync_or_rename_leaves_no_store_or_a_whole_one() {
    if !strace_available() {
        return;
    }
    let mut kills = BTreeMap::new();
    for &syscall in DURABILITY_SYSCALLS {
        for n in 1.. {
            let dir = tempfile::tempdir().expect("tempdir");
            let path = dir.path().join("s.engram");
            let run = run_killed_at(&child(&path, "create"), syscall, n);
            if !run.killed {
                assert!(
                    run.output.status.success(),
                    "{syscall} #{n}: {}",
                    String::from_utf8_lossy(&run.output.stderr)
                );
                assert!(path.exists(), "a create that finished made the store");
                break;
            }
            *kills.entry(syscall).or_insert(0) += 1;
            let others: Vec<String> = file_names(dir.path())
                .into_iter()
                .filter(|name| name != "s.engram")
                .collect();
            // At most the hidden temporary file of the killed create and its lock file, never
            // read as a store; or the store's own lock file.
            assert!(
                others.len() <= 2
                    && others.iter().all(|n| n == "s.engram-lock"
                        || (n.starts_with(".s.engram.")
                            && (n.ends_with(".engram-init") || n.ends_with(".engram-init-lock")))),
                "{syscall} #{n}: left {others:?}"
            );
            if path.exists() {
                let engram = Engram::open(&path, Options::default())
                    .unwrap_or_else(|e| panic!("{syscall} #{n}: the store cannot be opened: {e}"));
                assert_eq!(engram.dimension(), DIM);
                assert!(engram.snapshot().is_empty());
                let properties = engram.properties().expect("properties");
                let expected: Vec<(String, String)> = PROPERTIES
                    .iter()
                    .map(|&(k, v)| (k.into(), v.into()))
                    .collect();
                assert_eq!(properties, expected, "{syscall} #{n}: properties lost");
            } else {
                // Nothing is there, so creating it works.
                drop(
                    Engram::create_with_properties(&path, DIM, &PROPERTIES, Options::default())
                        .unwrap_or_else(|e| panic!("{syscall} #{n}: create again: {e}")),
                );
            }
        }
    }
    eprintln!("create killed at: {kills:?}");
    // Each call a create makes was a crash point at least once (a test that killed nothing
    // would prove nothing).
    for syscall in CREATE_SYSCALLS {
        assert!(kills.get(syscall).is_some_and(|&k| k >= 1), "{kills:?}");
    }
}

/// Checks the reopened store against everything acknowledged so far; returns the batches.
fn check(path: &Path, acknowledged: &BTreeSet<u64>) -> usize {
    // Opening loads every association and refuses one that names a missing memory.
    let engram = Engram::open(path, Options::default()).expect("reopen after SIGKILL");
    let snapshot = engram.snapshot();
    let mut present: BTreeMap<u64, BTreeMap<usize, MemoryId>> = BTreeMap::new();
    for m in snapshot.memories() {
        let (batch, item) = parse(m.content.as_deref().expect("content")).expect("child content");
        present.entry(batch).or_default().insert(item, m.id);
    }
    let newest = present.keys().max().copied();
    for &batch in acknowledged {
        assert!(
            present.contains_key(&batch),
            "acknowledged batch {batch} is missing"
        );
    }
    for (&batch, items) in &present {
        // Items 1.. are never forgotten; item 0 only by batch + 2, in the same transaction.
        let forgotten = newest.is_some_and(|n| n >= batch + 2);
        let expected: BTreeSet<usize> = (usize::from(forgotten)..ITEMS).collect();
        assert_eq!(
            items.keys().copied().collect::<BTreeSet<_>>(),
            expected,
            "batch {batch} is half-stored"
        );
        for i in 1..ITEMS - 1 {
            let edges = snapshot.associations_from(items[&i]);
            assert!(
                edges
                    .iter()
                    .any(|e| e.to == items[&(i + 1)] && e.weight == 0.5),
                "batch {batch}: association {i} → {} missing",
                i + 1
            );
        }
    }
    // With codes, a recall finds what the f32 scan finds: the codes match the rows.
    if engram.precision() != Precision::F32 {
        let mut rng = Rng(present.len() as u64);
        for _ in 0..5 {
            let cue = rng.vector(DIM);
            let exact = RecallParams {
                precision: Some(Precision::F32),
                ..RecallParams::default()
            };
            assert_eq!(
                engram
                    .recall(&cue, &RecallParams::default())
                    .expect("coded recall"),
                engram.recall(&cue, &exact).expect("f32 recall"),
                "the codes disagree with the rows"
            );
        }
    }
    // Batches are written in order, so those present are 0..=newest without gaps.
    let batches: Vec<u64> = present.keys().copied().collect();
    assert_eq!(batches, (0..batches.len() as u64).collect::<Vec<_>>());
    // Every association points at a memory that exists.
    for id in snapshot.ids() {
        for edge in snapshot.associations_from(id) {
            assert!(snapshot.contains(edge.to));
        }
    }
    present.len()
}

#[test]
fn kills_at_every_write_and_sync_lose_no_acknowledged_write() {
    if !strace_available() {
        return;
    }
    kill_children(Precision::F32, "append");
}

#[test]
fn kills_inside_compactions_of_an_int8_store_lose_nothing_and_keep_its_codes_whole() {
    if !strace_available() {
        return;
    }
    kill_children(Precision::Int8, "append-compact");
}

/// Kills `CRASH_KILLS` children of `mode` in turn on a store of `precision`, checking it
/// after each.
fn kill_children(precision: Precision, mode: &str) {
    let kills: u32 = std::env::var("CRASH_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(24);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("crash.engram");
    // Kills while creating are the test above's; here every child finds the store.
    let options = Options {
        precision,
        ..Options::default()
    };
    drop(Engram::create(&path, DIM, options).expect("create"));
    let mut acknowledged = BTreeSet::new();
    let mut killed = 0;
    // Children die in turn at an fdatasync, a pwrite64 and a writev, each time at a later
    // one (modulo what a child makes: a batch commits with one fdatasync, one writev of its
    // pages and two pwrite64s, one of them the meta page), so that kills land in the first
    // batch and deeper in, before and after each step of a commit.
    for k in 0..kills {
        let round = u64::from(k / 3);
        let (syscall, n) = match k % 3 {
            0 => ("fdatasync", 1 + round % CHILD_BATCHES),
            1 => ("pwrite64", 1 + round % (2 * CHILD_BATCHES)),
            _ => ("writev", 1 + round % CHILD_BATCHES),
        };
        let n = u32::try_from(n).expect("small");
        let run = run_killed_at(&child(&path, mode), syscall, n);
        assert!(
            run.killed || run.output.status.success(),
            "child {k}: {}",
            String::from_utf8_lossy(&run.output.stderr)
        );
        killed += u32::from(run.killed);
        let acks: BTreeSet<u64> = String::from_utf8_lossy(&run.output.stdout)
            .lines()
            .filter_map(|line| line.strip_prefix("ack ")?.parse().ok())
            .collect();
        acknowledged.extend(acks);
        let batches = check(&path, &acknowledged);
        assert!(batches >= acknowledged.len(), "kill {k}");
    }
    assert!(
        killed * 4 >= kills * 3,
        "most children must die mid-write: {killed} of {kills}"
    );
    assert!(!acknowledged.is_empty());
    eprintln!(
        "{kills} children, {killed} killed, {} batches acknowledged",
        acknowledged.len()
    );
}
