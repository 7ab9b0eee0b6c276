//! Helpers shared by the integration tests: the backends to run, the property-test
//! configuration, a seeded generator, and the f64 oracle.
#![allow(dead_code)] // each test binary uses a different subset

pub mod oracle;

use std::io::Write;
use std::sync::Once;

use engram_kernels::{Backend, CpuLevel, Kernels};
use proptest::test_runner::{Config, FileFailurePersistence};

/// Kernels for every backend and CPU level that can run here, reference first. Each
/// combination that is skipped is reported, with the reason, once per test binary on stderr
/// (written directly, so the test harness does not swallow it): a run never silently tests
/// less than it seems to.
pub fn every_kernels() -> Vec<Kernels> {
    static REPORT_SKIPS: Once = Once::new();
    REPORT_SKIPS.call_once(|| {
        let mut stderr = std::io::stderr();
        for backend in Backend::ALL {
            for level in CpuLevel::ALL {
                let reason = match Kernels::with_level(backend, level) {
                    Ok(_) => continue,
                    Err(e) => e.to_string(),
                };
                let _ = writeln!(stderr, "note: skipping {backend} at {level}: {reason}");
            }
        }
    });
    Kernels::all_available()
}

/// Property-test cases per test: `PROPTEST_CASES` when set (e.g. fewer under valgrind, more
/// for a long run), else 10,000.
pub fn proptest_cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(10_000)
}

/// The property-test configuration: [`proptest_cases`] cases, and shrunk failures kept in
/// `tests/regressions/<file>.txt`, where they are replayed first on every later run.
pub fn proptest_config(regression_file: &'static str) -> Config {
    Config {
        cases: proptest_cases(),
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(regression_file))),
        ..Config::default()
    }
}

/// The path of a regression file for `proptest_config`, resolved at compile time.
#[macro_export]
macro_rules! regression_file {
    ($name:literal) => {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/regressions/",
            $name,
            ".txt"
        )
    };
}

/// A small deterministic generator (SplitMix64): fast enough to fill large random inputs from
/// one seed that proptest chooses, records and shrinks.
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

    /// Uniform in [0, n); n > 0.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f32) -> bool {
        self.next_f32_unit() < p
    }
}
