//! Opening stores, the store's text embedder, and parsing what users type (times, durations,
//! vectors) into what the engine takes — each failure one line saying what and what to do.

use std::io::Read;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow, bail};
use engram::{DecayCurve, Engram, MemoryId, Options};
use engram_text::HashEmbedder;

use crate::cli::{DecayArgs, VectorArgs};

/// The store property naming the text embedder (`hash-v1 dim=384`, or `none`).
pub const EMBEDDER_PROPERTY: &str = "engram.embedder";

/// Opens the store at `path`, saying how to create it if there is none.
pub fn open(path: &Path) -> Result<Engram> {
    if !path.exists() {
        bail!(
            "no store at {}: create one with `engram init --db {}` (or pass --db / set ENGRAM_DB)",
            path.display(),
            path.display()
        );
    }
    Engram::open(path, Options::default()).map_err(|e| engine_error(e, path))
}

/// An engine error as one line, with what to do where there is something to do.
pub fn engine_error(error: engram::Error, path: &Path) -> anyhow::Error {
    let hint = match &error {
        engram::Error::Storage(_) => {
            " (is another engram process using this store? only one process may open it)"
        }
        engram::Error::Corrupt(_) => " (restore it from a backup or an `engram export`)",
        engram::Error::Kernels(_) => {
            " (ENGRAM_KERNELS=rust|zig|auto and ENGRAM_KERNELS_LEVEL choose; `engram info` lists what runs here)"
        }
        _ => "",
    };
    anyhow!("{}: {error}{hint}", path.display())
}

/// The store's text embedder, or `None` if it takes vectors only.
pub fn embedder(engram: &Engram) -> Result<Option<HashEmbedder>> {
    let spec = engram
        .property(EMBEDDER_PROPERTY)
        .context("reading the store's embedder")?;
    match spec.as_deref() {
        None | Some("none") => Ok(None),
        Some(spec) => {
            let embedder = HashEmbedder::from_spec(spec)
                .with_context(|| "this store was made by a newer engram; upgrade engram")?;
            if embedder.dim() != engram.dimension() {
                bail!(
                    "the store's embedder ({spec}) does not match its dimension {}; the store is damaged",
                    engram.dimension()
                );
            }
            Ok(Some(embedder))
        }
    }
}

/// The embedding to use: the vector given, or the text embedded by the store's embedder.
pub fn embedding(engram: &Engram, text: Option<&str>, vector: &VectorArgs) -> Result<Vec<f32>> {
    if let Some(vector) = read_vector(vector)? {
        if vector.len() != engram.dimension() {
            bail!(
                "the vector has {} elements but this store's dimension is {}",
                vector.len(),
                engram.dimension()
            );
        }
        return Ok(vector);
    }
    let Some(text) = text else {
        bail!("give a TEXT, or a vector with --vector '[...]' or --vector-file PATH");
    };
    match embedder(engram)? {
        Some(embedder) => embedder
            .embed(text)
            .map_err(|e| anyhow!("cannot embed {text:?}: {e}")),
        None => bail!(
            "this store has no text embedder (it was created with --embedder none): give a vector with --vector or --vector-file"
        ),
    }
}

/// The vector of `--vector` or `--vector-file`, if either was given.
fn read_vector(args: &VectorArgs) -> Result<Option<Vec<f32>>> {
    let (json, source) = match (&args.vector, &args.vector_file) {
        (Some(json), _) => (json.clone(), "--vector".to_owned()),
        (None, Some(path)) if path.as_os_str() == "-" => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("reading the vector from standard input")?;
            (text, "standard input".to_owned())
        }
        (None, Some(path)) => (
            std::fs::read_to_string(path)
                .with_context(|| format!("reading the vector file {}", path.display()))?,
            path.display().to_string(),
        ),
        (None, None) => return Ok(None),
    };
    let vector: Vec<f32> = serde_json::from_str(&json).map_err(|e| {
        anyhow!("{source} is not a JSON array of numbers ({e}); write it like '[0.1, -0.3, 0.7]'")
    })?;
    Ok(Some(vector))
}

/// A time given as Unix seconds or RFC 3339 (`2026-11-22T10:00:00Z`, or without the zone as
/// UTC), as Unix seconds.
pub fn parse_time(text: &str) -> Result<i64> {
    if let Ok(secs) = text.trim().parse::<i64>() {
        return Ok(secs);
    }
    let time = humantime::parse_rfc3339_weak(text.trim()).map_err(|_| {
        anyhow!(
            "time {text:?} is neither Unix seconds nor RFC 3339; write e.g. 1700000000 or 2026-11-22T10:00:00Z"
        )
    })?;
    Ok(unix_secs(time))
}

fn unix_secs(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_secs()).map_or(i64::MIN, |s| -s),
    }
}

/// Unix seconds as RFC 3339 in UTC (`2026-11-22T10:00:00Z`), or the number itself outside
/// 1970..=9999 (which humantime cannot format).
pub fn format_time(secs: i64) -> String {
    const YEAR_10000: u64 = 253_402_300_800;
    match u64::try_from(secs) {
        Ok(after) if after < YEAR_10000 => {
            humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(after)).to_string()
        }
        _ => secs.to_string(),
    }
}

/// A duration such as `7d`, `12h` or `1week 2days`, in seconds.
pub fn parse_duration(name: &str, text: &str) -> Result<f64> {
    let duration = humantime::parse_duration(text.trim()).map_err(|e| {
        anyhow!("{name} {text:?} is not a duration ({e}); write e.g. 7d, 12h or '1week 2days'")
    })?;
    let secs = duration.as_secs_f64();
    if secs <= 0.0 {
        bail!("{name} must be longer than zero");
    }
    Ok(secs)
}

/// The decay curve of `--half-life` / `--power-law`.
pub fn decay_curve(args: &DecayArgs) -> Result<DecayCurve> {
    let curve = match &args.power_law {
        Some(spec) => {
            let (scale, exponent) = spec.split_once(',').ok_or_else(|| {
                anyhow!("--power-law {spec:?} needs SCALE,EXPONENT, e.g. '1day,0.5'")
            })?;
            let scale = parse_duration("the power-law scale", scale)?;
            let exponent: f64 = exponent.trim().parse().map_err(|_| {
                anyhow!("the power-law exponent {exponent:?} is not a number; e.g. '1day,0.5'")
            })?;
            DecayCurve::power_law(scale, exponent)
        }
        None => DecayCurve::exponential(parse_duration("--half-life", &args.half_life)?),
    };
    curve.map_err(|e| anyhow!("{e}"))
}

/// A memory id the store must hold.
pub fn existing(engram: &Engram, id: u64) -> Result<MemoryId> {
    let memory = MemoryId::new(id);
    if !engram.snapshot().contains(memory) {
        bail!("no memory has id {id} (`engram recall` or `engram export` list the ids)");
    }
    Ok(memory)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_from_seconds_and_rfc3339_and_format_back() {
        assert_eq!(parse_time("1700000000").ok(), Some(1_700_000_000));
        assert_eq!(parse_time("-5").ok(), Some(-5));
        assert_eq!(parse_time("2023-11-14T22:13:20Z").ok(), Some(1_700_000_000));
        assert_eq!(parse_time("2023-11-14 22:13:20").ok(), Some(1_700_000_000));
        assert_eq!(format_time(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(format_time(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_time(-86_400), "-86400");
        assert_eq!(format_time(253_402_300_800), "253402300800");
        assert_eq!(format_time(i64::MAX), i64::MAX.to_string());
        let err = parse_time("yesterday").err().map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("RFC 3339")));
    }

    #[test]
    fn durations_and_curves_parse_or_say_how() {
        assert_eq!(parse_duration("x", "7d").ok(), Some(7.0 * 86_400.0));
        assert_eq!(
            parse_duration("x", "1week 2days").ok(),
            Some(9.0 * 86_400.0)
        );
        assert!(parse_duration("x", "0s").is_err());
        assert!(parse_duration("x", "soon").is_err());
        let curve = |half_life: &str, power_law: Option<&str>| {
            decay_curve(&DecayArgs {
                half_life: half_life.into(),
                power_law: power_law.map(Into::into),
            })
        };
        assert_eq!(
            curve("1week", None).ok(),
            DecayCurve::exponential(604_800.0).ok()
        );
        assert_eq!(
            curve("1week", Some("1day,0.5")).ok(),
            DecayCurve::power_law(86_400.0, 0.5).ok()
        );
        assert!(curve("1week", Some("1day")).is_err());
        assert!(curve("1week", Some("1day,-1")).is_err());
    }
}
