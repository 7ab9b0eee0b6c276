//! Spreading activation through `ek_spread_f32`, `ek_spread_pull_f32` and
//! `ek_spread_sparse_f32`.

use super::ffi::{InEdges, LevelFns, SpreadTotals};
use crate::{Csr, PullGraph, Seed, SpreadOutcome, SpreadParams, SpreadWorkspace};

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
    super::count_call(fns.spread as usize);
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
    totals.outcome()
}

/// Runs the hops pull style over `graph`'s in-edges, from `initial` into `out`.
pub(crate) fn spread_pull(
    fns: &LevelFns,
    graph: &PullGraph,
    initial: &[f32],
    params: &SpreadParams,
    out: &mut [f32],
    scratch: &mut [f32],
) -> SpreadOutcome {
    let n = graph.nodes();
    assert!(initial.len() == n && out.len() == n && scratch.len() == n);
    let mut totals = SpreadTotals::default();
    super::count_call(fns.spread_pull as usize);
    // SAFETY: `InEdges::of(graph)` points into `graph`, borrowed for the call, whose
    // invariant gives ceil(n / 8) + 1 monotone slice offsets from 0, each a multiple of 8,
    // ending at the slot count; that many sources (< n) and finite weights with |w| <= 2^32;
    // n out-degrees. initial, out and scratch have n floats (asserted) and cannot overlap (one
    // shared and two unique borrows). decay and threshold were validated by SpreadParams.
    // `totals` is a live local. `fns` is a level this CPU supports.
    unsafe {
        (fns.spread_pull)(
            &InEdges::of(graph),
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
    totals.outcome()
}

/// Sparse spreading from `seeds`; the result goes to the workspace's result lists. Dense hops
/// pull over `in_edges` when given (built from `graph`), else push.
pub(crate) fn spread_sparse(
    fns: &LevelFns,
    graph: &Csr,
    in_edges: Option<&PullGraph>,
    seeds: &[Seed],
    params: &SpreadParams,
    workspace: &mut SpreadWorkspace,
) -> SpreadOutcome {
    let n = graph.nodes();
    // The lists are plain buffers here, with `n` initialized slots for Zig to fill. They are
    // never shrunk afterwards, so this zero-fills only the first time a graph this large is seen.
    for list in [
        &mut workspace.active,
        &mut workspace.touched,
        &mut workspace.result_nodes,
    ] {
        if list.len() < n {
            list.resize(n, 0);
        }
    }
    if workspace.result_activations.len() < n {
        workspace.result_activations.resize(n, 0.0);
    }
    let w = workspace;
    assert!(w.current.len() >= n && w.next.len() >= n && w.marked.len() >= n);
    assert!(seeds.iter().all(|s| (s.node as usize) < n));
    let pull = in_edges.map(|g| {
        assert_eq!(g.nodes(), n);
        InEdges::of(g)
    });
    let pull_ptr = pull.as_ref().map_or(std::ptr::null(), std::ptr::from_ref);
    let mut totals = SpreadTotals::default();
    super::count_call(fns.spread_sparse as usize);
    // SAFETY: the Csr invariant bounds every offset and target (< n); `pull_ptr` is null or
    // points to a live local holding the arrays of a PullGraph of the same n nodes (asserted;
    // built from `graph` by BidirectionalGraph), whose invariant is the one `spread_pull`
    // states above; seeds are < n, distinct, with activations in [0, 1] (checked by Kernels); `Seed` is #[repr(C)] like Zig's. The
    // dense buffers have at least n entries and are all zero (SpreadWorkspace invariant, which
    // the kernel restores); the four lists have n entries; all are distinct allocations.
    // `fns` is a level this CPU supports.
    unsafe {
        (fns.spread_sparse)(
            graph.offsets().as_ptr(),
            graph.targets().as_ptr(),
            graph.weights().as_ptr(),
            n,
            pull_ptr,
            seeds.as_ptr(),
            seeds.len(),
            params.hops(),
            params.decay(),
            params.threshold(),
            w.current.as_mut_ptr(),
            w.next.as_mut_ptr(),
            w.marked.as_mut_ptr(),
            w.active.as_mut_ptr(),
            w.touched.as_mut_ptr(),
            w.result_nodes.as_mut_ptr(),
            w.result_activations.as_mut_ptr(),
            &mut totals,
        );
    }
    let outcome = totals.outcome();
    w.result_len = outcome.active_nodes;
    outcome
}
