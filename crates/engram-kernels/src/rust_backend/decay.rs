//! Retention: base strength decayed by age, computed on read.

use crate::params::CurveShape;

/// `max(0, now − last_access)` in seconds, saturating rather than overflowing.
pub(crate) fn age_secs(now: i64, last_access: i64) -> f64 {
    now.saturating_sub(last_access).max(0) as f64
}

/// The retention of one memory, in f64, rounded once to f32.
pub(crate) fn retention(strength: f32, age_secs: f64, shape: CurveShape) -> f32 {
    let factor = match shape {
        CurveShape::Exponential { half_life_secs } => (-age_secs / half_life_secs).exp2(),
        CurveShape::PowerLaw {
            scale_secs,
            exponent,
        } => (1.0 + age_secs / scale_secs).powf(-exponent),
    };
    (f64::from(strength) * factor) as f32
}

/// `out[i] = retention(strengths[i], age of last_access[i] at now)`. Lengths checked by the caller.
pub(crate) fn retention_batch(
    strengths: &[f32],
    last_access: &[i64],
    now: i64,
    shape: CurveShape,
    out: &mut [f32],
) {
    for ((&s, &t), r) in strengths.iter().zip(last_access).zip(out) {
        *r = retention(s, age_secs(now, t), shape);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_never_go_negative_or_overflow() {
        assert_eq!(age_secs(10, 4), 6.0);
        assert_eq!(age_secs(4, 10), 0.0);
        assert_eq!(age_secs(i64::MAX, i64::MIN), i64::MAX as f64);
        assert_eq!(age_secs(i64::MIN, i64::MAX), 0.0);
    }
}
