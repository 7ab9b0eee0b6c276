//! Runs a recall-shaped pipeline — cosine → spreading activation → retention — on every
//! compiled backend over the same synthetic memory set, and prints the answers and timings
//! side by side. It is the README's first command (`scripts/demo`).
//!
//! ```text
//! cargo run --release --features zig-kernels --example side_by_side -- [--memories N] [--dim D]
//!     [--edges-per-memory K] [--seed S] [--repeats R]
//! ```
//!
//! Timings are medians of `--repeats` runs in this process; they are indicative, not a benchmark.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use engram_kernels::{
    Backend, Csr, DecayCurve, EmbeddingMatrix, Kernels, Seed, SpreadParams, SpreadWorkspace,
};

struct Options {
    memories: usize,
    dim: usize,
    edges_per_memory: usize,
    seed: u64,
    repeats: usize,
}

const USAGE: &str = "usage: side_by_side [--memories N (default 100000)] [--dim D (default 384)] \
                     [--edges-per-memory K (default 10)] [--seed S (default 42)] [--repeats R (default 7)]";

fn parse_options() -> Result<Options, String> {
    let mut o = Options {
        memories: 100_000,
        dim: 384,
        edges_per_memory: 10,
        seed: 42,
        repeats: 7,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        let number = || {
            value
                .parse::<u64>()
                .map_err(|e| format!("{flag} {value}: {e}\n{USAGE}"))
        };
        match flag.as_str() {
            "--memories" => o.memories = number()? as usize,
            "--dim" => o.dim = number()? as usize,
            "--edges-per-memory" => o.edges_per_memory = number()? as usize,
            "--seed" => o.seed = number()?,
            "--repeats" => o.repeats = number()?.max(1) as usize,
            _ => return Err(format!("unknown option {flag}\n{USAGE}")),
        }
    }
    if o.memories < 2 || o.dim == 0 || o.memories > u32::MAX as usize {
        return Err(format!(
            "--memories must be in 2..=2^32-1 and --dim at least 1\n{USAGE}"
        ));
    }
    Ok(o)
}

/// SplitMix64: deterministic data without a dependency.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }
    fn signed(&mut self) -> f32 {
        2.0 * self.unit() - 1.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// Memories in topic clusters, an association graph that mostly links within a topic, base
/// strengths and last-access times over the past month.
struct Dataset {
    embeddings: EmbeddingMatrix,
    graph: Csr,
    strengths: Vec<f32>,
    last_access: Vec<i64>,
    now: i64,
    query: Vec<f32>,
    query_source: usize,
}

fn build_dataset(o: &Options) -> Result<Dataset, engram_kernels::Error> {
    let mut rng = Rng(o.seed);
    let topics = (o.memories / 500).clamp(2, 256);
    let centers: Vec<Vec<f32>> = (0..topics)
        .map(|_| (0..o.dim).map(|_| rng.signed()).collect())
        .collect();
    let topic_of = |m: usize| m % topics;
    let mut embeddings = EmbeddingMatrix::with_capacity(o.dim, o.memories)?;
    let mut row = vec![0.0; o.dim];
    for m in 0..o.memories {
        for (x, c) in row.iter_mut().zip(&centers[topic_of(m)]) {
            *x = c + 0.8 * rng.signed();
        }
        embeddings.push(&row)?;
    }
    let mut edges = Vec::with_capacity(o.memories * o.edges_per_memory);
    for m in 0..o.memories {
        for _ in 0..o.edges_per_memory {
            // 80% within the topic, 20% anywhere; 5% inhibitory.
            let target = if rng.unit() < 0.8 {
                let k = o.memories.div_ceil(topics);
                (rng.below(k) * topics + topic_of(m)).min(o.memories - 1)
            } else {
                rng.below(o.memories)
            };
            let weight = if rng.unit() < 0.05 {
                -0.5 * rng.unit()
            } else {
                0.1 + 0.9 * rng.unit()
            };
            edges.push((m as u32, target as u32, weight));
        }
    }
    let graph = Csr::from_edges(o.memories, &edges)?;
    let now = 1_790_000_000; // 2026-09-21, Unix seconds
    let strengths = (0..o.memories).map(|_| 0.2 + 0.8 * rng.unit()).collect();
    let last_access = (0..o.memories)
        .map(|_| now - rng.below(30 * 86_400) as i64)
        .collect();
    let query_source = rng.below(o.memories);
    let query = embeddings
        .row(query_source)
        .map(|r| r.iter().map(|x| x + 0.3 * rng.signed()).collect())
        .unwrap_or_default();
    Ok(Dataset {
        embeddings,
        graph,
        strengths,
        last_access,
        now,
        query,
        query_source,
    })
}

/// One backend's answers and timings.
struct Run {
    kernels: Kernels,
    similarity: Vec<f32>,
    activation: Vec<f32>,
    retention: Vec<f32>,
    ranked: Vec<(usize, f32)>,
    edges_traversed: u64,
    cosine_time: Duration,
    spread_time: Duration,
    retention_time: Duration,
}

const SEEDS: usize = 10;
const SHOWN: usize = 8;

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn timed<T>(
    repeats: usize,
    mut f: impl FnMut() -> Result<T, engram_kernels::Error>,
) -> Result<(T, Duration), engram_kernels::Error> {
    let mut times = Vec::with_capacity(repeats);
    let mut last = None;
    for _ in 0..repeats {
        let start = Instant::now();
        last = Some(f()?);
        times.push(start.elapsed());
    }
    let value = last.ok_or(engram_kernels::Error::ZeroDimension)?;
    Ok((value, median(times)))
}

/// Indices of the `k` largest values, ties by index.
fn top_k(values: &[f32], k: usize) -> Vec<(usize, f32)> {
    let mut order: Vec<(usize, f32)> = values
        .iter()
        .copied()
        .enumerate()
        .filter(|(_, v)| !v.is_nan())
        .collect();
    order.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    order.truncate(k);
    order
}

fn run(kernels: Kernels, data: &Dataset, repeats: usize) -> Result<Run, engram_kernels::Error> {
    let n = data.embeddings.rows();
    let mut similarity = vec![0.0; n];
    let ((), cosine_time) = timed(repeats, || {
        kernels.cosine(&data.query, data.embeddings.view(), &mut similarity)
    })?;

    // Seeds: the best matches, activated by their similarity (negative ones do not fire).
    let seeds: Vec<Seed> = top_k(&similarity, SEEDS)
        .into_iter()
        .map(|(m, s)| Seed::new(m as u32, s.max(0.0)))
        .collect();
    let params = SpreadParams::new(3, 0.5, 0.05)?;
    let mut workspace = SpreadWorkspace::with_nodes(n);
    // Sparse spreading, as a recall does: its cost follows the edges it touches.
    let (outcome, spread_time) = timed(repeats, || {
        kernels
            .spread_from_seeds(&data.graph, &seeds, &params, &mut workspace)
            .map(|active| active.outcome())
    })?;
    // A dense copy for the table, outside the timing.
    let mut activation = vec![0.0; n];
    let active = kernels.spread_from_seeds(&data.graph, &seeds, &params, &mut workspace)?;
    for (m, a) in active.iter() {
        activation[m as usize] = a;
    }

    let curve = DecayCurve::exponential(7.0 * 86_400.0)?;
    let mut retention = vec![0.0; n];
    let ((), retention_time) = timed(repeats, || {
        kernels.retention(
            &data.strengths,
            &data.last_access,
            data.now,
            &curve,
            &mut retention,
        )
    })?;

    let score: Vec<f32> = activation
        .iter()
        .zip(&retention)
        .map(|(a, r)| a * r)
        .collect();
    Ok(Run {
        kernels,
        ranked: top_k(&score, SHOWN),
        similarity,
        activation,
        retention,
        edges_traversed: outcome.edges_traversed,
        cosine_time,
        spread_time,
        retention_time,
    })
}

fn max_difference(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn millis(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

fn main() -> ExitCode {
    if std::env::args().skip(1).any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let options = match parse_options() {
        Ok(o) => o,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    match demo(&options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn demo(o: &Options) -> Result<(), engram_kernels::Error> {
    println!("engram-kernels side by side");
    println!(
        "default backend (ENGRAM_KERNELS or auto): {}",
        Kernels::from_env()?.describe()
    );
    for backend in Backend::ALL.into_iter().filter(|b| !b.is_compiled()) {
        println!("not compiled in: {backend} (build with --features zig-kernels)");
    }
    let start = Instant::now();
    let data = build_dataset(o)?;
    println!(
        "\ndataset: {} memories × {} dims ({:.0} MiB of embeddings), {} associations, built in {:.1} s",
        o.memories,
        o.dim,
        (o.memories * o.dim * 4) as f64 / (1 << 20) as f64,
        data.graph.edges(),
        start.elapsed().as_secs_f64()
    );
    println!(
        "query: memory #{} plus noise; {SEEDS} seeds, 3 hops, decay 0.5, threshold 0.05; half-life 7 days\n",
        data.query_source
    );

    let runs = Backend::compiled()
        .map(|b| run(Kernels::new(b)?, &data, o.repeats))
        .collect::<Result<Vec<_>, _>>()?;

    for r in &runs {
        if let Some(&(best, sim)) = top_k(&r.similarity, 1).first() {
            let verdict = if best == data.query_source {
                "the query's source, as it should be"
            } else {
                "NOT the query's source"
            };
            println!(
                "{} backend: best cosine match #{best} ({sim:.4}), {verdict}",
                r.kernels.backend()
            );
        }
    }
    println!("\nranked by final score = activation × retention:");
    print!("{:>4}", "rank");
    for r in &runs {
        print!(
            "  | {:<36}",
            format!(
                "{} backend: memory  score  (sim, act, ret)",
                r.kernels.backend()
            )
        );
    }
    println!();
    for rank in 0..SHOWN {
        print!("{:>4}", rank + 1);
        for r in &runs {
            match r.ranked.get(rank) {
                Some(&(m, score)) => print!(
                    "  | #{m:<7} {score:.4} ({:+.3}, {:.3}, {:.3})",
                    r.similarity[m], r.activation[m], r.retention[m]
                ),
                None => print!("  | {:<36}", "-"),
            }
        }
        println!();
    }

    println!(
        "\nmedian time of {} runs (this process, this machine; indicative only):",
        o.repeats
    );
    print!("{:<34}", "kernel");
    for r in &runs {
        print!("{:>14}", r.kernels.backend().name());
    }
    println!();
    let rows = [
        (
            "cosine (all memories)",
            runs.iter().map(|r| r.cosine_time).collect::<Vec<_>>(),
        ),
        (
            "spread (3 hops from 10 seeds)",
            runs.iter().map(|r| r.spread_time).collect(),
        ),
        (
            "retention (all memories)",
            runs.iter().map(|r| r.retention_time).collect(),
        ),
    ];
    for (name, times) in rows {
        print!("{name:<34}");
        for &t in &times {
            print!("{:>14}", millis(t));
        }
        if let [reference, other] = times[..] {
            print!(
                "   rust/zig = {:.2}×",
                reference.as_secs_f64() / other.as_secs_f64()
            );
        }
        println!();
    }
    println!("edges traversed by spreading: {}", runs[0].edges_traversed);

    if let [reference, other] = &runs[..] {
        println!(
            "\nagreement, {} vs {}:",
            other.kernels.backend(),
            reference.kernels.backend()
        );
        println!(
            "  max |Δ similarity| = {:.2e}",
            max_difference(&reference.similarity, &other.similarity)
        );
        println!(
            "  max |Δ activation| = {:.2e}",
            max_difference(&reference.activation, &other.activation)
        );
        println!(
            "  max |Δ retention|  = {:.2e}",
            max_difference(&reference.retention, &other.retention)
        );
        let same = reference
            .ranked
            .iter()
            .map(|r| r.0)
            .eq(other.ranked.iter().map(|r| r.0));
        println!("  same top {SHOWN}: {}", if same { "yes" } else { "no" });
    }
    Ok(())
}
