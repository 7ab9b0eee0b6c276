//! Embeddings stored the way the similarity kernels read them: `N × D` f32, row-major, in one
//! buffer, optionally with one precomputed L2 norm per row.

use crate::{Error, Result};

/// The L2 norm every part of the crate uses for a query and for precomputed row norms:
/// squares summed in f64 (no overflow or underflow for any finite f32 input, and no
/// dependence on the backend), square root in f64, rounded once to f32. NaN in → NaN out.
pub fn l2_norm(v: &[f32]) -> f32 {
    let squares: f64 = v.iter().map(|&x| f64::from(x) * f64::from(x)).sum();
    squares.sqrt() as f32
}

/// Row `i` of `data` cut into rows of `dim`, or `None` past the end (shared by the views).
pub(crate) fn row_of<T>(data: &[T], dim: usize, i: usize) -> Option<&[T]> {
    let start = i.checked_mul(dim)?;
    data.get(start..start.checked_add(dim)?)
}

/// A borrowed, validated view of `rows × dim` embeddings: what the similarity kernels take.
///
/// Building one checks only lengths (O(1)), so a caller that owns its buffers — an engine
/// with its own `Vec<f32>` — can hand them to the kernels without copying. Norms, when
/// given, are trusted: a wrong norm gives a wrong score, never undefined behaviour.
#[derive(Debug, Clone, Copy)]
pub struct EmbeddingsView<'a> {
    data: &'a [f32],
    dim: usize,
    norms: Option<&'a [f32]>,
}

impl<'a> EmbeddingsView<'a> {
    /// A view of `data` as rows of `dim` floats, without precomputed norms (the cosine kernel
    /// then computes each row's norm in the same pass as its dot product).
    ///
    /// # Errors
    /// [`Error::ZeroDimension`] if `dim` is 0, [`Error::RaggedRows`] if `data.len()` is not a
    /// multiple of `dim`.
    pub fn new(data: &'a [f32], dim: usize) -> Result<Self> {
        if dim == 0 {
            return Err(Error::ZeroDimension);
        }
        if !data.len().is_multiple_of(dim) {
            return Err(Error::RaggedRows {
                len: data.len(),
                dim,
            });
        }
        Ok(Self {
            data,
            dim,
            norms: None,
        })
    }

    /// The same view with one precomputed L2 norm per row (see [`l2_norm`]), so that the
    /// cosine kernel reads each row exactly once and computes no norm.
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] unless `norms.len()` equals [`rows`](Self::rows).
    pub fn with_norms(self, norms: &'a [f32]) -> Result<Self> {
        if norms.len() != self.rows() {
            return Err(Error::LengthMismatch {
                what: "row norms",
                expected: self.rows(),
                actual: norms.len(),
            });
        }
        Ok(Self {
            norms: Some(norms),
            ..self
        })
    }

    /// Number of rows (`N`).
    pub fn rows(&self) -> usize {
        self.data.len() / self.dim
    }

    /// Floats per row (`D`), at least 1.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The whole buffer, `rows × dim` floats, row-major.
    pub fn as_flat(&self) -> &'a [f32] {
        self.data
    }

    /// The precomputed norms, if the view has them.
    pub fn norms(&self) -> Option<&'a [f32]> {
        self.norms
    }

    /// Row `i`, or `None` past the end.
    pub fn row(&self, i: usize) -> Option<&'a [f32]> {
        row_of(self.data, self.dim, i)
    }

    /// The view of rows `range` (with their norms, if any), or `None` if the range is not
    /// within `0..rows()`. O(1), no copy.
    pub fn rows_range(&self, range: std::ops::Range<usize>) -> Option<EmbeddingsView<'a>> {
        if range.start > range.end || range.end > self.rows() {
            return None;
        }
        let data = &self.data[range.start * self.dim..range.end * self.dim];
        let norms = self.norms.map(|norms| &norms[range.clone()]);
        Some(EmbeddingsView {
            data,
            dim: self.dim,
            norms,
        })
    }
}

/// Owned embeddings of one dimension, contiguous and row-major, with their norms kept up to
/// date, so every cosine call can use precomputed norms.
#[derive(Debug, Clone, PartialEq)]
pub struct EmbeddingMatrix {
    data: Vec<f32>,
    norms: Vec<f32>,
    dim: usize,
}

impl EmbeddingMatrix {
    /// An empty matrix of rows of `dim` floats.
    ///
    /// # Errors
    /// [`Error::ZeroDimension`] if `dim` is 0.
    pub fn new(dim: usize) -> Result<Self> {
        Self::with_capacity(dim, 0)
    }

    /// An empty matrix with room for `rows` rows before it reallocates.
    ///
    /// # Errors
    /// [`Error::ZeroDimension`] if `dim` is 0; [`Error::SizeOverflow`] if `rows × dim`
    /// overflows `usize`.
    pub fn with_capacity(dim: usize, rows: usize) -> Result<Self> {
        if dim == 0 {
            return Err(Error::ZeroDimension);
        }
        let floats = rows.checked_mul(dim).ok_or(Error::SizeOverflow {
            what: "rows × dim"
        })?;
        Ok(Self {
            data: Vec::with_capacity(floats),
            norms: Vec::with_capacity(rows),
            dim,
        })
    }

    /// Takes ownership of a flat row-major buffer (no copy) and computes each row's norm.
    ///
    /// # Errors
    /// As [`EmbeddingsView::new`].
    pub fn from_flat(data: Vec<f32>, dim: usize) -> Result<Self> {
        let view = EmbeddingsView::new(&data, dim)?;
        let norms = data.chunks_exact(view.dim()).map(l2_norm).collect();
        Ok(Self { data, norms, dim })
    }

    /// Appends one row.
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] unless `row.len()` equals [`dim`](Self::dim); nothing is
    /// appended then.
    pub fn push(&mut self, row: &[f32]) -> Result<()> {
        if row.len() != self.dim {
            return Err(Error::LengthMismatch {
                what: "row",
                expected: self.dim,
                actual: row.len(),
            });
        }
        self.data.extend_from_slice(row);
        self.norms.push(l2_norm(row));
        Ok(())
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.norms.len()
    }

    /// Floats per row.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Whether the matrix has no rows.
    pub fn is_empty(&self) -> bool {
        self.norms.is_empty()
    }

    /// The whole buffer, row-major.
    pub fn as_flat(&self) -> &[f32] {
        &self.data
    }

    /// One L2 norm per row, as computed by [`l2_norm`].
    pub fn norms(&self) -> &[f32] {
        &self.norms
    }

    /// Row `i`, or `None` past the end.
    pub fn row(&self, i: usize) -> Option<&[f32]> {
        self.view().row(i)
    }

    /// A view with the precomputed norms, for the kernels.
    pub fn view(&self) -> EmbeddingsView<'_> {
        EmbeddingsView {
            data: &self.data,
            dim: self.dim,
            norms: Some(&self.norms),
        }
    }

    /// Gives the flat buffer back.
    pub fn into_flat(self) -> Vec<f32> {
        self.data
    }
}

impl<'a> From<&'a EmbeddingMatrix> for EmbeddingsView<'a> {
    fn from(matrix: &'a EmbeddingMatrix) -> Self {
        matrix.view()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn norm_is_exact_for_a_pythagorean_triple_and_survives_huge_values() {
        assert_eq!(l2_norm(&[3.0, 4.0]), 5.0);
        assert_eq!(l2_norm(&[]), 0.0);
        // 1e30² overflows f32 but not the f64 sum.
        assert_eq!(l2_norm(&[3e30, 4e30]), 5e30);
        assert!(l2_norm(&[1.0, f32::NAN]).is_nan());
    }

    #[test]
    fn view_checks_shape() {
        let data = [0.0f32; 6];
        assert_eq!(
            EmbeddingsView::new(&data, 0).err(),
            Some(Error::ZeroDimension)
        );
        assert_eq!(
            EmbeddingsView::new(&data, 4).err(),
            Some(Error::RaggedRows { len: 6, dim: 4 })
        );
        let view = EmbeddingsView::new(&data, 3).expect("6 = 2 × 3");
        assert_eq!((view.rows(), view.dim()), (2, 3));
        assert_eq!(
            view.with_norms(&[1.0]).err(),
            Some(Error::LengthMismatch {
                what: "row norms",
                expected: 2,
                actual: 1
            })
        );
        assert!(view.row(2).is_none());
        assert!(view.row(usize::MAX).is_none());
        let tail = view.rows_range(1..2).expect("in range");
        assert_eq!((tail.rows(), tail.row(0)), (1, view.row(1)));
        assert!(view.rows_range(1..3).is_none());
        assert!(view.rows_range(2..2).is_some_and(|v| v.rows() == 0));
    }

    #[test]
    fn matrix_keeps_norms_in_step_with_rows() {
        let mut m = EmbeddingMatrix::new(2).expect("dim 2");
        m.push(&[3.0, 4.0]).expect("right length");
        assert_eq!(
            m.push(&[1.0]),
            Err(Error::LengthMismatch {
                what: "row",
                expected: 2,
                actual: 1
            })
        );
        m.push(&[0.0, 2.0]).expect("right length");
        assert_eq!(m.norms(), &[5.0, 2.0]);
        assert_eq!(m.row(1), Some(&[0.0, 2.0][..]));
        let from_flat = EmbeddingMatrix::from_flat(m.as_flat().to_vec(), 2).expect("4 = 2 × 2");
        assert_eq!(from_flat, m);
    }

    #[test]
    fn capacity_overflow_is_an_error() {
        assert_eq!(
            EmbeddingMatrix::with_capacity(usize::MAX / 2, 3).err(),
            Some(Error::SizeOverflow {
                what: "rows × dim"
            })
        );
    }
}
