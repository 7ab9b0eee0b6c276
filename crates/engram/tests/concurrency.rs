//! Concurrency: writers and readers together; every reader sees one consistent snapshot.

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use common::{NOW, Rng, memory};
use engram_graph::{Engram, MemoryId, Options, RecallParams, Snapshot, WriteBatch};

fn assert_send_sync<T: Send + Sync>() {}

#[test]
fn engram_and_snapshot_are_send_and_sync() {
    assert_send_sync::<Engram>();
    assert_send_sync::<Snapshot>();
}

const DIM: usize = 8;

/// The invariants every snapshot must satisfy: memories come in pairs written in one batch
/// (contents "p{n}a" and "p{n}b"), associated both ways with weight 0.5, and pairs are
/// forgotten whole.
fn check_snapshot(snapshot: &Snapshot, rng: &mut Rng) {
    let memories: Vec<_> = snapshot.memories().collect();
    assert_eq!(memories.len(), snapshot.len());
    assert_eq!(memories.len() % 2, 0, "half a pair is visible");
    assert_eq!(
        snapshot.association_count(),
        memories.len(),
        "edges of half a pair"
    );
    let by_content: HashMap<&str, MemoryId> = memories
        .iter()
        .map(|m| (m.content.as_deref().expect("content"), m.id))
        .collect();
    for m in &memories {
        let content = m.content.as_deref().expect("content");
        let (stem, side) = content.split_at(content.len() - 1);
        let partner = format!("{stem}{}", if side == "a" { "b" } else { "a" });
        let partner = by_content.get(partner.as_str()).expect("partner missing");
        let edges = snapshot.associations_from(m.id);
        assert_eq!(edges.len(), 1, "{content}");
        assert_eq!((edges[0].to, edges[0].weight), (*partner, 0.5));
    }
    let params = RecallParams {
        now: Some(NOW),
        k: 5,
        ..RecallParams::default()
    };
    let results = snapshot.recall(&rng.vector(DIM), &params).expect("recall");
    for pair in results.windows(2) {
        assert!(pair[0].score >= pair[1].score);
    }
    for r in &results {
        assert!(
            snapshot.contains(r.id),
            "recalled a memory the snapshot does not hold"
        );
    }
}

#[test]
fn writers_and_readers_together_keep_every_invariant() {
    let engram = Arc::new(
        Engram::in_memory(
            DIM,
            Options {
                // Compact often, so readers also overlap compactions.
                min_compaction_changes: 64,
                ..Options::default()
            },
        )
        .expect("store"),
    );
    let done = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..2u64)
        .map(|w| {
            let engram = Arc::clone(&engram);
            std::thread::spawn(move || {
                let mut rng = Rng(w);
                let mut live: Vec<(MemoryId, MemoryId)> = Vec::new();
                for n in 0..300 {
                    let mut batch = WriteBatch::new();
                    if n % 4 == 3 && !live.is_empty() {
                        let (a, b) = live.swap_remove(rng.below(live.len() as u64) as usize);
                        batch.forget(a);
                        batch.forget(b);
                        engram.write(&batch).expect("forget pair");
                        continue;
                    }
                    let a =
                        batch.remember(memory(rng.vector(DIM)).with_content(format!("w{w}p{n}a")));
                    let b =
                        batch.remember(memory(rng.vector(DIM)).with_content(format!("w{w}p{n}b")));
                    batch.associate_both(a, b, 0.5);
                    let ids = engram.write(&batch).expect("write pair");
                    live.push((ids[0], ids[1]));
                }
                live.len()
            })
        })
        .collect();
    let readers: Vec<_> = (0..2u64)
        .map(|r| {
            let engram = Arc::clone(&engram);
            let done = Arc::clone(&done);
            std::thread::spawn(move || {
                let mut rng = Rng(100 + r);
                let mut checks = 0;
                while !done.load(Ordering::Acquire) || checks < 10 {
                    check_snapshot(&engram.snapshot(), &mut rng);
                    checks += 1;
                }
                checks
            })
        })
        .collect();
    let live: usize = writers.into_iter().map(|w| w.join().expect("writer")).sum();
    done.store(true, Ordering::Release);
    for reader in readers {
        assert!(reader.join().expect("reader") >= 10);
    }
    let snapshot = engram.snapshot();
    assert_eq!(snapshot.len(), 2 * live);
    check_snapshot(&snapshot, &mut Rng(9));
}

#[test]
fn a_snapshot_does_not_change_when_the_store_does() {
    let engram = Engram::in_memory(DIM, Options::default()).expect("store");
    let mut rng = Rng(1);
    let first = engram.remember(memory(rng.vector(DIM))).expect("first");
    let snapshot = engram.snapshot();
    let cue = rng.vector(DIM);
    let params = RecallParams {
        now: Some(NOW),
        ..RecallParams::default()
    };
    let before = snapshot.recall(&cue, &params).expect("recall");
    engram.forget(first).expect("forget");
    engram
        .remember_batch((0..10).map(|_| memory(rng.vector(DIM))))
        .expect("more");
    engram.compact().expect("compact");
    assert_eq!(snapshot.len(), 1);
    assert!(snapshot.contains(first));
    assert_eq!(snapshot.recall(&cue, &params).expect("recall"), before);
    assert!(!engram.snapshot().contains(first));
}
