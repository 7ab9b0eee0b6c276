//! Embeddings as f16 codes, the way the f16 similarity kernel reads them: `N × D` IEEE 754
//! binary16 values (as their `u16` bit patterns: Rust has no stable `f16` type), row-major, in
//! one buffer; and the two exact conversions both backends use.
//!
//! Widening f16 to f32 is exact, so a dot product over f16 rows is the f32 dot product over the
//! widened rows: [`Kernels::dot_f16`] gives the same bits as [`Kernels::dot`] would on them.
//!
//! [`Kernels::dot_f16`]: crate::Kernels::dot_f16
//! [`Kernels::dot`]: crate::Kernels::dot

use crate::{Error, Result};

/// 2¹¹², the factor between an f16 magnitude's bits shifted into an f32 and its value.
const F16_TO_F32_FACTOR: f32 = f32::from_bits((127 + 112) << 23);

/// The f32 value of the binary16 bit pattern `bits`, exactly (every f16 is an f32). A NaN
/// stays a NaN with the same sign and payload.
///
/// Branch-free, so that loops over rows of codes vectorize: the magnitude's bits, shifted into
/// place, are an f32 2¹¹² times too small (subnormal f16 values become subnormal f32 ones, so
/// the product is exact for them too); an all-ones exponent (∞, NaN) takes the f32's.
#[inline(always)]
pub fn f16_bits_to_f32(bits: u16) -> f32 {
    let magnitude = u32::from(bits & 0x7fff) << 13;
    let sign = u32::from(bits & 0x8000) << 16;
    let finite = f32::from_bits(magnitude) * F16_TO_F32_FACTOR;
    let value = if magnitude >= 0x7c00 << 13 {
        f32::from_bits(magnitude | 0x7f80_0000)
    } else {
        finite
    };
    f32::from_bits(value.to_bits() | sign)
}

/// The binary16 bit pattern nearest to `x`, ties to even (IEEE 754's default rounding, and
/// what F16C's `vcvtps2ph` and Zig's `@floatCast` do): magnitudes from 65,520 up become ±∞, a
/// NaN becomes the quiet NaN `0x7e00` with its sign.
#[inline(always)]
pub fn f32_to_f16_bits(x: f32) -> u16 {
    let bits = x.to_bits();
    let sign = ((bits >> 16) & 0x8000) as u16;
    let magnitude = bits & 0x7fff_ffff;
    let half = if magnitude >= 0x4780_0000 {
        // 65,536 and up, ∞ and NaN. (65,520 up to 65,536 round up to ∞ below.)
        if magnitude > 0x7f80_0000 {
            0x7e00
        } else {
            0x7c00
        }
    } else if magnitude < 0x3880_0000 {
        // Below 2⁻¹⁴, the smallest normal f16: the result is subnormal or zero. Adding 0.5
        // puts the value's bits in the f32 mantissa at the f16 subnormal's scale (2⁻²⁴ per
        // unit), rounded to nearest even by the FPU; subtracting 0.5's bits leaves them.
        const HALF: u32 = 0x3f00_0000;
        (f32::from_bits(magnitude) + f32::from_bits(HALF)).to_bits() - HALF
    } else {
        // Normal: rebias the exponent (127 → 15) and round the 13 dropped bits to nearest
        // even (add 0xfff, plus 1 when the kept part is odd); a carry into the exponent is
        // the right answer, up to ∞.
        let odd = (magnitude >> 13) & 1;
        (magnitude - ((127 - 15) << 23) + 0xfff + odd) >> 13
    } as u16;
    half | sign
}

/// A borrowed, validated view of `rows × dim` f16 codes: what [`Kernels::dot_f16`] takes.
///
/// Building one checks only lengths (O(1)); every bit pattern is a value (NaNs included,
/// which give NaN scores as they would in f32).
///
/// [`Kernels::dot_f16`]: crate::Kernels::dot_f16
#[derive(Debug, Clone, Copy)]
pub struct F16EmbeddingsView<'a> {
    codes: &'a [u16],
    dim: usize,
}

impl<'a> F16EmbeddingsView<'a> {
    /// A view of `codes` (binary16 bit patterns) as rows of `dim` codes.
    ///
    /// # Errors
    /// [`Error::ZeroDimension`] if `dim` is 0; [`Error::RaggedRows`] if `codes.len()` is not a
    /// multiple of `dim`.
    pub fn new(codes: &'a [u16], dim: usize) -> Result<Self> {
        if dim == 0 {
            return Err(Error::ZeroDimension);
        }
        if !codes.len().is_multiple_of(dim) {
            return Err(Error::RaggedRows {
                len: codes.len(),
                dim,
            });
        }
        Ok(Self { codes, dim })
    }

    /// Number of rows (`N`).
    pub fn rows(&self) -> usize {
        self.codes.len() / self.dim
    }

    /// Codes per row (`D`, at least 1).
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The whole buffer, `rows × dim` codes, row-major.
    pub fn as_flat(&self) -> &'a [u16] {
        self.codes
    }

    /// Row `i`, or `None` past the end.
    pub fn row(&self, i: usize) -> Option<&'a [u16]> {
        crate::embeddings::row_of(self.codes, self.dim, i)
    }

    /// The view of rows `range`, or `None` if the range is not within `0..rows()`. O(1), no
    /// copy.
    pub fn rows_range(&self, range: std::ops::Range<usize>) -> Option<F16EmbeddingsView<'a>> {
        if range.start > range.end || range.end > self.rows() {
            return None;
        }
        Some(Self {
            codes: &self.codes[range.start * self.dim..range.end * self.dim],
            dim: self.dim,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use half::f16;

    #[test]
    fn widening_is_exact_for_every_bit_pattern() {
        for bits in 0..=u16::MAX {
            let ours = f16_bits_to_f32(bits);
            let theirs = f16::from_bits(bits).to_f32();
            if theirs.is_nan() {
                assert!(ours.is_nan(), "{bits:#06x}");
                assert_eq!(ours.is_sign_negative(), theirs.is_sign_negative());
            } else {
                assert_eq!(ours.to_bits(), theirs.to_bits(), "{bits:#06x}");
            }
        }
    }

    #[test]
    fn narrowing_rounds_to_nearest_even_like_half() {
        // Every 4099th f32 bit pattern (odd stride: every residue of the 13 dropped bits),
        // plus every f32 near the f16 range's edges and subnormal boundary.
        let edges = [
            0x3380_0000u32,
            0x3880_0000,
            0x477f_e000,
            0x4780_0000,
            0x0000_0000,
        ];
        let near_edges = edges
            .iter()
            .flat_map(|&e| e.saturating_sub(1 << 14)..e + (1 << 14));
        for bits in (0..=u32::MAX).step_by(4099).chain(near_edges) {
            for bits in [bits, bits | 0x8000_0000] {
                let x = f32::from_bits(bits);
                let ours = f32_to_f16_bits(x);
                let theirs = f16::from_f32(x);
                if theirs.is_nan() {
                    assert_eq!(ours, 0x7e00 | (theirs.to_bits() & 0x8000), "{bits:#010x}");
                } else {
                    assert_eq!(ours, theirs.to_bits(), "{bits:#010x}");
                }
            }
        }
        // Ties: 1 + 2⁻¹¹ lies halfway between 1 and the next f16; it goes to the even one (1).
        assert_eq!(f32_to_f16_bits(1.0 + 2f32.powi(-11)), 0x3c00);
        assert_eq!(f32_to_f16_bits(1.0 + 3.0 * 2f32.powi(-11)), 0x3c02);
        assert_eq!(f32_to_f16_bits(65_519.0), 0x7bff);
        assert_eq!(f32_to_f16_bits(65_520.0), 0x7c00);
        assert_eq!(f32_to_f16_bits(-2f32.powi(-25)), 0x8000);
        assert_eq!(f32_to_f16_bits(2f32.powi(-24)), 0x0001);
    }

    #[test]
    fn round_trips_keep_every_f16() {
        for bits in (0..=u16::MAX).filter(|b| b & 0x7c00 != 0x7c00 || b & 0x3ff == 0) {
            assert_eq!(f32_to_f16_bits(f16_bits_to_f32(bits)), bits, "{bits:#06x}");
        }
    }

    #[test]
    fn views_check_their_shape() {
        let codes = [0x3c00u16, 0xbc00, 0, 1, 0x7bff, 0x8000];
        let view = F16EmbeddingsView::new(&codes, 3).expect("2 × 3");
        assert_eq!((view.rows(), view.dim()), (2, 3));
        assert_eq!(view.row(1), Some(&codes[3..]));
        assert_eq!(view.row(2), None);
        assert_eq!(
            view.rows_range(0..1).map(|v| v.as_flat()),
            Some(&codes[..3])
        );
        assert!(view.rows_range(2..3).is_none());
        assert_eq!(
            F16EmbeddingsView::new(&codes, 0).err(),
            Some(Error::ZeroDimension)
        );
        assert_eq!(
            F16EmbeddingsView::new(&codes, 4).err(),
            Some(Error::RaggedRows { len: 6, dim: 4 })
        );
    }
}
