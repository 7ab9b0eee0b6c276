//! Retention through `ek_decay_exponential` / `ek_decay_power_law`.

use super::ffi::LevelFns;
use crate::params::CurveShape;

/// `out[i] = retention(strengths[i], age of last_access[i] at now)`.
pub(crate) fn retention_batch(
    fns: &LevelFns,
    strengths: &[f32],
    last_access: &[i64],
    now: i64,
    shape: CurveShape,
    out: &mut [f32],
) {
    let n = strengths.len();
    assert!(last_access.len() == n && out.len() == n);
    let (s, t, o) = (strengths.as_ptr(), last_access.as_ptr(), out.as_mut_ptr());
    super::count_call(match shape {
        CurveShape::Exponential { .. } => fns.decay_exponential as usize,
        CurveShape::PowerLaw { .. } => fns.decay_power_law as usize,
    });
    // SAFETY: the three slices have n elements (asserted) and `out` is a unique borrow; the
    // curve's parameters are finite and > 0 (DecayCurve invariant); `fns` is a level this CPU
    // supports.
    unsafe {
        match shape {
            CurveShape::Exponential { half_life_secs } => {
                (fns.decay_exponential)(s, t, n, now, half_life_secs, o);
            }
            CurveShape::PowerLaw {
                scale_secs,
                exponent,
            } => {
                (fns.decay_power_law)(s, t, n, now, scale_secs, exponent, o);
            }
        }
    }
}
