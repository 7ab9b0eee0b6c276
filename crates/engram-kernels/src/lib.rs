//! The three hot paths of a memory graph — similarity, spreading activation and decay — behind
//! one safe, zero-copy API, with two interchangeable backends.
//!
//! - [`Backend::Rust`]: pure Rust, always compiled in, the **reference**.
//! - [`Backend::Zig`]: Zig kernels built by `build.rs` with `zig build` and linked statically,
//!   with the `zig-kernels` feature (which makes them the default).
//!
//! ```
//! use engram_kernels::{Csr, DecayCurve, EmbeddingMatrix, Kernels, SpreadParams, SpreadWorkspace};
//!
//! # fn main() -> Result<(), engram_kernels::Error> {
//! let kernels = Kernels::from_env()?; // ENGRAM_KERNELS=rust|zig|auto
//!
//! // Similarity: one query against N rows of D floats, stored contiguously.
//! let memories = EmbeddingMatrix::from_flat(vec![1.0, 0.0, 0.0, 1.0, 1.0, 1.0], 2)?;
//! let mut scores = vec![0.0; memories.rows()];
//! kernels.cosine(&[1.0, 0.0], memories.view(), &mut scores)?;
//! assert_eq!(scores[0], 1.0);
//!
//! // Spreading activation over a CSR graph, from the best match.
//! let graph = Csr::from_edges(3, &[(0, 2, 0.8), (2, 1, 0.5)])?;
//! let mut activation = vec![0.0; 3];
//! let params = SpreadParams::new(2, 0.5, 0.0)?;
//! kernels.spread(&graph, &[1.0, 0.0, 0.0], &params, &mut activation, &mut SpreadWorkspace::new())?;
//! assert!(activation[1] > 0.0); // reached through node 2
//!
//! // Decay: strength now, from base strength and last access (seconds).
//! let mut retention = vec![0.0; 2];
//! let curve = DecayCurve::exponential(3600.0)?;
//! kernels.retention(&[1.0, 1.0], &[0, 3600], 3600, &curve, &mut retention)?;
//! assert_eq!(retention, [0.5, 1.0]);
//! # Ok(())
//! # }
//! ```
//!
//! # Semantics (both backends)
//!
//! **Dot**: `score_i = Σ_k q_k · m_ik`, accumulated in f32.
//!
//! **Cosine**: `score_i = dot(q, m_i) / (‖q‖ · ‖m_i‖)`, clamped to `[-1, 1]`, where:
//! - a NaN in the query or in row `i` gives NaN for that score (it is never turned into 0);
//! - otherwise a zero-norm query or row gives 0;
//! - `‖q‖` and precomputed row norms ([`EmbeddingMatrix`], [`l2_norm`]) are summed in f64, so
//!   they do not overflow; norms computed on the fly (a view without norms) are summed in f32
//!   in the same pass as the dot product; the ratio is formed in f64.
//!
//! **Int8 dot** ([`Kernels::dot_i8`], over an [`Int8EmbeddingsView`] of `i8` codes):
//! `score_i = Σ_k q_k · m_ik`, computed exactly in `i32`. The dimension is at most
//! [`MAX_INT8_DIM`], so no partial sum can overflow in any order. [`Kernels::quantize_i8`]
//! makes the codes from f32 rows, one scale per row: `scale = max_k |x_k| / 127`,
//! `code_k = round(x_k · 127 / max_k |x_k|)` (half to even, in f64), so `code · scale` is
//! within half a step of `x`; every backend gives the same codes and scales.
//!
//! **F16 dot** ([`Kernels::dot_f16`], an f32 query over an [`F16EmbeddingsView`] of IEEE 754
//! binary16 codes, as `u16` bit patterns): each code is widened to f32 (exactly:
//! [`f16_bits_to_f32`]) and the sum is [`Kernels::dot`]'s, so the result is, bit for bit, what
//! `dot` gives over the widened rows on the same backend and level (the tolerance of `dot`
//! between backends applies). [`Kernels::quantize_f16`] makes the codes, one power-of-two scale
//! per row: `scale` = the largest power of two not above `max_k |x_k|`, `code_k` =
//! `x_k / scale` rounded to f16, nearest even ([`f32_to_f16_bits`]); the division is exact, so
//! `code · scale` is the f16 rounding of `x` for rows of any magnitude (no ∞); every backend
//! gives the same codes and scales.
//!
//! **Spreading activation**: from `a_0` = the initial activations (each in `[0, 1]`), for
//! `h = 1..=H`:
//!
//! `a_h[v] = clamp(a_{h-1}[v] + d · Σ_{(u→v)} w_uv · f(a_{h-1}[u]), 0, 1)`,
//! `f(x) = x if x ≥ θ (and x > 0) else 0`,
//!
//! with `d ∈ (0, 1]` the per-hop attenuation and `θ ≥ 0` the firing threshold ([`SpreadParams`]).
//! Negative weights inhibit (clamped at 0); duplicate edges count twice; self-loops are
//! ordinary edges. Sums are accumulated in f32 in CSR edge order, then scaled by `d`.
//! Weights are bounded by [`MAX_ABS_WEIGHT`] so no sum can overflow.
//!
//! [`Kernels::spread`] takes and returns dense activation vectors (cost O(H·N) plus the
//! edges of firing nodes). [`Kernels::spread_from_seeds`] takes a few [`Seed`]s and returns
//! the active nodes sparsely. Its cost follows the edges it touches, not the size of the
//! graph. On this project's 2-core machine (2026-11-22), 10 seeds and 3 hops over 1M nodes and
//! 10M edges took 0.10–0.13 ms on every backend and level, against 4.2–5.8 ms for a dense
//! pass; reproduce with
//! `cargo run --release --features zig-kernels --example spread_cost`. Given a
//! [`BidirectionalGraph`](pull::BidirectionalGraph) instead of a `Csr`, it is
//! direction-optimizing: a hop whose frontier is large pulls over the in-edges
//! (`BENCHMARKS.md`, "Direction-optimizing spreading"). [`Kernels::spread_pull`] is the dense
//! form run pull style: every node gathers its in-edges from a [`PullGraph`](pull::PullGraph)
//! (built once from the `Csr`, SELL-8 slices), which is faster for dense hops (1.6–2.5× at
//! 100k nodes / 1M edges on x86-64-v3/v4; see `BENCHMARKS.md`). The [`pull`] module says when
//! pulling pays; the engine does not use it. All three
//! forms give the same values bit for bit: each node's terms are added in ascending source
//! order in all of them, and `tests/differential.rs` checks it.
//!
//! **Decay** (retention, [`DecayCurve`]): `age = max(0, now − last_access)` in **seconds**
//! (`i64` times; the difference is exact, up to 2⁶⁴ − 1, before it is rounded to f64);
//! exponential `s · 2^(−age / half_life)`; power law `s · (1 + age / scale)^(−exponent)`.
//! Evaluated in f64, rounded once to f32. The exponential computes `2^x` without a library
//! call: `x` (as `age · (−1/half_life)`) is rounded to an integer `n`, `2^(x−n)` comes from a
//! degree-6 minimax polynomial and `2^n` from exponent bits, within 2.0·10⁻⁹ relative before
//! the rounding to f32. Outputs of at least 2²⁰ elements are written with non-temporal stores
//! on x86-64-v3/v4 (they bypass the caches; see `BENCHMARKS.md`).
//!
//! # How closely the backends agree
//!
//! The Rust backend is the reference, and both backends are checked against an independent f64
//! oracle (`tests/common/oracle.rs`) on every property-test case (`tests/differential.rs`;
//! `ε = 2⁻²⁴` is f32's unit roundoff, `D` the dimension). The bounds hold for any finite input
//! whose sums cannot overflow f32: subnormals and underflow are covered by an absolute term
//! of `2⁻¹⁵⁰` per product.
//!
//! | kernel | each backend vs the exact (f64) result | why | Zig vs Rust, largest measured |
//! |---|---|---|---|
//! | dot | `(D+2)·ε·Σ_k │q_k·m_ik│ + D·2⁻¹⁵⁰` | any summation order of D rounded products (Higham's γ_D) | 3.9% / 4.4% / 4.4% of twice the bound |
//! | int8 dot | 0: exact | integer products and sums, no overflow possible | 0: equal on every case, asserted |
//! | int8 quantization | each code within ½ of `x · 127 / max│x│`; the scale rounded once to f32 | f64 arithmetic, one rounding to an integer | 0: the same codes and scale bits, asserted |
//! | f16 dot | the dot bound, over the widened codes | the f32 dot of exactly widened values | as dot (each backend's result is its own dot over the widened rows, bit for bit, asserted) |
//! | f16 quantization | each code the f16 rounding of `x / scale` (relative error ≤ 2⁻¹¹, or absolute `scale · 2⁻²⁵` below f16's normal range); the scale exact | an exact division by a power of two, one rounding to f16 | 0: the same codes and scale bits, asserted |
//! | cosine | the dot bound ÷ `‖q‖‖m‖`, plus the norms' relative errors (`ε` for precomputed f64 norms; about `(D/2+3)·ε` for f32 norms computed on the fly) and `3ε`, in all at most `(1.5·D + 8)·ε` for normal inputs | the dot bound, divided by `‖q‖‖m‖ ≥ Σ│q·m│` | 1.0 ε / 1.5 ε / 1.5 ε |
//! | spreading | a per-node bound propagated through the hops: each f32 sum of `k` inputs adds `(k+1)·(ε·Σ│w·x│ + 2⁻¹⁵⁰)` (scaled by `d`), the final update `2ε` of its magnitude plus `2·2⁻¹⁵⁰`, errors in the inputs are carried with their weights, and clamping never adds any | f32 sums vs exact sums | 0: the backends agree bit for bit (same operations in the same order, no FMA) |
//! | decay | `(ε + 10⁻⁸)·│r│ + 2⁻¹⁵⁰` | evaluated in f64 and rounded once to f32; the exponential uses a polynomial `2^x` (within 2.0·10⁻⁹ relative, no library call), the power law `pow` | exponential: 0, bit for bit, asserted on every case (same operations in both backends); power law: 0 measured (glibc `pow` vs Zig's `std.math.pow`, each within a few f64 ulps) |
//!
//! The measured column is the worst case in `measured_disagreement_with_the_reference`
//! (402,880 outputs, D from 1 to 2048), for the Zig baseline, x86-64-v3 and x86-64-v4 levels
//! against the Rust baseline, all in one process, measured on 2026-11-22:
//! `cargo test -p engram-kernels --release --features zig-kernels --test differential measured -- --nocapture`.
//! The Rust backend's own levels give results that are bit for bit the same as its baseline.
//! Its v3/v4 code is the same source compiled with wider vectors, and Rust never fuses or
//! reorders floating-point operations.
//!
//! **Outside that domain:**
//! - A NaN anywhere in the query or a row makes that score NaN (dot and cosine). A ±∞ makes the
//!   dot ±∞ or NaN and the cosine NaN.
//! - When a sum overflows f32 (elements beyond about 10¹⁹), the dot may be ±∞ or NaN, depending on
//!   the summation order, so the backends may differ.
//! - When a vector's L2 norm is beyond `f32::MAX` (elements near 3·10³⁸, which rounds the norm to
//!   ∞) or below the smallest normal f32, the cosine is only guaranteed to be NaN or in `[-1, 1]`.
//!   It can be a wrong 0: a finite dot divided by an infinite norm.
//! - Spreading results are compared with the oracle except when a node's activation lies within
//!   its error bound of a positive threshold. Then f32 and f64 may legitimately disagree about
//!   whether it fires, and only the agreement between the backends is checked.
//!
//! # Threads
//!
//! Kernels are single-threaded by default. [`Kernels::with_threads`] splits each similarity
//! call that reads at least 4 MB ([`PARALLEL_MIN_FLOATS`] floats, or as many bytes of int8
//! codes) into contiguous blocks of rows over scoped threads. Every row is computed exactly as on one thread, so the results are bit for
//! bit the same; `tests/threads.rs` checks this.
//!
//! # Choosing a backend and a CPU level
//!
//! [`Kernels::from_env`] reads [`BACKEND_ENV`] (`ENGRAM_KERNELS`: `rust`, `zig` or `auto`)
//! and [`LEVEL_ENV`] (`ENGRAM_KERNELS_LEVEL`: `baseline`, `x86-64-v3`, `x86-64-v4` or `auto`).
//! The default is Zig when it is compiled in, at the best [`CpuLevel`] this CPU supports,
//! detected once at run time. The binary holds code for every level of its architecture, so it
//! runs on any CPU of that architecture. Asking for a backend that is not compiled in, or for a
//! level the CPU lacks, is an error, never a silent fallback. [`Kernels::describe`],
//! [`zig_levels_built`] and [`zig_build_info`] say what runs.

mod backend;
mod cpu;
mod embeddings;
mod error;
mod f16;
mod graph;
#[cfg(test)]
mod hostile_input_tests;
mod int8;
mod kernels;
mod params;
pub mod pull;
mod rust_backend;
mod shared;
mod spreading;
#[cfg(feature = "zig-kernels")]
mod zig_backend;

pub use backend::{BACKEND_ENV, Backend, BackendChoice, ZigBuildInfo};
pub use cpu::{CpuLevel, LEVEL_ENV, LevelChoice};
pub use embeddings::{EmbeddingMatrix, EmbeddingsView, l2_norm};
pub use error::{Error, Result};
pub use f16::{F16EmbeddingsView, f16_bits_to_f32, f32_to_f16_bits};
pub use graph::{Csr, MAX_ABS_WEIGHT};
pub use int8::{Int8EmbeddingsView, MAX_INT8_DIM};
pub use kernels::{Kernels, PARALLEL_MIN_FLOATS};
pub use params::{
    DecayCurve, Seed, SparseActivations, SpreadOutcome, SpreadParams, SpreadWorkspace,
};

/// The CPU levels whose Zig kernels are built into this binary, lowest first (none without
/// the `zig-kernels` feature). Which of them this CPU can run: [`CpuLevel::is_supported`].
pub fn zig_levels_built() -> Vec<CpuLevel> {
    #[cfg(feature = "zig-kernels")]
    {
        CpuLevel::ALL
            .into_iter()
            .filter(|l| zig_backend::is_built(*l))
            .collect()
    }
    #[cfg(not(feature = "zig-kernels"))]
    {
        Vec::new()
    }
}

/// What the Zig library of `level` reports about itself (Zig version, CPU model, optimize
/// mode, ...), or `None` without the `zig-kernels` feature, if that level was not built, or if
/// this CPU cannot run it.
pub fn zig_build_info(level: CpuLevel) -> Option<&'static ZigBuildInfo> {
    #[cfg(feature = "zig-kernels")]
    {
        zig_backend::build_info(level)
    }
    #[cfg(not(feature = "zig-kernels"))]
    {
        let _ = level;
        None
    }
}

/// One call through the FFI boundary to a trivial Zig function (wrapping `a + b`, baseline
/// level), or `None` without the `zig-kernels` feature. For measuring call overhead; not part
/// of any kernel.
#[doc(hidden)]
pub fn zig_add_u32(a: u32, b: u32) -> Option<u32> {
    #[cfg(feature = "zig-kernels")]
    {
        // SAFETY: a wrapping add that touches no memory; the baseline level runs on every CPU.
        Some(unsafe { (zig_backend::fns(cpu::Supported::baseline()).add_u32)(a, b) })
    }
    #[cfg(not(feature = "zig-kernels"))]
    {
        let _ = (a, b);
        None
    }
}

/// **Test-only: aborts the process.** Makes the Zig library panic on purpose, so that a test
/// (`tests/zig_panic.rs`, in a child process) can check that a Zig panic reaches the Rust
/// handler, which prints a clear message and aborts. No kernel path calls it.
#[doc(hidden)]
#[cfg(feature = "zig-kernels")]
pub fn __test_only_force_zig_panic() -> ! {
    // SAFETY: takes no arguments and touches no memory; it panics into the Rust handler,
    // which aborts. The baseline level runs on every CPU.
    unsafe { (zig_backend::fns(cpu::Supported::baseline()).test_force_panic)() };
    unreachable!("the Zig panic handler aborts and never returns")
}
