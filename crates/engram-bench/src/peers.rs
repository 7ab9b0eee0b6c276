//! What a user would use instead of `engram-kernels`, each computing the same thing:
//!
//! - the idiomatic Rust a user writes first: iterator sums, adjacency lists, `exp2` per item;
//! - `simsimd`: per-pair cosine, dot with precomputed norms, and the int8 dot;
//! - `faer`: a GEMV (matrix × query) for the dot products, scaled by precomputed norms;
//! - `sprs`: a sparse mat-vec over the transposed graph, the weighted sums of one dense hop.

use engram_kernels::Csr;
use simsimd::SpatialSimilarity;
use sprs::CsMatI;

/// Cosine the way a user writes it first: one iterator sum for the dot, one for the row norm
/// (the query norm computed once), per row.
pub fn idiomatic_cosine(query: &[f32], flat: &[f32], dim: usize, out: &mut [f32]) {
    let query_norm = query.iter().map(|x| x * x).sum::<f32>().sqrt();
    for (row, score) in flat.chunks_exact(dim).zip(out) {
        let dot: f32 = query.iter().zip(row).map(|(a, b)| a * b).sum();
        let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt();
        *score = dot / (query_norm * norm);
    }
}

/// Cosine with simsimd's per-pair function (which returns the cosine distance, 1 − cos).
pub fn simsimd_cosine(query: &[f32], flat: &[f32], dim: usize, out: &mut [f32]) {
    for (row, score) in flat.chunks_exact(dim).zip(out) {
        *score = (1.0 - <f32 as SpatialSimilarity>::cos(query, row).unwrap_or(f64::NAN)) as f32;
    }
}

/// Cosine with simsimd's dot product and precomputed norms (reads each row once).
pub fn simsimd_dot_with_norms(
    query: &[f32],
    query_norm: f32,
    flat: &[f32],
    norms: &[f32],
    dim: usize,
    out: &mut [f32],
) {
    for ((row, norm), score) in flat.chunks_exact(dim).zip(norms).zip(out) {
        *score = (<f32 as SpatialSimilarity>::dot(query, row).unwrap_or(f64::NAN)
            / f64::from(query_norm * norm)) as f32;
    }
}

/// Int8 dot products with simsimd's `i8` dot, per pair (it returns the sum as an `f64`).
pub fn simsimd_dot_i8(query: &[i8], flat: &[i8], dim: usize, out: &mut [i32]) {
    for (row, score) in flat.chunks_exact(dim).zip(out) {
        *score = <i8 as SpatialSimilarity>::dot(query, row).map_or(i32::MIN, |d| d as i32);
    }
}

/// F16 dot products with simsimd's `f16` dot, per pair: both sides f16 (the query rounded to
/// f16 once, before timing), where engram's kernel takes an f32 query and sums in f32.
/// simsimd picks its kernel by CPU; with AVX-512 FP16 (Intel Sapphire Rapids) it also adds in
/// f16, which is faster and less accurate.
pub fn simsimd_dot_f16(query: &[simsimd::f16], flat: &[simsimd::f16], dim: usize, out: &mut [f32]) {
    for (row, score) in flat.chunks_exact(dim).zip(out) {
        *score =
            <simsimd::f16 as SpatialSimilarity>::dot(query, row).map_or(f32::NAN, |d| d as f32);
    }
}

/// Cosine as a faer GEMV (`out = rows × query`, one thread), scaled by precomputed norms.
pub fn faer_gemv_cosine(
    query: &[f32],
    query_norm: f32,
    flat: &[f32],
    norms: &[f32],
    dim: usize,
    out: &mut [f32],
) {
    let rows = norms.len();
    let lhs = faer::MatRef::from_row_major_slice(flat, rows, dim);
    let rhs = faer::MatRef::from_column_major_slice(query, dim, 1);
    let dst = faer::MatMut::from_column_major_slice_mut(out, rows, 1);
    faer::linalg::matmul::matmul(dst, faer::Accum::Replace, lhs, rhs, 1.0f32, faer::Par::Seq);
    for (score, norm) in out.iter_mut().zip(norms) {
        *score /= query_norm * norm;
    }
}

/// A graph the way a user writes it first: one `Vec` of `(target, weight)` per node.
pub fn adjacency_lists(graph: &Csr) -> Vec<Vec<(u32, f32)>> {
    (0..graph.nodes())
        .map(|u| match graph.out_edges(u) {
            Some((targets, weights)) => targets
                .iter()
                .copied()
                .zip(weights.iter().copied())
                .collect(),
            None => Vec::new(),
        })
        .collect()
}

/// One hop of spreading activation over adjacency lists, written the obvious way (same
/// formula as `Kernels::spread` with one hop).
pub fn idiomatic_spread_hop(
    lists: &[Vec<(u32, f32)>],
    src: &[f32],
    dst: &mut [f32],
    decay: f32,
    threshold: f32,
) {
    let mut incoming = vec![0.0f32; src.len()];
    for (u, edges) in lists.iter().enumerate() {
        let x = src[u];
        if x > 0.0 && x >= threshold {
            for &(v, w) in edges {
                incoming[v as usize] += w * x;
            }
        }
    }
    for ((d, s), i) in dst.iter_mut().zip(src).zip(&incoming) {
        *d = (s + decay * i).clamp(0.0, 1.0);
    }
}

/// The transposed graph as an sprs CSR matrix (row v holds v's in-edges), built from arrays
/// whose rows are sorted and distinct (see `workload::transpose`).
///
/// # Errors
/// sprs' structure error, if the rows are not sorted and distinct.
pub fn sprs_matrix(transposed: &Csr) -> Result<CsMatI<f32, u32, usize>, String> {
    let n = transposed.nodes();
    let indptr: Vec<usize> = transposed.offsets().iter().map(|&o| o as usize).collect();
    CsMatI::try_new(
        (n, n),
        indptr,
        transposed.targets().to_vec(),
        transposed.weights().to_vec(),
    )
    .map_err(|(_, _, _, e)| e.to_string())
}

/// The weighted sums of one dense hop as an sprs mat-vec: `sums = Aᵀ · activations`.
pub fn sprs_hop(matrix: &CsMatI<f32, u32, usize>, activations: &[f32], sums: &mut [f32]) {
    sums.fill(0.0);
    sprs::prod::mul_acc_mat_vec_csr(matrix.view(), activations, &mut sums[..]);
}

/// Retention the way a user writes it first: `exp2` per element, in f32.
pub fn idiomatic_retention(
    strengths: &[f32],
    last: &[i64],
    now: i64,
    half_life: f32,
    out: &mut [f32],
) {
    for ((s, t), r) in strengths.iter().zip(last).zip(out) {
        let age = (now - t).max(0) as f32;
        *r = s * (-age / half_life).exp2();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::{self, GraphShape};
    use engram_kernels::{DecayCurve, Kernels, SpreadParams, SpreadWorkspace, l2_norm};

    fn assert_close(a: &[f32], b: &[f32], tol: f32, what: &str) {
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!((x - y).abs() <= tol, "{what} [{i}]: {x} vs {y}");
        }
    }

    #[test]
    fn similarity_peers_compute_the_same_cosines() {
        let (rows, dim) = (300, 97);
        let matrix = workload::embeddings(rows, dim, 1).expect("valid");
        let query = workload::query(dim, 2);
        let qn = l2_norm(&query);
        let mut reference = vec![0.0; rows];
        Kernels::rust()
            .cosine(&query, matrix.view(), &mut reference)
            .expect("valid");
        let (flat, norms) = (matrix.as_flat(), matrix.norms());
        let mut out = vec![0.0; rows];
        idiomatic_cosine(&query, flat, dim, &mut out);
        assert_close(&out, &reference, 1e-5, "idiomatic");
        simsimd_cosine(&query, flat, dim, &mut out);
        assert_close(&out, &reference, 1e-5, "simsimd cos");
        simsimd_dot_with_norms(&query, qn, flat, norms, dim, &mut out);
        assert_close(&out, &reference, 1e-5, "simsimd dot");
        faer_gemv_cosine(&query, qn, flat, norms, dim, &mut out);
        assert_close(&out, &reference, 1e-5, "faer");
    }

    #[test]
    fn simsimd_f16_dot_computes_the_same_dot_as_dot_f16() {
        let kernels = engram_kernels::Kernels::rust();
        let matrix = workload::embeddings(50, 37, 3).expect("valid");
        let (mut codes, mut scales) = (vec![0u16; 50 * 37], vec![0.0f32; 50]);
        kernels
            .quantize_f16(matrix.view(), &mut codes, &mut scales)
            .expect("finite");
        // A query that f16 holds exactly, so both compute the same exact products.
        let query: Vec<f32> = (0..37).map(|i| (i as f32 - 18.0) / 8.0).collect();
        let view = engram_kernels::F16EmbeddingsView::new(&codes, 37).expect("valid");
        let mut ours = vec![0.0f32; 50];
        kernels.dot_f16(&query, view, &mut ours).expect("valid");
        let peer_rows: Vec<simsimd::f16> = codes.iter().map(|&c| simsimd::f16(c)).collect();
        let peer_query: Vec<simsimd::f16> = query
            .iter()
            .map(|&x| simsimd::f16(engram_kernels::f32_to_f16_bits(x)))
            .collect();
        let mut theirs = vec![0.0f32; 50];
        simsimd_dot_f16(&peer_query, &peer_rows, 37, &mut theirs);
        // simsimd may add in f16 (it does with AVX-512 FP16, on Sapphire Rapids): each of
        // its 37 additions may round by 2^-11 of the partial sum.
        for (i, row) in codes.chunks(37).enumerate() {
            let magnitude: f32 = row
                .iter()
                .zip(&query)
                .map(|(&c, q)| (engram_kernels::f16_bits_to_f32(c) * q).abs())
                .sum();
            let bound = 37.0 * 2f32.powi(-11) * magnitude + 1e-6;
            assert!(
                (ours[i] - theirs[i]).abs() <= bound,
                "row {i}: {} vs {}",
                ours[i],
                theirs[i]
            );
        }
    }

    #[test]
    fn spreading_peers_compute_the_same_hop() {
        let g = workload::graph(500, 5000, GraphShape::PowerLaw, 3).expect("valid");
        // Small activations, so that no sum reaches the clamp and the sums can be compared.
        let initial: Vec<f32> = workload::activations(500, 4)
            .iter()
            .map(|a| a * 0.01)
            .collect();
        let params = SpreadParams::new(1, 1.0, 0.0).expect("valid");
        let mut reference = vec![0.0; 500];
        Kernels::rust()
            .spread(
                &g,
                &initial,
                &params,
                &mut reference,
                &mut SpreadWorkspace::new(),
            )
            .expect("valid");
        let mut out = vec![0.0; 500];
        idiomatic_spread_hop(&adjacency_lists(&g), &initial, &mut out, 1.0, 0.0);
        assert_close(&out, &reference, 1e-6, "idiomatic hop");
        let matrix = sprs_matrix(&workload::transpose(&g).expect("valid")).expect("sorted rows");
        let mut sums = vec![0.0; 500];
        sprs_hop(&matrix, &initial, &mut sums);
        let from_sprs: Vec<f32> = initial.iter().zip(&sums).map(|(a, s)| a + s).collect();
        assert_close(&from_sprs, &reference, 1e-6, "sprs");
        assert!(
            reference.iter().all(|a| *a < 1.0),
            "no clamping, so the sums are comparable"
        );
    }

    #[test]
    fn retention_peer_computes_the_same_curve() {
        let (strengths, last) = workload::decay_inputs(1000, 1_000_000_000, 5);
        let mut reference = vec![0.0; 1000];
        let curve = DecayCurve::exponential(86_400.0).expect("valid");
        Kernels::rust()
            .retention(&strengths, &last, 1_000_000_000, &curve, &mut reference)
            .expect("valid");
        let mut out = vec![0.0; 1000];
        idiomatic_retention(&strengths, &last, 1_000_000_000, 86_400.0, &mut out);
        assert_close(&out, &reference, 1e-5, "idiomatic retention");
    }
}
