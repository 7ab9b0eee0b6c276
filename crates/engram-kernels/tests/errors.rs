//! Every bad input gets its documented error, on every backend, and leaves the output alone.

mod common;

use engram_kernels::{
    Backend, Csr, DecayCurve, EmbeddingMatrix, EmbeddingsView, Error, Kernels, SpreadParams,
    SpreadWorkspace,
};

const UNTOUCHED: f32 = -123.0;

#[test]
fn similarity_rejects_wrong_query_and_output_lengths() {
    let matrix = EmbeddingMatrix::from_flat(vec![1.0; 6], 3).expect("2 × 3");
    for k in common::every_kernels() {
        let mut out = [UNTOUCHED; 2];
        for result in [
            k.dot(&[1.0; 2], matrix.view(), &mut out),
            k.cosine(&[1.0; 4], matrix.view(), &mut out),
        ] {
            assert!(matches!(
                result,
                Err(Error::LengthMismatch {
                    what: "query",
                    expected: 3,
                    ..
                })
            ));
        }
        let mut short = [UNTOUCHED; 1];
        assert_eq!(
            k.cosine(&[1.0; 3], matrix.view(), &mut short),
            Err(Error::LengthMismatch {
                what: "output scores",
                expected: 2,
                actual: 1
            })
        );
        assert_eq!(out, [UNTOUCHED; 2]);
        assert_eq!(short, [UNTOUCHED]);
    }
}

#[test]
fn embedding_constructors_reject_bad_shapes() {
    assert_eq!(
        EmbeddingsView::new(&[1.0; 4], 0).err(),
        Some(Error::ZeroDimension)
    );
    assert_eq!(
        EmbeddingMatrix::from_flat(vec![1.0; 5], 2).err(),
        Some(Error::RaggedRows { len: 5, dim: 2 })
    );
    assert_eq!(EmbeddingMatrix::new(0).err(), Some(Error::ZeroDimension));
    assert_eq!(
        EmbeddingMatrix::with_capacity(1 << 40, usize::MAX >> 20).err(),
        Some(Error::SizeOverflow {
            what: "rows × dim"
        })
    );
    let view = EmbeddingsView::new(&[1.0; 4], 2).expect("2 × 2");
    assert!(matches!(
        view.with_norms(&[1.0; 3]),
        Err(Error::LengthMismatch {
            what: "row norms",
            ..
        })
    ));
}

#[test]
fn spread_rejects_wrong_lengths_and_activations_outside_the_unit_interval() {
    let g = Csr::from_edges(3, &[(0, 1, 1.0)]).expect("valid");
    let params = SpreadParams::default();
    for k in common::every_kernels() {
        let mut ws = SpreadWorkspace::new();
        let mut out = [UNTOUCHED; 3];
        assert_eq!(
            k.spread(&g, &[0.0; 2], &params, &mut out, &mut ws),
            Err(Error::LengthMismatch {
                what: "initial activations",
                expected: 3,
                actual: 2
            })
        );
        let mut long = [UNTOUCHED; 4];
        assert_eq!(
            k.spread(&g, &[0.0; 3], &params, &mut long, &mut ws),
            Err(Error::LengthMismatch {
                what: "output activations",
                expected: 3,
                actual: 4
            })
        );
        for bad in [-0.1, 1.0001, f32::NAN, f32::INFINITY, -f32::INFINITY] {
            match k.spread(&g, &[0.5, bad, 0.5], &params, &mut out, &mut ws) {
                Err(Error::InvalidActivation { node: 1, value }) => {
                    assert!(value.is_nan() && bad.is_nan() || value == bad);
                }
                other => panic!("activation {bad}: {other:?}"),
            }
        }
        assert_eq!(out, [UNTOUCHED; 3]);
        assert_eq!(long, [UNTOUCHED; 4]);
    }
}

#[test]
fn csr_rejects_every_kind_of_bad_structure() {
    assert!(matches!(
        Csr::new(vec![], vec![], vec![]),
        Err(Error::InvalidOffsets { .. })
    ));
    assert!(matches!(
        Csr::new(vec![1, 1], vec![0], vec![1.0]),
        Err(Error::InvalidOffsets { .. })
    ));
    assert!(matches!(
        Csr::new(vec![0, 2, 1], vec![0, 0], vec![1.0; 2]),
        Err(Error::InvalidOffsets { .. })
    ));
    assert!(matches!(
        Csr::new(vec![0, 3], vec![0, 0], vec![1.0; 2]),
        Err(Error::InvalidOffsets { .. })
    ));
    assert_eq!(
        Csr::new(vec![0, 1], vec![0], vec![1.0, 2.0]),
        Err(Error::LengthMismatch {
            what: "weights",
            expected: 1,
            actual: 2
        })
    );
    assert_eq!(
        Csr::new(vec![0, 1], vec![1], vec![1.0]),
        Err(Error::TargetOutOfRange {
            edge: 0,
            target: 1,
            nodes: 1
        })
    );
    assert!(matches!(
        Csr::new(vec![0, 1], vec![0], vec![f32::NAN]),
        Err(Error::InvalidWeight { edge: 0, .. })
    ));
    assert_eq!(
        Csr::from_edges(2, &[(3, 0, 1.0)]),
        Err(Error::SourceOutOfRange {
            edge: 0,
            source_node: 3,
            nodes: 2
        })
    );
    let too_many = (u32::MAX as usize).saturating_add(2);
    if too_many > u32::MAX as usize + 1 {
        assert_eq!(
            Csr::without_edges(too_many),
            Err(Error::TooManyNodes { nodes: too_many })
        );
        assert_eq!(
            Csr::from_edges(too_many, &[]),
            Err(Error::TooManyNodes { nodes: too_many })
        );
    }
}

#[test]
fn parameters_are_validated_when_built() {
    assert!(matches!(
        SpreadParams::new(1, 0.0, 0.0),
        Err(Error::InvalidParameter {
            name: "attenuation",
            ..
        })
    ));
    assert!(matches!(
        SpreadParams::new(1, 0.5, -1.0),
        Err(Error::InvalidParameter {
            name: "threshold",
            ..
        })
    ));
    assert!(matches!(
        DecayCurve::exponential(0.0),
        Err(Error::InvalidParameter {
            name: "half_life_secs",
            ..
        })
    ));
    assert!(matches!(
        DecayCurve::exponential(-5.0),
        Err(Error::InvalidParameter {
            name: "half_life_secs",
            ..
        })
    ));
    assert!(matches!(
        DecayCurve::power_law(f64::NAN, 1.0),
        Err(Error::InvalidParameter {
            name: "scale_secs",
            ..
        })
    ));
    assert!(matches!(
        DecayCurve::power_law(1.0, 0.0),
        Err(Error::InvalidParameter {
            name: "exponent",
            ..
        })
    ));
}

#[test]
fn retention_rejects_mismatched_lengths() {
    let curve = DecayCurve::default();
    for k in common::every_kernels() {
        let mut out = [UNTOUCHED; 2];
        assert_eq!(
            k.retention(&[1.0; 2], &[0; 3], 0, &curve, &mut out),
            Err(Error::LengthMismatch {
                what: "last-access times",
                expected: 2,
                actual: 3
            })
        );
        assert_eq!(
            k.retention(&[1.0; 3], &[0; 3], 0, &curve, &mut out),
            Err(Error::LengthMismatch {
                what: "output retentions",
                expected: 3,
                actual: 2
            })
        );
        assert_eq!(out, [UNTOUCHED; 2]);
    }
}

#[test]
fn asking_for_a_backend_that_is_not_compiled_in_is_an_error() {
    for backend in Backend::ALL {
        match Kernels::new(backend) {
            Ok(k) => assert!(backend.is_compiled() && k.backend() == backend),
            Err(e) => {
                assert!(!backend.is_compiled());
                assert!(matches!(e, Error::BackendUnavailable { .. }));
                assert!(e.to_string().contains("--features zig-kernels"), "{e}");
            }
        }
    }
}

#[test]
fn error_messages_say_what_was_wrong() {
    let e = Error::LengthMismatch {
        what: "query",
        expected: 384,
        actual: 383,
    };
    assert_eq!(e.to_string(), "query has length 383, expected 384");
    let e = Error::InvalidParameter {
        name: "attenuation",
        value: 0.0,
        requirement: "in (0, 1]",
    };
    assert_eq!(
        e.to_string(),
        "attenuation = 0 is invalid: it must be in (0, 1]"
    );
}
