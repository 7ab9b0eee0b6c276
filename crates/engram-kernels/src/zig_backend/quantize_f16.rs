//! F16 quantization through `ek_quantize_f16`.

use super::ffi::LevelFns;
use crate::EmbeddingsView;

/// The codes (rows × dim) and one scale per row of `rows`, whose values are all finite.
pub(crate) fn quantize_f16_rows(
    fns: &LevelFns,
    rows: EmbeddingsView<'_>,
    codes: &mut [u16],
    scales: &mut [f32],
) {
    assert!(codes.len() == rows.as_flat().len() && scales.len() == rows.rows());
    super::count_call(fns.quantize_f16 as usize);
    // SAFETY: the view holds rows × dim floats with dim > 0 (EmbeddingsView invariant), all
    // finite (checked by the caller); codes and scales have rows × dim and rows slots
    // (asserted) and are unique borrows, so they overlap nothing. `fns` is a level this CPU
    // supports (Kernels invariant).
    unsafe {
        (fns.quantize_f16)(
            rows.as_flat().as_ptr(),
            rows.rows(),
            rows.dim(),
            codes.as_mut_ptr(),
            scales.as_mut_ptr(),
        );
    }
}
