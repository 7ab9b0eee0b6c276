//! Raw declarations of the Zig library's C ABI, mirroring `zig/src/*.zig`. Each function's
//! contract (lengths, non-overlap, value ranges) is written above its Zig definition; the safe
//! wrappers in this folder establish it before every call.

/// Must equal `abi_version` in `zig/src/root.zig`; a test checks it against the linked library.
#[cfg(test)]
pub(crate) const ZIG_ABI_VERSION: u32 = 1;

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

unsafe extern "C" {
    pub(crate) fn ek_build_info(out: *mut BuildInfo);

    /// Panics on purpose (test-only; see `__test_only_force_zig_panic`).
    pub(crate) fn ek_test_force_panic();

    /// Wrapping add; reads no memory, so it is safe to call.
    pub(crate) safe fn ek_add_u32(a: u32, b: u32) -> u32;

    pub(crate) fn ek_dot_f32(
        query: *const f32,
        rows: *const f32,
        n_rows: usize,
        dim: usize,
        out: *mut f32,
    );

    /// `row_norms` may be null.
    pub(crate) fn ek_cosine_f32(
        query: *const f32,
        query_norm: f32,
        rows: *const f32,
        row_norms: *const f32,
        n_rows: usize,
        dim: usize,
        out: *mut f32,
    );

    pub(crate) fn ek_spread_f32(
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

    pub(crate) fn ek_decay_exponential(
        strengths: *const f32,
        last_access: *const i64,
        n: usize,
        now: i64,
        half_life: f64,
        out: *mut f32,
    );

    pub(crate) fn ek_decay_power_law(
        strengths: *const f32,
        last_access: *const i64,
        n: usize,
        now: i64,
        scale: f64,
        exponent: f64,
        out: *mut f32,
    );
}
