//! Spreading activation: the per-hop kernels, push style (edge order). Rust drives the hops
//! (`src/spreading.rs`: the dense passes and the sparse frontier policy, written once for both
//! backends); each call here computes one hop, or one step of a sparse hop.
//!
//! Same arithmetic, in the same order, as the Rust reference (`src/rust_backend/spread.rs`),
//! so the two backends agree bit for bit.
const std = @import("std");
const contract = @import("contract.zig");

/// A graph's out-edges in CSR form; layout mirrored by `OutEdges` in `ffi.rs`. Contract (the
/// `Csr` invariant): offsets has n_nodes + 1 non-decreasing entries from 0; targets and weights
/// have offsets[n_nodes] entries, every target < n_nodes, weights finite with |w| <= 2^32.
pub const OutEdges = extern struct {
    offsets: [*]const u64,
    targets: [*]const u32,
    weights: [*]const f32,

    /// Checks the contract above (where `contract.verify`).
    pub fn checkContract(self: OutEdges, n_nodes: usize) void {
        contract.csr(self.offsets, self.targets, self.weights, n_nodes);
    }
};

/// The buffers of sparse spreading, passed between its kernels; layout mirrored by
/// `SparseState` in `ffi.rs`, filled the same way by both backends. Contract: src, dst (f32)
/// and marked (u8) have n_nodes entries; active and touched have room for n_nodes ids, of
/// which the first n_active / n_touched are in use, every one < n_nodes; no two buffers
/// overlap. Between hops dst and marked are all zero and src is zero except at the active
/// nodes, which are distinct, ascending and positive.
pub const SparseState = extern struct {
    n_nodes: usize,
    src: [*]f32,
    dst: [*]f32,
    marked: [*]u8,
    active: [*]u32,
    n_active: usize,
    touched: [*]u32,
    n_touched: usize,

    /// Checks the contract above, as it holds between hops (where `contract.verify`).
    fn checkBetweenHops(self: *const SparseState) void {
        if (!contract.verify) return;
        const n = self.n_nodes;
        contract.disjoint(f32, self.src, n, f32, self.dst, n);
        contract.disjoint(u32, self.active, n, u32, self.touched, n);
        std.debug.assert(self.n_active <= n and self.n_touched <= n);
        contract.allZero(f32, self.dst, n);
        contract.allZero(u8, self.marked, n);
        var active: usize = 0;
        for (self.active[0..self.n_active], 0..) |u, i| {
            std.debug.assert(u < n and self.src[u] > 0);
            if (i > 0) std.debug.assert(self.active[i - 1] < u);
        }
        for (self.src[0..n]) |x| active += @intFromBool(x != 0);
        std.debug.assert(active == self.n_active);
    }
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

/// One dense push hop: dst[v] = clamp(src[v] + attenuation * sum_{u->v} w_uv * f(src[u]), 0, 1)
/// for every node, f(x) = x when x fires, else 0. Returns the out-edges of the nodes that
/// fired. Contract: graph as above `OutEdges`; src and dst have n_nodes entries and do not
/// overlap.
pub fn pushHop(
    graph: *const OutEdges,
    n_nodes: usize,
    src: [*]const f32,
    dst: [*]f32,
    attenuation: f32,
    threshold: f32,
) callconv(.c) u64 {
    graph.checkContract(n_nodes);
    contract.disjoint(f32, src, n_nodes, f32, dst, n_nodes);
    // Locals, not loads through `graph` in the loop: a store through dst may alias `graph.*`
    // (as far as the compiler knows), so its fields would be loaded again after each one.
    const offsets = graph.offsets;
    const targets = graph.targets;
    const weights = graph.weights;
    var edges_traversed: u64 = 0;
    // dst first collects each node's weighted input, then becomes the next activations.
    @memset(dst[0..n_nodes], 0);
    for (0..n_nodes) |u| {
        const x = src[u];
        if (fires(x, threshold)) {
            const begin: usize = @intCast(offsets[u]);
            const end: usize = @intCast(offsets[u + 1]);
            for (begin..end) |e| {
                dst[targets[e]] += weights[e] * x;
            }
            edges_traversed += end - begin;
        }
    }
    for (0..n_nodes) |v| {
        dst[v] = clampUnit(src[v] + attenuation * dst[v]);
    }
    return edges_traversed;
}

/// The push step of a sparse hop: every active node that fires adds w * x to its targets' dst
/// entries, in the order of the active list. When `mark`, each target not yet marked is marked
/// and appended to touched (which starts empty). Returns the out-edges of the nodes that
/// fired. Contract: graph as above `OutEdges`, of state.n_nodes nodes; state between hops
/// (above `SparseState`).
pub fn pushFrontier(
    graph: *const OutEdges,
    state: *SparseState,
    threshold: f32,
    mark: bool,
) callconv(.c) u64 {
    graph.checkContract(state.n_nodes);
    state.checkBetweenHops();
    return if (mark)
        pushFrontierMarking(graph, state, threshold, true)
    else
        pushFrontierMarking(graph, state, threshold, false);
}

inline fn pushFrontierMarking(
    graph: *const OutEdges,
    state: *SparseState,
    threshold: f32,
    comptime mark: bool,
) u64 {
    // Locals, not loads through `graph` and `state` in the loop, as in `pushHop`.
    const offsets = graph.offsets;
    const targets = graph.targets;
    const weights = graph.weights;
    const src = state.src;
    const dst = state.dst;
    const marked = state.marked;
    const touched = state.touched;
    var n_touched: usize = 0;
    var edges_traversed: u64 = 0;
    for (state.active[0..state.n_active]) |u| {
        const x = src[u];
        if (fires(x, threshold)) {
            const begin: usize = @intCast(offsets[u]);
            const end: usize = @intCast(offsets[u + 1]);
            for (begin..end) |e| {
                const v = targets[e];
                dst[v] += weights[e] * x;
                if (mark and marked[v] == 0) {
                    marked[v] = 1;
                    touched[n_touched] = v;
                    n_touched += 1;
                }
            }
            edges_traversed += end - begin;
        }
    }
    state.n_touched = n_touched;
    return edges_traversed;
}

/// One node's update after a push: the new activation into next.* (exactly +0.0 when not
/// positive, so the buffers stay all zero apart from active nodes), prev.* cleared for reuse.
/// Returns whether the node is active.
inline fn finalize(prev: *f32, next: *f32, attenuation: f32) bool {
    const a = clampUnit(prev.* + attenuation * next.*);
    prev.* = 0;
    next.* = if (a > 0) a else 0;
    return a > 0;
}

/// Ends a dense hop over every node. After a push (`pulled` false) each node's update is
/// computed from src and the sums in dst; after a pull hop (`pulled` true) dst already holds
/// the new activations. Either way src is cleared, dst keeps the positive activations (+0.0
/// elsewhere) and the active list becomes the positive nodes, ascending. Contract: as above
/// `SparseState`, except that dst holds the hop's sums or activations.
pub fn finalizeAll(state: *SparseState, attenuation: f32, pulled: bool) callconv(.c) void {
    contract.disjoint(f32, state.src, state.n_nodes, f32, state.dst, state.n_nodes);
    // The mode is fixed for the loop: a copy of it per mode, no branch per node.
    if (pulled) {
        finalizeEvery(state, attenuation, true);
    } else {
        finalizeEvery(state, attenuation, false);
    }
    contract.allZero(f32, state.src, state.n_nodes);
}

inline fn finalizeEvery(state: *SparseState, attenuation: f32, comptime pulled: bool) void {
    const src = state.src;
    const dst = state.dst;
    const active = state.active;
    var n_active: usize = 0;
    for (0..state.n_nodes) |v| {
        const prev = &src[v];
        const next = &dst[v];
        const positive = if (pulled)
            pulledPositive(prev, next)
        else
            finalize(prev, next, attenuation);
        if (positive) {
            active[n_active] = @intCast(v);
            n_active += 1;
        }
    }
    state.n_active = n_active;
}

/// As `finalize`, for a node whose new activation a pull hop already wrote into next.*.
inline fn pulledPositive(prev: *f32, next: *f32) bool {
    prev.* = 0;
    // Exactly +0.0 (not -0.0) when not positive.
    if (next.* > 0) return true;
    next.* = 0;
    return false;
}

/// Ends a sparse hop: each touched node (the only ones that can change) gets its update and is
/// unmarked; the active list becomes the positive ones, in touched order. Contract: as above
/// `SparseState`, with dst holding the push's sums; touched[0..n_touched] ascending, marked,
/// and holding every active node and every node whose dst is not zero.
pub fn finalizeTouched(state: *SparseState, attenuation: f32) callconv(.c) void {
    const n = state.n_nodes;
    contract.disjoint(f32, state.src, n, f32, state.dst, n);
    if (contract.verify) {
        std.debug.assert(state.n_touched <= n);
        for (state.touched[0..state.n_touched], 0..) |v, i| {
            std.debug.assert(v < n and state.marked[v] == 1);
            if (i > 0) std.debug.assert(state.touched[i - 1] < v);
        }
    }
    // Locals, not loads through `state` in the loop, as in `pushHop`.
    const src = state.src;
    const dst = state.dst;
    const marked = state.marked;
    const active = state.active;
    var n_active: usize = 0;
    for (state.touched[0..state.n_touched]) |v| {
        marked[v] = 0;
        if (finalize(&src[v], &dst[v], attenuation)) {
            active[n_active] = v;
            n_active += 1;
        }
    }
    state.n_active = n_active;
    contract.allZero(f32, state.src, n);
    contract.allZero(u8, state.marked, n);
}

const testing = std.testing;

/// A graph of up to 16 nodes for the tests, with the buffers of sparse spreading over it.
const Fixture = struct {
    const max = 16;
    offsets: []const u64,
    targets: []const u32,
    weights: []const f32,
    src: [max]f32 = @splat(0),
    dst: [max]f32 = @splat(0),
    marked: [max]u8 = @splat(0),
    active: [max]u32 = undefined,
    touched: [max]u32 = undefined,

    fn nodes(f: *const Fixture) usize {
        return f.offsets.len - 1;
    }

    fn out(f: *const Fixture) OutEdges {
        return .{ .offsets = f.offsets.ptr, .targets = f.targets.ptr, .weights = f.weights.ptr };
    }

    /// One dense push hop from `initial`, as `pushHop` computes it.
    fn denseHop(f: *const Fixture, initial: []const f32, threshold: f32) [max]f32 {
        var next: [max]f32 = @splat(0);
        _ = pushHop(&f.out(), f.nodes(), initial.ptr, &next, 0.5, threshold);
        return next;
    }

    /// Loads `initial` (only the positive entries are active) as the state between hops.
    fn load(f: *Fixture, initial: []const f32) SparseState {
        var n_active: usize = 0;
        for (initial, 0..) |a, v| {
            f.src[v] = a;
            if (a > 0) {
                f.active[n_active] = @intCast(v);
                n_active += 1;
            }
        }
        return .{
            .n_nodes = f.nodes(),
            .src = &f.src,
            .dst = &f.dst,
            .marked = &f.marked,
            .active = &f.active,
            .n_active = n_active,
            .touched = &f.touched,
            .n_touched = 0,
        };
    }

    /// Checks the state holds `want` after a hop (in dst, as the next hop's source) and that
    /// the rest of the buffers are clear again.
    fn expectHop(f: *const Fixture, state: SparseState, want: [max]f32) !void {
        const n = f.nodes();
        var n_active: usize = 0;
        for (0..n) |v| {
            try testing.expectEqual(@as(u32, @bitCast(want[v])), @as(u32, @bitCast(f.dst[v])));
            try testing.expectEqual(@as(f32, 0), f.src[v]);
            try testing.expectEqual(@as(u8, 0), f.marked[v]);
            if (want[v] > 0) {
                try testing.expectEqual(@as(u32, @intCast(v)), state.active[n_active]);
                n_active += 1;
            }
        }
        try testing.expectEqual(n_active, state.n_active);
    }
};

/// 0 -> 1 (1), 1 -> 2 (0.5), 2 -> 0 (-0.25), 0 -> 3 (0.75), 4 isolated.
fn smallGraph() Fixture {
    return .{
        .offsets = &[_]u64{ 0, 2, 3, 4, 4, 4 },
        .targets = &[_]u32{ 1, 3, 2, 0 },
        .weights = &[_]f32{ 1, 0.75, 0.5, -0.25 },
    };
}

test "a push hop along a chain, with attenuation, inhibition and a threshold" {
    const f = smallGraph();
    var next = f.denseHop(&[_]f32{ 0.8, 0, 0, 0, 0 }, 0);
    // a1 = 0.5 * 1 * 0.8, a3 = 0.5 * 0.75 * 0.8; node 0 keeps its 0.8.
    try testing.expectEqualSlices(f32, &[_]f32{ 0.8, 0.4, 0, 0.3, 0 }, next[0..5]);
    // Node 2 inhibits node 0: 0.25 - 0.5 * 0.25 * 1 = 0.125; a threshold above both stops it.
    next = f.denseHop(&[_]f32{ 0.25, 0, 1, 0, 0 }, 0);
    try testing.expectEqualSlices(f32, &[_]f32{ 0.125, 0.125, 1, 0.09375, 0 }, next[0..5]);
    next = f.denseHop(&[_]f32{ 0.25, 0, 1, 0, 0 }, 1.5);
    try testing.expectEqualSlices(f32, &[_]f32{ 0.25, 0, 1, 0, 0 }, next[0..5]);
    var edges: u64 = undefined;
    var out: [5]f32 = undefined;
    edges = pushHop(&f.out(), 5, &[_]f32{ 1, 1, 0, 0, 0 }, &out, 1, 0);
    try testing.expectEqual(@as(u64, 3), edges);
    try testing.expectEqualSlices(f32, &[_]f32{ 1, 1, 0.5, 0.75, 0 }, &out);
}

test "a sparse hop (push marking, then finalize the touched) gives the dense hop's bits" {
    for ([_]f32{ 0, 0.5 }) |threshold| {
        var f = smallGraph();
        const initial = [_]f32{ 0.8, 0.25, 0, 0, 0 };
        const want = f.denseHop(&initial, threshold);
        var state = f.load(&initial);
        const edges = pushFrontier(&f.out(), &state, threshold, true);
        try testing.expectEqual(@as(u64, if (threshold > 0) 2 else 3), edges);
        // Touched: the targets, in push order; the driver adds the active nodes and sorts.
        try testing.expectEqualSlices(u32, if (threshold > 0) &[_]u32{ 1, 3 } else &[_]u32{
            1, 3, 2,
        }, state.touched[0..state.n_touched]);
        for (state.active[0..state.n_active]) |u| {
            if (f.marked[u] == 0) {
                f.marked[u] = 1;
                state.touched[state.n_touched] = u;
                state.n_touched += 1;
            }
        }
        std.sort.insertion(u32, state.touched[0..state.n_touched], {}, std.sort.asc(u32));
        finalizeTouched(&state, 0.5);
        try f.expectHop(state, want);
    }
}

test "a dense hop of sparse spreading (push unmarked, then finalize all) gives the same bits" {
    var f = smallGraph();
    const initial = [_]f32{ 0.8, 0.25, 1, 0.5, 0 };
    const want = f.denseHop(&initial, 0.3);
    var state = f.load(&initial);
    _ = pushFrontier(&f.out(), &state, 0.3, false);
    try testing.expectEqual(@as(usize, 0), state.n_touched);
    finalizeAll(&state, 0.5, false);
    try f.expectHop(state, want);
}

test "finalize all after a pull hop keeps the positive activations and clears the rest" {
    var f = smallGraph();
    var state = f.load(&[_]f32{ 0.5, 0, 0, 0.25, 0 });
    // As a pull hop leaves it: the new activations, -0.0 included.
    f.dst[0..5].* = .{ 0.5, -0.0, 0.125, 0, 1 };
    finalizeAll(&state, 0.5, true);
    var want: [Fixture.max]f32 = @splat(0);
    want[0..5].* = .{ 0.5, 0, 0.125, 0, 1 };
    try f.expectHop(state, want);
}
