//! Opening stores, the store's text embedder, and parsing what users type (times, durations,
//! vectors) into what the engine takes — each failure one line saying what and what to do.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use anyhow::{Context, Result, anyhow, bail};
use engram_graph::{DecayCurve, Engram, MemoryId, Options};
use engram_text::{Embedder, Embedding};

use crate::cli::{DecayArgs, VectorArgs};
use crate::output;

/// The store property naming the text embedder (`hash-v1 dim=384`,
/// `minilm-l6-v2 sha256=53aa…`, or `none`).
pub const EMBEDDER_PROPERTY: &str = "engram.embedder";

/// `--model-dir`, once for the whole process: every store that embeds with a model reads it
/// from there (unset: ENGRAM_MODEL_DIR, which the embedder reads itself).
static MODEL_DIR: OnceLock<PathBuf> = OnceLock::new();

/// Sets the model directory `--model-dir` gave (the first call wins; `None` changes nothing).
pub fn set_model_dir(dir: Option<&Path>) {
    if let Some(dir) = dir {
        let _ = MODEL_DIR.set(dir.to_owned());
    }
}

/// The model directory `--model-dir` gave, if it did.
pub fn model_dir() -> Option<&'static Path> {
    MODEL_DIR.get().map(PathBuf::as_path)
}

/// Whether a command only reads the store (then it opens it read-only: the file is never
/// written, and it works on a read-only mount) or also writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Never writes.
    Read,
    /// Reads and writes.
    Write,
}

/// Opens the store at `path`, saying how to create it if there is none.
pub fn open(path: &Path, access: Access) -> Result<Engram> {
    if !path.exists() {
        bail!(
            "no store at {}: create one with `engram init --db {}` (or pass --db / set ENGRAM_DB)",
            path.display(),
            path.display()
        );
    }
    let options = Options {
        read_only: access == Access::Read,
        busy_timeout: busy_timeout()?,
        ..Options::default()
    };
    Engram::open(path, options).map_err(|e| engine_error(e, path))
}

/// `ENGRAM_BUSY_TIMEOUT` (a duration such as `30s`), else the engine's default (10 s): how
/// long a write waits for another process's.
pub fn busy_timeout() -> Result<std::time::Duration> {
    match std::env::var("ENGRAM_BUSY_TIMEOUT") {
        Ok(text) => humantime::parse_duration(text.trim()).map_err(|e| {
            anyhow!("ENGRAM_BUSY_TIMEOUT={text:?} is not a duration such as 30s or 2m: {e}")
        }),
        Err(_) => Ok(Options::DEFAULT_BUSY_TIMEOUT),
    }
}

/// An engine error as one line, with what to do where there is something to do. The hint
/// about other processes is given for a busy store only.
pub fn engine_error(error: engram_graph::Error, path: &Path) -> anyhow::Error {
    use std::io::ErrorKind;
    let hint = match &error {
        engram_graph::Error::Busy { .. } => {
            " (another engram process is writing to this store: run the command again once it has finished, or wait longer with ENGRAM_BUSY_TIMEOUT=60s)"
        }
        engram_graph::Error::FormatOne { .. } => {
            " (convert it with `engram migrate OLD NEW`, which leaves OLD as it is, then use NEW)"
        }
        engram_graph::Error::NotAStore(_) => {
            " (give --db the path of a store, or create one with `engram init`)"
        }
        engram_graph::Error::Corrupt(_) => " (restore it from a backup or an `engram export`)",
        engram_graph::Error::PrecisionUnavailable { .. } => {
            " (`engram stats` shows the store's precision; `engram set-precision` changes it)"
        }
        engram_graph::Error::Kernels(_) => {
            " (ENGRAM_KERNELS=rust|zig|auto and ENGRAM_KERNELS_LEVEL choose; `engram info` lists what runs here)"
        }
        engram_graph::Error::Io(io) => match io.kind() {
            ErrorKind::StorageFull | ErrorKind::QuotaExceeded => {
                " (no space left on the store's device: free some space, then run the command again)"
            }
            ErrorKind::ReadOnlyFilesystem => {
                " (the store is on a read-only file system: commands that only read it work there, this one writes)"
            }
            ErrorKind::PermissionDenied => {
                " (permission denied: reading needs read access to the store and write access to its lock file, NAME-lock; writing needs write access to both, and creating to the directory)"
            }
            ErrorKind::NotADirectory => " (a part of the path is a file, not a directory)",
            ErrorKind::NotFound => " (a directory on the path does not exist: create it first)",
            ErrorKind::IsADirectory => " (that is a directory: --db names the store's file)",
            _ => "",
        },
        _ => "",
    };
    anyhow!("{}: {error}{hint}", path.display())
}

/// The store's text embedder, or `None` if it takes vectors only. A model it needs is not
/// read yet: only embedding text does that.
pub fn embedder(engram: &Engram) -> Result<Option<Embedder>> {
    let spec = engram
        .property(EMBEDDER_PROPERTY)
        .context("reading the store's embedder")?;
    match spec.as_deref() {
        None | Some("none") => Ok(None),
        Some(spec) => {
            let embedder = Embedder::from_spec(spec, model_dir())
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

/// The note for a text longer than `embedder` reads, embedded from its beginning; `what`
/// names it with its verb ("the text is", "3 texts are").
pub fn truncated_note(embedder: &Embedder, what: &str) -> String {
    format!(
        "engram: note: {what} longer than {} reads ({} tokens): embedded from the beginning only",
        embedder.name(),
        embedder.max_tokens().unwrap_or(usize::MAX)
    )
}

/// The embedding to use: the vector given, or the text embedded by the store's embedder
/// (with a note on standard error if it was too long to embed whole).
pub fn embedding(engram: &Engram, text: Option<&str>, vector: &VectorArgs) -> Result<Embedding> {
    if let Some(vector) = read_vector(vector)? {
        if vector.len() != engram.dimension() {
            bail!(
                "the vector has {} elements but this store's dimension is {}",
                vector.len(),
                engram.dimension()
            );
        }
        return Ok(Embedding {
            vector,
            truncated: false,
        });
    }
    let Some(text) = text else {
        bail!("give a TEXT, or a vector with --vector '[...]' or --vector-file PATH");
    };
    let Some(embedder) = embedder(engram)? else {
        bail!(
            "this store has no text embedder (it was created with --embedder none): give a vector with --vector or --vector-file"
        );
    };
    let embedding = embedder
        .embed(text)
        .map_err(|e| anyhow!("cannot embed {:?}: {e}", output::shorten(text, 60)))?;
    if embedding.truncated {
        output::note(&truncated_note(&embedder, "the text is"));
    }
    Ok(embedding)
}

/// The largest vector `--vector-file` (or standard input) may hold: a JSON array of a million
/// floats fits.
pub const MAX_VECTOR_BYTES: u64 = 16 << 20;

/// The vector of `--vector` or `--vector-file`, if either was given.
pub fn read_vector(args: &VectorArgs) -> Result<Option<Vec<f32>>> {
    let (json, source) = match (&args.vector, &args.vector_file) {
        (Some(json), _) => (json.clone(), "--vector".to_owned()),
        (None, Some(path)) if path.as_os_str() == "-" => (
            read_text(
                std::io::stdin().lock(),
                MAX_VECTOR_BYTES,
                "standard input",
                VECTOR_TOO_LARGE,
            )?,
            "standard input".to_owned(),
        ),
        (None, Some(path)) => {
            let name = path.display().to_string();
            let file = std::fs::File::open(path)
                .with_context(|| format!("reading the vector file {name}"))?;
            (
                read_text(file, MAX_VECTOR_BYTES, &name, VECTOR_TOO_LARGE)?,
                name,
            )
        }
        (None, None) => return Ok(None),
    };
    let vector: Vec<f32> = serde_json::from_str(&json).map_err(|e| {
        anyhow!("{source} is not a JSON array of numbers ({e}); write it like '[0.1, -0.3, 0.7]'")
    })?;
    Ok(Some(vector))
}

/// All of `input` (named `name` in messages) as UTF-8 text, refusing it once it holds more
/// than `limit` bytes, so that an endless input such as `/dev/zero` ends there; `why` says
/// why that is too much.
pub fn read_text(input: impl Read, limit: u64, name: &str, why: &str) -> Result<String> {
    let mut bytes = Vec::new();
    input
        .take(limit + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("cannot read {name}"))?;
    if bytes.len() as u64 > limit {
        bail!("{name} holds more than {} MiB: {why}", limit >> 20);
    }
    String::from_utf8(bytes).map_err(|_| anyhow!("{name} is not UTF-8 text"))
}

/// Why a vector input is too large.
const VECTOR_TOO_LARGE: &str = "the most a vector may take; give one JSON array of numbers";

/// A time given as Unix seconds or RFC 3339 (`2026-11-22T10:00:00Z`, `+01:00` offsets, a space
/// for the `T`, or no offset for UTC), as Unix seconds, within the range the store keeps
/// (years 0000 to 9999: [`engram_graph::MIN_TIME`]`..=`[`engram_graph::MAX_TIME`]).
pub fn parse_time(text: &str) -> Result<i64> {
    let text = text.trim();
    let secs = match text.parse::<i64>() {
        Ok(secs) => secs,
        // An integer too large for i64 (a sign alone is not a number).
        Err(_)
            if text
                .strip_prefix(['-', '+'])
                .unwrap_or(text)
                .bytes()
                .all(|b| b.is_ascii_digit())
                && text.bytes().any(|b| b.is_ascii_digit()) =>
        {
            return Err(out_of_range(text));
        }
        Err(_) => parse_rfc3339(text).ok_or_else(|| {
            anyhow!(
                "time {text:?} is neither Unix seconds nor RFC 3339; write e.g. 1700000000 or 2026-11-22T10:00:00Z"
            )
        })?,
    };
    engram_graph::check_time(secs).map_err(|_| out_of_range(text))?;
    Ok(secs)
}

/// The error for a time outside the supported range, which it states.
pub fn out_of_range(time: &str) -> anyhow::Error {
    anyhow!(
        "time {time} is outside the supported range: Unix seconds {}..={} (0000-01-01T00:00:00Z to 9999-12-31T23:59:59Z)",
        engram_graph::MIN_TIME,
        engram_graph::MAX_TIME
    )
}

fn parse_rfc3339(text: &str) -> Option<i64> {
    use time::format_description::well_known::Rfc3339;
    let parse = |text: &str| time::OffsetDateTime::parse(text, &Rfc3339).ok();
    // No offset: UTC.
    parse(text)
        .or_else(|| parse(&format!("{text}Z")))
        .map(time::OffsetDateTime::unix_timestamp)
}

/// Unix seconds as RFC 3339 in UTC (`2026-11-22T10:00:00Z`), or the number itself outside the
/// supported range (which no store holds).
pub fn format_time(secs: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .filter(|_| engram_graph::check_time(secs).is_ok())
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| secs.to_string())
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
        assert_eq!(
            parse_time("2023-11-14T23:13:20+01:00").ok(),
            Some(1_700_000_000)
        );
        assert_eq!(
            parse_time("0000-01-01T00:00:00Z").ok(),
            Some(engram_graph::MIN_TIME)
        );
        assert_eq!(
            parse_time("9999-12-31T23:59:59Z").ok(),
            Some(engram_graph::MAX_TIME)
        );
        assert_eq!(format_time(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(format_time(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_time(-86_400), "1969-12-31T00:00:00Z");
        assert_eq!(format_time(engram_graph::MIN_TIME), "0000-01-01T00:00:00Z");
        assert_eq!(format_time(engram_graph::MAX_TIME), "9999-12-31T23:59:59Z");
        assert_eq!(format_time(253_402_300_800), "253402300800");
        assert_eq!(format_time(i64::MAX), i64::MAX.to_string());
        let err = |text: &str| parse_time(text).err().map(|e| e.to_string());
        assert!(err("yesterday").is_some_and(|e| e.contains("RFC 3339")));
        // A sign alone is not a number too large.
        assert!(err("-").is_some_and(|e| e.contains("RFC 3339")));
        for outside in [
            "9223372036854775807",
            "99999999999999999999",
            "253402300800",
            "-62167219201",
            "9999-12-31T23:59:59-01:00",
        ] {
            assert!(
                err(outside).is_some_and(|e| e.contains("outside the supported range")),
                "{outside}: {:?}",
                err(outside)
            );
        }
    }

    #[test]
    fn each_storage_error_gets_its_own_hint_and_only_a_lock_blames_another_process() {
        use std::io::{Error as Io, ErrorKind};
        let hint = |error: engram_graph::Error| engine_error(error, Path::new("s.db")).to_string();
        let busy = hint(engram_graph::Error::Busy {
            waited: std::time::Duration::from_secs(10),
        });
        assert!(busy.starts_with("s.db: ") && busy.contains("another engram process"));
        for (kind, expected) in [
            (ErrorKind::StorageFull, "free some space"),
            (ErrorKind::QuotaExceeded, "free some space"),
            (ErrorKind::ReadOnlyFilesystem, "read-only file system"),
            (ErrorKind::PermissionDenied, "permission denied"),
            (ErrorKind::NotADirectory, "not a directory"),
            (ErrorKind::NotFound, "create it first"),
            (ErrorKind::IsADirectory, "names the store's file"),
        ] {
            let text = hint(engram_graph::Error::Io(Io::from(kind)));
            assert!(
                text.contains(expected) && !text.contains("process"),
                "{kind:?}: {text}"
            );
        }
        let text = hint(engram_graph::Error::NotAStore("the file is empty".into()));
        assert!(
            text.contains("engram init") && !text.contains("process"),
            "{text}"
        );
        let corrupt = hint(engram_graph::Error::Corrupt("bad page".into()));
        assert!(corrupt.contains("backup"), "{corrupt}");
        // Our own bug is not the user's damaged file.
        let bug = hint(engram_graph::Error::Internal("no row".into()));
        assert!(
            bug.contains("this is a bug") && !bug.contains("backup"),
            "{bug}"
        );
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
