//! Recall correctness: hand-built graphs whose right answer is known, determinism, forgetting,
//! and independence from the layout (delta or compacted) and from the backend.

mod common;

use common::{NOW, Rng, axis, memory, options_with, random_graph};
use engram_graph::{DecayCurve, Engram, Error, Kernels, MemoryId, Options, RecallParams, Recalled};

fn params(k: usize, hops: u32) -> RecallParams {
    RecallParams {
        k,
        hops,
        now: Some(NOW),
        ..RecallParams::default()
    }
}

fn chain(engram: &Engram, dim: usize, n: usize) -> Vec<MemoryId> {
    let ids: Vec<MemoryId> = (0..n)
        .map(|i| engram.remember(memory(axis(dim, i))).expect("remember"))
        .collect();
    for pair in ids.windows(2) {
        engram.associate(pair[0], pair[1], 1.0).expect("associate");
    }
    ids
}

#[test]
fn chain_spreads_hop_by_hop_with_known_activations() {
    for kernels in Kernels::all_available() {
        let engram = Engram::in_memory(8, options_with(kernels)).expect("store");
        let ids = chain(&engram, 8, 4);
        // Seed A with 1; hop 1: B = 0.5·1; hop 2: B = 0.5 + 0.5 = 1, C = 0.5·0.5. D is 3 hops away.
        let got = engram.recall(&axis(8, 0), &params(1, 2)).expect("recall");
        let summary: Vec<(MemoryId, f32, bool)> =
            got.iter().map(|r| (r.id, r.score, r.seed)).collect();
        assert_eq!(
            summary,
            vec![
                (ids[0], 1.0, true),
                (ids[1], 1.0, false),
                (ids[2], 0.25, false)
            ],
            "{}",
            kernels.describe()
        );
        assert_eq!(got[2].similarity, 0.0);
        assert_eq!(got[2].activation, 0.25);
        assert_eq!(got[2].retention, 1.0);
        // One more hop reaches D.
        let got = engram.recall(&axis(8, 0), &params(1, 3)).expect("recall");
        assert_eq!(got.len(), 4);
        assert_eq!(got[3].id, ids[3]);
        assert_eq!(got[3].activation, 0.125);
    }
}

#[test]
fn zero_hops_ranks_the_seeds_alone_by_similarity() {
    let engram = Engram::in_memory(4, Options::default()).expect("store");
    let a = engram
        .remember(memory(vec![1.0, 0.0, 0.0, 0.0]))
        .expect("a");
    let b = engram
        .remember(memory(vec![1.0, 1.0, 0.0, 0.0]))
        .expect("b");
    let c = engram
        .remember(memory(vec![0.0, 0.0, 1.0, 0.0]))
        .expect("c");
    engram.associate(a, c, 1.0).expect("edge");
    let got = engram
        .recall(&[1.0, 0.0, 0.0, 0.0], &params(10, 0))
        .expect("recall");
    let ids: Vec<MemoryId> = got.iter().map(|r| r.id).collect();
    // c is orthogonal: similarity 0 does not seed, and no hop reaches it.
    assert_eq!(ids, vec![a, b]);
    assert!((got[1].score - std::f32::consts::FRAC_1_SQRT_2).abs() < 1e-6);
}

#[test]
fn negative_similarities_do_not_fire() {
    let engram = Engram::in_memory(4, Options::default()).expect("store");
    let ids = chain(&engram, 4, 3);
    let mut cue = axis(4, 0);
    cue[0] = -1.0;
    assert_eq!(engram.recall(&cue, &params(10, 3)).expect("recall"), vec![]);
    // A zero cue has no cosine similarity to anything: refused, not an empty answer.
    assert!(matches!(
        engram.recall(&[0.0; 4], &params(10, 3)),
        Err(engram_graph::Error::ZeroEmbedding)
    ));
    assert_eq!(engram.snapshot().len(), ids.len());
}

#[test]
fn k_limits_the_seeds_and_limit_the_results() {
    let engram = Engram::in_memory(2, Options::default()).expect("store");
    // Similarities to the cue (1, 0) strictly decreasing with the id.
    let ids: Vec<MemoryId> = (0..10)
        .map(|i| {
            let angle = i as f32 * 0.1;
            engram
                .remember(memory(vec![angle.cos(), angle.sin()]))
                .expect("remember")
        })
        .collect();
    let got = engram.recall(&[1.0, 0.0], &params(3, 2)).expect("recall");
    assert_eq!(got.iter().map(|r| r.id).collect::<Vec<_>>(), ids[..3]);
    assert!(got.iter().all(|r| r.seed));
    let limited = RecallParams {
        limit: 2,
        ..params(5, 2)
    };
    let got = engram.recall(&[1.0, 0.0], &limited).expect("recall");
    assert_eq!(got.iter().map(|r| r.id).collect::<Vec<_>>(), ids[..2]);
}

#[test]
fn ties_are_broken_by_id_whatever_the_insertion_pattern() {
    let engram = Engram::in_memory(3, Options::default()).expect("store");
    let ids: Vec<MemoryId> = (0..6)
        .map(|_| {
            engram
                .remember(memory(vec![1.0, 2.0, 3.0]))
                .expect("remember")
        })
        .collect();
    let got = engram
        .recall(&[1.0, 2.0, 3.0], &params(4, 1))
        .expect("recall");
    assert_eq!(got.iter().map(|r| r.id).collect::<Vec<_>>(), ids[..4]);
    for _ in 0..3 {
        assert_eq!(
            engram
                .recall(&[1.0, 2.0, 3.0], &params(4, 1))
                .expect("again"),
            got
        );
    }
}

#[test]
fn inhibition_lowers_activation_and_can_silence() {
    let engram = Engram::in_memory(4, Options::default()).expect("store");
    let a = engram.remember(memory(axis(4, 0))).expect("a");
    let b = engram
        .remember(memory(vec![0.6, 0.8, 0.0, 0.0]))
        .expect("b");
    engram.associate(a, b, -1.0).expect("inhibit");
    // b's own similarity 0.6 minus 0.5·1·1 per hop: 0.1 after one hop, 0 (clamped) after two.
    let one = engram.recall(&axis(4, 0), &params(2, 1)).expect("recall");
    let b_one = one.iter().find(|r| r.id == b).expect("b active");
    assert!((b_one.activation - 0.1).abs() < 1e-6);
    let two = engram.recall(&axis(4, 0), &params(2, 2)).expect("recall");
    assert!(two.iter().all(|r| r.id != b), "{two:?}");
}

#[test]
fn retention_decays_the_score_by_the_curve() {
    let engram = Engram::in_memory(2, Options::default()).expect("store");
    let week = 7 * 24 * 3600;
    let fresh = engram.remember(memory(vec![1.0, 0.0])).expect("fresh");
    let old = engram
        .remember(
            engram_graph::NewMemory::new(vec![1.0, 0.0])
                .created_at(NOW - 2 * week)
                .with_strength(0.8),
        )
        .expect("old");
    let got = engram.recall(&[1.0, 0.0], &params(2, 0)).expect("recall");
    assert_eq!(got[0].id, fresh);
    assert_eq!(got[1].id, old);
    // Two half-lives: 0.8 / 4.
    assert!((got[1].retention - 0.2).abs() < 1e-6, "{got:?}");
    assert!((got[1].score - 0.2).abs() < 1e-6);
    let power = RecallParams {
        curve: DecayCurve::power_law(week as f64, 1.0).expect("curve"),
        ..params(2, 0)
    };
    let got = engram.recall(&[1.0, 0.0], &power).expect("recall");
    // (1 + 2)^-1 · 0.8
    assert!((got[1].retention - 0.8 / 3.0).abs() < 1e-6, "{got:?}");
}

#[test]
fn forgotten_memories_never_come_back() {
    let engram = Engram::in_memory(8, Options::default()).expect("store");
    let ids = chain(&engram, 8, 4);
    engram.forget(ids[0]).expect("forget seed");
    engram.forget(ids[2]).expect("forget middle");
    let cue = [1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0];
    for compact in [false, true] {
        if compact {
            engram.compact().expect("compact");
        }
        let got = engram.recall(&cue, &params(10, 3)).expect("recall");
        let got: Vec<MemoryId> = got.iter().map(|r| r.id).collect();
        assert_eq!(got, vec![ids[1], ids[3]], "compacted: {compact}");
        let snapshot = engram.snapshot();
        assert_eq!(snapshot.len(), 2);
        assert_eq!(
            snapshot.association_count(),
            0,
            "chain edges all touched a forgotten memory"
        );
        assert!(snapshot.get(ids[0]).is_none());
    }
    assert!(matches!(engram.forget(ids[0]), Err(Error::UnknownMemory(id)) if id == ids[0]));
}

/// Recalls a few random cues with every parameter set below.
fn recall_many(engram: &Engram, cues: &[Vec<f32>]) -> Vec<Vec<Recalled>> {
    let mut out = Vec::new();
    for cue in cues {
        for (k, hops, threshold) in [(10, 3, 0.0), (3, 5, 0.05), (50, 1, 0.0), (5, 0, 0.0)] {
            let p = RecallParams {
                threshold,
                limit: 50,
                ..params(k, hops)
            };
            out.push(engram.recall(cue, &p).expect("recall"));
        }
    }
    out
}

#[test]
fn the_delta_and_the_compacted_layout_give_bitwise_identical_results() {
    for kernels in Kernels::all_available() {
        let options = Options {
            min_compaction_changes: usize::MAX,
            ..options_with(kernels)
        };
        let engram = Engram::in_memory(16, options).expect("store");
        let mut rng = Rng(7);
        let ids = random_graph(&engram, 600, 4, 11);
        // Every kind of change in the delta: forgets, re-weights, removals, new rows with and
        // without edges, reinforcement.
        for i in (0..600).step_by(37) {
            engram.forget(ids[i]).expect("forget");
        }
        engram.dissociate(ids[1], ids[2]).expect("dissociate");
        engram.associate(ids[3], ids[5], -0.5).expect("reweight");
        let new = engram
            .remember_batch((0..300).map(|_| memory(rng.vector(16))))
            .expect("more");
        engram
            .associate_both(new[0], ids[4], 0.9)
            .expect("edge to new");
        let reinforce = RecallParams {
            reinforce: Some(0.3),
            ..params(5, 2)
        };
        engram
            .recall(&rng.vector(16), &reinforce)
            .expect("reinforce");
        assert!(engram.snapshot().pending_changes() > 0);
        let cues: Vec<Vec<f32>> = (0..8).map(|_| rng.vector(16)).collect();
        let before = recall_many(&engram, &cues);
        engram.compact().expect("compact");
        assert_eq!(engram.snapshot().pending_changes(), 0);
        let after = recall_many(&engram, &cues);
        assert_eq!(before, after, "{}", kernels.describe());
        assert!(
            before.iter().any(|r| r.iter().any(|x| !x.seed)),
            "spreading reached nobody"
        );
    }
}

#[test]
fn new_memories_without_edges_use_the_compacted_graph_as_is() {
    let engram = Engram::in_memory(
        16,
        Options {
            min_compaction_changes: usize::MAX,
            ..Options::default()
        },
    )
    .expect("store");
    random_graph(&engram, 300, 5, 3);
    engram.compact().expect("compact");
    let mut rng = Rng(5);
    engram
        .remember_batch((0..200).map(|_| memory(rng.vector(16))))
        .expect("more");
    let cues: Vec<Vec<f32>> = (0..8).map(|_| rng.vector(16)).collect();
    let before = recall_many(&engram, &cues);
    engram.compact().expect("compact");
    assert_eq!(before, recall_many(&engram, &cues));
}

#[test]
fn automatic_compaction_keeps_results_and_counts() {
    let engram = Engram::in_memory(
        8,
        Options {
            min_compaction_changes: 50,
            ..Options::default()
        },
    )
    .expect("store");
    let ids = random_graph(&engram, 400, 3, 9);
    let snapshot = engram.snapshot();
    assert!(
        snapshot.pending_changes() <= 400 * 4 + 1,
        "compacted after the big batches"
    );
    let edges = snapshot.association_count();
    for i in 0..60 {
        engram.associate(ids[i], ids[i + 1], 0.5).expect("edge");
    }
    let snapshot = engram.snapshot();
    assert!(
        snapshot.pending_changes() <= 50,
        "{}",
        snapshot.pending_changes()
    );
    assert!(snapshot.association_count() >= edges);
    let degrees: usize = snapshot.out_degrees().iter().sum();
    assert_eq!(degrees, snapshot.association_count());
}

#[test]
fn every_backend_recalls_the_same_memories() {
    let all = Kernels::all_available();
    let mut rng = Rng(21);
    let cues: Vec<Vec<f32>> = (0..10).map(|_| rng.vector(32)).collect();
    let mut reference: Option<Vec<Vec<Recalled>>> = None;
    for kernels in all {
        let engram = Engram::in_memory(32, options_with(kernels)).expect("store");
        random_graph(&engram, 2000, 6, 13);
        let got = recall_many(&engram, &cues);
        match &reference {
            None => reference = Some(got),
            Some(expected) => {
                for (e, g) in expected.iter().zip(&got) {
                    let ids = |r: &[Recalled]| r.iter().map(|x| x.id).collect::<Vec<_>>();
                    assert_eq!(ids(e), ids(g), "{}", kernels.describe());
                    for (a, b) in e.iter().zip(g) {
                        assert!((a.score - b.score).abs() <= 1e-5, "{a:?} vs {b:?}");
                    }
                }
            }
        }
    }
}

#[test]
fn reinforcement_updates_access_and_strength_durably() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("store.engram");
    let id;
    {
        let engram = Engram::create(&path, 2, Options::default()).expect("create");
        id = engram
            .remember(memory(vec![1.0, 0.0]).with_strength(0.5))
            .expect("remember");
        let plain = engram.recall(&[1.0, 0.0], &params(1, 0)).expect("recall");
        assert_eq!(engram.snapshot().get(id).expect("kept").strength, 0.5);
        assert_eq!(plain[0].retention, 0.5);
        let reinforce = RecallParams {
            reinforce: Some(0.5),
            now: Some(NOW + 100),
            ..params(1, 0)
        };
        engram.recall(&[1.0, 0.0], &reinforce).expect("reinforce");
        let m = engram.snapshot().get(id).expect("kept");
        assert_eq!((m.strength, m.last_access), (0.75, NOW + 100));
        // A snapshot is read-only.
        assert!(matches!(
            engram.snapshot().recall(&[1.0, 0.0], &reinforce),
            Err(Error::InvalidParameter {
                name: "reinforce",
                ..
            })
        ));
    }
    let engram = Engram::open(&path, Options::default()).expect("reopen");
    let m = engram.snapshot().get(id).expect("kept");
    assert_eq!((m.strength, m.last_access), (0.75, NOW + 100));
}
