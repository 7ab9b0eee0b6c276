//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod kill;

use std::path::Path;

use engram_graph::{Engram, Kernels, NewMemory, Options};

/// The names of the files in `dir`, sorted.
pub fn file_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// SplitMix64: a tiny deterministic generator, so tests need no RNG crate.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [-1, 1).
    pub fn unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    pub fn vector(&mut self, dim: usize) -> Vec<f32> {
        (0..dim).map(|_| self.unit()).collect()
    }
}

/// The unit vector along axis `i`.
pub fn axis(dim: usize, i: usize) -> Vec<f32> {
    let mut v = vec![0.0; dim];
    v[i] = 1.0;
    v
}

pub fn options_with(kernels: Kernels) -> Options {
    Options {
        kernels: Some(kernels),
        ..Options::default()
    }
}

/// A fixed time, so retention is deterministic.
pub const NOW: i64 = 1_700_000_000;

/// A memory accessed at NOW with full strength.
pub fn memory(embedding: Vec<f32>) -> NewMemory {
    NewMemory::new(embedding).created_at(NOW)
}

/// Fills `engram` with `n` random memories and about `degree` random edges each.
pub fn random_graph(
    engram: &Engram,
    n: usize,
    degree: usize,
    seed: u64,
) -> Vec<engram_graph::MemoryId> {
    let mut rng = Rng(seed);
    let dim = engram.dimension();
    let ids = engram
        .remember_batch((0..n).map(|i| {
            memory(rng.vector(dim))
                .with_strength(0.25 + 0.75 * (i % 4) as f32 / 3.0)
                .created_at(NOW - (rng.below(30 * 24 * 3600) as i64))
        }))
        .expect("remember");
    let mut batch = engram_graph::WriteBatch::new();
    for &from in &ids {
        for _ in 0..degree {
            let to = ids[rng.below(n as u64) as usize];
            if to != from {
                batch.associate(from, to, rng.unit());
            }
        }
    }
    engram.write(&batch).expect("associate");
    ids
}
