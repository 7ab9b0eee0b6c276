//! Raw declarations of the Zig libraries' C ABI, mirroring `zig/src/*.zig`. There is one
//! library per CPU level, with every symbol suffixed by the level (`ek_dot_f32_x86_64_v3`);
//! [`LevelFns`] gathers one level's functions. Each function's contract (lengths, non-overlap,
//! value ranges) is written above its Zig definition; the safe wrappers in this folder
//! establish it before every call.

use crate::CpuLevel;

/// Must equal `abi_version` in `zig/src/root.zig`: a `Kernels` on a Zig level whose library
/// reports another is refused ([`super::check_abi`]).
pub(crate) const ZIG_ABI_VERSION: u32 = 9;

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

    assert!(offset_of!(OutEdges, offsets) == 0);
    assert!(offset_of!(OutEdges, targets) == P);
    assert!(offset_of!(OutEdges, weights) == 2 * P);
    assert!(size_of::<OutEdges>() == 3 * P);
    assert!(align_of::<OutEdges>() == P);

    assert!(offset_of!(SparseState, n_nodes) == 0);
    assert!(offset_of!(SparseState, src) == P);
    assert!(offset_of!(SparseState, dst) == 2 * P);
    assert!(offset_of!(SparseState, marked) == 3 * P);
    assert!(offset_of!(SparseState, active) == 4 * P);
    assert!(offset_of!(SparseState, n_active) == 5 * P);
    assert!(offset_of!(SparseState, touched) == 6 * P);
    assert!(offset_of!(SparseState, n_touched) == 7 * P);
    assert!(size_of::<SparseState>() == 8 * P);
    assert!(align_of::<SparseState>() == P);
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
    pub(crate) fn of(graph: &crate::pull::PullGraph) -> Self {
        Self {
            slice_offsets: graph.slice_offsets().as_ptr(),
            sources: graph.sources().as_ptr(),
            weights: graph.weights().as_ptr(),
            out_degrees: graph.out_degrees().as_ptr(),
        }
    }
}

/// `OutEdges` in `zig/src/spread.zig`: a `Csr`'s arrays.
#[repr(C)]
pub(crate) struct OutEdges {
    offsets: *const u64,
    targets: *const u32,
    weights: *const f32,
}

impl OutEdges {
    /// Pointers to `graph`'s arrays, valid while `graph` is borrowed. Its invariant is the
    /// contract written above `OutEdges` in Zig.
    pub(crate) fn of(graph: &crate::Csr) -> Self {
        Self {
            offsets: graph.offsets().as_ptr(),
            targets: graph.targets().as_ptr(),
            weights: graph.weights().as_ptr(),
        }
    }
}

/// `SparseState` in `zig/src/spread.zig`: the buffers of a [`spreading::SparseState`], as
/// pointers, and its two list lengths, which the kernels update.
///
/// [`spreading::SparseState`]: crate::spreading::SparseState
#[repr(C)]
pub(crate) struct SparseState {
    n_nodes: usize,
    src: *mut f32,
    dst: *mut f32,
    marked: *mut u8,
    active: *mut u32,
    pub(crate) n_active: usize,
    touched: *mut u32,
    pub(crate) n_touched: usize,
}

impl SparseState {
    /// Pointers to `state`'s buffers, valid while `state` is borrowed; `n_nodes` is the length
    /// of its `src` (the caller checks the rest of its shape).
    pub(crate) fn of(state: &mut crate::spreading::SparseState<'_>) -> Self {
        Self {
            n_nodes: state.src.len(),
            src: state.src.as_mut_ptr(),
            dst: state.dst.as_mut_ptr(),
            marked: state.marked.as_mut_ptr(),
            active: state.active.as_mut_ptr(),
            n_active: state.n_active,
            touched: state.touched.as_mut_ptr(),
            n_touched: state.n_touched,
        }
    }
}

/// Writes the ABI once: the [`LevelFns`] table of function pointers, and for each level built
/// into this binary a module declaring its symbols (`<symbol>_<suffix>`) and its `FNS` table.
macro_rules! zig_abi {
    (
        levels { $($level:ident => $module:ident = $suffix:literal),* $(,)? }
        fns $fns:tt
    ) => {
        zig_abi!(@table $fns);
        $( zig_abi!(@level $module $suffix $fns); )*

        /// The functions of `level`, if its library was built into this binary. Whether the
        /// CPU can run them is the caller's concern (`Kernels` only holds supported levels).
        pub(crate) fn level_fns(level: CpuLevel) -> Option<&'static LevelFns> {
            match level {
                $(
                    #[cfg(engram_zig_level = $suffix)]
                    CpuLevel::$level => Some(&$module::FNS),
                )*
                #[allow(unreachable_patterns)] // every level may be built
                _ => None,
            }
        }
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
            use super::{BuildInfo, InEdges, LevelFns, OutEdges, SparseState};

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
    // The CPU level, its module here, and its Zig library's symbol suffix (build.rs's level
    // names). A new level is one line here.
    levels {
        Baseline => baseline = "baseline",
        X86_64V3 => x86_64_v3 = "x86_64_v3",
        X86_64V4 => x86_64_v4 = "x86_64_v4",
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
        fn dot_i8 = "ek_dot_i8"(
            query: *const i8,
            rows: *const i8,
            n_rows: usize,
            dim: usize,
            out: *mut i32,
        );
        fn quantize_i8 = "ek_quantize_i8"(
            rows: *const f32,
            n_rows: usize,
            dim: usize,
            codes: *mut i8,
            scales: *mut f32,
        );
        /// `rows` are binary16 bit patterns.
        fn dot_f16 = "ek_dot_f16"(
            query: *const f32,
            rows: *const u16,
            n_rows: usize,
            dim: usize,
            out: *mut f32,
        );
        fn quantize_f16 = "ek_quantize_f16"(
            rows: *const f32,
            n_rows: usize,
            dim: usize,
            codes: *mut u16,
            scales: *mut f32,
        );
        fn push_hop = "ek_push_hop_f32"(
            graph: *const OutEdges,
            n_nodes: usize,
            src: *const f32,
            dst: *mut f32,
            attenuation: f32,
            threshold: f32,
        ) -> u64;
        fn pull_hop = "ek_pull_hop_f32"(
            graph: *const InEdges,
            n_nodes: usize,
            src: *const f32,
            dst: *mut f32,
            attenuation: f32,
            threshold: f32,
        ) -> u64;
        fn push_frontier = "ek_push_frontier_f32"(
            graph: *const OutEdges,
            state: *mut SparseState,
            threshold: f32,
            mark: bool,
        ) -> u64;
        fn finalize_all = "ek_finalize_all_f32"(
            state: *mut SparseState,
            attenuation: f32,
            pulled: bool,
        );
        fn finalize_touched = "ek_finalize_touched_f32"(
            state: *mut SparseState,
            attenuation: f32,
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
