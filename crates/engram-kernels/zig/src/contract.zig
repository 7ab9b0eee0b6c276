//! Checks of the contracts the exported functions state above them, in TigerBeetle's style.
//! The Rust wrappers establish every contract before they call; these catch a wrapper that
//! did not. They run only where runtime safety is on (Debug and ReleaseSafe: the Debug tests
//! and memcheck) and compile to nothing in ReleaseFast, the code that ships: not even as
//! assumptions for the optimizer, so its machine code is the same with them as without. A
//! failed check panics into the Rust handler, which aborts.
const std = @import("std");
const assert = std.debug.assert;

/// Whether the checks run.
pub const verify = std.debug.runtime_safety;

/// A curve parameter: finite and > 0.
pub fn positiveFinite(x: f64) void {
    if (!verify) return;
    assert(std.math.isFinite(x));
    assert(x > 0);
}

/// `a_len` elements at `a` and `b_len` at `b` share no byte.
pub fn disjoint(
    comptime A: type,
    a: [*]const A,
    a_len: usize,
    comptime B: type,
    b: [*]const B,
    b_len: usize,
) void {
    if (!verify) return;
    const a_start = @intFromPtr(a);
    const b_start = @intFromPtr(b);
    const a_end = a_start + a_len * @sizeOf(A);
    const b_end = b_start + b_len * @sizeOf(B);
    assert(a_len == 0 or b_len == 0 or a_end <= b_start or b_end <= a_start);
}

/// A weight as the graphs hold it: finite, |w| <= 2^32 (`max_abs_weight` in `shared.zon`).
pub fn weight(w: f32) void {
    if (!verify) return;
    assert(std.math.isFinite(w));
    assert(@abs(w) <= @import("shared.zig").values.max_abs_weight);
}

/// The `Csr` invariant: n_nodes + 1 non-decreasing offsets from 0, and at each edge a target
/// < n_nodes and a weight.
pub fn csr(
    offsets: [*]const u64,
    targets: [*]const u32,
    weights: [*]const f32,
    n_nodes: usize,
) void {
    if (!verify) return;
    assert(offsets[0] == 0);
    for (offsets[0..n_nodes], offsets[1 .. n_nodes + 1]) |start, end| assert(start <= end);
    const n_edges: usize = @intCast(offsets[n_nodes]);
    for (targets[0..n_edges], weights[0..n_edges]) |target, w| {
        assert(target < n_nodes);
        weight(w);
    }
}

/// `n` entries at `values`, every one zero.
pub fn allZero(comptime T: type, values: [*]const T, n: usize) void {
    if (!verify) return;
    for (values[0..n]) |x| assert(x == 0);
}

const testing = std.testing;

test "disjoint ranges, touching or apart, pass; empty ranges pass anywhere" {
    const buffer: [8]f32 = @splat(0);
    const p: [*]const f32 = &buffer;
    disjoint(f32, p, 4, f32, p + 4, 4);
    disjoint(f32, p + 4, 4, f32, p, 4);
    disjoint(f32, p, 0, f32, p, 8);
    disjoint(f32, p, 2, u8, @ptrCast(p + 2), 8);
}

test "a valid graph passes" {
    const offsets = [_]u64{ 0, 2, 2, 3 };
    const targets = [_]u32{ 1, 2, 0 };
    const weights = [_]f32{ 0.5, -0x1p32, 0x1p32 };
    csr(&offsets, &targets, &weights, 3);
    const empty = [_]u64{0};
    csr(&empty, &targets, &weights, 0);
    positiveFinite(1e-300);
    allZero(u8, &[_]u8{ 0, 0 }, 2);
}
