//! Retention: base strength decayed by age, computed on read.
//!
//! The exponential curve uses a branch-free `2^x` (range reduction by rounding, a degree-7
//! polynomial, exponent bits) that compilers vectorize, instead of one libm call per element.
//! `zig/src/decay.zig` performs the same operations with the same constants, so the two
//! backends agree bit for bit.

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

/// `out[i] = retention(strengths[i], age of last_access[i] at now)`. Lengths checked by the caller.
pub(crate) fn retention_batch(
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
            for ((&s, &t), r) in strengths.iter().zip(last_access).zip(out) {
                let factor = exp2_nonpositive(exponent(age_secs(now, t), neg_inv));
                *r = (f64::from(s) * factor) as f32;
            }
        }
        CurveShape::PowerLaw { .. } => {
            for ((&s, &t), r) in strengths.iter().zip(last_access).zip(out) {
                *r = retention(s, age_secs(now, t), shape);
            }
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
        retention_batch(&[0.75, 0.75], &[10, 9], 10, shape, &mut out);
        assert_eq!(out, [0.75, 0.0]);
    }

    #[test]
    fn ages_never_go_negative_or_overflow() {
        assert_eq!(age_secs(10, 4), 6.0);
        assert_eq!(age_secs(4, 10), 0.0);
        assert_eq!(age_secs(i64::MAX, i64::MIN), i64::MAX as f64);
        assert_eq!(age_secs(i64::MIN, i64::MAX), 0.0);
    }
}
