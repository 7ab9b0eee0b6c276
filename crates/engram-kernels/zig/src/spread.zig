//! Spreading activation over a CSR graph (push style, edge order).
//!
//! Same arithmetic, in the same order, as the Rust reference
//! (`src/rust_backend/spread.rs`), so the two backends agree bit for bit.
const std = @import("std");
const spread_pull = @import("spread_pull.zig");
const contract = @import("contract.zig");

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
    contract.csr(offsets, targets, weights, n_nodes);
    denseBuffersContract(n_nodes, initial, out, scratch);
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

/// initial, out and scratch (n_nodes entries each) do not overlap each other.
pub fn denseBuffersContract(
    n_nodes: usize,
    initial: [*]const f32,
    out: [*]f32,
    scratch: [*]f32,
) void {
    contract.disjoint(f32, initial, n_nodes, f32, out, n_nodes);
    contract.disjoint(f32, initial, n_nodes, f32, scratch, n_nodes);
    contract.disjoint(f32, out, n_nodes, f32, scratch, n_nodes);
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
pub fn denseHops(
    hopper: anytype,
    n_nodes: usize,
    initial: [*]const f32,
    hops: u32,
    out: [*]f32,
    scratch: [*]f32,
) SpreadTotals {
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

/// Whether a hop of `spreadSparse` runs over every node: when the frontier (the edges leaving
/// it plus its size) is over a quarter of the nodes. Mirrors `goes_dense` in Rust.
inline fn goesDense(frontier_edges: u64, frontier_nodes: usize, n_nodes: usize) bool {
    return frontier_edges + frontier_nodes > n_nodes / 4;
}

/// Whether a dense hop of `spreadSparse` pulls (given in-edges) rather than pushes: when the
/// edges leaving the frontier are at least half the slots. Mirrors `dense_hop_pulls` in
/// Rust, where the measurement behind it is.
inline fn denseHopPulls(frontier_edges: u64, slots: u64) bool {
    return frontier_edges *| 2 >= slots;
}

/// Sorts node ids (< n_nodes) ascending, using `scratch` (at least as long as `nodes`).
///
/// A least-significant-digit radix sort, 11 bits per pass and only as many passes as the ids
/// have bits (two up to 4M nodes). Its loops have no data-dependent branch; a comparison sort
/// has one per comparison, which random ids mispredict: with std.sort.pdq, perf put 81% of a
/// 10-seed, 3-hop spreading on 100k nodes in the sort; on 1M nodes the call took 0.35 ms,
/// about 0.1 ms now (`examples/spread_cost.rs`). Short lists use insertion sort.
fn sortNodes(nodes: []u32, scratch: [*]u32, n_nodes: usize) void {
    if (nodes.len <= 32) {
        std.sort.insertion(u32, nodes, {}, std.sort.asc(u32));
        return;
    }
    const digit_bits = 11;
    const mask: u32 = (1 << digit_bits) - 1;
    // The largest id; node counts go up to 2^32, so its bits decide the passes.
    const largest: u64 = if (n_nodes == 0) 0 else n_nodes - 1;
    var src = nodes;
    var dst = scratch[0..nodes.len];
    var shift: u6 = 0;
    while (true) {
        const s: u5 = @intCast(shift);
        var starts: [1 << digit_bits]u32 = @splat(0);
        for (src) |v| starts[(v >> s) & mask] += 1;
        var total: u32 = 0;
        for (&starts) |*start| {
            const count = start.*;
            start.* = total;
            total += count;
        }
        for (src) |v| {
            const digit = (v >> s) & mask;
            dst[starts[digit]] = v;
            starts[digit] += 1;
        }
        std.mem.swap([]u32, &src, &dst);
        shift += digit_bits;
        if (shift >= 32 or largest >> shift == 0) break;
    }
    if (src.ptr != nodes.ptr) @memcpy(nodes, src);
}

/// Spreading from `n_seeds` seeds, touching only the frontier; the same result, bit for bit,
/// as `spread` with the seeds as initial activations (firing nodes are visited in ascending
/// order, as the dense pass does). A hop whose frontier is large (`goesDense`) runs over all
/// nodes instead: pull style when `in_edges` is given, else push style; the arithmetic is the
/// same. Writes the nodes with a positive final activation, ascending, to
/// out_nodes/out_activations and their count to totals.active_nodes.
/// Contract: the graph as for `spread`; in_edges null or the same graph's in-edges (contract
/// above `InEdges` in spread_pull.zig); seeds distinct, < n_nodes, activations in [0, 1];
/// current, next (f32) and marked (u8) have n_nodes entries and are all zero on entry (and are
/// left all zero); active, touched, out_nodes and out_activations have room for n_nodes
/// entries; no two buffers overlap.
pub fn spreadSparse(
    offsets: [*]const u64,
    targets: [*]const u32,
    weights: [*]const f32,
    n_nodes: usize,
    in_edges: ?*const spread_pull.InEdges,
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
    contract.csr(offsets, targets, weights, n_nodes);
    if (in_edges) |pull| pull.checkContract(n_nodes);
    if (contract.verify) {
        for (seeds[0..n_seeds]) |seed| {
            std.debug.assert(seed.node < n_nodes);
            std.debug.assert(seed.activation >= 0 and seed.activation <= 1);
        }
    }
    contract.allZero(f32, current, n_nodes);
    contract.allZero(f32, next, n_nodes);
    contract.allZero(u8, marked, n_nodes);
    contract.disjoint(f32, current, n_nodes, f32, next, n_nodes);
    contract.disjoint(f32, current, n_nodes, f32, out_activations, n_nodes);
    contract.disjoint(f32, next, n_nodes, f32, out_activations, n_nodes);
    contract.disjoint(u32, active, n_nodes, u32, touched, n_nodes);
    contract.disjoint(u32, active, n_nodes, u32, out_nodes, n_nodes);
    contract.disjoint(u32, touched, n_nodes, u32, out_nodes, n_nodes);
    defer {
        // The buffers are left as they were found.
        contract.allZero(f32, current, n_nodes);
        contract.allZero(f32, next, n_nodes);
        contract.allZero(u8, marked, n_nodes);
    }
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
    // out_nodes is free until the end: it serves as the sort's scratch.
    sortNodes(active[0..n_active], out_nodes, n_nodes);

    var edges_traversed: u64 = 0;
    var hop: u32 = 0;
    while (hop < hops) : (hop += 1) {
        var frontier_edges: u64 = 0;
        for (active[0..n_active]) |u| frontier_edges += offsets[u + 1] - offsets[u];
        const dense = goesDense(frontier_edges, n_active, n_nodes);
        const pull_edges = if (in_edges) |pull|
            (if (dense and denseHopPulls(frontier_edges, pull.slots(n_nodes))) pull else null)
        else
            null;
        if (pull_edges) |pull| {
            const pull_hop: spread_pull.PullHop = .{
                .edges = pull.*,
                .n_nodes = n_nodes,
                .decay = decay,
                .threshold = threshold,
            };
            // dst is all zero; the pull hop writes every node's next activation into it.
            edges_traversed += pull_hop.hop(src, dst);
            n_active = 0;
            for (0..n_nodes) |v| {
                src[v] = 0;
                // As `finalize`: exactly +0.0 (not -0.0) when not positive.
                if (dst[v] > 0) {
                    active[n_active] = @intCast(v);
                    n_active += 1;
                } else {
                    dst[v] = 0;
                }
            }
            std.mem.swap([*]f32, &src, &dst);
            continue;
        }
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
            sortNodes(touched[0..n_touched], out_nodes, n_nodes);
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
    spreadSparse(
        &offsets,
        &targets,
        &weights,
        4,
        null,
        &seeds,
        1,
        3,
        0.5,
        0,
        &current,
        &next,
        &marked,
        &active,
        &touched,
        &nodes,
        &acts,
        &sparse_totals,
    );
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

/// A 16-node ring with chords, both ways: v -> v+1 (weight w1) and v -> v+5 (weight w5), mod 16.
/// Every node has two in-edges, so the pull layout has no padding: 32 slots, slot (k, lane) of
/// slice s holding node 8s + lane's k-th in-edge, sources ascending (the push order).
const Ring = struct {
    const n = 16;
    offsets: [n + 1]u64,
    targets: [2 * n]u32,
    weights: [2 * n]f32,
    slice_offsets: [n / 8 + 1]u64,
    sources: [2 * n]u32,
    pull_weights: [2 * n]f32,
    out_degrees: [n]u64,

    fn init(w1: f32, w5: f32) Ring {
        var r: Ring = undefined;
        for (0..n) |u| {
            r.offsets[u] = 2 * u;
            r.targets[2 * u] = @intCast((u + 1) % n);
            r.weights[2 * u] = w1;
            r.targets[2 * u + 1] = @intCast((u + 5) % n);
            r.weights[2 * u + 1] = w5;
            r.out_degrees[u] = 2;
        }
        r.offsets[n] = 2 * n;
        for (&r.slice_offsets, 0..) |*o, s| o.* = 16 * s;
        for (0..n) |v| {
            const from1 = (v + n - 1) % n;
            const from5 = (v + n - 5) % n;
            const first = @min(from1, from5);
            const second = @max(from1, from5);
            const base = 16 * (v / 8) + v % 8;
            r.sources[base] = @intCast(first);
            r.pull_weights[base] = if (first == from1) w1 else w5;
            r.sources[base + 8] = @intCast(second);
            r.pull_weights[base + 8] = if (second == from1) w1 else w5;
        }
        return r;
    }

    fn inEdges(r: *const Ring) spread_pull.InEdges {
        return .{
            .slice_offsets = &r.slice_offsets,
            .sources = &r.sources,
            .weights = &r.pull_weights,
            .out_degrees = &r.out_degrees,
        };
    }

    /// Sparse spreading over the ring's out-edges, dense hops pulling over `pull` (if any);
    /// checks the buffers come back zero and returns the dense activations.
    fn sparse(
        r: *const Ring,
        pull: ?*const spread_pull.InEdges,
        seeds: []const Seed,
        hops: u32,
        totals: *SpreadTotals,
    ) ![n]f32 {
        var current: [n]f32 = @splat(0);
        var next: [n]f32 = @splat(0);
        var marked: [n]u8 = @splat(0);
        var active: [n]u32 = undefined;
        var touched: [n]u32 = undefined;
        var nodes: [n]u32 = undefined;
        var acts: [n]f32 = undefined;
        spreadSparse(
            &r.offsets,
            &r.targets,
            &r.weights,
            n,
            pull,
            seeds.ptr,
            seeds.len,
            hops,
            0.5,
            0.1,
            &current,
            &next,
            &marked,
            &active,
            &touched,
            &nodes,
            &acts,
            totals,
        );
        const zeros: [n]f32 = @splat(0);
        const no_marks: [n]u8 = @splat(0);
        try testing.expectEqualSlices(f32, &zeros, &current);
        try testing.expectEqualSlices(f32, &zeros, &next);
        try testing.expectEqualSlices(u8, &no_marks, &marked);
        var out: [n]f32 = @splat(0);
        for (nodes[0..totals.active_nodes], acts[0..totals.active_nodes]) |v, a| out[v] = a;
        return out;
    }

    fn dense(r: *const Ring, initial: *const [n]f32, hops: u32, totals: *SpreadTotals) [n]f32 {
        var out: [n]f32 = undefined;
        var scratch: [n]f32 = undefined;
        spread(
            &r.offsets,
            &r.targets,
            &r.weights,
            n,
            initial,
            hops,
            0.5,
            0.1,
            &out,
            &scratch,
            totals,
        );
        return out;
    }
};

fn expectSameBits(want: [Ring.n]f32, got: [Ring.n]f32) !void {
    for (want, got) |a, b| try testing.expectEqual(@as(u32, @bitCast(a)), @as(u32, @bitCast(b)));
}

test "sparse spreading with in-edges: sparse, push and pull hops, the same bits as dense" {
    const ring = Ring.init(0.75, 0.5);
    const pull = ring.inEdges();
    // One seed: hop 1 is sparse (2 edges + 1 node <= 16 / 4), hops 2 and 3 dense pushes (3
    // and 6 active nodes, 12 edges * 2 < 32 slots), hops 4 and 5 dense pulls (9 and 10).
    const seeds = [_]Seed{.{ .node = 3, .activation = 0.9 }};
    var initial: [Ring.n]f32 = @splat(0);
    initial[3] = 0.9;
    for (0..6) |hops| {
        var want_totals: SpreadTotals = undefined;
        var got_totals: SpreadTotals = undefined;
        const want = ring.dense(&initial, @intCast(hops), &want_totals);
        const got = try ring.sparse(&pull, &seeds, @intCast(hops), &got_totals);
        try expectSameBits(want, got);
        try testing.expectEqual(want_totals, got_totals);
    }
}

test "sparse spreading pulls a large frontier's hop over the in-edges, and only that hop" {
    // In-edges of a different graph (weights doubled) show which hops read them.
    const ring = Ring.init(0.25, 0.125);
    const doubled = Ring.init(0.5, 0.25);
    const other = doubled.inEdges();
    var all: [Ring.n]Seed = undefined;
    var initial: [Ring.n]f32 = undefined;
    for (&all, &initial, 0..) |*s, *a, v| {
        a.* = 0.25 + @as(f32, @floatFromInt(v)) / 32;
        s.* = .{ .node = @intCast(v), .activation = a.* };
    }
    var totals: SpreadTotals = undefined;
    var want_totals: SpreadTotals = undefined;
    // Every node seeded: one dense hop, pulled, so it follows the doubled weights.
    try expectSameBits(
        doubled.dense(&initial, 1, &want_totals),
        try ring.sparse(&other, &all, 1, &totals),
    );
    // One seed: the hop is sparse and follows the out-edges.
    const one = [_]Seed{.{ .node = 0, .activation = 1 }};
    var just_zero: [Ring.n]f32 = @splat(0);
    just_zero[0] = 1;
    try expectSameBits(
        ring.dense(&just_zero, 1, &want_totals),
        try ring.sparse(&other, &one, 1, &totals),
    );
}

test "sortNodes sorts like std.sort, for every pass count and list length" {
    var prng = std.Random.DefaultPrng.init(42);
    const random = prng.random();
    var items: [5000]u32 = undefined;
    var want: [5000]u32 = undefined;
    var scratch: [5000]u32 = undefined;
    // One pass (ids < 2^11), two (< 2^22), three (up to 2^32 - 1), and the edges between.
    const node_counts = [_]u64{ 1, 7, 1 << 11, (1 << 11) + 1, 1 << 22, (1 << 22) + 1, 1 << 32 };
    for (node_counts) |n_nodes| {
        for ([_]usize{ 0, 1, 2, 32, 33, 100, 5000 }) |len| {
            for (items[0..len]) |*v| v.* = @intCast(random.uintLessThan(u64, n_nodes));
            if (len > 0) items[0] = @intCast(n_nodes - 1);
            @memcpy(want[0..len], items[0..len]);
            std.sort.pdq(u32, want[0..len], {}, std.sort.asc(u32));
            sortNodes(items[0..len], &scratch, n_nodes);
            try testing.expectEqualSlices(u32, want[0..len], items[0..len]);
        }
    }
}
