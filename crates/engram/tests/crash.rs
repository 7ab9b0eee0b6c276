//! Crash safety: a child process imports into a store and reports every acknowledged batch;
//! the test kills it with SIGKILL at random moments, reopens the store and checks that every
//! acknowledged write is there, no batch is half-stored, and no association points at a
//! missing memory. `CRASH_KILLS` sets the number of kills (default 20).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{Rng, memory};
use engram::{Engram, MemoryId, Options, WriteBatch};

const DIM: usize = 16;
const ITEMS: usize = 5;
const CHILD_ENV: &str = "ENGRAM_CRASH_CHILD_STORE";

/// `(batch, item)` of a memory written by the child: content "b{batch}i{item}".
fn parse(content: &str) -> Option<(u64, usize)> {
    let rest = content.strip_prefix('b')?;
    let (batch, item) = rest.split_once('i')?;
    Some((batch.parse().ok()?, item.parse().ok()?))
}

/// The child: appends batches forever, printing "ack {batch}" after each returns Ok. Batch b
/// remembers ITEMS memories, chains them with associations, links its item 0 to the last
/// item of batch b − 1, and forgets item 0 of batch b − 2.
#[test]
#[ignore = "run by crash_kills_lose_no_acknowledged_write in a child process"]
fn crash_child() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return;
    };
    let engram = Engram::open_or_create(&path, DIM, Options::default()).expect("open");
    let snapshot = engram.snapshot();
    let mut index: BTreeMap<(u64, usize), MemoryId> = snapshot
        .memories()
        .filter_map(|m| Some((parse(m.content.as_deref()?)?, m.id)))
        .collect();
    let mut next = index.keys().map(|&(b, _)| b + 1).max().unwrap_or(0);
    let mut rng = Rng(next);
    let stdout = std::io::stdout();
    loop {
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
        let mut out = stdout.lock();
        writeln!(out, "ack {next}").expect("stdout");
        out.flush().expect("flush");
        next += 1;
    }
}

/// Runs the child until a random moment, kills it, and returns the batches it acknowledged.
fn run_and_kill(path: &Path, delay: Duration) -> BTreeSet<u64> {
    let exe = std::env::current_exe().expect("test binary");
    let mut child = Command::new(exe)
        .args([
            "--exact",
            "crash_child",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn child");
    let stdout = child.stdout.take().expect("piped");
    let reader = std::thread::spawn(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .filter_map(|line| line.strip_prefix("ack ")?.parse::<u64>().ok())
            .collect::<BTreeSet<u64>>()
    });
    std::thread::sleep(delay);
    // Child::kill sends SIGKILL on Unix: no destructor, no flush, no clean shutdown.
    child.kill().expect("kill");
    child.wait().expect("wait");
    reader.join().expect("reader")
}

/// Checks the reopened store against everything acknowledged so far.
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
fn crash_kills_lose_no_acknowledged_write() {
    let kills: usize = std::env::var("CRASH_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("crash.engram");
    let mut rng = Rng(2026);
    let mut acknowledged = BTreeSet::new();
    let mut killed_with_acks = 0;
    for kill in 0..kills {
        // The first child creates the store; later ones reopen it after a kill.
        let delay = Duration::from_millis(60 + rng.below(400));
        let acks = run_and_kill(&path, delay);
        killed_with_acks += usize::from(!acks.is_empty());
        acknowledged.extend(acks);
        if path.exists() {
            let batches = check(&path, &acknowledged);
            assert!(batches >= acknowledged.len(), "kill {kill}");
        }
    }
    assert!(
        killed_with_acks * 2 >= kills,
        "most children were killed before writing anything ({killed_with_acks} of {kills} wrote)"
    );
    assert!(!acknowledged.is_empty());
    eprintln!(
        "{kills} kills, {} batches acknowledged, {killed_with_acks} children wrote before dying",
        acknowledged.len()
    );
}
