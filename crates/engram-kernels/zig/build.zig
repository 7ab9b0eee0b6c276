//! Builds the Zig kernels of engram-kernels as one static library.
//!
//! Normally driven by the crate's build.rs, which passes every option explicitly
//! (-Dtarget, -Dcpu, -Doptimize, -Dstrip). Run by hand: `zig build test -Dcpu=baseline`.
const std = @import("std");

pub fn build(b: *std.Build) void {
    // Without -Dcpu, Zig would build for the host CPU and the library could crash
    // (SIGILL) elsewhere; build.rs always passes it, and a hand run defaults to native
    // only because that is what a developer testing locally wants.
    const target = b.standardTargetOptions(.{});
    const optimize = b.standardOptimizeOption(.{});
    const strip = b.option(bool, "strip", "Omit debug information (default: false)") orelse false;

    const kernels = b.createModule(.{
        .root_source_file = b.path("src/root.zig"),
        .target = target,
        .optimize = optimize,
        // Rust links this archive into PIE executables and cdylibs.
        .pic = true,
        .omit_frame_pointer = true,
        // Stack probes would need __zig_probe_stack, which only a bundled compiler_rt provides.
        .stack_check = false,
        .strip = strip,
    });
    const lib = b.addLibrary(.{
        .linkage = .static,
        .name = "engram_kernels",
        .root_module = kernels,
    });
    // compiler_rt stays out: Rust's compiler_builtins and libc provide the few symbols
    // needed, and a bundled copy would replace memcpy/memset for the whole binary.
    lib.bundle_compiler_rt = false;
    b.installArtifact(lib);

    const tests = b.addTest(.{ .root_module = kernels });
    const run_tests = b.addRunArtifact(tests);
    const test_step = b.step("test", "Run the Zig kernels' unit tests");
    test_step.dependOn(&run_tests.step);
}
