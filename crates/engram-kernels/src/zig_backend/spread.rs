//! Spreading activation through `ek_spread_f32`.

use super::ffi::{LevelFns, SpreadTotals};
use crate::{Csr, SpreadOutcome, SpreadParams};

/// Runs the hops from `initial` into `out`; `scratch` is the second activation buffer.
pub(crate) fn spread(
    fns: &LevelFns,
    graph: &Csr,
    initial: &[f32],
    params: &SpreadParams,
    out: &mut [f32],
    scratch: &mut [f32],
) -> SpreadOutcome {
    let n = graph.nodes();
    assert!(initial.len() == n && out.len() == n && scratch.len() == n);
    let mut totals = SpreadTotals::default();
    super::count_call();
    // SAFETY: the Csr invariant gives n + 1 monotone offsets from 0 to E, E targets < n and E
    // finite weights with |w| <= 2^32; initial, out and scratch have n floats (asserted) and
    // cannot overlap (one shared and two unique borrows). decay and threshold were validated
    // by SpreadParams. `totals` is a live local. `fns` is a level this CPU supports.
    unsafe {
        (fns.spread)(
            graph.offsets().as_ptr(),
            graph.targets().as_ptr(),
            graph.weights().as_ptr(),
            n,
            initial.as_ptr(),
            params.hops(),
            params.decay(),
            params.threshold(),
            out.as_mut_ptr(),
            scratch.as_mut_ptr(),
            &mut totals,
        );
    }
    SpreadOutcome {
        edges_traversed: totals.edges_traversed,
        // At most n, which is a usize.
        active_nodes: totals.active_nodes as usize,
    }
}
