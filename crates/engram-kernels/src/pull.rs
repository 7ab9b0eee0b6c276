//! Pull-style spreading, for hops that reach much of a large graph: the in-edges of a [`Csr`]
//! in SELL-8 slices ([`PullGraph`]), for [`Kernels::spread_pull`] (a dense pass where every
//! node gathers its in-edges), and a `Csr` with its in-edges ([`BidirectionalGraph`]), which
//! makes [`Kernels::spread_from_seeds`] direction-optimizing: a hop whose frontier is large
//! pulls instead of pushing. Same results, bit for bit, as pushing over the `Csr` alone.
//!
//! **When it pays.** A pull hop reads every slot of the graph (about 1.5 per edge), however
//! few nodes fire, so it pays only when most edges fire: from 40–60% of the edges at 100k
//! nodes and 75–100% at 1M, on random graphs at x86-64-v4 (`BENCHMARKS.md`, "Direction-optimizing
//! spreading"), at the cost of a second copy of the edges. The engine (`engram-graph`) does not
//! use it: a recall spreads 10 seeds for 3 hops over the small subgraph they can reach (about
//! 11,000 edges), whose hops never go dense. It is here for applications that spread from many
//! seeds over a whole graph.
//!
//! [`Kernels::spread_pull`]: crate::Kernels::spread_pull
//! [`Kernels::spread_from_seeds`]: crate::Kernels::spread_from_seeds

use crate::Csr;

/// Nodes per slice of a [`PullGraph`]: 8, one AVX2 vector of f32. Wider slices would fill
/// AVX-512 registers but pad more, since a slice is as wide as its largest in-degree. The
/// layout crosses the C ABI, so the Zig kernels take the same value (`zig/src/shared.zon`).
pub const PULL_LANES: usize = crate::shared::PULL_LANES;

/// The in-edges of every node of a [`Csr`], for [`Kernels::spread_pull`]: each node gathers
/// the activations of its sources, so a hop writes each node once (no scattered
/// read-modify-write) and SIMD lanes can work on different nodes at once.
///
/// **Layout** (sliced ELLPACK, SELL-8): nodes are cut into slices of [`PULL_LANES`]
/// consecutive nodes. A slice is as wide as the largest in-degree among its nodes; slot
/// `(k, lane)` of a slice holds the `k`-th in-edge of its `lane`-th node, so the `k`-th
/// in-edges of eight nodes are contiguous and one vector load reads them. Shorter in-edge
/// lists are padded with source 0 and weight +0.0, whose term is +0.0 and changes no sum.
///
/// **Order.** Each node's in-edges are ordered by source, ascending, and by position among
/// the source's out-edges: the order in which the push pass of [`Kernels::spread`] adds
/// them. With no FMA on either side, the pull pass therefore computes the same sums, bit for
/// bit.
///
/// **Cost.** Built in O(N + E) from a valid `Csr` (nothing to check again). Memory:
/// 8 bytes per slot plus 9 bytes per node ([`heap_bytes`](Self::heap_bytes)). Padding
/// depends on how uneven the in-degrees of neighbouring nodes are: on the benchmarks'
/// graphs (10 out-edges per node on average, uniform or power-law targets), 66–68% of the
/// slots hold edges ([`fill`](Self::fill)). Build it once per graph and keep it beside the
/// `Csr`.
///
/// [`Kernels::spread_pull`]: crate::Kernels::spread_pull
/// [`Kernels::spread`]: crate::Kernels::spread
#[derive(Debug, Clone, PartialEq)]
pub struct PullGraph {
    edges: usize,
    /// `ceil(N / 8) + 1` entries: slice `s` holds slots `slice_offsets[s]..slice_offsets[s + 1]`,
    /// a multiple of 8 long.
    slice_offsets: Vec<u64>,
    /// One source node per slot (padding: 0).
    sources: Vec<u32>,
    /// One weight per slot (padding: +0.0).
    weights: Vec<f32>,
    /// Out-degree of every node (N entries), for
    /// [`SpreadOutcome::edges_traversed`](crate::SpreadOutcome).
    out_degrees: Vec<u64>,
}

impl PullGraph {
    /// The in-edges of `graph`, in the layout above. O(N + E) time.
    pub fn new(graph: &Csr) -> Self {
        let nodes = graph.nodes();
        let offsets = graph.offsets();
        let out_degrees: Vec<u64> = offsets.windows(2).map(|w| w[1] - w[0]).collect();
        let mut in_degrees = vec![0usize; nodes];
        for &v in graph.targets() {
            in_degrees[v as usize] += 1;
        }
        let slices = nodes.div_ceil(PULL_LANES);
        let mut slice_offsets = Vec::with_capacity(slices + 1);
        slice_offsets.push(0u64);
        let mut slots = 0usize;
        for slice in in_degrees.chunks(PULL_LANES) {
            slots += slice.iter().copied().max().unwrap_or(0) * PULL_LANES;
            slice_offsets.push(slots as u64);
        }
        let mut sources = vec![0u32; slots];
        let mut weights = vec![0.0f32; slots];
        // `next_slot[v]`: where v's next in-edge goes. Sources are visited in ascending order,
        // each one's out-edges in order: the push pass's order.
        let mut next_slot: Vec<usize> = (0..nodes)
            .map(|v| slice_offsets[v / PULL_LANES] as usize + v % PULL_LANES)
            .collect();
        for u in 0..nodes {
            let (begin, end) = (offsets[u] as usize, offsets[u + 1] as usize);
            for (&v, &w) in graph.targets()[begin..end]
                .iter()
                .zip(&graph.weights()[begin..end])
            {
                let slot = &mut next_slot[v as usize];
                sources[*slot] = u as u32;
                weights[*slot] = w;
                *slot += PULL_LANES;
            }
        }
        Self {
            edges: graph.edges(),
            slice_offsets,
            sources,
            weights,
            out_degrees,
        }
    }

    /// Number of nodes, `N`.
    pub fn nodes(&self) -> usize {
        self.out_degrees.len()
    }

    /// Number of edges, `E` (padding not counted).
    pub fn edges(&self) -> usize {
        self.edges
    }

    /// Number of slots, edges plus padding: what a dense pull hop reads.
    pub fn slots(&self) -> usize {
        self.sources.len()
    }

    /// The share of slots that hold an edge, in `[0, 1]` (1 for a graph without slots).
    pub fn fill(&self) -> f64 {
        if self.slots() == 0 {
            1.0
        } else {
            self.edges as f64 / self.slots() as f64
        }
    }

    /// Heap bytes held by this layout.
    pub fn heap_bytes(&self) -> usize {
        self.slice_offsets.len() * 8 + self.slots() * 8 + self.out_degrees.len() * 8
    }

    pub(crate) fn slice_offsets(&self) -> &[u64] {
        &self.slice_offsets
    }

    pub(crate) fn sources(&self) -> &[u32] {
        &self.sources
    }

    pub(crate) fn weights(&self) -> &[f32] {
        &self.weights
    }

    pub(crate) fn out_degrees(&self) -> &[u64] {
        &self.out_degrees
    }
}

impl From<&Csr> for PullGraph {
    fn from(graph: &Csr) -> Self {
        Self::new(graph)
    }
}

/// A [`Csr`] together with its [`PullGraph`]: both directions of the same edges, built
/// together so that they always agree. Give it to [`Kernels::spread_from_seeds`] to make the
/// spreading direction-optimizing: hops whose frontier is small push along the out-edges of
/// the active nodes only, and a hop whose frontier is large pulls over the in-edges of every
/// node (faster than a dense push; see [`Kernels::spread_pull`]). The result is the same,
/// bit for bit, as from the `Csr` alone.
///
/// Memory: the `Csr` plus the `PullGraph` ([`heap_bytes`](Self::heap_bytes)).
///
/// [`Kernels::spread_from_seeds`]: crate::Kernels::spread_from_seeds
/// [`Kernels::spread_pull`]: crate::Kernels::spread_pull
#[derive(Debug, Clone, PartialEq)]
pub struct BidirectionalGraph {
    out_edges: Csr,
    in_edges: PullGraph,
}

impl BidirectionalGraph {
    /// Takes `graph` and builds its in-edges beside it. O(N + E) time.
    pub fn new(graph: Csr) -> Self {
        let in_edges = PullGraph::new(&graph);
        Self {
            out_edges: graph,
            in_edges,
        }
    }

    /// The out-edges: the graph as given.
    pub fn out_edges(&self) -> &Csr {
        &self.out_edges
    }

    /// The in-edges, in the pull layout.
    pub fn in_edges(&self) -> &PullGraph {
        &self.in_edges
    }

    /// Number of nodes, `N`.
    pub fn nodes(&self) -> usize {
        self.out_edges.nodes()
    }

    /// Number of edges, `E`.
    pub fn edges(&self) -> usize {
        self.out_edges.edges()
    }

    /// Heap bytes held by both layouts.
    pub fn heap_bytes(&self) -> usize {
        self.out_edges.heap_bytes() + self.in_edges.heap_bytes()
    }

    /// Gives back the `Csr`, dropping the in-edges.
    pub fn into_out_edges(self) -> Csr {
        self.out_edges
    }
}

impl From<Csr> for BidirectionalGraph {
    fn from(graph: Csr) -> Self {
        Self::new(graph)
    }
}

/// The graph a [`Kernels::spread_from_seeds`] call spreads over: a [`Csr`] alone, whose
/// dense hops push, or a [`BidirectionalGraph`], whose dense hops pull. Both convert into it
/// (`&Csr` and `&BidirectionalGraph`), so callers pass either directly.
///
/// [`Kernels::spread_from_seeds`]: crate::Kernels::spread_from_seeds
#[derive(Debug, Clone, Copy)]
pub enum SeedGraph<'g> {
    /// Out-edges only: every hop pushes.
    OutEdges(&'g Csr),
    /// Both directions: small frontiers push, large ones pull.
    Bidirectional(&'g BidirectionalGraph),
}

impl SeedGraph<'_> {
    /// The out-edges.
    pub fn out_edges(&self) -> &Csr {
        match self {
            Self::OutEdges(graph) => graph,
            Self::Bidirectional(graph) => graph.out_edges(),
        }
    }

    /// The in-edges, if this graph has them.
    pub fn in_edges(&self) -> Option<&PullGraph> {
        match self {
            Self::OutEdges(_) => None,
            Self::Bidirectional(graph) => Some(graph.in_edges()),
        }
    }
}

impl<'g> From<&'g Csr> for SeedGraph<'g> {
    fn from(graph: &'g Csr) -> Self {
        Self::OutEdges(graph)
    }
}

impl<'g> From<&'g BidirectionalGraph> for SeedGraph<'g> {
    fn from(graph: &'g BidirectionalGraph) -> Self {
        Self::Bidirectional(graph)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The in-edges of `node` as (source, weight), read back from the slots (padding skipped
    /// by stopping at the node's in-degree, which the test knows).
    fn in_edges(g: &PullGraph, node: usize, in_degree: usize) -> Vec<(u32, f32)> {
        let start = g.slice_offsets()[node / PULL_LANES] as usize + node % PULL_LANES;
        (0..in_degree)
            .map(|k| {
                let slot = start + k * PULL_LANES;
                (g.sources()[slot], g.weights()[slot])
            })
            .collect()
    }

    #[test]
    fn slices_hold_each_nodes_in_edges_in_push_order_and_pad_with_zero() {
        // 10 nodes: two slices (8 + 2). Node 9 has four in-edges: from 0 (twice, in edge
        // order), 8 and itself; node 1 has one.
        let g = Csr::from_edges(
            10,
            &[
                (8, 9, 0.5),
                (0, 9, 1.0),
                (0, 1, 0.25),
                (0, 9, 2.0),
                (9, 9, -1.0),
            ],
        )
        .expect("valid edges");
        let p = PullGraph::new(&g);
        assert_eq!((p.nodes(), p.edges()), (10, 5));
        // Slice 0: widest in-degree 1 (node 1); slice 1: 4 (node 9).
        assert_eq!(p.slice_offsets(), &[0, 8, 40]);
        assert_eq!(p.slots(), 40);
        assert_eq!(in_edges(&p, 1, 1), vec![(0, 0.25)]);
        assert_eq!(
            in_edges(&p, 9, 4),
            vec![(0, 1.0), (0, 2.0), (8, 0.5), (9, -1.0)]
        );
        // Everything else is padding: source 0, weight exactly +0.0.
        let real = p.weights().iter().filter(|w| w.to_bits() != 0).count();
        assert_eq!(real, 5);
        let padding = p.weights().iter().filter(|w| w.to_bits() == 0).count();
        assert_eq!(padding, 35);
        assert!(
            p.sources()
                .iter()
                .zip(p.weights())
                .all(|(&s, w)| w.to_bits() != 0 || s == 0)
        );
        assert_eq!(p.out_degrees(), &[3, 0, 0, 0, 0, 0, 0, 0, 1, 1]);
        assert!((p.fill() - 5.0 / 40.0).abs() < 1e-12);
    }

    #[test]
    fn a_bidirectional_graph_holds_the_csr_and_its_in_edges() {
        let csr = Csr::from_edges(10, &[(0, 9, 1.0), (8, 9, 0.5), (9, 1, -1.0)]).expect("valid");
        let both = BidirectionalGraph::from(csr.clone());
        assert_eq!((both.nodes(), both.edges()), (10, 3));
        assert_eq!(both.in_edges(), &PullGraph::new(&csr));
        assert_eq!(csr.heap_bytes(), 11 * 8 + 3 * 8);
        assert_eq!(
            both.heap_bytes(),
            csr.heap_bytes() + both.in_edges().heap_bytes()
        );
        let seen = SeedGraph::from(&both);
        assert_eq!(seen.out_edges(), &csr);
        assert!(seen.in_edges().is_some());
        assert!(SeedGraph::from(&csr).in_edges().is_none());
        assert_eq!(both.into_out_edges(), csr);
    }

    #[test]
    fn empty_graphs_have_no_slots() {
        for nodes in [0, 1, 8, 9] {
            let p = PullGraph::new(&Csr::without_edges(nodes).expect("valid"));
            assert_eq!(p.slots(), 0);
            assert_eq!(p.slice_offsets().len(), nodes.div_ceil(PULL_LANES) + 1);
            assert_eq!(p.fill(), 1.0);
        }
    }
}
