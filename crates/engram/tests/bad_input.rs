//! Bad input: every mistake gives a typed error that says what was wrong, and nothing of the
//! write is stored — not in memory, not on disk.

mod common;

use common::{NOW, memory};
use engram_graph::{
    Engram, Error, MemoryId, MemoryRef, NewMemory, Options, RecallParams, WriteBatch,
};

/// Memories and associations as seen by a snapshot.
fn contents(engram: &Engram) -> (Vec<engram_graph::Memory>, Vec<engram_graph::Association>) {
    let s = engram.snapshot();
    let edges = s.ids().flat_map(|id| s.associations_from(id)).collect();
    (s.memories().collect(), edges)
}

fn store() -> (tempfile::TempDir, Engram, MemoryId, MemoryId) {
    let dir = tempfile::tempdir().expect("tempdir");
    let engram =
        Engram::create(dir.path().join("s.engram"), 3, Options::default()).expect("create");
    let a = engram.remember(memory(vec![1.0, 0.0, 0.0])).expect("a");
    let b = engram.remember(memory(vec![0.0, 1.0, 0.0])).expect("b");
    engram.associate(a, b, 0.5).expect("edge");
    (dir, engram, a, b)
}

/// Runs `write`, expects the error `check` accepts, and checks nothing changed, also after a
/// reopen.
fn rejected(
    write: impl FnOnce(&Engram) -> engram_graph::Result<()>,
    check: impl Fn(&Error) -> bool,
) {
    let (dir, engram, _, _) = store();
    let before = contents(&engram);
    let err = write(&engram).expect_err("must be rejected");
    assert!(check(&err), "unexpected error: {err:?}");
    assert!(!err.to_string().is_empty());
    assert_eq!(contents(&engram), before, "{err}: something was stored");
    drop(engram);
    let reopened = Engram::open(dir.path().join("s.engram"), Options::default()).expect("reopen");
    assert_eq!(
        contents(&reopened),
        before,
        "{err}: something reached the disk"
    );
}

#[test]
fn wrong_dimension() {
    rejected(
        |e| e.remember(memory(vec![1.0; 4])).map(drop),
        |e| {
            matches!(
                e,
                Error::DimensionMismatch {
                    expected: 3,
                    found: 4
                }
            )
        },
    );
}

#[test]
fn nan_or_infinite_embedding() {
    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        rejected(
            |e| e.remember(memory(vec![0.0, bad, 0.0])).map(drop),
            |e| matches!(e, Error::NonFiniteEmbedding { index: 1, .. }),
        );
    }
}

#[test]
fn strength_outside_unit_interval() {
    for bad in [-0.1, 1.5, f32::NAN] {
        rejected(
            |e| {
                e.remember(memory(vec![1.0; 3]).with_strength(bad))
                    .map(drop)
            },
            |e| matches!(e, Error::InvalidStrength(_)),
        );
    }
}

#[test]
fn an_all_zero_embedding_could_never_be_recalled_and_is_refused() {
    for zero in [vec![0.0, 0.0, 0.0], vec![-0.0, 0.0, -0.0]] {
        rejected(
            |e| e.remember(memory(zero.clone())).map(drop),
            |e| matches!(e, Error::ZeroEmbedding),
        );
    }
    assert!(matches!(
        engram_graph::check_embedding(&[0.0; 3], 3),
        Err(Error::ZeroEmbedding)
    ));
    // The smallest non-zero element is enough.
    assert!(engram_graph::check_embedding(&[0.0, f32::from_bits(1), 0.0], 3).is_ok());
}

#[test]
fn times_outside_years_0000_to_9999_are_refused() {
    for bad in [
        i64::MAX,
        i64::MIN,
        engram_graph::MAX_TIME + 1,
        engram_graph::MIN_TIME - 1,
    ] {
        rejected(
            |e| e.remember(memory(vec![1.0; 3]).created_at(bad)).map(drop),
            |e| matches!(e, Error::TimeOutOfRange(t) if *t == bad),
        );
        rejected(
            |e| {
                e.remember(memory(vec![1.0; 3]).last_accessed_at(bad))
                    .map(drop)
            },
            |e| matches!(e, Error::TimeOutOfRange(t) if *t == bad),
        );
        rejected(
            |e| {
                let params = RecallParams {
                    now: Some(bad),
                    ..RecallParams::default()
                };
                e.recall(&[1.0, 0.0, 0.0], &params).map(drop)
            },
            |e| matches!(e, Error::TimeOutOfRange(t) if *t == bad),
        );
    }
    let (_dir, engram, _, _) = store();
    for edge in [engram_graph::MIN_TIME, engram_graph::MAX_TIME] {
        let id = engram
            .remember(memory(vec![1.0; 3]).created_at(edge))
            .expect("the range's ends are kept");
        assert_eq!(engram.snapshot().get(id).map(|m| m.last_access), Some(edge));
    }
    let err = Error::TimeOutOfRange(i64::MAX).to_string();
    assert!(err.contains("0000") && err.contains("9999"), "{err}");
}

#[test]
fn a_property_set_in_a_rejected_batch_is_not_stored() {
    rejected(
        |e| {
            let mut batch = WriteBatch::new();
            batch.set_property("progress", Some("done"));
            batch.remember(memory(vec![f32::NAN, 0.0, 0.0]));
            e.write(&batch).map(drop)
        },
        |e| matches!(e, Error::InBatch { index: 1, .. }),
    );
    rejected(
        |e| {
            let mut batch = WriteBatch::new();
            batch.remember(memory(vec![1.0, 0.0, 0.0]));
            batch.set_property("", Some("x"));
            e.write(&batch).map(drop)
        },
        |e| matches!(e, Error::InBatch { index: 1, source } if matches!(**source, Error::EmptyPropertyKey)),
    );
    let (dir, engram, _, _) = store();
    let mut batch = WriteBatch::new();
    batch.remember(memory(vec![1.0, 0.0, 0.0]));
    batch.set_property("progress", Some("1 of 1"));
    engram.write(&batch).expect("write");
    drop(engram);
    let reopened = Engram::open(dir.path().join("s.engram"), Options::default()).expect("reopen");
    assert_eq!(reopened.snapshot().len(), 3);
    assert_eq!(
        reopened.property("progress").expect("read").as_deref(),
        Some("1 of 1")
    );
}

#[test]
fn a_batch_whose_required_first_id_is_taken_stores_nothing() {
    rejected(
        |e| {
            let mut batch = WriteBatch::new();
            batch.remember(memory(vec![1.0, 0.0, 0.0]));
            batch.set_property("progress", Some("ids 2..=2"));
            batch.require_first_id(MemoryId::new(2));
            e.write(&batch).map(drop)
        },
        |e| matches!(e, Error::NextIdChanged { expected, found } if expected.get() == 2 && found.get() == 3),
    );
    let (_dir, engram, _, _) = store();
    let next = engram.snapshot().next_id();
    assert_eq!(next, MemoryId::new(3));
    let mut batch = WriteBatch::new();
    batch.remember(memory(vec![1.0, 0.0, 0.0]));
    batch.remember(memory(vec![0.0, 0.0, 1.0]));
    batch.require_first_id(next);
    assert_eq!(
        engram.write(&batch).expect("write"),
        [MemoryId::new(3), MemoryId::new(4)]
    );
    assert_eq!(engram.snapshot().next_id(), MemoryId::new(5));
}

#[test]
fn unknown_ids() {
    let ghost = MemoryId::new(999);
    rejected(
        |e| e.associate(MemoryId::new(1), ghost, 0.5),
        |e| matches!(e, Error::UnknownMemory(id) if *id == ghost),
    );
    rejected(
        |e| e.forget(ghost),
        |e| matches!(e, Error::UnknownMemory(_)),
    );
    rejected(
        |e| e.dissociate(ghost, MemoryId::new(1)),
        |e| matches!(e, Error::UnknownMemory(_)),
    );
}

#[test]
fn weights_outside_range() {
    for bad in [1.5, -1.01, f32::NAN, f32::INFINITY] {
        rejected(
            |e| e.associate(MemoryId::new(1), MemoryId::new(2), bad),
            |e| matches!(e, Error::InvalidWeight(_)),
        );
    }
}

#[test]
fn self_association_unless_allowed() {
    rejected(
        |e| e.associate(MemoryId::new(1), MemoryId::new(1), 0.5),
        |e| matches!(e, Error::SelfAssociation(id) if id.get() == 1),
    );
    let allowed = Engram::in_memory(
        2,
        Options {
            allow_self_associations: true,
            ..Options::default()
        },
    )
    .expect("store");
    let id = allowed.remember(memory(vec![1.0, 0.0])).expect("remember");
    allowed.associate(id, id, 0.5).expect("allowed");
    assert_eq!(allowed.snapshot().association_count(), 1);
    allowed.forget(id).expect("forget with a self-loop");
    assert_eq!(allowed.snapshot().association_count(), 0);
}

#[test]
fn a_bad_item_rejects_the_whole_batch() {
    rejected(
        |e| {
            let mut batch = WriteBatch::new();
            let x = batch.remember(memory(vec![1.0, 1.0, 0.0]));
            let y = batch.remember(memory(vec![0.0, 1.0, 1.0]));
            batch.associate(x, y, 0.3);
            batch.associate(x, MemoryId::new(1), 0.3);
            batch.forget(MemoryId::new(2));
            batch.remember(memory(vec![f32::NAN, 0.0, 0.0]));
            e.write(&batch).map(drop)
        },
        |e| matches!(e, Error::InBatch { index: 5, source } if matches!(**source, Error::NonFiniteEmbedding { .. })),
    );
    rejected(
        |e| {
            let mut batch = WriteBatch::new();
            batch.remember(memory(vec![1.0, 1.0, 0.0]));
            batch.associate(MemoryRef::New(0), MemoryRef::New(1), 0.3);
            e.write(&batch).map(drop)
        },
        |e| matches!(e, Error::InBatch { index: 1, source } if matches!(**source, Error::UnknownBatchMemory { index: 1, created: 1 })),
    );
    // A memory forgotten earlier in the batch is unknown later in it.
    rejected(
        |e| {
            let mut batch = WriteBatch::new();
            batch.forget(MemoryId::new(2));
            batch.associate(MemoryId::new(1), MemoryId::new(2), 0.3);
            e.write(&batch).map(drop)
        },
        |e| matches!(e, Error::InBatch { index: 1, source } if matches!(**source, Error::UnknownMemory(_))),
    );
}

#[test]
fn absurd_recall_parameters_and_cues() {
    let (_dir, engram, _, _) = store();
    let cue = [1.0, 0.0, 0.0];
    let base = RecallParams {
        now: Some(NOW),
        ..RecallParams::default()
    };
    let cases: Vec<(RecallParams, &str)> = vec![
        (RecallParams { k: 0, ..base }, "k"),
        (RecallParams { k: 10_001, ..base }, "k"),
        (RecallParams { hops: 17, ..base }, "hops"),
        (RecallParams { limit: 0, ..base }, "limit"),
        (
            RecallParams {
                attenuation: 0.0,
                ..base
            },
            "attenuation",
        ),
        (
            RecallParams {
                attenuation: f32::NAN,
                ..base
            },
            "attenuation",
        ),
        (
            RecallParams {
                threshold: -1.0,
                ..base
            },
            "threshold",
        ),
        (
            RecallParams {
                reinforce: Some(2.0),
                ..base
            },
            "reinforce",
        ),
    ];
    for (params, name) in cases {
        let err = engram.recall(&cue, &params).expect_err(name);
        assert!(
            matches!(err, Error::InvalidParameter { name: n, .. } if n == name),
            "{name}: {err:?}"
        );
        assert!(err.to_string().contains(name), "{err}");
    }
    assert!(matches!(
        engram.recall(&[1.0, 0.0], &base),
        Err(Error::DimensionMismatch {
            expected: 3,
            found: 2
        })
    ));
    assert!(matches!(
        engram.recall(&[1.0, f32::NAN, 0.0], &base),
        Err(Error::NonFiniteEmbedding { index: 1, .. })
    ));
    assert!(matches!(
        engram.recall(&[0.0, 0.0, 0.0], &base),
        Err(Error::ZeroEmbedding)
    ));
    // k above the number of memories is fine: fewer seeds.
    let many = RecallParams { k: 10_000, ..base };
    assert_eq!(engram.recall(&cue, &many).expect("k > N").len(), 2);
}

#[test]
fn single_item_writes_report_the_item_error_itself() {
    let (_dir, engram, a, _) = store();
    let err = engram.associate(a, a, 0.1).expect_err("self");
    assert!(
        matches!(err, Error::SelfAssociation(_)),
        "not wrapped: {err:?}"
    );
    let err = engram
        .remember_batch([memory(vec![1.0; 3]), NewMemory::new(vec![1.0; 2])])
        .expect_err("batch");
    assert!(matches!(err, Error::InBatch { index: 1, .. }), "{err:?}");
    assert_eq!(engram.snapshot().len(), 2);
}

/// Associations from one memory in a row are applied together: an error names the one
/// rejected, not the first of the run, and none of the run is stored.
#[test]
fn a_rejected_association_in_a_run_from_one_memory_is_named() {
    rejected(
        |e| {
            let mut batch = WriteBatch::new();
            let x = batch.remember(memory(vec![1.0, 1.0, 0.0]));
            batch.associate(x, MemoryId::new(1), 0.3);
            batch.associate(x, MemoryId::new(2), 0.3);
            batch.associate(x, MemoryId::new(9), 0.3);
            e.write(&batch).map(drop)
        },
        |e| matches!(e, Error::InBatch { index: 3, source } if matches!(**source, Error::UnknownMemory(id) if id.get() == 9)),
    );
    rejected(
        |e| {
            let mut batch = WriteBatch::new();
            batch.associate(MemoryId::new(1), MemoryId::new(2), 0.3);
            batch.associate(MemoryId::new(1), MemoryId::new(2), 1.5);
            e.write(&batch).map(drop)
        },
        |e| matches!(e, Error::InBatch { index: 1, source } if matches!(**source, Error::InvalidWeight(_))),
    );
    rejected(
        |e| {
            let mut batch = WriteBatch::new();
            batch.associate(MemoryId::new(1), MemoryId::new(2), 0.3);
            batch.associate(MemoryId::new(1), MemoryId::new(1), 0.3);
            e.write(&batch).map(drop)
        },
        |e| matches!(e, Error::InBatch { index: 1, source } if matches!(**source, Error::SelfAssociation(_))),
    );
    // An unknown source is named at the run's first association.
    rejected(
        |e| {
            let mut batch = WriteBatch::new();
            batch.remember(memory(vec![1.0, 1.0, 0.0]));
            batch.associate(MemoryId::new(7), MemoryId::new(1), 0.3);
            batch.associate(MemoryId::new(7), MemoryId::new(2), 0.3);
            e.write(&batch).map(drop)
        },
        |e| matches!(e, Error::InBatch { index: 1, source } if matches!(**source, Error::UnknownMemory(id) if id.get() == 7)),
    );
}

/// Within a run of associations from one memory, as across runs, a later weight for the same
/// target wins, and the counts are of distinct edges.
#[test]
fn a_later_association_to_the_same_memory_wins_within_a_run() {
    let (_dir, engram, a, b) = store();
    let mut batch = WriteBatch::new();
    let c = batch.remember(memory(vec![0.0, 0.0, 1.0]));
    batch.associate(c, a, 0.1);
    batch.associate(c, b, 0.2);
    batch.associate(c, a, 0.7);
    batch.associate(a, c, 0.4);
    batch.associate(c, b, 0.9);
    let ids = engram.write(&batch).expect("write");
    let c = ids[0];
    let s = engram.snapshot();
    let weights = |from| {
        s.associations_from(from)
            .iter()
            .map(|edge| (edge.to, edge.weight))
            .collect::<Vec<_>>()
    };
    assert_eq!(weights(c), vec![(a, 0.7), (b, 0.9)]);
    assert_eq!(weights(a), vec![(b, 0.5), (c, 0.4)]);
    assert_eq!(s.association_count(), 4);
}
