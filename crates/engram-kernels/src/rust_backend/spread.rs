//! Spreading activation, push style, in CSR edge order: the per-hop kernels that
//! `crate::spreading` drives (a dense hop; the push and finalize steps of a sparse hop).

use crate::Csr;
use crate::spreading::SparseState;

/// One dense push hop from `src` into `dst` (both `graph.nodes()` long, checked by the
/// caller): `dst[v] = clamp(src[v] + attenuation · Σ_{u→v} w · f(src[u]), 0, 1)`. Returns the
/// out-edges of the nodes that fired.
// Inlined into its caller: out of line it ran at about 140 instead of 210-250 M edges/s on the
// Intel Xeon (1M nodes / 10M edges), with the same inner loop: a code-layout effect.
#[inline]
pub(crate) fn push_hop(
    graph: &Csr,
    src: &[f32],
    dst: &mut [f32],
    attenuation: f32,
    threshold: f32,
) -> u64 {
    let (targets, weights) = (graph.targets(), graph.weights());
    let mut edges_traversed = 0u64;
    // dst first collects each node's weighted input, then becomes the next activations.
    dst.fill(0.0);
    for (u, range) in graph.offsets().windows(2).enumerate() {
        let x = src[u];
        if fires(x, threshold) {
            // In range: offsets end at targets.len(), which fits in usize.
            let (begin, end) = (range[0] as usize, range[1] as usize);
            for (&v, &w) in targets[begin..end].iter().zip(&weights[begin..end]) {
                // Targets are < n (Csr invariant), so `get_mut` never misses. It compiles to a
                // predictable branch, where indexing's panic path made this loop about 25%
                // slower (measured on 1M nodes / 10M edges).
                debug_assert!((v as usize) < dst.len());
                if let Some(d) = dst.get_mut(v as usize) {
                    *d += w * x;
                }
            }
            edges_traversed += range[1] - range[0];
        }
    }
    for (next, &prev) in dst.iter_mut().zip(src.iter()) {
        *next = clamp_unit(prev + attenuation * *next);
    }
    edges_traversed
}

/// The push step of a sparse hop: every active node that fires adds `w · x` to its targets'
/// `dst` entries, in the order of the active list; when `mark`, each target not yet marked is
/// marked and appended to the touched list (which starts empty). Returns the out-edges of the
/// nodes that fired. `state` is as between hops (`SparseState`).
pub(crate) fn push_frontier(
    graph: &Csr,
    state: &mut SparseState<'_>,
    threshold: f32,
    mark: bool,
) -> u64 {
    // The mode is fixed for the loop: a copy of it per mode, no test per edge.
    if mark {
        push_frontier_marking::<true>(graph, state, threshold)
    } else {
        push_frontier_marking::<false>(graph, state, threshold)
    }
}

#[inline(always)]
fn push_frontier_marking<const MARK: bool>(
    graph: &Csr,
    state: &mut SparseState<'_>,
    threshold: f32,
) -> u64 {
    let (offsets, targets, weights) = (graph.offsets(), graph.targets(), graph.weights());
    let SparseState {
        src,
        dst,
        marked,
        active,
        n_active,
        touched,
        n_touched,
    } = state;
    let mut count = 0;
    let mut edges_traversed = 0u64;
    for &u in &active[..*n_active] {
        let x = src[u as usize];
        if fires(x, threshold) {
            let (begin, end) = (
                offsets[u as usize] as usize,
                offsets[u as usize + 1] as usize,
            );
            for (&v, &w) in targets[begin..end].iter().zip(&weights[begin..end]) {
                // As in `push_hop`: targets are < n, `get_mut` never misses and is faster.
                debug_assert!((v as usize) < dst.len() && (v as usize) < marked.len());
                if let Some(d) = dst.get_mut(v as usize) {
                    *d += w * x;
                }
                if MARK
                    && let Some(m) = marked.get_mut(v as usize)
                    && *m == 0
                {
                    *m = 1;
                    // Each node is marked once, so the touched list never outgrows its n slots.
                    if let Some(slot) = touched.get_mut(count) {
                        *slot = v;
                    }
                    count += 1;
                }
            }
            edges_traversed += (end - begin) as u64;
        }
    }
    *n_touched = count;
    edges_traversed
}

/// Ends a dense hop over every node. After a push (`pulled` false) each node's update comes
/// from `src` and the sums in `dst`; after a pull hop (`pulled` true) `dst` already holds the
/// new activations. Either way `src` is cleared, `dst` keeps the positive activations (+0.0
/// elsewhere) and the active list becomes the positive nodes, ascending.
pub(crate) fn finalize_all(state: &mut SparseState<'_>, attenuation: f32, pulled: bool) {
    if pulled {
        finalize_every::<true>(state, attenuation);
    } else {
        finalize_every::<false>(state, attenuation);
    }
}

#[inline(always)]
fn finalize_every<const PULLED: bool>(state: &mut SparseState<'_>, attenuation: f32) {
    let mut count = 0;
    let nodes = state.src.iter_mut().zip(state.dst.iter_mut()).enumerate();
    for (v, (prev, next)) in nodes {
        let positive = if PULLED {
            pulled_positive(prev, next)
        } else {
            finalize(prev, next, attenuation)
        };
        if positive {
            // At most one entry per node: `active` has room for all of them.
            if let Some(slot) = state.active.get_mut(count) {
                *slot = v as u32;
            }
            count += 1;
        }
    }
    state.n_active = count;
}

/// Ends a sparse hop: each touched node (ascending; the only ones that can change) gets its
/// update and is unmarked; the active list becomes the positive ones, in touched order.
pub(crate) fn finalize_touched(state: &mut SparseState<'_>, attenuation: f32) {
    let mut count = 0;
    for &v in &state.touched[..state.n_touched] {
        let i = v as usize;
        state.marked[i] = 0;
        if finalize(&mut state.src[i], &mut state.dst[i], attenuation) {
            state.active[count] = v;
            count += 1;
        }
    }
    state.n_active = count;
}

/// One node's update after a push: the new activation goes to `*next` (or exactly +0.0 when
/// it is not positive, so the buffers stay all zero apart from active nodes), `*prev` is
/// cleared for reuse. Returns whether the node is active.
#[inline]
fn finalize(prev: &mut f32, next: &mut f32, attenuation: f32) -> bool {
    let a = clamp_unit(*prev + attenuation * *next);
    *prev = 0.0;
    *next = if a > 0.0 { a } else { 0.0 };
    a > 0.0
}

/// As [`finalize`], for a node whose new activation a pull hop already wrote into `*next`.
#[inline]
fn pulled_positive(prev: &mut f32, next: &mut f32) -> bool {
    *prev = 0.0;
    // Exactly +0.0 (not −0.0) when not positive.
    if *next > 0.0 {
        return true;
    }
    *next = 0.0;
    false
}

/// Clamp to `[0, 1]`. Sums are never NaN: weights are bounded (see `MAX_ABS_WEIGHT`).
#[inline(always)]
pub(crate) fn clamp_unit(x: f32) -> f32 {
    x.clamp(0.0, 1.0)
}

/// Whether a node of activation `x` fires: it passes `w · x` along its out-edges. Every
/// pass (push here, pull in `spread_pull.rs`) uses this rule, so they count the same edges and
/// add the same terms.
#[inline(always)]
pub(crate) fn fires(x: f32, threshold: f32) -> bool {
    x > 0.0 && x >= threshold
}
