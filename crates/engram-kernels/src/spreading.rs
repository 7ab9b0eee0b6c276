//! The spreading drivers, written once for both backends: the hops of a dense pass, and
//! sparse spreading's frontier policy (when a hop goes dense, when a dense hop pulls), its
//! sort and its bookkeeping. Each hop's arithmetic is a per-hop kernel of the backend in use,
//! reached through [`Code`] (`kernels.rs`, the one place that chooses a backend): a push hop,
//! a pull hop, and a sparse hop's push and finalize steps. A spread makes a few such calls per
//! hop, which cost about 2 ns each on the Zig backend.

use crate::kernels::Code;
use crate::pull::PullGraph;
use crate::{Csr, Seed, SpreadOutcome, SpreadParams};

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

/// The buffers of sparse spreading, which every per-hop kernel of both backends reads and
/// fills the same way (the Zig backend passes them as `ffi::SparseState`, the same fields).
/// Every slice has one entry per node; `active[..n_active]` and `touched[..n_touched]` are the
/// lists in use.
///
/// Between hops: `dst` and `marked` are all zero, and `src` is zero except at the active nodes,
/// which are distinct, ascending and positive. A push step adds the hop's sums into `dst` (and
/// with marking, lists the nodes it reached in `touched`); a finalize step turns them into the
/// next activations in `dst`, clears `src` and `marked`, and lists the new active nodes; then
/// the driver swaps `src` and `dst`.
pub(crate) struct SparseState<'a> {
    pub(crate) src: &'a mut [f32],
    pub(crate) dst: &'a mut [f32],
    pub(crate) marked: &'a mut [u8],
    pub(crate) active: &'a mut [u32],
    pub(crate) n_active: usize,
    pub(crate) touched: &'a mut [u32],
    pub(crate) n_touched: usize,
}

impl SparseState<'_> {
    /// The number of nodes, which every buffer has one entry for.
    pub(crate) fn nodes(&self) -> usize {
        self.src.len()
    }

    /// Whether every buffer has one entry per node and the lists' lengths fit in them: the
    /// shape every kernel relies on.
    pub(crate) fn is_well_formed(&self) -> bool {
        let n = self.nodes();
        self.dst.len() == n
            && self.marked.len() == n
            && self.active.len() == n
            && self.touched.len() == n
            && self.n_active <= n
            && self.n_touched <= n
    }
}

/// Whether a hop of sparse spreading runs over every node instead: when the frontier (the
/// edges leaving it plus its size) is over a quarter of the nodes. A sparse hop costs about
/// the edges leaving the frontier (scattered, plus the bookkeeping of the nodes they reach); a
/// dense hop costs all nodes and edges, read in order.
#[inline]
fn goes_dense(frontier_edges: u64, frontier_nodes: usize, nodes: usize) -> bool {
    frontier_edges + frontier_nodes as u64 > nodes as u64 / 4
}

/// Whether a dense hop of sparse spreading pulls (given in-edges) rather than pushes: when
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

/// Sorts node ids (< `nodes`) ascending, using `scratch` (at least as long as `ids`): a
/// least-significant-digit radix sort with as few digits of at most 11 bits as the ids need
/// (two up to 4M nodes), the bits shared evenly between them (two of 10 bits at 1M nodes), so
/// that a short list does not pay for counters its ids never use. Its loops have no
/// data-dependent branch; a comparison sort has one per comparison, which random ids
/// mispredict: with `sort_unstable`, perf put 47% of a 10-seed, 3-hop spreading on 100k nodes
/// in the sort. Short lists use `sort_unstable` (insertion sort at that length).
fn sort_nodes(ids: &mut [u32], scratch: &mut [u32], nodes: usize) {
    if ids.len() <= 32 {
        ids.sort_unstable();
        return;
    }
    // Node counts go up to 2^32: the largest id's bits decide the digits.
    let bits = u64::BITS - (nodes.saturating_sub(1) as u64).leading_zeros();
    let scratch = &mut scratch[..ids.len()];
    match bits.div_ceil(MAX_DIGIT_BITS) {
        0 | 1 => radix_sort::<1>(ids, scratch, bits.max(1)),
        2 => radix_sort::<2>(ids, scratch, bits.div_ceil(2)),
        _ => radix_sort::<3>(ids, scratch, bits.div_ceil(3)),
    }
}

/// The widest digit of [`sort_nodes`]: 2^11 counters (8 KiB) stay in the L1 cache.
const MAX_DIGIT_BITS: u32 = 11;
const MAX_DIGITS: usize = 1 << MAX_DIGIT_BITS;

/// The radix sort of [`sort_nodes`] for ids of at most `PASSES` digits of `digit_bits` bits
/// (at most [`MAX_DIGIT_BITS`]); `scratch` is as long as `ids`. One read of the ids counts
/// every digit (instead of one read per pass), then each pass scatters them by its digit
/// between the two buffers.
#[inline(always)]
fn radix_sort<const PASSES: usize>(ids: &mut [u32], scratch: &mut [u32], digit_bits: u32) {
    debug_assert!((1..=MAX_DIGIT_BITS).contains(&digit_bits));
    let used = 1usize << digit_bits;
    // The mask keeps every digit below MAX_DIGITS, which the counters' indexing can see.
    let mask = (used - 1) as u32 & (MAX_DIGITS as u32 - 1);
    let digit = |id: u32, pass: usize| ((id >> (pass as u32 * digit_bits)) & mask) as usize;
    let mut starts = [[0u32; MAX_DIGITS]; PASSES];
    for &id in ids.iter() {
        for (pass, counts) in starts.iter_mut().enumerate() {
            counts[digit(id, pass)] += 1;
        }
    }
    for counts in &mut starts {
        let mut total = 0;
        for start in counts.iter_mut().take(used) {
            (*start, total) = (total, total + *start);
        }
    }
    for (pass, starts) in starts.iter_mut().enumerate() {
        let (from, to): (&[u32], &mut [u32]) = if pass % 2 == 0 {
            (ids, scratch)
        } else {
            (scratch, ids)
        };
        for &id in from {
            let start = &mut starts[digit(id, pass)];
            // In range: the starts of a digit count its ids, which `to` has room for.
            debug_assert!((*start as usize) < to.len());
            if let Some(slot) = to.get_mut(*start as usize) {
                *slot = id;
            }
            *start += 1;
        }
    }
    if PASSES % 2 == 1 {
        ids.copy_from_slice(scratch);
    }
}

/// Spreading from a few seeds, touching only the frontier: the same result, bit for bit, as a
/// dense pass with the seeds as initial activations (firing nodes are visited in ascending
/// order, as the dense pass does, so every sum is accumulated in the same order). A hop whose
/// frontier is large ([`goes_dense`]) runs over all nodes instead: pulled over `in_edges`
/// (built from `graph`) when given and [`dense_hop_pulls`] says so, else pushed. The
/// arithmetic is identical.
///
/// Seeds are distinct, `< N`, with activations in `[0, 1]` (checked by the caller); `state`
/// has one entry per node of `graph` in every buffer, and `src`, `dst` and `marked` all zero.
/// Leaves the final active nodes, ascending, in `state.active[..state.n_active]`, their
/// activations in `activations[..state.n_active]`, and the buffers all zero again.
pub(crate) fn spread_from_seeds(
    code: Code,
    graph: &Csr,
    in_edges: Option<&PullGraph>,
    seeds: &[Seed],
    params: &SpreadParams,
    state: &mut SparseState<'_>,
    activations: &mut [f32],
) -> SpreadOutcome {
    let n = graph.nodes();
    debug_assert!(state.nodes() == n && state.is_well_formed() && activations.len() >= n);
    let offsets = graph.offsets();
    let (attenuation, threshold) = (params.attenuation(), params.threshold());

    state.n_active = 0;
    for &Seed { node, activation } in seeds {
        if activation > 0.0 {
            state.src[node as usize] = activation;
            state.active[state.n_active] = node;
            state.n_active += 1;
        }
    }
    // The touched list is free until the first hop: it serves as the sort's scratch.
    sort_nodes(&mut state.active[..state.n_active], state.touched, n);

    let mut edges_traversed = 0u64;
    for _ in 0..params.hops() {
        let frontier = &state.active[..state.n_active];
        let frontier_edges: u64 = frontier
            .iter()
            .map(|&u| offsets[u as usize + 1] - offsets[u as usize])
            .sum();
        let dense = goes_dense(frontier_edges, frontier.len(), n);
        let pull = in_edges.filter(|g| dense && dense_hop_pulls(frontier_edges, g.slots()));
        if let Some(in_edges) = pull {
            // dst is all zero; the pull hop writes every node's next activation into it.
            edges_traversed +=
                code.pull_hop(in_edges, state.src, state.dst, attenuation, threshold);
            code.finalize_all(state, attenuation, true);
        } else if dense {
            edges_traversed += code.push_frontier(graph, state, threshold, false);
            code.finalize_all(state, attenuation, false);
        } else {
            edges_traversed += code.push_frontier(graph, state, threshold, true);
            // Only the nodes that were active or received input can change; the rest stay 0.
            for &u in &state.active[..state.n_active] {
                let marked = &mut state.marked[u as usize];
                if *marked == 0 {
                    *marked = 1;
                    state.touched[state.n_touched] = u;
                    state.n_touched += 1;
                }
            }
            // The active list is free until the finalize step refills it.
            sort_nodes(&mut state.touched[..state.n_touched], state.active, n);
            code.finalize_touched(state, attenuation);
        }
        std::mem::swap(&mut state.src, &mut state.dst);
    }

    for (&u, a) in state.active[..state.n_active].iter().zip(activations) {
        *a = std::mem::take(&mut state.src[u as usize]);
    }
    SpreadOutcome {
        edges_traversed,
        active_nodes: state.n_active,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Kernels;

    const N: usize = 16;

    /// A 16-node ring with chords: v → v+1 (weight `w1`) and v → v+5 (weight `w5`), mod 16.
    /// Every node has two in-edges, so its pull layout has 32 slots and no padding.
    fn ring(w1: f32, w5: f32) -> Csr {
        let edges: Vec<(u32, u32, f32)> = (0..N as u32)
            .flat_map(|u| [(u, (u + 1) % 16, w1), (u, (u + 5) % 16, w5)])
            .collect();
        Csr::from_edges(N, &edges).expect("valid edges")
    }

    /// Sparse spreading (attenuation 0.5, θ 0.1) on `code`; checks the buffers come back zero
    /// and returns the activations, dense.
    fn sparse(
        code: Code,
        graph: &Csr,
        in_edges: Option<&PullGraph>,
        seeds: &[Seed],
        hops: u32,
    ) -> (Vec<f32>, SpreadOutcome) {
        let (mut src, mut dst, mut marked) = (vec![0.0; N], vec![0.0; N], vec![0u8; N]);
        let (mut active, mut touched, mut activations) = (vec![0; N], vec![0; N], vec![0.0; N]);
        let mut state = SparseState {
            src: &mut src,
            dst: &mut dst,
            marked: &mut marked,
            active: &mut active,
            n_active: 0,
            touched: &mut touched,
            n_touched: 0,
        };
        let params = SpreadParams::new(hops, 0.5, 0.1).expect("valid");
        let outcome = spread_from_seeds(
            code,
            graph,
            in_edges,
            seeds,
            &params,
            &mut state,
            &mut activations,
        );
        let nodes = state.active[..state.n_active].to_vec();
        assert!(src.iter().chain(&dst).all(|a| a.to_bits() == 0));
        assert!(marked.iter().all(|&m| m == 0));
        assert!(nodes.is_sorted() && outcome.active_nodes == nodes.len());
        let mut out = vec![0.0; N];
        for (&v, &a) in nodes.iter().zip(&activations) {
            out[v as usize] = a;
        }
        (out, outcome)
    }

    fn dense(graph: &Csr, initial: &[f32], hops: u32) -> (Vec<f32>, SpreadOutcome) {
        let params = SpreadParams::new(hops, 0.5, 0.1).expect("valid");
        let (mut out, mut scratch) = (vec![0.0; N], vec![0.0; N]);
        let code = Code::of(crate::Backend::Rust, crate::cpu::Supported::baseline());
        let outcome = dense_hops(
            params.hops(),
            initial,
            &mut out,
            &mut scratch,
            |src, dst| code.push_hop(graph, src, dst, 0.5, 0.1),
        );
        (out, outcome)
    }

    fn bits(v: &[f32]) -> Vec<u32> {
        v.iter().map(|x| x.to_bits()).collect()
    }

    fn every_code() -> impl Iterator<Item = (String, Code)> {
        Kernels::all_available()
            .into_iter()
            .map(|k| (k.describe(), k.code()))
    }

    #[test]
    fn sparse_push_and_pull_hops_give_the_dense_bits_on_every_backend() {
        let graph = ring(0.75, 0.5);
        let pull = PullGraph::new(&graph);
        assert_eq!(pull.slots(), 32);
        // One seed: hop 1 is sparse (2 edges + 1 node <= 16 / 4), hops 2 and 3 dense pushes (3
        // and 6 active nodes, 12 edges · 2 < 32 slots), hops 4 and 5 dense pulls (9 and 10).
        let mut initial = vec![0.0; N];
        initial[3] = 0.9;
        for hops in 0..6 {
            let (want, want_outcome) = dense(&graph, &initial, hops);
            for (name, code) in every_code() {
                for in_edges in [Some(&pull), None] {
                    let seeds = [Seed::new(3, 0.9)];
                    let (got, outcome) = sparse(code, &graph, in_edges, &seeds, hops);
                    assert_eq!(bits(&got), bits(&want), "{name}, {hops} hops");
                    assert_eq!(outcome, want_outcome, "{name}, {hops} hops");
                }
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
        for (name, code) in every_code() {
            // Every node seeded: one dense hop; pulled, so it follows the doubled weights.
            let (got, _) = sparse(code, &graph, Some(&other), &all, 1);
            assert_eq!(bits(&got), bits(&dense(&doubled, &initial, 1).0), "{name}");
            // Without in-edges the same hop pushes over the out-edges.
            let (got, _) = sparse(code, &graph, None, &all, 1);
            assert_eq!(bits(&got), bits(&dense(&graph, &initial, 1).0), "{name}");
            // One seed: a sparse hop, over the out-edges.
            let (got, _) = sparse(code, &graph, Some(&other), &[Seed::new(0, 1.0)], 1);
            assert_eq!(bits(&got), bits(&dense(&graph, &just_zero, 1).0), "{name}");
        }
        assert_ne!(dense(&doubled, &initial, 1).0, dense(&graph, &initial, 1).0);
    }

    #[test]
    fn seeds_of_zero_activation_are_not_active() {
        for (name, code) in every_code() {
            let (got, outcome) = sparse(code, &ring(0.5, 0.5), None, &[Seed::new(2, 0.0)], 2);
            assert!(got.iter().all(|&a| a == 0.0), "{name}");
            assert_eq!(outcome, SpreadOutcome::default(), "{name}");
        }
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
        let mut scratch = vec![0; 5000];
        // One digit (ids < 2^11), two (< 2^22), three (up to 2^32 − 1), the edges between,
        // and digits narrower than 11 bits (1M nodes: two of 10 bits; 2^23: three of 8).
        for nodes in [
            1u64,
            2,
            7,
            1 << 11,
            (1 << 11) + 1,
            1_000_000,
            1 << 22,
            (1 << 22) + 1,
            1 << 23,
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
