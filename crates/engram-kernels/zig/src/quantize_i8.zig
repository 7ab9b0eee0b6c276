//! f32 embeddings to int8 codes, one scale per row: the same codes and scales as the Rust
//! reference (`src/rust_backend/quantize_i8.rs`), with the same operations: max |x| (exact),
//! factor = 127 / max in f64, code = (x * factor + round_magic) - round_magic (round half to
//! even, exact for |y| < 2^51), clamped to [-127, 127]; scale = max / 127 in f64, to f32.
const std = @import("std");
const contract = @import("contract.zig");
const shared = @import("shared.zig").values;

const max_code: f64 = 127.0;
const round_magic: f64 = shared.round_magic;
/// f32 lanes per step of the max and of the codes.
const lanes = 8;
const V32 = @Vector(lanes, f32);
const V64 = @Vector(lanes, f64);

/// max |x| over row[0..dim] (every value finite). Four accumulators: one `vmaxps` chain
/// waited for each step's latency (the max is exact in any order, so the result is the same).
pub inline fn maxAbs(row: [*]const f32, dim: usize) f32 {
    var acc: [4]V32 = @splat(@as(V32, @splat(0)));
    var i: usize = 0;
    while (i + 4 * lanes <= dim) : (i += 4 * lanes) {
        inline for (0..4) |k| {
            const x: V32 = row[i + k * lanes ..][0..lanes].*;
            acc[k] = @max(acc[k], @abs(x));
        }
    }
    while (i + lanes <= dim) : (i += lanes) {
        const x: V32 = row[i..][0..lanes].*;
        acc[0] = @max(acc[0], @abs(x));
    }
    var m = @reduce(.Max, @max(@max(acc[0], acc[1]), @max(acc[2], acc[3])));
    while (i < dim) : (i += 1) m = @max(m, @abs(row[i]));
    return m;
}

/// The code of x: x * factor rounded half to even, clamped (scalar and vector alike).
inline fn code(comptime T: type, x: T, factor: T) T {
    const magic: T = if (T == f64) round_magic else @splat(round_magic);
    const lo: T = if (T == f64) -max_code else @splat(-max_code);
    const hi: T = if (T == f64) max_code else @splat(max_code);
    const rounded = (x * factor + magic) - magic;
    return @min(@max(rounded, lo), hi);
}

/// Codes and scale of one row (every value finite).
inline fn quantizeRow(row: [*]const f32, dim: usize, codes: [*]i8) f32 {
    const max = maxAbs(row, dim);
    if (max == 0) {
        @memset(codes[0..dim], 0);
        return 0;
    }
    const factor = max_code / @as(f64, max);
    var i: usize = 0;
    while (i + lanes <= dim) : (i += lanes) {
        const x: V64 = @floatCast(@as(V32, row[i..][0..lanes].*));
        const c = code(V64, x, @splat(factor));
        const c8: @Vector(lanes, i8) = @intFromFloat(c);
        codes[i..][0..lanes].* = c8;
    }
    while (i < dim) : (i += 1) codes[i] = @intFromFloat(code(f64, row[i], factor));
    return @floatCast(@as(f64, max) / max_code);
}

/// codes[i * dim ..][0..dim] and scales[i] of rows[i * dim ..][0..dim], for i < n_rows.
/// Contract: rows has n_rows * dim finite values, codes n_rows * dim, scales n_rows; the
/// outputs overlap neither each other nor the rows; dim > 0.
pub fn quantizeI8Rows(
    rows: [*]const f32,
    n_rows: usize,
    dim: usize,
    codes: [*]i8,
    scales: [*]f32,
) callconv(.c) void {
    if (contract.verify) {
        std.debug.assert(dim > 0);
        for (rows[0 .. n_rows * dim]) |x| std.debug.assert(std.math.isFinite(x));
        contract.disjoint(f32, rows, n_rows * dim, i8, codes, n_rows * dim);
        contract.disjoint(f32, rows, n_rows * dim, f32, scales, n_rows);
        contract.disjoint(i8, codes, n_rows * dim, f32, scales, n_rows);
    }
    for (0..n_rows) |r| {
        scales[r] = quantizeRow(rows + r * dim, dim, codes + r * dim);
    }
}

const testing = std.testing;

test "the largest magnitude becomes 127 and the rest round half to even" {
    const rows = [_]f32{ 2, 1, -1, 0.5, -2, 0, 127, 3, 2.5, 3.5, -2.5, 0 };
    var codes: [12]i8 = undefined;
    var scales: [2]f32 = undefined;
    quantizeI8Rows(&rows, 2, 6, &codes, &scales);
    try testing.expectEqualSlices(i8, &.{ 127, 64, -64, 32, -127, 0 }, codes[0..6]);
    try testing.expectEqualSlices(i8, &.{ 127, 3, 2, 4, -2, 0 }, codes[6..12]);
    try testing.expectEqual(@as(f32, @floatCast(@as(f64, 2) / 127)), scales[0]);
}

test "zero rows, tiny and huge maxima, and a tail past the vector steps" {
    var rows: [3 * 11]f32 = @splat(0);
    rows[11] = std.math.floatTrueMin(f32);
    rows[12] = -std.math.floatTrueMin(f32);
    rows[22] = std.math.floatMax(f32);
    rows[32] = -std.math.floatMax(f32); // in the scalar tail
    var codes: [3 * 11]i8 = undefined;
    var scales: [3]f32 = undefined;
    quantizeI8Rows(&rows, 3, 11, &codes, &scales);
    try testing.expectEqualSlices(i8, &(@as([11]i8, @splat(0))), codes[0..11]);
    try testing.expectEqual(@as(f32, 0), scales[0]);
    try testing.expectEqual(@as(i8, 127), codes[11]);
    try testing.expectEqual(@as(i8, -127), codes[12]);
    try testing.expectEqual(@as(i8, 127), codes[22]);
    try testing.expectEqual(@as(i8, -127), codes[32]);
}
