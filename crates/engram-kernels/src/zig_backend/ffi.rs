//! Raw declarations of the Zig libraries' C ABI, mirroring `zig/src/*.zig`. There is one
//! library per CPU level, with every symbol suffixed by the level (`ek_dot_f32_x86_64_v3`);
//! [`LevelFns`] gathers one level's functions. Each function's contract (lengths, non-overlap,
//! value ranges) is written above its Zig definition; the safe wrappers in this folder
//! establish it before every call.

use crate::{CpuLevel, Seed};

/// Must equal `abi_version` in `zig/src/root.zig`; a test checks it against every linked level.
#[cfg(test)]
pub(crate) const ZIG_ABI_VERSION: u32 = 2;

/// `BuildInfo` in `zig/src/root.zig`.
#[repr(C)]
pub(crate) struct BuildInfo {
    pub(crate) abi_version: u32,
    pub(crate) has_fma: bool,
    pub(crate) zig_version_ptr: *const u8,
    pub(crate) zig_version_len: usize,
    pub(crate) cpu_model_ptr: *const u8,
    pub(crate) cpu_model_len: usize,
    pub(crate) optimize_mode_ptr: *const u8,
    pub(crate) optimize_mode_len: usize,
    pub(crate) vector_lanes: u32,
}

/// `SpreadTotals` in `zig/src/spread.zig`.
#[repr(C)]
#[derive(Default)]
pub(crate) struct SpreadTotals {
    pub(crate) edges_traversed: u64,
    pub(crate) active_nodes: u64,
}

/// One CPU level's exported functions.
pub(crate) struct LevelFns {
    pub(crate) build_info: unsafe extern "C" fn(out: *mut BuildInfo),
    pub(crate) add_u32: unsafe extern "C" fn(a: u32, b: u32) -> u32,
    pub(crate) test_force_panic: unsafe extern "C" fn(),
    pub(crate) dot: unsafe extern "C" fn(
        query: *const f32,
        rows: *const f32,
        n_rows: usize,
        dim: usize,
        out: *mut f32,
    ),
    /// `row_norms` may be null.
    pub(crate) cosine: unsafe extern "C" fn(
        query: *const f32,
        query_norm: f32,
        rows: *const f32,
        row_norms: *const f32,
        n_rows: usize,
        dim: usize,
        out: *mut f32,
    ),
    pub(crate) spread: unsafe extern "C" fn(
        offsets: *const u64,
        targets: *const u32,
        weights: *const f32,
        n_nodes: usize,
        initial: *const f32,
        hops: u32,
        decay: f32,
        threshold: f32,
        out: *mut f32,
        scratch: *mut f32,
        totals: *mut SpreadTotals,
    ),
    pub(crate) spread_sparse: unsafe extern "C" fn(
        offsets: *const u64,
        targets: *const u32,
        weights: *const f32,
        n_nodes: usize,
        seeds: *const Seed,
        n_seeds: usize,
        hops: u32,
        decay: f32,
        threshold: f32,
        current: *mut f32,
        next: *mut f32,
        marked: *mut u8,
        active: *mut u32,
        touched: *mut u32,
        out_nodes: *mut u32,
        out_activations: *mut f32,
        totals: *mut SpreadTotals,
    ),
    pub(crate) decay_exponential: unsafe extern "C" fn(
        strengths: *const f32,
        last_access: *const i64,
        n: usize,
        now: i64,
        half_life: f64,
        out: *mut f32,
    ),
    pub(crate) decay_power_law: unsafe extern "C" fn(
        strengths: *const f32,
        last_access: *const i64,
        n: usize,
        now: i64,
        scale: f64,
        exponent: f64,
        out: *mut f32,
    ),
}

/// Declares one level's symbols (`<name>_<suffix>`) and their [`LevelFns`] table.
macro_rules! level_fns {
    ($module:ident, $suffix:literal) => {
        mod $module {
            use super::{BuildInfo, LevelFns, Seed, SpreadTotals};

            unsafe extern "C" {
                #[link_name = concat!("ek_build_info_", $suffix)]
                fn build_info(out: *mut BuildInfo);
                #[link_name = concat!("ek_add_u32_", $suffix)]
                fn add_u32(a: u32, b: u32) -> u32;
                #[link_name = concat!("ek_test_force_panic_", $suffix)]
                fn test_force_panic();
                #[link_name = concat!("ek_dot_f32_", $suffix)]
                fn dot(q: *const f32, rows: *const f32, n: usize, dim: usize, out: *mut f32);
                #[link_name = concat!("ek_cosine_f32_", $suffix)]
                fn cosine(
                    q: *const f32,
                    q_norm: f32,
                    rows: *const f32,
                    norms: *const f32,
                    n: usize,
                    dim: usize,
                    out: *mut f32,
                );
                #[link_name = concat!("ek_spread_f32_", $suffix)]
                fn spread(
                    offsets: *const u64,
                    targets: *const u32,
                    weights: *const f32,
                    n: usize,
                    initial: *const f32,
                    hops: u32,
                    decay: f32,
                    threshold: f32,
                    out: *mut f32,
                    scratch: *mut f32,
                    totals: *mut SpreadTotals,
                );
                #[link_name = concat!("ek_spread_sparse_f32_", $suffix)]
                fn spread_sparse(
                    offsets: *const u64,
                    targets: *const u32,
                    weights: *const f32,
                    n: usize,
                    seeds: *const Seed,
                    n_seeds: usize,
                    hops: u32,
                    decay: f32,
                    threshold: f32,
                    current: *mut f32,
                    next: *mut f32,
                    marked: *mut u8,
                    active: *mut u32,
                    touched: *mut u32,
                    out_nodes: *mut u32,
                    out_activations: *mut f32,
                    totals: *mut SpreadTotals,
                );
                #[link_name = concat!("ek_decay_exponential_", $suffix)]
                fn decay_exponential(
                    s: *const f32,
                    t: *const i64,
                    n: usize,
                    now: i64,
                    half_life: f64,
                    out: *mut f32,
                );
                #[link_name = concat!("ek_decay_power_law_", $suffix)]
                fn decay_power_law(
                    s: *const f32,
                    t: *const i64,
                    n: usize,
                    now: i64,
                    scale: f64,
                    exponent: f64,
                    out: *mut f32,
                );
            }

            pub(crate) static FNS: LevelFns = LevelFns {
                build_info,
                add_u32,
                test_force_panic,
                dot,
                cosine,
                spread,
                spread_sparse,
                decay_exponential,
                decay_power_law,
            };
        }
    };
}

#[cfg(engram_zig_level = "baseline")]
level_fns!(baseline, "baseline");
#[cfg(engram_zig_level = "x86_64_v3")]
level_fns!(x86_64_v3, "x86_64_v3");
#[cfg(engram_zig_level = "x86_64_v4")]
level_fns!(x86_64_v4, "x86_64_v4");

/// The functions of `level`, if its library was built into this binary. Whether the CPU can
/// run them is the caller's concern (`Kernels` only holds supported levels).
pub(crate) fn level_fns(level: CpuLevel) -> Option<&'static LevelFns> {
    match level {
        #[cfg(engram_zig_level = "baseline")]
        CpuLevel::Baseline => Some(&baseline::FNS),
        #[cfg(engram_zig_level = "x86_64_v3")]
        CpuLevel::X86_64V3 => Some(&x86_64_v3::FNS),
        #[cfg(engram_zig_level = "x86_64_v4")]
        CpuLevel::X86_64V4 => Some(&x86_64_v4::FNS),
        #[allow(unreachable_patterns)] // every level may be built
        _ => None,
    }
}
