//! IEEE 754 binary16 <-> f32 conversions on `u16` bit patterns, exactly as the Rust side's
//! (`src/f16.rs`): widening is exact; narrowing rounds to nearest even, overflows to infinity
//! and turns a NaN into the quiet NaN 0x7e00 with its sign. Where the CPU converts natively
//! (F16C on x86-64-v3 and up, every aarch64) the conversions are Zig's float casts, which
//! LLVM makes `vcvtph2ps`/`vcvtps2ph` (or `fcvtl`/`fcvtn`); elsewhere the same results come
//! from integer and f32 operations, so that the x86-64 baseline vectorizes instead of calling
//! compiler-rt per value.
const std = @import("std");
const builtin = @import("builtin");

/// Whether this library's CPU converts between f16 and f32 in hardware.
pub const native: bool = switch (builtin.cpu.arch) {
    .x86_64 => std.Target.x86.featureSetHas(builtin.cpu.features, .f16c),
    .aarch64, .aarch64_be => true,
    else => false,
};

/// 2^112 as f32: an f16 magnitude's bits shifted into an f32 are its value times 2^-112.
const widen_factor: f32 = 0x1p112;

/// The f32 values of `n` binary16 bit patterns.
pub inline fn widen(comptime n: usize, bits: @Vector(n, u16)) @Vector(n, f32) {
    if (native) {
        const halves: @Vector(n, f16) = @bitCast(bits);
        return @floatCast(halves);
    }
    return widenPortable(n, bits);
}

/// `widen` without the hardware: the magnitude's bits, shifted into place, are an f32 2^112
/// times too small (subnormal f16 values become subnormal f32 ones, so the product is exact
/// for them too); an all-ones exponent (infinity, NaN) takes the f32's.
pub inline fn widenPortable(comptime n: usize, bits: @Vector(n, u16)) @Vector(n, f32) {
    const U = @Vector(n, u32);
    const wide: U = bits;
    const F = @Vector(n, f32);
    const magnitude = (wide & splat(U, 0x7fff)) << @splat(13);
    const sign = (wide & splat(U, 0x8000)) << @splat(16);
    const finite: U = @bitCast(@as(F, @bitCast(magnitude)) * splat(F, widen_factor));
    const special = magnitude | splat(U, 0x7f80_0000);
    const value = @select(u32, magnitude >= splat(U, 0x7c00 << 13), special, finite);
    return @bitCast(value | sign);
}

/// The f32 value of one binary16 bit pattern.
pub inline fn widenOne(bits: u16) f32 {
    return widen(1, @splat(bits))[0];
}

/// The binary16 bit patterns nearest to `n` f32 values, ties to even.
pub inline fn narrow(comptime n: usize, x: @Vector(n, f32)) @Vector(n, u16) {
    if (native) {
        const halves: @Vector(n, f16) = @floatCast(x);
        const out: @Vector(n, u16) = @bitCast(halves);
        // The hardware keeps a NaN's payload; the Rust side makes every NaN 0x7e00.
        const H = @Vector(n, u16);
        const quiet = (out & splat(H, 0x8000)) | splat(H, 0x7e00);
        return @select(u16, x != x, quiet, out);
    }
    return narrowPortable(n, x);
}

/// `narrow` without the hardware.
pub inline fn narrowPortable(comptime n: usize, x: @Vector(n, f32)) @Vector(n, u16) {
    const U = @Vector(n, u32);
    const F = @Vector(n, f32);
    const bits: U = @bitCast(x);
    const sign: @Vector(n, u16) = @truncate((bits >> @splat(16)) & splat(U, 0x8000));
    const magnitude = bits & splat(U, 0x7fff_ffff);
    // Overflow, infinity and NaN.
    const is_nan = magnitude > splat(U, 0x7f80_0000);
    const special = @select(u32, is_nan, splat(U, 0x7e00), splat(U, 0x7c00));
    // Subnormal results: adding 0.5 puts the value in the mantissa at 2^-24 per unit, rounded
    // to nearest even by the FPU; subtracting 0.5's bits leaves it.
    const half_bits = splat(U, 0x3f00_0000);
    const shifted: U = @bitCast(@as(F, @bitCast(magnitude)) + @as(F, @bitCast(half_bits)));
    const small = shifted -% half_bits;
    // Normal results: rebias the exponent (127 -> 15), round the 13 dropped bits to nearest
    // even; a carry into the exponent is right, up to infinity. (Wrapping: only the lanes
    // this branch is selected for must be exact.)
    const odd = (magnitude >> @splat(13)) & splat(U, 1);
    const rebiased = magnitude -% splat(U, (127 - 15) << 23);
    const normal = (rebiased +% splat(U, 0xfff) +% odd) >> @splat(13);
    const finite = @select(u32, magnitude < splat(U, 0x3880_0000), small, normal);
    const result = @select(u32, magnitude >= splat(U, 0x4780_0000), special, finite);
    const truncated: @Vector(n, u16) = @truncate(result);
    return truncated | sign;
}

/// A vector of `V` with every lane `x`.
inline fn splat(comptime V: type, x: anytype) V {
    return @splat(x);
}

/// The binary16 bit pattern nearest to one f32.
pub inline fn narrowOne(x: f32) u16 {
    return narrow(1, @splat(x))[0];
}

const testing = std.testing;

test "widening is exact for every bit pattern, natively and portably" {
    for (0..1 << 16) |i| {
        const bits: u16 = @intCast(i);
        const expected: f32 = @as(f16, @bitCast(bits));
        for ([_]f32{ widenOne(bits), widenPortable(1, @splat(bits))[0] }) |got| {
            if (std.math.isNan(expected)) {
                try testing.expect(std.math.isNan(got));
            } else {
                try testing.expectEqual(@as(u32, @bitCast(expected)), @as(u32, @bitCast(got)));
            }
        }
    }
}

test "narrowing rounds like a float cast, and every NaN becomes 0x7e00" {
    var bits: u32 = 0;
    while (true) {
        const x: f32 = @bitCast(bits);
        for ([_]u16{ narrowOne(x), narrowPortable(1, @splat(x))[0] }) |got| {
            if (std.math.isNan(x)) {
                try testing.expectEqual(@as(u16, 0x7e00), got & 0x7fff);
            } else {
                const expected: u16 = @bitCast(@as(f16, @floatCast(x)));
                try testing.expectEqual(expected, got);
            }
        }
        bits, const overflow = @addWithOverflow(bits, 4099);
        if (overflow == 1) break;
    }
    try testing.expectEqual(@as(u16, 0x3c00), narrowOne(1.0 + 0x1p-11));
    try testing.expectEqual(@as(u16, 0x7c00), narrowOne(65520.0));
    try testing.expectEqual(@as(u16, 0x7bff), narrowOne(65519.0));
    try testing.expectEqual(@as(u16, 0x0001), narrowOne(0x1p-24));
    try testing.expectEqual(@as(u16, 0x8000), narrowOne(-0x1p-25));
}
