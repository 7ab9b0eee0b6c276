//! Spreading activation, push style, in CSR edge order.

use crate::{Csr, SpreadOutcome, SpreadParams};

/// Runs `params.hops()` hops from `initial` into `out`, using `scratch` for the other of the
/// two activation vectors. All slices have `graph.nodes()` entries (checked by the caller);
/// `initial` holds values in `[0, 1]`.
pub(crate) fn spread(
    graph: &Csr,
    initial: &[f32],
    params: &SpreadParams,
    out: &mut [f32],
    scratch: &mut [f32],
) -> SpreadOutcome {
    let (targets, weights) = (graph.targets(), graph.weights());
    let (decay, threshold) = (params.decay(), params.threshold());
    out.copy_from_slice(initial);
    let mut src: &mut [f32] = out;
    let mut dst: &mut [f32] = scratch;
    let mut edges_traversed = 0u64;
    for _ in 0..params.hops() {
        // dst first collects each node's weighted input, then becomes the next activations.
        dst.fill(0.0);
        for (u, range) in graph.offsets().windows(2).enumerate() {
            let x = src[u];
            if x > 0.0 && x >= threshold {
                // In range: offsets end at targets.len(), which fits in usize.
                let (begin, end) = (range[0] as usize, range[1] as usize);
                for (&v, &w) in targets[begin..end].iter().zip(&weights[begin..end]) {
                    dst[v as usize] += w * x;
                }
                edges_traversed += range[1] - range[0];
            }
        }
        for (next, &prev) in dst.iter_mut().zip(src.iter()) {
            *next = clamp_unit(prev + decay * *next);
        }
        std::mem::swap(&mut src, &mut dst);
    }
    // After an odd number of hops the result is in `scratch` (now `src`) and `dst` is `out`.
    if params.hops() % 2 == 1 {
        dst.copy_from_slice(src);
        src = dst;
    }
    let active_nodes = src.iter().filter(|&&a| a > 0.0).count();
    SpreadOutcome {
        edges_traversed,
        active_nodes,
    }
}

/// Clamp to `[0, 1]`. Sums are never NaN: weights are bounded (see `MAX_ABS_WEIGHT`).
fn clamp_unit(x: f32) -> f32 {
    x.clamp(0.0, 1.0)
}
