//! Exact dot products of an int8 query with every row of int8 codes: the same i32 as the Rust
//! reference (`src/rust_backend/similarity_i8.rs`). Products of i8 summed in i32 cannot
//! overflow (dim <= `int8_max_dim` in shared.zon), and integer addition is exact in any
//! order, so this may add in whatever order is fastest.
const std = @import("std");
const builtin = @import("builtin");
const contract = @import("contract.zig");
const shared = @import("shared.zig").values;

/// Codes per step of the loop: one cache line.
const step = shared.cache_line;
/// How many rows after the one being read have their lines prefetched, one line per step,
/// when the codes are at least `similarity_prefetch_min_bytes` (as for f32 rows).
const prefetch_rows_ahead = 8;
const prefetch_min_bytes = @import("shared.zig").similarity_prefetch_min_bytes;
const prefetch_read = @import("shared.zig").prefetch_read;

comptime {
    // A product of two i8 fits i16, which the step multiplies in.
    std.debug.assert(128 * 128 <= std.math.maxInt(i16));
    std.debug.assert(step % 2 == 0);
}

/// x86's multiply-add of i16 pairs into i32 (`pmaddwd`), at the widest the level has: 32
/// i16 lanes with AVX-512BW, 16 with AVX2, 8 with SSE2 (every x86-64). LLVM did not form it
/// from the portable code below (it multiplied in i16 and shuffled: 1.6x slower at the
/// baseline, 3.3x at x86-64-v3 and 2.2x at v4, N = 10k, D = 384, in cache, on the AMD Zen 5),
/// so the intrinsics are called by name; only the LLVM backend knows them (Zig's
/// own x86 backend, used for Debug builds, and other architectures take the portable path).
const llvm_x86 = builtin.zig_backend == .stage2_llvm and builtin.cpu.arch == .x86_64;
const madd_lanes: usize = if (!llvm_x86)
    0
else if (std.Target.x86.featureSetHas(builtin.cpu.features, .avx512bw))
    32
else if (std.Target.x86.featureSetHas(builtin.cpu.features, .avx2))
    16
else
    8;
extern fn @"llvm.x86.avx512.pmaddw.d.512"(
    a: @Vector(32, i16),
    b: @Vector(32, i16),
) @Vector(16, i32);
extern fn @"llvm.x86.avx2.pmadd.wd"(a: @Vector(16, i16), b: @Vector(16, i16)) @Vector(8, i32);
extern fn @"llvm.x86.sse2.pmadd.wd"(a: @Vector(8, i16), b: @Vector(8, i16)) @Vector(4, i32);

/// a[2j] * b[2j] + a[2j+1] * b[2j+1] for each j < w / 2: one instruction for w = madd_lanes.
inline fn multiplyAddPairs(
    comptime w: usize,
    a: @Vector(w, i16),
    b: @Vector(w, i16),
) @Vector(w / 2, i32) {
    return switch (w) {
        32 => @"llvm.x86.avx512.pmaddw.d.512"(a, b),
        16 => @"llvm.x86.avx2.pmadd.wd"(a, b),
        8 => @"llvm.x86.sse2.pmadd.wd"(a, b),
        else => portablePairs(w, a, b),
    };
}

/// The same pairs without the intrinsic: products in i16 (they fit), even and odd lanes
/// widened and added.
inline fn portablePairs(
    comptime w: usize,
    a: @Vector(w, i16),
    b: @Vector(w, i16),
) @Vector(w / 2, i32) {
    const products = a * b;
    const even: @Vector(w / 2, i32) = @shuffle(i16, products, undefined, parityMask(w, 0));
    const odd: @Vector(w / 2, i32) = @shuffle(i16, products, undefined, parityMask(w, 1));
    return even + odd;
}

/// The lane indices of the even (0) or odd (1) elements of `w` lanes.
fn parityMask(comptime w: usize, comptime parity: usize) @Vector(w / 2, i32) {
    var mask: [w / 2]i32 = undefined;
    for (&mask, 0..) |*m, i| m.* = @intCast(2 * i + parity);
    return mask;
}

/// Lanes per multiply-add: the intrinsic's, or a whole step on the portable path.
const lanes: usize = if (madd_lanes == 0) step else madd_lanes;

comptime {
    std.debug.assert(step % lanes == 0);
}

/// sum of query[i] * row[i] for i < dim, in i32; prefetches the same span of `ahead` (a later
/// row) as it reads of row, when `prefetching`.
inline fn dotI8(
    query: [*]const i8,
    row: [*]const i8,
    dim: usize,
    ahead: [*]const i8,
    prefetching: bool,
) i32 {
    // One accumulator per multiply-add of a step: independent chains.
    var acc: [step / lanes]@Vector(lanes / 2, i32) = @splat(@splat(0));
    var i: usize = 0;
    while (i + step <= dim) : (i += step) {
        if (prefetching) @prefetch(ahead + i, prefetch_read);
        inline for (&acc, 0..) |*a, c| {
            const at = i + c * lanes;
            const q: @Vector(lanes, i16) = @as(@Vector(lanes, i8), query[at..][0..lanes].*);
            const r: @Vector(lanes, i16) = @as(@Vector(lanes, i8), row[at..][0..lanes].*);
            a.* += multiplyAddPairs(lanes, q, r);
        }
    }
    var sum: i32 = 0;
    inline for (acc) |a| sum += @reduce(.Add, a);
    while (i < dim) : (i += 1) sum += @as(i32, query[i]) * @as(i32, row[i]);
    return sum;
}

/// out[i] = sum over k of query[k] * rows[i * dim + k], exactly, for i < n_rows.
/// Contract: query has `dim` codes, rows has n_rows * dim, out has n_rows and overlaps
/// neither; 0 < dim <= int8_max_dim.
pub fn dotI8Rows(
    query: [*]const i8,
    rows: [*]const i8,
    n_rows: usize,
    dim: usize,
    out: [*]i32,
) callconv(.c) void {
    if (contract.verify) {
        std.debug.assert(dim > 0 and dim <= shared.int8_max_dim);
        contract.disjoint(i32, out, n_rows, i8, query, dim);
        contract.disjoint(i32, out, n_rows, i8, rows, n_rows * dim);
    }
    const prefetching = n_rows *| dim >= prefetch_min_bytes;
    for (0..n_rows) |r| {
        const ahead = rows + @min(r + prefetch_rows_ahead, n_rows - 1) * dim;
        out[r] = dotI8(query, rows + r * dim, dim, ahead, prefetching);
    }
}

const testing = std.testing;

fn oracle(query: []const i8, row: []const i8) i64 {
    var sum: i64 = 0;
    for (query, row) |a, b| sum += @as(i64, a) * @as(i64, b);
    return sum;
}

test "exact on steps and tails, with every value of i8" {
    var query: [389]i8 = undefined;
    var rows: [3 * 389]i8 = undefined;
    for (&query, 0..) |*q, i| q.* = @bitCast(@as(u8, @truncate(i * 7919 + 3)));
    for (&rows, 0..) |*x, i| x.* = @bitCast(@as(u8, @truncate(i * 104729 + 11)));
    for ([_]usize{ 1, 63, 64, 65, 128, 389 }) |dim| {
        const n = rows.len / dim;
        var out: [3 * 389]i32 = undefined;
        dotI8Rows(&query, &rows, n, dim, &out);
        for (0..n) |r| {
            const want = oracle(query[0..dim], rows[r * dim ..][0..dim]);
            try testing.expectEqual(want, @as(i64, out[r]));
        }
    }
}

test "the largest sums do not overflow" {
    const dim = shared.int8_max_dim;
    const query = try testing.allocator.alloc(i8, dim);
    defer testing.allocator.free(query);
    const rows = try testing.allocator.alloc(i8, 2 * dim);
    defer testing.allocator.free(rows);
    @memset(query, -128);
    @memset(rows[0..dim], -128);
    @memset(rows[dim..], 127);
    var out: [2]i32 = undefined;
    dotI8Rows(query.ptr, rows.ptr, 2, dim, &out);
    try testing.expectEqual(@as(i64, 16384) * dim, @as(i64, out[0]));
    try testing.expectEqual(@as(i64, -128 * 127) * dim, @as(i64, out[1]));
}
