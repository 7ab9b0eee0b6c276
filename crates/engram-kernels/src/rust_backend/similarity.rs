//! Dot and cosine of one f32 query against every row of an [`EmbeddingsView`], and the dot
//! against every row of an [`F16EmbeddingsView`]: one generic body over the rows' element
//! type ([`Element`]), so an f16 row's dot is, bit for bit, the f32 dot of the widened row.
//!
//! One body, compiled once per CPU level: the x86-64-v3/v4 versions are the same inlined code
//! under `#[target_feature]`, so the compiler may use wider vectors. Rust never fuses or
//! reorders floating-point operations on its own, so every level gives bit-identical results
//! (a test checks it) and the reference stays one reference.

use super::{CACHE_LINE, prefetch};
use crate::cpu::Supported;
use crate::{CpuLevel, EmbeddingsView, F16EmbeddingsView};

/// What a row's values are stored as: f32, or f16 bit patterns, which widen exactly.
pub(crate) trait Element: Copy {
    /// The value as an f32 (exact).
    fn widen(self) -> f32;
}

impl Element for f32 {
    #[inline(always)]
    fn widen(self) -> f32 {
        self
    }
}

impl Element for u16 {
    #[inline(always)]
    fn widen(self) -> f32 {
        crate::f16::f16_bits_to_f32(self)
    }
}

/// How [`dot_4`] widens a chunk of a row: value by value ([`ByValue`]), or with F16C's
/// `vcvtph2ps` ([`F16c`]). Widening is exact, so the way never changes a result.
pub(crate) trait Widen<T: Element>: Copy {
    /// The chunk's values as f32.
    fn chunk(self, chunk: &[T; LANES]) -> [f32; LANES];
}

/// Widens with [`Element::widen`], which LLVM vectorizes as it can (for f32, nothing to do).
#[derive(Clone, Copy)]
pub(crate) struct ByValue;

impl<T: Element> Widen<T> for ByValue {
    #[inline(always)]
    fn chunk(self, chunk: &[T; LANES]) -> [f32; LANES] {
        chunk.map(Element::widen)
    }
}

/// Widens f16 with F16C, 8 values per instruction: 2.1x faster than [`ByValue`]'s integer
/// and float operations at x86-64-v3, 2.5x at v4 (`engram-bench --quick --only similarity`,
/// N = 100k, D = 384, on the Intel Xeon). Only code that knows the CPU has F16C can make one.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
pub(crate) struct F16c(());

#[cfg(target_arch = "x86_64")]
impl F16c {
    /// # Safety
    /// The CPU supports F16C (every x86-64-v3 CPU does), and the caller is compiled with it
    /// enabled (so that `chunk` inlines into it).
    #[inline(always)]
    pub(crate) unsafe fn new_unchecked() -> Self {
        Self(())
    }
}

#[cfg(target_arch = "x86_64")]
impl Widen<u16> for F16c {
    #[inline(always)]
    fn chunk(self, chunk: &[u16; LANES]) -> [f32; LANES] {
        use core::arch::x86_64::{__m128i, _mm_loadu_si128, _mm256_cvtph_ps, _mm256_storeu_ps};
        const _: () = assert!(LANES == 16);
        let mut out = [0.0f32; LANES];
        for half in 0..2 {
            let src = chunk[8 * half..].as_ptr().cast::<__m128i>();
            let dst = out[8 * half..].as_mut_ptr();
            // SAFETY: F16C exists (the only way to hold an `F16c`); `src` points to 8 u16
            // (16 bytes) of `chunk` and `dst` to 8 f32 of `out`, both in bounds (LANES = 16);
            // the loads and stores are unaligned ones.
            unsafe { _mm256_storeu_ps(dst, _mm256_cvtph_ps(_mm_loadu_si128(src))) };
        }
        out
    }
}

/// Independent accumulators: enough for the compiler to vectorize the loop (a single f32 sum
/// cannot be reordered, so it would not) and to hide the add latency.
const LANES: usize = 16;

/// Sum of `a[i] * b[i]` with [`LANES`] accumulators, added pairwise, then the tail in order.
#[inline(always)]
pub(crate) fn dot<T: Element>(a: &[f32], b: &[T]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    let (a_chunks, a_tail) = a.as_chunks::<LANES>();
    let (b_chunks, b_tail) = b.as_chunks::<LANES>();
    let mut acc = [0.0f32; LANES];
    for (x, y) in a_chunks.iter().zip(b_chunks) {
        for i in 0..LANES {
            acc[i] += x[i] * y[i].widen();
        }
    }
    let mut sum = pairwise_sum(acc);
    for (x, y) in a_tail.iter().zip(b_tail) {
        sum += x * y.widen();
    }
    sum
}

/// `(dot(q, row), Σ row[i]²)` in one pass over `row`.
#[inline(always)]
pub(crate) fn dot_and_squared_norm(q: &[f32], row: &[f32]) -> (f32, f32) {
    debug_assert_eq!(q.len(), row.len());
    const HALF: usize = LANES / 2;
    let (q_chunks, q_tail) = q.as_chunks::<HALF>();
    let (r_chunks, r_tail) = row.as_chunks::<HALF>();
    let mut dot = [0.0f32; LANES];
    let mut sq = [0.0f32; LANES];
    for (x, r) in q_chunks.iter().zip(r_chunks) {
        for i in 0..HALF {
            dot[i] += x[i] * r[i];
            sq[i] += r[i] * r[i];
        }
    }
    let (mut d, mut s) = (pairwise_sum(dot), pairwise_sum(sq));
    for (x, r) in q_tail.iter().zip(r_tail) {
        d += x * r;
        s += r * r;
    }
    (d, s)
}

#[inline(always)]
fn pairwise_sum<const N: usize>(mut acc: [f32; N]) -> f32 {
    let mut width = N;
    while width > 1 {
        width /= 2;
        for i in 0..width {
            acc[i] += acc[i + width];
        }
    }
    acc[0]
}

/// The cosine rule: NaN in any part gives NaN; else a zero norm gives 0; else the ratio,
/// formed in f64 (where a product of two f32 norms can neither overflow nor underflow),
/// clamped to `[-1, 1]`. A NaN ratio (∞/∞) stays NaN.
pub(crate) fn cosine_score(dot: f32, query_norm: f32, row_norm: f32) -> f32 {
    if dot.is_nan() || query_norm.is_nan() || row_norm.is_nan() {
        return f32::NAN;
    }
    if query_norm == 0.0 || row_norm == 0.0 {
        return 0.0;
    }
    let ratio = (f64::from(dot) / (f64::from(query_norm) * f64::from(row_norm))) as f32;
    ratio.clamp(-1.0, 1.0)
}

/// `out[i] = dot(query, row i)` at `level`, which this CPU supports (only detection makes a
/// `Supported`). Lengths were checked by the caller.
pub(crate) fn dot_rows(level: Supported, query: &[f32], rows: EmbeddingsView<'_>, out: &mut [f32]) {
    match level.get() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: a `Supported` level is one this CPU was found to support, so every
        // instruction the level enables exists.
        CpuLevel::X86_64V4 => unsafe { x86::dot_rows_v4(query, rows, out) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above.
        CpuLevel::X86_64V3 => unsafe { x86::dot_rows_v3(query, rows, out) },
        _ => dot_rows_body(query, rows.as_flat(), rows.dim(), ByValue, out),
    }
}

/// `out[i] = dot(query, row i widened to f32)` at `level`, which this CPU supports: the same
/// bits as [`dot_rows`] over the widened rows. Lengths were checked by the caller.
pub(crate) fn dot_f16_rows(
    level: Supported,
    query: &[f32],
    rows: F16EmbeddingsView<'_>,
    out: &mut [f32],
) {
    match level.get() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as in `dot_rows`: the level is supported by this CPU.
        CpuLevel::X86_64V4 => unsafe { x86::dot_f16_rows_v4(query, rows, out) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above.
        CpuLevel::X86_64V3 => unsafe { x86::dot_f16_rows_v3(query, rows, out) },
        _ => dot_rows_body(query, rows.as_flat(), rows.dim(), ByValue, out),
    }
}

/// `out[i] = cosine(query, row i)` at `level`, with the view's norms when it has them.
pub(crate) fn cosine_rows(
    level: Supported,
    query: &[f32],
    query_norm: f32,
    rows: EmbeddingsView<'_>,
    out: &mut [f32],
) {
    match level.get() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as in `dot_rows`: the level is supported by this CPU.
        CpuLevel::X86_64V4 => unsafe { x86::cosine_rows_v4(query, query_norm, rows, out) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above.
        CpuLevel::X86_64V3 => unsafe { x86::cosine_rows_v3(query, query_norm, rows, out) },
        _ => cosine_rows_body(query, query_norm, rows, out),
    }
}

/// Rows handled together: four rows read side by side keep four memory streams in flight
/// (one stream alone reached about half the read bandwidth), and each query chunk is loaded
/// once for the four.
const ROWS_AT_ONCE: usize = 4;

/// [`dot`] of `query` with [`ROWS_AT_ONCE`] rows at once: each row's sum is accumulated
/// exactly as `dot` does it (same lanes, same order), so the results are bit-for-bit `dot`'s.
/// While reading chunk `c` of the rows (four cache lines, one per row), it prefetches four
/// lines of `next` (the rows a later call will read; empty near the end) in address order:
/// lines 4c to 4c + 3, so that the group after this one is asked for as one sequential
/// stream, the whole of it when the dimension is a multiple of 16. Asking for chunk `c` of
/// each next row instead (four streams) measured 1.07-1.22x the time on the AMD Zen 5 at
/// N = 100k and 500k (D = 384 and 768), the same at N = 1M, D = 384 (three runs of a scratch
/// A/B of `Kernels::cosine`).
#[inline(always)]
fn dot_4<T: Element>(
    query: &[f32],
    rows: [&[T]; ROWS_AT_ONCE],
    next: &[T],
    widen: impl Widen<T>,
) -> [f32; ROWS_AT_ONCE] {
    // One prefetch per cache line of the chunks read (for f16 rows, half a line per chunk:
    // the prefetches then run a group further ahead, which is harmless).
    let line = (CACHE_LINE / size_of::<T>()).max(1);
    let (q_chunks, q_tail) = query.as_chunks::<LANES>();
    let split = rows.map(|row| row.as_chunks::<LANES>());
    let mut acc = [[0.0f32; LANES]; ROWS_AT_ONCE];
    for (c, q) in q_chunks.iter().enumerate() {
        for r in 0..ROWS_AT_ONCE {
            if let Some(x) = next.get((c * ROWS_AT_ONCE + r) * line) {
                prefetch(x);
            }
        }
        for (acc, (chunks, _)) in acc.iter_mut().zip(&split) {
            let r = widen.chunk(&chunks[c]);
            for i in 0..LANES {
                acc[i] += q[i] * r[i];
            }
        }
    }
    let mut sums = acc.map(pairwise_sum);
    for (sum, (_, tail)) in sums.iter_mut().zip(&split) {
        for (x, y) in q_tail.iter().zip(*tail) {
            *sum += x * y.widen();
        }
    }
    sums
}

/// How many groups of [`ROWS_AT_ONCE`] rows ahead [`for_each_dot`] prefetches (in `dot_4`, one
/// line per row per chunk). The hardware prefetchers alone left the Rust backend at 64-82% of
/// the read bandwidth at N = 1M, D = 768; with this, 98-102%
/// (`engram-bench --only similarity`).
const PREFETCH_GROUPS: usize = 1;

/// Calls `score(row index, dot)` for every row, [`ROWS_AT_ONCE`] rows at a time.
#[inline(always)]
fn for_each_dot<T: Element>(
    query: &[f32],
    flat: &[T],
    dim: usize,
    widen: impl Widen<T>,
    mut score: impl FnMut(usize, f32),
) {
    let (groups, rest) = flat.split_at(flat.len() / (dim * ROWS_AT_ONCE) * dim * ROWS_AT_ONCE);
    for (g, group) in groups.chunks_exact(dim * ROWS_AT_ONCE).enumerate() {
        let (r0, r123) = group.split_at(dim);
        let (r1, r23) = r123.split_at(dim);
        let (r2, r3) = r23.split_at(dim);
        let next = groups
            .get((g + PREFETCH_GROUPS) * dim * ROWS_AT_ONCE..)
            .unwrap_or(&[]);
        for (j, d) in dot_4(query, [r0, r1, r2, r3], next, widen)
            .into_iter()
            .enumerate()
        {
            score(g * ROWS_AT_ONCE + j, d);
        }
    }
    let done = groups.len() / dim;
    for (j, row) in rest.chunks_exact(dim).enumerate() {
        score(done + j, dot(query, row));
    }
}

#[inline(always)]
fn dot_rows_body<T: Element>(
    query: &[f32],
    flat: &[T],
    dim: usize,
    widen: impl Widen<T>,
    out: &mut [f32],
) {
    for_each_dot(query, flat, dim, widen, |i, d| out[i] = d);
}

#[inline(always)]
fn cosine_rows_body(query: &[f32], query_norm: f32, rows: EmbeddingsView<'_>, out: &mut [f32]) {
    match rows.norms() {
        Some(norms) => {
            for_each_dot(query, rows.as_flat(), rows.dim(), ByValue, |i, d| {
                out[i] = cosine_score(d, query_norm, norms[i]);
            });
        }
        None => {
            for (row, score) in rows.as_flat().chunks_exact(rows.dim()).zip(out) {
                let (d, sq) = dot_and_squared_norm(query, row);
                *score = cosine_score(d, query_norm, sq.sqrt());
            }
        }
    }
}

/// The bodies above compiled for x86-64-v3 and v4. The feature lists are the psABI levels;
/// FMA is enabled but never used, since Rust does not contract `a * b + c` on its own.
#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{
        ByValue, EmbeddingsView, F16EmbeddingsView, F16c, cosine_rows_body, dot_rows_body,
    };

    at_x86_64_v3! {
        pub(super) fn dot_rows_v3(query: &[f32], rows: EmbeddingsView<'_>, out: &mut [f32]) {
            dot_rows_body(query, rows.as_flat(), rows.dim(), ByValue, out);
        }
    }

    at_x86_64_v4! {
        pub(super) fn dot_rows_v4(query: &[f32], rows: EmbeddingsView<'_>, out: &mut [f32]) {
            dot_rows_body(query, rows.as_flat(), rows.dim(), ByValue, out);
        }
    }

    at_x86_64_v3! {
        pub(super) fn dot_f16_rows_v3(
            query: &[f32],
            rows: F16EmbeddingsView<'_>,
            out: &mut [f32],
        ) {
            // SAFETY: this function is compiled with F16C and called only on CPUs with it.
            let widen = unsafe { F16c::new_unchecked() };
            dot_rows_body(query, rows.as_flat(), rows.dim(), widen, out);
        }
    }

    at_x86_64_v4! {
        pub(super) fn dot_f16_rows_v4(
            query: &[f32],
            rows: F16EmbeddingsView<'_>,
            out: &mut [f32],
        ) {
            // SAFETY: as in `dot_f16_rows_v3`.
            let widen = unsafe { F16c::new_unchecked() };
            dot_rows_body(query, rows.as_flat(), rows.dim(), widen, out);
        }
    }

    at_x86_64_v3! {
        pub(super) fn cosine_rows_v3(
            query: &[f32],
            norm: f32,
            rows: EmbeddingsView<'_>,
            out: &mut [f32],
        ) {
            cosine_rows_body(query, norm, rows, out);
        }
    }

    at_x86_64_v4! {
        pub(super) fn cosine_rows_v4(
            query: &[f32],
            norm: f32,
            rows: EmbeddingsView<'_>,
            out: &mut [f32],
        ) {
            cosine_rows_body(query, norm, rows, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_supported_level_gives_bit_identical_results() {
        let dim = 389;
        let query: Vec<f32> = (0..dim)
            .map(|i| ((i * 7919) % 1000) as f32 / 333.0 - 1.5)
            .collect();
        let flat: Vec<f32> = (0..dim * 9)
            .map(|i| ((i * 104_729) % 997) as f32 / 250.0 - 2.0)
            .collect();
        let view = EmbeddingsView::new(&flat, dim).expect("9 rows");
        let run = |level| {
            let (mut d, mut c) = (vec![0.0; 9], vec![0.0; 9]);
            dot_rows(level, &query, view, &mut d);
            cosine_rows(level, &query, crate::l2_norm(&query), view, &mut c);
            (
                d.iter().chain(&c).map(|x| x.to_bits()).collect::<Vec<_>>(),
                d,
            )
        };
        let (reference, _) = run(Supported::baseline());
        for level in Supported::all() {
            assert_eq!(run(level).0, reference, "{level} differs from the baseline");
        }
    }

    #[test]
    fn rows_at_once_give_each_row_exactly_its_own_dot() {
        // Row counts around multiples of ROWS_AT_ONCE, dims with and without a tail.
        for (dim, rows) in [(16, 4), (17, 5), (389, 9), (3, 3), (48, 8), (1, 1)] {
            let query: Vec<f32> = (0..dim)
                .map(|i| ((i * 31) % 17) as f32 / 7.0 - 1.1)
                .collect();
            let flat: Vec<f32> = (0..dim * rows)
                .map(|i| ((i * 104_729) % 997) as f32 / 250.0 - 2.0)
                .collect();
            let view = EmbeddingsView::new(&flat, dim).expect("rows");
            let mut out = vec![f32::NAN; rows];
            dot_rows_body(&query, view.as_flat(), view.dim(), ByValue, &mut out);
            for (i, row) in flat.chunks_exact(dim).enumerate() {
                assert_eq!(
                    out[i].to_bits(),
                    dot(&query, row).to_bits(),
                    "dim {dim} row {i}"
                );
            }
        }
    }

    #[test]
    fn dot_handles_body_and_tail() {
        let a: Vec<f32> = (0..37).map(|i| i as f32).collect();
        let b = vec![2.0f32; 37];
        assert_eq!(dot(&a, &b), 2.0 * (0..37).sum::<i32>() as f32);
        assert_eq!(dot::<f32>(&[], &[]), 0.0);
    }

    #[test]
    fn fused_pass_matches_separate_sums() {
        let q: Vec<f32> = (0..19).map(|i| (i as f32 * 0.37).sin()).collect();
        let r: Vec<f32> = (0..19).map(|i| (i as f32 * 0.11).cos()).collect();
        let (d, sq) = dot_and_squared_norm(&q, &r);
        assert!((d - dot(&q, &r)).abs() < 1e-5);
        assert!((sq - dot(&r, &r)).abs() < 1e-5);
    }

    #[test]
    fn cosine_rule_orders_nan_then_zero_then_clamp() {
        assert!(cosine_score(f32::NAN, 0.0, 1.0).is_nan());
        assert!(cosine_score(1.0, 1.0, f32::NAN).is_nan());
        assert_eq!(cosine_score(0.0, 0.0, 1.0), 0.0);
        assert_eq!(cosine_score(5.0, 1.0, 0.0), 0.0);
        assert_eq!(cosine_score(1.0000001, 1.0, 1.0), 1.0);
        assert_eq!(cosine_score(-3.0, 1.0, 1.0), -1.0);
        assert!(cosine_score(f32::INFINITY, f32::INFINITY, 1.0).is_nan());
        // Norms whose f32 product (2^-140) is subnormal: formed in f64, the ratio is exact.
        let tiny = 2f32.powi(-70);
        assert_eq!(cosine_score(tiny * tiny, tiny, tiny), 1.0);
        assert_eq!(
            cosine_score(f32::from_bits(1), 2f32.powi(-75), 2f32.powi(-74)),
            1.0
        );
    }
}
