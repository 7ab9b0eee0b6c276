//! Criterion benchmarks: every kernel × backend × CPU level × size, with the peers, in one
//! process. `cargo bench -p engram-bench --features zig-kernels` (add `-- cosine/768` to filter).
//! For one side-by-side table with the read bandwidth, run the `engram-bench` command instead.
#![allow(missing_docs)] // criterion's macros generate undocumented items

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use engram_bench::peers;
use engram_bench::workload::{self, GraphShape};
use engram_kernels::pull::{BidirectionalGraph, PullGraph, SeedGraph};
use engram_kernels::{DecayCurve, Kernels, SpreadParams, SpreadWorkspace, l2_norm};

fn cosine(c: &mut Criterion) {
    let mut group = c.benchmark_group("cosine");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));
    for dim in [128, 384, 768, 1536] {
        for rows in [1_000, 10_000, 100_000, 1_000_000] {
            let matrix = workload::embeddings(rows, dim, 11).expect("valid");
            let query = workload::query(dim, 12);
            let qn = l2_norm(&query);
            let (flat, norms) = (matrix.as_flat(), matrix.norms());
            let mut out = vec![0.0f32; rows];
            group.throughput(Throughput::Elements(rows as u64));
            let size = format!("{dim}x{rows}");
            for k in Kernels::all_available() {
                let id = BenchmarkId::new(format!("engram {} {}", k.backend(), k.level()), &size);
                group.bench_function(id, |b| {
                    b.iter(|| {
                        k.cosine(black_box(&query), matrix.view(), &mut out)
                            .expect("valid")
                    })
                });
            }
            group.bench_function(BenchmarkId::new("idiomatic", &size), |b| {
                b.iter(|| peers::idiomatic_cosine(black_box(&query), flat, dim, &mut out))
            });
            group.bench_function(BenchmarkId::new("simsimd cos", &size), |b| {
                b.iter(|| peers::simsimd_cosine(black_box(&query), flat, dim, &mut out))
            });
            group.bench_function(BenchmarkId::new("simsimd dot+norms", &size), |b| {
                b.iter(|| {
                    peers::simsimd_dot_with_norms(black_box(&query), qn, flat, norms, dim, &mut out)
                })
            });
            group.bench_function(BenchmarkId::new("faer gemv", &size), |b| {
                b.iter(|| {
                    peers::faer_gemv_cosine(black_box(&query), qn, flat, norms, dim, &mut out)
                })
            });
        }
    }
    group.finish();
}

fn spread(c: &mut Criterion) {
    let mut group = c.benchmark_group("spread_one_dense_hop");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));
    let params = SpreadParams::new(1, 0.5, 0.0).expect("valid");
    for (nodes, edges) in [
        (1_000, 5_000),
        (100_000, 1_000_000),
        (1_000_000, 10_000_000),
    ] {
        for shape in [GraphShape::Random, GraphShape::PowerLaw] {
            let graph = workload::graph(nodes, edges, shape, 21).expect("valid");
            let initial = workload::activations(nodes, 22);
            let mut out = vec![0.0f32; nodes];
            let mut ws = SpreadWorkspace::with_nodes(nodes);
            group.throughput(Throughput::Elements(graph.edges() as u64));
            let size = format!("{nodes}/{edges} {}", shape.name());
            let pull = PullGraph::new(&graph);
            for k in Kernels::all_available() {
                let name = format!("engram {} {}", k.backend(), k.level());
                group.bench_function(BenchmarkId::new(format!("{name} push"), &size), |b| {
                    b.iter(|| {
                        k.spread(&graph, black_box(&initial), &params, &mut out, &mut ws)
                            .expect("valid")
                    })
                });
                group.bench_function(BenchmarkId::new(format!("{name} pull"), &size), |b| {
                    b.iter(|| {
                        k.spread_pull(&pull, black_box(&initial), &params, &mut out, &mut ws)
                            .expect("valid")
                    })
                });
            }
            let lists = peers::adjacency_lists(&graph);
            group.bench_function(BenchmarkId::new("idiomatic", &size), |b| {
                b.iter(|| {
                    peers::idiomatic_spread_hop(&lists, black_box(&initial), &mut out, 0.5, 0.0)
                })
            });
            let matrix = peers::sprs_matrix(&workload::transpose(&graph).expect("valid"))
                .expect("sorted rows");
            group.bench_function(BenchmarkId::new("sprs mat-vec", &size), |b| {
                b.iter(|| peers::sprs_hop(&matrix, black_box(&initial), &mut out))
            });
        }
    }
    group.finish();

    // From seeds, over the Csr alone and over a BidirectionalGraph (large-frontier hops pull):
    // a recall's 10 seeds on 1M nodes (always sparse), and every node of 100k seeded (dense).
    let mut group = c.benchmark_group("spread_from_seeds_3_hops");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));
    let params = SpreadParams::new(3, 0.5, 0.05).expect("valid");
    for (nodes, edges, count) in [(1_000_000, 10_000_000, 10), (100_000, 1_000_000, 100_000)] {
        let graph = workload::graph(nodes, edges, GraphShape::Random, 21).expect("valid");
        let seeds = workload::seeds(graph.nodes(), count, 31);
        let both = BidirectionalGraph::new(graph);
        let size = format!("{count} seeds, {nodes} nodes");
        for k in Kernels::all_available() {
            let mut ws = SpreadWorkspace::with_nodes(nodes);
            for (name, graph) in [
                ("Csr", SeedGraph::from(both.out_edges())),
                ("bidirectional", SeedGraph::from(&both)),
            ] {
                let id = format!("engram {} {} {name}", k.backend(), k.level());
                group.bench_function(BenchmarkId::new(id, &size), |b| {
                    b.iter(|| {
                        k.spread_from_seeds(graph, black_box(&seeds), &params, &mut ws)
                            .map(|r| r.len())
                            .expect("valid")
                    })
                });
            }
        }
    }
    group.finish();
}

fn decay(c: &mut Criterion) {
    let mut group = c.benchmark_group("decay_exponential");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));
    let curve = DecayCurve::exponential(7.0 * 86_400.0).expect("valid");
    let now = 1_790_000_000;
    for len in [10_000, 1_000_000, 10_000_000] {
        let (strengths, last) = workload::decay_inputs(len, now, 41);
        let mut out = vec![0.0f32; len];
        group.throughput(Throughput::Elements(len as u64));
        for k in Kernels::all_available() {
            let id = BenchmarkId::new(format!("engram {} {}", k.backend(), k.level()), len);
            group.bench_function(id, |b| {
                b.iter(|| {
                    k.retention(black_box(&strengths), &last, now, &curve, &mut out)
                        .expect("valid")
                })
            });
        }
        group.bench_function(BenchmarkId::new("idiomatic", len), |b| {
            b.iter(|| {
                peers::idiomatic_retention(
                    black_box(&strengths),
                    &last,
                    now,
                    7.0 * 86_400.0,
                    &mut out,
                )
            })
        });
    }
    group.finish();
}

fn ffi(c: &mut Criterion) {
    let mut group = c.benchmark_group("ffi_call");
    group.bench_function("rust inline(never)", |b| {
        b.iter(|| not_inlined_add(black_box(1), black_box(2)))
    });
    if engram_kernels::zig_add_u32(1, 2).is_some() {
        group.bench_function("zig ek_add_u32", |b| {
            b.iter(|| engram_kernels::zig_add_u32(black_box(1), black_box(2)))
        });
    }
    group.finish();
}

#[inline(never)]
fn not_inlined_add(a: u32, b: u32) -> u32 {
    a.wrapping_add(b)
}

criterion_group!(benches, cosine, spread, decay, ffi);
criterion_main!(benches);
