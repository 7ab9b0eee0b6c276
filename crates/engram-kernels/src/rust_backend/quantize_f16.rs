//! f32 embeddings to f16 codes, one power-of-two scale per row: `scale` is the largest power
//! of two not above `max|x|` (so `max|x| / scale` is in [1, 2)), and `code = f16(x / scale)`,
//! rounded to nearest even. Dividing by a power of two is exact (in f64, where no quotient is
//! subnormal), so each code is the f16 rounding of the row's own value, only moved into
//! f16's range: no row overflows to ∞ and small rows keep f16's full precision. The same
//! operations as the Zig kernel, so both give the same codes.

use crate::cpu::Supported;
use crate::f16::f32_to_f16_bits;
use crate::{CpuLevel, EmbeddingsView};

/// The largest power of two not above `max` (> 0, finite): `max` with its mantissa cleared,
/// or, for a subnormal, its highest set bit.
#[inline(always)]
pub(crate) fn power_of_two_floor(max: f32) -> f32 {
    let bits = max.to_bits();
    if bits >= 0x0080_0000 {
        f32::from_bits(bits & 0x7f80_0000)
    } else {
        f32::from_bits(1 << (31 - bits.leading_zeros()))
    }
}

/// Codes and scale of one row, every value finite (checked by the caller).
#[inline(always)]
fn quantize_row(row: &[f32], codes: &mut [u16]) -> f32 {
    let max = row.iter().fold(0.0f32, |m, &x| m.max(x.abs()));
    if max == 0.0 {
        codes.fill(0);
        return 0.0;
    }
    let scale = power_of_two_floor(max);
    // A power of two from 2^-149 to 2^127: its reciprocal is exact in f64.
    let inverse = 1.0 / f64::from(scale);
    for (code, &x) in codes.iter_mut().zip(row) {
        // |x · inverse| < 2: exact in f64, and exact in f32 unless below 2^-126, where it is
        // far below f16's smallest value (2^-24) and becomes 0 either way.
        *code = f32_to_f16_bits((f64::from(x) * inverse) as f32);
    }
    scale
}

/// `codes` (rows × dim) and `scales` (one per row) of `rows`, whose values are all finite,
/// at `level`, which this CPU supports; lengths were checked by the caller. Every level runs
/// the same operations (no FMA, no reordering), so the codes are the same bits.
pub(crate) fn quantize_f16_rows(
    level: Supported,
    rows: EmbeddingsView<'_>,
    codes: &mut [u16],
    scales: &mut [f32],
) {
    match level.get() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: a `Supported` level is one this CPU was found to support, so every
        // instruction the level enables exists.
        CpuLevel::X86_64V4 => unsafe { x86::rows_v4(rows, codes, scales) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above.
        CpuLevel::X86_64V3 => unsafe { x86::rows_v3(rows, codes, scales) },
        _ => rows_body(rows, codes, scales),
    }
}

/// The body compiled for x86-64-v3 and v4, where the compiler may use wider vectors.
#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{EmbeddingsView, rows_body};

    at_x86_64_v3! {
        pub(super) fn rows_v3(rows: EmbeddingsView<'_>, codes: &mut [u16], scales: &mut [f32]) {
            rows_body(rows, codes, scales);
        }
    }

    at_x86_64_v4! {
        pub(super) fn rows_v4(rows: EmbeddingsView<'_>, codes: &mut [u16], scales: &mut [f32]) {
            rows_body(rows, codes, scales);
        }
    }
}

#[inline(always)]
fn rows_body(rows: EmbeddingsView<'_>, codes: &mut [u16], scales: &mut [f32]) {
    let dim = rows.dim();
    let rows_codes = codes.chunks_exact_mut(dim);
    for ((row, codes), scale) in rows.as_flat().chunks_exact(dim).zip(rows_codes).zip(scales) {
        *scale = quantize_row(row, codes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::f16::f16_bits_to_f32;

    fn quantize(flat: &[f32], dim: usize) -> (Vec<u16>, Vec<f32>) {
        let view = EmbeddingsView::new(flat, dim).expect("whole rows");
        let mut codes = vec![0xffff; flat.len()];
        let mut scales = vec![-1.0f32; view.rows()];
        rows_body(view, &mut codes, &mut scales);
        (codes, scales)
    }

    #[test]
    fn scales_are_the_power_of_two_below_the_largest_magnitude() {
        assert_eq!(power_of_two_floor(1.0), 1.0);
        assert_eq!(power_of_two_floor(1.999), 1.0);
        assert_eq!(power_of_two_floor(0.3), 0.25);
        assert_eq!(power_of_two_floor(f32::MAX), 2f32.powi(127));
        assert_eq!(power_of_two_floor(f32::from_bits(1)), f32::from_bits(1));
        assert_eq!(
            power_of_two_floor(f32::from_bits(0x5000)),
            f32::from_bits(0x4000)
        );
        let (codes, scales) = quantize(&[3.0, -1.5, 0.0, 0.75, 1e-9, -3.0], 6);
        assert_eq!(scales, [2.0]);
        // 1.5, -0.75, 0, 0.375 are f16 values; 5e-10 is below f16's smallest (2^-24): 0.
        assert_eq!(codes, [0x3e00, 0xba00, 0, 0x3600, 0, 0xbe00]);
    }

    #[test]
    fn codes_times_the_scale_are_the_f16_rounding_of_each_value() {
        let flat: Vec<f32> = (0..389 * 4)
            .map(|i| (((i * 7919) % 2001) as f32 / 1000.0 - 1.0) * [1.0, 1e-30, 1e30, 7.0][i / 389])
            .collect();
        let (codes, scales) = quantize(&flat, 389);
        for ((row, codes), &scale) in flat.chunks(389).zip(codes.chunks(389)).zip(&scales) {
            for (&x, &c) in row.iter().zip(codes) {
                let expected = half::f16::from_f64(f64::from(x) / f64::from(scale));
                assert_eq!(c, expected.to_bits(), "{x} / {scale}");
                let back = f64::from(f16_bits_to_f32(c)) * f64::from(scale);
                assert!(
                    (back - f64::from(x)).abs()
                        <= f64::from(x.abs()) * 2f64.powi(-11) + f64::from(scale) * 2f64.powi(-25)
                );
            }
        }
    }

    #[test]
    fn zero_rows_have_zero_codes_and_scale_and_extreme_rows_stay_finite() {
        let (codes, scales) = quantize(&[0.0, -0.0, 0.0, 0.0], 2);
        assert_eq!((codes, scales), (vec![0; 4], vec![0.0, 0.0]));
        let tiny = f32::from_bits(3);
        let (codes, scales) = quantize(&[tiny, -tiny, 0.0], 3);
        assert_eq!(scales, [f32::from_bits(2)]);
        assert_eq!(codes, [0x3e00, 0xbe00, 0]);
        let (codes, scales) = quantize(&[f32::MAX, -f32::MAX, 1.0], 3);
        assert_eq!(scales, [2f32.powi(127)]);
        assert_eq!(&codes[..2], [0x4000, 0xc000]);
        assert_eq!(codes[2], 0);
    }
}
