//! Stores on disk, built as a bulk loader would: batches of new memories, each with
//! associations to random earlier memories or ones earlier in its batch, timed by the engine's
//! writes alone. Shared by `engram-bench-store` and `engram-bench-big`.

use std::path::Path;
use std::time::{Duration, Instant};

use engram_graph::{Engram, MemoryId, MemoryRef, NewMemory, Options, Precision, WriteBatch};

use crate::workload::Rng;

/// What a build took.
#[derive(Debug, Clone, Copy)]
pub struct Built {
    /// Memories stored.
    pub memories: usize,
    /// Time in `Engram::write` (the batches are prepared outside it).
    pub writing: Duration,
    /// Wall time of the whole build, preparing the batches included.
    pub wall: Duration,
}

impl Built {
    /// Memories per second of writing.
    pub fn rate(&self) -> f64 {
        self.memories as f64 / self.writing.as_secs_f64().max(1e-9)
    }
}

/// Creates a store at `path` of `n` memories of `dim` random values in [-1, 1), at
/// `precision`, in batches of `batch`, each memory with `degree` associations (weight 0.5) to
/// uniformly drawn earlier memories, those of its own batch included. `progress` is called
/// with the memories stored after each batch.
///
/// # Errors
/// The engine's.
pub fn build_store(
    path: &Path,
    n: usize,
    dim: usize,
    precision: Precision,
    degree: usize,
    batch: usize,
    mut progress: impl FnMut(usize),
) -> engram_graph::Result<Built> {
    let started = Instant::now();
    let options = Options {
        precision,
        ..Options::default()
    };
    let engram = Engram::create(path, dim, options)?;
    let mut rng = Rng::new(n as u64);
    let mut stored = 0usize;
    let mut writing = Duration::ZERO;
    while stored < n {
        let count = batch.max(1).min(n - stored);
        let mut writes = WriteBatch::new();
        let mut refs = Vec::with_capacity(count);
        for _ in 0..count {
            let embedding: Vec<f32> = (0..dim).map(|_| 2.0 * rng.unit() - 1.0).collect();
            refs.push(writes.remember(NewMemory::new(embedding)));
        }
        for (i, &from) in refs.iter().enumerate() {
            let before = stored + i;
            if before == 0 {
                continue;
            }
            for _ in 0..degree {
                let target = rng.below(before as u64) as usize;
                let to = if target >= stored {
                    refs[target - stored]
                } else {
                    MemoryRef::Existing(MemoryId::new(target as u64 + 1))
                };
                writes.associate(from, to, 0.5);
            }
        }
        let start = Instant::now();
        engram.write(&writes)?;
        writing += start.elapsed();
        stored += count;
        progress(stored);
    }
    Ok(Built {
        memories: n,
        writing,
        wall: started.elapsed(),
    })
}

/// This process's resident memory in MB: private (anonymous: what it allocated) and
/// file-backed (mapped pages of a store, shared with the page cache and every other reader;
/// the kernel maps up to 16 neighbours of each page touched). NaN where `/proc` has no such
/// field.
pub fn resident() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map_or(f64::NAN, |kb| kb / 1e3)
    };
    (field("RssAnon:"), field("RssFile:"))
}

/// The `engram` binary beside the running one (`target/release/engram`), which the store and
/// server benchmarks run; an error saying how to build it if it is not there.
pub fn engram_binary() -> Result<std::path::PathBuf, String> {
    let path = std::env::current_exe()
        .map_err(|e| format!("cannot find this program's path: {e}"))?
        .with_file_name("engram");
    if !path.exists() {
        return Err(format!(
            "{} is missing: build it first with `cargo build --release -p engram-graph-cli --features zig-kernels`",
            path.display()
        ));
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_built_store_has_its_memories_associations_and_precision() -> engram_graph::Result<()> {
        let dir = tempfile::tempdir().map_err(engram_graph::Error::Io)?;
        let path = dir.path().join("s.engram");
        let mut calls = 0;
        let built = build_store(&path, 700, 8, Precision::Int8, 3, 300, |_| calls += 1)?;
        assert_eq!((built.memories, calls), (700, 3));
        assert!(built.rate() > 0.0);
        let engram = Engram::open(&path, Options::default())?;
        assert_eq!(engram.precision(), Precision::Int8);
        let snapshot = engram.snapshot();
        assert_eq!(snapshot.len(), 700);
        // Duplicates merge: a little under (n − 1) · degree.
        assert!((1_900..=2_097).contains(&snapshot.association_count()));
        let (private, mapped) = resident();
        assert!(private > 0.0 && mapped >= 0.0, "{private} {mapped}");
        Ok(())
    }
}
