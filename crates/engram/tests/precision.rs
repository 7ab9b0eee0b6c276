//! Scan precisions: a store with f16 or int8 codes recalls exactly what an f32 store recalls
//! (seeds, order, every similarity) when the exact top k are among the candidates; codes
//! persist, follow every write path (sealed batches, the unsealed tail, compaction) and are
//! rebuilt by `set_precision`; a precision the store does not keep is an error.

mod common;

use common::{NOW, Rng, memory, options_with, random_graph};
use engram_graph::{Engram, Error, Kernels, Options, Precision, RecallParams, Recalled};

fn params() -> RecallParams {
    RecallParams {
        k: 10,
        hops: 2,
        limit: 40,
        now: Some(NOW),
        ..RecallParams::default()
    }
}

fn at(precision: Precision) -> RecallParams {
    RecallParams {
        precision: Some(precision),
        ..params()
    }
}

fn with_precision(kernels: Kernels, precision: Precision) -> Options {
    Options {
        precision,
        ..options_with(kernels)
    }
}

/// Cues near stored memories (so the top 10 are close rivals) and random ones.
fn cues(dim: usize, engram: &Engram, count: usize) -> Vec<Vec<f32>> {
    let mut rng = Rng(77);
    let snapshot = engram.snapshot();
    let memories: Vec<Vec<f32>> = snapshot.memories().map(|m| m.embedding).collect();
    (0..count)
        .map(|i| {
            if i % 2 == 0 {
                let base = &memories[rng.below(memories.len() as u64) as usize];
                base.iter().map(|x| x + 0.3 * rng.unit()).collect()
            } else {
                rng.vector(dim)
            }
        })
        .collect()
}

#[test]
fn code_scans_recall_exactly_what_the_f32_scan_recalls() {
    let dim = 48;
    for kernels in Kernels::all_available() {
        for precision in [Precision::F16, Precision::Int8] {
            let engram = Engram::in_memory(dim, with_precision(kernels, precision)).expect("store");
            assert_eq!(engram.precision(), precision);
            // 3,000 memories: sealed segments, plus a tail of unsealed rows added one by one.
            random_graph(&engram, 3_000, 4, 5);
            let mut rng = Rng(9);
            for _ in 0..40 {
                engram.remember(memory(rng.vector(dim))).expect("tail row");
            }
            // The batch was sealed into segments; the 40 rows after it are the f32 tail.
            assert!(engram.layout().1 >= 1);
            for cue in cues(dim, &engram, 30) {
                let exact = engram
                    .recall(&cue, &at(Precision::F32))
                    .expect("f32 recall");
                let coded = engram.recall(&cue, &params()).expect("coded recall");
                assert_eq!(coded, exact, "{precision} on {}", kernels.describe());
            }
        }
    }
}

#[test]
fn too_few_candidates_can_miss_a_seed_but_similarities_stay_exact() {
    let dim = 32;
    let engram =
        Engram::in_memory(dim, with_precision(Kernels::rust(), Precision::Int8)).expect("store");
    random_graph(&engram, 2_000, 3, 8);
    let mut differed = 0;
    for cue in cues(dim, &engram, 40) {
        let exact = engram.recall(&cue, &at(Precision::F32)).expect("f32");
        let tight = RecallParams {
            candidates: Some(10),
            hops: 0,
            ..params()
        };
        let coded = engram.recall(&cue, &tight).expect("coded");
        let by_id = |r: &Recalled| r.id;
        let exact_ids: Vec<_> = exact.iter().take(10).map(by_id).collect();
        differed += usize::from(coded.iter().map(by_id).collect::<Vec<_>>() != exact_ids);
        // Whatever was found, its similarity is the exact one the f32 recall reports.
        for r in &coded {
            let f32_similarity = engram
                .recall(
                    &cue,
                    &RecallParams {
                        limit: 100_000,
                        hops: 0,
                        k: 10_000,
                        ..at(Precision::F32)
                    },
                )
                .expect("all seeds")
                .into_iter()
                .find(|e| e.id == r.id)
                .map(|e| e.similarity);
            assert_eq!(Some(r.similarity), f32_similarity);
        }
    }
    // Ten candidates for ten seeds leave no margin: some cue must show it, or this test
    // does not test what it says.
    assert!(
        differed > 0,
        "int8 ranking matched f32 with no margin on every cue"
    );
}

#[test]
fn precision_persists_and_set_precision_rebuilds_the_codes() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("codes.engram");
    let dim = 24;
    let options = with_precision(Kernels::rust(), Precision::F16);
    let engram = Engram::create(&path, dim, options).expect("create");
    random_graph(&engram, 1_000, 3, 2);
    let cue = Rng(3).vector(dim);
    let before = engram.recall(&cue, &at(Precision::F32)).expect("recall");
    drop(engram);

    // Reopened with other options, the store keeps its own precision.
    let engram = Engram::open(&path, options_with(Kernels::rust())).expect("open");
    assert_eq!(engram.precision(), Precision::F16);
    assert_eq!(engram.recall(&cue, &params()).expect("f16"), before);
    assert!(matches!(
        engram.recall(&cue, &at(Precision::Int8)),
        Err(Error::PrecisionUnavailable {
            requested: Precision::Int8,
            store: Precision::F16
        })
    ));

    for precision in [Precision::Int8, Precision::F32, Precision::F16] {
        engram.set_precision(precision).expect("set precision");
        assert_eq!(engram.precision(), precision);
        assert_eq!(engram.recall(&cue, &params()).expect("recall"), before);
        // Another handle (on the same kernels, so the same bits) sees it.
        let other = Engram::open(&path, options_with(Kernels::rust())).expect("open");
        assert_eq!(other.precision(), precision);
        assert_eq!(other.recall(&cue, &params()).expect("recall"), before);
    }
    // A read-only handle cannot change it.
    let read_only = Engram::open(
        &path,
        Options {
            read_only: true,
            ..Options::default()
        },
    )
    .expect("open read-only");
    let refused = read_only.set_precision(Precision::Int8);
    assert!(matches!(refused, Err(Error::ReadOnly)), "{refused:?}");
}

#[test]
fn candidates_are_checked() {
    let engram = Engram::in_memory(4, Options::default()).expect("store");
    for bad in [9, RecallParams::MAX_CANDIDATES + 1] {
        let p = RecallParams {
            candidates: Some(bad),
            ..params()
        };
        assert!(matches!(
            engram.recall(&[1.0, 0.0, 0.0, 0.0], &p),
            Err(Error::InvalidParameter {
                name: "candidates",
                ..
            })
        ));
    }
    assert_eq!(RecallParams::default_candidates(10), 100);
    assert_eq!(RecallParams::default_candidates(50), 500);
    assert_eq!(
        RecallParams::default_candidates(RecallParams::MAX_SEEDS),
        RecallParams::MAX_CANDIDATES
    );
}

#[test]
fn segments_without_codes_from_a_release_without_precisions_are_scanned_in_f32() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("mixed.engram");
    let dim = 16;
    let kernels = options_with(Kernels::rust());
    let engram = Engram::create(&path, dim, kernels).expect("create");
    random_graph(&engram, 600, 3, 4);
    let cue = Rng(5).vector(dim);
    let before = engram.recall(&cue, &params()).expect("recall");
    drop(engram);
    // What such a release leaves behind when it writes to an int8 store: the metadata says
    // int8 (it keeps the key it does not know), its segments have no codes.
    let store = engram_store::Store::open(&path, engram_store::OpenOptions::default())
        .expect("open the raw store");
    let mut txn = store.write().expect("write");
    txn.put_meta_u64("precision", 2).expect("put");
    txn.commit().expect("commit");
    drop(store);

    let engram = Engram::open(&path, options_with(Kernels::rust())).expect("still opens");
    assert_eq!(engram.precision(), Precision::Int8);
    assert_eq!(engram.recall(&cue, &params()).expect("recall"), before);
    // New segments get codes beside the old ones; a compaction codes every row.
    let mut rng = Rng(6);
    engram
        .remember_batch((0..300).map(|_| memory(rng.vector(dim))))
        .expect("a sealed batch");
    let exact = engram.recall(&cue, &at(Precision::F32)).expect("f32");
    assert_eq!(engram.recall(&cue, &params()).expect("mixed"), exact);
    engram.compact().expect("compact");
    assert_eq!(engram.recall(&cue, &params()).expect("coded"), exact);
}
