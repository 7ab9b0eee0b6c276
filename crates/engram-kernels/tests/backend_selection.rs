//! Choosing the backend from `ENGRAM_KERNELS`. The only test in its binary, because it sets
//! environment variables (which must not race with other threads).

use engram_kernels::{BACKEND_ENV, Backend, Error, Kernels};

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
