//! The constants both backends use, written once in `shared.zon` (what each one is for is
//! said there): the Zig kernels read them from `values`, and build.rs writes the same entries
//! out as the Rust backend's constants (`src/shared.rs`). Below them, the Zig-only settings
//! that more than one kernel file uses.
const std = @import("std");

/// The type of `shared.zon`: a field per entry (importing ZON needs a result type).
pub const Shared = struct {
    cache_line: usize,
    max_abs_weight: f32,
    int8_max_dim: usize,
    pull_lanes: usize,
    pull_prefetch_slots_ahead: usize,
    pull_prefetch_min_slots: usize,
    pull_gather_max_nodes: usize,
    round_magic: f64,
    decay_min_exponent: f64,
    decay_exp2_poly: [7]f64,
    decay_block: usize,
    decay_prefetch_ahead: usize,
    decay_stream_min_elements: usize,
};

pub const values: Shared = @import("shared.zon");

comptime {
    // The weight bound is exact in f32 (the Rust side converts the same f64 to f32).
    std.debug.assert(values.max_abs_weight == 0x1p32);
    // No partial sum of int8 products can overflow i32, and one more term could.
    std.debug.assert(values.int8_max_dim == std.math.maxInt(i32) / (128 * 128));
}

/// Zig only: the options of every software prefetch in the kernels: for reading, into every
/// cache level (x86's T0, as the Rust backend's `_MM_HINT_T0`).
pub const prefetch_read: std.builtin.PrefetchOptions = .{
    .rw = .read,
    .locality = 3,
    .cache = .data,
};

/// Zig only: similarity calls (f32 or int8) over fewer bytes (4 MiB) do not prefetch: those
/// rows are read from the caches, where a prefetch only adds instructions.
pub const similarity_prefetch_min_bytes = 1 << 22;
