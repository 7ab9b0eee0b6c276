//! f32 embeddings to f16 codes, one power-of-two scale per row: the same codes and scales as
//! the Rust reference (`src/rust_backend/quantize_f16.rs`), with the same operations: max |x|
//! (exact); scale = the largest power of two not above it; code = f16(x * (1 / scale)), the
//! product in f64 (exact: a power of two, no subnormal quotient), narrowed to f32 (exact
//! where f16 can hold the value) and rounded to f16, nearest even.
const std = @import("std");
const contract = @import("contract.zig");
const half = @import("half.zig");
/// The same max as the int8 quantizer's.
const maxAbs = @import("quantize_i8.zig").maxAbs;

/// f32 lanes per step of the max and of the codes.
const lanes = 8;
const V32 = @Vector(lanes, f32);
const V64 = @Vector(lanes, f64);

/// The largest power of two not above `max` (> 0, finite): its mantissa cleared, or, for a
/// subnormal, its highest set bit.
pub fn powerOfTwoFloor(max: f32) f32 {
    const bits: u32 = @bitCast(max);
    std.debug.assert(bits != 0 and bits < 0x7f80_0000);
    if (bits >= 0x0080_0000) return @bitCast(bits & 0x7f80_0000);
    const top: u5 = @intCast(31 - @clz(bits));
    return @bitCast(@as(u32, 1) << top);
}

/// Codes and scale of one row (every value finite).
inline fn quantizeRow(row: [*]const f32, dim: usize, codes: [*]u16) f32 {
    const max = maxAbs(row, dim);
    if (max == 0) {
        @memset(codes[0..dim], 0);
        return 0;
    }
    const scale = powerOfTwoFloor(max);
    const inverse = 1 / @as(f64, scale);
    var i: usize = 0;
    while (i + lanes <= dim) : (i += lanes) {
        const x: V64 = @floatCast(@as(V32, row[i..][0..lanes].*));
        const y: V32 = @floatCast(x * @as(V64, @splat(inverse)));
        codes[i..][0..lanes].* = half.narrow(lanes, y);
    }
    while (i < dim) : (i += 1) {
        codes[i] = half.narrowOne(@floatCast(@as(f64, row[i]) * inverse));
    }
    return scale;
}

/// codes[i * dim ..][0..dim] and scales[i] of rows[i * dim ..][0..dim], for i < n_rows.
/// Contract: rows has n_rows * dim finite values, codes n_rows * dim, scales n_rows; the
/// outputs overlap neither each other nor the rows; dim > 0.
pub fn quantizeF16Rows(
    rows: [*]const f32,
    n_rows: usize,
    dim: usize,
    codes: [*]u16,
    scales: [*]f32,
) callconv(.c) void {
    if (contract.verify) {
        std.debug.assert(dim > 0);
        for (rows[0 .. n_rows * dim]) |x| std.debug.assert(std.math.isFinite(x));
        contract.disjoint(f32, rows, n_rows * dim, u16, codes, n_rows * dim);
        contract.disjoint(f32, rows, n_rows * dim, f32, scales, n_rows);
        contract.disjoint(u16, codes, n_rows * dim, f32, scales, n_rows);
    }
    for (0..n_rows) |r| {
        scales[r] = quantizeRow(rows + r * dim, dim, codes + r * dim);
    }
}

const testing = std.testing;

test "scales are the power of two below the largest magnitude" {
    try testing.expectEqual(@as(f32, 1), powerOfTwoFloor(1.999));
    try testing.expectEqual(@as(f32, 0.25), powerOfTwoFloor(0.3));
    try testing.expectEqual(@as(f32, 0x1p127), powerOfTwoFloor(std.math.floatMax(f32)));
    const subnormal: f32 = @bitCast(@as(u32, 0x5000));
    try testing.expectEqual(@as(u32, 0x4000), @as(u32, @bitCast(powerOfTwoFloor(subnormal))));
    // A row of 6 (the scalar tail only) and one of 11 (a vector step and a tail).
    const rows = [_]f32{ 3, -1.5, 0, 0.75, 1e-9, -3 } ++
        @as([10]f32, @splat(0)) ++ [_]f32{std.math.floatMax(f32)};
    var codes: [17]u16 = undefined;
    var scales: [2]f32 = undefined;
    quantizeF16Rows(&rows, 1, 6, &codes, &scales);
    try testing.expectEqualSlices(u16, &.{ 0x3e00, 0xba00, 0, 0x3600, 0, 0xbe00 }, codes[0..6]);
    try testing.expectEqual(@as(f32, 2), scales[0]);
    quantizeF16Rows(rows[6..].ptr, 1, 11, codes[6..].ptr, scales[1..].ptr);
    try testing.expectEqual(@as(u16, 0x4000), codes[16]);
    try testing.expectEqual(@as(f32, 0x1p127), scales[1]);
}

test "codes times the scale are the f16 rounding of each value; zero rows are zero" {
    var rows: [2 * 37]f32 = undefined;
    for (rows[0..37], 0..) |*x, i| {
        x.* = (@as(f32, @floatFromInt((i * 7919) % 2001)) / 1000 - 1) * 1e-30;
    }
    @memset(rows[37..], 0);
    var codes: [2 * 37]u16 = undefined;
    var scales: [2]f32 = undefined;
    quantizeF16Rows(&rows, 2, 37, &codes, &scales);
    for (rows[0..37], codes[0..37]) |x, c| {
        const expected: f16 = @floatCast(@as(f64, x) / @as(f64, scales[0]));
        try testing.expectEqual(@as(u16, @bitCast(expected)), c);
    }
    try testing.expectEqualSlices(u16, &(@as([37]u16, @splat(0))), codes[37..]);
    try testing.expectEqual(@as(f32, 0), scales[1]);
}
