//! Choosing the backend from `ENGRAM_KERNELS`. The only test in its binary, because it sets
//! environment variables (which must not race with other threads).

use engram_kernels::{BACKEND_ENV, Backend, CpuLevel, Error, Kernels, LEVEL_ENV};

#[test]
fn engram_kernels_env_selects_or_rejects() {
    let set = |value: &str| {
        // SAFETY: this is the only test in this binary, so no other thread reads the
        // environment concurrently.
        unsafe { std::env::set_var(BACKEND_ENV, value) };
        Kernels::from_env()
    };
    assert_eq!(set("rust").map(|k| k.backend()), Ok(Backend::Rust));
    assert_eq!(set("RUST").map(|k| k.backend()), Ok(Backend::Rust));
    assert_eq!(
        set("auto").map(|k| k.backend()),
        Ok(Backend::best_compiled())
    );
    assert_eq!(set("").map(|k| k.backend()), Ok(Backend::best_compiled()));
    assert_eq!(
        set("gpu"),
        Err(Error::UnknownBackend {
            value: "gpu".into()
        })
    );
    match set("zig") {
        Ok(k) => assert!(cfg!(feature = "zig-kernels") && k.backend() == Backend::Zig),
        Err(e) => {
            assert!(!cfg!(feature = "zig-kernels") && matches!(e, Error::BackendUnavailable { .. }))
        }
    }
    // SAFETY: as above.
    unsafe { std::env::remove_var(BACKEND_ENV) };

    let level = |value: &str| {
        // SAFETY: as above.
        unsafe { std::env::set_var(LEVEL_ENV, value) };
        Kernels::from_env()
    };
    assert_eq!(level("baseline").map(|k| k.level()), Ok(CpuLevel::Baseline));
    assert_eq!(
        level("auto").map(|k| k.level()),
        Ok(Kernels::best_compiled().level())
    );
    assert_eq!(
        level("avx9000"),
        Err(Error::UnknownCpuLevel {
            value: "avx9000".into()
        })
    );
    for l in CpuLevel::ALL {
        match level(l.name()) {
            Ok(k) => assert!(l.is_supported() && k.level() == l),
            Err(e) => assert!(
                matches!(e, Error::CpuLevelUnavailable { level, .. } if level == l),
                "{e}"
            ),
        }
    }
    // SAFETY: as above.
    unsafe { std::env::remove_var(LEVEL_ENV) };
    assert_eq!(
        Kernels::from_env().map(|k| k.backend()),
        Ok(Backend::best_compiled())
    );
    if cfg!(feature = "zig-kernels") {
        assert_eq!(
            Backend::best_compiled(),
            Backend::Zig,
            "with the feature, Zig is the default"
        );
    }
}
