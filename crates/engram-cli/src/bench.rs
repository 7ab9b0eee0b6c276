//! `engram bench`: recall latency on this store, for every backend and CPU level this binary
//! has, side by side in one process. (The kernel-by-kernel table against peer libraries and
//! the machine's bandwidth is `cargo run --release -p engram-bench`; see BENCHMARKS.md.)

use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

use anyhow::{Result, anyhow, bail};
use engram_graph::{Kernels, MemoryId, RecallParams};

use crate::cli::BenchArgs;
use crate::output::{self, Table, millis, nearest_rank};
use crate::store::{self, engine_error};

/// Recalls per backend in `--quick` mode.
const QUICK_RECALLS: usize = 5;

/// `engram bench`.
pub fn run(db: &Path, args: &BenchArgs, json: bool) -> Result<()> {
    let recalls = if args.quick {
        QUICK_RECALLS
    } else {
        args.recalls
    };
    if recalls == 0 {
        bail!("--recalls must be at least 1");
    }
    if args.threads == 0 {
        bail!("--threads must be at least 1");
    }
    let engram = store::open(db, store::Access::Read)?;
    let snapshot = engram.snapshot();
    if snapshot.is_empty() {
        bail!(
            "{} has no memories to recall; import some first (`engram import`)",
            db.display()
        );
    }
    // Cues: the embeddings of memories spread evenly over the store, so every run of this
    // command on this store asks the same questions.
    let ids: Vec<MemoryId> = snapshot.ids().collect();
    let cues: Vec<Vec<f32>> = (0..recalls)
        .filter_map(|i| ids.get(i * ids.len() / recalls))
        .filter_map(|&id| snapshot.get(id).map(|m| m.embedding))
        .collect();
    let mut configs: Vec<Kernels> = Kernels::all_available();
    if args.threads > 1
        && let Some(&best) = configs.last()
    {
        configs.push(
            best.with_threads(args.threads)
                .map_err(|e| anyhow!("--threads: {e}"))?,
        );
    }
    let params = RecallParams::default();
    let bar = output::progress(configs.len() * cues.len(), "recalls", json);
    let mut rows = Vec::new();
    for kernels in &configs {
        bar.set_message(format!("{} {}", kernels.backend(), kernels.level()));
        let on = snapshot.clone().with_kernels(*kernels);
        // One untimed recall first: page faults and lazy setup are not recall latency.
        if let Some(cue) = cues.first() {
            on.recall(cue, &params).map_err(|e| engine_error(e, db))?;
        }
        let mut times = Vec::with_capacity(cues.len());
        for cue in &cues {
            let started = Instant::now();
            on.recall(cue, &params).map_err(|e| engine_error(e, db))?;
            times.push(started.elapsed());
            bar.inc(1);
        }
        times.sort_unstable();
        rows.push((
            *kernels,
            nearest_rank(&times, 0.5),
            nearest_rank(&times, 0.99),
        ));
    }
    bar.finish_and_clear();
    let reference = rows.first().map(|r| r.1).unwrap_or_default();
    if json {
        let rows: Vec<_> = rows
            .iter()
            .map(|(k, p50, p99)| {
                serde_json::json!({
                    "backend": k.backend().to_string(), "level": k.level().to_string(),
                    "threads": k.threads(), "p50_ms": p50.as_secs_f64() * 1e3,
                    "p99_ms": p99.as_secs_f64() * 1e3,
                })
            })
            .collect();
        return output::json(&serde_json::json!({
            "memories": snapshot.len(), "associations": snapshot.association_count(),
            "dimension": snapshot.dimension(), "recalls": cues.len(), "results": rows,
        }));
    }
    let mut table = Table::new(&["backend", "level", ">threads", ">p50", ">p99", ">vs rust"]);
    for (k, p50, p99) in &rows {
        table.row(vec![
            k.backend().to_string(),
            k.level().to_string(),
            k.threads().to_string(),
            millis(*p50),
            millis(*p99),
            format!(
                "{:.2}×",
                reference.as_secs_f64() / p50.as_secs_f64().max(1e-12)
            ),
        ]);
    }
    let mut out = String::new();
    writeln!(
        out,
        "recall latency on {}: {} memories × {} dimensions, {} associations; {} recalls per row (k 10, hops 3, limit 20)",
        db.display(),
        snapshot.len(),
        snapshot.dimension(),
        snapshot.association_count(),
        cues.len()
    )?;
    out.push_str(&table.render());
    out.push_str("\"vs rust\" > 1 is faster than the Rust reference's p50; timings are from this run on this machine\n");
    output::text(&out)
}
