//! `engram recall`: one recall, printed as a table or JSON, or the same recall on every
//! backend (and at f32 and the store's precision) side by side.

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow};
use engram_graph::{Engram, Kernels, MemoryId, Precision, RecallParams, Recalled, Snapshot};
use serde::Serialize;

use crate::cli::RecallArgs;
use crate::output::{self, Table, millis};
use crate::store::{self, engine_error};

/// Runs per backend in `--compare-backends`; the median is reported.
const COMPARE_RUNS: usize = 5;

/// One result, as `--json` prints it (and the server answers it).
#[derive(Debug, Serialize, serde::Deserialize)]
pub struct Row {
    /// 1 for the best.
    pub rank: usize,
    /// The memory's id.
    pub id: u64,
    /// activation × retention.
    pub score: f32,
    /// Cosine similarity to the cue.
    pub similarity: f32,
    /// Activation after spreading.
    pub activation: f32,
    /// Strength decayed since last access.
    pub retention: f32,
    /// Found by similarity (else only through associations).
    pub seed: bool,
    /// The memory's content.
    pub text: Option<String>,
}

/// `engram recall`.
pub fn run(db: &Path, args: &RecallArgs, json: bool) -> Result<()> {
    // Reinforcing writes; a plain recall only reads.
    let access = if args.reinforce.is_some() {
        store::Access::Write
    } else {
        store::Access::Read
    };
    let engram = store::open(db, access)?;
    let cue = store::embedding(&engram, args.text.as_deref(), &args.vector)?.vector;
    let params = RecallParams {
        k: args.k,
        hops: args.hops,
        limit: args.limit,
        attenuation: args.attenuation,
        threshold: args.threshold,
        curve: store::decay_curve(&args.decay)?,
        now: args.at.as_deref().map(store::parse_time).transpose()?,
        reinforce: args.reinforce,
        precision: args.precision.map(Into::into),
        candidates: args.candidates,
    };
    if args.compare_backends {
        return compare_backends(db, &engram.snapshot(), &cue, &params, json);
    }
    let started = Instant::now();
    let recalled = engram
        .recall(&cue, &params)
        .map_err(|e| engine_error(e, db))?;
    let elapsed = started.elapsed();
    let snapshot = engram.snapshot();
    if json {
        return output::json(&results_json(&engram, &snapshot, &recalled, elapsed));
    }
    output::text(&results_table(
        &engram, &snapshot, &recalled, elapsed, args.width,
    )?)
}

/// The results as rows, with each memory's content.
fn rows(snapshot: &Snapshot, recalled: &[Recalled]) -> Vec<Row> {
    recalled
        .iter()
        .enumerate()
        .map(|(i, r)| Row {
            rank: i + 1,
            id: r.id.get(),
            score: r.score,
            similarity: r.similarity,
            activation: r.activation,
            retention: r.retention,
            seed: r.seed,
            text: snapshot.content(r.id).map(|c| c.to_string()),
        })
        .collect()
}

/// A recall as `engram recall` prints it: a table (contents cut at `width` characters) and
/// a line saying how many of how many memories, in how long, on which kernels.
pub fn results_table(
    engram: &Engram,
    snapshot: &Snapshot,
    recalled: &[Recalled],
    elapsed: Duration,
    width: usize,
) -> Result<String> {
    render_table(
        &rows(snapshot, recalled),
        snapshot.len(),
        elapsed,
        &engram.kernels().describe(),
        width,
    )
}

/// The table of [`results_table`], from rows (the command's own, or a server's answer).
pub fn render_table(
    rows: &[Row],
    memories: usize,
    elapsed: Duration,
    kernels: &str,
    width: usize,
) -> Result<String> {
    let mut table = Table::new(&[
        ">rank",
        ">id",
        ">score",
        ">similarity",
        ">activation",
        ">retention",
        "via",
        "content",
    ]);
    for r in rows {
        table.row(vec![
            r.rank.to_string(),
            r.id.to_string(),
            format!("{:.4}", r.score),
            format!("{:.4}", r.similarity),
            format!("{:.4}", r.activation),
            format!("{:.4}", r.retention),
            if r.seed { "seed" } else { "spread" }.into(),
            r.text
                .as_deref()
                .map(|t| output::shorten(t, width))
                .unwrap_or_default(),
        ]);
    }
    let mut out = if rows.is_empty() {
        "nothing recalled: no memory is similar to the cue, or every match has decayed to zero \
         retention (see --at and --half-life)\n"
            .to_owned()
    } else {
        table.render()
    };
    writeln!(
        out,
        "{} of {} memories in {} on {}",
        rows.len(),
        memories,
        millis(elapsed),
        kernels
    )?;
    Ok(out)
}

/// A recall as `recall --json` prints it (and the server's recall route answers): the
/// results best first, the store's size, the time the recall took and the kernels it ran on.
pub fn results_json(
    engram: &Engram,
    snapshot: &Snapshot,
    recalled: &[Recalled],
    elapsed: Duration,
) -> serde_json::Value {
    let rows = rows(snapshot, recalled);
    serde_json::json!({
        "results": rows,
        "memories": snapshot.len(),
        "elapsed_ms": elapsed.as_secs_f64() * 1e3,
        "kernels": engram.kernels().describe(),
    })
}

/// Whether two recalls agree: same ids in the same order, and the largest score difference.
fn agreement(reference: &[Recalled], other: &[Recalled]) -> (bool, f32) {
    let same =
        reference.len() == other.len() && reference.iter().zip(other).all(|(a, b)| a.id == b.id);
    let diff = reference
        .iter()
        .zip(other)
        .map(|(a, b)| (a.score - b.score).abs())
        .fold(0.0_f32, f32::max);
    (same, diff)
}

/// The same recall on every backend and level, at f32 and at the store's precision (when it
/// keeps codes): median time, agreement with the first (the Rust reference at f32), and for
/// each precision its seeds' recall against the f32 scan's.
fn compare_backends(
    db: &Path,
    snapshot: &Snapshot,
    cue: &[f32],
    params: &RecallParams,
    json: bool,
) -> Result<()> {
    let kernels = Kernels::all_available();
    let mut precisions = vec![Precision::F32];
    if snapshot.precision() != Precision::F32 {
        precisions.push(snapshot.precision());
    }
    // The seeds alone: the k best by similarity (hops 0, as many results as seeds).
    let seeds_of = |on: &Snapshot, precision: Precision| -> Result<Vec<MemoryId>> {
        let seeds_only = RecallParams {
            hops: 0,
            limit: params.k,
            precision: Some(precision),
            ..*params
        };
        let recalled = on
            .recall(cue, &seeds_only)
            .map_err(|e| engine_error(e, db))?;
        Ok(recalled.into_iter().map(|r| r.id).collect())
    };
    let mut results = Vec::new();
    for &precision in &precisions {
        let at = RecallParams {
            precision: Some(precision),
            ..*params
        };
        for &k in &kernels {
            let on = snapshot.clone().with_kernels(k);
            let mut times = Vec::with_capacity(COMPARE_RUNS);
            let mut recalled = Vec::new();
            for _ in 0..COMPARE_RUNS {
                let started = Instant::now();
                recalled = on.recall(cue, &at).map_err(|e| engine_error(e, db))?;
                times.push(started.elapsed());
            }
            times.sort_unstable();
            let seeds = seeds_of(&on, precision)?;
            results.push((
                k,
                precision,
                output::nearest_rank(&times, 0.5),
                recalled,
                seeds,
            ));
        }
    }
    let (_, _, reference_time, reference, reference_seeds) = results
        .first()
        .ok_or_else(|| anyhow!("no backend can run here"))?;
    let reference_time = *reference_time;
    let rows: Vec<_> = results
        .iter()
        .map(|(k, precision, time, recalled, seeds)| {
            let (same, diff) = agreement(reference, recalled);
            let found = seeds
                .iter()
                .filter(|id| reference_seeds.contains(id))
                .count();
            let recall_at_k = found as f64 / reference_seeds.len().max(1) as f64;
            (
                k,
                *precision,
                *time,
                same,
                diff,
                recalled.len(),
                recall_at_k,
            )
        })
        .collect();
    if json {
        let rows: Vec<_> = rows
            .iter()
            .map(|(k, precision, time, same, diff, n, recall_at_k)| {
                serde_json::json!({
                    "backend": k.backend().to_string(), "level": k.level().to_string(),
                    "precision": precision.as_str(),
                    "median_ms": time.as_secs_f64() * 1e3, "results": n,
                    "same_ranking_as_rust": same, "max_score_difference": diff,
                    "seed_recall_vs_f32": recall_at_k,
                })
            })
            .collect();
        return output::json(&serde_json::json!({
            "memories": snapshot.len(), "runs": COMPARE_RUNS, "backends": rows,
        }));
    }
    let mut table = Table::new(&[
        "backend",
        "level",
        "precision",
        ">median",
        ">vs rust",
        "same ranking",
        ">max |Δscore|",
        ">seed recall",
    ]);
    for (k, precision, time, same, diff, _, recall_at_k) in &rows {
        table.row(vec![
            k.backend().to_string(),
            k.level().to_string(),
            precision.to_string(),
            millis(*time),
            format!(
                "{:.2}×",
                reference_time.as_secs_f64() / time.as_secs_f64().max(1e-12)
            ),
            if *same { "yes" } else { "NO" }.into(),
            format!("{diff:.1e}"),
            format!("{recall_at_k:.2}"),
        ]);
    }
    let mut out = table.render();
    writeln!(
        out,
        "the same recall over {} memories, median of {COMPARE_RUNS} runs each; \"vs rust\" > 1 is faster than the Rust reference at f32; \"seed recall\" = the fraction of the f32 scan's {} seeds this one found",
        snapshot.len(),
        reference_seeds.len()
    )?;
    output::text(&out)
}
