//! The differential harness: every kernel, on every compiled backend, against the independent
//! f64 oracle in `common/oracle.rs` (within the bounds stated there and in the crate docs) and
//! against each other.
//!
//! Each property runs `PROPTEST_CASES` cases (default 10,000). A case is a shape chosen by
//! proptest (dimension, rows, graph kind, value regime, ...) plus a seed that fills it, so large
//! inputs stay cheap to generate and a failure shrinks to a small shape. Shrunk failures are
//! kept in `tests/regressions/differential.txt` and replayed first on every run.
//!
//! Without the `zig-kernels` feature the Rust backend is still checked against the oracle.

mod common;

use common::SplitMix64;
use common::oracle::{self, EPS, Expect};
use engram_kernels::pull::{BidirectionalGraph, PullGraph, SeedGraph};
use engram_kernels::{
    Backend, Csr, DecayCurve, EmbeddingMatrix, EmbeddingsView, F16EmbeddingsView,
    Int8EmbeddingsView, Kernels, MAX_ABS_WEIGHT, Seed, SpreadParams, SpreadWorkspace,
    f16_bits_to_f32, f32_to_f16_bits,
};
use proptest::prelude::*;

// ---------------------------------------------------------------------------------------------
// Similarity

/// How the values of a similarity case are drawn.
#[derive(Debug, Clone, Copy)]
enum Regime {
    /// Uniform in [-1, 1).
    Unit,
    /// Magnitudes from 2⁻⁴⁰ to 2⁴⁰, random signs.
    Wide,
    /// Small integers: every sum is exact whatever the order.
    Integers,
    /// Values near f32::MAX, subnormals, the smallest normal, zeros and ordinary values.
    Extreme,
    /// Ordinary values with NaN, +∞ and −∞ sprinkled in.
    Special,
}

fn value(rng: &mut SplitMix64, regime: Regime) -> f32 {
    match regime {
        Regime::Unit => rng.next_f32_signed(),
        Regime::Wide => {
            let sign = if rng.chance(0.5) { -1.0 } else { 1.0 };
            sign * (1.0 + rng.next_f32_unit()) * 2f32.powi(rng.below(81) as i32 - 40)
        }
        Regime::Integers => rng.below(17) as f32 - 8.0,
        Regime::Extreme => {
            let sign = if rng.chance(0.5) { -1.0 } else { 1.0 };
            sign * match rng.below(6) {
                0 => f32::MAX * (0.05 + 0.95 * rng.next_f32_unit()),
                1 => f32::from_bits(1 + rng.below(0x7f_ffff) as u32), // subnormal
                2 => f32::MIN_POSITIVE * (1.0 + rng.next_f32_unit()),
                3 => 0.0,
                _ => rng.next_f32_signed(),
            }
        }
        Regime::Special => match rng.below(50) {
            0 => f32::NAN,
            1 => f32::INFINITY,
            2 => f32::NEG_INFINITY,
            _ => rng.next_f32_signed(),
        },
    }
}

#[derive(Debug, Clone, Copy)]
struct SimilarityCase {
    dim: usize,
    rows: usize,
    regime: Regime,
    zero_query: bool,
    seed: u64,
}

impl SimilarityCase {
    /// The query and the flat rows; about one row in ten is all zeros.
    fn generate(&self) -> (Vec<f32>, Vec<f32>) {
        let mut rng = SplitMix64::new(self.seed);
        let query = (0..self.dim)
            .map(|_| {
                if self.zero_query {
                    0.0
                } else {
                    value(&mut rng, self.regime)
                }
            })
            .collect();
        let mut flat = Vec::with_capacity(self.dim * self.rows);
        for _ in 0..self.rows {
            let zero_row = rng.chance(0.1);
            flat.extend((0..self.dim).map(|_| {
                if zero_row {
                    0.0
                } else {
                    value(&mut rng, self.regime)
                }
            }));
        }
        (query, flat)
    }
}

/// Dimensions that break SIMD code: every small one, primes, powers of two and their
/// neighbours (non-multiples of 4, 8, 16, 32, 64), and anything up to 2048.
fn dimension() -> impl Strategy<Value = usize> {
    prop_oneof![
        3 => 1usize..=40,
        3 => prop::sample::select(vec![
            41, 47, 61, 63, 64, 65, 97, 127, 128, 129, 191, 255, 256, 257, 383, 384, 385, 509,
            511, 512, 513, 767, 768, 769, 1021, 1023, 1024, 1025, 1531, 1536, 2039, 2047, 2048,
        ]),
        2 => 41usize..=2048,
    ]
}

fn similarity_case() -> impl Strategy<Value = SimilarityCase> {
    dimension()
        .prop_flat_map(|dim| {
            // N = 0, 1, a few, and large (hundreds of rows) where the rows are short.
            let rows = if dim <= 32 {
                prop_oneof![1 => Just(0usize), 2 => Just(1usize), 4 => 2usize..8, 1 => 200usize..600].boxed()
            } else {
                prop_oneof![1 => Just(0usize), 2 => Just(1usize), 4 => 2usize..6].boxed()
            };
            let regime = prop_oneof![
                4 => Just(Regime::Unit),
                2 => Just(Regime::Wide),
                1 => Just(Regime::Integers),
                2 => Just(Regime::Extreme),
                2 => Just(Regime::Special),
            ];
            (Just(dim), rows, regime, prop::bool::weighted(0.05), any::<u64>())
        })
        .prop_map(|(dim, rows, regime, zero_query, seed)| SimilarityCase {
            dim,
            rows,
            regime,
            zero_query,
            seed,
        })
}

fn check_rows(
    kernel: &str,
    case: &SimilarityCase,
    query: &[f32],
    flat: &[f32],
    results: &[(Kernels, Vec<f32>)],
    expect: impl Fn(&[f32], &[f32]) -> Expect,
) -> Result<(), TestCaseError> {
    for (i, row) in flat.chunks_exact(case.dim).enumerate() {
        let expected = expect(query, row);
        for (kernels, out) in results {
            prop_assert!(
                expected.admits(out[i], kernel == "cosine"),
                "{kernel} row {i} on {}: got {} but the oracle expects {expected:?} ({case:?})",
                kernels.backend(),
                out[i]
            );
        }
        // The backends agree with each other on NaN-ness as well, except where sums overflow
        // or a term is infinite: then the summation order decides between ±∞ and NaN
        // (∞ − ∞, where a partial sum of finite terms overflowed to the other infinity).
        if expected != Expect::Unbounded && expected != Expect::NonFinite {
            let nan = results[0].1[i].is_nan();
            prop_assert!(
                results.iter().all(|(_, out)| out[i].is_nan() == nan),
                "{kernel} row {i}: NaN on one backend only"
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(common::proptest_config(regression_file!("differential")))]

    #[test]
    fn dot_matches_the_oracle_on_every_backend(case in similarity_case()) {
        let (query, flat) = case.generate();
        let view = EmbeddingsView::new(&flat, case.dim).expect("whole rows");
        let results: Vec<_> = common::every_kernels().into_iter().map(|k| {
            let mut out = vec![0.0f32; case.rows];
            k.dot(&query, view, &mut out).expect("valid shapes");
            (k, out)
        }).collect();
        check_rows("dot", &case, &query, &flat, &results, oracle::dot)?;
    }

    #[test]
    fn cosine_matches_the_oracle_on_every_backend(case in similarity_case(), precomputed in any::<bool>()) {
        let (query, flat) = case.generate();
        let matrix;
        let view = if precomputed {
            matrix = EmbeddingMatrix::from_flat(flat.clone(), case.dim).expect("whole rows");
            matrix.view()
        } else {
            EmbeddingsView::new(&flat, case.dim).expect("whole rows")
        };
        let results: Vec<_> = common::every_kernels().into_iter().map(|k| {
            let mut out = vec![0.0f32; case.rows];
            k.cosine(&query, view, &mut out).expect("valid shapes");
            (k, out)
        }).collect();
        check_rows("cosine", &case, &query, &flat, &results, |q, m| oracle::cosine(q, m, precomputed))?;
    }

    #[test]
    fn int8_quantization_is_within_half_a_step_and_backends_agree_exactly(case in similarity_case()) {
        let (_, mut flat) = case.generate();
        // Quantization takes finite values only (the others are an error, tested elsewhere).
        flat.iter_mut().filter(|x| !x.is_finite()).for_each(|x| *x = 1.5);
        let view = EmbeddingsView::new(&flat, case.dim).expect("whole rows");
        let mut first: Option<(Vec<i8>, Vec<f32>)> = None;
        for k in common::every_kernels() {
            let (mut codes, mut scales) = (vec![0i8; flat.len()], vec![0.0f32; case.rows]);
            k.quantize_i8(view, &mut codes, &mut scales).expect("finite values");
            for (i, row) in flat.chunks_exact(case.dim).enumerate() {
                let max = row.iter().fold(0.0f64, |m, &x| m.max(f64::from(x).abs()));
                let scale = max / 127.0;
                // The scale, rounded once to f32: half an ulp, or half the smallest subnormal.
                let bound = scale * 2f64.powi(-24) + 2f64.powi(-150);
                prop_assert!((f64::from(scales[i]) - scale).abs() <= bound,
                    "row {} scale {} for max {} on {}", i, scales[i], max, k.describe());
                for (j, &x) in row.iter().enumerate() {
                    let c = codes[i * case.dim + j];
                    prop_assert!(c != i8::MIN, "code -128 on {}", k.describe());
                    // Within half a step of the value, in units of the step (exact in f64).
                    let y = if max == 0.0 { 0.0 } else { f64::from(x) * 127.0 / max };
                    prop_assert!((f64::from(c) - y).abs() <= 0.5 + 1e-9,
                        "row {} value {} code {} (exact {}) on {}", i, x, c, y, k.describe());
                }
                prop_assert!(max == 0.0 || row.iter().zip(&codes[i * case.dim..]).any(|(&x, &c)| f64::from(x).abs() == max && c.unsigned_abs() == 127));
            }
            match &first {
                Some((c, s)) => {
                    prop_assert!(*c == codes, "codes differ on {}", k.describe());
                    prop_assert!(s.iter().zip(&scales).all(|(a, b)| a.to_bits() == b.to_bits()), "scales differ on {}", k.describe());
                }
                None => first = Some((codes, scales)),
            }
        }
    }

    #[test]
    fn f16_dot_matches_the_oracle_and_is_the_f32_dot_of_the_widened_rows(case in similarity_case(), raw in any::<bool>()) {
        // The case's values rounded to f16 (every regime: subnormal, huge, NaN, ∞ become f16
        // subnormals, ∞ and NaN), or, with `raw`, arbitrary bit patterns.
        let (query, flat) = case.generate();
        let mut rng = SplitMix64::new(case.seed);
        let codes: Vec<u16> = flat
            .iter()
            .map(|&x| if raw { (rng.next_u64() >> 48) as u16 } else { f32_to_f16_bits(x) })
            .collect();
        let widened: Vec<f32> = codes.iter().map(|&c| f16_bits_to_f32(c)).collect();
        let view = F16EmbeddingsView::new(&codes, case.dim).expect("whole rows");
        let wide_view = EmbeddingsView::new(&widened, case.dim).expect("whole rows");
        let results: Vec<_> = common::every_kernels().into_iter().map(|k| {
            let (mut out, mut wide) = (vec![0.0f32; case.rows], vec![0.0f32; case.rows]);
            k.dot_f16(&query, view, &mut out).expect("valid shapes");
            k.dot(&query, wide_view, &mut wide).expect("valid shapes");
            (k, out, wide)
        }).collect();
        for (k, out, wide) in &results {
            prop_assert!(
                out.iter().zip(wide).all(|(a, b)| a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())),
                "dot_f16 is not dot over the widened rows on {}", k.describe()
            );
        }
        let results: Vec<_> = results.into_iter().map(|(k, out, _)| (k, out)).collect();
        check_rows("dot", &case, &query, &widened, &results, oracle::dot)?;
    }

    #[test]
    fn f16_quantization_is_the_f16_rounding_and_backends_agree_exactly(case in similarity_case()) {
        let (_, mut flat) = case.generate();
        flat.iter_mut().filter(|x| !x.is_finite()).for_each(|x| *x = -2.5);
        let view = EmbeddingsView::new(&flat, case.dim).expect("whole rows");
        let mut first: Option<(Vec<u16>, Vec<f32>)> = None;
        for k in common::every_kernels() {
            let (mut codes, mut scales) = (vec![0u16; flat.len()], vec![0.0f32; case.rows]);
            k.quantize_f16(view, &mut codes, &mut scales).expect("finite values");
            for (i, row) in flat.chunks_exact(case.dim).enumerate() {
                let max = row.iter().fold(0.0f64, |m, &x| m.max(f64::from(x).abs()));
                let scale = f64::from(scales[i]);
                // The largest power of two not above the largest magnitude.
                prop_assert!(max == 0.0 && scale == 0.0 || scale <= max && max < 2.0 * scale && scale.log2().fract() == 0.0,
                    "row {} scale {} for max {} on {}", i, scale, max, k.describe());
                for (j, &x) in row.iter().enumerate() {
                    let c = codes[i * case.dim + j];
                    let expected = if max == 0.0 { 0 } else { half::f16::from_f64(f64::from(x) / scale).to_bits() };
                    prop_assert_eq!(c, expected, "row {} value {} on {}", i, x, k.describe());
                }
            }
            match &first {
                Some((c, s)) => {
                    prop_assert!(*c == codes, "codes differ on {}", k.describe());
                    prop_assert!(s.iter().zip(&scales).all(|(a, b)| a.to_bits() == b.to_bits()), "scales differ on {}", k.describe());
                }
                None => first = Some((codes, scales)),
            }
        }
    }

    #[test]
    fn int8_dot_equals_the_exact_oracle_on_every_backend(case in similarity_case(), extremes in any::<bool>()) {
        // Every i8 value; with `extremes`, mostly -128 and 127, the largest products.
        let mut rng = SplitMix64::new(case.seed);
        let mut code = || {
            let x = rng.next_u64();
            if extremes && !x.is_multiple_of(4) {
                if x & 16 == 0 { -128 } else { 127 }
            } else {
                (x >> 56) as u8 as i8
            }
        };
        let query: Vec<i8> = (0..case.dim).map(|_| code()).collect();
        let flat: Vec<i8> = (0..case.dim * case.rows).map(|_| code()).collect();
        let view = Int8EmbeddingsView::new(&flat, case.dim).expect("whole rows");
        for k in common::every_kernels() {
            let mut out = vec![i32::MIN; case.rows];
            k.dot_i8(&query, view, &mut out).expect("valid shapes");
            for (i, row) in flat.chunks_exact(case.dim).enumerate() {
                prop_assert_eq!(
                    i64::from(out[i]),
                    oracle::dot_i8(&query, row),
                    "row {} on {} ({:?})", i, k.describe(), case
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Spreading activation

#[derive(Debug, Clone, Copy)]
enum GraphKind {
    /// No edges at all.
    Empty,
    /// Uniform random edges: self-loops, duplicates and isolated nodes arise naturally.
    Random,
    /// A node with thousands of out-edges and one with hundreds of in-edges, plus random edges.
    Hubs,
    /// 0 → 1 → 2 → …
    Chain,
}

#[derive(Debug, Clone, Copy)]
enum Weights {
    Positive,
    Signed,
    /// Signed, with ±MAX_ABS_WEIGHT and tiny magnitudes mixed in.
    Extreme,
}

#[derive(Debug, Clone, Copy)]
enum Threshold {
    Zero,
    Random,
    /// Exactly equal to one of the initial activations.
    AtAnActivation,
}

#[derive(Debug, Clone, Copy)]
struct SpreadCase {
    nodes: usize,
    kind: GraphKind,
    degree: u64,
    weights: Weights,
    threshold: Threshold,
    hops: u32,
    decay: f32,
    seed: u64,
}

struct SpreadInput {
    graph: Csr,
    initial: Vec<f32>,
    params: SpreadParams,
}

impl SpreadCase {
    fn generate(&self) -> SpreadInput {
        let mut rng = SplitMix64::new(self.seed);
        let n = self.nodes as u64;
        let mut edges = Vec::new();
        let weight = |rng: &mut SplitMix64| -> f32 {
            if rng.chance(0.05) {
                return 0.0;
            }
            match self.weights {
                Weights::Positive => rng.next_f32_unit(),
                Weights::Signed => 2.0 * rng.next_f32_signed(),
                Weights::Extreme => match rng.below(4) {
                    0 => MAX_ABS_WEIGHT * rng.next_f32_signed().signum(),
                    1 => 1e-30 * rng.next_f32_signed(),
                    _ => 2.0 * rng.next_f32_signed(),
                },
            }
        };
        if n > 0 {
            match self.kind {
                GraphKind::Empty => {}
                GraphKind::Chain => edges.extend((1..n).map(|v| ((v - 1) as u32, v as u32, 0.0))),
                GraphKind::Random | GraphKind::Hubs => {
                    for _ in 0..n * self.degree {
                        edges.push((rng.below(n) as u32, rng.below(n) as u32, 0.0));
                    }
                    if let GraphKind::Hubs = self.kind {
                        for _ in 0..1000 + rng.below(3000) {
                            edges.push((0, rng.below(n) as u32, 0.0));
                        }
                        let into = (n - 1) as u32;
                        for _ in 0..200 + rng.below(800) {
                            edges.push((rng.below(n) as u32, into, 0.0));
                        }
                    }
                    // Make sure self-loops and duplicates are there, not just likely.
                    let u = rng.below(n) as u32;
                    edges.push((u, u, 0.0));
                    if let Some(&(s, t, _)) = edges.first() {
                        edges.push((s, t, 0.0));
                    }
                }
            }
        }
        for edge in &mut edges {
            edge.2 = weight(&mut rng);
        }
        let graph = Csr::from_edges(self.nodes, &edges).expect("generated edges are valid");
        let initial: Vec<f32> = (0..self.nodes)
            .map(|_| match rng.below(10) {
                0..=4 => 0.0,
                5 => 1.0,
                _ => rng.next_f32_unit(),
            })
            .collect();
        let threshold = match self.threshold {
            Threshold::Zero => 0.0,
            Threshold::Random => 0.8 * rng.next_f32_unit(),
            Threshold::AtAnActivation => {
                let firing: Vec<f32> = initial.iter().copied().filter(|&a| a > 0.0).collect();
                if firing.is_empty() {
                    0.5
                } else {
                    firing[rng.below(firing.len() as u64) as usize]
                }
            }
        };
        let params = SpreadParams::new(self.hops, self.decay, threshold).expect("valid parameters");
        SpreadInput {
            graph,
            initial,
            params,
        }
    }
}

fn spread_case() -> impl Strategy<Value = SpreadCase> {
    (
        prop_oneof![1 => Just(0usize), 1 => Just(1usize), 6 => 2usize..60, 2 => 60usize..400],
        prop_oneof![1 => Just(GraphKind::Empty), 5 => Just(GraphKind::Random), 1 => Just(GraphKind::Hubs), 1 => Just(GraphKind::Chain)],
        0u64..8,
        prop_oneof![Just(Weights::Positive), Just(Weights::Signed), Just(Weights::Extreme)],
        prop_oneof![Just(Threshold::Zero), Just(Threshold::Random), Just(Threshold::AtAnActivation)],
        prop_oneof![1 => Just(0u32), 6 => 1u32..4, 2 => 4u32..7],
        prop_oneof![Just(1.0f32), 0.001f32..=1.0],
        any::<u64>(),
    )
        .prop_map(|(nodes, kind, degree, weights, threshold, hops, decay, seed)| SpreadCase {
            nodes, kind, degree, weights, threshold, hops, decay, seed,
        })
}

// ---------------------------------------------------------------------------------------------
// Decay

#[derive(Debug, Clone, Copy)]
struct DecayCase {
    len: usize,
    curve: DecayCurve,
    now: i64,
    seed: u64,
}

impl DecayCase {
    /// Strengths (mostly in [0, 1], some exactly 0 or 1, a few NaN) and last-access times:
    /// ages of 0, seconds, years and up to the largest (2⁶⁴ − 1 s), future times and i64 extremes.
    fn generate(&self) -> (Vec<f32>, Vec<i64>) {
        let mut rng = SplitMix64::new(self.seed);
        let strengths = (0..self.len)
            .map(|_| match rng.below(40) {
                0 => f32::NAN,
                1 | 2 => 0.0,
                3..=5 => 1.0,
                _ => rng.next_f32_unit(),
            })
            .collect();
        let last = (0..self.len)
            .map(|_| match rng.below(9) {
                0 => self.now,
                1 => self.now.saturating_sub(rng.below(100) as i64),
                2 => self.now.saturating_sub(rng.below(10_000_000_000) as i64),
                3 => self.now.saturating_sub((rng.next_u64() >> 1) as i64),
                4 => self.now.saturating_add(1 + rng.below(1_000_000) as i64),
                5 => i64::MIN,
                6 => i64::MAX,
                _ => rng.next_u64() as i64,
            })
            .collect();
        (strengths, last)
    }
}

fn seconds() -> impl Strategy<Value = f64> {
    prop_oneof![
        3 => (1.0f64..7.0).prop_map(|e| 10f64.powf(e)), // a second to months
        1 => (-300.0f64..300.0).prop_map(|e| 10f64.powf(e)), // tiny to huge
        1 => Just(f64::MIN_POSITIVE),
        1 => Just(f64::MAX),
    ]
}

fn decay_case() -> impl Strategy<Value = DecayCase> {
    let curve = prop_oneof![
        seconds().prop_map(|h| DecayCurve::exponential(h).expect("positive and finite")),
        (seconds(), (-3.0f64..3.0).prop_map(|e| 10f64.powf(e)))
            .prop_map(|(s, x)| DecayCurve::power_law(s, x).expect("positive and finite")),
    ];
    (
        prop_oneof![1 => Just(0usize), 1 => Just(1usize), 6 => 2usize..100, 1 => 100usize..2000],
        curve,
        prop_oneof![Just(0i64), Just(1_790_000_000i64), any::<i64>()],
        any::<u64>(),
    )
        .prop_map(|(len, curve, now, seed)| DecayCase {
            len,
            curve,
            now,
            seed,
        })
}

proptest! {
    #![proptest_config(common::proptest_config(regression_file!("differential")))]

    #[test]
    fn spread_matches_the_oracle_and_backends_agree_bit_for_bit(case in spread_case()) {
        let input = case.generate();
        let n = input.graph.nodes();
        let mut workspace = SpreadWorkspace::new();
        let results: Vec<_> = common::every_kernels().into_iter().map(|k| {
            let mut out = vec![f32::NAN; n];
            let outcome = k.spread(&input.graph, &input.initial, &input.params, &mut out, &mut workspace)
                .expect("valid input");
            (k, out, outcome)
        }).collect();

        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        let (_, reference, reference_outcome) = &results[0];
        for (k, out, outcome) in &results {
            prop_assert!(out.iter().all(|a| (0.0..=1.0).contains(a)), "{}: activation outside [0, 1]", k.backend());
            prop_assert_eq!(bits(out), bits(reference), "{} differs from the reference", k.backend());
            prop_assert_eq!(outcome, reference_outcome);
        }

        let g = &input.graph;
        let p = &input.params;
        if let Some(truth) = oracle::spread(g.offsets(), g.targets(), g.weights(), &input.initial, p.hops(), p.attenuation(), p.threshold()) {
            for (v, (&got, (&want, &bound))) in reference.iter().zip(truth.activations.iter().zip(&truth.bounds)).enumerate() {
                prop_assert!((f64::from(got) - want).abs() <= bound,
                    "node {v}: {got} vs oracle {want} (bound {bound}) in {case:?}");
            }
            if let Some(edges) = truth.edges_traversed {
                prop_assert_eq!(reference_outcome.edges_traversed, edges);
            }
            if let Some(active) = truth.active_nodes {
                prop_assert_eq!(reference_outcome.active_nodes, active);
            }
        }
    }

    #[test]
    fn sparse_spreading_equals_dense_spreading_bit_for_bit(case in spread_case(), order_seed in any::<u64>()) {
        let input = case.generate();
        let n = input.graph.nodes();
        // The nonzero initial activations as seeds, in a shuffled order.
        let mut seeds: Vec<Seed> = input.initial.iter().enumerate()
            .filter(|(_, a)| **a > 0.0)
            .map(|(v, a)| Seed::new(v as u32, *a))
            .collect();
        let mut rng = SplitMix64::new(order_seed);
        for i in (1..seeds.len()).rev() {
            seeds.swap(i, rng.below(i as u64 + 1) as usize);
        }
        // Half the cases start from at most three seeds, as a recall does, so that hops run
        // sparse until the frontier grows; the others start from every nonzero activation.
        if rng.chance(0.5) {
            seeds.truncate(3);
        }
        let mut initial = vec![0.0f32; n];
        for s in &seeds {
            initial[s.node as usize] = s.activation;
        }
        // Seeds of activation 0 are allowed and change nothing.
        if n > 0 && !seeds.iter().any(|s| s.node == 0) {
            seeds.push(Seed::new(0, 0.0));
        }
        let mut dense = vec![0.0f32; n];
        let reference = Kernels::rust()
            .spread(&input.graph, &initial, &input.params, &mut dense, &mut SpreadWorkspace::new())
            .expect("valid input");
        // One workspace for every backend and for a second, smaller graph in between: it must
        // come back all zero after every call.
        let mut workspace = SpreadWorkspace::new();
        let small = Csr::from_edges(3, &[(0, 1, 1.0), (1, 2, 1.0)]).expect("valid");
        // The same graph with its in-edges: hops whose frontier holds half the slots'
        // worth of edges pull instead of pushing.
        let both = BidirectionalGraph::new(input.graph.clone());
        for k in common::every_kernels() {
            for graph in [SeedGraph::from(&input.graph), SeedGraph::from(&both), SeedGraph::from(&input.graph)] {
                let sparse = k.spread_from_seeds(graph, &seeds, &input.params, &mut workspace).expect("valid seeds");
                prop_assert_eq!(sparse.outcome(), reference, "{}", k.describe());
                prop_assert!(sparse.nodes().windows(2).all(|w| w[0] < w[1]), "nodes not ascending");
                let mut expected: Vec<(u32, u32)> = dense.iter().enumerate()
                    .filter(|(_, a)| **a > 0.0).map(|(v, a)| (v as u32, a.to_bits())).collect();
                expected.sort_unstable();
                let got: Vec<(u32, u32)> = sparse.iter().map(|(v, a)| (v, a.to_bits())).collect();
                prop_assert_eq!(got, expected, "{} in {:?}", k.describe(), case);
                let tiny = k.spread_from_seeds(&small, &[Seed::new(0, 1.0)], &input.params, &mut workspace).expect("valid");
                prop_assert!(tiny.activations().iter().all(|a| *a > 0.0 && *a <= 1.0));
            }
        }
    }

    #[test]
    fn pull_spreading_equals_push_spreading_bit_for_bit(case in spread_case(), sign_seed in any::<u64>()) {
        let mut input = case.generate();
        // -0.0 is a valid initial activation, and weights of ±0.0 are valid edges: the pull
        // pass adds a ±0 term where the push pass adds nothing, which must change no bit.
        let mut rng = SplitMix64::new(sign_seed);
        for a in &mut input.initial {
            if *a == 0.0 && rng.chance(0.5) {
                *a = -0.0;
            }
        }
        let (offsets, targets, mut weights) = input.graph.clone().into_parts();
        for w in &mut weights {
            if *w == 0.0 && rng.chance(0.5) {
                *w = -0.0;
            }
        }
        let graph = Csr::new(offsets, targets, weights).expect("the same graph, signed zeros");
        let pull = PullGraph::new(&graph);
        let n = graph.nodes();
        let mut workspace = SpreadWorkspace::new();
        let mut push = vec![f32::NAN; n];
        let reference = Kernels::rust()
            .spread(&graph, &input.initial, &input.params, &mut push, &mut workspace)
            .expect("valid input");
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        for k in common::every_kernels() {
            let mut out = vec![f32::NAN; n];
            let outcome = k.spread_pull(&pull, &input.initial, &input.params, &mut out, &mut workspace)
                .expect("valid input");
            prop_assert_eq!(outcome, reference, "{}", k.describe());
            prop_assert_eq!(bits(&out), bits(&push), "{} in {:?}", k.describe(), case);
        }
    }

    #[test]
    fn retention_matches_the_oracle_on_every_backend(case in decay_case()) {
        let (strengths, last) = case.generate();
        let exponential = case.curve.half_life_secs();
        let power = case.curve.power_law_params();
        let mut first: Option<Vec<u32>> = None;
        for k in common::every_kernels() {
            let mut out = vec![f32::NAN; case.len];
            k.retention(&strengths, &last, case.now, &case.curve, &mut out).expect("valid lengths");
            // The exponential runs the same operations on every backend: identical bits.
            if exponential.is_some() {
                let bits: Vec<u32> = out.iter().map(|x| x.to_bits()).collect();
                match &first {
                    None => first = Some(bits),
                    Some(reference) => prop_assert_eq!(&bits, reference, "{} differs", k.describe()),
                }
            }
            for i in 0..case.len {
                let expected = oracle::retention(strengths[i], oracle::age_secs(case.now, last[i]), exponential, power);
                prop_assert!(expected.admits(out[i], false),
                    "{} memory {i}: strength {} age {} gives {} but the oracle expects {expected:?} ({})",
                    k.backend(), strengths[i], oracle::age_secs(case.now, last[i]), out[i], case.curve);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The figures quoted in the crate docs

/// A seeded sweep that prints, for every backend and CPU level that can run here, the largest
/// disagreement with the Rust baseline as a fraction of each bound, and fails if any exceeds
/// it. The crate docs quote its output; reproduce with
/// `cargo test -p engram-kernels --release --features zig-kernels --test differential measured -- --nocapture`.
#[test]
fn measured_disagreement_with_the_reference() {
    let reference = Kernels::with_level(Backend::Rust, engram_kernels::CpuLevel::Baseline)
        .expect("always available");
    for subject in common::every_kernels() {
        let mut rng = SplitMix64::new(0x5eed_2026);
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
            reference.dot(&query, bare, &mut r).expect("valid");
            subject.dot(&query, bare, &mut z).expect("valid");
            for (i, row) in flat.chunks_exact(dim).enumerate() {
                let abs: f64 = query
                    .iter()
                    .zip(row)
                    .map(|(a, b)| (f64::from(*a) * f64::from(*b)).abs())
                    .sum();
                let bound = 2.0 * (dim as f64 + 2.0) * EPS * abs;
                dot_worst = dot_worst.max((f64::from(r[i]) - f64::from(z[i])).abs() / bound);
            }
            for view in [matrix.view(), bare] {
                reference.cosine(&query, view, &mut r).expect("valid");
                subject.cosine(&query, view, &mut z).expect("valid");
                for i in 0..rows {
                    let d = (f64::from(r[i]) - f64::from(z[i])).abs();
                    cos_worst = cos_worst.max(d / ((3 * dim + 16) as f64 * EPS));
                    cos_abs_worst = cos_abs_worst.max(d / EPS);
                }
            }
            compared += 3 * rows;
        }
        let n = 100_000;
        let strengths: Vec<f32> = (0..n).map(|_| rng.next_f32_unit()).collect();
        let last: Vec<i64> = (0..n).map(|_| rng.below(400_000_000) as i64).collect();
        for curve in [
            DecayCurve::exponential(3600.0),
            DecayCurve::exponential(604_800.0),
            DecayCurve::power_law(60.0, 0.5),
            DecayCurve::power_law(86_400.0, 1.7),
        ] {
            let curve = curve.expect("valid curve");
            let (mut r, mut z) = (vec![0.0; n], vec![0.0; n]);
            reference
                .retention(&strengths, &last, 400_000_000, &curve, &mut r)
                .expect("valid");
            subject
                .retention(&strengths, &last, 400_000_000, &curve, &mut z)
                .expect("valid");
            for i in (0..n).filter(|&i| r[i] != 0.0) {
                decay_worst = decay_worst
                    .max((f64::from(r[i]) - f64::from(z[i])).abs() / (f64::from(r[i]).abs() * EPS));
            }
            compared += n;
        }
        println!(
            "{} vs rust baseline, {compared} outputs (ε = 2^-24):",
            subject.describe()
        );
        println!("  dot:    worst = {dot_worst:.4} of the bound 2·(D+2)·ε·Σ|q·m|");
        println!(
            "  cosine: worst = {cos_worst:.4} of the bound (3D+16)·ε, i.e. {cos_abs_worst:.1} ε absolute"
        );
        println!("  decay:  worst = {decay_worst:.2} ε relative (bound: 2 ε)");
        assert!(
            dot_worst <= 1.0 && cos_worst <= 1.0 && decay_worst <= 2.0,
            "{}",
            subject.describe()
        );
    }
}

/// Large N, which the property cases keep in the hundreds to stay fast: 50,000 rows of an odd
/// dimension, against the oracle on every backend, with both norm modes.
#[test]
fn fifty_thousand_rows_match_the_oracle() {
    let (rows, dim) = (50_000, 19);
    let mut rng = SplitMix64::new(0x1a7e_0050);
    let query: Vec<f32> = (0..dim).map(|_| rng.next_f32_signed()).collect();
    let flat: Vec<f32> = (0..rows * dim).map(|_| rng.next_f32_signed()).collect();
    let matrix = EmbeddingMatrix::from_flat(flat.clone(), dim).expect("whole rows");
    let bare = EmbeddingsView::new(&flat, dim).expect("whole rows");
    for k in common::every_kernels() {
        for (view, precomputed) in [(matrix.view(), true), (bare, false)] {
            let mut out = vec![f32::NAN; rows];
            k.cosine(&query, view, &mut out).expect("valid shapes");
            for (i, row) in flat.chunks_exact(dim).enumerate() {
                let expected = oracle::cosine(&query, row, precomputed);
                assert!(
                    expected.admits(out[i], true),
                    "{} row {i}: {} vs {expected:?}",
                    k.backend(),
                    out[i]
                );
            }
        }
        let mut out = vec![f32::NAN; rows];
        k.dot(&query, bare, &mut out).expect("valid shapes");
        for (i, row) in flat.chunks_exact(dim).enumerate() {
            assert!(
                oracle::dot(&query, row).admits(out[i], false),
                "{} row {i}",
                k.backend()
            );
        }
    }
}
