//! Processes: two writer processes and three reader processes on one store at once. Every
//! read, in every reader, sees one consistent committed state (whole batches, every
//! association inside the store, recall working); no reader ever errors or waits for a
//! writer; the writers take turns (each write waits for the other's, within the busy
//! timeout); at the end every acknowledged batch of both writers is there.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use engram_graph::{Engram, NewMemory, Options, RecallParams, WriteBatch};

const DIM: usize = 8;
const ITEMS: usize = 4;
const BATCHES: usize = 60;
const STORE_ENV: &str = "ENGRAM_PROCESSES_STORE";
const ROLE_ENV: &str = "ENGRAM_PROCESSES_ROLE";

fn embedding(writer: usize, batch: usize, item: usize) -> Vec<f32> {
    (0..DIM)
        .map(|d| ((writer * 31 + batch * 7 + item * 3 + d) % 11) as f32 + 0.5)
        .collect()
}

/// Content "w{writer}b{batch}i{item}".
fn parse(content: &str) -> Option<(usize, usize, usize)> {
    let rest = content.strip_prefix('w')?;
    let (writer, rest) = rest.split_once('b')?;
    let (batch, item) = rest.split_once('i')?;
    Some((
        writer.parse().ok()?,
        batch.parse().ok()?,
        item.parse().ok()?,
    ))
}

/// Checks one snapshot: every batch whole with its chain of associations, every association
/// between existing memories; returns the batches present.
fn check(engram: &Engram) -> BTreeSet<(usize, usize)> {
    let snapshot = engram.snapshot();
    let mut items: std::collections::BTreeMap<
        (usize, usize),
        Vec<(usize, engram_graph::MemoryId)>,
    > = Default::default();
    for memory in snapshot.memories() {
        let content = memory.content.as_deref().expect("content");
        let (writer, batch, item) = parse(content).expect("a writer's memory");
        items
            .entry((writer, batch))
            .or_default()
            .push((item, memory.id));
    }
    for (key, batch) in &items {
        assert_eq!(batch.len(), ITEMS, "batch {key:?} is half there");
        for pair in batch.windows(2) {
            let links = snapshot.associations_from(pair[0].1);
            assert!(
                links.iter().any(|a| a.to == pair[1].1),
                "batch {key:?}: a link is missing"
            );
        }
    }
    for id in snapshot.ids() {
        for link in snapshot.associations_from(id) {
            assert!(snapshot.contains(link.to), "a link to a missing memory");
        }
    }
    assert_eq!(snapshot.len(), items.len() * ITEMS);
    let recalled = snapshot
        .recall(&embedding(0, 0, 0), &RecallParams::default())
        .expect("recall");
    assert!(recalled.len() <= RecallParams::default().limit);
    items.into_keys().collect()
}

/// The child: a writer (writes its batches, printing "ack {batch}" after each) or a reader
/// (checks snapshots until it sees every batch of both writers, printing "reads {n}").
#[test]
#[ignore = "run by processes_share_one_store in child processes"]
fn processes_child() {
    let (Ok(path), Ok(role)) = (std::env::var(STORE_ENV), std::env::var(ROLE_ENV)) else {
        return;
    };
    if let Some(writer) = role.strip_prefix("writer") {
        let writer: usize = writer.parse().expect("writer number");
        let engram = Engram::open(&path, Options::default()).expect("open");
        for batch in 0..BATCHES {
            let mut write = WriteBatch::new();
            let refs: Vec<_> = (0..ITEMS)
                .map(|item| {
                    write.remember(
                        NewMemory::new(embedding(writer, batch, item))
                            .with_content(format!("w{writer}b{batch}i{item}")),
                    )
                })
                .collect();
            for pair in refs.windows(2) {
                write.associate(pair[0], pair[1], 0.5);
            }
            engram.write(&write).expect("write");
            println!("ack {batch}");
        }
        return;
    }
    let engram = Engram::open(
        &path,
        Options {
            read_only: true,
            ..Options::default()
        },
    )
    .expect("open read-only");
    let start = Instant::now();
    let mut reads = 0;
    loop {
        let seen = check(&engram);
        reads += 1;
        if seen.len() == 2 * BATCHES {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "the writers never finished"
        );
    }
    println!("reads {reads}");
}

fn spawn(path: &Path, role: &str) -> Child {
    Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "processes_child",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
            "--quiet",
        ])
        .env(STORE_ENV, path)
        .env(ROLE_ENV, role)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn")
}

#[test]
fn processes_share_one_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("shared.engram");
    drop(Engram::create(&path, DIM, Options::default()).expect("create"));
    let readers: Vec<Child> = (0..3).map(|_| spawn(&path, "reader")).collect();
    let writers: Vec<Child> = (0..2)
        .map(|w| spawn(&path, &format!("writer{w}")))
        .collect();
    for (w, writer) in writers.into_iter().enumerate() {
        let out = writer.wait_with_output().expect("writer");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "writer {w}: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(stdout.matches("ack ").count(), BATCHES, "writer {w}");
    }
    for (r, reader) in readers.into_iter().enumerate() {
        let out = reader.wait_with_output().expect("reader");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "reader {r}: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let reads: usize = stdout
            .lines()
            .find_map(|l| l.strip_prefix("reads ")?.trim().parse().ok())
            .expect("reads");
        assert!(reads >= 1, "reader {r}");
        eprintln!("reader {r}: {reads} consistent reads");
    }
    let engram = Engram::open(&path, Options::default()).expect("open");
    assert_eq!(
        check(&engram).len(),
        2 * BATCHES,
        "every acknowledged batch is there"
    );
}
