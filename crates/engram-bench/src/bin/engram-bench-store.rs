//! `engram-bench-store`: what a user of a store on disk measures, at each size: the engine's
//! batch write rate (D = 384, 10 associations per memory, in the same batch; at each scan
//! precision asked for, `--precisions f32,f16,int8`), the size of the
//! file, then fresh `engram` processes: `stats` (wall time and peak RSS) and `recall` (wall
//! time against the recall time it reports; the rest is the process: start, open, embed,
//! print), and a JSON Lines import of up to 100,000 records with their embeddings.
//!
//! ```text
//! cargo build --release -p engram-graph-cli [--features zig-kernels]
//! cargo run --release -p engram-bench --bin engram-bench-store [-- --sizes 10000,100000,1000000]
//! ```
//!
//! It runs the `engram` binary beside its own (`target/release/engram`), and `/usr/bin/time`
//! for peak RSS. Stores go to a temporary directory, removed at the end.

#![forbid(unsafe_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use clap::Parser;
use engram_bench::disk::{build_store, resident};
use engram_bench::workload::Rng;
use engram_graph::{Engram, Options, Precision};

const DIM: usize = 384;
const DEGREE: usize = 10;
const BATCH: usize = 10_000;
const RUNS: usize = 5;
const IMPORT_RECORDS: usize = 100_000;

/// Measure a store on disk as its users reach it: writes, and fresh `engram` processes.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Store sizes, in memories.
    #[arg(long, value_delimiter = ',', default_values_t = [10_000usize, 100_000, 1_000_000])]
    sizes: Vec<usize>,
    /// Where the stores go (default: a temporary directory, removed after).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Scan precisions to build each size at (f32, f16, int8), one store each, measured in
    /// turn: the write rates compare what quantizing on write costs.
    #[arg(long, value_delimiter = ',', default_values_t = [String::from("f32")])]
    precisions: Vec<String>,
    /// Skip the JSON Lines import.
    #[arg(long)]
    skip_import: bool,
    /// Keep the stores (in --dir) instead of removing each once measured.
    #[arg(long)]
    keep: bool,
    /// Internal: open this store in this process and print its memory (a child of the run).
    #[arg(long, hide = true)]
    child_open: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(path) = &args.child_open {
        return match child_open(path) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        };
    }
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn run(args: &Args) -> Result<()> {
    let engram = engram_bench::disk::engram_binary()?;
    let temp = tempfile::tempdir()?;
    let dir = args
        .dir
        .clone()
        .unwrap_or_else(|| temp.path().to_path_buf());
    println!(
        "| memories | precision | batch write, memories/s | file | `stats` wall ms | `stats` peak RSS MB | `recall` wall ms | its recall ms | wall − recall ms | `recall` peak RSS MB | open: private / file-backed MB | after a recall |"
    );
    println!("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let precisions = args
        .precisions
        .iter()
        .map(|p| p.parse::<Precision>())
        .collect::<std::result::Result<Vec<_>, _>>()?;
    for &n in &args.sizes {
        for &precision in &precisions {
            measure(&engram, &dir, n, precision, args.keep)?;
        }
    }
    if !args.skip_import {
        import(&engram, &dir)?;
    }
    Ok(())
}

/// One row of the table: a store of `n` memories at `precision`, built, then reached by
/// fresh processes.
fn measure(engram: &Path, dir: &Path, n: usize, precision: Precision, keep: bool) -> Result<()> {
    let path = dir.join(format!("store-{n}-{precision}.engram"));
    let rate = build(&path, n, precision)?;
    let file_mb = std::fs::metadata(&path)?.len() as f64 / 1e6;
    let cue = dir.join("cue.json");
    let mut rng = Rng::new(7);
    let vector: Vec<String> = (0..DIM)
        .map(|_| format!("{}", 2.0 * rng.unit() - 1.0))
        .collect();
    std::fs::write(&cue, format!("[{}]", vector.join(",")))?;
    let stats = timed(engram, &path, &["stats"])?;
    let recall = timed(
        engram,
        &path,
        &[
            "--json",
            "recall",
            "--vector-file",
            &cue.display().to_string(),
        ],
    )?;
    let out = Command::new(std::env::current_exe()?)
        .arg("--child-open")
        .arg(&path)
        .output()?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned().into());
    }
    let memory = String::from_utf8_lossy(&out.stdout);
    println!(
        "| {n} | {precision} | {rate:.0} | {file_mb:.0} MB | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {} |",
        stats.wall,
        stats.rss_mb,
        recall.wall,
        recall.reported,
        recall.wall - recall.reported,
        recall.rss_mb,
        memory.trim()
    );
    if !keep {
        std::fs::remove_file(&path)?;
        let _ = std::fs::remove_file(dir.join(format!("store-{n}-{precision}.engram-lock")));
    }
    Ok(())
}

/// The child of `--child-open`: opens the store read-only, prints its resident memory, recalls
/// once, prints it again.
fn child_open(path: &Path) -> Result<()> {
    let engram = Engram::open(
        path,
        Options {
            read_only: true,
            ..Options::default()
        },
    )?;
    let snapshot = engram.snapshot();
    let (anon, file) = resident();
    let mut rng = Rng::new(11);
    let cue: Vec<f32> = (0..DIM).map(|_| 2.0 * rng.unit() - 1.0).collect();
    snapshot.recall(&cue, &engram_graph::RecallParams::default())?;
    let (anon_after, file_after) = resident();
    println!("{anon:.1} / {file:.1} | {anon_after:.1} / {file_after:.1}");
    Ok(())
}

/// Builds a store of `n` memories at `precision` (see [`build_store`]); returns memories/s.
fn build(path: &Path, n: usize, precision: Precision) -> Result<f64> {
    let built = build_store(path, n, DIM, precision, DEGREE, BATCH, |stored| {
        eprint!("\rbuilt {stored} of {n}");
    })?;
    eprintln!();
    Ok(built.rate())
}

struct Timed {
    wall: f64,
    reported: f64,
    rss_mb: f64,
}

/// Median of [`RUNS`] runs of `engram --db PATH ARGS`: wall time, the `elapsed_ms` it prints
/// (recall), and peak RSS from `/usr/bin/time`.
fn timed(engram: &Path, db: &Path, args: &[&str]) -> Result<Timed> {
    let (mut walls, mut reported, mut rss) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..RUNS {
        let start = Instant::now();
        let out = Command::new("/usr/bin/time")
            .args(["-f", "rss %M"])
            .arg(engram)
            .arg("--db")
            .arg(db)
            .args(args)
            .output()?;
        let wall = start.elapsed();
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned().into());
        }
        walls.push(ms(wall));
        let stderr = String::from_utf8_lossy(&out.stderr);
        let kb: f64 = stderr
            .lines()
            .find_map(|l| l.strip_prefix("rss ")?.trim().parse().ok())
            .unwrap_or(f64::NAN);
        rss.push(kb / 1e3);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let elapsed = stdout
            .split("\"elapsed_ms\":")
            .nth(1)
            .and_then(|rest| rest.split([',', '}']).next()?.trim().parse::<f64>().ok());
        reported.push(elapsed.unwrap_or(0.0));
    }
    Ok(Timed {
        wall: median(walls),
        reported: median(reported),
        rss_mb: median(rss),
    })
}

/// `engram import` of [`IMPORT_RECORDS`] JSON Lines records with embeddings given: records/s,
/// parsing and checking included.
fn import(engram: &Path, dir: &Path) -> Result<()> {
    let file = dir.join("import.jsonl");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&file)?);
    let mut rng = Rng::new(3);
    for i in 0..IMPORT_RECORDS {
        let vector: Vec<String> = (0..DIM)
            .map(|_| format!("{:.6}", 2.0 * rng.unit() - 1.0))
            .collect();
        writeln!(
            out,
            "{{\"id\": {i}, \"text\": \"record {i}\", \"embedding\": [{}]}}",
            vector.join(",")
        )?;
    }
    out.flush()?;
    drop(out);
    let db = dir.join("import.engram");
    let status = Command::new(engram)
        .arg("--db")
        .arg(&db)
        .args(["init", "--dim", "384", "--embedder", "none"])
        .output()?;
    if !status.status.success() {
        return Err(String::from_utf8_lossy(&status.stderr).into_owned().into());
    }
    let start = Instant::now();
    let out = Command::new(engram)
        .arg("--db")
        .arg(&db)
        .arg("import")
        .arg(&file)
        .output()?;
    let wall = start.elapsed();
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned().into());
    }
    let mb = std::fs::metadata(&file)?.len() as f64 / 1e6;
    println!();
    println!(
        "`engram import` of {IMPORT_RECORDS} JSON Lines records with 384-float embeddings ({mb:.0} MB): {:.1} s, **{:.0} records/s**",
        wall.as_secs_f64(),
        IMPORT_RECORDS as f64 / wall.as_secs_f64()
    );
    std::fs::remove_file(&file)?;
    std::fs::remove_file(&db)?;
    Ok(())
}
