//! Raw declarations of the Zig libraries' C ABI, mirroring `zig/src/*.zig`. There is one
//! library per CPU level, with every symbol suffixed by the level (`ek_dot_f32_x86_64_v3`);
//! [`LevelFns`] gathers one level's functions. Each function's contract (lengths, non-overlap,
//! value ranges) is written above its Zig definition; the safe wrappers in this folder
//! establish it before every call.

use crate::{CpuLevel, Seed};

/// Must equal `abi_version` in `zig/src/root.zig`: a `Kernels` on a Zig level whose library
/// reports another is refused ([`super::check_abi`]).
pub(crate) const ZIG_ABI_VERSION: u32 = 5;

/// The layout of every struct that crosses the boundary, as `zig/src/root.zig` asserts it too
/// (the same offsets, in terms of the pointer size `P`): a field changed on one side only
/// fails the build of that side.
const _: () = {
    use std::mem::{align_of, offset_of, size_of};
    const P: usize = size_of::<usize>();
    assert!(offset_of!(BuildInfo, abi_version) == 0);
    assert!(offset_of!(BuildInfo, has_fma) == 4);
    assert!(offset_of!(BuildInfo, zig_version_ptr) == 8);
    assert!(offset_of!(BuildInfo, zig_version_len) == 8 + P);
    assert!(offset_of!(BuildInfo, cpu_model_ptr) == 8 + 2 * P);
    assert!(offset_of!(BuildInfo, cpu_model_len) == 8 + 3 * P);
    assert!(offset_of!(BuildInfo, optimize_mode_ptr) == 8 + 4 * P);
    assert!(offset_of!(BuildInfo, optimize_mode_len) == 8 + 5 * P);
    assert!(offset_of!(BuildInfo, vector_lanes) == 8 + 6 * P);
    assert!(size_of::<BuildInfo>() == (12 + 6 * P).next_multiple_of(P));
    assert!(align_of::<BuildInfo>() == P);

    assert!(offset_of!(InEdges, slice_offsets) == 0);
    assert!(offset_of!(InEdges, sources) == P);
    assert!(offset_of!(InEdges, weights) == 2 * P);
    assert!(offset_of!(InEdges, out_degrees) == 3 * P);
    assert!(size_of::<InEdges>() == 4 * P);
    assert!(align_of::<InEdges>() == P);

    assert!(offset_of!(SpreadTotals, edges_traversed) == 0);
    assert!(offset_of!(SpreadTotals, active_nodes) == 8);
    assert!(size_of::<SpreadTotals>() == 16);
    assert!(align_of::<SpreadTotals>() == align_of::<u64>());

    assert!(offset_of!(Seed, node) == 0);
    assert!(offset_of!(Seed, activation) == 4);
    assert!(size_of::<Seed>() == 8);
    assert!(align_of::<Seed>() == 4);
};

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

/// `InEdges` in `zig/src/spread_pull.zig`: a `PullGraph`'s arrays.
#[repr(C)]
pub(crate) struct InEdges {
    slice_offsets: *const u64,
    sources: *const u32,
    weights: *const f32,
    out_degrees: *const u64,
}

impl InEdges {
    /// Pointers to `graph`'s arrays, valid while `graph` is borrowed. Its invariant is the
    /// contract written above `InEdges` in Zig.
    pub(crate) fn of(graph: &crate::PullGraph) -> Self {
        Self {
            slice_offsets: graph.slice_offsets().as_ptr(),
            sources: graph.sources().as_ptr(),
            weights: graph.weights().as_ptr(),
            out_degrees: graph.out_degrees().as_ptr(),
        }
    }
}

/// `SpreadTotals` in `zig/src/spread.zig`.
#[repr(C)]
#[derive(Default)]
pub(crate) struct SpreadTotals {
    pub(crate) edges_traversed: u64,
    pub(crate) active_nodes: u64,
}

impl SpreadTotals {
    /// The totals as the crate reports them.
    pub(crate) fn outcome(&self) -> crate::SpreadOutcome {
        crate::SpreadOutcome {
            edges_traversed: self.edges_traversed,
            // At most N, which is a usize.
            active_nodes: self.active_nodes as usize,
        }
    }
}

/// Writes the ABI once: the [`LevelFns`] table of function pointers, and for each level built
/// into this binary a module declaring its symbols (`<symbol>_<suffix>`) and its `FNS` table.
macro_rules! zig_abi {
    (
        levels { $($module:ident = $suffix:literal),* $(,)? }
        fns $fns:tt
    ) => {
        zig_abi!(@table $fns);
        $( zig_abi!(@level $module $suffix $fns); )*
    };
    (@table {
        $( $(#[$doc:meta])* fn $name:ident = $symbol:literal ($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)?; )*
    }) => {
        /// One CPU level's exported functions.
        pub(crate) struct LevelFns {
            $( $(#[$doc])* pub(crate) $name: unsafe extern "C" fn($($arg: $ty),*) $(-> $ret)?, )*
        }
    };
    (@level $module:ident $suffix:literal {
        $( $(#[$doc:meta])* fn $name:ident = $symbol:literal ($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)?; )*
    }) => {
        #[cfg(engram_zig_level = $suffix)]
        mod $module {
            use super::{BuildInfo, InEdges, LevelFns, Seed, SpreadTotals};

            unsafe extern "C" {
                $(
                    #[link_name = concat!($symbol, "_", $suffix)]
                    fn $name($($arg: $ty),*) $(-> $ret)?;
                )*
            }

            pub(crate) static FNS: LevelFns = LevelFns { $($name),* };
        }
    };
}

zig_abi! {
    levels {
        baseline = "baseline",
        x86_64_v3 = "x86_64_v3",
        x86_64_v4 = "x86_64_v4",
    }
    fns {
        fn build_info = "ek_build_info"(out: *mut BuildInfo);
        fn add_u32 = "ek_add_u32"(a: u32, b: u32) -> u32;
        fn test_force_panic = "ek_test_force_panic"();
        fn dot = "ek_dot_f32"(
            query: *const f32,
            rows: *const f32,
            n_rows: usize,
            dim: usize,
            out: *mut f32,
        );
        /// `row_norms` may be null.
        fn cosine = "ek_cosine_f32"(
            query: *const f32,
            query_norm: f32,
            rows: *const f32,
            row_norms: *const f32,
            n_rows: usize,
            dim: usize,
            out: *mut f32,
        );
        fn spread = "ek_spread_f32"(
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
        );
        /// `in_edges` may be null.
        fn spread_sparse = "ek_spread_sparse_f32"(
            offsets: *const u64,
            targets: *const u32,
            weights: *const f32,
            n_nodes: usize,
            in_edges: *const InEdges,
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
        fn spread_pull = "ek_spread_pull_f32"(
            in_edges: *const InEdges,
            n_nodes: usize,
            initial: *const f32,
            hops: u32,
            decay: f32,
            threshold: f32,
            out: *mut f32,
            scratch: *mut f32,
            totals: *mut SpreadTotals,
        );
        fn decay_exponential = "ek_decay_exponential"(
            strengths: *const f32,
            last_access: *const i64,
            n: usize,
            now: i64,
            half_life: f64,
            out: *mut f32,
        );
        fn decay_power_law = "ek_decay_power_law"(
            strengths: *const f32,
            last_access: *const i64,
            n: usize,
            now: i64,
            scale: f64,
            exponent: f64,
            out: *mut f32,
        );
    }
}

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
