//! The Zig backend: safe wrappers around the statically linked Zig kernels.
//!
//! This folder holds all of the crate's `unsafe`. Each wrapper takes validated types
//! (`EmbeddingsView`, `Csr`) whose invariants bound every pointer the Zig code reads, asserts
//! the few lengths those types cannot (cheap, and unreachable after `Kernels` validated), and
//! makes one FFI call.

pub(crate) mod decay;
pub(crate) mod ffi;
pub(crate) mod similarity;
pub(crate) mod spread;

#[cfg(test)]
use std::cell::Cell;
use std::sync::OnceLock;

use crate::ZigBuildInfo;

#[cfg(test)]
thread_local! {
    /// FFI kernel calls made by this thread (test builds only): lets a test prove that
    /// `Backend::Zig` really reaches the Zig symbols rather than silently running Rust.
    pub(crate) static KERNEL_CALLS: Cell<u64> = const { Cell::new(0) };
}

/// Counts one FFI kernel call in test builds; compiles to nothing otherwise.
#[inline(always)]
fn count_call() {
    #[cfg(test)]
    KERNEL_CALLS.with(|c| c.set(c.get() + 1));
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

/// What the linked library reports about itself, read once.
pub(crate) fn build_info() -> &'static ZigBuildInfo {
    static INFO: OnceLock<ZigBuildInfo> = OnceLock::new();
    INFO.get_or_init(|| {
        let mut raw = std::mem::MaybeUninit::<ffi::BuildInfo>::uninit();
        // SAFETY: ek_build_info writes every field of the struct it is given.
        let raw = unsafe {
            ffi::ek_build_info(raw.as_mut_ptr());
            raw.assume_init()
        };
        ZigBuildInfo {
            abi_version: raw.abi_version,
            zig_version: static_str(raw.zig_version_ptr, raw.zig_version_len),
            cpu_model: static_str(raw.cpu_model_ptr, raw.cpu_model_len),
            optimize_mode: static_str(raw.optimize_mode_ptr, raw.optimize_mode_len),
            has_fma: raw.has_fma,
            vector_lanes: raw.vector_lanes,
            requested_cpu: env!("ENGRAM_ZIG_REQUESTED_CPU"),
            target: env!("ENGRAM_ZIG_TARGET"),
            pinned_version: env!("ENGRAM_ZIG_PINNED_VERSION"),
        }
    })
}

fn static_str(ptr: *const u8, len: usize) -> &'static str {
    // SAFETY: ek_build_info returns pointers into the library's constant data (string
    // literals), valid for the whole program.
    let bytes: &'static [u8] = unsafe { std::slice::from_raw_parts(ptr, len) };
    std::str::from_utf8(bytes).unwrap_or("(not UTF-8)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linked_library_speaks_our_abi_and_pinned_version() {
        let info = build_info();
        assert_eq!(info.abi_version, ffi::ZIG_ABI_VERSION);
        assert_eq!(info.zig_version, info.pinned_version);
        assert_eq!(ffi::ek_add_u32(u32::MAX, 2), 1);
    }
}
