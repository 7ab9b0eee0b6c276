//! Similarity through `ek_dot_f32` / `ek_cosine_f32` / `ek_dot_f16`.

use super::ffi::LevelFns;
use crate::{EmbeddingsView, F16EmbeddingsView};

/// `out[i] = dot(query, row i)`.
pub(crate) fn dot_rows(fns: &LevelFns, query: &[f32], rows: EmbeddingsView<'_>, out: &mut [f32]) {
    assert!(query.len() == rows.dim() && out.len() == rows.rows());
    super::count_call(fns.dot as usize);
    // SAFETY: query has `dim` floats and out has `rows` (asserted); the view holds exactly
    // rows × dim floats (EmbeddingsView invariant) and dim > 0. `out` is a unique borrow, so
    // it overlaps neither input. `fns` is a level this CPU supports (Kernels invariant).
    unsafe {
        (fns.dot)(
            query.as_ptr(),
            rows.as_flat().as_ptr(),
            rows.rows(),
            rows.dim(),
            out.as_mut_ptr(),
        );
    }
}

/// `out[i] = cosine(query, row i)`, with the view's norms if it has them.
pub(crate) fn cosine_rows(
    fns: &LevelFns,
    query: &[f32],
    query_norm: f32,
    rows: EmbeddingsView<'_>,
    out: &mut [f32],
) {
    assert!(query.len() == rows.dim() && out.len() == rows.rows());
    let norms = rows.norms().map_or(std::ptr::null(), <[f32]>::as_ptr);
    super::count_call(fns.cosine as usize);
    // SAFETY: as in `dot_rows`; `norms` is null or has `rows` floats (EmbeddingsView invariant).
    unsafe {
        (fns.cosine)(
            query.as_ptr(),
            query_norm,
            rows.as_flat().as_ptr(),
            norms,
            rows.rows(),
            rows.dim(),
            out.as_mut_ptr(),
        );
    }
}

/// `out[i] = dot(query, row i widened to f32)`, over f16 codes.
pub(crate) fn dot_f16_rows(
    fns: &LevelFns,
    query: &[f32],
    rows: F16EmbeddingsView<'_>,
    out: &mut [f32],
) {
    assert!(query.len() == rows.dim() && out.len() == rows.rows());
    super::count_call(fns.dot_f16 as usize);
    // SAFETY: query has `dim` floats and out has `rows` (asserted); the view holds exactly
    // rows × dim codes (F16EmbeddingsView invariant) and dim > 0. `out` is a unique borrow,
    // so it overlaps neither input. `fns` is a level this CPU supports (Kernels invariant).
    unsafe {
        (fns.dot_f16)(
            query.as_ptr(),
            rows.as_flat().as_ptr(),
            rows.rows(),
            rows.dim(),
            out.as_mut_ptr(),
        );
    }
}
