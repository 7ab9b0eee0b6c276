//! Retention (forgetting curves) of N memories at one instant, computed on read.
//!
//! Same formulas as the Rust reference (`src/rust_backend/decay.rs`), evaluated in
//! f64 and rounded once to f32. The exponential curve uses the same branch-free `2^x`, with
//! the same operations and constants (no FMA), so the backends agree bit for bit. Large
//! outputs are written with non-temporal stores on x86-64 with AVX, as in the Rust backend.
const std = @import("std");
const builtin = @import("builtin");
const contract = @import("contract.zig");

const shared = @import("shared.zig").values;
// The exponential's constants (what each one is, in `shared.zon`): the Rust reference
// (`src/rust_backend/decay.rs`) uses the same ones, so both compute the same bits.
const round_magic: f64 = shared.round_magic;
const min_exponent: f64 = shared.decay_min_exponent;
const exp2_poly: [7]f64 = shared.decay_exp2_poly;

/// 2^x for x <= 0 (x below -300 treated as -300): range reduction by rounding, the
/// polynomial, and 2^n from exponent bits.
inline fn exp2NonPositive(x_in: f64) f64 {
    const x = @max(x_in, min_exponent);
    const shifted = x + round_magic;
    const n = shifted - round_magic;
    const f = x - n;
    var p: f64 = exp2_poly[6];
    inline for (0..6) |i| {
        p = p * f + exp2_poly[5 - i];
    }
    const n_bits = @as(u64, @bitCast(shifted)) -% @as(u64, @bitCast(round_magic));
    const scale: f64 = @bitCast((n_bits +% 1023) << 52);
    return p * scale;
}

/// Age in seconds: max(0, now - last_access), exact before the rounding to f64 (when
/// last_access < now the difference is below 2^64, so it fits a u64).
inline fn ageSeconds(now: i64, last_access: i64) f64 {
    const now_bits: u64 = @bitCast(now);
    const last_bits: u64 = @bitCast(last_access);
    const age: u64 = if (last_access < now) now_bits -% last_bits else 0;
    return @floatFromInt(age);
}

/// The factor of the exponent, -1/half_life, clamped to be finite: a subnormal half-life
/// (reciprocal ∞) then gives -0 at age 0 instead of 0·∞ = NaN, and -∞ at any other age.
inline fn negInvHalfLife(half_life: f64) f64 {
    return @max(-1.0 / half_life, -std.math.floatMax(f64));
}

/// f64 lanes per vector for this CPU level (2 on the baseline, 4 with AVX2, 8 with AVX-512).
const lanes = std.simd.suggestVectorLength(f64) orelse 2;
const VF = @Vector(lanes, f64);
const VI = @Vector(lanes, i64);
const VU = @Vector(lanes, u64);
const VF32 = @Vector(lanes, f32);

/// `exp2NonPositive` on a vector: the same operations, lane by lane, so the same bits.
inline fn exp2NonPositiveV(x_in: VF) VF {
    const x = @max(x_in, @as(VF, @splat(min_exponent)));
    const magic: VF = @splat(round_magic);
    const shifted = x + magic;
    const n = shifted - magic;
    const f = x - n;
    var p: VF = @splat(exp2_poly[6]);
    inline for (0..6) |i| {
        p = p * f + @as(VF, @splat(exp2_poly[5 - i]));
    }
    const n_bits = @as(VU, @bitCast(shifted)) -% @as(VU, @splat(@as(u64, @bitCast(round_magic))));
    const exponent_bits = (n_bits +% @as(VU, @splat(1023))) << @splat(52);
    return p * @as(VF, @bitCast(exponent_bits));
}

/// Elements per prefetch block (a multiple of `lanes` at every level), how far ahead the
/// inputs are prefetched, and from how many elements the output is written with non-temporal
/// stores where the level has AVX (x86-64-v3 and v4): the Rust backend's values, from
/// `shared.zon`, where the measurements are. Streaming needs the LLVM backend (every
/// optimized build): the inline assembly below is AT&T syntax that Zig's own x86-64 backend,
/// used for Debug builds, does not assemble. The bits are the same either way.
const block = shared.decay_block;
const prefetch_ahead = shared.decay_prefetch_ahead;
const stream_min_elements = shared.decay_stream_min_elements;
const cache_line = shared.cache_line;

comptime {
    const assert = std.debug.assert;
    // A block is whole vectors (of f64, and of the f32 outputs: the same lanes).
    assert(block % lanes == 0);
    // prefetchBlock asks for whole cache lines of both inputs.
    assert(block * @sizeOf(f32) % cache_line == 0);
    assert(block * @sizeOf(i64) % cache_line == 0);
    // The prefetch runs whole blocks ahead, and the streamed part is whole blocks.
    assert(prefetch_ahead % block == 0);
    assert(stream_min_elements % block == 0);
}

const prefetch_read = @import("shared.zig").prefetch_read;
const can_stream = builtin.zig_backend == .stage2_llvm and builtin.cpu.arch == .x86_64 and
    std.Target.x86.featureSetHas(builtin.cpu.features, .avx);

/// Asks for the cache lines of the inputs' block starting at `start` (in bounds).
inline fn prefetchBlock(strengths: [*]const f32, last_access: [*]const i64, start: usize) void {
    inline for (0..block * @sizeOf(i64) / cache_line) |k| {
        @prefetch(last_access + start + k * (cache_line / @sizeOf(i64)), prefetch_read);
    }
    inline for (0..block * @sizeOf(f32) / cache_line) |k| {
        @prefetch(strengths + start + k * (cache_line / @sizeOf(f32)), prefetch_read);
    }
}

/// Stores `v` at `dst` with a non-temporal store (`vmovntps`: it neither reads the line
/// first nor keeps it cached). `dst` must be aligned to the vector's size.
inline fn streamStore(dst: [*]f32, v: VF32) void {
    asm volatile ("vmovntps %[v], (%[dst])"
        :
        : [v] "x" (v),
          [dst] "r" (dst),
        : .{ .memory = true });
}

/// Orders the non-temporal stores before any later store (they are weakly ordered).
inline fn storeFence() void {
    asm volatile ("sfence" ::: .{ .memory = true });
}

/// out[from..to] of the exponential curve. Whole vectors use explicit SIMD, so that the loop
/// is vectorized at every level whatever the optimizer makes of the u64 arithmetic and
/// conversion; `streamed` (only with `can_stream`, on a range whose start is aligned to a
/// cache line) writes them with non-temporal stores.
inline fn exponentialRange(
    strengths: [*]const f32,
    last_access: [*]const i64,
    from: usize,
    to: usize,
    now: i64,
    neg_inv_half_life: f64,
    out: [*]f32,
    comptime streamed: bool,
) void {
    var i = from;
    while (i + lanes <= to) : (i += lanes) {
        const last: VI = last_access[i..][0..lanes].*;
        const now_v: VI = @splat(now);
        const diff = @as(VU, @bitCast(now_v)) -% @as(VU, @bitCast(last));
        const age: VF = @floatFromInt(@select(u64, last < now_v, diff, @as(VU, @splat(0))));
        const x = age * @as(VF, @splat(neg_inv_half_life));
        const s32: VF32 = strengths[i..][0..lanes].*;
        const s: VF = @floatCast(s32);
        const r: VF32 = @floatCast(s * exp2NonPositiveV(x));
        if (streamed) streamStore(out + i, r) else out[i..][0..lanes].* = r;
    }
    while (i < to) : (i += 1) {
        const x = ageSeconds(now, last_access[i]) * neg_inv_half_life;
        out[i] = @floatCast(@as(f64, strengths[i]) * exp2NonPositive(x));
    }
}

/// `out` overlaps neither input (the Rust wrappers pass it as a unique borrow).
fn decayContract(strengths: [*]const f32, last_access: [*]const i64, n: usize, out: [*]f32) void {
    contract.disjoint(f32, out, n, f32, strengths, n);
    contract.disjoint(f32, out, n, i64, last_access, n);
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
    contract.positiveFinite(half_life);
    decayContract(strengths, last_access, n, out);
    const neg_inv = negInvHalfLife(half_life);
    const stream = can_stream and n >= stream_min_elements;
    // Streamed blocks start on a cache line of `out`: the elements before it are stored
    // normally (`out` is 4-byte aligned, so the distance is a whole number of elements).
    const to_line = (cache_line - @intFromPtr(out) % cache_line) % cache_line / @sizeOf(f32);
    const head: usize = if (stream) @min(n, to_line) else 0;
    exponentialRange(strengths, last_access, 0, head, now, neg_inv, out, false);
    var start: usize = head;
    while (start < n) : (start += block) {
        const end = @min(n, start + block);
        if (start + prefetch_ahead + block <= n) {
            prefetchBlock(strengths, last_access, start + prefetch_ahead);
        }
        if (stream and end - start == block) {
            exponentialRange(strengths, last_access, start, end, now, neg_inv, out, true);
        } else {
            exponentialRange(strengths, last_access, start, end, now, neg_inv, out, false);
        }
    }
    if (stream) storeFence();
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
    contract.positiveFinite(scale);
    contract.positiveFinite(exponent);
    decayContract(strengths, last_access, n, out);
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
    try testing.expect(worst < 2.0e-9);
    try testing.expectEqual(@as(f64, 1), exp2NonPositive(0));
    try testing.expectEqual(@as(f64, 0.5), exp2NonPositive(-1));
}

test "streamed output has the same bits as unstreamed pieces, at every offset" {
    const n = stream_min_elements + 77;
    const allocator = testing.allocator;
    const strengths = try allocator.alloc(f32, n);
    defer allocator.free(strengths);
    const last = try allocator.alloc(i64, n);
    defer allocator.free(last);
    const want = try allocator.alloc(f32, n);
    defer allocator.free(want);
    const buffer = try allocator.alignedAlloc(f32, .fromByteUnits(cache_line), n + 4);
    defer allocator.free(buffer);
    const now: i64 = 1_790_000_000;
    for (0..n) |i| {
        strengths[i] = @as(f32, @floatFromInt(i % 101)) / 100.0;
        last[i] = now - @as(i64, @intCast((i * 7919) % 5_000_000)) + 50;
    }
    // Pieces below the threshold are never streamed.
    var start: usize = 0;
    while (start < n) : (start += 1000) {
        const len = @min(1000, n - start);
        exponential(strengths[start..].ptr, last[start..].ptr, len, now, 86_400, want[start..].ptr);
    }
    // Offsets 0 to 3 floats past a cache line: heads of 0, 15, 14 and 13 elements.
    for (0..4) |offset| {
        @memset(buffer, std.math.nan(f32));
        const out = buffer[offset..][0..n];
        exponential(strengths.ptr, last.ptr, n, now, 86_400, out.ptr);
        for (want, out) |w, o| {
            try testing.expectEqual(@as(u32, @bitCast(w)), @as(u32, @bitCast(o)));
        }
    }
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
    // The largest age (2^63 + 100 seconds) gives a tiny but finite retention.
    try testing.expect(out[0] >= 0 and out[0] < 1e-15);
    const t2 = [_]i64{0};
    powerLaw(&s, &t2, 1, 100, 100, 1, &out);
    try testing.expectEqual(@as(f32, 0.5), out[0]);
}
