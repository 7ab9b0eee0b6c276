//! `engram-bench-big`: a store larger than the machine's memory, as issue 18 asks: builds it
//! on disk (default 10M memories × 768 at int8: about 31 GB of f32 and 7.7 GB of codes), then
//! opens it in this process and recalls from random cues on the best kernels with `--threads`
//! threads. Reports the build (time, rate, file size), then per recall its time, the bytes
//! this process read from disk (`read_bytes` of `/proc/self/io`: page faults on the map
//! included) and its resident memory (private and file-backed), and the p50 over the warm
//! recalls. With `--drop-caches` (root), the page cache is emptied first, so the first recall
//! is cold.
//!
//! ```text
//! cargo run --release -p engram-bench --features zig-kernels --bin engram-bench-big -- \
//!     --dir /path/on/disk [--memories 10000000] [--dim 768] [--precision int8] [--threads 2]
//! ```
//!
//! It needs the file's size free on `--dir`'s file system, and refuses to start otherwise.

#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use engram_bench::disk::{build_store, resident};
use engram_bench::recall::{params, percentile};
use engram_bench::workload::query;
use engram_graph::{Engram, Kernels, Options, Precision};

/// Build a store larger than memory on disk and recall from it.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Where the store goes (a directory on the disk to measure; the store is removed after
    /// unless --keep).
    #[arg(long)]
    dir: PathBuf,
    /// Memories.
    #[arg(long, default_value_t = 10_000_000)]
    memories: usize,
    /// Dimension.
    #[arg(long, default_value_t = 768)]
    dim: usize,
    /// Scan precision: f32, f16 or int8.
    #[arg(long, default_value = "int8")]
    precision: String,
    /// Threads of the recalls.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Recalls after the first (the first is reported on its own).
    #[arg(long, default_value_t = 20)]
    recalls: usize,
    /// Associations per memory.
    #[arg(long, default_value_t = 10)]
    degree: usize,
    /// Empty the page cache before recalling (`/proc/sys/vm/drop_caches`; needs root).
    #[arg(long)]
    drop_caches: bool,
    /// Keep the store, and recall from an existing one at the path instead of building.
    #[arg(long)]
    keep: bool,
}

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn main() -> ExitCode {
    match run(&Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Bytes this process has had read from storage so far.
fn read_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/io")
        .ok()
        .and_then(|io| {
            io.lines()
                .find_map(|l| l.strip_prefix("read_bytes:"))
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Free bytes on the file system of `dir`, from `df` (no unsafe `statvfs` here).
fn free_bytes(dir: &Path) -> Result<u64> {
    let out = std::process::Command::new("df")
        .args(["--output=avail", "-B1"])
        .arg(dir)
        .output()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .nth(1)
        .and_then(|l| l.trim().parse().ok())
        .ok_or_else(|| "cannot read the free space from df".into())
}

fn run(args: &Args) -> Result<()> {
    let precision: Precision = args.precision.parse()?;
    let path = args.dir.join(format!(
        "big-{}x{}-{precision}.engram",
        args.memories, args.dim
    ));
    let total_memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1e6);
    println!(
        "- {} memories × {} at {precision}, {} associations each; machine memory {total_memory:.1} GB; {}",
        args.memories,
        args.dim,
        args.degree,
        Kernels::best_compiled().describe()
    );
    if !(args.keep && path.exists()) {
        // f32 rows, norms, codes and factors, edges (u32 + f32), ids, strengths and times.
        let per_memory =
            args.dim * 4 + precision.scan_bytes_per_memory(args.dim) + args.degree * 8 + 8 * 4;
        let needed = (args.memories * per_memory) as u64;
        let free = free_bytes(&args.dir)?;
        if free < needed + needed / 10 {
            return Err(format!(
                "the store needs about {:.1} GB and {} has {:.1} GB free: run a smaller --memories",
                needed as f64 / 1e9,
                args.dir.display(),
                free as f64 / 1e9
            )
            .into());
        }
        let built = build_store(
            &path,
            args.memories,
            args.dim,
            precision,
            args.degree,
            20_000,
            |stored| eprint!("\rbuilt {stored} of {}", args.memories),
        )?;
        eprintln!();
        println!(
            "- build: {:.0} s wall, {:.0} s writing, {:.0} memories/s",
            built.wall.as_secs_f64(),
            built.writing.as_secs_f64(),
            built.rate()
        );
    }
    let file = std::fs::metadata(&path)?.len() as f64 / 1e9;
    println!("- file: {file:.1} GB");
    if args.drop_caches {
        let dropped = std::fs::write("/proc/sys/vm/drop_caches", "3").is_ok();
        println!("- page cache dropped before opening: {dropped}");
    }
    let opened = Instant::now();
    let kernels = Kernels::best_compiled().with_threads(args.threads)?;
    let engram = Engram::open(
        &path,
        Options {
            read_only: true,
            kernels: Some(kernels),
            ..Options::default()
        },
    )?;
    println!(
        "- open: {:.1} ms, {} segments",
        opened.elapsed().as_secs_f64() * 1e3,
        engram.layout().1
    );
    let snapshot = engram.snapshot();
    println!();
    println!("| recall | ms | MB read from disk | RSS private MB | RSS file-backed MB |");
    println!("|---:|---:|---:|---:|---:|");
    let mut warm = Vec::with_capacity(args.recalls);
    for i in 0..=args.recalls {
        let cue = query(args.dim, 1_000 + i as u64);
        let before = read_bytes();
        let start = Instant::now();
        let results = snapshot.recall(&cue, &params())?;
        let time = start.elapsed();
        std::hint::black_box(results);
        let read = (read_bytes() - before) as f64 / 1e6;
        let (private, mapped) = resident();
        if i == 0 || i == args.recalls || i % 5 == 0 {
            println!(
                "| {} | {:.1} | {read:.1} | {private:.0} | {mapped:.0} |",
                if i == 0 {
                    "first".to_owned()
                } else {
                    i.to_string()
                },
                time.as_secs_f64() * 1e3
            );
        }
        if i > 0 {
            warm.push(time);
        }
    }
    warm.sort();
    let p50: Duration = percentile(&warm, 50.0);
    println!();
    println!(
        "- p50 of the {} recalls after the first: **{:.1} ms** ({} threads)",
        warm.len(),
        p50.as_secs_f64() * 1e3,
        args.threads
    );
    drop(snapshot);
    drop(engram);
    if !args.keep {
        std::fs::remove_file(&path)?;
        let lock = PathBuf::from(format!("{}-lock", path.display()));
        let _ = std::fs::remove_file(lock);
    }
    Ok(())
}
