//! What the linked Zig libraries say about how they were built: the pinned Zig, one library
//! per CPU level with that level's CPU model (never the build machine's), and the runtime
//! choice of the best level this CPU supports.

use engram_kernels::{Backend, CpuLevel, Kernels, zig_add_u32, zig_build_info, zig_levels_built};

#[test]
#[cfg_attr(not(feature = "zig-kernels"), ignore = "needs the zig-kernels feature")]
fn every_level_was_built_by_the_pinned_zig_for_its_own_cpu_model() {
    let zon = include_str!("../zig/build.zig.zon");
    let built = zig_levels_built();
    assert!(
        built.contains(&CpuLevel::Baseline),
        "the baseline level is always built"
    );
    if cfg!(target_arch = "x86_64") && std::env::var_os("ENGRAM_ZIG_LEVELS").is_none() {
        assert_eq!(built, CpuLevel::ALL, "x86-64 builds every level by default");
    }
    for level in built {
        let Some(info) = zig_build_info(level) else {
            assert!(
                !level.is_supported(),
                "{level} is built and supported but has no info"
            );
            eprintln!("note: not inspecting {level}: this CPU cannot run it");
            continue;
        };
        assert!(zon.contains(&format!(".minimum_zig_version = \"{}\"", info.zig_version)));
        assert_eq!(info.zig_version, info.pinned_version);
        assert_eq!(info.level, level);
        let (arch, os) = (std::env::consts::ARCH, std::env::consts::OS);
        let expected_model = match (arch, os, level) {
            ("x86_64", _, CpuLevel::Baseline) => Some("x86_64"),
            (_, _, CpuLevel::X86_64V3) => Some("x86_64_v3"),
            (_, _, CpuLevel::X86_64V4) => Some("x86_64_v4"),
            // Zig's baseline model there (`std.Target.Cpu.Model.baseline`).
            ("aarch64", "linux", CpuLevel::Baseline) => Some("generic"),
            _ => None,
        };
        match expected_model {
            Some(model) => assert_eq!(info.cpu_model, model, "{level} was built for the wrong CPU"),
            None => eprintln!(
                "note: no known baseline CPU model for {arch}-{os}; {level}'s ({}) not checked",
                info.cpu_model
            ),
        }
        assert!(
            info.target.starts_with(std::env::consts::ARCH),
            "{}",
            info.target
        );
        // FMA only where the level has it, so the baseline never calls fmaf per lane.
        assert_eq!(
            info.has_fma,
            level != CpuLevel::Baseline || std::env::consts::ARCH == "aarch64"
        );
    }
}

#[test]
#[cfg_attr(not(feature = "zig-kernels"), ignore = "needs the zig-kernels feature")]
fn zig_is_the_default_at_the_best_supported_level() {
    assert_eq!(Backend::best_compiled(), Backend::Zig);
    let best = Kernels::best_compiled();
    let expected = CpuLevel::supported()
        .filter(|l| zig_levels_built().contains(l))
        .last();
    assert_eq!(Some(best.level()), expected);
    let description = best.describe();
    assert!(
        description.starts_with(&format!("zig {} (Zig 0.17.1", best.level())),
        "{description}"
    );
    assert_eq!(zig_add_u32(u32::MAX, 3), Some(2));
}

#[test]
fn unsupported_levels_are_refused_not_downgraded() {
    for backend in Backend::compiled() {
        for level in CpuLevel::ALL {
            match Kernels::with_level(backend, level) {
                Ok(k) => {
                    assert!(level.is_supported() && k.level() == level && k.backend() == backend)
                }
                Err(e) => assert!(
                    !level.is_supported()
                        || (backend == Backend::Zig && !zig_levels_built().contains(&level)),
                    "{backend} {level} refused: {e}"
                ),
            }
        }
    }
}

#[test]
#[cfg_attr(
    feature = "zig-kernels",
    ignore = "only meaningful without the zig-kernels feature"
)]
fn without_the_feature_there_is_no_zig() {
    assert!(zig_levels_built().is_empty());
    assert!(CpuLevel::ALL.iter().all(|l| zig_build_info(*l).is_none()));
    assert_eq!(zig_add_u32(1, 2), None);
    assert_eq!(Backend::best_compiled(), Backend::Rust);
    assert!(Kernels::best_compiled().describe().starts_with("rust "));
}
