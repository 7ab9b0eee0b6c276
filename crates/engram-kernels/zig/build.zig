//! Builds the Zig kernels of engram-kernels: one static library per CPU level, with every
//! exported symbol suffixed by the level (`ek_dot_f32_x86_64_v3`), so that all levels link
//! into one binary and the Rust side picks the best the CPU supports at run time.
//!
//! Normally driven by the crate's build.rs, which passes every option explicitly:
//! -Dtarget, -Dlevels, -Doptimize, -Dstrip. By hand: `zig build test -Dlevels=baseline`.
const std = @import("std");
const builtin = @import("builtin");

pub fn build(b: *std.Build) void {
    // -Dtarget gives the architecture, OS and ABI. The CPU of each library is set below from
    // its level and never left to Zig's default (the host CPU), whose code could crash
    // elsewhere.
    const base_query = b.standardTargetOptionsQueryOnly(.{});
    const optimize = b.standardOptimizeOption(.{});
    const strip = b.option(bool, "strip", "Omit debug information (default: false)") orelse false;
    const levels = b.option(
        []const u8,
        "levels",
        "Comma-separated CPU levels (Zig CPU model names, or `baseline`), one library each " ++
            "(default: baseline)",
    ) orelse "baseline";
    const arch = base_query.cpu_arch orelse builtin.cpu.arch;

    const test_step = b.step("test", "Run the Zig kernels' unit tests, once per level in -Dlevels");
    var names = std.mem.tokenizeScalar(u8, levels, ',');
    while (names.next()) |level| {
        var query = base_query;
        query.cpu_features_add = .empty;
        query.cpu_features_sub = .empty;
        query.cpu_model = if (std.mem.eql(u8, level, "baseline"))
            .baseline
        else
            .{ .explicit = arch.parseCpuModel(level) orelse
                std.process.fatal("unknown CPU level '{s}' for {s}", .{ level, @tagName(arch) }) };
        // LLVM's x86-64-v4 model prefers 256-bit vectors, which splits every 512-bit vector
        // in two. Decay ran 1.5-1.8x faster in 512-bit registers (engram-bench --only decay);
        // kernels that are faster at 256 bits (similarity) ask for 8 lanes themselves.
        if (std.mem.eql(u8, level, "x86_64_v4")) {
            query.cpu_features_sub.addFeature(@backingInt(std.Target.x86.Feature.prefer_256_bit));
        }

        const options = b.addOptions();
        options.addOption([]const u8, "level", level);
        const kernels = b.createModule(.{
            .root_source_file = b.path("src/root.zig"),
            .target = b.resolveTargetQuery(query),
            .optimize = optimize,
            // Rust links these archives into PIE executables and cdylibs.
            .pic = true,
            .omit_frame_pointer = true,
            // Stack probes would need __zig_probe_stack, which only a bundled compiler_rt provides.
            .stack_check = false,
            .strip = strip,
        });
        kernels.addOptions("build_options", options);

        const lib = b.addLibrary(.{
            .linkage = .static,
            .name = b.fmt("engram_kernels_{s}", .{level}),
            .root_module = kernels,
        });
        // compiler_rt stays out: Rust's compiler_builtins and libc provide the few symbols
        // needed, and a bundled copy would replace memcpy/memset for the whole binary.
        lib.bundle_compiler_rt = false;
        b.installArtifact(lib);

        const tests = b.addTest(.{ .root_module = kernels, .name = b.fmt("test_{s}", .{level}) });
        test_step.dependOn(&b.addRunArtifact(tests).step);
    }
}
