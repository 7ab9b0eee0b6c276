//! Criterion benchmark of a whole recall (10 seeds, 3 hops, 20 results) on stores of 10k,
//! 100k and 1M memories of D = 384 with 10 associations each, on every backend and CPU level
//! (single-threaded) and on the best one with 2 threads. `ENGRAM_RECALL_SIZES` (comma-
//! separated) picks sizes. p50/p99 and the bandwidth budget are in `engram-bench --only recall`.

#![allow(missing_docs)] // criterion's macros generate undocumented items
use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use engram_bench::recall::{build_store, params};
use engram_bench::workload::query;
use engram_kernels::Kernels;

const DIM: usize = 384;
const DEGREE: usize = 10;

fn sizes() -> Vec<usize> {
    std::env::var("ENGRAM_RECALL_SIZES")
        .ok()
        .map(|v| v.split(',').filter_map(|s| s.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![10_000, 100_000, 1_000_000])
}

fn recall(c: &mut Criterion) {
    for n in sizes() {
        let engram = match build_store(n, DIM, DEGREE, 42, |_| {}) {
            Ok(engram) => engram,
            Err(e) => panic!("building the {n}-memory store failed: {e}"),
        };
        let snapshot = engram.snapshot();
        let mut group = c.benchmark_group(format!("recall/n={n}/d={DIM}"));
        if n >= 1_000_000 {
            group.sample_size(10);
        }
        let mut kernels: Vec<Kernels> = Kernels::all_available();
        if let Ok(two) = Kernels::best_compiled().with_threads(2) {
            kernels.push(two);
        }
        let params = params();
        let cues: Vec<Vec<f32>> = (0..64).map(|i| query(DIM, i)).collect();
        for k in kernels {
            let on = snapshot.clone().with_kernels(k);
            let mut i = 0;
            group.bench_function(BenchmarkId::from_parameter(k.describe()), |b| {
                b.iter(|| {
                    i = (i + 1) % cues.len();
                    black_box(on.recall(&cues[i], &params))
                });
            });
        }
        group.finish();
    }
}

criterion_group!(benches, recall);
criterion_main!(benches);
