//! Helpers shared by the integration tests.
#![allow(dead_code)] // each test binary uses a different subset

use engram_kernels::{Backend, Kernels};

/// Kernels for every backend compiled into this test binary, reference first. Prints which
/// backends are skipped and why, so a run never silently tests less than it seems to.
pub fn every_backend() -> Vec<Kernels> {
    for backend in Backend::ALL.into_iter().filter(|b| !b.is_compiled()) {
        eprintln!("note: skipping the {backend} backend: not compiled in (enable `zig-kernels`)");
    }
    Backend::compiled()
        .map(|b| Kernels::new(b).expect("compiled backends are available"))
        .collect()
}

/// A small deterministic generator (SplitMix64) for seeded sweeps whose numbers are quoted.
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn next_f32_unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }

    /// Uniform in [-1, 1).
    pub fn next_f32_signed(&mut self) -> f32 {
        2.0 * self.next_f32_unit() - 1.0
    }
}
