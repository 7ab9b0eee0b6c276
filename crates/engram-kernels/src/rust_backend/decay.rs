//! Retention: base strength decayed by age, computed on read.
//!
//! The exponential curve uses a branch-free `2^x` (range reduction by rounding, a degree-7
//! polynomial, exponent bits) instead of one libm call per element. LLVM vectorizes that loop
//! once the saturating age and the i64 → f64 conversion have vector instructions to map to, so
//! the batch is compiled again for x86-64-v3 and v4 (as the similarity kernels are); on the
//! baseline it stays scalar. Every lane does the same IEEE operations, so all levels give the
//! same bits, and `zig/src/decay.zig` performs the same operations with the same constants,
//! so the two backends agree bit for bit too.

use super::{CACHE_LINE, prefetch};
use crate::cpu::CpuLevel;
use crate::params::CurveShape;

/// 1.5 · 2⁵²: `x + ROUND_MAGIC − ROUND_MAGIC` rounds any |x| < 2⁵¹ to the nearest integer,
/// and the integer also sits in the low mantissa bits of `x + ROUND_MAGIC`.
const ROUND_MAGIC: f64 = 6_755_399_441_055_744.0;

/// Below this exponent `s · 2^x` rounds to 0 in f32 for every finite f32 `s` (2¹²⁸ · 2⁻³⁰⁰ is
/// far below 2⁻¹⁵⁰), and 2^x stays a normal f64.
const MIN_EXPONENT: f64 = -300.0;

/// `ln(2)^k / k!` for k = 0..=7: the Taylor series of `2^f`, whose truncation error on
/// |f| ≤ ½ is below 7.1·10⁻⁹ relative.
const EXP2_TAYLOR: [f64; 8] = [
    1.0,
    std::f64::consts::LN_2,
    0.240_226_506_959_100_72,
    0.055_504_108_664_821_58,
    0.009_618_129_107_628_477,
    0.001_333_355_814_642_844_3,
    0.000_154_035_303_933_816_1,
    1.525_273_380_405_984_1e-5,
];

/// `2^x` for x ≤ 0, within 7.1·10⁻⁹ relative (x below −300 is treated as −300, whose result
/// is already 0 once scaled and rounded to f32). No branch, no library call.
#[inline(always)]
pub(crate) fn exp2_nonpositive(x: f64) -> f64 {
    let x = x.max(MIN_EXPONENT);
    let shifted = x + ROUND_MAGIC;
    let n = shifted - ROUND_MAGIC; // round(x)
    let f = x - n; // in [-0.5, 0.5], exact
    let mut p = EXP2_TAYLOR[7];
    for c in EXP2_TAYLOR[..7].iter().rev() {
        p = p * f + c;
    }
    // n as a two's-complement integer, then 2^n from its exponent bits.
    let n_bits = shifted.to_bits().wrapping_sub(ROUND_MAGIC.to_bits());
    let scale = f64::from_bits(n_bits.wrapping_add(1023) << 52);
    p * scale
}

/// `max(0, now − last_access)` in seconds, saturating rather than overflowing.
#[inline(always)]
pub(crate) fn age_secs(now: i64, last_access: i64) -> f64 {
    now.saturating_sub(last_access).max(0) as f64
}

/// The retention of one memory, in f64, rounded once to f32.
pub(crate) fn retention(strength: f32, age_secs: f64, shape: CurveShape) -> f32 {
    let factor = match shape {
        CurveShape::Exponential { half_life_secs } => {
            exp2_nonpositive(exponent(age_secs, -1.0 / half_life_secs))
        }
        CurveShape::PowerLaw {
            scale_secs,
            exponent,
        } => (1.0 + age_secs / scale_secs).powf(-exponent),
    };
    (f64::from(strength) * factor) as f32
}

/// `−age / half_life` as `age · neg_inv_half_life`, and exactly 0 at age 0 (so that a
/// subnormal half-life, whose reciprocal is ∞, does not give 0 · ∞ = NaN).
#[inline(always)]
fn exponent(age_secs: f64, neg_inv_half_life: f64) -> f64 {
    if age_secs == 0.0 {
        0.0
    } else {
        age_secs * neg_inv_half_life
    }
}

/// `out[i] = retention(strengths[i], age of last_access[i] at now)` at `level`. Lengths
/// checked by the caller.
pub(crate) fn retention_batch(
    level: CpuLevel,
    strengths: &[f32],
    last_access: &[i64],
    now: i64,
    shape: CurveShape,
    out: &mut [f32],
) {
    match shape {
        CurveShape::Exponential { half_life_secs } => {
            // One division for the whole batch; the loop has no branch and no call.
            let neg_inv = -1.0 / half_life_secs;
            match level {
                #[cfg(target_arch = "x86_64")]
                // SAFETY: Kernels only holds levels this CPU supports (checked at
                // construction), so every instruction the level enables exists.
                CpuLevel::X86_64V4 => unsafe {
                    x86::exponential_v4(strengths, last_access, now, neg_inv, out);
                },
                #[cfg(target_arch = "x86_64")]
                // SAFETY: as above.
                CpuLevel::X86_64V3 => unsafe {
                    x86::exponential_v3(strengths, last_access, now, neg_inv, out);
                },
                _ => exponential_body(strengths, last_access, now, neg_inv, out),
            }
        }
        CurveShape::PowerLaw { .. } => {
            for ((&s, &t), r) in strengths.iter().zip(last_access).zip(out) {
                *r = retention(s, age_secs(now, t), shape);
            }
        }
    }
}

/// Elements per block of the exponential batch: the prefetches are issued once per block.
const BLOCK: usize = 64;
/// How far ahead of the block being computed its inputs are prefetched, in elements (6 KiB
/// of input). Without it the loop waits on memory once the inputs exceed the caches: on this
/// machine the hardware prefetchers did not keep up, and at N = 10M x86-64-v4 took 1.5–1.9
/// ns/element instead of 1.1–1.2, v3 5.2 instead of 2.1 (`engram-bench --only decay`).
/// 256 to 1024 elements ahead did about equally well in a scratch prototype.
const PREFETCH_AHEAD: usize = 512;

/// The exponential curve over a batch: `out[i] = s · 2^(−age · neg_inv_half_life)`.
#[inline(always)]
fn exponential_body(
    strengths: &[f32],
    last_access: &[i64],
    now: i64,
    neg_inv_half_life: f64,
    out: &mut [f32],
) {
    let blocks = strengths
        .chunks(BLOCK)
        .zip(last_access.chunks(BLOCK))
        .zip(out.chunks_mut(BLOCK));
    for (b, ((strengths_b, last_b), out_b)) in blocks.enumerate() {
        prefetch_block(strengths, last_access, b * BLOCK + PREFETCH_AHEAD);
        for ((&s, &t), r) in strengths_b.iter().zip(last_b).zip(out_b) {
            let factor = exp2_nonpositive(exponent(age_secs(now, t), neg_inv_half_life));
            *r = (f64::from(s) * factor) as f32;
        }
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

/// `exponential_body` compiled for x86-64-v3 and v4 (the psABI feature lists). v4 matters
/// most: AVX-512DQ converts i64 to f64 in vector registers, which AVX2 cannot.
#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::exponential_body;

    #[target_feature(enable = "avx2,fma,bmi1,bmi2,lzcnt,movbe,f16c")]
    pub(super) fn exponential_v3(s: &[f32], t: &[i64], now: i64, neg_inv: f64, out: &mut [f32]) {
        exponential_body(s, t, now, neg_inv, out);
    }

    #[target_feature(
        enable = "avx2,fma,bmi1,bmi2,lzcnt,movbe,f16c,avx512f,avx512bw,avx512cd,avx512dq,avx512vl"
    )]
    pub(super) fn exponential_v4(s: &[f32], t: &[i64], now: i64, neg_inv: f64, out: &mut [f32]) {
        exponential_body(s, t, now, neg_inv, out);
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
        assert!(worst < 7.1e-9, "worst relative error {worst}");
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
            CpuLevel::Baseline,
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
        // future, saturation (i64::MIN) and exponents below the −300 clamp.
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
            let reference = run(CpuLevel::Baseline);
            for level in CpuLevel::supported() {
                assert_eq!(run(level), reference, "{level}, half-life {half_life_secs}");
            }
        }
    }

    #[test]
    fn ages_never_go_negative_or_overflow() {
        assert_eq!(age_secs(10, 4), 6.0);
        assert_eq!(age_secs(4, 10), 0.0);
        assert_eq!(age_secs(i64::MAX, i64::MIN), i64::MAX as f64);
        assert_eq!(age_secs(i64::MIN, i64::MAX), 0.0);
    }
}
