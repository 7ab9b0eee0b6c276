//! How well a scan of codes finds the exact top k: the recall@k of "scan the codes, keep the
//! best R candidates, rescore them with exact f32 cosine, keep the best k", against the exact
//! f32 top k, for several R. This is the measurement issue 18 asks for before a store keeps
//! codes: it says which scheme reaches ≥ 0.99 and at what R.

use engram_kernels::{EmbeddingMatrix, Error, F16EmbeddingsView, Int8EmbeddingsView, Kernels};

/// A precision a scan can read instead of the f32 rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    /// `Kernels::quantize_i8`'s codes (one symmetric scale per row), scanned against the cue's
    /// own codes with `Kernels::dot_i8`.
    Int8,
    /// `Kernels::quantize_f16`'s codes (one power-of-two scale per row), scanned against the
    /// f32 cue with `Kernels::dot_f16`.
    F16,
}

impl Precision {
    /// Its name in tables.
    pub fn name(self) -> &'static str {
        match self {
            Precision::Int8 => "int8 (per-row scale)",
            Precision::F16 => "f16 (per-row power of two)",
        }
    }
}

/// A matrix's codes at one precision, made once, scanned for every cue.
pub struct Codes {
    precision: Precision,
    dim: usize,
    int8: Vec<i8>,
    f16: Vec<u16>,
    /// Per row: the code scale over the row's f32 norm (0 for a zero row), so that a code dot
    /// times it ranks rows as their cosine does, up to the codes' error.
    factors: Vec<f32>,
}

impl Codes {
    /// The codes of every row of `matrix`.
    ///
    /// # Errors
    /// As `Kernels::quantize_i8` and `quantize_f16` (a non-finite value).
    pub fn new(
        kernels: &Kernels,
        matrix: &EmbeddingMatrix,
        precision: Precision,
    ) -> Result<Self, Error> {
        let (rows, dim) = (matrix.rows(), matrix.dim());
        let mut scales = vec![0.0f32; rows];
        let (mut int8, mut f16) = (Vec::new(), Vec::new());
        match precision {
            Precision::Int8 => {
                int8 = vec![0i8; rows * dim];
                kernels.quantize_i8(matrix.view(), &mut int8, &mut scales)?;
            }
            Precision::F16 => {
                f16 = vec![0u16; rows * dim];
                kernels.quantize_f16(matrix.view(), &mut f16, &mut scales)?;
            }
        }
        let factors = scales
            .iter()
            .zip(matrix.norms())
            .map(|(&s, &n)| if n > 0.0 { s / n } else { 0.0 })
            .collect();
        Ok(Self {
            precision,
            dim,
            int8,
            f16,
            factors,
        })
    }

    /// Bytes the scan reads per row (the codes; the per-row factor is 4 more).
    pub fn bytes_per_row(&self) -> usize {
        match self.precision {
            Precision::Int8 => self.dim,
            Precision::F16 => 2 * self.dim,
        }
    }

    /// Every row's approximate score for `cue` (same order as the cosine, not the same scale),
    /// in `out`, using `scratch` for the integer dots.
    ///
    /// # Errors
    /// As the kernels (a cue of the wrong length or with a non-finite value).
    pub fn scores(
        &self,
        kernels: &Kernels,
        cue: &[f32],
        scratch: &mut Vec<i32>,
        out: &mut [f32],
    ) -> Result<(), Error> {
        match self.precision {
            Precision::Int8 => {
                let cue_view = engram_kernels::EmbeddingsView::new(cue, self.dim)?;
                let mut cue_codes = vec![0i8; self.dim];
                let mut cue_scale = [0.0f32];
                kernels.quantize_i8(cue_view, &mut cue_codes, &mut cue_scale)?;
                let view = Int8EmbeddingsView::new(&self.int8, self.dim)?;
                scratch.resize(self.factors.len(), 0);
                kernels.dot_i8(&cue_codes, view, scratch)?;
                let scored = out.iter_mut().zip(scratch.iter()).zip(&self.factors);
                for ((score, &dot), &factor) in scored {
                    *score = dot as f32 * factor;
                }
            }
            Precision::F16 => {
                let view = F16EmbeddingsView::new(&self.f16, self.dim)?;
                kernels.dot_f16(cue, view, out)?;
                for (score, &factor) in out.iter_mut().zip(&self.factors) {
                    *score *= factor;
                }
            }
        }
        Ok(())
    }
}

/// Indices of the `n` largest scores, best first; ties go to the lower index; NaN scores are
/// never chosen.
pub fn top(scores: &[f32], n: usize) -> Vec<u32> {
    let better = |a: &u32, b: &u32| {
        let (x, y) = (scores[*a as usize], scores[*b as usize]);
        y.total_cmp(&x).then(a.cmp(b))
    };
    let mut order: Vec<u32> = (0..scores.len() as u32)
        .filter(|&i| !scores[i as usize].is_nan())
        .collect();
    let n = n.min(order.len());
    if n < order.len() && n > 0 {
        order.select_nth_unstable_by(n - 1, better);
    }
    order.truncate(n);
    order.sort_unstable_by(better);
    order
}

/// The mean recall@`k`, over `cues`, of code candidates rescored exactly, for each R in
/// `candidates` (each ≥ `k`): the fraction of the exact top `k` (f32 cosine) that the best `k`
/// of the R best code scores, reordered by their exact cosine, contain.
///
/// # Errors
/// As the kernels.
pub fn recall_at_k(
    kernels: &Kernels,
    matrix: &EmbeddingMatrix,
    codes: &Codes,
    cues: &[Vec<f32>],
    k: usize,
    candidates: &[usize],
) -> Result<Vec<f64>, Error> {
    let rows = matrix.rows();
    let (mut exact, mut approx) = (vec![0.0f32; rows], vec![0.0f32; rows]);
    let mut scratch = Vec::new();
    let mut found = vec![0usize; candidates.len()];
    for cue in cues {
        kernels.cosine(cue, matrix.view(), &mut exact)?;
        codes.scores(kernels, cue, &mut scratch, &mut approx)?;
        let truth = top(&exact, k);
        let widest = candidates.iter().copied().max().unwrap_or(k);
        let ranked = top(&approx, widest);
        for (found, &r) in found.iter_mut().zip(candidates) {
            let mut kept: Vec<u32> = ranked[..r.min(ranked.len())].to_vec();
            kept.sort_unstable_by(|a, b| {
                exact[*b as usize]
                    .total_cmp(&exact[*a as usize])
                    .then(a.cmp(b))
            });
            kept.truncate(k);
            *found += kept.iter().filter(|i| truth.contains(i)).count();
        }
    }
    let total = (cues.len() * k.min(rows)).max(1) as f64;
    Ok(found.into_iter().map(|f| f as f64 / total).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload;

    #[test]
    fn top_orders_best_first_breaks_ties_by_index_and_skips_nan() {
        let scores = [0.5, f32::NAN, 0.9, 0.5, -1.0, 0.9];
        assert_eq!(top(&scores, 3), [2, 5, 0]);
        assert_eq!(top(&scores, 10), [2, 5, 0, 3, 4]);
        assert_eq!(top(&scores, 0), Vec::<u32>::new());
    }

    #[test]
    fn code_candidates_find_most_of_the_top_10_and_all_of_it_with_every_row() {
        let kernels = Kernels::rust();
        let matrix = workload::embeddings(2_000, 64, 3).expect("matrix");
        let cues: Vec<Vec<f32>> = (0..20).map(|i| workload::query(64, 100 + i)).collect();
        for precision in [Precision::Int8, Precision::F16] {
            let codes = Codes::new(&kernels, &matrix, precision).expect("codes");
            let recall = recall_at_k(&kernels, &matrix, &codes, &cues, 10, &[10, 100, 2_000])
                .expect("recall");
            // Every row a candidate: rescoring gives the exact answer.
            assert_eq!(recall[2], 1.0);
            assert!(recall[0] > 0.5 && recall[0] <= recall[1], "{recall:?}");
            assert!(recall[1] >= 0.95, "{recall:?}");
        }
    }
}
