//! Exact int8 dot products through `ek_dot_i8`.

use super::ffi::LevelFns;
use crate::Int8EmbeddingsView;

/// `out[i] = Σ_k query[k] · row_i[k]`, exactly.
pub(crate) fn dot_i8_rows(
    fns: &LevelFns,
    query: &[i8],
    rows: Int8EmbeddingsView<'_>,
    out: &mut [i32],
) {
    assert!(query.len() == rows.dim() && out.len() == rows.rows());
    super::count_call(fns.dot_i8 as usize);
    // SAFETY: query has `dim` codes and out has `rows` slots (asserted); the view holds
    // exactly rows × dim codes with 0 < dim <= MAX_INT8_DIM (Int8EmbeddingsView invariant),
    // so no sum overflows. `out` is a unique borrow, so it overlaps neither input. `fns` is a
    // level this CPU supports (Kernels invariant).
    unsafe {
        (fns.dot_i8)(
            query.as_ptr(),
            rows.as_flat().as_ptr(),
            rows.rows(),
            rows.dim(),
            out.as_mut_ptr(),
        );
    }
}
