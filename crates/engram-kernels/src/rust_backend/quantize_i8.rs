//! f32 embeddings to int8 codes, one scale per row (symmetric): `scale = max|x| / 127`, and
//! `code = round(x · 127 / max|x|)`, rounded half to even, evaluated in f64. The rounding is
//! the add-and-subtract of `ROUND_MAGIC` (no library call, exact for |y| < 2⁵¹, and
//! |y| ≤ 127 here), the same operations as the Zig kernel, so both give the same codes.
//!
//! One scale per row, not per dimension: a row's codes depend on that row alone, so a write
//! quantizes only what it adds, and a store never re-quantizes as it grows.

use crate::cpu::Supported;
use crate::shared::ROUND_MAGIC;
use crate::{CpuLevel, EmbeddingsView};

/// The largest code magnitude: codes are in [−127, 127], so a code's negation is a code.
pub(crate) const MAX_CODE: f64 = 127.0;

/// Codes and scale of one row, every value finite (checked by the caller).
#[inline(always)]
fn quantize_row(row: &[f32], codes: &mut [i8]) -> f32 {
    let max = row.iter().fold(0.0f32, |m, &x| m.max(x.abs()));
    if max == 0.0 {
        codes.fill(0);
        return 0.0;
    }
    let factor = MAX_CODE / f64::from(max);
    for (code, &x) in codes.iter_mut().zip(row) {
        let y = f64::from(x) * factor;
        // |y| <= 127 (up to rounding): the sum and difference round y to an integer.
        let rounded = (y + ROUND_MAGIC) - ROUND_MAGIC;
        *code = rounded.clamp(-MAX_CODE, MAX_CODE) as i8;
    }
    (f64::from(max) / MAX_CODE) as f32
}

/// `codes` (rows × dim) and `scales` (one per row) of `rows`, whose values are all finite,
/// at `level`, which this CPU supports; lengths were checked by the caller. Every level runs
/// the same operations (no FMA, no reordering), so the codes are the same bits.
pub(crate) fn quantize_i8_rows(
    level: Supported,
    rows: EmbeddingsView<'_>,
    codes: &mut [i8],
    scales: &mut [f32],
) {
    match level.get() {
        // x86-64-v4 runs the v3 code: compiled for AVX-512 it measured 1.3x slower than for
        // AVX2 (687-730 against 518-547 ns/row, 10k x 384, `engram-bench --quick --only
        // similarity`, Intel Xeon), while v3 is 1.1x faster than the baseline's.
        #[cfg(target_arch = "x86_64")]
        // SAFETY: a `Supported` level is one this CPU was found to support, so every
        // instruction the level enables exists; v4 includes v3.
        CpuLevel::X86_64V4 | CpuLevel::X86_64V3 => unsafe { x86::rows_v3(rows, codes, scales) },
        _ => rows_body(rows, codes, scales),
    }
}

/// The body compiled for x86-64-v3, where the compiler may use wider vectors.
#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{EmbeddingsView, rows_body};

    at_x86_64_v3! {
        pub(super) fn rows_v3(rows: EmbeddingsView<'_>, codes: &mut [i8], scales: &mut [f32]) {
            rows_body(rows, codes, scales);
        }
    }
}

#[inline(always)]
fn rows_body(rows: EmbeddingsView<'_>, codes: &mut [i8], scales: &mut [f32]) {
    let dim = rows.dim();
    let rows_codes = codes.chunks_exact_mut(dim);
    for ((row, codes), scale) in rows.as_flat().chunks_exact(dim).zip(rows_codes).zip(scales) {
        *scale = quantize_row(row, codes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quantize(flat: &[f32], dim: usize) -> (Vec<i8>, Vec<f32>) {
        let view = EmbeddingsView::new(flat, dim).expect("whole rows");
        let mut codes = vec![99i8; flat.len()];
        let mut scales = vec![-1.0f32; view.rows()];
        rows_body(view, &mut codes, &mut scales);
        (codes, scales)
    }

    #[test]
    fn the_largest_magnitude_becomes_127_and_the_rest_round_half_to_even() {
        // max 2: factor 63.5; 1 -> 63.5 -> 64 (even), -1 -> -64, 0.5 -> 31.75 -> 32.
        let (codes, scales) = quantize(&[2.0, 1.0, -1.0, 0.5, -2.0, 0.0], 6);
        assert_eq!(codes, [127, 64, -64, 32, -127, 0]);
        assert_eq!(scales, [2.0 / 127.0]);
        // 3/127 of the max is exactly 3; 2.5/127 -> 2.5 -> 2 (even); 3.5/127 -> 4.
        let m = 127.0f32;
        let (codes, _) = quantize(&[m, 3.0, 2.5, 3.5, -2.5], 5);
        assert_eq!(codes, [127, 3, 2, 4, -2]);
    }

    #[test]
    fn zero_rows_have_zero_codes_and_scale_and_tiny_rows_do_not_overflow() {
        let (codes, scales) = quantize(&[0.0, -0.0, 0.0, 0.0], 2);
        assert_eq!((codes, scales), (vec![0; 4], vec![0.0, 0.0]));
        // The smallest subnormal as the max: 127 / max is about 9e46, fine in f64.
        let tiny = f32::from_bits(1);
        let (codes, scales) = quantize(&[tiny, -tiny, 0.0], 3);
        assert_eq!(codes, [127, -127, 0]);
        // Its scale, 2^-149 / 127, is below half the smallest f32: it rounds to 0.
        assert_eq!(scales[0].to_bits(), 0);
        let (codes, _) = quantize(&[f32::MAX, -f32::MAX, 1.0], 3);
        assert_eq!(codes, [127, -127, 0]);
    }

    #[test]
    fn reconstruction_is_within_half_a_step() {
        let flat: Vec<f32> = (0..389 * 3)
            .map(|i| ((i * 7919) % 2001) as f32 / 1000.0 - 1.0)
            .collect();
        let (codes, scales) = quantize(&flat, 389);
        for ((row, codes), &scale) in flat.chunks(389).zip(codes.chunks(389)).zip(&scales) {
            for (&x, &c) in row.iter().zip(codes) {
                let back = f64::from(c) * f64::from(scale);
                assert!((back - f64::from(x)).abs() <= 0.5 * f64::from(scale) * (1.0 + 1e-6));
            }
        }
    }
}
