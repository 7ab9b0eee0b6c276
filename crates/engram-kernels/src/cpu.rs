//! CPU levels: which instruction sets a kernel may use, detected once at run time.

use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

use crate::{Error, Result};

/// The environment variable that forces a CPU level, read by
/// [`Kernels::from_env`](crate::Kernels::from_env): `baseline`, `x86-64-v3`, `x86-64-v4`, or
/// `auto` (the default when unset or empty: the best level the CPU supports). Forcing a level
/// the CPU lacks is an error, never a silent downgrade.
pub const LEVEL_ENV: &str = "ENGRAM_KERNELS_LEVEL";

/// A CPU level: a set of instructions the kernels may use. The binary contains code for every
/// level of its architecture, and picks one at run time, so it runs on any CPU of that
/// architecture and is fast on new ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum CpuLevel {
    /// Every CPU of the architecture: SSE2 on x86-64 (4 f32 lanes, no FMA), NEON on aarch64.
    Baseline,
    /// x86-64-v3: AVX2, FMA, BMI1/2 (Haswell and Zen 1 onwards).
    X86_64V3,
    /// x86-64-v4: AVX-512 F/BW/CD/DQ/VL (Skylake-SP, Ice Lake, Zen 4 onwards).
    X86_64V4,
}

impl CpuLevel {
    /// Every level, lowest first.
    pub const ALL: [CpuLevel; 3] = [CpuLevel::Baseline, CpuLevel::X86_64V3, CpuLevel::X86_64V4];

    /// The name used by [`LEVEL_ENV`] and [`FromStr`] (rustc's spelling: `x86-64-v3`).
    pub const fn name(self) -> &'static str {
        match self {
            CpuLevel::Baseline => "baseline",
            CpuLevel::X86_64V3 => "x86-64-v3",
            CpuLevel::X86_64V4 => "x86-64-v4",
        }
    }

    /// Whether this CPU can run code of this level (detected once, then cached).
    pub fn is_supported(self) -> bool {
        self <= Self::detect()
    }

    /// The highest level this CPU supports.
    pub fn detect() -> CpuLevel {
        static DETECTED: OnceLock<CpuLevel> = OnceLock::new();
        *DETECTED.get_or_init(detect_uncached)
    }

    /// The levels this CPU supports, lowest first.
    pub fn supported() -> impl Iterator<Item = CpuLevel> {
        Self::ALL.into_iter().filter(|l| l.is_supported())
    }
}

/// A [`CpuLevel`] that this CPU supports. Only asking the CPU makes one ([`Supported::check`],
/// [`Supported::detect`], [`Supported::all`]; the baseline runs everywhere), so code handed one
/// may use the level's instructions: it is what makes the Rust backend's `#[target_feature]`
/// calls and the Zig level tables sound, rather than each caller's care (pulp's `V3::try_new`
/// is the model).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Supported(CpuLevel);

impl Supported {
    /// `level`, if this CPU supports it.
    pub(crate) fn check(level: CpuLevel) -> Option<Self> {
        level.is_supported().then_some(Self(level))
    }

    /// The highest level this CPU supports.
    pub(crate) fn detect() -> Self {
        Self(CpuLevel::detect())
    }

    /// The baseline, which every CPU of the architecture supports.
    pub(crate) const fn baseline() -> Self {
        Self(CpuLevel::Baseline)
    }

    /// Every level this CPU supports, lowest first.
    pub(crate) fn all() -> impl Iterator<Item = Supported> {
        CpuLevel::supported().map(Self)
    }

    /// The level.
    pub(crate) const fn get(self) -> CpuLevel {
        self.0
    }
}

impl fmt::Display for Supported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(target_arch = "x86_64")]
fn detect_uncached() -> CpuLevel {
    // The x86-64 psABI level definitions; `is_x86_feature_detected!` also checks that the OS
    // saves the AVX/AVX-512 registers.
    let v3 = is_x86_feature_detected!("avx2")
        && is_x86_feature_detected!("fma")
        && is_x86_feature_detected!("bmi1")
        && is_x86_feature_detected!("bmi2")
        && is_x86_feature_detected!("lzcnt")
        && is_x86_feature_detected!("movbe")
        && is_x86_feature_detected!("f16c");
    let v4 = v3
        && is_x86_feature_detected!("avx512f")
        && is_x86_feature_detected!("avx512bw")
        && is_x86_feature_detected!("avx512cd")
        && is_x86_feature_detected!("avx512dq")
        && is_x86_feature_detected!("avx512vl");
    if v4 {
        CpuLevel::X86_64V4
    } else if v3 {
        CpuLevel::X86_64V3
    } else {
        CpuLevel::Baseline
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn detect_uncached() -> CpuLevel {
    CpuLevel::Baseline
}

impl fmt::Display for CpuLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A level choice as written in [`LEVEL_ENV`]: a level, or `auto`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LevelChoice {
    /// The best level the CPU supports (and, for Zig, that was built).
    Auto,
    /// Exactly this level, or an error.
    Exactly(CpuLevel),
}

impl FromStr for LevelChoice {
    type Err = Error;

    /// Case-insensitive `baseline`, `x86-64-v3` (or `x86_64_v3`, `v3`), `x86-64-v4` (or
    /// `x86_64_v4`, `v4`) or `auto`; empty means `auto`.
    fn from_str(s: &str) -> Result<Self> {
        let t = s.trim().to_ascii_lowercase().replace('_', "-");
        if t.is_empty() || t == "auto" {
            return Ok(LevelChoice::Auto);
        }
        // Every level by its name, and an x86-64 level also by its short name (`v3`).
        CpuLevel::ALL
            .into_iter()
            .find(|level| {
                level.name() == t || level.name().strip_prefix("x86-64-") == Some(t.as_str())
            })
            .map(LevelChoice::Exactly)
            .ok_or_else(|| Error::UnknownCpuLevel {
                value: s.to_owned(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn baseline_is_always_supported_and_levels_are_ordered() {
        assert!(CpuLevel::Baseline.is_supported());
        assert_eq!(CpuLevel::supported().next(), Some(CpuLevel::Baseline));
        assert!(CpuLevel::detect().is_supported());
        assert!(CpuLevel::Baseline < CpuLevel::X86_64V3 && CpuLevel::X86_64V3 < CpuLevel::X86_64V4);
        if !cfg!(target_arch = "x86_64") {
            assert_eq!(CpuLevel::detect(), CpuLevel::Baseline);
        }
    }

    #[test]
    fn level_names_parse() {
        assert_eq!(
            "X86_64_V3".parse(),
            Ok(LevelChoice::Exactly(CpuLevel::X86_64V3))
        );
        assert_eq!("v4".parse(), Ok(LevelChoice::Exactly(CpuLevel::X86_64V4)));
        assert_eq!(
            " baseline ".parse(),
            Ok(LevelChoice::Exactly(CpuLevel::Baseline))
        );
        assert_eq!("".parse(), Ok(LevelChoice::Auto));
        for level in CpuLevel::ALL {
            assert_eq!(level.name().parse(), Ok(LevelChoice::Exactly(level)));
        }
        // Only x86-64 levels have short names, and only real ones.
        for unknown in ["v2", "x86-64-baseline", "x86-64-", "-"] {
            assert!(unknown.parse::<LevelChoice>().is_err(), "{unknown}");
        }
        assert_eq!(
            "avx1024".parse::<LevelChoice>(),
            Err(Error::UnknownCpuLevel {
                value: "avx1024".into()
            })
        );
    }
}
