//! What opening a store costs, by size: for each of 10k, 100k and 1M rows × 384 f32 (in
//! blocks of 65,536 rows), a fresh process opens the store read-only, takes a read
//! transaction and gets every block as a slice of the map, then sums every float (a warm
//! pass over the embeddings, the work of one similarity scan). It prints the open's time, the
//! process's peak RSS after it, the pass's time and the peak RSS after it, and the time of a
//! second pass (medians of 5 processes): the first pass maps every page into the process,
//! the second finds them mapped.
//!
//!     cargo run --release -p engram-store --example open_cost [-- ROWS...]
//!
//! The stores go to a temporary directory (1.5 GB for 1M rows) and are removed after.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use engram_store::{BlockKey, Mode, OpenOptions, Store};

const DIM: usize = 384;
const BLOCK_ROWS: usize = 65_536;
const RUNS: usize = 5;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--child") {
        let path = args.get(1).ok_or("--child PATH")?;
        return child(Path::new(path));
    }
    let sizes: Vec<usize> = if args.is_empty() {
        vec![10_000, 100_000, 1_000_000]
    } else {
        args.iter().map(|a| a.parse()).collect::<Result<_, _>>()?
    };
    let dir = tempfile::tempdir()?;
    println!(
        "rows\tfile MB\topen + read + slices ms\tpeak RSS after open MB\tfirst pass ms\tpeak RSS after it MB\tsecond pass ms"
    );
    for rows in sizes {
        let path = dir.path().join(format!("{rows}.engram"));
        write_store(&path, rows)?;
        let mut runs: Vec<Vec<f64>> = Vec::new();
        for _ in 0..RUNS {
            let out = Command::new(std::env::current_exe()?)
                .arg("--child")
                .arg(&path)
                .output()?;
            if !out.status.success() {
                return Err(String::from_utf8_lossy(&out.stderr).into_owned().into());
            }
            let line = String::from_utf8(out.stdout)?;
            runs.push(
                line.split_whitespace()
                    .map(str::parse)
                    .collect::<Result<_, _>>()?,
            );
        }
        let median = |column: usize| {
            let mut values: Vec<f64> = runs.iter().map(|r| r[column]).collect();
            values.sort_by(f64::total_cmp);
            values[RUNS / 2]
        };
        let file_mb = std::fs::metadata(&path)?.len() as f64 / 1e6;
        println!(
            "{rows}\t{file_mb:.0}\t{:.3}\t{:.1}\t{:.1}\t{:.1}\t{:.1}",
            median(0),
            median(1),
            median(2),
            median(3),
            median(4)
        );
        std::fs::remove_file(&path)?;
    }
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn write_store(path: &Path, rows: usize) -> Result<(), Box<dyn std::error::Error>> {
    let store = Store::create(path, DIM as u64, Duration::from_secs(10), |_| Ok(()))?;
    let mut txn = store.write()?;
    let mut block = Vec::with_capacity(BLOCK_ROWS * DIM);
    for (segment, first) in (0u64..).zip((0..rows).step_by(BLOCK_ROWS)) {
        let n = BLOCK_ROWS.min(rows - first);
        block.clear();
        block.extend((0..n * DIM).map(|i| ((first * DIM + i) % 1009) as f32 / 1009.0));
        txn.put_block(BlockKey { segment, part: 0 }, &block)?;
    }
    txn.commit()?;
    Ok(())
}

/// Peak resident memory of this process, in MB.
fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1e3)
}

fn child(path: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let start = Instant::now();
    let store = Store::open(
        path,
        OpenOptions {
            mode: Mode::ReadOnly,
            ..OpenOptions::default()
        },
    )?;
    let txn = store.read()?;
    let mut blocks = Vec::new();
    for segment in 0u64.. {
        match txn.block::<f32>(BlockKey { segment, part: 0 })? {
            Some(block) => blocks.push(block),
            None => break,
        }
    }
    let open = start.elapsed();
    let after_open = peak_rss_mb();
    let start = Instant::now();
    let sum: f64 = blocks
        .iter()
        .map(|b| b.iter().map(|&x| f64::from(x)).sum::<f64>())
        .sum();
    let scan = start.elapsed();
    let after_scan = peak_rss_mb();
    // Again, now that every page is mapped in this process: what the first pass paid for
    // mapping them (minor faults: the pages were in the page cache) is the difference.
    let start = Instant::now();
    let again: f64 = blocks
        .iter()
        .map(|b| b.iter().map(|&x| f64::from(x)).sum::<f64>())
        .sum();
    let second = start.elapsed();
    // The sums are printed to stderr so that the passes cannot be optimized away.
    eprintln!("sums {sum} {again}");
    println!(
        "{}\t{after_open}\t{}\t{after_scan}\t{}",
        ms(open),
        ms(scan),
        ms(second)
    );
    Ok(())
}
