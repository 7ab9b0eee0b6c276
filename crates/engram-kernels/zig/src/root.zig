//! C ABI of the engram-kernels Zig library, for one CPU level.
//!
//! The library is built once per CPU level (see build.zig); every exported symbol carries the
//! level as a suffix (`ek_dot_f32_baseline`, `ek_dot_f32_x86_64_v3`, ...), so all levels can be
//! linked into one binary. Every exported function trusts its caller: the Rust wrappers in
//! `src/zig_backend/` validate lengths, indices and parameters before calling.
//! The contract of each function is written above it, and mirrored by the
//! `extern "C"` declarations in `src/zig_backend/ffi.rs`.
const std = @import("std");
const builtin = @import("builtin");
const build_options = @import("build_options");

/// Appended to every exported name: `_` and the level, e.g. `_x86_64_v3`.
const suffix = "_" ++ build_options.level;

pub const similarity = @import("similarity.zig");
pub const similarity_i8 = @import("similarity_i8.zig");
pub const quantize_i8 = @import("quantize_i8.zig");
pub const quantize_f16 = @import("quantize_f16.zig");
pub const half = @import("half.zig");
pub const spread = @import("spread.zig");
pub const spread_pull = @import("spread_pull.zig");
pub const decay = @import("decay.zig");
pub const contract = @import("contract.zig");

/// Bumped whenever an exported signature or struct layout changes; the Rust
/// side checks it (`ZIG_ABI_VERSION` in `src/zig_backend/ffi.rs`).
pub const abi_version: u32 = 9;

/// Defined in Rust (`src/zig_backend/mod.rs`): prints a clear message and aborts.
extern fn engram_kernels_zig_panic(msg_ptr: [*]const u8, msg_len: usize) noreturn;

fn panicToRust(msg: []const u8, first_trace_addr: ?usize) noreturn {
    _ = first_trace_addr;
    engram_kernels_zig_panic(msg.ptr, msg.len);
}

/// A safety-check failure (Debug/ReleaseSafe) must not unwind into Rust or print a
/// bare trace: it goes to the Rust handler. Zig's own unit tests have no Rust side,
/// so they keep the default handler.
pub const panic = if (builtin.is_test)
    std.debug.FullPanic(std.debug.defaultPanic)
else
    std.debug.FullPanic(panicToRust);

/// What the library was built as, for `engram_kernels::zig_build_info()`.
pub const BuildInfo = extern struct {
    abi_version: u32,
    has_fma: bool,
    zig_version_ptr: [*]const u8,
    zig_version_len: usize,
    cpu_model_ptr: [*]const u8,
    cpu_model_len: usize,
    optimize_mode_ptr: [*]const u8,
    optimize_mode_len: usize,
    vector_lanes: u32,
};

// The layout of every struct that crosses the boundary, as `src/zig_backend/ffi.rs` asserts it
// too (the same offsets, written in terms of the pointer size `p`): a field changed on one side
// only fails the build of that side.
comptime {
    const assert = std.debug.assert;
    const p = @sizeOf(usize);
    assert(@offsetOf(BuildInfo, "abi_version") == 0);
    assert(@offsetOf(BuildInfo, "has_fma") == 4);
    assert(@offsetOf(BuildInfo, "zig_version_ptr") == 8);
    assert(@offsetOf(BuildInfo, "zig_version_len") == 8 + p);
    assert(@offsetOf(BuildInfo, "cpu_model_ptr") == 8 + 2 * p);
    assert(@offsetOf(BuildInfo, "cpu_model_len") == 8 + 3 * p);
    assert(@offsetOf(BuildInfo, "optimize_mode_ptr") == 8 + 4 * p);
    assert(@offsetOf(BuildInfo, "optimize_mode_len") == 8 + 5 * p);
    assert(@offsetOf(BuildInfo, "vector_lanes") == 8 + 6 * p);
    assert(@sizeOf(BuildInfo) == std.mem.alignForward(usize, 12 + 6 * p, p));
    assert(@alignOf(BuildInfo) == p);

    const InEdges = spread_pull.InEdges;
    assert(@offsetOf(InEdges, "slice_offsets") == 0);
    assert(@offsetOf(InEdges, "sources") == p);
    assert(@offsetOf(InEdges, "weights") == 2 * p);
    assert(@offsetOf(InEdges, "out_degrees") == 3 * p);
    assert(@sizeOf(InEdges) == 4 * p);
    assert(@alignOf(InEdges) == p);

    const OutEdges = spread.OutEdges;
    assert(@offsetOf(OutEdges, "offsets") == 0);
    assert(@offsetOf(OutEdges, "targets") == p);
    assert(@offsetOf(OutEdges, "weights") == 2 * p);
    assert(@sizeOf(OutEdges) == 3 * p);
    assert(@alignOf(OutEdges) == p);

    const SparseState = spread.SparseState;
    assert(@offsetOf(SparseState, "n_nodes") == 0);
    assert(@offsetOf(SparseState, "src") == p);
    assert(@offsetOf(SparseState, "dst") == 2 * p);
    assert(@offsetOf(SparseState, "marked") == 3 * p);
    assert(@offsetOf(SparseState, "active") == 4 * p);
    assert(@offsetOf(SparseState, "n_active") == 5 * p);
    assert(@offsetOf(SparseState, "touched") == 6 * p);
    assert(@offsetOf(SparseState, "n_touched") == 7 * p);
    assert(@sizeOf(SparseState) == 8 * p);
    assert(@alignOf(SparseState) == p);
}

/// Fills `out` with static strings (valid for the life of the program).
fn buildInfo(out: *BuildInfo) callconv(.c) void {
    const mode = @tagName(builtin.mode);
    out.* = .{
        .abi_version = abi_version,
        .has_fma = similarity.has_fma,
        .zig_version_ptr = builtin.zig_version_string.ptr,
        .zig_version_len = builtin.zig_version_string.len,
        .cpu_model_ptr = builtin.cpu.model.name.ptr,
        .cpu_model_len = builtin.cpu.model.name.len,
        .optimize_mode_ptr = mode.ptr,
        .optimize_mode_len = mode.len,
        .vector_lanes = similarity.lanes,
    };
}

// The two exports below are not kernels, and no kernel path calls them. They stay in every
// library, the ones a release links included, on purpose: what they check is the library that
// ships. `addU32` is the FFI-cost probe (`engram_kernels::zig_add_u32`, timed by
// `engram-bench` in release builds); `testForcePanic` proves, from `tests/zig_panic.rs`, that
// a panic in that library reaches the Rust handler. Together a few bytes of code; neither
// reads or writes memory it is given.

/// A trivial export, used to measure the cost of one FFI call.
fn addU32(a: u32, b: u32) callconv(.c) u32 {
    return a +% b;
}

/// Panics on purpose, for the test that checks a Zig panic reaches the Rust handler
/// (`tests/zig_panic.rs`). Nothing in the crate calls it.
fn testForcePanic() callconv(.c) void {
    @panic("deliberate panic, forced by engram-kernels' panic-handler test");
}

comptime {
    @export(&buildInfo, .{ .name = "ek_build_info" ++ suffix });
    @export(&addU32, .{ .name = "ek_add_u32" ++ suffix });
    @export(&testForcePanic, .{ .name = "ek_test_force_panic" ++ suffix });
    @export(&similarity.dotRows, .{ .name = "ek_dot_f32" ++ suffix });
    @export(&similarity.cosineRows, .{ .name = "ek_cosine_f32" ++ suffix });
    @export(&similarity_i8.dotI8Rows, .{ .name = "ek_dot_i8" ++ suffix });
    @export(&quantize_i8.quantizeI8Rows, .{ .name = "ek_quantize_i8" ++ suffix });
    @export(&similarity.dotF16Rows, .{ .name = "ek_dot_f16" ++ suffix });
    @export(&quantize_f16.quantizeF16Rows, .{ .name = "ek_quantize_f16" ++ suffix });
    @export(&spread.pushHop, .{ .name = "ek_push_hop_f32" ++ suffix });
    @export(&spread.pushFrontier, .{ .name = "ek_push_frontier_f32" ++ suffix });
    @export(&spread.finalizeAll, .{ .name = "ek_finalize_all_f32" ++ suffix });
    @export(&spread.finalizeTouched, .{ .name = "ek_finalize_touched_f32" ++ suffix });
    @export(&spread_pull.pullHop, .{ .name = "ek_pull_hop_f32" ++ suffix });
    @export(&decay.exponential, .{ .name = "ek_decay_exponential" ++ suffix });
    @export(&decay.powerLaw, .{ .name = "ek_decay_power_law" ++ suffix });
}

test {
    std.testing.refAllDecls(@This());
}
