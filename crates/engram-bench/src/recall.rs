//! The recall workload: an `engram` store (in a temporary directory) of `n` random memories with about
//! `degree` random associations each, and latency percentiles of recalls against it.

use std::time::{Duration, Instant};

use engram_graph::{Engram, NewMemory, Options, RecallParams, Snapshot, WriteBatch};

use crate::workload::{Rng, query};

/// The time every recall of the benchmark is computed at.
pub const NOW: i64 = 1_700_000_000;

/// Memories remembered per transaction while building.
const BATCH: usize = 20_000;

/// Builds a store (in a temporary directory: [`Engram::in_memory`]) of `n` memories of `dim` random values in [-1, 1) (strengths in
/// [0.25, 1], last accessed up to 30 days before [`NOW`]), each with `degree` associations to
/// uniformly drawn memories (weights in (0, 1]), then compacts it. `progress` is called with
/// the fraction done.
pub fn build_store(
    n: usize,
    dim: usize,
    degree: usize,
    seed: u64,
    mut progress: impl FnMut(f64),
) -> engram_graph::Result<Engram> {
    let engram = Engram::in_memory(
        dim,
        Options {
            // Built in big batches; one compaction at the end.
            min_compaction_changes: usize::MAX,
            ..Options::default()
        },
    )?;
    let mut rng = Rng::new(seed);
    let mut ids = Vec::with_capacity(n);
    while ids.len() < n {
        let count = BATCH.min(n - ids.len());
        let batch = (0..count).map(|_| {
            let embedding = (0..dim).map(|_| 2.0 * rng.unit() - 1.0).collect();
            NewMemory::new(embedding)
                .with_strength(0.25 + 0.75 * rng.unit())
                .created_at(NOW - rng.below(30 * 24 * 3600) as i64)
        });
        ids.extend(engram.remember_batch(batch)?);
        progress(ids.len() as f64 / n as f64 / 2.0);
    }
    for (chunk_index, chunk) in ids.chunks(BATCH / degree.max(1)).enumerate() {
        let mut batch = WriteBatch::new();
        for &from in chunk {
            for _ in 0..degree {
                let to = ids[rng.below(n as u64) as usize];
                if to != from {
                    batch.associate(from, to, 1.0 - rng.unit());
                }
            }
        }
        engram.write(&batch)?;
        progress(0.5 + (chunk_index + 1) as f64 * chunk.len() as f64 / n as f64 / 2.0);
    }
    engram.compact()?;
    Ok(engram)
}

/// The recall the benchmark times: 10 seeds, 3 hops, 20 results, at [`NOW`].
pub fn params() -> RecallParams {
    RecallParams {
        k: 10,
        hops: 3,
        limit: 20,
        now: Some(NOW),
        ..RecallParams::default()
    }
}

/// Latency of `count` recalls from distinct random cues, after one untimed warm-up, sorted.
pub fn latencies(
    snapshot: &Snapshot,
    count: usize,
    seed: u64,
) -> engram_graph::Result<Vec<Duration>> {
    let params = params();
    let dim = snapshot.dimension();
    snapshot.recall(&query(dim, seed), &params)?;
    let mut times = (0..count as u64)
        .map(|i| {
            let cue = query(dim, seed.wrapping_add(i + 1));
            let start = Instant::now();
            let results = snapshot.recall(&cue, &params)?;
            let time = start.elapsed();
            std::hint::black_box(results);
            Ok(time)
        })
        .collect::<engram_graph::Result<Vec<Duration>>>()?;
    times.sort();
    Ok(times)
}

/// The `p`-th percentile (0–100) of sorted times: the smallest time at least `p`% of the
/// samples do not exceed. Zero for no samples.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_known_samples() {
        let times: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&times, 50.0), Duration::from_millis(50));
        assert_eq!(percentile(&times, 99.0), Duration::from_millis(99));
        assert_eq!(percentile(&times, 100.0), Duration::from_millis(100));
        assert_eq!(percentile(&[], 50.0), Duration::ZERO);
    }

    #[test]
    fn the_built_store_has_what_was_asked_and_recalls() -> engram_graph::Result<()> {
        let engram = build_store(2_000, 16, 10, 1, |_| {})?;
        let snapshot = engram.snapshot();
        assert_eq!(snapshot.len(), 2_000);
        // Self-loops are skipped and duplicates merge: a little under n · degree.
        assert!((19_000..=20_000).contains(&snapshot.association_count()));
        assert_eq!(snapshot.pending_changes(), 0);
        let times = latencies(&snapshot, 5, 3)?;
        assert_eq!(times.len(), 5);
        let results = snapshot.recall(&query(16, 1), &params())?;
        assert_eq!(results.len(), 20);
        assert!(results.iter().any(|r| !r.seed), "spreading reached nothing");
        Ok(())
    }
}
