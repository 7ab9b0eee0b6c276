//! Fuzz targets, one per public entry point: arbitrary bytes decoded into arguments, most of
//! them invalid. Nothing may panic or crash. An `Err` leaves the output untouched. An `Ok`
//! output keeps its invariants (cosine NaN or in [-1, 1], activations in [0, 1], ...), and
//! every backend accepts or rejects the same inputs.
//!
//! These are proptest properties over byte strings rather than cargo-fuzz targets, because
//! cargo-fuzz needs a nightly toolchain for its instrumentation and this project builds with
//! stable Rust only. The run is bounded by `FUZZ_CASES` (default 2,000 per target, about a
//! second each in debug builds). For a long run, a failure is shrunk and saved in
//! `tests/regressions/fuzz.txt`:
//!
//! ```sh
//! FUZZ_CASES=5000000 cargo test -p engram-kernels --release --features zig-kernels --test fuzz
//! ```

mod common;

use engram_kernels::{
    BackendChoice, Csr, DecayCurve, EmbeddingMatrix, EmbeddingsView, F16EmbeddingsView,
    Int8EmbeddingsView, Seed, SpreadParams, SpreadWorkspace, f16_bits_to_f32,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence};

const UNTOUCHED: f32 = -777.0;

fn fuzz_config() -> Config {
    Config {
        cases: std::env::var("FUZZ_CASES")
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(2_000),
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(regression_file!(
            "fuzz"
        )))),
        ..Config::default()
    }
}

/// Reads arguments out of fuzz bytes; past the end it yields zeros.
struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }
    fn u64(&mut self) -> u64 {
        u64::from(self.u32()) | (u64::from(self.u32()) << 32)
    }
    /// Any f32 bit pattern half the time (NaNs, infinities, subnormals), else a tame value.
    fn f32(&mut self) -> f32 {
        if self.u8() & 1 == 0 {
            f32::from_bits(self.u32())
        } else {
            f32::from(self.u8()) / 255.0
        }
    }
    fn f64(&mut self) -> f64 {
        if self.u8() & 1 == 0 {
            f64::from_bits(self.u64())
        } else {
            f64::from(self.u32()) / 1e3
        }
    }
    /// A length near `expected`: usually right, sometimes off by a little or a lot.
    fn len_near(&mut self, expected: usize) -> usize {
        match self.u8() % 8 {
            0 => expected + 1,
            1 => expected.saturating_sub(1),
            2 => usize::from(self.u8()),
            _ => expected,
        }
    }
    fn vec_f32(&mut self, len: usize) -> Vec<f32> {
        (0..len).map(|_| self.f32()).collect()
    }
    fn vec_f32_near(&mut self, expected: usize) -> Vec<f32> {
        let len = self.len_near(expected);
        self.vec_f32(len)
    }
}

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..2048)
}

proptest! {
    #![proptest_config(fuzz_config())]

    #[test]
    fn fuzz_similarity(data in bytes()) {
        let mut b = Bytes(&data);
        let dim = usize::from(b.u8() % 80);
        let rows = usize::from(b.u8() % 12);
        let flat_len = if dim == 0 { usize::from(b.u8() % 5) } else { b.len_near(rows * dim) };
        let flat = b.vec_f32(flat_len);
        let query = b.vec_f32_near(dim);
        let given_norms = b.vec_f32_near(rows);
        let out_len = b.len_near(rows);
        let norms_kind = b.u8() % 3;

        let view = match EmbeddingsView::new(&flat, dim) {
            Ok(v) => v,
            Err(_) => { prop_assert!(dim == 0 || flat.len() % dim != 0); return Ok(()); }
        };
        let matrix = EmbeddingMatrix::from_flat(flat.clone(), dim).expect("the view was valid");
        let view = match norms_kind {
            0 => view,
            1 => matrix.view(),
            _ => match view.with_norms(&given_norms) { Ok(v) => v, Err(_) => return Ok(()) },
        };
        let mut verdicts = Vec::new();
        for k in common::every_kernels() {
            let mut out = vec![UNTOUCHED; out_len];
            let dot = k.dot(&query, view, &mut out);
            prop_assert!(dot.is_ok() || out.iter().all(|&x| x == UNTOUCHED));
            let mut out = vec![UNTOUCHED; out_len];
            let cosine = k.cosine(&query, view, &mut out);
            match &cosine {
                Ok(()) => prop_assert!(out.iter().all(|s| s.is_nan() || (-1.0..=1.0).contains(s)), "cosine outside [-1, 1]: {out:?}"),
                Err(_) => prop_assert!(out.iter().all(|&x| x == UNTOUCHED)),
            }
            prop_assert_eq!(dot.is_ok(), cosine.is_ok());
            verdicts.push(cosine.map_err(|e| e.to_string()));
        }
        prop_assert!(verdicts.windows(2).all(|w| w[0] == w[1]), "backends disagree on validity: {verdicts:?}");
    }

    #[test]
    fn fuzz_int8_similarity(data in bytes()) {
        let mut b = Bytes(&data);
        let dim = usize::from(b.u8() % 140);
        let rows = usize::from(b.u8() % 12);
        let flat_len = if dim == 0 { usize::from(b.u8() % 5) } else { b.len_near(rows * dim) };
        let flat: Vec<i8> = (0..flat_len).map(|_| b.u8() as i8).collect();
        let query_len = b.len_near(dim);
        let query: Vec<i8> = (0..query_len).map(|_| b.u8() as i8).collect();
        let out_len = b.len_near(rows);

        let view = match Int8EmbeddingsView::new(&flat, dim) {
            Ok(v) => v,
            Err(_) => { prop_assert!(dim == 0 || !flat.len().is_multiple_of(dim)); return Ok(()); }
        };
        let mut results = Vec::new();
        for k in common::every_kernels() {
            let mut out = vec![i32::MIN; out_len];
            match k.dot_i8(&query, view, &mut out) {
                Ok(()) => results.push(Ok(out)),
                Err(e) => {
                    prop_assert!(out.iter().all(|&x| x == i32::MIN));
                    results.push(Err(e.to_string()));
                }
            }
        }
        // Exact integers: every backend gives the same answer, or the same error.
        prop_assert!(results.windows(2).all(|w| w[0] == w[1]), "backends disagree: {results:?}");
    }

    #[test]
    fn fuzz_int8_quantization(data in bytes()) {
        let mut b = Bytes(&data);
        let dim = usize::from(b.u8() % 80);
        let rows = usize::from(b.u8() % 12);
        let flat_len = if dim == 0 { usize::from(b.u8() % 5) } else { b.len_near(rows * dim) };
        let flat = b.vec_f32(flat_len);
        let (codes_len, scales_len) = (b.len_near(flat_len), b.len_near(rows));
        let Ok(view) = EmbeddingsView::new(&flat, dim) else { return Ok(()) };
        let mut results = Vec::new();
        for k in common::every_kernels() {
            let (mut codes, mut scales) = (vec![99i8; codes_len], vec![UNTOUCHED; scales_len]);
            match k.quantize_i8(view, &mut codes, &mut scales) {
                Ok(()) => {
                    prop_assert!(codes.iter().all(|&c| c != i8::MIN));
                    prop_assert!(scales.iter().all(|s| s.is_finite() && *s >= 0.0));
                    let bits: Vec<u32> = scales.iter().map(|s| s.to_bits()).collect();
                    results.push(Ok((codes, bits)));
                }
                Err(e) => {
                    prop_assert!(codes.iter().all(|&c| c == 99) && scales.iter().all(|&s| s == UNTOUCHED));
                    results.push(Err(e.to_string()));
                }
            }
        }
        prop_assert!(results.windows(2).all(|w| w[0] == w[1]), "backends disagree: {results:?}");
    }

    #[test]
    fn fuzz_f16_similarity(data in bytes()) {
        let mut b = Bytes(&data);
        let dim = usize::from(b.u8() % 80);
        let rows = usize::from(b.u8() % 12);
        let flat_len = if dim == 0 { usize::from(b.u8() % 5) } else { b.len_near(rows * dim) };
        let flat: Vec<u16> = (0..flat_len).map(|_| u16::from_le_bytes([b.u8(), b.u8()])).collect();
        let query = b.vec_f32_near(dim);
        let out_len = b.len_near(rows);
        let view = match F16EmbeddingsView::new(&flat, dim) {
            Ok(v) => v,
            Err(_) => { prop_assert!(dim == 0 || !flat.len().is_multiple_of(dim)); return Ok(()); }
        };
        let widened: Vec<f32> = flat.iter().map(|&c| f16_bits_to_f32(c)).collect();
        let wide_view = EmbeddingsView::new(&widened, dim).expect("the same shape");
        let mut verdicts = Vec::new();
        for k in common::every_kernels() {
            let (mut out, mut wide) = (vec![UNTOUCHED; out_len], vec![UNTOUCHED; out_len]);
            let result = k.dot_f16(&query, view, &mut out);
            let wide_result = k.dot(&query, wide_view, &mut wide);
            prop_assert_eq!(result.is_ok(), wide_result.is_ok());
            // The same bits as the f32 dot over the widened rows, on every backend and level.
            prop_assert!(out.iter().zip(&wide).all(|(a, b)| a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())),
                "{}: {out:?} against {wide:?}", k.describe());
            verdicts.push(result.map_err(|e| e.to_string()));
        }
        prop_assert!(verdicts.windows(2).all(|w| w[0] == w[1]), "backends disagree on validity: {verdicts:?}");
    }

    #[test]
    fn fuzz_f16_quantization(data in bytes()) {
        let mut b = Bytes(&data);
        let dim = usize::from(b.u8() % 80);
        let rows = usize::from(b.u8() % 12);
        let flat_len = if dim == 0 { usize::from(b.u8() % 5) } else { b.len_near(rows * dim) };
        let flat = b.vec_f32(flat_len);
        let (codes_len, scales_len) = (b.len_near(flat_len), b.len_near(rows));
        let Ok(view) = EmbeddingsView::new(&flat, dim) else { return Ok(()) };
        let mut results = Vec::new();
        for k in common::every_kernels() {
            let (mut codes, mut scales) = (vec![99u16; codes_len], vec![UNTOUCHED; scales_len]);
            match k.quantize_f16(view, &mut codes, &mut scales) {
                Ok(()) => {
                    // Codes below 2 in magnitude (never ∞ or NaN); scales 0 or powers of two.
                    prop_assert!(codes.iter().all(|&c| c & 0x7fff <= 0x4000));
                    prop_assert!(scales.iter().all(|s| *s == 0.0 || (s.is_finite() && *s > 0.0 && (s.to_bits() & 0x007f_ffff == 0 || s.to_bits().count_ones() == 1))));
                    let bits: Vec<u32> = scales.iter().map(|s| s.to_bits()).collect();
                    results.push(Ok((codes, bits)));
                }
                Err(e) => {
                    prop_assert!(codes.iter().all(|&c| c == 99) && scales.iter().all(|&s| s == UNTOUCHED));
                    results.push(Err(e.to_string()));
                }
            }
        }
        prop_assert!(results.windows(2).all(|w| w[0] == w[1]), "backends disagree: {results:?}");
    }

    #[test]
    fn fuzz_spread(data in bytes()) {
        let mut b = Bytes(&data);
        let nodes = usize::from(b.u8() % 40);
        let graph = if b.u8() % 4 == 0 {
            // Raw CSR arrays: mostly malformed.
            let offsets: Vec<u64> = (0..b.len_near(nodes + 1)).map(|_| u64::from(b.u8() % 64)).collect();
            let edges = usize::from(b.u8() % 64);
            let targets: Vec<u32> = (0..edges).map(|_| u32::from(b.u8() % 48)).collect();
            let weights = b.vec_f32_near(edges);
            Csr::new(offsets, targets, weights)
        } else {
            // Valid edges unless this case corrupts one endpoint or one weight.
            let corrupt = b.u8() % 4 == 0;
            let span = nodes.max(1) as u32;
            let mut edges: Vec<(u32, u32, f32)> = (0..usize::from(b.u8()))
                .map(|_| (b.u32() % span, b.u32() % span, b.f32().clamp(-4.0, 4.0)))
                .collect();
            if corrupt && !edges.is_empty() {
                let i = usize::from(b.u8()) % edges.len();
                match b.u8() % 3 {
                    0 => edges[i].0 = b.u32(),
                    1 => edges[i].1 = b.u32(),
                    _ => edges[i].2 = b.f32(),
                }
            }
            Csr::from_edges(nodes, &edges)
        };
        let Ok(graph) = graph else { return Ok(()) };
        let n = graph.nodes();
        let mut initial: Vec<f32> = (0..b.len_near(n)).map(|_| f32::from(b.u8()) / 255.0).collect();
        if b.u8() % 4 == 0 && !initial.is_empty() {
            let i = usize::from(b.u8()) % initial.len();
            initial[i] = b.f32();
        }
        let decay = if b.u8() % 8 == 0 { b.f32() } else { f32::from(b.u8()) / 255.0 + 1.0 / 256.0 };
        let threshold = if b.u8() % 2 == 0 { b.f32() } else { 0.0 };
        let params = SpreadParams::new(u32::from(b.u8() % 6), decay, threshold);
        let Ok(params) = params else { return Ok(()) };
        let out_len = b.len_near(n);
        let mut verdicts = Vec::new();
        for k in common::every_kernels() {
            let mut out = vec![UNTOUCHED; out_len];
            let result = k.spread(&graph, &initial, &params, &mut out, &mut SpreadWorkspace::new());
            match &result {
                Ok(outcome) => {
                    prop_assert!(out.iter().all(|a| (0.0..=1.0).contains(a)), "activation outside [0, 1]: {out:?}");
                    prop_assert!(outcome.active_nodes <= n);
                }
                Err(_) => prop_assert!(out.iter().all(|&x| x == UNTOUCHED)),
            }
            verdicts.push((result.map_err(|e| e.to_string()), out));
        }
        prop_assert!(verdicts.windows(2).all(|w| w[0].0 == w[1].0), "backends disagree: {:?}", verdicts.iter().map(|v| &v.0).collect::<Vec<_>>());

        // The same graph from seeds: mostly valid, sometimes out of range, repeated or with a
        // bad activation.
        let seeds: Vec<Seed> = (0..usize::from(b.u8() % 8))
            .map(|_| Seed::new(if b.u8() % 8 == 0 { b.u32() } else { b.u32() % (n.max(1) as u32) }, if b.u8() % 8 == 0 { b.f32() } else { f32::from(b.u8()) / 255.0 }))
            .collect();
        let mut sparse_verdicts = Vec::new();
        let mut workspace = SpreadWorkspace::new();
        for k in common::every_kernels() {
            match k.spread_from_seeds(&graph, &seeds, &params, &mut workspace) {
                Ok(result) => {
                    prop_assert!(result.activations().iter().all(|a| *a > 0.0 && *a <= 1.0));
                    prop_assert!(result.nodes().windows(2).all(|w| w[0] < w[1]));
                    let bits: Vec<(u32, u32)> = result.iter().map(|(v, a)| (v, a.to_bits())).collect();
                    sparse_verdicts.push(Ok(bits));
                }
                // Errors compare by message: a NaN inside an error is never == itself.
                Err(e) => sparse_verdicts.push(Err(e.to_string())),
            }
        }
        prop_assert!(sparse_verdicts.windows(2).all(|w| w[0] == w[1]), "backends disagree on seeds {seeds:?}: {sparse_verdicts:?}");
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        prop_assert!(verdicts.windows(2).all(|w| bits(&w[0].1) == bits(&w[1].1)), "backends give different activations");
    }

    #[test]
    fn fuzz_retention(data in bytes()) {
        let mut b = Bytes(&data);
        let len = usize::from(b.u8() % 64);
        let strengths = b.vec_f32(len);
        let last: Vec<i64> = (0..b.len_near(len)).map(|_| b.u64() as i64).collect();
        let now = b.u64() as i64;
        let curve = if b.u8() % 2 == 0 { DecayCurve::exponential(b.f64()) } else { DecayCurve::power_law(b.f64(), b.f64()) };
        let Ok(curve) = curve else { return Ok(()) };
        let out_len = b.len_near(len);
        let mut verdicts = Vec::new();
        for k in common::every_kernels() {
            let mut out = vec![UNTOUCHED; out_len];
            let result = k.retention(&strengths, &last, now, &curve, &mut out);
            match &result {
                Ok(()) => {
                    for (s, r) in strengths.iter().zip(&out) {
                        // Retention is the strength times a factor in [0, 1].
                        prop_assert!(
                            (s.is_nan() && r.is_nan()) || (s.is_infinite() && (r.is_nan() || r.is_infinite())) || r.abs() <= s.abs(),
                            "strength {s} gave retention {r} under {curve}"
                        );
                    }
                }
                Err(_) => prop_assert!(out.iter().all(|&x| x == UNTOUCHED)),
            }
            verdicts.push(result.map_err(|e| e.to_string()));
        }
        prop_assert!(verdicts.windows(2).all(|w| w[0] == w[1]), "backends disagree on validity: {verdicts:?}");
    }

    #[test]
    fn fuzz_parameters_and_backend_names(data in bytes()) {
        let mut b = Bytes(&data);
        let (decay, threshold) = (b.f32(), b.f32());
        match SpreadParams::new(b.u32(), decay, threshold) {
            Ok(p) => prop_assert!(p.attenuation() > 0.0 && p.attenuation() <= 1.0 && p.threshold() >= 0.0 && p.threshold().is_finite()),
            Err(_) => prop_assert!(!(decay > 0.0 && decay <= 1.0 && threshold >= 0.0 && threshold.is_finite())),
        }
        let (x, y) = (b.f64(), b.f64());
        let ok = |v: f64| v.is_finite() && v > 0.0;
        prop_assert_eq!(DecayCurve::exponential(x).is_ok(), ok(x));
        prop_assert_eq!(DecayCurve::power_law(x, y).is_ok(), ok(x) && ok(y));
        let text = String::from_utf8_lossy(b.0);
        if let Ok(choice) = text.parse::<BackendChoice>() {
            let t = text.trim().to_ascii_lowercase();
            prop_assert!(matches!(t.as_str(), "" | "auto" | "rust" | "zig"), "{text:?} parsed as {choice:?}");
        }
    }
}
