//! Exact dot products of an int8 query with every row of an [`Int8EmbeddingsView`].
//!
//! Products of `i8` are summed in `i32`, which cannot overflow ([`MAX_INT8_DIM`] bounds the
//! dimension), and integer addition is exact in any order: every level of this backend, and
//! the Zig backend, gives the same `i32` for every row. The portable body is the reference
//! (and the code off x86-64); on x86-64 each level has the same loop written with `pmaddwd`
//! (sign-extended codes multiplied in pairs into `i32`: 8 lanes with SSE2, 16 with AVX2, 32
//! with AVX-512BW), which LLVM did not form from the portable code: it multiplied in `i32`
//! (`vpmulld`, or scalar at the baseline): about 7x slower than this at the baseline level
//! (152 against 21-25 ns/row), 2.9x at x86-64-v3 and 2.4x at v4 (D = 384, on the AMD Zen 5;
//! BENCHMARKS.md).
//!
//! [`MAX_INT8_DIM`]: crate::MAX_INT8_DIM

use super::{CACHE_LINE, prefetch};
use crate::cpu::Supported;
use crate::{CpuLevel, Int8EmbeddingsView};

/// Codes per step of the loop: one cache line.
const STEP: usize = CACHE_LINE;
/// `i32` accumulators, each adding two adjacent products per step (a `pmaddwd` lane).
const ACCUMULATORS: usize = STEP / 2;
/// How many rows after the one being read have their lines prefetched, one line per step.
const PREFETCH_ROWS_AHEAD: usize = 8;

/// `Σ query[i] · row[i]` in `i32`; while reading step `s` of `row`, prefetches step `s` of
/// `ahead` (a later row; empty near the end).
#[inline(always)]
fn dot_i8(query: &[i8], row: &[i8], ahead: &[i8]) -> i32 {
    debug_assert_eq!(query.len(), row.len());
    let (q_steps, q_tail) = query.as_chunks::<STEP>();
    let (r_steps, r_tail) = row.as_chunks::<STEP>();
    let mut acc = [0i32; ACCUMULATORS];
    for (s, (q, r)) in q_steps.iter().zip(r_steps).enumerate() {
        if let Some(line) = ahead.get(s * STEP) {
            prefetch(line);
        }
        for (i, a) in acc.iter_mut().enumerate() {
            let (even, odd) = (2 * i, 2 * i + 1);
            *a += i32::from(q[even]) * i32::from(r[even]) + i32::from(q[odd]) * i32::from(r[odd]);
        }
    }
    let mut sum: i32 = acc.iter().sum();
    for (&x, &y) in q_tail.iter().zip(r_tail) {
        sum += i32::from(x) * i32::from(y);
    }
    sum
}

/// `dot_i8` for every row, with the rows `PREFETCH_ROWS_AHEAD` later as `ahead`.
#[inline(always)]
fn for_each_row(
    query: &[i8],
    rows: Int8EmbeddingsView<'_>,
    out: &mut [i32],
    dot_i8: impl Fn(&[i8], &[i8], &[i8]) -> i32,
) {
    let dim = rows.dim();
    let flat = rows.as_flat();
    for (r, (row, score)) in flat.chunks_exact(dim).zip(out).enumerate() {
        let ahead = flat.get((r + PREFETCH_ROWS_AHEAD) * dim..).unwrap_or(&[]);
        *score = dot_i8(query, row, ahead);
    }
}

/// `out[i] = Σ_k query[k] · row_i[k]`, exactly, at `level`, which this CPU supports (only
/// detection makes a `Supported`). Lengths were checked by the caller.
pub(crate) fn dot_i8_rows(
    level: Supported,
    query: &[i8],
    rows: Int8EmbeddingsView<'_>,
    out: &mut [i32],
) {
    match level.get() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: a `Supported` level is one this CPU was found to support, so every
        // instruction the level enables exists.
        CpuLevel::X86_64V4 => unsafe { x86::dot_i8_rows_v4(query, rows, out) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above.
        CpuLevel::X86_64V3 => unsafe { x86::dot_i8_rows_v3(query, rows, out) },
        #[cfg(target_arch = "x86_64")]
        CpuLevel::Baseline => x86::dot_i8_rows_sse2(query, rows, out),
        #[allow(unreachable_patterns)] // every level is matched on x86-64
        _ => for_each_row(query, rows, out, dot_i8),
    }
}

/// The x86-64 loops: per step (a cache line of each operand), the codes sign-extended to
/// `i16` and multiplied in pairs into `i32` lanes (`pmaddwd`), one accumulator per
/// instruction of the step; the tail as in `dot_i8`.
#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{Int8EmbeddingsView, STEP, for_each_row, prefetch};
    use core::arch::x86_64::{
        __m128i, _mm_add_epi32, _mm_cvtsi128_si32, _mm_loadu_si128, _mm_madd_epi16,
        _mm_setzero_si128, _mm_shuffle_epi32, _mm_slli_epi16, _mm_srai_epi16, _mm256_add_epi32,
        _mm256_castsi256_si128, _mm256_cvtepi8_epi16, _mm256_extracti128_si256, _mm256_madd_epi16,
        _mm256_setzero_si256, _mm512_add_epi32, _mm512_cvtepi8_epi16, _mm512_madd_epi16,
        _mm512_reduce_add_epi32, _mm512_setzero_si512,
    };

    /// The 16 codes of `chunk` as a vector.
    #[inline]
    #[target_feature(enable = "sse2")]
    fn load16(chunk: &[i8; 16]) -> __m128i {
        // SAFETY: an unaligned 16-byte load from a reference to 16 bytes. (SSE2, in every
        // x86-64.)
        unsafe { _mm_loadu_si128(chunk.as_ptr().cast()) }
    }

    /// The tail (fewer than `STEP` codes), as the portable `dot_i8` adds it.
    #[inline(always)]
    fn tail(query: &[i8], row: &[i8]) -> i32 {
        query
            .iter()
            .zip(row)
            .map(|(&x, &y)| i32::from(x) * i32::from(y))
            .sum()
    }

    /// The sum of an `i32x4`'s lanes.
    #[inline]
    #[target_feature(enable = "sse2")]
    fn sum_lanes(v: __m128i) -> i32 {
        let v = _mm_add_epi32(v, _mm_shuffle_epi32::<0b01_00_11_10>(v));
        _mm_cvtsi128_si32(_mm_add_epi32(v, _mm_shuffle_epi32::<0b10_11_00_01>(v)))
    }

    /// SSE2: 16 codes at a time, sign-extended by unpacking each byte with itself and
    /// shifting (SSE2 has no `pmovsxbw`).
    #[target_feature(enable = "sse2")]
    fn dot_i8_sse2(query: &[i8], row: &[i8], ahead: &[i8]) -> i32 {
        let (q_steps, q_tail) = query.as_chunks::<STEP>();
        let (r_steps, r_tail) = row.as_chunks::<STEP>();
        let mut acc = [_mm_setzero_si128(); STEP / 16];
        // The even and the odd bytes of each 16-bit lane, sign-extended by shifts alone, so
        // every product is still added exactly once. Unpacking each byte with itself measured
        // 2.5x slower (55-62 against 22-25 ns/row, D = 384, in cache, Zen 5): LLVM took the
        // unpack's other operand from a register of an earlier iteration, which likely
        // chained the iterations.
        let widen = |v: __m128i| {
            (
                _mm_srai_epi16::<8>(_mm_slli_epi16::<8>(v)),
                _mm_srai_epi16::<8>(v),
            )
        };
        for (s, (q, r)) in q_steps.iter().zip(r_steps).enumerate() {
            if let Some(line) = ahead.get(s * STEP) {
                prefetch(line);
            }
            let (q16, r16) = (q.as_chunks::<16>().0, r.as_chunks::<16>().0);
            for (a, (q, r)) in acc.iter_mut().zip(q16.iter().zip(r16)) {
                let ((q_lo, q_hi), (r_lo, r_hi)) = (widen(load16(q)), widen(load16(r)));
                let pairs = _mm_add_epi32(_mm_madd_epi16(q_lo, r_lo), _mm_madd_epi16(q_hi, r_hi));
                *a = _mm_add_epi32(*a, pairs);
            }
        }
        let total = acc
            .into_iter()
            .fold(_mm_setzero_si128(), |t, a| _mm_add_epi32(t, a));
        sum_lanes(total) + tail(q_tail, r_tail)
    }

    /// The baseline level's rows, with `dot_i8_sse2`.
    pub(super) fn dot_i8_rows_sse2(query: &[i8], rows: Int8EmbeddingsView<'_>, out: &mut [i32]) {
        for_each_row(query, rows, out, |q, r, a| {
            // SAFETY: SSE2 is part of x86-64 itself, so every x86-64 CPU has it.
            unsafe { dot_i8_sse2(q, r, a) }
        });
    }

    at_x86_64_v3! {
        /// AVX2: 16 codes per `vpmovsxbw` + `vpmaddwd`.
        fn dot_i8_avx2(query: &[i8], row: &[i8], ahead: &[i8]) -> i32 {
            let (q_steps, q_tail) = query.as_chunks::<STEP>();
            let (r_steps, r_tail) = row.as_chunks::<STEP>();
            let mut acc = [_mm256_setzero_si256(); STEP / 16];
            for (s, (q, r)) in q_steps.iter().zip(r_steps).enumerate() {
                if let Some(line) = ahead.get(s * STEP) {
                    prefetch(line);
                }
                let (q16, r16) = (q.as_chunks::<16>().0, r.as_chunks::<16>().0);
                for (a, (q, r)) in acc.iter_mut().zip(q16.iter().zip(r16)) {
                    let (q, r) = (_mm256_cvtepi8_epi16(load16(q)), _mm256_cvtepi8_epi16(load16(r)));
                    *a = _mm256_add_epi32(*a, _mm256_madd_epi16(q, r));
                }
            }
            let total = acc.into_iter().fold(_mm256_setzero_si256(), |t, a| _mm256_add_epi32(t, a));
            let (low, high) = (_mm256_castsi256_si128(total), _mm256_extracti128_si256::<1>(total));
            let half = _mm_add_epi32(low, high);
            sum_lanes(half) + tail(q_tail, r_tail)
        }

        pub(super) fn dot_i8_rows_v3(query: &[i8], rows: Int8EmbeddingsView<'_>, out: &mut [i32]) {
            // The closure has this function's features, which are dot_i8_avx2's.
            for_each_row(query, rows, out, |q, r, a| dot_i8_avx2(q, r, a));
        }
    }

    at_x86_64_v4! {
        /// AVX-512BW: 32 codes per `vpmovsxbw` + `vpmaddwd`.
        fn dot_i8_avx512(query: &[i8], row: &[i8], ahead: &[i8]) -> i32 {
            let (q_steps, q_tail) = query.as_chunks::<STEP>();
            let (r_steps, r_tail) = row.as_chunks::<STEP>();
            let mut acc = [_mm512_setzero_si512(); STEP / 32];
            for (s, (q, r)) in q_steps.iter().zip(r_steps).enumerate() {
                if let Some(line) = ahead.get(s * STEP) {
                    prefetch(line);
                }
                let (q32, r32) = (q.as_chunks::<32>().0, r.as_chunks::<32>().0);
                for (a, (q, r)) in acc.iter_mut().zip(q32.iter().zip(r32)) {
                    // SAFETY: unaligned 32-byte loads from references to 32 bytes.
                    let (q, r) = unsafe {
                        (
                            core::arch::x86_64::_mm256_loadu_si256(q.as_ptr().cast()),
                            core::arch::x86_64::_mm256_loadu_si256(r.as_ptr().cast()),
                        )
                    };
                    let (q, r) = (_mm512_cvtepi8_epi16(q), _mm512_cvtepi8_epi16(r));
                    *a = _mm512_add_epi32(*a, _mm512_madd_epi16(q, r));
                }
            }
            let total = acc.into_iter().fold(_mm512_setzero_si512(), |t, a| _mm512_add_epi32(t, a));
            _mm512_reduce_add_epi32(total) + tail(q_tail, r_tail)
        }

        pub(super) fn dot_i8_rows_v4(query: &[i8], rows: Int8EmbeddingsView<'_>, out: &mut [i32]) {
            // The closure has this function's features, which are dot_i8_avx512's.
            for_each_row(query, rows, out, |q, r, a| dot_i8_avx512(q, r, a));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The exact dot in i64, the oracle.
    fn oracle(query: &[i8], row: &[i8]) -> i64 {
        query
            .iter()
            .zip(row)
            .map(|(&a, &b)| i64::from(a) * i64::from(b))
            .sum()
    }

    #[test]
    fn every_supported_level_is_exact_on_every_shape() {
        for dim in [1, 2, 31, 63, 64, 65, 127, 128, 129, 384, 389] {
            let query: Vec<i8> = (0..dim)
                .map(|i| ((i * 7919 + 3) % 256) as u8 as i8)
                .collect();
            let rows = 13;
            let flat: Vec<i8> = (0..dim * rows)
                .map(|i| ((i * 104_729 + 11) % 256) as u8 as i8)
                .collect();
            let view = Int8EmbeddingsView::new(&flat, dim).expect("rows × dim");
            for level in Supported::all() {
                let mut out = vec![i32::MIN; rows];
                dot_i8_rows(level, &query, view, &mut out);
                for (r, &got) in out.iter().enumerate() {
                    let want = oracle(&query, view.row(r).expect("a row"));
                    assert_eq!(i64::from(got), want, "dim {dim}, row {r}, {level:?}");
                }
            }
        }
    }

    #[test]
    fn the_portable_loop_is_exact_too() {
        // On x86-64 every level has its own loop, so the portable one (the reference, and the
        // code off x86-64) is not reached through `dot_i8_rows`: test it directly.
        for dim in [1, 63, 64, 65, 129, 389] {
            let query: Vec<i8> = (0..dim).map(|i| ((i * 31 + 7) % 256) as u8 as i8).collect();
            let row: Vec<i8> = (0..dim)
                .map(|i| ((i * 97 + 200) % 256) as u8 as i8)
                .collect();
            assert_eq!(
                i64::from(dot_i8(&query, &row, &[])),
                oracle(&query, &row),
                "dim {dim}"
            );
            assert_eq!(
                i64::from(dot_i8(&query, &row, &row)),
                oracle(&query, &row),
                "dim {dim}"
            );
        }
        let extremes = vec![-128i8; crate::MAX_INT8_DIM];
        assert_eq!(
            i64::from(dot_i8(&extremes, &extremes, &[])),
            16_384 * crate::MAX_INT8_DIM as i64
        );
    }

    #[test]
    fn the_largest_sums_do_not_overflow() {
        let dim = crate::MAX_INT8_DIM;
        let query = vec![-128i8; dim];
        // Row 0: the largest sum (-128 · -128 everywhere); row 1: the most negative.
        let mut flat = vec![-128i8; dim];
        flat.extend(std::iter::repeat_n(127i8, dim));
        let view = Int8EmbeddingsView::new(&flat, dim).expect("2 rows");
        for level in Supported::all() {
            let mut out = [0i32; 2];
            dot_i8_rows(level, &query, view, &mut out);
            assert_eq!(i64::from(out[0]), 16_384 * dim as i64, "{level:?}");
            assert_eq!(i64::from(out[1]), -128 * 127 * dim as i64, "{level:?}");
        }
    }
}
