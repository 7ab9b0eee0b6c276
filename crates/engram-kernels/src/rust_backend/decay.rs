//! Retention: base strength decayed by age, computed on read.
//!
//! The exponential curve uses a branch-free `2^x` (range reduction by rounding, a degree-6
//! polynomial, exponent bits) instead of one libm call per element. LLVM vectorizes that loop
//! once the age's u64 → f64 conversion has vector instructions to map to, so the batch is
//! compiled again for x86-64-v3 and v4 (as the similarity kernels are); on the baseline it
//! stays scalar. Every lane does the same IEEE operations, so all levels give the same bits,
//! and `zig/src/decay.zig` performs the same operations with the same constants, so the two
//! backends agree bit for bit too.

use super::{CACHE_LINE, prefetch};
use crate::cpu::{CpuLevel, Supported};
use crate::params::CurveShape;

// The exponential's constants, shared with the Zig kernels (`zig/src/shared.zon`, where each
// is explained): `ROUND_MAGIC` = 1.5 · 2⁵² rounds by addition, below `MIN_EXPONENT` every
// result rounds to 0, and `EXP2_POLY` is 2^f on |f| ≤ ½ within 2.0·10⁻⁹ relative (the test
// `exp2_matches_the_library_within_its_stated_error` checks it). Its minimax coefficients
// (`tools/fit_exp2.py`) replaced the degree-7 Taylor series (7.1·10⁻⁹): more accurate with
// one degree fewer, which matters because the loop is bound by its arithmetic in cache (two
// operations fewer per element measured about 10% faster at x86-64-v4 in a scratch
// prototype, N = 1M).
use crate::shared::{
    DECAY_EXP2_POLY as EXP2_POLY, DECAY_MIN_EXPONENT as MIN_EXPONENT, ROUND_MAGIC,
};

/// `2^x` for x ≤ 0, within 2.0·10⁻⁹ relative (x below −300 is treated as −300, whose result
/// is already 0 once scaled and rounded to f32). No branch, no library call.
#[inline(always)]
pub(crate) fn exp2_nonpositive(x: f64) -> f64 {
    let x = x.max(MIN_EXPONENT);
    let shifted = x + ROUND_MAGIC;
    let n = shifted - ROUND_MAGIC; // round(x)
    let f = x - n; // in [-0.5, 0.5], exact
    let mut p = EXP2_POLY[6];
    for c in EXP2_POLY[..6].iter().rev() {
        p = p * f + c;
    }
    // n as a two's-complement integer, then 2^n from its exponent bits.
    let n_bits = shifted.to_bits().wrapping_sub(ROUND_MAGIC.to_bits());
    let scale = f64::from_bits(n_bits.wrapping_add(1023) << 52);
    p * scale
}

/// `max(0, now − last_access)` in seconds, exact before the rounding to f64: when
/// `last_access < now` the difference is in `1..2⁶⁴`, so it fits a u64 (no saturation, no
/// overflow). Written as a u64 subtraction and a select because that maps to a few vector
/// instructions. The saturating i64 subtraction used before did not: with it the loop took
/// 1.7–1.8× as long at the baseline and x86-64-v3, and 10% longer at v4 (scratch prototype).
#[inline(always)]
pub(crate) fn age_secs(now: i64, last_access: i64) -> f64 {
    let age = if last_access < now {
        now.cast_unsigned()
            .wrapping_sub(last_access.cast_unsigned())
    } else {
        0
    };
    age as f64
}

/// The retention of one memory, in f64, rounded once to f32.
pub(crate) fn retention(strength: f32, age_secs: f64, shape: CurveShape) -> f32 {
    let factor = match shape {
        CurveShape::Exponential { half_life_secs } => {
            exp2_nonpositive(exponent(age_secs, neg_inv(half_life_secs)))
        }
        CurveShape::PowerLaw {
            scale_secs,
            exponent,
        } => (1.0 + age_secs / scale_secs).powf(-exponent),
    };
    (f64::from(strength) * factor) as f32
}

/// `−age / half_life` as `age · neg_inv_half_life`: the factor is `−1 / half_life`, but at
/// least `−f64::MAX`, so a subnormal half-life (whose reciprocal is ∞) gives `−0` at age 0
/// rather than `0 · ∞ = NaN`, and still `−∞` (retention 0) at any positive age. Without a
/// branch per element.
#[inline(always)]
fn exponent(age_secs: f64, neg_inv_half_life: f64) -> f64 {
    age_secs * neg_inv_half_life
}

/// The factor of [`exponent`] for a half-life: `−1 / half_life`, clamped to be finite.
#[inline(always)]
fn neg_inv(half_life_secs: f64) -> f64 {
    (-1.0 / half_life_secs).max(-f64::MAX)
}

/// `out[i] = retention(strengths[i], age of last_access[i] at now)` at `level`. Lengths
/// checked by the caller.
pub(crate) fn retention_batch(
    level: Supported,
    strengths: &[f32],
    last_access: &[i64],
    now: i64,
    shape: CurveShape,
    out: &mut [f32],
) {
    match shape {
        CurveShape::Exponential { half_life_secs } => {
            // One division for the whole batch; the loop has no branch and no call.
            let neg_inv = neg_inv(half_life_secs);
            match level.get() {
                #[cfg(target_arch = "x86_64")]
                // SAFETY: a `Supported` level is one this CPU was found to support, so every
                // instruction the level enables exists.
                CpuLevel::X86_64V4 => unsafe {
                    x86::exponential_v4(strengths, last_access, now, neg_inv, out);
                },
                #[cfg(target_arch = "x86_64")]
                // SAFETY: as above.
                CpuLevel::X86_64V3 => unsafe {
                    x86::exponential_v3(strengths, last_access, now, neg_inv, out);
                },
                _ => exponential_body::<false>(strengths, last_access, now, neg_inv, out),
            }
        }
        CurveShape::PowerLaw { .. } => {
            for ((&s, &t), r) in strengths.iter().zip(last_access).zip(out) {
                *r = retention(s, age_secs(now, t), shape);
            }
        }
    }
}

// Elements per block (the prefetches are issued once per block), how far ahead the inputs
// are prefetched, and from how many elements the v3/v4 loops stream their output: shared with
// the Zig kernels (`zig/src/shared.zon`). Measured here: without the prefetch, at N = 10M
// x86-64-v4 took 1.5–1.9 ns/element instead of 1.1–1.2 and v3 5.2 instead of 2.1 on the
// Intel Xeon (`engram-bench --only decay`; 256 to 1024 elements ahead did about equally well
// in a scratch prototype). Streaming from 4 MiB of output (twice a core's L2 there): three
// runs of a scratch prototype at N = 10M, v4, measured 0.84–0.93 ns/element streamed against
// 0.98–1.01 stored normally, and at N = 1M (in the L3 cache) it gained nothing. Smaller
// outputs are stored normally, so that a caller reading them soon finds them in cache.
use crate::shared::{
    DECAY_BLOCK as BLOCK, DECAY_PREFETCH_AHEAD as PREFETCH_AHEAD,
    DECAY_STREAM_MIN_ELEMENTS as STREAM_MIN_ELEMENTS,
};

/// The exponential curve over a batch: `out[i] = s · 2^(age · neg_inv_half_life)`. With
/// `STREAM` (only in the x86-64-v3/v4 instances), whole blocks of the output are written with
/// non-temporal stores.
#[inline(always)]
fn exponential_body<const STREAM: bool>(
    strengths: &[f32],
    last_access: &[i64],
    now: i64,
    neg_inv_half_life: f64,
    out: &mut [f32],
) {
    // Streamed blocks start on a cache line of `out`: the elements before the first line
    // boundary are stored normally.
    let head = if STREAM {
        out.as_ptr().align_offset(CACHE_LINE).min(out.len())
    } else {
        0
    };
    let (out_head, out) = out.split_at_mut(head);
    let (strengths_head, strengths) = strengths.split_at(head);
    let (last_head, last_access) = last_access.split_at(head);
    exponential_block(strengths_head, last_head, now, neg_inv_half_life, out_head);
    let blocks = strengths
        .chunks(BLOCK)
        .zip(last_access.chunks(BLOCK))
        .zip(out.chunks_mut(BLOCK));
    for (b, ((strengths_b, last_b), out_b)) in blocks.enumerate() {
        prefetch_block(strengths, last_access, b * BLOCK + PREFETCH_AHEAD);
        #[cfg(target_arch = "x86_64")]
        if STREAM && let Ok(whole) = <&mut [f32; BLOCK]>::try_from(&mut *out_b) {
            let mut values = [0.0; BLOCK];
            exponential_block(strengths_b, last_b, now, neg_inv_half_life, &mut values);
            // SAFETY: STREAM is true only in the instances that `exponential_v3` and
            // `exponential_v4` run, and Kernels runs those only on CPUs with their
            // features, AVX among them.
            unsafe { x86::stream_block(whole, &values) };
            continue;
        }
        exponential_block(strengths_b, last_b, now, neg_inv_half_life, out_b);
    }
}

/// One block (or part of one): `out[i] = s · 2^(age · neg_inv_half_life)`.
#[inline(always)]
fn exponential_block(
    strengths: &[f32],
    last_access: &[i64],
    now: i64,
    neg_inv_half_life: f64,
    out: &mut [f32],
) {
    for ((&s, &t), r) in strengths.iter().zip(last_access).zip(out) {
        let factor = exp2_nonpositive(exponent(age_secs(now, t), neg_inv_half_life));
        *r = (f64::from(s) * factor) as f32;
    }
}

/// Asks for the cache lines of the inputs' block starting at `start`, if it is a whole block.
#[inline(always)]
fn prefetch_block(strengths: &[f32], last_access: &[i64], start: usize) {
    if let (Some(s), Some(t)) = (
        strengths.get(start..start + BLOCK),
        last_access.get(start..start + BLOCK),
    ) {
        t.iter()
            .step_by(CACHE_LINE / size_of::<i64>())
            .for_each(prefetch);
        s.iter()
            .step_by(CACHE_LINE / size_of::<f32>())
            .for_each(prefetch);
    }
}

/// `exponential_body` compiled for x86-64-v3 and v4 (the psABI feature lists), streaming
/// large outputs. v4 matters most: AVX-512DQ converts u64 to f64 in vector registers.
#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{BLOCK, STREAM_MIN_ELEMENTS, exponential_body};
    use core::arch::x86_64::{_mm_sfence, _mm256_loadu_ps, _mm256_stream_ps};

    at_x86_64_v3! {
        pub(super) fn exponential_v3(
            s: &[f32],
            t: &[i64],
            now: i64,
            neg_inv: f64,
            out: &mut [f32],
        ) {
            if exponential_streaming(s, t, now, neg_inv, out) {
                // Non-temporal stores are weakly ordered: fence them before the caller (or
                // another thread, once the caller synchronizes) reads the output.
                _mm_sfence();
            }
        }
    }

    at_x86_64_v4! {
        pub(super) fn exponential_v4(
            s: &[f32],
            t: &[i64],
            now: i64,
            neg_inv: f64,
            out: &mut [f32],
        ) {
            if exponential_streaming(s, t, now, neg_inv, out) {
                _mm_sfence(); // as in exponential_v3
            }
        }
    }

    /// The body of both, inlined into each level's features: large outputs are streamed, and
    /// then it returns true (the caller fences).
    #[inline(always)]
    fn exponential_streaming(
        s: &[f32],
        t: &[i64],
        now: i64,
        neg_inv: f64,
        out: &mut [f32],
    ) -> bool {
        let stream = out.len() >= STREAM_MIN_ELEMENTS;
        if stream {
            exponential_body::<true>(s, t, now, neg_inv, out);
        } else {
            exponential_body::<false>(s, t, now, neg_inv, out);
        }
        stream
    }

    /// Writes `values` into `out` with non-temporal stores (`vmovntps`, 32 bytes each), or
    /// with a plain copy if `out` is not 32-byte aligned. The caller fences afterwards.
    #[target_feature(enable = "avx")]
    pub(super) fn stream_block(out: &mut [f32; BLOCK], values: &[f32; BLOCK]) {
        if !out.as_ptr().addr().is_multiple_of(32) {
            out.copy_from_slice(values);
            return;
        }
        for (dst, src) in out.chunks_exact_mut(8).zip(values.chunks_exact(8)) {
            // SAFETY: `dst` and `src` are 8 floats each (32 bytes), and `dst` is 32-byte
            // aligned: `out` is, and every chunk starts a multiple of 32 bytes into it.
            unsafe { _mm256_stream_ps(dst.as_mut_ptr(), _mm256_loadu_ps(src.as_ptr())) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp2_matches_the_library_within_its_stated_error() {
        let mut worst = 0.0f64;
        for i in 0..=200_000 {
            let x = -250.0 * f64::from(i) / 200_000.0;
            let (got, want) = (exp2_nonpositive(x), x.exp2());
            worst = worst.max((got - want).abs() / want);
        }
        assert!(worst < 2.0e-9, "worst relative error {worst}");
        assert_eq!(exp2_nonpositive(0.0), 1.0);
        assert_eq!(exp2_nonpositive(-0.0), 1.0);
        assert_eq!(exp2_nonpositive(-1.0), 0.5);
        assert_eq!(exp2_nonpositive(-10.0), 1.0 / 1024.0);
        assert!(exp2_nonpositive(f64::NEG_INFINITY) > 0.0 && exp2_nonpositive(-1e300) < 1e-90);
    }

    #[test]
    fn a_subnormal_half_life_keeps_full_strength_at_age_zero() {
        let shape = CurveShape::Exponential {
            half_life_secs: 5e-324,
        };
        let mut out = [0.0f32; 2];
        retention_batch(
            Supported::baseline(),
            &[0.75, 0.75],
            &[10, 9],
            10,
            shape,
            &mut out,
        );
        assert_eq!(out, [0.75, 0.0]);
    }

    #[test]
    fn every_supported_level_gives_the_baselines_bits() {
        // 1003 elements: whole vectors at every width plus a tail. Ages span zero, the
        // future, the largest (i64::MIN) and exponents below the −300 clamp.
        let now = 1_790_000_000i64;
        let strengths: Vec<f32> = (0..1003).map(|i| (i % 17) as f32 / 16.0 - 0.05).collect();
        let last: Vec<i64> = (0..1003i64)
            .map(|i| match i % 11 {
                0 => i64::MIN,
                1 => now,
                2 => now + i,
                _ => now - i * i * 997,
            })
            .collect();
        for half_life_secs in [3600.5, 1.0, 5e-324, 1e300] {
            let shape = CurveShape::Exponential { half_life_secs };
            let run = |level| {
                let mut out = vec![0.0f32; strengths.len()];
                retention_batch(level, &strengths, &last, now, shape, &mut out);
                out.iter().map(|r| r.to_bits()).collect::<Vec<_>>()
            };
            let reference = run(Supported::baseline());
            for level in Supported::all() {
                assert_eq!(run(level), reference, "{level}, half-life {half_life_secs}");
            }
        }
    }

    #[test]
    fn ages_are_exact_never_negative_and_never_overflow() {
        assert_eq!(age_secs(10, 4), 6.0);
        assert_eq!(age_secs(4, 10), 0.0);
        assert_eq!(age_secs(7, 7), 0.0);
        assert_eq!(age_secs(i64::MAX, i64::MIN), u64::MAX as f64);
        assert_eq!(age_secs(0, i64::MIN), 2f64.powi(63));
        assert_eq!(age_secs(i64::MIN, i64::MAX), 0.0);
        assert_eq!(age_secs(i64::MAX, i64::MAX - 1), 1.0);
    }

    #[test]
    fn streamed_outputs_give_the_same_bits_at_every_offset() {
        // Large enough to stream at x86-64-v3/v4; the output starts 0 to 3 floats past a
        // cache line, so the unstreamed head has 0, 15, 14 or 13 elements, and the length
        // leaves a partial last block.
        let n = STREAM_MIN_ELEMENTS + 77;
        let now = 1_790_000_000i64;
        let strengths: Vec<f32> = (0..n).map(|i| (i % 101) as f32 / 100.0).collect();
        let last: Vec<i64> = (0..n as i64)
            .map(|i| now - (i * 7919) % 5_000_000 + 50)
            .collect();
        let shape = CurveShape::Exponential {
            half_life_secs: 86_400.0,
        };
        let mut expected = vec![0.0f32; n];
        for ((&s, &t), r) in strengths.iter().zip(&last).zip(&mut expected) {
            *r = retention(s, age_secs(now, t), shape);
        }
        let mut buffer = vec![f32::NAN; n + 32];
        let line = buffer.as_ptr().align_offset(CACHE_LINE);
        for level in Supported::all() {
            for offset in 0..4 {
                buffer.fill(f32::NAN);
                let out = &mut buffer[line + offset..line + offset + n];
                retention_batch(level, &strengths, &last, now, shape, out);
                let differ = out
                    .iter()
                    .zip(&expected)
                    .position(|(a, b)| a.to_bits() != b.to_bits());
                assert_eq!(differ, None, "{level}, offset {offset}");
            }
        }
    }
}
