//! The association graph in compressed sparse row (CSR) form, validated once when built.

use crate::{Error, Result};

/// The largest edge weight magnitude a [`Csr`] accepts: 2^32.
///
/// Why a bound: activations are in `[0, 1]`, so with |w| ≤ 2^32 and at most 2^64 edges no sum
/// of weighted activations can exceed 2^96, far below `f32::MAX` (≈ 2^128). Sums therefore
/// never overflow to ±∞, never produce NaN (∞ − ∞), and both backends agree exactly. The Zig
/// kernels' contract checks the same bound (`zig/src/shared.zon`).
// Exact: 2^32 is an f32 (asserted in `shared.rs`).
pub const MAX_ABS_WEIGHT: f32 = crate::shared::MAX_ABS_WEIGHT as f32;

/// A weighted directed graph of `N` nodes and `E` edges in CSR form: the out-edges of node `u`
/// are `targets[offsets[u]..offsets[u+1]]` with the same range of `weights`.
///
/// Every `Csr` is valid by construction — `offsets` has `N + 1` entries, starts at 0, never
/// decreases and ends at `E`; every target is `< N`; every weight is finite with
/// |w| ≤ [`MAX_ABS_WEIGHT`] — so the spreading kernel re-checks none of it. Duplicate edges
/// and self-loops are allowed and are ordinary edges. Node ids are `u32`, so `N ≤ 2^32`.
#[derive(Debug, Clone, PartialEq)]
pub struct Csr {
    offsets: Vec<u64>,
    targets: Vec<u32>,
    weights: Vec<f32>,
}

impl Csr {
    /// Validates and takes ownership of CSR arrays (no copy). O(N + E).
    ///
    /// # Errors
    /// [`Error::InvalidOffsets`], [`Error::LengthMismatch`] (weights vs targets),
    /// [`Error::TooManyNodes`], [`Error::TargetOutOfRange`] or [`Error::InvalidWeight`], for
    /// the first problem found.
    pub fn new(offsets: Vec<u64>, targets: Vec<u32>, weights: Vec<f32>) -> Result<Self> {
        let Some((&first, _)) = offsets.split_first() else {
            return Err(Error::InvalidOffsets {
                reason: "offsets is empty; a graph of N nodes has N + 1 offsets".into(),
            });
        };
        if first != 0 {
            return Err(Error::InvalidOffsets {
                reason: format!("offsets[0] is {first}, not 0"),
            });
        }
        if let Some(u) = offsets.windows(2).position(|w| w[1] < w[0]) {
            return Err(Error::InvalidOffsets {
                reason: format!(
                    "offsets[{}] = {} is less than offsets[{u}] = {}",
                    u + 1,
                    offsets[u + 1],
                    offsets[u]
                ),
            });
        }
        let last = offsets[offsets.len() - 1];
        if u64::try_from(targets.len()) != Ok(last) {
            return Err(Error::InvalidOffsets {
                reason: format!(
                    "offsets ends at {last} but there are {} targets",
                    targets.len()
                ),
            });
        }
        if weights.len() != targets.len() {
            return Err(Error::LengthMismatch {
                what: "weights",
                expected: targets.len(),
                actual: weights.len(),
            });
        }
        let nodes = offsets.len() - 1;
        check_node_count(nodes)?;
        if let Some(edge) = targets.iter().position(|&t| t as usize >= nodes) {
            return Err(Error::TargetOutOfRange {
                edge,
                target: targets[edge],
                nodes,
            });
        }
        if let Some(edge) = weights.iter().position(|w| !is_valid_weight(*w)) {
            return Err(Error::InvalidWeight {
                edge,
                weight: weights[edge],
            });
        }
        Ok(Self {
            offsets,
            targets,
            weights,
        })
    }

    /// A graph of `nodes` nodes and no edges.
    ///
    /// # Errors
    /// [`Error::TooManyNodes`] beyond 2^32 nodes.
    pub fn without_edges(nodes: usize) -> Result<Self> {
        check_node_count(nodes)?;
        Ok(Self {
            offsets: vec![0; nodes + 1],
            targets: Vec::new(),
            weights: Vec::new(),
        })
    }

    /// Builds the CSR from `(source, target, weight)` edges in any order. Each node's
    /// out-edges keep the order in which they were given. O(N + E).
    ///
    /// # Errors
    /// [`Error::TooManyNodes`], [`Error::SourceOutOfRange`], [`Error::TargetOutOfRange`] or
    /// [`Error::InvalidWeight`] (the edge index is its position in `edges`).
    pub fn from_edges(nodes: usize, edges: &[(u32, u32, f32)]) -> Result<Self> {
        check_node_count(nodes)?;
        let mut offsets = vec![0u64; nodes + 1];
        for (edge, &(source, target, weight)) in edges.iter().enumerate() {
            if source as usize >= nodes {
                return Err(Error::SourceOutOfRange {
                    edge,
                    source_node: source,
                    nodes,
                });
            }
            if target as usize >= nodes {
                return Err(Error::TargetOutOfRange {
                    edge,
                    target,
                    nodes,
                });
            }
            if !is_valid_weight(weight) {
                return Err(Error::InvalidWeight { edge, weight });
            }
            offsets[source as usize + 1] += 1;
        }
        for u in 0..nodes {
            offsets[u + 1] += offsets[u];
        }
        // A counting sort by source: `next[u]` is where u's next edge goes.
        let mut next: Vec<u64> = offsets[..nodes].to_vec();
        let mut targets = vec![0u32; edges.len()];
        let mut weights = vec![0f32; edges.len()];
        for &(source, target, weight) in edges {
            let slot = &mut next[source as usize];
            targets[*slot as usize] = target;
            weights[*slot as usize] = weight;
            *slot += 1;
        }
        Ok(Self {
            offsets,
            targets,
            weights,
        })
    }

    /// Number of nodes, `N`.
    pub fn nodes(&self) -> usize {
        self.offsets.len() - 1
    }

    /// Number of edges, `E`.
    pub fn edges(&self) -> usize {
        self.targets.len()
    }

    /// The `N + 1` offsets.
    pub fn offsets(&self) -> &[u64] {
        &self.offsets
    }

    /// The `E` edge targets.
    pub fn targets(&self) -> &[u32] {
        &self.targets
    }

    /// The `E` edge weights.
    pub fn weights(&self) -> &[f32] {
        &self.weights
    }

    /// The out-edges of `node` as `(targets, weights)`, or `None` if there is no such node.
    pub fn out_edges(&self, node: usize) -> Option<(&[u32], &[f32])> {
        let begin = usize::try_from(*self.offsets.get(node)?).ok()?;
        let end = usize::try_from(*self.offsets.get(node + 1)?).ok()?;
        Some((&self.targets[begin..end], &self.weights[begin..end]))
    }

    /// Heap bytes held by this graph: 8 per node (plus 8) and 8 per edge.
    pub fn heap_bytes(&self) -> usize {
        self.offsets.len() * 8 + self.targets.len() * 4 + self.weights.len() * 4
    }

    /// Gives the arrays back: `(offsets, targets, weights)`.
    pub fn into_parts(self) -> (Vec<u64>, Vec<u32>, Vec<f32>) {
        (self.offsets, self.targets, self.weights)
    }
}

fn check_node_count(nodes: usize) -> Result<()> {
    if nodes as u64 > u64::from(u32::MAX) + 1 {
        return Err(Error::TooManyNodes { nodes });
    }
    Ok(())
}

fn is_valid_weight(w: f32) -> bool {
    w.is_finite() && w.abs() <= MAX_ABS_WEIGHT
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offsets_error(offsets: Vec<u64>, edges: usize) -> String {
        match Csr::new(offsets, vec![0; edges], vec![0.0; edges]) {
            Err(Error::InvalidOffsets { reason }) => reason,
            other => panic!("expected InvalidOffsets, got {other:?}"),
        }
    }

    #[test]
    fn offsets_are_checked() {
        assert!(offsets_error(vec![], 0).contains("empty"));
        assert!(offsets_error(vec![1, 1], 1).contains("offsets[0] is 1"));
        assert!(
            offsets_error(vec![0, 2, 1], 2).contains("offsets[2] = 1 is less than offsets[1] = 2")
        );
        assert!(offsets_error(vec![0, 1], 2).contains("ends at 1 but there are 2 targets"));
    }

    #[test]
    fn targets_and_weights_are_checked() {
        assert_eq!(
            Csr::new(vec![0, 1, 2], vec![1, 2], vec![1.0, 1.0]),
            Err(Error::TargetOutOfRange {
                edge: 1,
                target: 2,
                nodes: 2
            })
        );
        assert_eq!(
            Csr::new(vec![0, 1], vec![0], vec![]),
            Err(Error::LengthMismatch {
                what: "weights",
                expected: 1,
                actual: 0
            })
        );
        for bad in [
            f32::NAN,
            f32::INFINITY,
            -f32::INFINITY,
            2.0 * MAX_ABS_WEIGHT,
        ] {
            match Csr::new(vec![0, 1], vec![0], vec![bad]) {
                Err(Error::InvalidWeight { edge: 0, .. }) => {}
                other => panic!("weight {bad} gave {other:?}"),
            }
        }
        assert!(Csr::new(vec![0, 1], vec![0], vec![-MAX_ABS_WEIGHT]).is_ok());
    }

    #[test]
    fn from_edges_groups_by_source_and_keeps_order() {
        let g = Csr::from_edges(3, &[(2, 0, 0.5), (0, 1, 1.0), (2, 2, -1.0), (0, 1, 2.0)])
            .expect("valid edges");
        assert_eq!(g.offsets(), &[0, 2, 2, 4]);
        assert_eq!(g.out_edges(0), Some((&[1u32, 1][..], &[1.0f32, 2.0][..])));
        assert_eq!(g.out_edges(1), Some((&[][..], &[][..])));
        assert_eq!(g.out_edges(2), Some((&[0u32, 2][..], &[0.5f32, -1.0][..])));
        assert_eq!(g.out_edges(3), None);
        assert_eq!((g.nodes(), g.edges()), (3, 4));
    }

    #[test]
    fn from_edges_checks_every_edge() {
        assert_eq!(
            Csr::from_edges(2, &[(0, 1, 1.0), (2, 0, 1.0)]),
            Err(Error::SourceOutOfRange {
                edge: 1,
                source_node: 2,
                nodes: 2
            })
        );
        assert_eq!(
            Csr::from_edges(2, &[(0, 5, 1.0)]),
            Err(Error::TargetOutOfRange {
                edge: 0,
                target: 5,
                nodes: 2
            })
        );
        assert!(matches!(
            Csr::from_edges(2, &[(0, 1, f32::NAN)]),
            Err(Error::InvalidWeight { edge: 0, .. })
        ));
    }

    #[test]
    fn empty_graphs_are_valid() {
        let g = Csr::without_edges(0).expect("zero nodes");
        assert_eq!((g.nodes(), g.edges()), (0, 0));
        assert_eq!(
            Csr::without_edges(4).expect("four nodes").offsets(),
            &[0; 5]
        );
    }
}
