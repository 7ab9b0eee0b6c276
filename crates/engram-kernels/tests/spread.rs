//! Hand-checked spreading-activation cases, on every compiled backend.

mod common;

use engram_kernels::pull::{BidirectionalGraph, SeedGraph};
use engram_kernels::{Csr, Kernels, Seed, SpreadOutcome, SpreadParams, SpreadWorkspace};

fn spread(
    k: &Kernels,
    g: &Csr,
    initial: &[f32],
    hops: u32,
    decay: f32,
    threshold: f32,
) -> (Vec<f32>, SpreadOutcome) {
    let params = SpreadParams::new(hops, decay, threshold).expect("valid params");
    let mut out = vec![f32::NAN; g.nodes()];
    let outcome = k
        .spread(g, initial, &params, &mut out, &mut SpreadWorkspace::new())
        .expect("valid input");
    (out, outcome)
}

#[test]
fn chain_with_decay_over_two_hops() {
    // 0 → 1 (w 1), 1 → 2 (w 0.5), d = 0.5.
    // hop 1: a = (1, 0 + 0.5·1·1, 0) = (1, 0.5, 0)
    // hop 2: a1 = min(1, 0.5 + 0.5·1) = 1; a2 = 0 + 0.5·0.5·0.5 = 0.125
    let g = Csr::from_edges(3, &[(0, 1, 1.0), (1, 2, 0.5)]).expect("valid");
    for k in common::every_kernels() {
        let (a, outcome) = spread(&k, &g, &[1.0, 0.0, 0.0], 2, 0.5, 0.0);
        assert_eq!(a, [1.0, 1.0, 0.125], "{}", k.describe());
        assert_eq!(
            outcome,
            SpreadOutcome {
                edges_traversed: 3,
                active_nodes: 3
            }
        );
    }
}

#[test]
fn zero_hops_returns_the_input_and_does_not_touch_it() {
    let g = Csr::from_edges(2, &[(0, 1, 1.0)]).expect("valid");
    let initial = [0.25, 0.0];
    for k in common::every_kernels() {
        let (a, outcome) = spread(&k, &g, &initial, 0, 1.0, 0.0);
        assert_eq!(a, initial);
        assert_eq!(
            outcome,
            SpreadOutcome {
                edges_traversed: 0,
                active_nodes: 1
            }
        );
        let (_, _) = spread(&k, &g, &initial, 3, 1.0, 0.0);
        assert_eq!(initial, [0.25, 0.0], "input must not be mutated");
    }
}

#[test]
fn activation_saturates_at_one() {
    let g = Csr::from_edges(2, &[(0, 1, 10.0)]).expect("valid");
    for k in common::every_kernels() {
        let (a, _) = spread(&k, &g, &[0.9, 0.5], 1, 1.0, 0.0);
        assert_eq!(a, [0.9, 1.0], "{}", k.describe());
    }
}

#[test]
fn negative_weights_inhibit_and_clamp_at_zero() {
    // 0 → 2 (w −1), 1 → 2 (w 0.25): a2 = 0.5 + 1·(−1·0.4 + 0.25·0.8) = 0.3; then a huge
    // inhibition clamps to 0.
    let g = Csr::from_edges(3, &[(0, 2, -1.0), (1, 2, 0.25)]).expect("valid");
    let strong = Csr::from_edges(2, &[(0, 1, -100.0)]).expect("valid");
    for k in common::every_kernels() {
        let (a, _) = spread(&k, &g, &[0.4, 0.8, 0.5], 1, 1.0, 0.0);
        assert!((a[2] - 0.3).abs() < 1e-7, "{}: {}", k.describe(), a[2]);
        let (a, outcome) = spread(&k, &strong, &[1.0, 0.5], 1, 1.0, 0.0);
        assert_eq!(a, [1.0, 0.0]);
        assert_eq!(outcome.active_nodes, 1);
    }
}

#[test]
fn threshold_is_inclusive() {
    let g = Csr::from_edges(2, &[(0, 1, 1.0)]).expect("valid");
    for k in common::every_kernels() {
        // Exactly at θ fires...
        let (a, outcome) = spread(&k, &g, &[0.5, 0.0], 1, 1.0, 0.5);
        assert_eq!(
            (a[1], outcome.edges_traversed),
            (0.5, 1),
            "{}",
            k.describe()
        );
        // ...one ulp below does not.
        let below = f32::from_bits(0.5f32.to_bits() - 1);
        let (a, outcome) = spread(&k, &g, &[below, 0.0], 1, 1.0, 0.5);
        assert_eq!(
            (a[1], outcome.edges_traversed),
            (0.0, 0),
            "{}",
            k.describe()
        );
    }
}

#[test]
fn duplicate_edges_count_twice_and_self_loops_are_ordinary() {
    let dup = Csr::from_edges(2, &[(0, 1, 0.25), (0, 1, 0.25)]).expect("valid");
    let self_loop = Csr::from_edges(1, &[(0, 0, 0.5)]).expect("valid");
    for k in common::every_kernels() {
        let (a, outcome) = spread(&k, &dup, &[0.5, 0.0], 1, 1.0, 0.0);
        assert_eq!(
            (a[1], outcome.edges_traversed),
            (0.25, 2),
            "{}",
            k.describe()
        );
        // a = 0.4 + 1·0.5·0.4 = 0.6, then 0.6 + 0.3 = 0.9.
        let (a, _) = spread(&k, &self_loop, &[0.4], 2, 1.0, 0.0);
        assert!((a[0] - 0.9).abs() < 1e-7, "{}: {}", k.describe(), a[0]);
    }
}

#[test]
fn graphs_without_edges_or_nodes() {
    let empty = Csr::without_edges(0).expect("valid");
    let isolated = Csr::without_edges(3).expect("valid");
    for k in common::every_kernels() {
        let (a, outcome) = spread(&k, &empty, &[], 5, 0.5, 0.0);
        assert!(a.is_empty());
        assert_eq!(outcome, SpreadOutcome::default());
        let (a, outcome) = spread(&k, &isolated, &[0.0, 1.0, 0.0], 4, 0.5, 0.0);
        assert_eq!(a, [0.0, 1.0, 0.0]);
        assert_eq!(outcome.active_nodes, 1);
    }
}

#[test]
fn a_workspace_is_reused_across_graphs_of_different_sizes() {
    let big = Csr::from_edges(4, &[(0, 1, 1.0), (1, 2, 1.0), (2, 3, 1.0)]).expect("valid");
    let small = Csr::from_edges(2, &[(0, 1, 0.5)]).expect("valid");
    let params = SpreadParams::new(3, 1.0, 0.0).expect("valid");
    for k in common::every_kernels() {
        let mut ws = SpreadWorkspace::new();
        let mut out = vec![0.0; 4];
        k.spread(&big, &[1.0, 0.0, 0.0, 0.0], &params, &mut out, &mut ws)
            .expect("valid");
        assert_eq!(out, [1.0, 1.0, 1.0, 1.0]);
        let mut out = vec![0.0; 2];
        k.spread(&small, &[1.0, 0.0], &params, &mut out, &mut ws)
            .expect("valid");
        // 0.5, then 1.0 after hop 2 (0.5 + 0.5), stays 1.
        assert_eq!(out, [1.0, 1.0], "{}", k.describe());
    }
}

#[test]
fn sparse_spreading_from_seeds_on_a_chain() {
    // The chain of `chain_with_decay_over_two_hops`, seeded at node 0 only: (1, 1, 0.125),
    // listed as sparse (node, activation) pairs; node 3 is never reached.
    let g = Csr::from_edges(4, &[(0, 1, 1.0), (1, 2, 0.5)]).expect("valid");
    let params = SpreadParams::new(2, 0.5, 0.0).expect("valid");
    for k in common::every_kernels() {
        let mut ws = SpreadWorkspace::new();
        let result = k
            .spread_from_seeds(&g, &[Seed::new(0, 1.0)], &params, &mut ws)
            .expect("valid");
        assert_eq!(
            result.iter().collect::<Vec<_>>(),
            [(0, 1.0), (1, 1.0), (2, 0.125)],
            "{}",
            k.describe()
        );
        assert_eq!(
            result.outcome(),
            SpreadOutcome {
                edges_traversed: 3,
                active_nodes: 3
            }
        );
        // No seed, or only zero seeds: nothing is active.
        assert!(
            k.spread_from_seeds(&g, &[], &params, &mut ws)
                .expect("valid")
                .is_empty()
        );
        assert!(
            k.spread_from_seeds(&g, &[Seed::new(3, 0.0)], &params, &mut ws)
                .expect("valid")
                .is_empty()
        );
    }
}

#[test]
fn direction_optimizing_spreading_gives_the_same_hand_checked_result() {
    // A chain 0 → 1 → 2 → 3 → 4 (weights 1, 0.5, 0.25, 0.125): 5 nodes, one slice of 8 pull
    // slots. Seeding nodes 0-3 puts all four edges in the first hop's frontier: over the Csr
    // alone the hop pushes; over the bidirectional graph it pulls (4 edges · 2 ≥ 8 slots). One
    // hop, decay 0.5: node 1 gets 0.25 + 0.5·0.5, node 2 0.125 + 0.5·0.5·0.25, node 3
    // 0.0625 + 0.5·0.25·0.125, node 4 0.5·0.125·0.0625; every value exact in f32.
    let csr = Csr::from_edges(5, &[(0, 1, 1.0), (1, 2, 0.5), (2, 3, 0.25), (3, 4, 0.125)])
        .expect("valid");
    let both = BidirectionalGraph::new(csr.clone());
    assert_eq!(both.in_edges().slots(), 8);
    let seeds = [
        Seed::new(2, 0.125),
        Seed::new(0, 0.5),
        Seed::new(3, 0.0625),
        Seed::new(1, 0.25),
    ];
    let params = SpreadParams::new(1, 0.5, 0.0).expect("valid");
    for k in common::every_kernels() {
        let mut ws = SpreadWorkspace::new();
        for graph in [SeedGraph::from(&csr), SeedGraph::from(&both)] {
            let result = k
                .spread_from_seeds(graph, &seeds, &params, &mut ws)
                .expect("valid");
            assert_eq!(
                result.iter().collect::<Vec<_>>(),
                [
                    (0, 0.5),
                    (1, 0.5),
                    (2, 0.1875),
                    (3, 0.078125),
                    (4, 0.00390625)
                ],
                "{} {graph:?}",
                k.describe()
            );
            assert_eq!(
                result.outcome(),
                SpreadOutcome {
                    edges_traversed: 4,
                    active_nodes: 5
                }
            );
        }
        // Seeds out of range are refused the same way.
        assert!(matches!(
            k.spread_from_seeds(&both, &[Seed::new(5, 1.0)], &params, &mut ws),
            Err(engram_kernels::Error::SeedOutOfRange { .. })
        ));
    }
}
