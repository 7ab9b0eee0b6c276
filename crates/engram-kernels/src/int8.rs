//! Embeddings as int8 codes, the way the int8 similarity kernel reads them: `N × D` `i8`,
//! row-major, in one buffer. A row's dot product with an int8 query is computed exactly, in
//! integers, so every backend and CPU level gives the same `i32`.

use crate::{Error, Result};

/// The largest dimension an int8 view accepts: 131,071 (`zig/src/shared.zon`). Each product of two `i8` is at most
/// 128 · 128 = 16,384 in magnitude, so any partial sum of at most this many of them stays
/// within `i32` (16,384 · 131,071 = 2,147,467,264 ≤ `i32::MAX`), in any order: the kernels may
/// add in whatever order is fastest and still agree exactly.
pub const MAX_INT8_DIM: usize = crate::shared::INT8_MAX_DIM;

// The bound is the one that cannot overflow (the Zig kernels assert the same of it).
const _: () = assert!(MAX_INT8_DIM == (i32::MAX as usize) / (128 * 128));

/// A borrowed, validated view of `rows × dim` int8 codes: what [`Kernels::dot_i8`] takes.
///
/// Building one checks only lengths (O(1)); every `i8` value, −128 included, is a valid code.
///
/// [`Kernels::dot_i8`]: crate::Kernels::dot_i8
#[derive(Debug, Clone, Copy)]
pub struct Int8EmbeddingsView<'a> {
    codes: &'a [i8],
    dim: usize,
}

impl<'a> Int8EmbeddingsView<'a> {
    /// A view of `codes` as rows of `dim` codes.
    ///
    /// # Errors
    /// [`Error::ZeroDimension`] if `dim` is 0; [`Error::DimensionTooLarge`] above
    /// [`MAX_INT8_DIM`]; [`Error::RaggedRows`] if `codes.len()` is not a multiple of `dim`.
    pub fn new(codes: &'a [i8], dim: usize) -> Result<Self> {
        if dim == 0 {
            return Err(Error::ZeroDimension);
        }
        if dim > MAX_INT8_DIM {
            return Err(Error::DimensionTooLarge {
                dim,
                max: MAX_INT8_DIM,
            });
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

    /// Codes per row (`D`), from 1 to [`MAX_INT8_DIM`].
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The whole buffer, `rows × dim` codes, row-major.
    pub fn as_flat(&self) -> &'a [i8] {
        self.codes
    }

    /// Row `i`, or `None` past the end.
    pub fn row(&self, i: usize) -> Option<&'a [i8]> {
        crate::embeddings::row_of(self.codes, self.dim, i)
    }

    /// The view of rows `range`, or `None` if the range is not within `0..rows()`. O(1), no
    /// copy.
    pub fn rows_range(&self, range: std::ops::Range<usize>) -> Option<Int8EmbeddingsView<'a>> {
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

    #[test]
    fn the_dimension_bound_is_the_largest_that_cannot_overflow() {
        assert_eq!(MAX_INT8_DIM, 131_071);
        let worst = 128 * 128 * MAX_INT8_DIM as i64;
        assert!(worst <= i64::from(i32::MAX));
        assert!(worst + 128 * 128 > i64::from(i32::MAX));
    }

    #[test]
    fn views_check_their_shape() {
        let codes = [1i8, -2, 3, -128, 127, 0];
        let view = Int8EmbeddingsView::new(&codes, 3).expect("2 × 3");
        assert_eq!((view.rows(), view.dim()), (2, 3));
        assert_eq!(view.row(1), Some(&codes[3..]));
        assert_eq!(view.row(2), None);
        assert_eq!(
            view.rows_range(1..2).map(|v| v.as_flat()),
            Some(&codes[3..])
        );
        assert!(view.rows_range(1..3).is_none());
        assert_eq!(
            Int8EmbeddingsView::new(&codes, 0).err(),
            Some(Error::ZeroDimension)
        );
        assert_eq!(
            Int8EmbeddingsView::new(&codes, 4).err(),
            Some(Error::RaggedRows { len: 6, dim: 4 })
        );
        assert_eq!(
            Int8EmbeddingsView::new(&[], MAX_INT8_DIM + 1).err(),
            Some(Error::DimensionTooLarge {
                dim: MAX_INT8_DIM + 1,
                max: MAX_INT8_DIM
            })
        );
        assert_eq!(
            Int8EmbeddingsView::new(&[], MAX_INT8_DIM).map(|v| v.rows()),
            Ok(0)
        );
    }
}
