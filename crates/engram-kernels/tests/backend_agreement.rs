//! The Zig backend agrees with the Rust reference within the bounds stated in the crate docs
//! ("How closely the backends agree"), on random inputs. Without the `zig-kernels` feature
//! there is nothing to compare and every test here is reported as ignored, with the reason.
//!
//! `measured_disagreement_report` prints the largest disagreement seen, relative to each
//! bound; the crate docs quote it. Run it with:
//! `cargo test -p engram-kernels --features zig-kernels --release --test backend_agreement -- --nocapture`

mod common;

use engram_kernels::{
    Backend, Csr, DecayCurve, EmbeddingMatrix, EmbeddingsView, Kernels, SpreadParams,
    SpreadWorkspace,
};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

/// f32 unit roundoff, 2⁻²⁴.
const EPS: f64 = f32::EPSILON as f64 / 2.0;

fn zig() -> Kernels {
    Kernels::new(Backend::Zig).expect("this test only runs with the zig-kernels feature")
}

/// Σ_k |q_k · m_k| in f64: the scale of a dot product's rounding error.
fn abs_dot(q: &[f32], m: &[f32]) -> f64 {
    q.iter()
        .zip(m)
        .map(|(a, b)| (f64::from(*a) * f64::from(*b)).abs())
        .sum()
}

fn dot_bound(q: &[f32], m: &[f32]) -> f64 {
    2.0 * q.len() as f64 * EPS * abs_dot(q, m)
}

fn cosine_bound(dim: usize) -> f64 {
    (3 * dim + 4) as f64 * EPS
}

fn decay_bound(reference: f32) -> f64 {
    2.0 * EPS * f64::from(reference).abs()
}

/// |a − b| if both are numbers, 0 if both are NaN, ∞ if only one is.
fn disagreement(a: f32, b: f32) -> f64 {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => 0.0,
        (false, false) => (f64::from(a) - f64::from(b)).abs(),
        _ => f64::INFINITY,
    }
}

/// `dim` and a flat buffer of `rows × dim` values in a range where products stay normal f32.
fn embeddings() -> impl Strategy<Value = (usize, Vec<f32>, Vec<f32>)> {
    (prop_oneof![1usize..=70, 70usize..=1100], 0usize..6).prop_flat_map(|(dim, rows)| {
        let value = prop_oneof![4 => -100.0f32..100.0, 1 => Just(0.0f32), 1 => -1e-3f32..1e-3];
        (
            Just(dim),
            prop::collection::vec(value.clone(), dim),
            prop::collection::vec(value, dim * rows),
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        // Shrunk failures are kept in the repository, next to the tests, and replayed first.
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/regressions/backend_agreement.txt"
        )))),
        ..ProptestConfig::default()
    })]

    #[test]
    #[cfg_attr(not(feature = "zig-kernels"), ignore = "needs the zig-kernels feature")]
    fn dot_agrees_within_bound((dim, query, flat) in embeddings()) {
        let view = EmbeddingsView::new(&flat, dim).expect("whole rows");
        let (mut reference, mut fast) = (vec![0.0; view.rows()], vec![0.0; view.rows()]);
        Kernels::rust().dot(&query, view, &mut reference).expect("valid");
        zig().dot(&query, view, &mut fast).expect("valid");
        for (i, row) in flat.chunks_exact(dim).enumerate() {
            let bound = dot_bound(&query, row);
            prop_assert!(disagreement(reference[i], fast[i]) <= bound,
                "row {i}: rust {} zig {} bound {bound}", reference[i], fast[i]);
        }
    }

    #[test]
    #[cfg_attr(not(feature = "zig-kernels"), ignore = "needs the zig-kernels feature")]
    fn cosine_agrees_within_bound((dim, query, flat) in embeddings(), precomputed in any::<bool>()) {
        let matrix = EmbeddingMatrix::from_flat(flat.clone(), dim).expect("whole rows");
        let view = if precomputed { matrix.view() } else { EmbeddingsView::new(&flat, dim).expect("whole rows") };
        let (mut reference, mut fast) = (vec![0.0; view.rows()], vec![0.0; view.rows()]);
        Kernels::rust().cosine(&query, view, &mut reference).expect("valid");
        zig().cosine(&query, view, &mut fast).expect("valid");
        for i in 0..view.rows() {
            prop_assert!(disagreement(reference[i], fast[i]) <= cosine_bound(dim),
                "row {i}: rust {} zig {} (precomputed norms: {precomputed})", reference[i], fast[i]);
            prop_assert!((-1.0..=1.0).contains(&fast[i]));
        }
    }

    #[test]
    #[cfg_attr(not(feature = "zig-kernels"), ignore = "needs the zig-kernels feature")]
    fn spread_agrees_bit_for_bit(
        (nodes, edges, initial) in (0usize..40).prop_flat_map(|n| {
            let node = 0..(n.max(1) as u32);
            let edge = (node.clone(), node, prop_oneof![-2.0f32..2.0, Just(0.0), Just(1.0)]);
            (
                Just(n),
                prop::collection::vec(edge, if n == 0 { 0..1 } else { 0..200 }),
                prop::collection::vec(prop_oneof![Just(0.0f32), 0.0f32..=1.0, Just(1.0)], n),
            )
        }),
        hops in 0u32..6,
        decay in prop_oneof![0.01f32..=1.0, Just(1.0)],
        threshold in prop_oneof![Just(0.0f32), 0.0f32..0.8],
    ) {
        let graph = Csr::from_edges(nodes, &edges).expect("edges within the node range");
        let params = SpreadParams::new(hops, decay, threshold).expect("valid params");
        let (mut reference, mut fast) = (vec![0.0; nodes], vec![0.0; nodes]);
        let mut ws = SpreadWorkspace::new();
        let a = Kernels::rust().spread(&graph, &initial, &params, &mut reference, &mut ws).expect("valid");
        let b = zig().spread(&graph, &initial, &params, &mut fast, &mut ws).expect("valid");
        prop_assert_eq!(a, b);
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        prop_assert_eq!(bits(&reference), bits(&fast));
        prop_assert!(fast.iter().all(|x| (0.0..=1.0).contains(x)));
    }

    #[test]
    #[cfg_attr(not(feature = "zig-kernels"), ignore = "needs the zig-kernels feature")]
    fn decay_agrees_within_one_ulp(
        strengths in prop::collection::vec(prop_oneof![0.0f32..=1.0, Just(1.0)], 0..64),
        seed_times in prop::collection::vec(any::<i64>(), 64),
        now in prop_oneof![any::<i64>(), 0i64..10_000_000],
        log_scale in -3.0f64..9.0,
        exponent in 0.05f64..5.0,
        exponential in any::<bool>(),
    ) {
        // Ages from 0 to centuries around `now`, plus arbitrary (saturating) timestamps.
        let last: Vec<i64> = seed_times[..strengths.len()].iter().enumerate()
            .map(|(i, &t)| if i % 2 == 0 { now.saturating_sub(t.rem_euclid(4_000_000_000)) } else { t })
            .collect();
        let scale = 10f64.powf(log_scale);
        let curve = if exponential { DecayCurve::exponential(scale) } else { DecayCurve::power_law(scale, exponent) }
            .expect("valid curve");
        let (mut reference, mut fast) = (vec![0.0; strengths.len()], vec![0.0; strengths.len()]);
        Kernels::rust().retention(&strengths, &last, now, &curve, &mut reference).expect("valid");
        zig().retention(&strengths, &last, now, &curve, &mut fast).expect("valid");
        for i in 0..strengths.len() {
            prop_assert!(disagreement(reference[i], fast[i]) <= decay_bound(reference[i]),
                "memory {i}: rust {} zig {} ({curve})", reference[i], fast[i]);
        }
    }
}

/// A seeded sweep over many shapes that prints the largest disagreement seen as a fraction of
/// each bound (and in units of ε), and fails if any exceeds its bound.
#[test]
#[cfg_attr(not(feature = "zig-kernels"), ignore = "needs the zig-kernels feature")]
fn measured_disagreement_report() {
    let mut rng = common::SplitMix64::new(0x5eed_2026);
    let (mut dot_worst, mut cos_worst, mut cos_abs_worst, mut decay_worst) =
        (0f64, 0f64, 0f64, 0f64);
    let mut compared = 0usize;
    for dim in [
        1usize, 3, 7, 16, 17, 64, 100, 127, 128, 384, 768, 769, 1024, 1536, 2048,
    ] {
        let rows = 64;
        let query: Vec<f32> = (0..dim).map(|_| rng.next_f32_signed()).collect();
        let flat: Vec<f32> = (0..dim * rows).map(|_| rng.next_f32_signed()).collect();
        let matrix = EmbeddingMatrix::from_flat(flat.clone(), dim).expect("whole rows");
        let bare = EmbeddingsView::new(&flat, dim).expect("whole rows");
        let (mut r, mut z) = (vec![0.0; rows], vec![0.0; rows]);
        Kernels::rust().dot(&query, bare, &mut r).expect("valid");
        zig().dot(&query, bare, &mut z).expect("valid");
        for (i, row) in flat.chunks_exact(dim).enumerate() {
            dot_worst = dot_worst.max(disagreement(r[i], z[i]) / dot_bound(&query, row));
        }
        for view in [matrix.view(), bare] {
            Kernels::rust().cosine(&query, view, &mut r).expect("valid");
            zig().cosine(&query, view, &mut z).expect("valid");
            for i in 0..rows {
                let d = disagreement(r[i], z[i]);
                cos_worst = cos_worst.max(d / cosine_bound(dim));
                cos_abs_worst = cos_abs_worst.max(d / EPS);
            }
        }
        compared += 3 * rows;
    }
    let n = 100_000;
    let strengths: Vec<f32> = (0..n).map(|_| rng.next_f32_unit()).collect();
    let last: Vec<i64> = (0..n)
        .map(|_| (rng.next_u64() % 400_000_000) as i64)
        .collect();
    for curve in [
        DecayCurve::exponential(3600.0),
        DecayCurve::exponential(604_800.0),
        DecayCurve::power_law(60.0, 0.5),
        DecayCurve::power_law(86_400.0, 1.7),
    ] {
        let curve = curve.expect("valid curve");
        let (mut r, mut z) = (vec![0.0; n], vec![0.0; n]);
        Kernels::rust()
            .retention(&strengths, &last, 400_000_000, &curve, &mut r)
            .expect("valid");
        zig()
            .retention(&strengths, &last, 400_000_000, &curve, &mut z)
            .expect("valid");
        for i in 0..n {
            if r[i] != 0.0 {
                decay_worst =
                    decay_worst.max(disagreement(r[i], z[i]) / (f64::from(r[i]).abs() * EPS));
            }
        }
        compared += n;
    }
    println!("backend agreement over {compared} compared outputs (ε = 2^-24):");
    println!("  dot:    worst = {dot_worst:.4} of the bound 2·D·ε·Σ|q·m|");
    println!(
        "  cosine: worst = {cos_worst:.4} of the bound (3D+4)·ε, i.e. {cos_abs_worst:.1} ε absolute"
    );
    println!("  decay:  worst = {decay_worst:.2} ε relative (bound: 2 ε)");
    assert!(dot_worst <= 1.0 && cos_worst <= 1.0 && decay_worst <= 2.0);
}
