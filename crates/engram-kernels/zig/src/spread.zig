//! Spreading activation over a CSR graph (push style, edge order).
//!
//! Same arithmetic, in the same order, as the Rust reference
//! (`src/rust_backend/spread.rs`), so the two backends agree bit for bit.
const std = @import("std");

/// Totals reported back to Rust; layout mirrored by `SpreadTotals` in `ffi.rs`.
pub const SpreadTotals = extern struct {
    /// Edges whose source fired, summed over all hops.
    edges_traversed: u64,
    /// Nodes whose final activation is > 0.
    active_nodes: u64,
};

fn clampUnit(x: f32) f32 {
    // Sums cannot be NaN (weights are bounded by the caller), so plain comparisons suffice.
    if (x > 1) return 1;
    if (x < 0) return 0;
    return x;
}

/// a_h[v] = clamp(a_{h-1}[v] + decay * sum_{u->v} w_uv * f(a_{h-1}[u]), 0, 1) for h = 1..=hops,
/// f(x) = x when x >= threshold (and x > 0), else 0. Result in `out`; `initial` is not written.
/// Contract: offsets has n_nodes+1 non-decreasing entries starting at 0, targets and weights
/// have offsets[n_nodes] entries, every target < n_nodes, weights finite with |w| <= 2^32;
/// initial, out and scratch have n_nodes entries and do not overlap each other.
pub fn spread(
    offsets: [*]const u64,
    targets: [*]const u32,
    weights: [*]const f32,
    n_nodes: usize,
    initial: [*]const f32,
    hops: u32,
    decay: f32,
    threshold: f32,
    out: [*]f32,
    scratch: [*]f32,
    totals: *SpreadTotals,
) callconv(.c) void {
    @memcpy(out[0..n_nodes], initial[0..n_nodes]);
    var src = out;
    var dst = scratch;
    var edges_traversed: u64 = 0;
    var hop: u32 = 0;
    while (hop < hops) : (hop += 1) {
        @memset(dst[0..n_nodes], 0);
        for (0..n_nodes) |u| {
            const x = src[u];
            if (x > 0 and x >= threshold) {
                const begin: usize = @intCast(offsets[u]);
                const end: usize = @intCast(offsets[u + 1]);
                for (begin..end) |e| {
                    dst[targets[e]] += weights[e] * x;
                }
                edges_traversed += end - begin;
            }
        }
        for (0..n_nodes) |v| {
            dst[v] = clampUnit(src[v] + decay * dst[v]);
        }
        std.mem.swap([*]f32, &src, &dst);
    }
    if (src != out) @memcpy(out[0..n_nodes], src[0..n_nodes]);
    var active: u64 = 0;
    for (out[0..n_nodes]) |a| active += @intFromBool(a > 0);
    totals.* = .{ .edges_traversed = edges_traversed, .active_nodes = active };
}

const testing = std.testing;

test "two hops along a chain with decay" {
    // 0 -> 1 (w 1), 1 -> 2 (w 0.5)
    const offsets = [_]u64{ 0, 1, 2, 2 };
    const targets = [_]u32{ 1, 2 };
    const weights = [_]f32{ 1, 0.5 };
    const initial = [_]f32{ 1, 0, 0 };
    var out: [3]f32 = undefined;
    var scratch: [3]f32 = undefined;
    var totals: SpreadTotals = undefined;
    spread(&offsets, &targets, &weights, 3, &initial, 2, 0.5, 0, &out, &scratch, &totals);
    // hop 1: a = {1, 0.5, 0}; hop 2: a1 = 0.5 + 0.5*1 = 1, a2 = 0 + 0.5*0.5*0.5 = 0.125
    try testing.expectEqual(@as(f32, 1), out[0]);
    try testing.expectEqual(@as(f32, 1), out[1]);
    try testing.expectEqual(@as(f32, 0.125), out[2]);
    try testing.expectEqual(@as(u64, 3), totals.edges_traversed);
    try testing.expectEqual(@as(u64, 3), totals.active_nodes);
}

test "inhibition clamps at zero and threshold stops firing" {
    const offsets = [_]u64{ 0, 1, 1 };
    const targets = [_]u32{1};
    const weights = [_]f32{-4};
    const initial = [_]f32{ 0.5, 0.25 };
    var out: [2]f32 = undefined;
    var scratch: [2]f32 = undefined;
    var totals: SpreadTotals = undefined;
    spread(&offsets, &targets, &weights, 2, &initial, 1, 1, 0.5, &out, &scratch, &totals);
    try testing.expectEqual(@as(f32, 0), out[1]);
    // A threshold just above the activation: node 0 does not fire.
    spread(&offsets, &targets, &weights, 2, &initial, 1, 1, 0.5000001, &out, &scratch, &totals);
    try testing.expectEqual(@as(f32, 0.25), out[1]);
    try testing.expectEqual(@as(u64, 0), totals.edges_traversed);
}

test "zero hops copies the input" {
    const offsets = [_]u64{0};
    var out: [0]f32 = undefined;
    var scratch: [0]f32 = undefined;
    var totals: SpreadTotals = undefined;
    spread(&offsets, &[_]u32{}, &[_]f32{}, 0, &[_]f32{}, 3, 1, 0, &out, &scratch, &totals);
    try testing.expectEqual(@as(u64, 0), totals.active_nodes);
}
