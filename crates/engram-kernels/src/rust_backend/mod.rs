//! The pure-Rust backend: the reference every other backend is tested against. Safe code,
//! apart from calls into its `#[target_feature]` functions, [`prefetch`], the streaming
//! stores of decay, the AVX2 gather of the pull pass, the int8 loops' loads and the F16C
//! conversion of f16 codes, each with its invariant; it relies on
//! the validation done in `kernels.rs` for lengths, never for memory safety.

/// Compiles the functions it wraps for x86-64-v3: the psABI level's feature list, written once
/// here (`cpu.rs` detects the same features). Such a function may be called only with a
/// `Supported` of that level or higher in hand.
#[cfg(target_arch = "x86_64")]
macro_rules! at_x86_64_v3 {
    ($($function:item)*) => {
        $( #[target_feature(enable = "avx2,fma,bmi1,bmi2,lzcnt,movbe,f16c")] $function )*
    };
}

/// As `at_x86_64_v3`, for x86-64-v4 (v3 and AVX-512 F/BW/CD/DQ/VL).
#[cfg(target_arch = "x86_64")]
macro_rules! at_x86_64_v4 {
    ($($function:item)*) => {
        $(
            #[target_feature(enable = "avx2,fma,bmi1,bmi2,lzcnt,movbe,f16c,\
                                       avx512f,avx512bw,avx512cd,avx512dq,avx512vl")]
            $function
        )*
    };
}

pub(crate) mod decay;
pub(crate) mod quantize_f16;
pub(crate) mod quantize_i8;
pub(crate) mod similarity;
pub(crate) mod similarity_i8;
pub(crate) mod spread;
pub(crate) mod spread_pull;

/// Bytes per cache line on x86-64 and most aarch64 cores (`zig/src/shared.zon`): the stride
/// of the prefetches. (Where lines are 128 bytes, each line is asked for twice, which is
/// harmless.)
pub(crate) use crate::shared::CACHE_LINE;

/// Asks the CPU to bring the cache line holding `x` into the caches, without waiting for it.
/// Used where the hardware prefetchers were measured not to keep up (streams read from
/// memory). A no-op off x86-64: stable Rust has no prefetch intrinsic elsewhere.
#[inline(always)]
pub(crate) fn prefetch<T>(x: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint that never faults, and `x` is a valid reference anyway.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(
            core::ptr::from_ref(x).cast(),
        );
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = x;
}
