//! The per-hop spreading kernels through `ek_push_hop_f32`, `ek_pull_hop_f32`,
//! `ek_push_frontier_f32`, `ek_finalize_all_f32` and `ek_finalize_touched_f32`; the hops are
//! driven from Rust (`crate::spreading`).

use super::ffi::{self, InEdges, LevelFns, OutEdges};
use crate::Csr;
use crate::pull::PullGraph;
use crate::spreading::SparseState;

/// One dense push hop from `src` into `dst`.
pub(crate) fn push_hop(
    fns: &LevelFns,
    graph: &Csr,
    src: &[f32],
    dst: &mut [f32],
    attenuation: f32,
    threshold: f32,
) -> u64 {
    let n = graph.nodes();
    assert!(src.len() == n && dst.len() == n);
    super::count_call(fns.push_hop as usize);
    // SAFETY: `OutEdges::of(graph)` points into `graph`, borrowed for the call, whose Csr
    // invariant is the contract above `OutEdges` in Zig; src and dst have n floats (asserted)
    // and cannot overlap (a shared and a unique borrow). `fns` is a level this CPU supports.
    unsafe {
        (fns.push_hop)(
            &OutEdges::of(graph),
            n,
            src.as_ptr(),
            dst.as_mut_ptr(),
            attenuation,
            threshold,
        )
    }
}

/// One dense pull hop from `src` into `dst`, over `graph`'s in-edges.
pub(crate) fn pull_hop(
    fns: &LevelFns,
    graph: &PullGraph,
    src: &[f32],
    dst: &mut [f32],
    attenuation: f32,
    threshold: f32,
) -> u64 {
    let n = graph.nodes();
    assert!(src.len() == n && dst.len() == n);
    super::count_call(fns.pull_hop as usize);
    // SAFETY: `InEdges::of(graph)` points into `graph`, borrowed for the call, whose
    // invariant gives ceil(n / 8) + 1 monotone slice offsets from 0, each a multiple of 8,
    // ending at the slot count; that many sources (< n) and finite weights with |w| <= 2^32;
    // n out-degrees. src and dst have n floats (asserted) and cannot overlap (a shared and a
    // unique borrow). `fns` is a level this CPU supports.
    unsafe {
        (fns.pull_hop)(
            &InEdges::of(graph),
            n,
            src.as_ptr(),
            dst.as_mut_ptr(),
            attenuation,
            threshold,
        )
    }
}

/// The push step of a sparse hop (marking the nodes reached when `mark`).
pub(crate) fn push_frontier(
    fns: &LevelFns,
    graph: &Csr,
    state: &mut SparseState<'_>,
    threshold: f32,
    mark: bool,
) -> u64 {
    let n = graph.nodes();
    assert!(state.nodes() == n && state.is_well_formed());
    assert!(ids_below(&state.active[..state.n_active], n));
    let mut raw = ffi::SparseState::of(state);
    super::count_call(fns.push_frontier as usize);
    // SAFETY: the graph as in `push_hop`. `raw` points into `state`'s buffers, which are
    // exclusively borrowed for the call and are distinct allocations (unique borrows), each
    // of n entries, with n_active <= n (asserted: `is_well_formed`) and every active id < n
    // (asserted). The kernel writes touched ids (< n, from the targets) at most once per node,
    // so within the n entries. `fns` is a level this CPU supports.
    let edges = unsafe { (fns.push_frontier)(&OutEdges::of(graph), &mut raw, threshold, mark) };
    state.n_touched = raw.n_touched;
    edges
}

/// The finalize step of a dense hop (after a pull hop when `pulled`).
pub(crate) fn finalize_all(
    fns: &LevelFns,
    state: &mut SparseState<'_>,
    attenuation: f32,
    pulled: bool,
) {
    assert!(state.is_well_formed());
    let mut raw = ffi::SparseState::of(state);
    super::count_call(fns.finalize_all as usize);
    // SAFETY: `raw` as in `push_frontier`; the kernel reads and writes src and dst (n entries
    // each) and writes at most one active id per node. `fns` is a level this CPU supports.
    unsafe { (fns.finalize_all)(&mut raw, attenuation, pulled) };
    state.n_active = raw.n_active;
}

/// The finalize step of a sparse hop, over the touched nodes.
pub(crate) fn finalize_touched(fns: &LevelFns, state: &mut SparseState<'_>, attenuation: f32) {
    assert!(state.is_well_formed());
    assert!(ids_below(&state.touched[..state.n_touched], state.nodes()));
    let mut raw = ffi::SparseState::of(state);
    super::count_call(fns.finalize_touched as usize);
    // SAFETY: `raw` as in `push_frontier`, with every touched id < n (asserted): the kernel
    // indexes src, dst and marked by them and writes at most n_touched active ids. `fns` is a
    // level this CPU supports.
    unsafe { (fns.finalize_touched)(&mut raw, attenuation) };
    state.n_active = raw.n_active;
}

/// Whether every id is `< n`: a maximum, which vectorizes (a short-circuiting test did not).
fn ids_below(ids: &[u32], n: usize) -> bool {
    ids.iter().copied().max().is_none_or(|id| (id as usize) < n)
}
