//! `engram-bench`: every kernel on every backend and CPU level this machine can run, side by side
//! with the peers a user would pick instead and with the machine's read bandwidth, all
//! measured in this one process. Prints markdown tables (for BENCHMARKS.md) on stdout and a
//! progress bar on stderr.
//!
//! ```text
//! cargo run --release -p engram-bench --features zig-kernels -- [--quick] [--only KERNEL]...
//! ```

#![forbid(unsafe_code)]

use std::hint::black_box;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use engram_bench::workload::{self, GraphShape};
use engram_bench::{cpu_model, median_time, peers, read_bandwidth};
use engram_graph::Precision;
use engram_kernels::pull::{BidirectionalGraph, PullGraph, SeedGraph};
use engram_kernels::{
    DecayCurve, EmbeddingMatrix, EmbeddingsView, Error, F16EmbeddingsView, Int8EmbeddingsView,
    Kernels, SpreadParams, SpreadWorkspace, f16_bits_to_f32, f32_to_f16_bits, l2_norm,
};
use indicatif::{ProgressBar, ProgressStyle};

/// Seed counts of the spreading-from-seeds table: a recall's 10, then enough that later hops
/// are dense (1,000) and reach the pull threshold (100,000).
const SEED_COUNTS: [usize; 3] = [10, 1_000, 100_000];

/// Bytes a retention moves per element: an f32 strength and an i64 time read, an f32 written.
const DECAY_BYTES_PER_ELEMENT: usize = 4 + 8 + 4;

/// Benchmark engram-kernels against its peers and the machine's read bandwidth.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Fewer, smaller sizes and fewer repeats: finishes in under a minute.
    #[arg(long)]
    quick: bool,
    /// Only these kernels (repeatable). Default: all.
    #[arg(long, value_enum)]
    only: Vec<Kernel>,
    /// Timed runs per measurement; the median is reported. Default: 7 (3 with --quick).
    #[arg(long)]
    repeats: Option<usize>,
    /// The WordNet 3.0 database for the codes measurement (skipped, with a note, if absent;
    /// `scripts/install-wordnet` installs it).
    #[arg(long, default_value = "/usr/share/wordnet")]
    wordnet: std::path::PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Kernel {
    Similarity,
    Spread,
    Decay,
    Ffi,
    /// Whole recalls on an `engram` store (p50/p99 latency).
    Recall,
    /// Recall@10 of scanning codes (int8) and rescoring the best R exactly, against exact f32,
    /// on clustered synthetic data and on WordNet's glosses.
    Codes,
}

/// One measured implementation in a table.
struct Row {
    name: String,
    time: Duration,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn wants(args: &Args, kernel: Kernel) -> bool {
    args.only.is_empty() || args.only.contains(&kernel)
}

fn run(args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    let repeats = args
        .repeats
        .unwrap_or(if args.quick { 3 } else { 7 })
        .max(1);
    let kernels = Kernels::all_available();
    let similarity_sizes: Vec<(usize, usize)> = if args.quick {
        vec![(384, 10_000), (768, 10_000), (768, 100_000)]
    } else {
        [128, 384, 768, 1536]
            .into_iter()
            .flat_map(|d| [1_000, 10_000, 100_000, 1_000_000].map(|n| (d, n)))
            .collect()
    };
    let graphs: Vec<(usize, usize, GraphShape)> = if args.quick {
        vec![(100_000, 1_000_000, GraphShape::Random)]
    } else {
        [
            (1_000, 5_000),
            (100_000, 1_000_000),
            (1_000_000, 10_000_000),
        ]
        .into_iter()
        .flat_map(|(n, e)| [GraphShape::Random, GraphShape::PowerLaw].map(|s| (n, e, s)))
        .collect()
    };
    let decay_sizes: Vec<usize> = if args.quick {
        vec![1_000_000]
    } else {
        vec![10_000, 1_000_000, 10_000_000]
    };

    let int8_sizes: Vec<(usize, usize)> = if args.quick {
        vec![(384, 100_000)]
    } else {
        vec![(384, 10_000), (384, 1_000_000), (768, 1_000_000)]
    };

    let impls = kernels.len();
    let mut steps = 1;
    if wants(args, Kernel::Similarity) {
        steps +=
            similarity_sizes.len() * (impls + 4) + 2 * (int8_sizes.len() * (impls + 1) + impls);
    }
    if wants(args, Kernel::Spread) {
        steps += graphs.len() * (2 * impls + 2) + SEED_COUNTS.len() * impls;
    }
    if wants(args, Kernel::Decay) {
        steps += decay_sizes.len() * (impls + 1);
    }
    if wants(args, Kernel::Ffi) {
        steps += 2;
    }
    let recall_sizes: Vec<usize> = if args.quick {
        vec![10_000]
    } else {
        vec![10_000, 100_000, 1_000_000]
    };
    if wants(args, Kernel::Recall) {
        steps += recall_sizes.len() * (impls + 2);
    }
    let codes_rows = if args.quick { 100_000 } else { 1_000_000 };
    if wants(args, Kernel::Codes) {
        steps += 3;
    }
    let bar = ProgressBar::new(steps as u64);
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );

    bar.set_message("measuring single-core read bandwidth");
    let bandwidth = read_bandwidth(1 << 30, repeats.max(5));
    bar.inc(1);

    println!("# engram-kernels benchmark\n");
    println!(
        "- CPU: {} ({} logical cores)",
        cpu_model(),
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!(
        "- single-core read bandwidth, measured in this run: **{:.1} GB/s**",
        bandwidth / 1e9
    );
    println!(
        "- backends and levels: {}",
        kernels
            .iter()
            .map(|k| format!("{} {}", k.backend(), k.level()))
            .collect::<Vec<_>>()
            .join(", ")
    );
    for k in &kernels {
        println!("  - {}", k.describe());
    }
    println!(
        "- median of {repeats} runs per cell, one thread; `{}`\n",
        std::env::args().collect::<Vec<_>>().join(" ")
    );

    if wants(args, Kernel::Similarity) {
        println!("## Cosine similarity, precomputed norms\n");
        println!(
            "`ns/row` per candidate row; `GB/s` = bytes read (row + norm) per second; `% BW` of the read bandwidth above; `× idiomatic` = speed-up over the iterator code a user writes first.\n"
        );
        println!("| D | N | implementation | ns/row | GB/s | % BW | × idiomatic |");
        println!("|---:|---:|---|---:|---:|---:|---:|");
        for &(dim, rows) in &similarity_sizes {
            bar.set_message(format!("cosine D={dim} N={rows}: generating"));
            let matrix = workload::embeddings(rows, dim, 11)?;
            let query = workload::query(dim, 12);
            let table = similarity_rows(&kernels, &matrix, &query, repeats, &bar)?;
            let bytes_per_row = (dim * 4 + 4) as f64;
            let idiomatic = table
                .iter()
                .find(|r| r.name == "idiomatic Rust")
                .map_or(Duration::ZERO, |r| r.time);
            for row in &table {
                let ns = row.time.as_secs_f64() * 1e9 / rows as f64;
                let gbs = bytes_per_row / ns;
                println!(
                    "| {dim} | {rows} | {} | {ns:.1} | {gbs:.1} | {:.0}% | {:.2} |",
                    row.name,
                    100.0 * gbs * 1e9 / bandwidth,
                    idiomatic.as_secs_f64() / row.time.as_secs_f64()
                );
            }
        }
        println!();
        int8_section(&kernels, &int8_sizes, repeats, bandwidth, &bar)?;
        f16_section(&kernels, &int8_sizes, repeats, bandwidth, &bar)?;
    }

    if wants(args, Kernel::Spread) {
        println!("## Spreading activation, one dense hop (every node active, θ = 0)\n");
        println!(
            "`M edges/s` = edges traversed per second. `push` scatters each node's activation along its out-edges (`Kernels::spread` over the `Csr`); `pull` has every node gather its in-edges (`Kernels::spread_pull` over a `PullGraph`, SELL-8 slices; `fill` = edges ÷ slots, the rest is padding it also reads); both give the same bits. sprs computes only the weighted sums (a mat-vec over the transposed graph), without threshold, decay or clamp.\n"
        );
        println!("| graph | implementation | ms | M edges/s | × idiomatic |");
        println!("|---|---|---:|---:|---:|");
        let mut largest = None;
        for &(nodes, edges, shape) in &graphs {
            bar.set_message(format!(
                "spread {nodes}/{edges} {}: generating",
                shape.name()
            ));
            let graph = workload::graph(nodes, edges, shape, 21)?;
            let table = spread_rows(&kernels, &graph, repeats, &bar)?;
            let idiomatic = table
                .iter()
                .find(|r| r.name == "idiomatic Rust (adjacency lists)")
                .map_or(Duration::ZERO, |r| r.time);
            let label = format!("{nodes} nodes / {} edges, {}", graph.edges(), shape.name());
            for row in &table {
                println!(
                    "| {label} | {} | {:.3} | {:.0} | {:.2} |",
                    row.name,
                    row.time.as_secs_f64() * 1e3,
                    graph.edges() as f64 / row.time.as_secs_f64() / 1e6,
                    idiomatic.as_secs_f64() / row.time.as_secs_f64()
                );
            }
            largest = Some(graph);
        }
        if let Some(graph) = largest {
            println!(
                "\n### From seeds, 3 hops (decay 0.5, θ = 0.05), on the largest graph above\n"
            );
            println!(
                "`spread_from_seeds` over the `Csr` alone (hops with a small frontier push along its out-edges only, larger ones push over every node) and over a `BidirectionalGraph` (the same, but a hop whose frontier's edges are at least half the pull slots pulls instead). Both give the same bits. 10 seeds is a recall; more seeds reach dense hops.\n"
            );
            println!(
                "| implementation | seeds | Csr (ms) | bidirectional (ms) | edges touched | active nodes |"
            );
            println!("|---|---:|---:|---:|---:|---:|");
            let both = BidirectionalGraph::new(graph);
            let params = SpreadParams::new(3, 0.5, 0.05)?;
            let mut ws = SpreadWorkspace::with_nodes(both.nodes());
            for count in SEED_COUNTS {
                let seeds = workload::seeds(both.nodes(), count, 31);
                for k in &kernels {
                    bar.set_message(format!(
                        "spread from {count} seeds: {} {}",
                        k.backend(),
                        k.level()
                    ));
                    let mut result = None;
                    let mut time_over = |graph: SeedGraph<'_>| -> Result<Duration, Error> {
                        let mut failure = None;
                        let time = median_time(repeats * 3, || {
                            match k.spread_from_seeds(graph, &seeds, &params, &mut ws) {
                                Ok(r) => result = Some((r.outcome().edges_traversed, r.len())),
                                Err(e) => failure = Some(e),
                            }
                        });
                        failure.map_or(Ok(time), Err)
                    };
                    let from_csr = time_over(SeedGraph::from(both.out_edges()))?;
                    let bidirectional = time_over(SeedGraph::from(&both))?;
                    let (touched, active) = result.unwrap_or_default();
                    println!(
                        "| {} {} | {count} | {:.3} | {:.3} | {touched} | {active} |",
                        k.backend(),
                        k.level(),
                        from_csr.as_secs_f64() * 1e3,
                        bidirectional.as_secs_f64() * 1e3,
                    );
                    bar.inc(1);
                }
            }
        }
        println!();
    }

    if wants(args, Kernel::Decay) {
        println!("## Decay (retention), exponential\n");
        println!(
            "`GB/s` = bytes moved per second: {DECAY_BYTES_PER_ELEMENT} per element (an f32 strength and an i64 time read, an f32 written); `% BW` of the read bandwidth above.\n"
        );
        println!("| N | implementation | ns/element | GB/s | % BW | × idiomatic |");
        println!("|---:|---|---:|---:|---:|---:|");
        let curve = DecayCurve::exponential(7.0 * 86_400.0)?;
        let now = 1_790_000_000;
        for &len in &decay_sizes {
            bar.set_message(format!("decay N={len}"));
            let (strengths, last) = workload::decay_inputs(len, now, 41);
            let mut out = vec![0.0f32; len];
            let idiomatic = median_time(repeats, || {
                peers::idiomatic_retention(&strengths, &last, now, 7.0 * 86_400.0, &mut out);
                black_box(&out);
            });
            bar.inc(1);
            let mut table = vec![Row {
                name: String::from("idiomatic Rust (f32 exp2)"),
                time: idiomatic,
            }];
            table.extend(time_every_kernel(
                &kernels,
                repeats,
                &bar,
                &format!("decay N={len}"),
                |k| {
                    k.retention(&strengths, &last, now, &curve, &mut out)?;
                    black_box(&out);
                    Ok(())
                },
            )?);
            for row in &table {
                let gbs = (DECAY_BYTES_PER_ELEMENT * len) as f64 / row.time.as_secs_f64() / 1e9;
                println!(
                    "| {len} | {} | {:.2} | {gbs:.1} | {:.0}% | {:.2} |",
                    row.name,
                    row.time.as_secs_f64() * 1e9 / len as f64,
                    100.0 * gbs * 1e9 / bandwidth,
                    idiomatic.as_secs_f64() / row.time.as_secs_f64()
                );
            }
        }
        println!();
    }

    if wants(args, Kernel::Ffi) {
        println!("## FFI call overhead\n");
        println!("| call | ns/call |");
        println!("|---|---:|");
        const CALLS: u32 = 10_000_000;
        bar.set_message("FFI overhead");
        let rust = median_time(repeats, || {
            let mut acc = 0u32;
            for i in 0..CALLS {
                acc = not_inlined_add(black_box(acc), i);
            }
            black_box(acc);
        });
        bar.inc(1);
        println!(
            "| Rust `#[inline(never)]` add | {:.2} |",
            rust.as_secs_f64() * 1e9 / f64::from(CALLS)
        );
        if engram_kernels::zig_add_u32(1, 2).is_some() {
            let zig = median_time(repeats, || {
                let mut acc = 0u32;
                for i in 0..CALLS {
                    acc = engram_kernels::zig_add_u32(black_box(acc), i).unwrap_or(acc);
                }
                black_box(acc);
            });
            println!(
                "| Zig `ek_add_u32` through the C ABI | {:.2} |",
                zig.as_secs_f64() * 1e9 / f64::from(CALLS)
            );
        } else {
            println!("| Zig | not compiled in (build with `--features zig-kernels`) |");
        }
        bar.inc(1);
        println!();
    }
    if wants(args, Kernel::Recall) {
        recall_table(&kernels, &recall_sizes, bandwidth, args.quick, &bar)?;
    }
    if wants(args, Kernel::Codes) {
        codes_section(codes_rows, &args.wordnet, &bar)?;
    }
    bar.finish_and_clear();
    Ok(())
}

/// The candidate counts R of the codes table.
const CANDIDATES: [usize; 7] = [10, 20, 50, 100, 200, 500, 1_000];

/// Cues per dataset in the codes table (the issue asks for at least 200).
const CODE_CUES: usize = 200;

/// The recall@10 of code scans rescored exactly, per precision and R, on clustered synthetic
/// data and on WordNet's glosses (embedded as `engram import --wordnet` does, cued by their
/// words alone).
fn codes_section(
    rows: usize,
    wordnet_dir: &std::path::Path,
    bar: &ProgressBar,
) -> Result<(), Box<dyn std::error::Error>> {
    const K: usize = 10;
    let kernels = Kernels::best_compiled();
    println!(
        "## Recall@{K} of code scans, rescored exactly
"
    );
    println!(
        "Scan the codes, keep the best R, rescore those with exact f32 cosine, keep the best {K}: the fraction of the exact f32 top {K} found, the mean over {CODE_CUES} cues (`{}`). int8: `Kernels::quantize_i8` codes of the rows and of the cue (one scale per row), scored `dot_i8 × scale ÷ norm`; f16: `Kernels::quantize_f16` codes of the rows (one power-of-two scale per row), the f32 cue, scored `dot_f16 × scale ÷ norm`. `R for 0.99` = the smallest R in the table reaching a recall of 0.99.\n",
        kernels.describe()
    );
    let header: Vec<String> = CANDIDATES.iter().map(|r| format!("R = {r}")).collect();
    println!(
        "| data | N | D | precision | bytes/row | {} | R for 0.99 |",
        header.join(" | ")
    );
    println!(
        "|---|---:|---:|---|---:|{}---:|",
        "---:|".repeat(CANDIDATES.len())
    );
    let dim = 384;
    // Clusters of 100 points, and of 10,000 (more close rivals for the top 10).
    for per_cluster in [100, 10_000] {
        let count = (rows / per_cluster).max(1);
        bar.set_message(format!("codes: {rows} rows in {count} clusters"));
        let clusters = workload::Clusters::new(count, dim, 0.5, 51);
        let matrix = clusters.embeddings(rows, 52)?;
        let cues = clusters.cues(CODE_CUES, 53);
        let label = format!("clustered ({count} clusters, noise 0.5)");
        codes_rows(&kernels, &label, &matrix, &cues, K)?;
        bar.inc(1);
    }
    bar.set_message("codes: WordNet");
    match engram_bench::wordnet::read(wordnet_dir) {
        Ok(synsets) => {
            let embedder = engram_text::HashEmbedder::new(dim)?;
            let mut flat = Vec::with_capacity(synsets.len() * dim);
            for synset in &synsets {
                flat.extend(embedder.embed(&synset.content)?);
            }
            let matrix = EmbeddingMatrix::from_flat(flat, dim)?;
            let mut rng = workload::Rng::new(54);
            let cues = (0..CODE_CUES)
                .map(|_| embedder.embed(&synsets[rng.below(synsets.len() as u64) as usize].words))
                .collect::<Result<Vec<_>, _>>()?;
            codes_rows(
                &kernels,
                "WordNet glosses (hash-v1, cued by a synset's words)",
                &matrix,
                &cues,
                K,
            )?;
        }
        Err(e) => println!("\nWordNet not measured: {e}"),
    }
    bar.inc(1);
    println!();
    Ok(())
}

/// One row of the codes table per precision.
fn codes_rows(
    kernels: &Kernels,
    label: &str,
    matrix: &EmbeddingMatrix,
    cues: &[Vec<f32>],
    k: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    use engram_bench::codes::{Codes, Precision, recall_at_k};
    for precision in [Precision::Int8, Precision::F16] {
        let codes = Codes::new(kernels, matrix, precision)?;
        let recall = recall_at_k(kernels, matrix, &codes, cues, k, &CANDIDATES)?;
        let enough = CANDIDATES
            .iter()
            .zip(&recall)
            .find(|(_, r)| **r >= 0.99)
            .map_or_else(
                || format!("> {}", CANDIDATES[CANDIDATES.len() - 1]),
                |(c, _)| c.to_string(),
            );
        let cells: Vec<String> = recall.iter().map(|r| format!("{r:.3}")).collect();
        println!(
            "| {label} | {} | {} | {} | {} | {} | {enough} |",
            matrix.rows(),
            matrix.dim(),
            precision.name(),
            codes.bytes_per_row() + 4,
            cells.join(" | ")
        );
    }
    Ok(())
}

/// Memories' dimension and associations per memory in the recall benchmark.
const RECALL_DIM: usize = 384;
const RECALL_DEGREE: usize = 10;

/// Recall latency on stores of each size, on every backend and level and on the best with
/// every core, against the budget of issue 5: 1.2 × (embedding bytes ÷ read bandwidth) + 1 ms.
fn recall_table(
    kernels: &[Kernels],
    sizes: &[usize],
    bandwidth: f64,
    quick: bool,
    bar: &ProgressBar,
) -> Result<(), Box<dyn std::error::Error>> {
    use engram_bench::recall::{build_store, latencies, percentile};
    println!("## Recall (engram store)\n");
    println!(
        "A whole recall — cosine against every memory, 10 seeds, 3 hops of spreading, retention, the best 20 — from distinct random cues. D = {RECALL_DIM}, {RECALL_DEGREE} random associations per memory, compacted, in a store in a temporary directory (read in place from its memory map). `budget` = 1.2 × embedding bytes ÷ the read bandwidth above + 1 ms.\n"
    );
    println!("| N | kernels | recalls | p50 ms | p99 ms | budget ms | p50 / budget |");
    println!("|---:|---|---:|---:|---:|---:|---:|");
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut by_precision = Vec::new();
    for &n in sizes {
        bar.set_message(format!("recall N={n}: building the store"));
        let engram = build_store(n, RECALL_DIM, RECALL_DEGREE, 42, |done| {
            bar.set_message(format!(
                "recall N={n}: building the store {:.0}%",
                done * 100.0
            ));
        })?;
        bar.inc(1);
        let snapshot = engram.snapshot();
        let count = match (quick, n) {
            (true, _) => 30,
            (false, n) if n >= 1_000_000 => 40,
            (false, n) if n >= 100_000 => 150,
            _ => 400,
        };
        let budget = 1.2 * (n * RECALL_DIM * 4) as f64 / bandwidth + 1e-3;
        let mut runs: Vec<Kernels> = kernels.to_vec();
        if let Some(best) = kernels.last().filter(|_| cores > 1) {
            runs.push(best.with_threads(cores)?);
        }
        for k in runs {
            bar.set_message(format!("recall N={n}: {}", k.describe()));
            let times = latencies(&snapshot.clone().with_kernels(k), count, 7)?;
            let p50 = percentile(&times, 50.0).as_secs_f64();
            let p99 = percentile(&times, 99.0).as_secs_f64();
            println!(
                "| {n} | {} {}, {} thread{} | {count} | {:.2} | {:.2} | {:.2} | {:.0}% |",
                k.backend(),
                k.level(),
                k.threads(),
                if k.threads() == 1 { "" } else { "s" },
                p50 * 1e3,
                p99 * 1e3,
                budget * 1e3,
                100.0 * p50 / budget
            );
            bar.inc(1);
        }
        // The same store at each scan precision, on the best kernels, one thread.
        if let Some(&best) = kernels.last() {
            let mut f32_p50 = None;
            for precision in Precision::ALL {
                bar.set_message(format!("recall N={n}: rebuilding at {precision}"));
                let started = std::time::Instant::now();
                engram.set_precision(precision)?;
                let rebuild = started.elapsed().as_secs_f64();
                bar.set_message(format!("recall N={n}: {precision}"));
                let times = latencies(&engram.snapshot().with_kernels(best), count, 7)?;
                let p50 = percentile(&times, 50.0).as_secs_f64();
                let p99 = percentile(&times, 99.0).as_secs_f64();
                let reference = *f32_p50.get_or_insert(p50);
                by_precision.push(format!(
                    "| {n} | {precision} | {} | {count} | {:.2} | {:.2} | {:.2} | {:.1} |",
                    precision.scan_bytes_per_memory(RECALL_DIM),
                    p50 * 1e3,
                    p99 * 1e3,
                    p50 / reference,
                    rebuild
                ));
            }
        }
    }
    println!();
    if let Some(best) = kernels.last() {
        println!(
            "### Recall by scan precision ({}, one thread)\n",
            best.describe()
        );
        println!(
            "The same stores, rebuilt at each precision (`Engram::set_precision`, timed: `rebuild s`); recalls as above, with codes rescoring the default `max(10·k, 100)` = 100 candidates exactly. `× f32` = p50 over the f32 p50 of the same store in this run.\n"
        );
        println!(
            "| N | precision | bytes scanned / memory | recalls | p50 ms | p99 ms | × f32 | rebuild s |"
        );
        println!("|---:|---|---:|---:|---:|---:|---:|---:|");
        for row in &by_precision {
            println!("{row}");
        }
        println!();
    }
    Ok(())
}

/// One row per engram backend and level: the median time of `call` on each, with progress.
fn time_every_kernel(
    kernels: &[Kernels],
    repeats: usize,
    bar: &ProgressBar,
    what: &str,
    mut call: impl FnMut(&Kernels) -> Result<(), Error>,
) -> Result<Vec<Row>, Error> {
    let mut rows = Vec::with_capacity(kernels.len());
    for k in kernels {
        bar.set_message(format!("{what}: {} {}", k.backend(), k.level()));
        let time = time_kernel(repeats, || call(k))?;
        rows.push(Row {
            name: format!("engram {} {}", k.backend(), k.level()),
            time,
        });
        bar.inc(1);
    }
    Ok(rows)
}

/// The median time of `repeats` runs of a fallible kernel call; the first error is returned.
fn time_kernel(
    repeats: usize,
    mut call: impl FnMut() -> Result<(), Error>,
) -> Result<Duration, Error> {
    let mut failure = None;
    let time = median_time(repeats, || {
        if let Err(e) = call() {
            failure.get_or_insert(e);
        }
    });
    failure.map_or(Ok(time), Err)
}

#[inline(never)]
fn not_inlined_add(a: u32, b: u32) -> u32 {
    a.wrapping_add(b)
}

/// Every engram backend/level and every similarity peer on one matrix.
fn similarity_rows(
    kernels: &[Kernels],
    matrix: &EmbeddingMatrix,
    query: &[f32],
    repeats: usize,
    bar: &ProgressBar,
) -> Result<Vec<Row>, Error> {
    let (rows, dim) = (matrix.rows(), matrix.dim());
    let (flat, norms) = (matrix.as_flat(), matrix.norms());
    let query_norm = l2_norm(query);
    let mut out = vec![0.0f32; rows];
    let mut table = time_every_kernel(
        kernels,
        repeats,
        bar,
        &format!("cosine D={dim} N={rows}"),
        |k| {
            k.cosine(query, matrix.view(), &mut out)?;
            black_box(&out);
            Ok(())
        },
    )?;
    // The fastest backend and level again, on every core, where the call is large enough to be
    // split (see engram_kernels::PARALLEL_MIN_FLOATS).
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if let Some(best) = kernels
        .last()
        .filter(|_| cores > 1 && rows * dim >= engram_kernels::PARALLEL_MIN_FLOATS)
    {
        let threaded = best.with_threads(cores)?;
        bar.set_message(format!("cosine D={dim} N={rows}: {cores} threads"));
        let time = time_kernel(repeats, || {
            threaded.cosine(query, matrix.view(), &mut out)?;
            black_box(&out);
            Ok(())
        })?;
        table.push(Row {
            name: format!(
                "engram {} {}, {cores} threads",
                best.backend(),
                best.level()
            ),
            time,
        });
    }
    let mut peer = |name: &str, f: &mut dyn FnMut(&mut [f32])| {
        bar.set_message(format!("cosine D={dim} N={rows}: {name}"));
        let time = median_time(repeats, || {
            f(&mut out);
            black_box(&out);
        });
        table.push(Row {
            name: name.to_owned(),
            time,
        });
        bar.inc(1);
    };
    peer("idiomatic Rust", &mut |out| {
        peers::idiomatic_cosine(query, flat, dim, out)
    });
    peer("simsimd cos (per pair)", &mut |out| {
        peers::simsimd_cosine(query, flat, dim, out)
    });
    peer("simsimd dot + norms", &mut |out| {
        peers::simsimd_dot_with_norms(query, query_norm, flat, norms, dim, out)
    });
    peer("faer GEMV + norms", &mut |out| {
        peers::faer_gemv_cosine(query, query_norm, flat, norms, dim, out)
    });
    Ok(table)
}

/// The int8 dot table: every engram backend/level and simsimd's i8 dot, on random codes.
fn int8_section(
    kernels: &[Kernels],
    sizes: &[(usize, usize)],
    repeats: usize,
    bandwidth: f64,
    bar: &ProgressBar,
) -> Result<(), Box<dyn std::error::Error>> {
    println!("## Int8 dot (exact, in i32)\n");
    println!(
        "`Kernels::dot_i8` over random `i8` codes; `ns/row` per row; `GB/s` = code bytes read per second; `% BW` of the read bandwidth above. Every implementation returns the same integers (checked here).\n"
    );
    println!("| D | N | implementation | ns/row | GB/s | % BW |");
    println!("|---:|---:|---|---:|---:|---:|");
    for &(dim, rows) in sizes {
        bar.set_message(format!("int8 dot D={dim} N={rows}: generating"));
        let codes = workload::int8_codes(rows, dim, 13);
        let query = workload::int8_codes(1, dim, 14);
        let view = Int8EmbeddingsView::new(&codes, dim)?;
        let mut out = vec![0i32; rows];
        let mut reference: Option<Vec<i32>> = None;
        let mut table = time_every_kernel(
            kernels,
            repeats,
            bar,
            &format!("int8 dot D={dim} N={rows}"),
            |k| {
                k.dot_i8(&query, view, &mut out)?;
                black_box(&out);
                Ok(())
            },
        )?;
        // The answers are exact: every backend's must be the same.
        for k in kernels {
            k.dot_i8(&query, view, &mut out)?;
            match &reference {
                Some(r) if *r != out => {
                    return Err(format!(
                        "int8 dot: {} disagrees with the first backend",
                        k.describe()
                    )
                    .into());
                }
                Some(_) => {}
                None => reference = Some(out.clone()),
            }
        }
        bar.set_message(format!("int8 dot D={dim} N={rows}: simsimd"));
        let time = median_time(repeats, || {
            peers::simsimd_dot_i8(&query, &codes, dim, &mut out);
            black_box(&out);
        });
        if reference.as_ref().is_some_and(|r| *r != out) {
            return Err("int8 dot: simsimd disagrees with engram".into());
        }
        table.push(Row {
            name: "simsimd i8 dot (per pair)".to_owned(),
            time,
        });
        bar.inc(1);
        for row in &table {
            let ns = row.time.as_secs_f64() * 1e9 / rows as f64;
            let gbs = dim as f64 / ns;
            println!(
                "| {dim} | {rows} | {} | {ns:.1} | {gbs:.1} | {:.0}% |",
                row.name,
                100.0 * gbs * 1e9 / bandwidth
            );
        }
    }
    println!();
    // Quantization, the write path's cost: one batch of a remember's size.
    quantization_table(
        kernels,
        repeats,
        bar,
        "Int8 quantization (f32 → codes and one scale per row)",
        "quantize_i8",
        |k, rows, codes: &mut [i8], scales| k.quantize_i8(rows, codes, scales),
    )
}

/// A quantizer's table: `name` (a `Kernels` method, given as `quantize`) on 10k rows × 384, a
/// remember batch's size, on every backend and level, which must all give the same codes and
/// scales.
fn quantization_table<C: Copy + Default + PartialEq>(
    kernels: &[Kernels],
    repeats: usize,
    bar: &ProgressBar,
    title: &str,
    name: &str,
    quantize: impl Fn(&Kernels, EmbeddingsView<'_>, &mut [C], &mut [f32]) -> Result<(), Error>,
) -> Result<(), Box<dyn std::error::Error>> {
    let (dim, rows) = (384, 10_000);
    println!("### {title}\n");
    println!(
        "`Kernels::{name}` of {rows} rows × {dim} (validation included); every implementation gives the same codes and scales (checked here).\n"
    );
    println!("| D | N | implementation | ns/row |");
    println!("|---:|---:|---|---:|");
    let matrix = workload::embeddings(rows, dim, 15)?;
    let (mut codes, mut scales) = (vec![C::default(); rows * dim], vec![0.0f32; rows]);
    let mut reference: Option<(Vec<C>, Vec<f32>)> = None;
    for k in kernels {
        quantize(k, matrix.view(), &mut codes, &mut scales)?;
        match &reference {
            Some((c, s)) if *c != codes || *s != scales => {
                return Err(
                    format!("{name}: {} disagrees with the first backend", k.describe()).into(),
                );
            }
            Some(_) => {}
            None => reference = Some((codes.clone(), scales.clone())),
        }
    }
    let table = time_every_kernel(
        kernels,
        repeats,
        bar,
        &format!("{name} D={dim} N={rows}"),
        |k| {
            quantize(k, matrix.view(), &mut codes, &mut scales)?;
            black_box((&codes, &scales));
            Ok(())
        },
    )?;
    for row in &table {
        let ns = row.time.as_secs_f64() * 1e9 / rows as f64;
        println!("| {dim} | {rows} | {} | {ns:.1} |", row.name);
    }
    println!();
    Ok(())
}

/// The f16 dot table: every engram backend/level and simsimd's f16 dot, on the codes of
/// random rows; then the quantization's cost.
fn f16_section(
    kernels: &[Kernels],
    sizes: &[(usize, usize)],
    repeats: usize,
    bandwidth: f64,
    bar: &ProgressBar,
) -> Result<(), Box<dyn std::error::Error>> {
    println!("## F16 dot (f32 query, f16 rows, f32 sums)\n");
    println!(
        "`Kernels::dot_f16` over the `quantize_f16` codes of random rows; `ns/row` per row; `GB/s` = code bytes read per second; `% BW` of the read bandwidth above. Each engram result is, bit for bit, `Kernels::dot` of the same backend and level over the widened rows (checked here); simsimd's dot takes an f16 query (rounded once, before timing) and, on a CPU with AVX-512 FP16, adds in f16 (less accurate).\n"
    );
    println!("| D | N | implementation | ns/row | GB/s | % BW |");
    println!("|---:|---:|---|---:|---:|---:|");
    for &(dim, rows) in sizes {
        bar.set_message(format!("f16 dot D={dim} N={rows}: generating"));
        let matrix = workload::embeddings(rows, dim, 13)?;
        let query = workload::query(dim, 14);
        let (mut codes, mut scales) = (vec![0u16; rows * dim], vec![0.0f32; rows]);
        Kernels::best_compiled().quantize_f16(matrix.view(), &mut codes, &mut scales)?;
        drop(matrix);
        let view = F16EmbeddingsView::new(&codes, dim)?;
        let mut out = vec![0.0f32; rows];
        let mut table = time_every_kernel(
            kernels,
            repeats,
            bar,
            &format!("f16 dot D={dim} N={rows}"),
            |k| {
                k.dot_f16(&query, view, &mut out)?;
                black_box(&out);
                Ok(())
            },
        )?;
        // The widened rows' f32 dot, one block at a time (the whole would be twice the codes).
        let block = 65_536.min(rows).max(1);
        for k in kernels {
            k.dot_f16(&query, view, &mut out)?;
            for (b, start) in (0..rows).step_by(block).enumerate() {
                let end = (start + block).min(rows);
                let wide: Vec<f32> = codes[start * dim..end * dim]
                    .iter()
                    .map(|&c| f16_bits_to_f32(c))
                    .collect();
                let mut expected = vec![0.0f32; end - start];
                k.dot(&query, EmbeddingsView::new(&wide, dim)?, &mut expected)?;
                if expected
                    .iter()
                    .zip(&out[start..end])
                    .any(|(a, b)| a.to_bits() != b.to_bits())
                {
                    return Err(format!(
                        "f16 dot: {} is not its f32 dot of the widened rows (block {b})",
                        k.describe()
                    )
                    .into());
                }
            }
        }
        bar.set_message(format!("f16 dot D={dim} N={rows}: simsimd"));
        let peer_rows: Vec<simsimd::f16> = codes.iter().map(|&c| simsimd::f16(c)).collect();
        let peer_query: Vec<simsimd::f16> = query
            .iter()
            .map(|&x| simsimd::f16(f32_to_f16_bits(x)))
            .collect();
        let time = median_time(repeats, || {
            peers::simsimd_dot_f16(&peer_query, &peer_rows, dim, &mut out);
            black_box(&out);
        });
        table.push(Row {
            name: "simsimd f16 dot (per pair)".to_owned(),
            time,
        });
        bar.inc(1);
        for row in &table {
            let ns = row.time.as_secs_f64() * 1e9 / rows as f64;
            let gbs = (2 * dim) as f64 / ns;
            println!(
                "| {dim} | {rows} | {} | {ns:.1} | {gbs:.1} | {:.0}% |",
                row.name,
                100.0 * gbs * 1e9 / bandwidth
            );
        }
    }
    println!();
    quantization_table(
        kernels,
        repeats,
        bar,
        "F16 quantization (f32 → codes and one power-of-two scale per row)",
        "quantize_f16",
        |k, rows, codes: &mut [u16], scales| k.quantize_f16(rows, codes, scales),
    )
}

/// Every engram backend/level and every spreading peer, one dense hop.
fn spread_rows(
    kernels: &[Kernels],
    graph: &engram_kernels::Csr,
    repeats: usize,
    bar: &ProgressBar,
) -> Result<Vec<Row>, Error> {
    let n = graph.nodes();
    let initial = workload::activations(n, 22);
    let params = SpreadParams::new(1, 0.5, 0.0)?;
    let mut out = vec![0.0f32; n];
    let mut ws = SpreadWorkspace::with_nodes(n);
    let mut table = time_every_kernel(kernels, repeats, bar, &format!("spread {n} push"), |k| {
        k.spread(graph, &initial, &params, &mut out, &mut ws)?;
        black_box(&out);
        Ok(())
    })?;
    for row in &mut table {
        row.name.push_str(", push");
    }
    let pull = PullGraph::new(graph);
    let mut pull_rows =
        time_every_kernel(kernels, repeats, bar, &format!("spread {n} pull"), |k| {
            k.spread_pull(&pull, &initial, &params, &mut out, &mut ws)?;
            black_box(&out);
            Ok(())
        })?;
    for row in &mut pull_rows {
        row.name
            .push_str(&format!(", pull ({:.0}% fill)", 100.0 * pull.fill()));
    }
    drop(pull);
    table.append(&mut pull_rows);
    bar.set_message(format!("spread {n}: idiomatic"));
    let lists = peers::adjacency_lists(graph);
    let time = median_time(repeats, || {
        peers::idiomatic_spread_hop(&lists, &initial, &mut out, 0.5, 0.0);
        black_box(&out);
    });
    drop(lists);
    table.push(Row {
        name: String::from("idiomatic Rust (adjacency lists)"),
        time,
    });
    bar.inc(1);
    bar.set_message(format!("spread {n}: sprs"));
    let matrix =
        peers::sprs_matrix(&workload::transpose(graph)?).map_err(|_| Error::InvalidOffsets {
            reason: String::from("benchmark graph rows are not sorted and distinct"),
        })?;
    let time = median_time(repeats, || {
        peers::sprs_hop(&matrix, &initial, &mut out);
        black_box(&out);
    });
    table.push(Row {
        name: String::from("sprs mat-vec (sums only)"),
        time,
    });
    bar.inc(1);
    Ok(table)
}
