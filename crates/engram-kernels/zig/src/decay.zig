//! Retention (forgetting curves) of N memories at one instant, computed on read.
//!
//! Same formulas as the Rust reference (`src/rust_backend/decay.rs`), evaluated in
//! f64 and rounded once to f32. The exponential curve uses the same branch-free `2^x`, with
//! the same operations and constants (no FMA), so the backends agree bit for bit.
const std = @import("std");

/// 1.5 · 2^52: `x + round_magic - round_magic` rounds |x| < 2^51 to the nearest integer.
const round_magic: f64 = 6755399441055744.0;
/// Below this, s · 2^x rounds to 0 in f32 for every finite f32 s.
const min_exponent: f64 = -300.0;
/// ln(2)^k / k!, k = 0..=7: 2^f within 7.1e-9 relative on |f| <= 1/2.
const exp2_taylor = [8]f64{
    1.0,
    0.6931471805599453,
    0.24022650695910072,
    0.05550410866482158,
    0.009618129107628477,
    0.0013333558146428443,
    0.0001540353039338161,
    1.5252733804059841e-05,
};

/// 2^x for x <= 0 (x below -300 treated as -300): range reduction by rounding, the Taylor
/// polynomial, and 2^n from exponent bits.
inline fn exp2NonPositive(x_in: f64) f64 {
    const x = @max(x_in, min_exponent);
    const shifted = x + round_magic;
    const n = shifted - round_magic;
    const f = x - n;
    var p: f64 = exp2_taylor[7];
    inline for (0..7) |i| {
        p = p * f + exp2_taylor[6 - i];
    }
    const n_bits = @as(u64, @bitCast(shifted)) -% @as(u64, @bitCast(round_magic));
    const scale: f64 = @bitCast((n_bits +% 1023) << 52);
    return p * scale;
}

/// Age in seconds: max(0, now - last_access), saturating instead of overflowing.
inline fn ageSeconds(now: i64, last_access: i64) f64 {
    return @floatFromInt(@max(0, now -| last_access));
}

/// f64 lanes per vector for this CPU level (2 on the baseline, 4 with AVX2, 8 with AVX-512).
const lanes = std.simd.suggestVectorLength(f64) orelse 2;
const VF = @Vector(lanes, f64);
const VI = @Vector(lanes, i64);
const VU = @Vector(lanes, u64);

/// `exp2NonPositive` on a vector: the same operations, lane by lane, so the same bits.
inline fn exp2NonPositiveV(x_in: VF) VF {
    const x = @max(x_in, @as(VF, @splat(min_exponent)));
    const magic: VF = @splat(round_magic);
    const shifted = x + magic;
    const n = shifted - magic;
    const f = x - n;
    var p: VF = @splat(exp2_taylor[7]);
    inline for (0..7) |i| {
        p = p * f + @as(VF, @splat(exp2_taylor[6 - i]));
    }
    const n_bits = @as(VU, @bitCast(shifted)) -% @as(VU, @splat(@as(u64, @bitCast(round_magic))));
    const exponent_bits = (n_bits +% @as(VU, @splat(1023))) << @splat(52);
    return p * @as(VF, @bitCast(exponent_bits));
}

/// Elements per prefetch block, a multiple of `lanes` at every level.
const block = 64;
/// How far ahead the inputs are prefetched, in elements: the same distance as the Rust
/// backend (`src/rust_backend/decay.rs`), where it is measured.
const prefetch_ahead = 512;
const cache_line = 64;

/// Asks for the cache lines of the inputs' block starting at `start` (in bounds).
inline fn prefetchBlock(strengths: [*]const f32, last_access: [*]const i64, start: usize) void {
    inline for (0..block * @sizeOf(i64) / cache_line) |k| {
        @prefetch(last_access + start + k * (cache_line / @sizeOf(i64)), .{});
    }
    inline for (0..block * @sizeOf(f32) / cache_line) |k| {
        @prefetch(strengths + start + k * (cache_line / @sizeOf(f32)), .{});
    }
}

/// out[i] = strengths[i] * 2^(-age_i / half_life).
/// Contract: strengths, last_access and out have n entries; half_life finite and > 0.
pub fn exponential(
    strengths: [*]const f32,
    last_access: [*]const i64,
    n: usize,
    now: i64,
    half_life: f64,
    out: [*]f32,
) callconv(.c) void {
    const neg_inv_half_life = -1.0 / half_life;
    var i: usize = 0;
    // Whole vectors: explicit SIMD, so that the loop is vectorized at every level whatever
    // the optimizer makes of the saturating i64 arithmetic and the i64 -> f64 conversion.
    while (i + lanes <= n) : (i += lanes) {
        if (i % block == 0 and i + prefetch_ahead + block <= n) prefetchBlock(strengths, last_access, i + prefetch_ahead);
        const last: VI = last_access[i..][0..lanes].*;
        const age_int = @max(@as(VI, @splat(now)) -| last, @as(VI, @splat(0)));
        const age: VF = @floatFromInt(age_int);
        const zero: VF = @splat(0);
        // Exactly 0 at age 0, so a subnormal half-life (reciprocal ∞) cannot give 0·∞ = NaN.
        const x = @select(f64, age == zero, zero, age * @as(VF, @splat(neg_inv_half_life)));
        const s32: @Vector(lanes, f32) = strengths[i..][0..lanes].*;
        const s: VF = @floatCast(s32);
        const r: @Vector(lanes, f32) = @floatCast(s * exp2NonPositiveV(x));
        out[i..][0..lanes].* = r;
    }
    while (i < n) : (i += 1) {
        const age = ageSeconds(now, last_access[i]);
        const x = if (age == 0) 0 else age * neg_inv_half_life;
        out[i] = @floatCast(@as(f64, strengths[i]) * exp2NonPositive(x));
    }
}

/// out[i] = strengths[i] * (1 + age_i / scale)^(-exponent).
/// Contract: as `exponential`; scale and exponent finite and > 0.
pub fn powerLaw(
    strengths: [*]const f32,
    last_access: [*]const i64,
    n: usize,
    now: i64,
    scale: f64,
    exponent: f64,
    out: [*]f32,
) callconv(.c) void {
    for (0..n) |i| {
        const age = ageSeconds(now, last_access[i]);
        out[i] = @floatCast(@as(f64, strengths[i]) * std.math.pow(f64, 1 + age / scale, -exponent));
    }
}

const testing = std.testing;

test "the vector loop gives the same bits as the scalar tail" {
    var strengths: [67]f32 = undefined;
    var last: [67]i64 = undefined;
    for (0..67) |i| {
        strengths[i] = @as(f32, @floatFromInt(i % 13)) / 13.0;
        last[i] = if (i % 7 == 0) std.math.minInt(i64) else @as(i64, @intCast(i * 977)) - 5000;
    }
    var all: [67]f32 = undefined;
    exponential(&strengths, &last, 67, 40_000, 3600.5, &all);
    for (0..67) |i| {
        var one: [1]f32 = undefined;
        exponential(strengths[i..].ptr, last[i..].ptr, 1, 40_000, 3600.5, &one);
        try testing.expectEqual(@as(u32, @bitCast(one[0])), @as(u32, @bitCast(all[i])));
    }
}

test "exp2 matches std within its stated error" {
    var worst: f64 = 0;
    var i: usize = 0;
    while (i <= 100_000) : (i += 1) {
        const x = -250.0 * @as(f64, @floatFromInt(i)) / 100_000.0;
        const want = std.math.exp2(x);
        worst = @max(worst, @abs(exp2NonPositive(x) - want) / want);
    }
    try testing.expect(worst < 7.1e-9);
    try testing.expectEqual(@as(f64, 1), exp2NonPositive(0));
    try testing.expectEqual(@as(f64, 0.5), exp2NonPositive(-1));
}

test "one half-life halves, the future does not grow" {
    const s = [_]f32{ 0.8, 0.8, 0.8 };
    const t = [_]i64{ 0, -3600, 7200 };
    var out: [3]f32 = undefined;
    exponential(&s, &t, 3, 0, 3600, &out);
    try testing.expectEqual(@as(f32, 0.8), out[0]);
    try testing.expectEqual(@as(f32, 0.4), out[1]);
    try testing.expectEqual(@as(f32, 0.8), out[2]);
}

test "power law at age = scale with exponent 1 halves" {
    const s = [_]f32{1};
    const t = [_]i64{std.math.minInt(i64)};
    var out: [1]f32 = undefined;
    powerLaw(&s, &t, 1, 100, 100, 1, &out);
    // Saturated age (i64 max seconds) gives a tiny but finite retention.
    try testing.expect(out[0] >= 0 and out[0] < 1e-15);
    const t2 = [_]i64{0};
    powerLaw(&s, &t2, 1, 100, 100, 1, &out);
    try testing.expectEqual(@as(f32, 0.5), out[0]);
}
