//! Which implementation runs the kernels, and how it is chosen.

use std::fmt;
use std::str::FromStr;

use crate::{CpuLevel, Error, Result};

/// The environment variable that chooses the backend at run time, read by
/// [`Kernels::from_env`](crate::Kernels::from_env): `rust`, `zig`, or `auto` (the default when
/// unset or empty: Zig when compiled in, else Rust). It lets a deployment roll back to the
/// Rust backend without rebuilding.
pub const BACKEND_ENV: &str = "ENGRAM_KERNELS";

/// An implementation of the kernels. Both give the same answers within the tolerances in the
/// crate docs; the Rust one is the reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Backend {
    /// Pure Rust, always compiled in. The reference implementation.
    Rust,
    /// The Zig kernels, linked statically; compiled in with the `zig-kernels` feature.
    Zig,
}

impl Backend {
    /// Every backend, compiled in or not.
    pub const ALL: [Backend; 2] = [Backend::Rust, Backend::Zig];

    /// Whether this backend is compiled into the binary.
    pub const fn is_compiled(self) -> bool {
        match self {
            Backend::Rust => true,
            Backend::Zig => cfg!(feature = "zig-kernels"),
        }
    }

    /// The backends compiled into this binary, reference first.
    pub fn compiled() -> impl Iterator<Item = Backend> {
        Self::ALL.into_iter().filter(|b| b.is_compiled())
    }

    /// The fastest backend compiled in: Zig when the `zig-kernels` feature is on, else Rust.
    pub const fn best_compiled() -> Backend {
        if cfg!(feature = "zig-kernels") {
            Backend::Zig
        } else {
            Backend::Rust
        }
    }

    /// The lowercase name used by [`BACKEND_ENV`] and [`FromStr`].
    pub const fn name(self) -> &'static str {
        match self {
            Backend::Rust => "rust",
            Backend::Zig => "zig",
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A backend choice as written in [`BACKEND_ENV`]: a backend, or `auto`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendChoice {
    /// Use [`Backend::best_compiled`].
    Auto,
    /// Use this backend, or fail if it is not compiled in.
    Exactly(Backend),
}

impl FromStr for BackendChoice {
    type Err = Error;

    /// Case-insensitive `rust`, `zig` or `auto`; surrounding whitespace is ignored, and an
    /// empty string means `auto`.
    fn from_str(s: &str) -> Result<Self> {
        let trimmed = s.trim();
        if trimmed.is_empty() || trimmed.eq_ignore_ascii_case("auto") {
            return Ok(BackendChoice::Auto);
        }
        Backend::ALL
            .into_iter()
            .find(|b| trimmed.eq_ignore_ascii_case(b.name()))
            .map(BackendChoice::Exactly)
            .ok_or_else(|| Error::UnknownBackend {
                value: s.to_owned(),
            })
    }
}

impl FromStr for Backend {
    type Err = Error;

    /// Case-insensitive `rust` or `zig`.
    fn from_str(s: &str) -> Result<Self> {
        match s.parse::<BackendChoice>()? {
            BackendChoice::Exactly(b) => Ok(b),
            BackendChoice::Auto => Err(Error::UnknownBackend {
                value: s.to_owned(),
            }),
        }
    }
}

/// What one CPU level's Zig library reports about itself (see
/// [`zig_build_info`](crate::zig_build_info)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ZigBuildInfo {
    /// The CPU level this library was built for.
    pub level: CpuLevel,
    /// ABI version the library was compiled with (must match the Rust declarations).
    pub abi_version: u32,
    /// The Zig compiler that built the library, e.g. `0.17.1`.
    pub zig_version: &'static str,
    /// The version this crate pins (from `zig/build.zig.zon`); equals `zig_version`.
    pub pinned_version: &'static str,
    /// The CPU model the code was compiled for, as Zig names it (`x86_64` for the x86-64
    /// baseline, `x86_64_v3`, `x86_64_v4`, `generic` on aarch64). Never the build machine's.
    pub cpu_model: &'static str,
    /// The `-Dtarget` value build.rs passed, e.g. `x86_64-linux-gnu`.
    pub target: &'static str,
    /// Zig's optimize mode as Zig 0.17 names it: `debug`, `safe`, `fast` or `small` (the
    /// `-Doptimize=` values `Debug`, `ReleaseSafe`, `ReleaseFast`, `ReleaseSmall`).
    pub optimize_mode: &'static str,
    /// Whether the kernels use fused multiply-add (only when the level has it).
    pub has_fma: bool,
    /// f32 lanes per SIMD vector in the similarity kernels.
    pub vector_lanes: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choices_parse_case_insensitively() {
        assert_eq!(
            "Rust".parse::<BackendChoice>(),
            Ok(BackendChoice::Exactly(Backend::Rust))
        );
        assert_eq!(
            " zig ".parse::<BackendChoice>(),
            Ok(BackendChoice::Exactly(Backend::Zig))
        );
        assert_eq!("AUTO".parse::<BackendChoice>(), Ok(BackendChoice::Auto));
        assert_eq!("".parse::<BackendChoice>(), Ok(BackendChoice::Auto));
    }

    #[test]
    fn unknown_names_are_errors() {
        assert_eq!(
            "cuda".parse::<BackendChoice>(),
            Err(Error::UnknownBackend {
                value: "cuda".into()
            })
        );
        assert!("auto".parse::<Backend>().is_err());
    }

    #[test]
    fn rust_is_always_compiled_and_listed_first() {
        assert!(Backend::Rust.is_compiled());
        assert_eq!(Backend::compiled().next(), Some(Backend::Rust));
        assert_eq!(Backend::Zig.is_compiled(), cfg!(feature = "zig-kernels"));
        assert!(Backend::best_compiled().is_compiled());
    }
}
