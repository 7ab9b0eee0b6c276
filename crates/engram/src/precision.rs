//! The precision a recall scans: the f32 embeddings themselves, or codes of them kept beside
//! them in every segment (f16: 2 bytes a value; int8: 1), from which the best candidates are
//! rescored exactly.

use std::fmt;
use std::str::FromStr;

use engram_kernels::{EmbeddingsView, Kernels};

use crate::{Error, Result};

/// What a store's recalls scan to find their seeds. Chosen when a store is created
/// ([`Options::precision`](crate::Options::precision)) and changed with
/// [`Engram::set_precision`](crate::Engram::set_precision); the f32 embeddings are always
/// kept (export, rescoring and later changes read them).
///
/// With codes, a recall scans the codes of every segment (2× or 4× fewer bytes than f32),
/// keeps the best [`RecallParams::candidates`](crate::RecallParams::candidates) rows, and
/// computes their exact f32 cosine: the seeds, their order and every reported similarity are
/// exact whenever the exact top k are among the candidates, which the default number of
/// candidates made true on every cue measured (BENCHMARKS.md, "Recall@10 of code scans").
/// Rows not yet sealed into a segment (fewer than 256) are scanned in f32.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Precision {
    /// The f32 embeddings: exact, 4 bytes a value. The default.
    #[default]
    F32,
    /// f16 codes, 2 bytes a value: each row scaled by a power of two and rounded to f16
    /// (`Kernels::quantize_f16`), scanned against the f32 cue.
    F16,
    /// int8 codes, 1 byte a value: each row scaled by `max|x| / 127` and rounded
    /// (`Kernels::quantize_i8`), scanned against the cue's own codes in exact integers.
    Int8,
}

impl Precision {
    /// Every precision, cheapest scan last.
    pub const ALL: [Precision; 3] = [Precision::F32, Precision::F16, Precision::Int8];

    /// Its name: `f32`, `f16` or `int8` (what [`FromStr`] reads).
    pub fn as_str(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::F16 => "f16",
            Precision::Int8 => "int8",
        }
    }

    /// Bytes a recall scans per memory of dimension `dim`: the values, plus the f32 norm (f32)
    /// or the f32 factor beside the codes.
    pub fn scan_bytes_per_memory(self, dim: usize) -> usize {
        let per_value = match self {
            Precision::F32 => 4,
            Precision::F16 => 2,
            Precision::Int8 => 1,
        };
        per_value * dim + 4
    }

    /// Its number in the store's metadata.
    pub(crate) fn code(self) -> u64 {
        match self {
            Precision::F32 => 0,
            Precision::F16 => 1,
            Precision::Int8 => 2,
        }
    }

    pub(crate) fn from_code(code: u64) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|p| p.code() == code)
            .ok_or_else(|| Error::Corrupt(format!("unknown scan precision {code}")))
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The name given is not `f32`, `f16` or `int8`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown precision {0:?}: expected f32, f16 or int8")]
pub struct UnknownPrecision(pub String);

impl FromStr for Precision {
    type Err = UnknownPrecision;

    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| UnknownPrecision(s.to_owned()))
    }
}

/// A segment's codes, as the store keeps them: `rows × dim` codes and one factor per row,
/// `scale ÷ norm` (0 for a zero row), so that a code dot times the factor approximates the
/// row's dot with a unit vector.
pub(crate) enum Codes {
    /// f16 bit patterns.
    F16(Vec<u16>),
    /// int8 codes.
    Int8(Vec<i8>),
}

/// The codes and factors of `rows` (whose norms it has) at `precision`; `None` for f32.
pub(crate) fn quantize(
    kernels: &Kernels,
    precision: Precision,
    rows: EmbeddingsView<'_>,
) -> Result<Option<(Codes, Vec<f32>)>> {
    let mut scales = vec![0.0f32; rows.rows()];
    let codes = match precision {
        Precision::F32 => return Ok(None),
        Precision::F16 => {
            let mut codes = vec![0u16; rows.as_flat().len()];
            kernels.quantize_f16(rows, &mut codes, &mut scales)?;
            Codes::F16(codes)
        }
        Precision::Int8 => {
            let mut codes = vec![0i8; rows.as_flat().len()];
            kernels.quantize_i8(rows, &mut codes, &mut scales)?;
            Codes::Int8(codes)
        }
    };
    let norms = rows
        .norms()
        .ok_or_else(|| Error::Internal("codes of rows without their norms".into()))?;
    let factors = scales
        .iter()
        .zip(norms)
        .map(|(&scale, &norm)| if norm > 0.0 { scale / norm } else { 0.0 })
        .collect();
    Ok(Some((codes, factors)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_ones_are_refused() {
        for p in Precision::ALL {
            assert_eq!(p.as_str().parse::<Precision>(), Ok(p));
            assert_eq!(p.to_string(), p.as_str());
            assert_eq!(Precision::from_code(p.code()).ok(), Some(p));
        }
        assert_eq!(
            "F32".parse::<Precision>(),
            Err(UnknownPrecision("F32".into()))
        );
        assert!(Precision::from_code(3).is_err());
        assert_eq!(Precision::default(), Precision::F32);
        assert_eq!(Precision::Int8.scan_bytes_per_memory(384), 388);
        assert_eq!(Precision::F16.scan_bytes_per_memory(384), 772);
        assert_eq!(Precision::F32.scan_bytes_per_memory(384), 1540);
    }
}
