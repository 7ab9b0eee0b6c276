//! Similarity kernels: dot and cosine of one query against N row-major rows.
//!
//! Semantics are those of the Rust reference (`src/rust_backend/similarity.rs`);
//! only the summation order differs (several vector accumulators), which is why
//! the crate docs state a tolerance that grows with the dimension.
const std = @import("std");
const builtin = @import("builtin");
const contract = @import("contract.zig");
const half = @import("half.zig");

/// f32 lanes per vector for the CPU this library is compiled for (4 for the
/// x86-64 baseline, 8 with AVX2 and AVX-512). Capped at 8: the x86-64-v4 library is
/// built with 512-bit vectors for decay (see build.zig), and 16-lane similarity was
/// 8-35% slower than 8 lanes at N = 1M (`engram-bench --only similarity`).
pub const lanes: u32 = @min(std.simd.suggestVectorLength(f32) orelse 4, 8);
const Vec = @Vector(lanes, f32);
/// Independent accumulator chains, to hide the latency of the add/FMA.
const chains = 4;

/// Whether the target has fused multiply-add. Without it `@mulAdd` would become a
/// libm `fmaf` call per lane (about 40x slower), so we only fuse when it is native.
pub const has_fma: bool = switch (builtin.cpu.arch) {
    .x86_64, .x86 => std.Target.x86.featureSetHas(builtin.cpu.features, .fma),
    .aarch64, .aarch64_be => true,
    else => false,
};

inline fn mulAdd(a: Vec, b: Vec, acc: Vec) Vec {
    return if (has_fma) @mulAdd(Vec, a, b, acc) else a * b + acc;
}

inline fn load(p: [*]const f32, i: usize) Vec {
    return p[i..][0..lanes].*;
}

/// `lanes` values of a row from `i`, as f32: a row is f32, or f16 codes (`u16` bit patterns)
/// widened exactly, so a dot over f16 rows is the f32 dot over the widened rows.
inline fn loadRow(comptime T: type, p: [*]const T, i: usize) Vec {
    return if (T == f32) p[i..][0..lanes].* else half.widen(lanes, p[i..][0..lanes].*);
}

/// Element `i` of a row, as f32.
inline fn rowValue(comptime T: type, p: [*]const T, i: usize) f32 {
    return if (T == f32) p[i] else half.widenOne(p[i]);
}

/// How many rows ahead of the one being read `dotRows` and `cosineRows` prefetch, one cache
/// line for each line they read. One row at a time is one memory stream, which the hardware
/// prefetchers did not keep ahead: at N = 1M, D = 384, Zig read at 67-73% of the bandwidth on
/// the Intel Xeon (AVX-512), 94-99% with this; on the AMD Zen 5, 52-57 ns per row became 44-48
/// (`engram-bench --only similarity`, in BENCHMARKS.md). The Rust backend gets there by
/// reading four rows at once and prefetching the next four.
const prefetch_rows_ahead = 4;
/// Smaller matrices are not prefetched (`similarity_prefetch_min_bytes`).
const prefetch_min_bytes = @import("shared.zig").similarity_prefetch_min_bytes;
const cache_line = @import("shared.zig").values.cache_line;
const prefetch_read = @import("shared.zig").prefetch_read;

/// Whether a loop over rows prefetches the row `prefetch_rows_ahead` after the one it reads.
const Prefetch = enum { none, rows_ahead };

fn prefetchFor(comptime T: type, n_rows: usize, dim: usize) Prefetch {
    return if (n_rows *| dim *| @sizeOf(T) >= prefetch_min_bytes) .rows_ahead else .none;
}

/// The row to prefetch while reading row r < n_rows: `prefetch_rows_ahead` later, or the last.
inline fn rowAhead(
    comptime T: type,
    rows: [*]const T,
    r: usize,
    n_rows: usize,
    dim: usize,
) [*]const T {
    return rows + @min(r + prefetch_rows_ahead, n_rows - 1) * dim;
}

/// Asks for the cache lines of `ahead[i .. i + n]` (n values), if `mode` prefetches.
inline fn prefetchSpan(
    comptime mode: Prefetch,
    comptime T: type,
    ahead: [*]const T,
    i: usize,
    comptime n: usize,
) void {
    if (mode == .none) return;
    inline for (0..(n * @sizeOf(T) + cache_line - 1) / cache_line) |k| {
        @prefetch(ahead + i + k * (cache_line / @sizeOf(T)), prefetch_read);
    }
}

/// Sum of a[i]*b[i] for i < len, with `chains` vector accumulators; prefetches (per `mode`)
/// the same span of `ahead` (a later row) as it reads of b.
inline fn dotProduct(
    comptime mode: Prefetch,
    comptime T: type,
    a: [*]const f32,
    b: [*]const T,
    len: usize,
    ahead: [*]const T,
) f32 {
    var acc: [chains]Vec = @splat(@as(Vec, @splat(0)));
    var i: usize = 0;
    while (i + chains * lanes <= len) : (i += chains * lanes) {
        prefetchSpan(mode, T, ahead, i, chains * lanes);
        inline for (0..chains) |c| {
            acc[c] = mulAdd(load(a, i + c * lanes), loadRow(T, b, i + c * lanes), acc[c]);
        }
    }
    while (i + lanes <= len) : (i += lanes) {
        acc[0] = mulAdd(load(a, i), loadRow(T, b, i), acc[0]);
    }
    var sum = @reduce(.Add, (acc[0] + acc[1]) + (acc[2] + acc[3]));
    while (i < len) : (i += 1) {
        sum += a[i] * rowValue(T, b, i);
    }
    return sum;
}

/// Dot product and squared norm of `row` in one pass over it; prefetches `ahead` as
/// `dotProduct` does.
inline fn dotAndSquaredNorm(
    comptime mode: Prefetch,
    q: [*]const f32,
    row: [*]const f32,
    len: usize,
    ahead: [*]const f32,
) struct { dot: f32, sq: f32 } {
    var dot: [2]Vec = @splat(@as(Vec, @splat(0)));
    var sq: [2]Vec = @splat(@as(Vec, @splat(0)));
    var i: usize = 0;
    while (i + 2 * lanes <= len) : (i += 2 * lanes) {
        prefetchSpan(mode, f32, ahead, i, 2 * lanes);
        inline for (0..2) |c| {
            const r = load(row, i + c * lanes);
            dot[c] = mulAdd(load(q, i + c * lanes), r, dot[c]);
            sq[c] = mulAdd(r, r, sq[c]);
        }
    }
    while (i + lanes <= len) : (i += lanes) {
        const r = load(row, i);
        dot[0] = mulAdd(load(q, i), r, dot[0]);
        sq[0] = mulAdd(r, r, sq[0]);
    }
    var d = @reduce(.Add, dot[0] + dot[1]);
    var s = @reduce(.Add, sq[0] + sq[1]);
    while (i < len) : (i += 1) {
        d += q[i] * row[i];
        s += row[i] * row[i];
    }
    return .{ .dot = d, .sq = s };
}

/// The cosine rule shared with the Rust reference: NaN wins, then a zero norm gives
/// 0, then the ratio (formed in f64, where a product of two f32 norms can neither
/// overflow nor underflow) is clamped to [-1, 1].
pub fn cosineScore(dot: f32, query_norm: f32, row_norm: f32) f32 {
    if (std.math.isNan(dot) or std.math.isNan(query_norm) or std.math.isNan(row_norm)) {
        return std.math.nan(f32);
    }
    if (query_norm == 0 or row_norm == 0) return 0;
    const ratio: f32 = @floatCast(@as(f64, dot) / (@as(f64, query_norm) * @as(f64, row_norm)));
    // Written as comparisons (not @min/@max) so that a NaN ratio (inf/inf) stays NaN.
    if (ratio > 1) return 1;
    if (ratio < -1) return -1;
    return ratio;
}

/// The contract of `dotRows` and `cosineRows`; `out` overlaps no input (the Rust wrappers pass
/// it as a unique borrow).
fn similarityContract(
    query: [*]const f32,
    rows: [*]const f32,
    row_norms: ?[*]const f32,
    n_rows: usize,
    dim: usize,
    out: [*]f32,
) void {
    if (!contract.verify) return;
    std.debug.assert(dim > 0);
    contract.disjoint(f32, out, n_rows, f32, query, dim);
    contract.disjoint(f32, out, n_rows, f32, rows, n_rows * dim);
    if (row_norms) |norms| contract.disjoint(f32, out, n_rows, f32, norms, n_rows);
}

/// out[i] = dot(query, rows[i]) for i < n_rows.
/// Contract: query has `dim` elements, rows has n_rows*dim, out has n_rows; dim > 0.
pub fn dotRows(
    query: [*]const f32,
    rows: [*]const f32,
    n_rows: usize,
    dim: usize,
    out: [*]f32,
) callconv(.c) void {
    similarityContract(query, rows, null, n_rows, dim, out);
    dotRowsOf(f32, query, rows, n_rows, dim, out);
}

/// out[i] = dot(query, rows[i] widened to f32) for i < n_rows, where rows holds f16 codes
/// (binary16 bit patterns): the same bits as `dotRows` over the widened rows.
/// Contract: as `dotRows`, with rows n_rows*dim codes.
pub fn dotF16Rows(
    query: [*]const f32,
    rows: [*]const u16,
    n_rows: usize,
    dim: usize,
    out: [*]f32,
) callconv(.c) void {
    if (contract.verify) {
        std.debug.assert(dim > 0);
        contract.disjoint(f32, out, n_rows, f32, query, dim);
        contract.disjoint(f32, out, n_rows, u16, rows, n_rows * dim);
    }
    dotRowsOf(u16, query, rows, n_rows, dim, out);
}

inline fn dotRowsOf(
    comptime T: type,
    query: [*]const f32,
    rows: [*]const T,
    n_rows: usize,
    dim: usize,
    out: [*]f32,
) void {
    switch (prefetchFor(T, n_rows, dim)) {
        inline else => |mode| for (0..n_rows) |r| {
            const ahead = rowAhead(T, rows, r, n_rows, dim);
            out[r] = dotProduct(mode, T, query, rows + r * dim, dim, ahead);
        },
    }
}

/// out[i] = cosine(query, rows[i]) for i < n_rows, with `query_norm` = ‖query‖ computed
/// by the caller, and `row_norms` either null (computed here, in the same pass as the
/// dot) or n_rows precomputed norms.
/// Contract: as `dotRows`, plus row_norms (when not null) has n_rows elements.
pub fn cosineRows(
    query: [*]const f32,
    query_norm: f32,
    rows: [*]const f32,
    row_norms: ?[*]const f32,
    n_rows: usize,
    dim: usize,
    out: [*]f32,
) callconv(.c) void {
    similarityContract(query, rows, row_norms, n_rows, dim, out);
    switch (prefetchFor(f32, n_rows, dim)) {
        inline else => |mode| if (row_norms) |norms| {
            for (0..n_rows) |r| {
                const ahead = rowAhead(f32, rows, r, n_rows, dim);
                const dot = dotProduct(mode, f32, query, rows + r * dim, dim, ahead);
                out[r] = cosineScore(dot, query_norm, norms[r]);
            }
        } else {
            for (0..n_rows) |r| {
                const ahead = rowAhead(f32, rows, r, n_rows, dim);
                const ds = dotAndSquaredNorm(mode, query, rows + r * dim, dim, ahead);
                out[r] = cosineScore(ds.dot, query_norm, @sqrt(ds.sq));
            }
        },
    }
}

const testing = std.testing;

test "dot covers vector body and scalar tail" {
    var a: [37]f32 = undefined;
    var b: [37]f32 = undefined;
    var expected: f32 = 0;
    for (0..37) |i| {
        a[i] = @floatFromInt(i);
        b[i] = 2;
        expected += a[i] * 2;
    }
    var out: [1]f32 = undefined;
    dotRows(&a, &b, 1, 37, &out);
    try testing.expectEqual(expected, out[0]);
}

test "an f16 dot is the f32 dot of the widened rows, bit for bit" {
    var q: [45]f32 = undefined;
    var codes: [2 * 45]u16 = undefined;
    var widened: [2 * 45]f32 = undefined;
    for (0..45) |i| q[i] = @as(f32, @floatFromInt(i)) * 0.37 - 7;
    for (&codes, &widened, 0..) |*c, *w, i| {
        // Normal, subnormal, zero and negative codes.
        c.* = @intCast((i * 2731) % 0x7c00 | (i % 2) << 15);
        w.* = @as(f16, @bitCast(c.*));
    }
    var a: [2]f32 = undefined;
    var b: [2]f32 = undefined;
    dotF16Rows(&q, &codes, 2, 45, &a);
    dotRows(&q, &widened, 2, 45, &b);
    try testing.expectEqual(@as(u32, @bitCast(b[0])), @as(u32, @bitCast(a[0])));
    try testing.expectEqual(@as(u32, @bitCast(b[1])), @as(u32, @bitCast(a[1])));
}

test "cosine of parallel, opposite, orthogonal and zero rows" {
    const q = [_]f32{ 1, 2, 3 };
    const rows = [_]f32{
        2, 4, 6, // parallel
        -1, -2, -3, // opposite
        3, 0, -1, // orthogonal
        0, 0, 0, // zero norm
    };
    var out: [4]f32 = undefined;
    cosineRows(&q, @sqrt(@as(f32, 14)), &rows, null, 4, 3, &out);
    try testing.expectApproxEqAbs(@as(f32, 1), out[0], 1e-6);
    try testing.expectApproxEqAbs(@as(f32, -1), out[1], 1e-6);
    try testing.expectApproxEqAbs(@as(f32, 0), out[2], 1e-6);
    try testing.expectEqual(@as(f32, 0), out[3]);
}

test "cosine propagates NaN even against a zero query" {
    const q = [_]f32{ 0, 0 };
    const rows = [_]f32{ std.math.nan(f32), 1, 1, 1 };
    var out: [2]f32 = undefined;
    cosineRows(&q, 0, &rows, null, 2, 2, &out);
    try testing.expect(std.math.isNan(out[0]));
    try testing.expectEqual(@as(f32, 0), out[1]);
}

test "precomputed norms give the same answer as on-the-fly norms" {
    const q = [_]f32{ 0.5, -1, 2, 0.25, 3 };
    const rows = [_]f32{ 1, 1, 1, 1, 1, -2, 0.5, 0, 4, 1 };
    const norms = [_]f32{ @sqrt(@as(f32, 5)), @sqrt(@as(f32, 21.25)) };
    var a: [2]f32 = undefined;
    var b: [2]f32 = undefined;
    const qn = @sqrt(@as(f32, 0.25 + 1 + 4 + 0.0625 + 9));
    cosineRows(&q, qn, &rows, &norms, 2, 5, &a);
    cosineRows(&q, qn, &rows, null, 2, 5, &b);
    try testing.expectApproxEqRel(a[0], b[0], 1e-6);
    try testing.expectApproxEqRel(a[1], b[1], 1e-6);
}
