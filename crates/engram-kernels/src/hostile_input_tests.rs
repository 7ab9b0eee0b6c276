//! Every public function, with every kind of bad input it can receive: each must return its
//! documented error, leave its output buffer alone, and never reach the Zig code (proved with
//! the FFI call counter that exists in test builds).
//!
//! These are unit tests rather than integration tests because the counter is private.

use crate::pull::PullGraph;
use crate::{
    Backend, BackendChoice, CpuLevel, Csr, DecayCurve, EmbeddingMatrix, EmbeddingsView, Error,
    F16EmbeddingsView, Int8EmbeddingsView, Kernels, LevelChoice, MAX_ABS_WEIGHT, MAX_INT8_DIM,
    Seed, SpreadParams, SpreadWorkspace,
};

const UNTOUCHED: f32 = -777.0;

/// FFI kernel calls made by this thread so far. Without the `zig-kernels` feature there is
/// no Zig to reach and this is always 0: the tests then check the errors and the untouched
/// outputs only.
fn zig_calls() -> u64 {
    #[cfg(feature = "zig-kernels")]
    {
        crate::zig_backend::kernel_calls().len() as u64
    }
    #[cfg(not(feature = "zig-kernels"))]
    {
        0
    }
}

fn every_kernels() -> Vec<Kernels> {
    Backend::compiled()
        .map(|b| Kernels::new(b).expect("compiled in"))
        .collect()
}

/// Asserts that `$call` returns `Err` matching `$pattern` without any call into Zig.
macro_rules! rejects {
    ($call:expr, $pattern:pat) => {{
        let before = zig_calls();
        let result = $call;
        assert!(
            matches!(result, Err($pattern)),
            "{} gave {:?}",
            stringify!($call),
            result
        );
        assert_eq!(
            zig_calls(),
            before,
            "{} reached the Zig code",
            stringify!($call)
        );
    }};
}

#[test]
fn similarity_rejects_every_wrong_length() {
    let matrix = EmbeddingMatrix::from_flat(vec![0.5; 12], 4).expect("3 × 4");
    let bare = EmbeddingsView::new(matrix.as_flat(), 4).expect("3 × 4");
    for k in every_kernels() {
        for view in [matrix.view(), bare] {
            for query in [&[][..], &[1.0; 3][..], &[1.0; 5][..], &[1.0; 12][..]] {
                let mut out = [UNTOUCHED; 3];
                rejects!(
                    k.dot(query, view, &mut out),
                    Error::LengthMismatch { what: "query", .. }
                );
                rejects!(
                    k.cosine(query, view, &mut out),
                    Error::LengthMismatch { what: "query", .. }
                );
                assert_eq!(out, [UNTOUCHED; 3]);
            }
            for len in [0usize, 2, 4, 12] {
                let mut out = vec![UNTOUCHED; len];
                rejects!(
                    k.dot(&[1.0; 4], view, &mut out),
                    Error::LengthMismatch {
                        what: "output scores",
                        ..
                    }
                );
                rejects!(
                    k.cosine(&[1.0; 4], view, &mut out),
                    Error::LengthMismatch {
                        what: "output scores",
                        ..
                    }
                );
                assert!(out.iter().all(|&x| x == UNTOUCHED));
            }
        }
    }
}

#[test]
fn int8_similarity_rejects_every_wrong_length_and_shape() {
    let codes = [1i8, -128, 127, 0, 5, -5, 64, -64, 3, 2, 1, 0];
    let view = Int8EmbeddingsView::new(&codes, 4).expect("3 × 4");
    for k in every_kernels() {
        for query in [&[][..], &[1i8; 3][..], &[1i8; 5][..], &[1i8; 12][..]] {
            let mut out = [i32::MIN; 3];
            rejects!(
                k.dot_i8(query, view, &mut out),
                Error::LengthMismatch { what: "query", .. }
            );
            assert_eq!(out, [i32::MIN; 3]);
        }
        for len in [0usize, 2, 4, 12] {
            let mut out = vec![i32::MIN; len];
            rejects!(
                k.dot_i8(&[1i8; 4], view, &mut out),
                Error::LengthMismatch {
                    what: "output scores",
                    ..
                }
            );
            assert!(out.iter().all(|&x| x == i32::MIN));
        }
    }
    // The shapes no view can have: no kernel ever sees them.
    assert!(matches!(
        Int8EmbeddingsView::new(&codes, 0),
        Err(Error::ZeroDimension)
    ));
    assert!(matches!(
        Int8EmbeddingsView::new(&codes, 5),
        Err(Error::RaggedRows { len: 12, dim: 5 })
    ));
    assert!(matches!(
        Int8EmbeddingsView::new(&[], MAX_INT8_DIM + 1),
        Err(Error::DimensionTooLarge { .. })
    ));
}

#[test]
fn int8_quantization_rejects_wrong_lengths_and_every_non_finite_value() {
    let flat = [0.5f32, -1.0, 2.0, 0.0, 3.0, -4.0];
    let view = EmbeddingsView::new(&flat, 3).expect("2 × 3");
    for k in every_kernels() {
        for (codes_len, scales_len) in [(5, 2), (7, 2), (0, 2)] {
            let (mut codes, mut scales) = (vec![99i8; codes_len], vec![UNTOUCHED; scales_len]);
            rejects!(
                k.quantize_i8(view, &mut codes, &mut scales),
                Error::LengthMismatch { what: "codes", .. }
            );
            assert!(codes.iter().all(|&c| c == 99) && scales.iter().all(|&s| s == UNTOUCHED));
        }
        for scales_len in [0, 1, 3] {
            let (mut codes, mut scales) = (vec![99i8; 6], vec![UNTOUCHED; scales_len]);
            rejects!(
                k.quantize_i8(view, &mut codes, &mut scales),
                Error::LengthMismatch { what: "scales", .. }
            );
            assert!(codes.iter().all(|&c| c == 99) && scales.iter().all(|&s| s == UNTOUCHED));
        }
        for bad in [f32::NAN, -f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            for at in [0, 4, 5] {
                let mut flat = flat;
                flat[at] = bad;
                let view = EmbeddingsView::new(&flat, 3).expect("2 × 3");
                let (mut codes, mut scales) = ([99i8; 6], [UNTOUCHED; 2]);
                let before = zig_calls();
                let result = k.quantize_i8(view, &mut codes, &mut scales);
                assert!(
                    matches!(result, Err(Error::NonFiniteValue { row, index, .. })
                        if (row, index) == (at / 3, at % 3)),
                    "{result:?} for {bad} at {at}"
                );
                assert_eq!(
                    zig_calls(),
                    before,
                    "a non-finite value reached the Zig code"
                );
                assert_eq!((codes, scales), ([99i8; 6], [UNTOUCHED; 2]));
            }
        }
    }
}

#[test]
fn f16_similarity_rejects_every_wrong_length_and_shape() {
    let codes = [
        0x3c00u16, 0xfc00, 0x7e00, 0, 1, 0x8001, 0x7bff, 0xfbff, 3, 2, 1, 0,
    ];
    let view = F16EmbeddingsView::new(&codes, 4).expect("3 × 4");
    for k in every_kernels() {
        for query in [
            &[][..],
            &[1.0f32; 3][..],
            &[1.0f32; 5][..],
            &[1.0f32; 12][..],
        ] {
            let mut out = [UNTOUCHED; 3];
            rejects!(
                k.dot_f16(query, view, &mut out),
                Error::LengthMismatch { what: "query", .. }
            );
            assert_eq!(out, [UNTOUCHED; 3]);
        }
        for len in [0usize, 2, 4, 12] {
            let mut out = vec![UNTOUCHED; len];
            rejects!(
                k.dot_f16(&[1.0f32; 4], view, &mut out),
                Error::LengthMismatch {
                    what: "output scores",
                    ..
                }
            );
            assert!(out.iter().all(|&x| x == UNTOUCHED));
        }
    }
    assert!(matches!(
        F16EmbeddingsView::new(&codes, 0),
        Err(Error::ZeroDimension)
    ));
    assert!(matches!(
        F16EmbeddingsView::new(&codes, 5),
        Err(Error::RaggedRows { len: 12, dim: 5 })
    ));
}

#[test]
fn f16_quantization_rejects_wrong_lengths_and_every_non_finite_value() {
    let flat = [0.5f32, -1.0, 2.0, 0.0, 3.0, -4.0];
    let view = EmbeddingsView::new(&flat, 3).expect("2 × 3");
    for k in every_kernels() {
        for (codes_len, scales_len, what) in [
            (5, 2, "codes"),
            (7, 2, "codes"),
            (6, 1, "scales"),
            (6, 3, "scales"),
        ] {
            let (mut codes, mut scales) = (vec![99u16; codes_len], vec![UNTOUCHED; scales_len]);
            let result = k.quantize_f16(view, &mut codes, &mut scales);
            assert!(
                matches!(result, Err(Error::LengthMismatch { what: w, .. }) if w == what),
                "{result:?}"
            );
            assert!(codes.iter().all(|&c| c == 99) && scales.iter().all(|&s| s == UNTOUCHED));
        }
        for bad in [f32::NAN, -f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            for at in [0, 4, 5] {
                let mut flat = flat;
                flat[at] = bad;
                let view = EmbeddingsView::new(&flat, 3).expect("2 × 3");
                let (mut codes, mut scales) = ([99u16; 6], [UNTOUCHED; 2]);
                let before = zig_calls();
                let result = k.quantize_f16(view, &mut codes, &mut scales);
                assert!(
                    matches!(result, Err(Error::NonFiniteValue { row, index, .. })
                        if (row, index) == (at / 3, at % 3)),
                    "{result:?} for {bad} at {at}"
                );
                assert_eq!(
                    zig_calls(),
                    before,
                    "a non-finite value reached the Zig code"
                );
                assert_eq!((codes, scales), ([99u16; 6], [UNTOUCHED; 2]));
            }
        }
    }
}

#[test]
fn dense_spreading_push_and_pull_rejects_wrong_lengths_and_every_bad_activation() {
    let graph = Csr::from_edges(3, &[(0, 1, 1.0), (1, 2, 0.5)]).expect("valid");
    let pulled = PullGraph::new(&graph);
    let params = SpreadParams::default();
    for (k, pull) in every_kernels()
        .into_iter()
        .flat_map(|k| [(k, false), (k, true)])
    {
        let spread = |initial: &[f32], out: &mut [f32], ws: &mut SpreadWorkspace| {
            if pull {
                k.spread_pull(&pulled, initial, &params, out, ws)
            } else {
                k.spread(&graph, initial, &params, out, ws)
            }
        };
        let mut ws = SpreadWorkspace::new();
        let mut out = [UNTOUCHED; 3];
        for initial in [&[][..], &[0.5; 2][..], &[0.5; 4][..]] {
            rejects!(
                spread(initial, &mut out, &mut ws),
                Error::LengthMismatch {
                    what: "initial activations",
                    ..
                }
            );
        }
        for len in [0usize, 2, 4] {
            let mut wrong = vec![UNTOUCHED; len];
            rejects!(
                spread(&[0.5; 3], &mut wrong, &mut ws),
                Error::LengthMismatch {
                    what: "output activations",
                    ..
                }
            );
        }
        for bad in [
            f32::NAN,
            -f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            -1e-30,
            1.000_000_1,
            2.0,
            f32::MAX,
        ] {
            for node in 0..3 {
                let mut initial = [0.5; 3];
                initial[node] = bad;
                let before = zig_calls();
                match spread(&initial, &mut out, &mut ws) {
                    Err(Error::InvalidActivation { node: n, .. }) => assert_eq!(n, node),
                    other => panic!("activation {bad} at node {node} (pull: {pull}): {other:?}"),
                }
                assert_eq!(zig_calls(), before);
            }
        }
        assert_eq!(out, [UNTOUCHED; 3]);
    }
}

#[test]
fn sparse_spreading_rejects_bad_seeds() {
    let graph = Csr::from_edges(3, &[(0, 1, 1.0)]).expect("valid");
    let params = SpreadParams::default();
    for k in every_kernels() {
        let mut ws = SpreadWorkspace::new();
        rejects!(
            k.spread_from_seeds(&graph, &[Seed::new(3, 0.5)], &params, &mut ws),
            Error::SeedOutOfRange {
                seed: 0,
                node: 3,
                nodes: 3
            }
        );
        rejects!(
            k.spread_from_seeds(
                &graph,
                &[Seed::new(0, 0.5), Seed::new(u32::MAX, 0.5)],
                &params,
                &mut ws
            ),
            Error::SeedOutOfRange { seed: 1, .. }
        );
        for bad in [f32::NAN, -0.1, 1.5, f32::INFINITY] {
            rejects!(
                k.spread_from_seeds(
                    &graph,
                    &[Seed::new(1, 0.5), Seed::new(2, bad)],
                    &params,
                    &mut ws
                ),
                Error::InvalidActivation { node: 1, .. }
            );
        }
        rejects!(
            k.spread_from_seeds(
                &graph,
                &[Seed::new(2, 0.5), Seed::new(0, 1.0), Seed::new(2, 0.1)],
                &params,
                &mut ws
            ),
            Error::DuplicateSeed {
                node: 2,
                first: 0,
                second: 2
            }
        );
        // After all those refusals the workspace still works and is clean.
        let ok = k
            .spread_from_seeds(&graph, &[Seed::new(0, 1.0)], &params, &mut ws)
            .expect("valid");
        assert_eq!(ok.nodes(), &[0, 1]);
        assert!(ws.marked.iter().all(|&m| m == 0) && ws.current.iter().all(|&a| a == 0.0));
    }
    let empty = Csr::without_edges(0).expect("valid");
    let mut ws = SpreadWorkspace::new();
    rejects!(
        Kernels::rust().spread_from_seeds(&empty, &[Seed::new(0, 1.0)], &params, &mut ws),
        Error::SeedOutOfRange { .. }
    );
}

#[test]
fn retention_rejects_every_length_mismatch() {
    let curves = [
        DecayCurve::default(),
        DecayCurve::power_law(10.0, 1.0).expect("valid"),
    ];
    for k in every_kernels() {
        for curve in &curves {
            let mut out = [UNTOUCHED; 2];
            for last in [&[][..], &[0][..], &[0; 3][..]] {
                rejects!(
                    k.retention(&[1.0; 2], last, 0, curve, &mut out),
                    Error::LengthMismatch {
                        what: "last-access times",
                        ..
                    }
                );
            }
            for len in [0usize, 1, 3] {
                let mut wrong = vec![UNTOUCHED; len];
                rejects!(
                    k.retention(&[1.0; 2], &[0; 2], 0, curve, &mut wrong),
                    Error::LengthMismatch {
                        what: "output retentions",
                        ..
                    }
                );
            }
            rejects!(
                k.retention(&[], &[0], 0, curve, &mut []),
                Error::LengthMismatch {
                    what: "last-access times",
                    ..
                }
            );
            assert_eq!(out, [UNTOUCHED; 2]);
        }
    }
}

#[test]
fn embedding_constructors_reject_bad_shapes_and_overflowing_sizes() {
    rejects!(EmbeddingsView::new(&[], 0), Error::ZeroDimension);
    rejects!(EmbeddingsView::new(&[1.0; 3], 0), Error::ZeroDimension);
    rejects!(
        EmbeddingsView::new(&[1.0; 7], 2),
        Error::RaggedRows { len: 7, dim: 2 }
    );
    rejects!(
        EmbeddingsView::new(&[1.0; 3], 4),
        Error::RaggedRows { len: 3, dim: 4 }
    );
    let view = EmbeddingsView::new(&[1.0; 6], 3).expect("2 × 3");
    for norms in [&[][..], &[1.0][..], &[1.0; 3][..]] {
        rejects!(
            view.with_norms(norms),
            Error::LengthMismatch {
                what: "row norms",
                ..
            }
        );
    }
    rejects!(EmbeddingMatrix::new(0), Error::ZeroDimension);
    rejects!(EmbeddingMatrix::with_capacity(0, 10), Error::ZeroDimension);
    rejects!(
        EmbeddingMatrix::with_capacity(usize::MAX, 2),
        Error::SizeOverflow { .. }
    );
    rejects!(
        EmbeddingMatrix::with_capacity(2, usize::MAX / 2 + 1),
        Error::SizeOverflow { .. }
    );
    rejects!(
        EmbeddingMatrix::from_flat(vec![1.0; 5], 0),
        Error::ZeroDimension
    );
    rejects!(
        EmbeddingMatrix::from_flat(vec![1.0; 5], 3),
        Error::RaggedRows { .. }
    );
    let mut m = EmbeddingMatrix::new(3).expect("dim 3");
    for row in [&[][..], &[1.0; 2][..], &[1.0; 4][..]] {
        rejects!(m.push(row), Error::LengthMismatch { what: "row", .. });
    }
    assert!(m.is_empty(), "a rejected push must store nothing");
}

#[test]
fn csr_rejects_every_malformed_graph() {
    rejects!(
        Csr::new(vec![], vec![], vec![]),
        Error::InvalidOffsets { .. }
    );
    rejects!(
        Csr::new(vec![1], vec![], vec![]),
        Error::InvalidOffsets { .. }
    );
    rejects!(
        Csr::new(vec![0, 2, 1, 2], vec![0, 0], vec![1.0; 2]),
        Error::InvalidOffsets { .. }
    );
    rejects!(
        Csr::new(vec![0, 1, 1], vec![0, 0], vec![1.0; 2]),
        Error::InvalidOffsets { .. }
    ); // ends early
    rejects!(
        Csr::new(vec![0, 3], vec![0, 0], vec![1.0; 2]),
        Error::InvalidOffsets { .. }
    ); // ends late
    rejects!(
        Csr::new(vec![0, u64::MAX], vec![0], vec![1.0]),
        Error::InvalidOffsets { .. }
    );
    rejects!(
        Csr::new(vec![0, 2], vec![0, 0], vec![1.0]),
        Error::LengthMismatch {
            what: "weights",
            ..
        }
    );
    rejects!(
        Csr::new(vec![0, 2], vec![0, 0], vec![1.0; 3]),
        Error::LengthMismatch {
            what: "weights",
            ..
        }
    );
    rejects!(
        Csr::new(vec![0, 1, 1], vec![2], vec![1.0]),
        Error::TargetOutOfRange {
            edge: 0,
            target: 2,
            nodes: 2
        }
    );
    rejects!(
        Csr::new(vec![0, 1], vec![u32::MAX], vec![1.0]),
        Error::TargetOutOfRange { .. }
    );
    for bad in [
        f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        MAX_ABS_WEIGHT * 2.0,
        -MAX_ABS_WEIGHT * 2.0,
        f32::MAX,
    ] {
        rejects!(
            Csr::new(vec![0, 2], vec![0, 0], vec![1.0, bad]),
            Error::InvalidWeight { edge: 1, .. }
        );
        rejects!(
            Csr::from_edges(1, &[(0, 0, 1.0), (0, 0, bad)]),
            Error::InvalidWeight { edge: 1, .. }
        );
    }
    rejects!(
        Csr::from_edges(2, &[(0, 1, 1.0), (2, 0, 1.0)]),
        Error::SourceOutOfRange { edge: 1, .. }
    );
    rejects!(
        Csr::from_edges(2, &[(0, 2, 1.0)]),
        Error::TargetOutOfRange { edge: 0, .. }
    );
    rejects!(
        Csr::from_edges(0, &[(0, 0, 1.0)]),
        Error::SourceOutOfRange { .. }
    );
    if usize::BITS > 32 {
        let too_many = u32::MAX as usize + 2;
        rejects!(Csr::without_edges(too_many), Error::TooManyNodes { .. });
        rejects!(Csr::without_edges(usize::MAX), Error::TooManyNodes { .. });
        rejects!(Csr::from_edges(too_many, &[]), Error::TooManyNodes { .. });
    }
}

#[test]
fn parameters_reject_every_out_of_range_value() {
    for decay in [
        0.0,
        -0.0,
        -0.5,
        1.000_000_1,
        f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
    ] {
        rejects!(
            SpreadParams::new(1, decay, 0.0),
            Error::InvalidParameter {
                name: "attenuation",
                ..
            }
        );
    }
    for threshold in [-1e-30, -1.0, f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        rejects!(
            SpreadParams::new(1, 0.5, threshold),
            Error::InvalidParameter {
                name: "threshold",
                ..
            }
        );
    }
    for bad in [0.0, -0.0, -1.0, f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        rejects!(
            DecayCurve::exponential(bad),
            Error::InvalidParameter {
                name: "half_life_secs",
                ..
            }
        );
        rejects!(
            DecayCurve::power_law(bad, 1.0),
            Error::InvalidParameter {
                name: "scale_secs",
                ..
            }
        );
        rejects!(
            DecayCurve::power_law(1.0, bad),
            Error::InvalidParameter {
                name: "exponent",
                ..
            }
        );
    }
}

#[test]
fn backend_choices_reject_unknown_or_missing_backends() {
    for text in ["gpu", "rusty", "zig2", "r u s t", "\u{0}"] {
        rejects!(text.parse::<BackendChoice>(), Error::UnknownBackend { .. });
    }
    for text in ["avx1024", "v5", "x86-64-v9"] {
        rejects!(text.parse::<LevelChoice>(), Error::UnknownCpuLevel { .. });
    }
    if !Backend::Zig.is_compiled() {
        rejects!(Kernels::new(Backend::Zig), Error::BackendUnavailable { .. });
        rejects!(
            Kernels::from_choice(BackendChoice::Exactly(Backend::Zig), LevelChoice::Auto),
            Error::BackendUnavailable { .. }
        );
    }
    for level in CpuLevel::ALL.into_iter().filter(|l| !l.is_supported()) {
        rejects!(
            Kernels::with_level(Backend::Rust, level),
            Error::CpuLevelUnavailable { .. }
        );
    }
}
