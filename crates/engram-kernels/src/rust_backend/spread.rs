//! Spreading activation, push style, in CSR edge order.

use crate::cpu::Supported;
use crate::{Csr, PullGraph, Seed, SpreadOutcome, SpreadParams};

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
    dense_hops(params.hops(), initial, out, scratch, |src, dst| {
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
            *next = clamp_unit(prev + decay * *next);
        }
        edges_traversed
    })
}

/// The hops of a dense pass (push or pull): `hop(src, dst)` computes one hop and returns the
/// out-edges of the nodes that fired. A hop only reads its source, so the first reads
/// `initial` in place, and the buffers alternate so that the last hop writes `out`: no copies
/// apart from `out = initial` when there are no hops.
pub(crate) fn dense_hops(
    hops: u32,
    initial: &[f32],
    out: &mut [f32],
    scratch: &mut [f32],
    mut hop: impl FnMut(&[f32], &mut [f32]) -> u64,
) -> SpreadOutcome {
    let mut edges_traversed = 0u64;
    if hops == 0 {
        out.copy_from_slice(initial);
    } else {
        let (mut last, mut other): (&mut [f32], &mut [f32]) = if hops % 2 == 1 {
            (&mut *out, scratch)
        } else {
            (scratch, &mut *out)
        };
        edges_traversed += hop(initial, last);
        for _ in 1..hops {
            edges_traversed += hop(last, other);
            std::mem::swap(&mut last, &mut other);
        }
    }
    SpreadOutcome {
        edges_traversed,
        active_nodes: out.iter().filter(|&&a| a > 0.0).count(),
    }
}

/// One node's update, as in `spread`: the new activation goes to `*next` (or exactly +0.0 when
/// it is not positive, so the buffers stay all zero apart from active nodes), `*prev` is
/// cleared for reuse. Returns whether the node is active.
#[inline]
fn finalize(prev: &mut f32, next: &mut f32, decay: f32) -> bool {
    let a = clamp_unit(*prev + decay * *next);
    *prev = 0.0;
    *next = if a > 0.0 { a } else { 0.0 };
    a > 0.0
}

/// Clamp to `[0, 1]`. Sums are never NaN: weights are bounded (see `MAX_ABS_WEIGHT`).
#[inline(always)]
pub(crate) fn clamp_unit(x: f32) -> f32 {
    x.clamp(0.0, 1.0)
}

/// Whether a node of activation `x` fires: it passes `w · x` along its out-edges. Every
/// dense pass (push here, pull in `spread_pull.rs`) uses this rule, so they count the same
/// edges and add the same terms.
#[inline(always)]
pub(crate) fn fires(x: f32, threshold: f32) -> bool {
    x > 0.0 && x >= threshold
}

/// Whether a hop of the sparse driver runs over every node instead: when the frontier (the
/// edges leaving it plus its size) is over a quarter of the nodes. A sparse hop costs about
/// the edges leaving the frontier (scattered, plus the bookkeeping of the nodes they reach); a
/// dense hop costs all nodes and edges, read in order.
#[inline]
fn goes_dense(frontier_edges: u64, frontier_nodes: usize, nodes: usize) -> bool {
    frontier_edges + frontier_nodes as u64 > nodes as u64 / 4
}

/// Whether a dense hop of the sparse driver pulls (given in-edges) rather than pushes: when
/// the edges leaving the frontier are at least half the pull layout's slots. A push costs
/// about the edges it scatters; a pull reads every slot, in order, whoever fires. On random
/// graphs with 10 edges per node (68% of slots filled, so half the slots is 74% of the
/// edges), a pull hop at v4 paid from 40-60% of the edges firing at 100k nodes but only
/// from 75-100% at 1M (`examples/spread_cost.rs --crossover`; `BENCHMARKS.md`,
/// "Direction-optimizing spreading"). Half keeps 1M graphs from pulling too early.
#[inline]
fn dense_hop_pulls(frontier_edges: u64, slots: usize) -> bool {
    frontier_edges.saturating_mul(2) >= slots as u64
}

/// Sorts node ids (< `nodes`) ascending, using `scratch`: the same least-significant-digit
/// radix sort, 11 bits per pass and only as many passes as the ids have bits, as the Zig
/// backend's `sortNodes` (`spread.zig`). It has no data-dependent branch. With
/// `sort_unstable`, perf put 47% of a 10-seed, 3-hop spreading on 100k nodes in the sort.
/// Short lists use `sort_unstable` (insertion sort at that length).
fn sort_nodes(ids: &mut [u32], scratch: &mut Vec<u32>, nodes: usize) {
    const DIGIT_BITS: u32 = 11;
    const MASK: u32 = (1 << DIGIT_BITS) - 1;
    if ids.len() <= 32 {
        ids.sort_unstable();
        return;
    }
    // Node counts go up to 2^32: the largest id's bits decide the passes.
    let largest = nodes.saturating_sub(1) as u64;
    scratch.clear();
    scratch.resize(ids.len(), 0);
    let mut shift = 0;
    let mut passes = 0;
    loop {
        let (from, to): (&[u32], &mut [u32]) = if passes % 2 == 0 {
            (ids, scratch)
        } else {
            (scratch, ids)
        };
        let mut starts = [0u32; 1 << DIGIT_BITS];
        for &v in from {
            starts[((v >> shift) & MASK) as usize] += 1;
        }
        let mut total = 0;
        for start in &mut starts {
            (*start, total) = (total, total + *start);
        }
        for &v in from {
            let start = &mut starts[((v >> shift) & MASK) as usize];
            // In range: the starts of a digit count its ids, which `to` has room for.
            debug_assert!((*start as usize) < to.len());
            if let Some(slot) = to.get_mut(*start as usize) {
                *slot = v;
            }
            *start += 1;
        }
        passes += 1;
        shift += DIGIT_BITS;
        if shift >= 32 || largest >> shift == 0 {
            break;
        }
    }
    if passes % 2 == 1 {
        ids.copy_from_slice(scratch);
    }
}

/// The sparse workspace state: dense per-node buffers that are all zero between calls, plus
/// lists. See `SpreadWorkspace` for the invariants.
pub(crate) struct SparseState<'a> {
    pub(crate) current: &'a mut [f32],
    pub(crate) next: &'a mut [f32],
    pub(crate) marked: &'a mut [u8],
    pub(crate) active: &'a mut Vec<u32>,
    pub(crate) touched: &'a mut Vec<u32>,
}

/// Spreading from a few seeds, touching only the frontier: the same result, bit for bit, as
/// [`spread`] with the seeds as initial activations (firing nodes are visited in ascending
/// order, as the dense pass does, so every sum is accumulated in the same order). A hop whose
/// frontier is large ([`goes_dense`]) runs over all nodes instead: pull style at `level` when
/// `in_edges` (built from `graph`) are given, else push style. The arithmetic is identical.
///
/// Seeds are distinct, `< N`, with activations in `[0, 1]` (checked by the caller). Writes the
/// nodes with a positive final activation, ascending, to `out_nodes` / `out_activations`, and
/// leaves the state all zero again.
pub(crate) fn spread_sparse(
    graph: &Csr,
    in_edges: Option<(Supported, &PullGraph)>,
    seeds: &[Seed],
    params: &SpreadParams,
    state: SparseState<'_>,
    out_nodes: &mut Vec<u32>,
    out_activations: &mut Vec<f32>,
) -> SpreadOutcome {
    let SparseState {
        current,
        next,
        marked,
        active,
        touched,
    } = state;
    let (offsets, targets, weights) = (graph.offsets(), graph.targets(), graph.weights());
    let (decay, threshold) = (params.decay(), params.threshold());
    let n = graph.nodes();
    let mut src: &mut [f32] = current;
    let mut dst: &mut [f32] = next;

    active.clear();
    for &Seed { node, activation } in seeds {
        if activation > 0.0 {
            src[node as usize] = activation;
            active.push(node);
        }
    }
    // out_nodes is free until the end: it serves as the sort's scratch.
    sort_nodes(active, out_nodes, n);

    let mut edges_traversed = 0u64;
    for _ in 0..params.hops() {
        // Cost of a sparse hop ~ edges leaving the frontier + its size; a dense hop ~ N + edges.
        let frontier_edges: u64 = active
            .iter()
            .map(|&u| offsets[u as usize + 1] - offsets[u as usize])
            .sum();
        let dense = goes_dense(frontier_edges, active.len(), n);
        if dense
            && let Some((level, in_edges)) = in_edges
            && dense_hop_pulls(frontier_edges, in_edges.slots())
        {
            // dst is all zero; the pull hop writes every node's next activation into it.
            edges_traversed += super::spread_pull::hop(level, in_edges, src, dst, decay, threshold);
            active.clear();
            for (v, (prev, next)) in src.iter_mut().zip(dst.iter_mut()).enumerate() {
                *prev = 0.0;
                // As `finalize`: exactly +0.0 (not −0.0) when not positive.
                if *next > 0.0 {
                    active.push(v as u32);
                } else {
                    *next = 0.0;
                }
            }
            std::mem::swap(&mut src, &mut dst);
            continue;
        }
        touched.clear();
        for &u in active.iter() {
            let x = src[u as usize];
            if x >= threshold {
                let (begin, end) = (
                    offsets[u as usize] as usize,
                    offsets[u as usize + 1] as usize,
                );
                for (&v, &w) in targets[begin..end].iter().zip(&weights[begin..end]) {
                    // As in `spread`: targets are < n, `get_mut` never misses and is faster.
                    debug_assert!((v as usize) < dst.len() && (v as usize) < marked.len());
                    if let Some(d) = dst.get_mut(v as usize) {
                        *d += w * x;
                    }
                    if !dense
                        && let Some(m) = marked.get_mut(v as usize)
                        && *m == 0
                    {
                        *m = 1;
                        touched.push(v);
                    }
                }
                edges_traversed += (end - begin) as u64;
            }
        }
        if dense {
            // Every node: the same update as `spread`, and the source buffer cleared for reuse.
            active.clear();
            for v in 0..n {
                if finalize(&mut src[v], &mut dst[v], decay) {
                    active.push(v as u32);
                }
            }
        } else {
            // Only nodes that were active or received input can change; the rest stay 0.
            for &u in active.iter() {
                if marked[u as usize] == 0 {
                    marked[u as usize] = 1;
                    touched.push(u);
                }
            }
            sort_nodes(touched, out_nodes, n);
            active.clear();
            for &v in touched.iter() {
                let i = v as usize;
                marked[i] = 0;
                if finalize(&mut src[i], &mut dst[i], decay) {
                    active.push(v);
                }
            }
        }
        std::mem::swap(&mut src, &mut dst);
    }

    out_nodes.clear();
    out_activations.clear();
    for &u in active.iter() {
        out_nodes.push(u);
        out_activations.push(src[u as usize]);
        src[u as usize] = 0.0;
    }
    SpreadOutcome {
        edges_traversed,
        active_nodes: out_nodes.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const N: usize = 16;

    /// A 16-node ring with chords: v → v+1 (weight `w1`) and v → v+5 (weight `w5`), mod 16.
    /// Every node has two in-edges, so its pull layout has 32 slots and no padding.
    fn ring(w1: f32, w5: f32) -> Csr {
        let edges: Vec<(u32, u32, f32)> = (0..N as u32)
            .flat_map(|u| [(u, (u + 1) % 16, w1), (u, (u + 5) % 16, w5)])
            .collect();
        Csr::from_edges(N, &edges).expect("valid edges")
    }

    /// Sparse spreading (decay 0.5, θ 0.1) with dense hops pulling over `in_edges` at
    /// `level`; checks the state comes back zero and returns the activations, dense.
    fn sparse(
        graph: &Csr,
        in_edges: Option<(Supported, &PullGraph)>,
        seeds: &[Seed],
        hops: u32,
    ) -> (Vec<f32>, SpreadOutcome) {
        let (mut current, mut next, mut marked) = (vec![0.0; N], vec![0.0; N], vec![0u8; N]);
        let (mut active, mut touched) = (Vec::new(), Vec::new());
        let (mut nodes, mut activations) = (Vec::new(), Vec::new());
        let state = SparseState {
            current: &mut current,
            next: &mut next,
            marked: &mut marked,
            active: &mut active,
            touched: &mut touched,
        };
        let params = SpreadParams::new(hops, 0.5, 0.1).expect("valid");
        let outcome = spread_sparse(
            graph,
            in_edges,
            seeds,
            &params,
            state,
            &mut nodes,
            &mut activations,
        );
        assert!(current.iter().chain(&next).all(|a| a.to_bits() == 0));
        assert!(marked.iter().all(|&m| m == 0));
        let mut out = vec![0.0; N];
        for (&v, &a) in nodes.iter().zip(&activations) {
            out[v as usize] = a;
        }
        (out, outcome)
    }

    fn dense(graph: &Csr, initial: &[f32], hops: u32) -> (Vec<f32>, SpreadOutcome) {
        let params = SpreadParams::new(hops, 0.5, 0.1).expect("valid");
        let (mut out, mut scratch) = (vec![0.0; N], vec![0.0; N]);
        let outcome = spread(graph, initial, &params, &mut out, &mut scratch);
        (out, outcome)
    }

    fn bits(v: &[f32]) -> Vec<u32> {
        v.iter().map(|x| x.to_bits()).collect()
    }

    #[test]
    fn sparse_push_and_pull_hops_give_the_dense_bits() {
        let graph = ring(0.75, 0.5);
        let pull = PullGraph::new(&graph);
        assert_eq!(pull.slots(), 32);
        // One seed: hop 1 is sparse (2 edges + 1 node <= 16 / 4), hops 2 and 3 dense pushes (3
        // and 6 active nodes, 12 edges · 2 < 32 slots), hops 4 and 5 dense pulls (9 and 10).
        let mut initial = vec![0.0; N];
        initial[3] = 0.9;
        for hops in 0..6 {
            let (want, want_outcome) = dense(&graph, &initial, hops);
            for level in Supported::all() {
                let seeds = [Seed::new(3, 0.9)];
                let (got, outcome) = sparse(&graph, Some((level, &pull)), &seeds, hops);
                assert_eq!(bits(&got), bits(&want), "{level}, {hops} hops");
                assert_eq!(outcome, want_outcome, "{level}, {hops} hops");
            }
        }
    }

    #[test]
    fn only_hops_with_a_large_frontier_read_the_in_edges() {
        // In-edges of a different graph (weights doubled) show which hops read them.
        let (graph, doubled) = (ring(0.25, 0.125), ring(0.5, 0.25));
        let other = PullGraph::new(&doubled);
        let initial: Vec<f32> = (0..N).map(|v| 0.25 + v as f32 / 32.0).collect();
        let all: Vec<Seed> = (0..N as u32)
            .map(|v| Seed::new(v, initial[v as usize]))
            .collect();
        let mut just_zero = vec![0.0; N];
        just_zero[0] = 1.0;
        for level in Supported::all() {
            // Every node seeded: one dense hop; pulled, so it follows the doubled weights.
            let (got, _) = sparse(&graph, Some((level, &other)), &all, 1);
            assert_eq!(bits(&got), bits(&dense(&doubled, &initial, 1).0), "{level}");
            // Without in-edges the same hop pushes over the out-edges.
            let (got, _) = sparse(&graph, None, &all, 1);
            assert_eq!(bits(&got), bits(&dense(&graph, &initial, 1).0), "{level}");
            // One seed: a sparse hop, over the out-edges.
            let (got, _) = sparse(&graph, Some((level, &other)), &[Seed::new(0, 1.0)], 1);
            assert_eq!(bits(&got), bits(&dense(&graph, &just_zero, 1).0), "{level}");
        }
        assert_ne!(dense(&doubled, &initial, 1).0, dense(&graph, &initial, 1).0);
    }

    #[test]
    fn sort_nodes_sorts_for_every_pass_count_and_length() {
        let mut state = 42u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut scratch = Vec::new();
        // One pass (ids < 2^11), two (< 2^22), three (up to 2^32 − 1), and the edges between.
        for nodes in [
            1u64,
            7,
            1 << 11,
            (1 << 11) + 1,
            1 << 22,
            (1 << 22) + 1,
            1 << 32,
        ] {
            for len in [0usize, 1, 2, 32, 33, 100, 5000] {
                let mut ids: Vec<u32> = (0..len).map(|_| (next() % nodes) as u32).collect();
                if let Some(first) = ids.first_mut() {
                    *first = (nodes - 1) as u32;
                }
                let mut want = ids.clone();
                want.sort_unstable();
                sort_nodes(&mut ids, &mut scratch, nodes as usize);
                assert_eq!(ids, want, "{nodes} nodes, {len} ids");
            }
        }
    }

    #[test]
    fn dense_hops_pull_from_half_the_slots() {
        assert!(!dense_hop_pulls(10, 21));
        assert!(dense_hop_pulls(10, 20));
        assert!(dense_hop_pulls(0, 0));
        assert!(dense_hop_pulls(u64::MAX, usize::MAX));
        assert!(!goes_dense(3, 1, 16) && goes_dense(4, 1, 16));
    }
}
