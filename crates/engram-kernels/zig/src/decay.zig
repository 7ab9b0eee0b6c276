//! Retention (forgetting curves) of N memories at one instant, computed on read.
//!
//! Same formulas as the Rust reference (`src/rust_backend/decay.rs`), evaluated in
//! f64 and rounded once to f32.
const std = @import("std");

/// Age in seconds: max(0, now - last_access), saturating instead of overflowing.
inline fn ageSeconds(now: i64, last_access: i64) f64 {
    return @floatFromInt(@max(0, now -| last_access));
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
    for (0..n) |i| {
        const age = ageSeconds(now, last_access[i]);
        out[i] = @floatCast(@as(f64, strengths[i]) * std.math.exp2(-age / half_life));
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
