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
