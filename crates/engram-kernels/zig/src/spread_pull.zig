//! Spreading activation, pull style: every node gathers its in-edges from a SELL-8 layout
//! (`PullGraph` in `src/pull_graph.rs`): slices of 8 consecutive nodes, slot (k, lane) of a
//! slice at slice_offsets[s] + 8k + lane, padding = source 0 and weight +0.0.
//!
//! Each lane adds its node's terms in slot order, which is the push pass's order, with no FMA:
//! the same sums, bit for bit, as `spread.zig` and as the Rust reference
//! (`src/rust_backend/spread_pull.rs`). A source that does not fire contributes w * 0 = +-0,
//! which changes no sum that starts at +0.0.
const std = @import("std");
const builtin = @import("builtin");
const spread = @import("spread.zig");
const contract = @import("contract.zig");
const shared = @import("shared.zig").values;
const clampUnit = spread.clampUnit;
const fires = spread.fires;

/// Nodes per slice (`PULL_LANES` on the Rust side): from `shared.zon`.
pub const lanes = shared.pull_lanes;
const V = @Vector(lanes, f32);
const I = @Vector(lanes, i32);

/// AVX2's gather: one instruction loads 8 floats from base + 4 * index. LLVM does not form it
/// from 8 separate loads, so the intrinsic is called by name; only the LLVM backend knows it
/// (Zig's own x86 backend, used for Debug builds, takes the lane-by-lane path).
const has_gather = builtin.zig_backend == .stage2_llvm and builtin.cpu.arch == .x86_64 and
    std.Target.x86.featureSetHas(builtin.cpu.features, .avx2);
extern fn @"llvm.x86.avx2.gather.d.ps.256"(
    passthru: V,
    base: [*]const f32,
    index: I,
    mask: V,
    scale: i8,
) V;

/// The gather's indices are signed 32-bit: graphs with more nodes take the lane-by-lane path.
const gather_max_nodes: usize = shared.pull_gather_max_nodes;

inline fn gatherLanes(src: [*]const f32, index: *const [lanes]u32, n_nodes: usize) V {
    if (has_gather and n_nodes <= gather_max_nodes) {
        const all: V = @bitCast(@as(I, @splat(-1)));
        const signed: I = @bitCast(@as(@Vector(lanes, u32), index.*));
        return @"llvm.x86.avx2.gather.d.ps.256"(@splat(0), src, signed, all, 4);
    }
    var x: V = undefined;
    inline for (0..lanes) |l| x[l] = src[index[l]];
    return x;
}

/// How far ahead of the slice being summed its slots' sources and weights are prefetched, in
/// slots, and the fewest slots of a graph that prefetches: the Rust backend's values, from
/// `shared.zon`, where they are measured. Tests prefetch on every graph, so that the path is
/// tested.
const prefetch_slots_ahead = shared.pull_prefetch_slots_ahead;
const prefetch_min_slots = if (builtin.is_test) 1 else shared.pull_prefetch_min_slots;
/// Slots (u32 sources or f32 weights) per cache line.
const slots_per_line = shared.cache_line / @sizeOf(u32);

comptime {
    const assert = std.debug.assert;
    // Sources (u32) and weights (f32) share one stride: a 64-byte line of either.
    assert(@sizeOf(u32) == @sizeOf(f32));
    assert(slots_per_line * @sizeOf(u32) == shared.cache_line);
    // The prefetch runs whole rows of slots, and whole lines, ahead.
    assert(prefetch_slots_ahead % lanes == 0);
    assert(prefetch_slots_ahead % slots_per_line == 0);
}

const prefetch_read = @import("shared.zig").prefetch_read;

/// The in-edges of a graph of n_nodes nodes in the layout above; layout mirrored by `InEdges`
/// in `ffi.rs`. Contract: slice_offsets has ceil(n_nodes / 8) + 1 non-decreasing entries from
/// 0, each a multiple of 8; sources and weights have slice_offsets[last] entries, every source
/// < n_nodes, weights finite with |w| <= 2^32 (padding: source 0, weight +0.0); out_degrees
/// has n_nodes entries.
pub const InEdges = extern struct {
    slice_offsets: [*]const u64,
    sources: [*]const u32,
    weights: [*]const f32,
    out_degrees: [*]const u64,

    /// Checks the contract above (where `contract.verify`).
    pub fn checkContract(self: InEdges, n_nodes: usize) void {
        if (!contract.verify) return;
        const slices = (n_nodes + lanes - 1) / lanes;
        std.debug.assert(self.slice_offsets[0] == 0);
        for (self.slice_offsets[0..slices], self.slice_offsets[1 .. slices + 1]) |start, end| {
            std.debug.assert(start <= end);
            std.debug.assert(end % lanes == 0);
        }
        const n_slots: usize = @intCast(self.slots(n_nodes));
        for (self.sources[0..n_slots], self.weights[0..n_slots]) |source, w| {
            std.debug.assert(source < n_nodes);
            contract.weight(w);
        }
    }

    /// Slots (edges plus padding) of a graph of n_nodes nodes.
    pub fn slots(self: InEdges, n_nodes: usize) u64 {
        return self.slice_offsets[(n_nodes + lanes - 1) / lanes];
    }
};

/// One dense pull hop: every node gathers its in-edges, the same computation and result as
/// `pushHop` in spread.zig. Returns the out-edges of the nodes that fired. Contract: in_edges
/// as above `InEdges`; src and dst have n_nodes entries and do not overlap.
pub fn pullHop(
    in_edges: *const InEdges,
    n_nodes: usize,
    src: [*]const f32,
    dst: [*]f32,
    attenuation: f32,
    threshold: f32,
) callconv(.c) u64 {
    in_edges.checkContract(n_nodes);
    contract.disjoint(f32, src, n_nodes, f32, dst, n_nodes);
    const g = in_edges.*;
    const n_slots: usize = @intCast(g.slots(n_nodes));
    const prefetching = n_slots >= prefetch_min_slots;
    var edges: u64 = 0;
    for (0..(n_nodes + lanes - 1) / lanes) |s| {
        const start: usize = @intCast(g.slice_offsets[s]);
        const end: usize = @intCast(g.slice_offsets[s + 1]);
        if (prefetching) prefetchAhead(g, start, end, n_slots);
        const sums = sliceSums(g, start, end, src, n_nodes, threshold);
        const base = s * lanes;
        if (base + lanes <= n_nodes) {
            const degrees = g.out_degrees + base;
            edges += finishSlice(degrees, src + base, dst + base, sums, attenuation, threshold);
        } else {
            const tail: [lanes]f32 = sums;
            for (base..n_nodes, 0..) |v, l| {
                const prev = src[v];
                dst[v] = clampUnit(prev + attenuation * tail[l]);
                if (fires(prev, threshold)) edges += g.out_degrees[v];
            }
        }
    }
    return edges;
}

/// Prefetches the sources and weights `prefetch_slots_ahead` slots after the slice in slots
/// [start, end), up to the last slot.
inline fn prefetchAhead(g: InEdges, start: usize, end: usize, n_slots: usize) void {
    var ahead = start + prefetch_slots_ahead;
    const prefetch_end = @min(end + prefetch_slots_ahead, n_slots);
    while (ahead < prefetch_end) : (ahead += slots_per_line) {
        @prefetch(g.sources + ahead, prefetch_read);
        @prefetch(g.weights + ahead, prefetch_read);
    }
}

/// Each lane's sum, in slot order, of w * x over the slice's slots [start, end), where x is
/// the source's activation if it fires (x >= threshold) and 0 if not.
inline fn sliceSums(
    g: InEdges,
    start: usize,
    end: usize,
    src: [*]const f32,
    n_nodes: usize,
    threshold: f32,
) V {
    const zero: V = @splat(0);
    const theta: V = @splat(threshold);
    var acc: V = zero;
    var k = start;
    while (k < end) : (k += lanes) {
        const x = gatherLanes(src, g.sources[k..][0..lanes], n_nodes);
        const w: V = g.weights[k..][0..lanes].*;
        acc += w * @select(f32, x >= theta, x, zero);
    }
    return acc;
}

/// Writes a full slice's eight next activations from their previous ones and sums; returns
/// the out-degrees of those that fired.
inline fn finishSlice(
    degrees: [*]const u64,
    prev_ptr: [*]const f32,
    next_ptr: [*]f32,
    sums: V,
    attenuation: f32,
    threshold: f32,
) u64 {
    const zero: V = @splat(0);
    const one: V = @splat(1);
    const prev: V = prev_ptr[0..lanes].*;
    var next = prev + @as(V, @splat(attenuation)) * sums;
    // clamp to [0, 1] exactly as clampUnit does, lane by lane.
    next = @select(f32, next > one, one, next);
    next = @select(f32, next < zero, zero, next);
    next_ptr[0..lanes].* = next;
    // Which nodes fire (as `fires`), as one mask: no branch per lane.
    const fire_mask = @select(
        bool,
        prev > zero,
        prev >= @as(V, @splat(threshold)),
        @as(@Vector(lanes, bool), @splat(false)),
    );
    // Not a @select over the loaded degrees: at x86-64-v4 LLVM makes that a masked 512-bit
    // load (vmovdqu64 {k}{z}), and the whole hop ran 2.1x slower on Zen 5 (419 against 889 M
    // edges/s at 1M nodes / 10M edges, in `engram-bench --only spread`). One branch per slice
    // and a loop over the fired lanes measured the same as the select at x86-64-v3 with half
    // of the nodes firing at random.
    const fired: u8 = @bitCast(fire_mask);
    if (fired == std.math.maxInt(u8)) {
        const all: @Vector(lanes, u64) = degrees[0..lanes].*;
        return @reduce(.Add, all);
    }
    var edges: u64 = 0;
    var bits = fired;
    while (bits != 0) : (bits &= bits - 1) edges += degrees[@ctz(bits)];
    return edges;
}

const testing = std.testing;

test "pull equals push bit for bit on a graph that is not a multiple of 8 nodes" {
    // Push CSR of 10 nodes: 0 -> 9 (1e3), 0 -> 1 (0.25), 0 -> 9 (-1e-3), 8 -> 9 (0.5), 9 -> 9 (-1).
    const offsets = [_]u64{ 0, 3, 3, 3, 3, 3, 3, 3, 3, 4, 5 };
    const targets = [_]u32{ 9, 1, 9, 9, 9 };
    const weights = [_]f32{ 1e3, 0.25, -1e-3, 0.5, -1 };
    // The same graph, pulled: slice 0 (nodes 0..8) is 1 wide (node 1), slice 1 is 4 wide (node 9).
    const slice_offsets = [_]u64{ 0, 8, 40 };
    var sources: [40]u32 = @splat(0);
    var pweights: [40]f32 = @splat(0);
    sources[1] = 0;
    pweights[1] = 0.25;
    for ([_]u32{ 0, 0, 8, 9 }, [_]f32{ 1e3, -1e-3, 0.5, -1 }, 0..) |u, w, k| {
        sources[8 + 8 * k + 1] = u;
        pweights[8 + 8 * k + 1] = w;
    }
    const out_degrees = [_]u64{ 3, 0, 0, 0, 0, 0, 0, 0, 1, 1 };
    const in_edges: InEdges = .{
        .slice_offsets = &slice_offsets,
        .sources = &sources,
        .weights = &pweights,
        .out_degrees = &out_degrees,
    };
    const initial = [_]f32{ 0.75, 0, 0.5, 0, 0, 0, 0, 0, 0.25, 0.125 };
    const out_edges: spread.OutEdges = .{
        .offsets = &offsets,
        .targets = &targets,
        .weights = &weights,
    };
    for ([_]f32{ 0, 0.2 }) |threshold| {
        try expectPullEqualsPush(10, &out_edges, &in_edges, &initial, threshold);
    }
}

/// Three hops from `initial`, pushed over `out_edges` and pulled over `in_edges` (the same
/// graph): the same bits and edge counts at every hop.
fn expectPullEqualsPush(
    comptime n: usize,
    out_edges: *const spread.OutEdges,
    in_edges: *const InEdges,
    initial: *const [n]f32,
    threshold: f32,
) !void {
    var pushed: [2][n]f32 = undefined;
    var pulled: [2][n]f32 = undefined;
    pushed[0] = initial.*;
    pulled[0] = initial.*;
    for (0..3) |hop| {
        const from = hop % 2;
        const to = 1 - from;
        const push_edges = spread.pushHop(out_edges, n, &pushed[from], &pushed[to], 0.5, threshold);
        const pull_edges = pullHop(in_edges, n, &pulled[from], &pulled[to], 0.5, threshold);
        try testing.expectEqual(push_edges, pull_edges);
        for (pushed[to], pulled[to]) |a, b| {
            try testing.expectEqual(@as(u32, @bitCast(a)), @as(u32, @bitCast(b)));
        }
    }
}

test "pull equals push bit for bit on a graph large enough to prefetch" {
    // 2048 nodes, one in-edge each: v pulls from u = (7v + 3) mod n (a bijection, so each u
    // has one out-edge too). 2048 slots > prefetch_slots_ahead: the first slices prefetch.
    const n = 2048;
    comptime std.debug.assert(n > prefetch_slots_ahead + lanes);
    var slice_offsets: [n / lanes + 1]u64 = undefined;
    for (&slice_offsets, 0..) |*o, s| o.* = s * lanes;
    var sources: [n]u32 = undefined;
    var pweights: [n]f32 = undefined;
    var offsets: [n + 1]u64 = undefined;
    var targets: [n]u32 = undefined;
    var weights: [n]f32 = undefined;
    for (0..n) |v| {
        const u = (7 * v + 3) % n;
        const w = @as(f32, @floatFromInt(v % 9)) / 8.0 - 0.5;
        // One node per lane and one slot row per slice: node v's slot is v.
        sources[v] = @intCast(u);
        pweights[v] = w;
        targets[u] = @intCast(v);
        weights[u] = w;
    }
    for (&offsets, 0..) |*o, u| o.* = u;
    const out_degrees: [n]u64 = @splat(1);
    const in_edges: InEdges = .{
        .slice_offsets = &slice_offsets,
        .sources = &sources,
        .weights = &pweights,
        .out_degrees = &out_degrees,
    };
    var initial: [n]f32 = undefined;
    for (&initial, 0..) |*a, v| a.* = @as(f32, @floatFromInt(v % 5)) / 4.0;
    const out_edges: spread.OutEdges = .{
        .offsets = &offsets,
        .targets = &targets,
        .weights = &weights,
    };
    try expectPullEqualsPush(n, &out_edges, &in_edges, &initial, 0.2);
}
