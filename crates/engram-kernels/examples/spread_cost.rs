//! How the cost of spreading follows the edges it touches: sparse spreading from a few seeds
//! (`Kernels::spread_from_seeds`, over the `Csr` alone and over a `BidirectionalGraph`, whose
//! large-frontier hops pull) against a dense pass (`Kernels::spread`) over a random graph, on
//! every backend and CPU level this machine can run, in one process.
//!
//! ```text
//! cargo run --release --features zig-kernels --example spread_cost -- \
//!     [--nodes N (1000000)] [--degree K (10)] [--seeds S (10)] [--hops H (3)] [--repeats R (21)]
//!     [--crossover]
//! ```
//!
//! `--crossover` adds one dense hop pushed (`Kernels::spread`) and pulled
//! (`Kernels::spread_pull`) with a growing share of the nodes firing: a push costs the edges it
//! scatters, a pull every slot, so this shows where pulling starts to pay, the measurement
//! behind the pull threshold of `spread_from_seeds`.
//!
//! Prints the median time of each. Indicative only; criterion benchmarks are the reference.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use engram_kernels::pull::BidirectionalGraph;
use engram_kernels::{Csr, Kernels, Seed, SpreadParams, SpreadWorkspace};

fn option(args: &[String], name: &str, default: u64) -> Result<u64, String> {
    match args.iter().position(|a| a == name) {
        None => Ok(default),
        Some(i) => args
            .get(i + 1)
            .ok_or(format!("{name} needs a value"))?
            .parse()
            .map_err(|e| format!("{name}: {e}")),
    }
}

fn median(mut times: Vec<Duration>) -> f64 {
    times.sort();
    times[times.len() / 2].as_secs_f64() * 1e3
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let parsed = (|| -> Result<_, String> {
        Ok((
            option(&args, "--nodes", 1_000_000)?,
            option(&args, "--degree", 10)?,
            option(&args, "--seeds", 10)?,
            option(&args, "--hops", 3)?,
            option(&args, "--repeats", 21)?.max(1),
        ))
    })();
    let (nodes, degree, seeds, hops, repeats) = match parsed {
        Ok(p) if p.0 >= 1 && p.0 <= u64::from(u32::MAX) => p,
        Ok(_) => {
            eprintln!("--nodes must be in 1..=4294967295");
            return ExitCode::from(2);
        }
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let crossover = args.iter().any(|a| a == "--crossover");
    match run(
        nodes as usize,
        degree,
        seeds,
        hops as u32,
        repeats as usize,
        crossover,
    ) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(
    n: usize,
    degree: u64,
    seeds: u64,
    hops: u32,
    repeats: usize,
    crossover: bool,
) -> Result<(), engram_kernels::Error> {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let edges: Vec<(u32, u32, f32)> = (0..n as u64 * degree)
        .map(|e| {
            (
                (e / degree) as u32,
                (next() % n as u64) as u32,
                0.1 + (next() % 90) as f32 / 100.0,
            )
        })
        .collect();
    let both = BidirectionalGraph::new(Csr::from_edges(n, &edges)?);
    drop(edges);
    let graph = both.out_edges();
    let params = SpreadParams::new(hops, 0.5, 0.05)?;
    let mut seed_list: Vec<Seed> = Vec::new();
    let mut is_seed = vec![false; n];
    while (seed_list.len() as u64) < seeds.min(n as u64) {
        let node = (next() % n as u64) as u32;
        if !std::mem::replace(&mut is_seed[node as usize], true) {
            seed_list.push(Seed::new(node, 0.5 + 0.5 * (next() % 100) as f32 / 100.0));
        }
    }
    let mut initial = vec![0.0f32; n];
    for s in &seed_list {
        initial[s.node as usize] = s.activation;
    }
    println!(
        "{n} nodes, {} edges, {} seeds, {hops} hops (decay 0.5, threshold 0.05); median of {repeats} runs",
        graph.edges(),
        seed_list.len()
    );
    println!(
        "{:<22}{:>14}{:>14}{:>14}{:>16}{:>12}",
        "backend level", "from Csr", "bidirect.", "dense (ms)", "edges touched", "active"
    );
    for kernels in Kernels::all_available() {
        let mut workspace = SpreadWorkspace::with_nodes(n);
        let mut sparse_times = Vec::with_capacity(repeats);
        let (mut touched, mut active) = (0, 0);
        for _ in 0..repeats {
            let start = Instant::now();
            let result = kernels.spread_from_seeds(graph, &seed_list, &params, &mut workspace)?;
            sparse_times.push(start.elapsed());
            (touched, active) = (result.outcome().edges_traversed, result.len());
        }
        let mut pull_times = Vec::with_capacity(repeats);
        for _ in 0..repeats {
            let start = Instant::now();
            let result = kernels.spread_from_seeds(&both, &seed_list, &params, &mut workspace)?;
            pull_times.push(start.elapsed());
            assert_eq!(
                (touched, active),
                (result.outcome().edges_traversed, result.len())
            );
        }
        let mut out = vec![0.0f32; n];
        let dense_times = (0..repeats.min(5))
            .map(|_| {
                let start = Instant::now();
                kernels
                    .spread(graph, &initial, &params, &mut out, &mut workspace)
                    .map(|_| start.elapsed())
            })
            .collect::<Result<Vec<_>, _>>()?;
        println!(
            "{:<22}{:>14.3}{:>14.3}{:>14.3}{:>16}{:>12}",
            format!("{} {}", kernels.backend(), kernels.level()),
            median(sparse_times),
            median(pull_times),
            median(dense_times),
            touched,
            active
        );
    }
    if crossover {
        let pull = both.in_edges();
        let params = SpreadParams::new(1, 0.5, 0.05)?;
        let mut out = vec![0.0f32; n];
        let mut workspace = SpreadWorkspace::with_nodes(n);
        println!(
            "\none dense hop with a share of the nodes firing ({} slots, {:.0}% filled); ms",
            pull.slots(),
            100.0 * pull.fill()
        );
        println!(
            "{:<22}{:>10}{:>14}{:>12}{:>12}{:>12}",
            "backend level", "firing", "edges firing", "push", "pull", "pull/push"
        );
        for kernels in Kernels::all_available() {
            for percent in [10u64, 25, 40, 50, 60, 75, 100] {
                // Node v fires when its hash falls under the share: spread over the graph.
                let initial: Vec<f32> = (0..n as u64)
                    .map(|v| {
                        let h = v.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32;
                        if h % 100 < percent { 0.75 } else { 0.0 }
                    })
                    .collect();
                let mut time = |pulled: bool| -> Result<(f64, u64), engram_kernels::Error> {
                    let mut times = Vec::with_capacity(repeats);
                    let mut edges = 0;
                    for _ in 0..repeats {
                        let start = Instant::now();
                        let outcome = if pulled {
                            kernels.spread_pull(
                                pull,
                                &initial,
                                &params,
                                &mut out,
                                &mut workspace,
                            )?
                        } else {
                            kernels.spread(graph, &initial, &params, &mut out, &mut workspace)?
                        };
                        times.push(start.elapsed());
                        edges = outcome.edges_traversed;
                    }
                    Ok((median(times), edges))
                };
                let (push, edges) = time(false)?;
                let (pulled, _) = time(true)?;
                println!(
                    "{:<22}{:>9}%{:>13.0}%{:>12.3}{:>12.3}{:>12.2}",
                    format!("{} {}", kernels.backend(), kernels.level()),
                    percent,
                    100.0 * edges as f64 / graph.edges().max(1) as f64,
                    push,
                    pulled,
                    pulled / push
                );
            }
        }
    }
    Ok(())
}
