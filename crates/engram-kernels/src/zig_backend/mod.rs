//! The Zig backend: safe wrappers around the statically linked Zig kernels.
//!
//! This folder holds the crate's FFI `unsafe` (the rest, in `rust_backend/` and `lib.rs`, is
//! listed in ARCHITECTURE.md). Each wrapper takes validated types (`EmbeddingsView`, `Csr`)
//! whose invariants bound every pointer the Zig code reads, asserts the few lengths and ids
//! those types cannot (cheap, and unreachable after `Kernels` validated), and makes one call.

pub(crate) mod decay;
pub(crate) mod ffi;
pub(crate) mod quantize_f16;
pub(crate) mod quantize_i8;
pub(crate) mod similarity;
pub(crate) mod similarity_i8;
pub(crate) mod spread;

#[cfg(test)]
use std::cell::RefCell;
use std::sync::OnceLock;

use crate::cpu::Supported;
use crate::{Backend, CpuLevel, Error, ZigBuildInfo};

#[cfg(test)]
thread_local! {
    /// The address of every Zig kernel this thread called, in order (test builds only): lets
    /// a test prove that each `Kernels` method on `Backend::Zig` reaches its own Zig symbol,
    /// at its level, rather than another or the Rust code.
    pub(crate) static KERNEL_CALLS: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) };
}

/// Records, in test builds, a call to the Zig function at `called` (the pointer the wrapper
/// calls next); compiles to nothing otherwise.
#[inline(always)]
fn count_call(called: usize) {
    #[cfg(test)]
    KERNEL_CALLS.with(|calls| calls.borrow_mut().push(called));
    #[cfg(not(test))]
    let _ = called;
}

/// The Zig kernel calls this thread has made (test builds only).
#[cfg(test)]
pub(crate) fn kernel_calls() -> Vec<usize> {
    KERNEL_CALLS.with(|calls| calls.borrow().clone())
}

/// Called by the Zig panic handler (`zig/src/root.zig`) on a failed safety check. Rust
/// validates every input first, so this is a bug in this crate: say so clearly and abort,
/// since unwinding across the FFI boundary is not possible.
#[unsafe(no_mangle)]
extern "C" fn engram_kernels_zig_panic(msg_ptr: *const u8, msg_len: usize) -> ! {
    let message = if msg_ptr.is_null() {
        String::from("(no message)")
    } else {
        // SAFETY: the Zig handler passes `msg.ptr, msg.len` of a live slice.
        String::from_utf8_lossy(unsafe { std::slice::from_raw_parts(msg_ptr, msg_len) })
            .into_owned()
    };
    eprintln!(
        "engram-kernels: a Zig kernel panicked: {message}\n\
         This is a bug in engram-kernels (its Rust side validates every input before calling \
         Zig); please report it. Set ENGRAM_KERNELS=rust to use the Rust backend meanwhile. \
         Aborting."
    );
    std::process::abort()
}

/// The functions of `level`, which this CPU supports (a `Supported`): only then may they be
/// called. `Kernels` only holds a Zig level that was also built, so this cannot fail for a
/// `Kernels` value.
pub(crate) fn fns(level: Supported) -> &'static ffi::LevelFns {
    match ffi::level_fns(level.get()) {
        Some(fns) => fns,
        None => unreachable!("Kernels never holds a Zig level that was not built"),
    }
}

/// Whether the library of `level` was built into this binary (no call into it).
pub(crate) fn is_built(level: CpuLevel) -> bool {
    ffi::level_fns(level).is_some()
}

/// What the library of `level` reports about itself (read once), or `None` if that level was
/// not built into this binary or this CPU cannot run it (its code may use any instruction of
/// the level, even to fill a struct).
pub(crate) fn build_info(level: CpuLevel) -> Option<&'static ZigBuildInfo> {
    static INFO: [OnceLock<ZigBuildInfo>; CpuLevel::ALL.len()] =
        [const { OnceLock::new() }; CpuLevel::ALL.len()];
    if !level.is_supported() {
        return None;
    }
    let fns = ffi::level_fns(level)?;
    let slot = CpuLevel::ALL.iter().position(|l| *l == level)?;
    Some(INFO[slot].get_or_init(|| {
        let mut raw = std::mem::MaybeUninit::<ffi::BuildInfo>::uninit();
        // SAFETY: ek_build_info_<level> writes every field of the struct it is given, and this
        // CPU supports the level (checked above).
        let raw = unsafe {
            (fns.build_info)(raw.as_mut_ptr());
            raw.assume_init()
        };
        // SAFETY: ek_build_info fills the three strings with pointers into the library's
        // constant data (string literals), valid for the whole program.
        let (zig_version, cpu_model, optimize_mode) = unsafe {
            (
                static_str(raw.zig_version_ptr, raw.zig_version_len),
                static_str(raw.cpu_model_ptr, raw.cpu_model_len),
                static_str(raw.optimize_mode_ptr, raw.optimize_mode_len),
            )
        };
        ZigBuildInfo {
            level,
            abi_version: raw.abi_version,
            zig_version,
            cpu_model,
            optimize_mode,
            has_fma: raw.has_fma,
            vector_lanes: raw.vector_lanes,
            target: env!("ENGRAM_ZIG_TARGET"),
            pinned_version: env!("ENGRAM_ZIG_PINNED_VERSION"),
        }
    }))
}

/// Whether the library of `level` speaks this crate's ABI version (read once, with its build
/// info): a library left by a build of another version of this crate is refused, never called
/// with layouts it does not share.
///
/// # Errors
/// [`Error::BackendUnavailable`] naming the mismatch.
pub(crate) fn check_abi(level: CpuLevel) -> Result<(), Error> {
    abi_matches(build_info(level).map(|info| info.abi_version))
}

fn abi_matches(reported: Option<u32>) -> Result<(), Error> {
    match reported {
        Some(version) if version == ffi::ZIG_ABI_VERSION => Ok(()),
        _ => Err(Error::BackendUnavailable {
            backend: Backend::Zig,
            reason: "its library reports another ABI version than this crate's (a stale build: \
                     `cargo clean -p engram-kernels` and build again)",
        }),
    }
}

/// The string at `ptr`, `len` bytes (not UTF-8: a placeholder).
///
/// # Safety
/// `ptr` must point to `len` bytes that stay valid and unchanged for the whole program, as
/// `ek_build_info`'s strings (the library's constant data) do.
unsafe fn static_str(ptr: *const u8, len: usize) -> &'static str {
    // SAFETY: the caller's contract.
    let bytes: &'static [u8] = unsafe { std::slice::from_raw_parts(ptr, len) };
    std::str::from_utf8(bytes).unwrap_or("(not UTF-8)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_library_of_another_abi_version_is_refused() {
        assert!(abi_matches(Some(ffi::ZIG_ABI_VERSION)).is_ok());
        for reported in [
            Some(ffi::ZIG_ABI_VERSION - 1),
            Some(ffi::ZIG_ABI_VERSION + 1),
            None,
        ] {
            let err = abi_matches(reported).expect_err("refused");
            assert!(
                matches!(
                    err,
                    Error::BackendUnavailable {
                        backend: Backend::Zig,
                        ..
                    }
                ),
                "{err:?}"
            );
            assert!(err.to_string().contains("ABI version"), "{err}");
        }
    }

    #[test]
    fn every_linked_level_speaks_our_abi_and_pinned_version() {
        let mut built = 0;
        for level in CpuLevel::supported().filter(|l| is_built(*l)) {
            let info = build_info(level).expect("built and supported");
            built += 1;
            assert_eq!(info.abi_version, ffi::ZIG_ABI_VERSION, "{level}");
            assert_eq!(info.zig_version, info.pinned_version, "{level}");
            let supported = Supported::check(level).expect("supported");
            // SAFETY: a wrapping add, on a level this CPU supports.
            assert_eq!(unsafe { (fns(supported).add_u32)(u32::MAX, 2) }, 1);
        }
        assert!(built >= 1, "no Zig level was linked");
        for level in CpuLevel::supported().filter(|l| is_built(*l)) {
            assert!(check_abi(level).is_ok(), "{level}");
        }
        assert!(
            is_built(CpuLevel::Baseline),
            "the baseline level is always built"
        );
    }
}
