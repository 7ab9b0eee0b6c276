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

/// Whether a node of activation x fires: it passes w * x along its out-edges. The push and
/// pull passes (spread_pull.zig) use this rule, so they count the same edges.
pub inline fn fires(x: f32, threshold: f32) bool {
    return x > 0 and x >= threshold;
}

pub fn clampUnit(x: f32) f32 {
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
    const push: PushHop = .{
        .offsets = offsets,
        .targets = targets,
        .weights = weights,
        .n_nodes = n_nodes,
        .decay = decay,
        .threshold = threshold,
    };
    totals.* = denseHops(push, n_nodes, initial, hops, out, scratch);
}

/// One push hop: every firing node adds its weighted activation to its targets.
const PushHop = struct {
    offsets: [*]const u64,
    targets: [*]const u32,
    weights: [*]const f32,
    n_nodes: usize,
    decay: f32,
    threshold: f32,

    pub fn hop(self: PushHop, src: [*]const f32, dst: [*]f32) u64 {
        var edges_traversed: u64 = 0;
        // dst first collects each node's weighted input, then becomes the next activations.
        @memset(dst[0..self.n_nodes], 0);
        for (0..self.n_nodes) |u| {
            const x = src[u];
            if (fires(x, self.threshold)) {
                const begin: usize = @intCast(self.offsets[u]);
                const end: usize = @intCast(self.offsets[u + 1]);
                for (begin..end) |e| {
                    dst[self.targets[e]] += self.weights[e] * x;
                }
                edges_traversed += end - begin;
            }
        }
        for (0..self.n_nodes) |v| {
            dst[v] = clampUnit(src[v] + self.decay * dst[v]);
        }
        return edges_traversed;
    }
};

/// The hops of a dense pass (push or pull): `hopper.hop(src, dst)` computes one hop and
/// returns the out-edges of the nodes that fired. A hop only reads its source, so the first
/// reads `initial` in place, and the buffers alternate so that the last hop writes `out`: no
/// copies apart from out = initial when there are no hops. Mirrors `dense_hops` in Rust.
pub fn denseHops(hopper: anytype, n_nodes: usize, initial: [*]const f32, hops: u32, out: [*]f32, scratch: [*]f32) SpreadTotals {
    var edges_traversed: u64 = 0;
    if (hops == 0) {
        @memcpy(out[0..n_nodes], initial[0..n_nodes]);
    } else {
        var last = if (hops % 2 == 1) out else scratch;
        var other = if (hops % 2 == 1) scratch else out;
        edges_traversed += hopper.hop(initial, last);
        var h: u32 = 1;
        while (h < hops) : (h += 1) {
            edges_traversed += hopper.hop(last, other);
            std.mem.swap([*]f32, &last, &other);
        }
    }
    var active: u64 = 0;
    for (out[0..n_nodes]) |a| active += @intFromBool(a > 0);
    return .{ .edges_traversed = edges_traversed, .active_nodes = active };
}

/// A seed of sparse spreading; layout mirrored by `Seed` in `src/params.rs`.
pub const Seed = extern struct {
    node: u32,
    activation: f32,
};

/// One node's update, as in `spread`: the new activation into `next.*` (exactly +0.0 when not
/// positive, so the buffers stay all zero apart from active nodes), `prev.*` cleared for
/// reuse. Returns whether the node is active.
inline fn finalize(prev: *f32, next: *f32, decay: f32) bool {
    const a = clampUnit(prev.* + decay * next.*);
    prev.* = 0;
    next.* = if (a > 0) a else 0;
    return a > 0;
}

/// Spreading from `n_seeds` seeds, touching only the frontier; the same result, bit for bit,
/// as `spread` with the seeds as initial activations (firing nodes are visited in ascending
/// order, as the dense pass does). A hop whose frontier (edges leaving it plus its size) is
/// over a quarter of the nodes runs as a dense pass over all nodes; the arithmetic is the same.
/// Writes the nodes with a positive final activation, ascending, to out_nodes/out_activations
/// and their count to totals.active_nodes.
/// Contract: the graph as for `spread`; seeds distinct, < n_nodes, activations in [0, 1];
/// current, next (f32) and marked (u8) have n_nodes entries and are all zero on entry (and are
/// left all zero); active, touched, out_nodes and out_activations have room for n_nodes
/// entries; no two buffers overlap.
pub fn spreadSparse(
    offsets: [*]const u64,
    targets: [*]const u32,
    weights: [*]const f32,
    n_nodes: usize,
    seeds: [*]const Seed,
    n_seeds: usize,
    hops: u32,
    decay: f32,
    threshold: f32,
    current: [*]f32,
    next: [*]f32,
    marked: [*]u8,
    active: [*]u32,
    touched: [*]u32,
    out_nodes: [*]u32,
    out_activations: [*]f32,
    totals: *SpreadTotals,
) callconv(.c) void {
    var src = current;
    var dst = next;
    var n_active: usize = 0;
    for (seeds[0..n_seeds]) |seed| {
        if (seed.activation > 0) {
            src[seed.node] = seed.activation;
            active[n_active] = seed.node;
            n_active += 1;
        }
    }
    std.sort.pdq(u32, active[0..n_active], {}, std.sort.asc(u32));

    var edges_traversed: u64 = 0;
    var hop: u32 = 0;
    while (hop < hops) : (hop += 1) {
        var frontier_edges: u64 = 0;
        for (active[0..n_active]) |u| frontier_edges += offsets[u + 1] - offsets[u];
        const dense = frontier_edges + n_active > n_nodes / 4;
        var n_touched: usize = 0;
        for (active[0..n_active]) |u| {
            const x = src[u];
            if (x >= threshold) {
                const begin: usize = @intCast(offsets[u]);
                const end: usize = @intCast(offsets[u + 1]);
                for (begin..end) |e| {
                    const v = targets[e];
                    dst[v] += weights[e] * x;
                    if (!dense and marked[v] == 0) {
                        marked[v] = 1;
                        touched[n_touched] = v;
                        n_touched += 1;
                    }
                }
                edges_traversed += end - begin;
            }
        }
        if (dense) {
            n_active = 0;
            for (0..n_nodes) |v| {
                if (finalize(&src[v], &dst[v], decay)) {
                    active[n_active] = @intCast(v);
                    n_active += 1;
                }
            }
        } else {
            // Only nodes that were active or received input can change; the rest stay 0.
            for (active[0..n_active]) |u| {
                if (marked[u] == 0) {
                    marked[u] = 1;
                    touched[n_touched] = u;
                    n_touched += 1;
                }
            }
            std.sort.pdq(u32, touched[0..n_touched], {}, std.sort.asc(u32));
            n_active = 0;
            for (touched[0..n_touched]) |v| {
                marked[v] = 0;
                if (finalize(&src[v], &dst[v], decay)) {
                    active[n_active] = v;
                    n_active += 1;
                }
            }
        }
        std.mem.swap([*]f32, &src, &dst);
    }
    for (active[0..n_active], 0..) |u, i| {
        out_nodes[i] = u;
        out_activations[i] = src[u];
        src[u] = 0;
    }
    totals.* = .{ .edges_traversed = edges_traversed, .active_nodes = n_active };
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

test "sparse spreading equals dense spreading and leaves its buffers zero" {
    // 0 -> 1 (1), 1 -> 2 (0.5), 2 -> 0 (-0.25), 3 isolated
    const offsets = [_]u64{ 0, 1, 2, 3, 3 };
    const targets = [_]u32{ 1, 2, 0 };
    const weights = [_]f32{ 1, 0.5, -0.25 };
    const initial = [_]f32{ 0.8, 0, 0, 0 };
    var dense_out: [4]f32 = undefined;
    var scratch: [4]f32 = undefined;
    var totals: SpreadTotals = undefined;
    spread(&offsets, &targets, &weights, 4, &initial, 3, 0.5, 0, &dense_out, &scratch, &totals);

    const seeds = [_]Seed{.{ .node = 0, .activation = 0.8 }};
    var current: [4]f32 = @splat(0);
    var next: [4]f32 = @splat(0);
    var marked: [4]u8 = @splat(0);
    var active: [4]u32 = undefined;
    var touched: [4]u32 = undefined;
    var nodes: [4]u32 = undefined;
    var acts: [4]f32 = undefined;
    var sparse_totals: SpreadTotals = undefined;
    spreadSparse(&offsets, &targets, &weights, 4, &seeds, 1, 3, 0.5, 0, &current, &next, &marked, &active, &touched, &nodes, &acts, &sparse_totals);
    try testing.expectEqual(totals.active_nodes, sparse_totals.active_nodes);
    try testing.expectEqual(totals.edges_traversed, sparse_totals.edges_traversed);
    for (nodes[0..sparse_totals.active_nodes], acts[0..sparse_totals.active_nodes]) |v, a| {
        try testing.expectEqual(dense_out[v], a);
    }
    const zeros: [4]f32 = @splat(0);
    const no_marks: [4]u8 = @splat(0);
    try testing.expectEqualSlices(f32, &zeros, &current);
    try testing.expectEqualSlices(f32, &zeros, &next);
    try testing.expectEqualSlices(u8, &no_marks, &marked);
}
