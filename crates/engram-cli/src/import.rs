//! `engram import`: JSON Lines or WordNet into the store.
//!
//! Two passes. The first reads every record and checks everything that can be checked without
//! writing (JSON, dimension, finite numbers, ranges, times, duplicate ids, link targets, text
//! the embedder can embed); if any record is bad, each bad one is reported with its line and
//! **nothing is imported**. The second pass writes the records in batches of `--batch`, one
//! transaction each; a batch also writes every link whose later end it stores, so after any
//! batch the store holds exactly the links among the records stored so far.
//!
//! Each batch records the import's progress in the same transaction ([`crate::progress`]), so
//! importing the same records again continues after the last committed batch, and an import
//! stopped by an error, SIGINT or SIGTERM says what it committed and how to continue.
//!
//! Both passes run here, whatever the import writes to: a store file ([`LocalStore`]) or, with
//! `--server`, a space of a running server (`client::RemoteSpace`, one request per batch).
//! Each is a [`Target`], and each stores a batch with [`progress::write_batch`].

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};
use engram_graph::{Engram, MemoryId, MemoryRef, NewMemory, WriteBatch};
use engram_text::Embedder;
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};

use crate::cli::{DEFAULT_BATCH, ImportArgs, ImportFormat};
use crate::output;
use crate::progress::{self, BatchError, Progress, RecordHash, Stored};
use crate::source::{Item, Source};
use crate::store::{self, engine_error};

/// Weight of a link that does not give one.
pub const DEFAULT_LINK_WEIGHT: f32 = 0.5;
/// Bad records reported before the rest are only counted.
const MAX_REPORTED: usize = 10;

/// An embedding's JSON array, parsed by `fast-float2` (correctly rounded to f32, several
/// times faster than serde_json's parse through f64: the numbers are most of an import's
/// work). Anything but a plain array of JSON numbers is left to serde_json, whose error it
/// then reports.
fn embedding_numbers<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Vec<f32>>, D::Error> {
    let Some(raw) = Option::<&'de serde_json::value::RawValue>::deserialize(deserializer)? else {
        return Ok(None);
    };
    if let Some(numbers) = json_floats(raw.get()) {
        return Ok(Some(numbers));
    }
    serde_json::from_str::<Vec<f32>>(raw.get())
        .map(Some)
        .map_err(|e| {
            // Its position is within the array; the line's error adds the array's own.
            let text = e.to_string();
            let suffix = format!(" at line {} column {}", e.line(), e.column());
            de::Error::custom(text.strip_suffix(&suffix).unwrap_or(&text))
        })
}

/// `[n, n, ...]` of JSON numbers as f32, or `None` for anything else. One pass over the
/// bytes: each number's extent is found by the JSON grammar, then parsed by fast-float.
fn json_floats(text: &str) -> Option<Vec<f32>> {
    let bytes = text.as_bytes();
    let space = |at: &mut usize| {
        while matches!(bytes.get(*at), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            *at += 1;
        }
    };
    let mut at = 0;
    space(&mut at);
    if bytes.get(at) != Some(&b'[') {
        return None;
    }
    at += 1;
    space(&mut at);
    let mut numbers = Vec::with_capacity(bytes.len() / 8);
    if bytes.get(at) == Some(&b']') {
        at += 1;
    } else {
        loop {
            let end = at + json_number_len(&bytes[at..])?;
            numbers.push(fast_float2::parse::<f32, _>(&bytes[at..end]).ok()?);
            at = end;
            space(&mut at);
            match bytes.get(at) {
                Some(b',') => {
                    at += 1;
                    space(&mut at);
                }
                Some(b']') => {
                    at += 1;
                    break;
                }
                _ => return None,
            }
        }
    }
    space(&mut at);
    (at == bytes.len()).then_some(numbers)
}

/// The length of the JSON number `text` starts with —
/// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?` — or `None` (fast-float alone would also
/// take `inf`, `nan`, `+1` and `.5`).
fn json_number_len(text: &[u8]) -> Option<usize> {
    let digits = |at: usize| {
        text.get(at..).map_or(0, |rest| {
            rest.iter().take_while(|b| b.is_ascii_digit()).count()
        })
    };
    let mut at = usize::from(text.first() == Some(&b'-'));
    match text.get(at) {
        Some(b'0') => at += 1,
        Some(b'1'..=b'9') => at += digits(at),
        _ => return None,
    }
    if text.get(at) == Some(&b'.') {
        let n = digits(at + 1);
        if n == 0 {
            return None;
        }
        at += 1 + n;
    }
    if matches!(text.get(at), Some(b'e' | b'E')) {
        at += 1;
        if matches!(text.get(at), Some(b'+' | b'-')) {
            at += 1;
        }
        let n = digits(at);
        if n == 0 {
            return None;
        }
        at += n;
    }
    Some(at)
}

/// One line of the JSON Lines format (also what `export` writes).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    /// The record's id in the file, which links name (a string or a non-negative integer;
    /// `5` and `"5"` are the same id). Optional for records nothing links to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<FileId>,
    /// The content; embedded by the store's embedder when there is no `embedding`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// The embedding (the store's dimension, finite numbers, not all zero).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "embedding_numbers"
    )]
    pub embedding: Option<Vec<f32>>,
    /// Base strength in [0, 1] (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strength: Option<f32>,
    /// Last access: Unix seconds or RFC 3339 (default: `created`, else now).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<TimeValue>,
    /// Creation: Unix seconds or RFC 3339 (default: `time`, else now).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<TimeValue>,
    /// Associations from this record, each to a different id.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<Link>,
}

/// An association from a record to the record with id `to`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Link {
    /// The target's id in the file.
    pub to: FileId,
    /// Weight in [-1, 1] (default [`DEFAULT_LINK_WEIGHT`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<f32>,
}

/// A record id in a file: a string or an integer in `0..=2^64 - 1`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(untagged)]
pub enum FileId {
    /// An integer id.
    Number(u64),
    /// A string id.
    Text(String),
}

impl FileId {
    /// The id's canonical form, so that `5` and `"5"` are one id.
    pub fn key(&self) -> String {
        match self {
            FileId::Number(n) => n.to_string(),
            FileId::Text(t) => t.clone(),
        }
    }
}

/// What an id may be, for messages.
const ID_RULE: &str = "an id is a string, or an integer from 0 to 18446744073709551615";

impl<'de> Deserialize<'de> for FileId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Id;
        impl Visitor<'_> for Id {
            type Value = FileId;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an id: a string, or an integer from 0 to 18446744073709551615")
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<FileId, E> {
                Ok(FileId::Number(n))
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<FileId, E> {
                u64::try_from(n)
                    .map(FileId::Number)
                    .map_err(|_| E::custom(format!("id {n} is negative; {ID_RULE}")))
            }
            fn visit_f64<E: de::Error>(self, x: f64) -> Result<FileId, E> {
                Err(E::custom(format!(
                    "id {x} is not an integer in range; {ID_RULE}"
                )))
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<FileId, E> {
                Ok(FileId::Text(text.to_owned()))
            }
        }
        deserializer.deserialize_any(Id)
    }
}

/// A time: Unix seconds or an RFC 3339 string, within years 0000 to 9999.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum TimeValue {
    /// Unix seconds.
    Seconds(i64),
    /// RFC 3339, e.g. `2026-11-22T10:00:00Z`.
    Text(String),
}

impl TimeValue {
    pub fn seconds(&self) -> Result<i64> {
        match self {
            TimeValue::Seconds(s) => {
                engram_graph::check_time(*s).map_err(|_| store::out_of_range(&s.to_string()))?;
                Ok(*s)
            }
            TimeValue::Text(t) => store::parse_time(t),
        }
    }
}

impl<'de> Deserialize<'de> for TimeValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Time;
        impl Visitor<'_> for Time {
            type Value = TimeValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a time: Unix seconds (an integer) or RFC 3339 text such as \"2026-11-22T10:00:00Z\"")
            }
            fn visit_i64<E: de::Error>(self, secs: i64) -> Result<TimeValue, E> {
                Ok(TimeValue::Seconds(secs))
            }
            fn visit_u64<E: de::Error>(self, secs: u64) -> Result<TimeValue, E> {
                i64::try_from(secs)
                    .map(TimeValue::Seconds)
                    .map_err(|_| E::custom(store::out_of_range(&secs.to_string())))
            }
            fn visit_f64<E: de::Error>(self, secs: f64) -> Result<TimeValue, E> {
                // `1e9` is a whole number of seconds written as a float.
                if secs.fract() == 0.0 && secs.abs() < 2f64.powi(53) {
                    return Ok(TimeValue::Seconds(secs as i64));
                }
                Err(E::custom(if secs.is_finite() && secs.fract() == 0.0 {
                    store::out_of_range(&secs.to_string())
                } else {
                    anyhow!(
                        "time {secs} is not a whole number of seconds; write Unix seconds as an integer, or RFC 3339 text"
                    )
                }))
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<TimeValue, E> {
                Ok(TimeValue::Text(text.to_owned()))
            }
        }
        deserializer.deserialize_any(Time)
    }
}

/// An import stopped by SIGINT or SIGTERM after committing some of it: the command exits
/// with 128 + the signal's number.
#[derive(Debug)]
pub struct Interrupted {
    signal: i32,
    /// `SIGINT` or `SIGTERM`.
    name: &'static str,
    message: String,
}

impl Interrupted {
    /// 130 for SIGINT, 143 for SIGTERM.
    pub fn exit_status(&self) -> u8 {
        u8::try_from(128 + self.signal).unwrap_or(1)
    }
}

impl fmt::Display for Interrupted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Interrupted {}

/// SIGINT and SIGTERM, for the whole import: the first lets the batch being written commit,
/// then the import stops and says what it committed; a second ends the process at once (a
/// transaction not committed is simply not stored).
pub struct Signals {
    received: Arc<AtomicUsize>,
}

impl Signals {
    /// Starts watching for SIGINT and SIGTERM.
    pub fn watch() -> Result<Self> {
        use signal_hook::consts::{SIGINT, SIGTERM};
        use signal_hook::flag;
        let received = Arc::new(AtomicUsize::new(0));
        let again = Arc::new(AtomicBool::new(false));
        for signal in [SIGINT, SIGTERM] {
            let status = 128 + signal;
            // Registered first, so that it sees `again` before the second handler sets it.
            flag::register_conditional_shutdown(signal, status, Arc::clone(&again))
                .and_then(|_| flag::register(signal, Arc::clone(&again)))
                .and_then(|_| flag::register_usize(signal, Arc::clone(&received), signal as usize))
                .context("cannot watch for SIGINT and SIGTERM")?;
        }
        Ok(Self { received })
    }

    /// The interruption to stop with, if a signal came.
    pub fn stop(&self) -> Option<Interrupted> {
        self.received().map(|(signal, name)| Interrupted {
            signal,
            name,
            message: format!("interrupted by {name}"),
        })
    }

    /// The signal received, if any, and its name.
    fn received(&self) -> Option<(i32, &'static str)> {
        match self.received.load(Ordering::SeqCst) {
            0 => None,
            n if n == signal_hook::consts::SIGTERM as usize => {
                Some((signal_hook::consts::SIGTERM, "SIGTERM"))
            }
            _ => Some((signal_hook::consts::SIGINT, "SIGINT")),
        }
    }
}

/// What the first pass learned.
struct Plan {
    /// Records to import.
    records: usize,
    /// Each record id's position among the records.
    index: HashMap<String, usize>,
    /// The hash of all of them.
    sha256: String,
    /// The import record whose stored records are the first ones of these, if any (the one
    /// with the most).
    continues: Option<usize>,
    /// The records as the first pass read them (with their line), when the source was small
    /// enough to keep them ([`CACHE_BYTES`]): the second pass then writes these instead of
    /// reading and parsing the source again.
    cache: Option<Vec<Cached>>,
}

/// A record the first pass kept: its line, the record, and the hash of the records up to and
/// including it (what the import's progress records once it is stored).
struct Cached {
    at: usize,
    record: Record,
    hash: RecordHash,
}

/// The most source bytes whose parsed records the first pass keeps for the second (the
/// records take about half as much memory as their JSON: 512 MiB of JSON Lines with
/// 384-float embeddings is about 140,000 records in about 220 MB).
const CACHE_BYTES: usize = 512 << 20;

/// What an import did, as `--json` prints it.
#[derive(Serialize)]
struct Summary {
    source: String,
    /// Memories this run stored.
    memories: usize,
    /// Associations this run stored.
    associations: usize,
    /// Links to records beyond `--limit`, not stored.
    skipped_links: usize,
    first_id: Option<u64>,
    last_id: Option<u64>,
    seconds: f64,
    /// Records of the source, up to `--limit`.
    records: usize,
    /// Records an earlier import had stored, which this run continued after.
    resumed_after: usize,
    /// Records stored now, by this run and the earlier ones.
    committed: usize,
    /// Whether every record is stored.
    complete: bool,
    /// Texts this run stored that were longer than the embedder reads (embedded from their
    /// beginning only).
    truncated: usize,
    /// The store property that records this import's progress.
    import: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    interrupted: Option<&'static str>,
}

/// Where an import writes: a store opened here ([`LocalStore`]) or a space of a running
/// server (`client::RemoteSpace`). Everything else (the checks, resuming, links, progress,
/// signals, messages) is written once, over this.
pub trait Target {
    /// The command-line words that name it, in the command that continues an import:
    /// `--db PATH`, or `--server URL --space NAME`.
    fn words(&self) -> Vec<String>;
    /// What its messages call it: "store", or "space" for a server's.
    fn noun(&self) -> &'static str;
    /// A directory for the copy of standard input or a pipe.
    fn spool_dir(&self) -> PathBuf;
    /// Its embedding dimension.
    fn dimension(&self) -> usize;
    /// Its text embedder, if it has one.
    fn embedder(&self) -> Option<&Embedder>;
    /// Every import record it holds, by key.
    fn imports(&mut self) -> Result<Vec<(String, Progress)>>;
    /// Writes `batch` in one transaction, with its import's record completed by the ids its
    /// memories get ([`progress::write_batch`]); those ids, and which texts were truncated.
    /// `embedded(n)` may be called as the first `n` of the batch's memories are embedded,
    /// before the transaction (for the progress bar).
    fn write(&mut self, batch: Batch, embedded: &dyn Fn(usize)) -> Result<Written, BatchFailure>;
}

/// What a [`Target`] stored of a batch.
pub struct Written {
    /// The ids its memories got, in order.
    pub ids: Vec<MemoryId>,
    /// The positions (in the batch) of the memories whose texts were longer than the embedder
    /// reads, embedded from their beginning only.
    pub truncated: Vec<usize>,
}

/// One transaction of an import.
pub struct Batch {
    /// The records to remember, checked, without their links.
    pub memories: Vec<Record>,
    /// Associations among them ([`MemoryRef::New`]) and records stored before
    /// ([`MemoryRef::Existing`]), with their weights.
    pub associations: Vec<(MemoryRef, MemoryRef, f32)>,
    /// The import's record's key.
    pub key: String,
    /// The record after this batch, but for its memories' ids.
    pub progress: Progress,
    /// What the record said before it (`None` before the import's first batch).
    pub previous: Option<Stored>,
}

/// Why a batch was not stored (nothing of it was).
pub enum BatchFailure {
    /// Item `index` was refused (the memories first, then the associations).
    Item {
        /// The item's position.
        index: usize,
        /// Why.
        message: String,
    },
    /// Anything else, said in full.
    Other(anyhow::Error),
}

/// A store file, opened here.
pub struct LocalStore {
    engram: Engram,
    db: PathBuf,
    embedder: Option<Embedder>,
}

impl LocalStore {
    /// Opens `db` for writing.
    pub fn open(db: &Path) -> Result<Self> {
        let engram = store::open(db, store::Access::Write)?;
        let embedder = store::embedder(&engram)?;
        Ok(Self {
            engram,
            db: db.to_owned(),
            embedder,
        })
    }
}

impl Target for LocalStore {
    fn words(&self) -> Vec<String> {
        vec![
            "--db".to_owned(),
            shell_word(&self.db.display().to_string()),
        ]
    }

    fn noun(&self) -> &'static str {
        "store"
    }

    fn spool_dir(&self) -> PathBuf {
        match self.db.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
            _ => PathBuf::from("."),
        }
    }

    fn dimension(&self) -> usize {
        self.engram.dimension()
    }

    fn embedder(&self) -> Option<&Embedder> {
        self.embedder.as_ref()
    }

    fn imports(&mut self) -> Result<Vec<(String, Progress)>> {
        progress::load(&self.engram)
    }

    fn write(
        &mut self,
        mut batch: Batch,
        embedded: &dyn Fn(usize),
    ) -> Result<Written, BatchFailure> {
        let now = engram_graph::unix_now();
        let memories = batch.memories.len();
        let truncated = embed_records(&mut batch.memories, self.embedder.as_ref(), embedded)
            .map_err(|failure| match failure.record {
                Some(index) => BatchFailure::Item {
                    index,
                    message: failure.error.to_string(),
                },
                None => BatchFailure::Other(anyhow!("{}", failure.error)),
            })?;
        let mut write = WriteBatch::new();
        for (index, record) in batch.memories.into_iter().enumerate() {
            let memory = new_memory(record, now).map_err(|e| BatchFailure::Item {
                index,
                message: format!("{e:#}"),
            })?;
            write.remember(memory);
        }
        for (from, to, weight) in batch.associations {
            write.associate(from, to, weight);
        }
        progress::write_batch(
            &self.engram,
            write,
            memories,
            &batch.key,
            &batch.progress,
            batch.previous.as_ref(),
        )
        .map(|(ids, _)| Written { ids, truncated })
        .map_err(|failure| match failure {
            BatchError::Engine(engram_graph::Error::InBatch { index, source }) => {
                BatchFailure::Item {
                    index,
                    message: source.to_string(),
                }
            }
            BatchError::Engine(error) => BatchFailure::Other(engine_error(error, &self.db)),
            BatchError::Changed(problem) | BatchError::Invalid(problem) => {
                BatchFailure::Other(anyhow!("{problem}"))
            }
        })
    }
}

/// What is wrong with the arguments, before anything is opened.
pub fn check_args(args: &ImportArgs) -> Result<()> {
    if args.batch == 0 {
        bail!("--batch must be at least 1");
    }
    Ok(())
}

/// `engram import` into the store file `db`.
pub fn run_local(db: &Path, args: &ImportArgs, json: bool) -> Result<()> {
    check_args(args)?;
    let signals = Signals::watch()?;
    run(&mut LocalStore::open(db)?, &signals, args, json)
}

/// `engram import` into `target`, with `signals` watched since before it was opened.
pub fn run(
    target: &mut dyn Target,
    signals: &Signals,
    args: &ImportArgs,
    json: bool,
) -> Result<()> {
    check_args(args)?;
    let started = Instant::now();
    let limit = args.limit.unwrap_or(usize::MAX);
    let before_writing = || {
        signals.stop().map(|stop| {
            anyhow::Error::new(Interrupted {
                message: format!(
                    "{} before it wrote anything; run the same command again to import",
                    stop.message
                ),
                ..stop
            })
        })
    };
    let source = Source::open(
        &args.path,
        args.format,
        limit,
        &target.spool_dir(),
        &before_writing,
    )?;
    let imports = target.imports()?;
    let mut plan = check(
        &source,
        limit,
        target.dimension(),
        target.embedder(),
        &imports,
        &before_writing,
    )?;

    let continued = plan.continues.filter(|_| !args.again);
    let (key, progress) = match continued {
        Some(i) => {
            let (key, progress) = imports[i].clone();
            progress::check(&key, &progress)?;
            (key, progress)
        }
        None => {
            if !args.again
                && let Some((_, other)) = imports.iter().find(|(_, p)| p.source == source.name())
            {
                output::note(&format!(
                    "engram: note: this {} holds an earlier import from {} that these records do not continue ({}); importing them as a new import",
                    target.noun(),
                    other.source,
                    other.describe()
                ));
            }
            (
                progress::new_key(&imports),
                Progress::new(source.name(), plan.records),
            )
        }
    };
    let resumed_after = progress.records;
    let mut summary = Summary {
        source: source.name(),
        memories: 0,
        associations: 0,
        skipped_links: 0,
        first_id: None,
        last_id: None,
        seconds: 0.0,
        records: plan.records,
        resumed_after,
        committed: resumed_after,
        complete: resumed_after == plan.records,
        truncated: 0,
        import: key.clone(),
        error: None,
        interrupted: None,
    };
    if resumed_after > 0 && !summary.complete {
        output::note(&format!(
            "engram: resuming the import of {} after the {} records stored before ({}); importing the other {}",
            source.name(),
            resumed_after,
            progress.stored(),
            plan.records - resumed_after
        ));
    }
    let result = if summary.complete {
        Ok(())
    } else {
        let cache = plan.cache.take();
        let words = target.words();
        let stored = (progress.records > 0).then(|| progress.stored_records());
        let mut writer = Writer {
            target,
            source: &source,
            plan: &plan,
            key: &key,
            progress,
            stored,
            summary: &mut summary,
            signals,
            cache,
            truncated_at: Vec::new(),
        };
        let result = writer.write(args.batch, limit, json);
        let (progress, truncated_at) = (writer.progress, writer.truncated_at);
        if let Some(embedder) = target.embedder() {
            note_truncated(embedder, source.unit(), &truncated_at);
        }
        result.map_err(|failure| stopped(failure, &words, args, &source, &progress))
    };
    summary.seconds = started.elapsed().as_secs_f64();
    if let Err(error) = &result {
        summary.error = Some(format!("{error:#}"));
        summary.interrupted = error.downcast_ref::<Interrupted>().map(|i| i.name);
        if json {
            // The JSON of what was committed; the error itself goes to standard error.
            output::json(&summary)?;
        }
        return result;
    }
    if json {
        return output::json(&summary);
    }
    output::text(&(describe(&summary, target.noun()) + "\n"))
}

/// Says which texts were embedded from their beginning only: how many, and the first lines.
fn note_truncated(embedder: &Embedder, unit: &str, at: &[usize]) {
    if at.is_empty() {
        return;
    }
    let shown: Vec<String> = at.iter().take(MAX_REPORTED).map(usize::to_string).collect();
    let more = if at.len() > MAX_REPORTED { ", ..." } else { "" };
    let what = if at.len() == 1 {
        "1 text is".to_owned()
    } else {
        format!("{} texts are", at.len())
    };
    output::note(&format!(
        "{} ({unit}{} {}{more})",
        store::truncated_note(embedder, &what),
        if at.len() == 1 { "" } else { "s" },
        shown.join(", ")
    ));
}

/// The text summary of an import that finished into a `noun` ([`Target::noun`]).
fn describe(summary: &Summary, noun: &str) -> String {
    if summary.memories == 0 && summary.resumed_after > 0 {
        return format!(
            "{} is already imported into this {noun} ({} records, import {}); nothing to do (--again imports it once more)",
            summary.source, summary.resumed_after, summary.import
        );
    }
    let mut text = format!(
        "imported {} memories and {} associations from {} in {:.1} s",
        summary.memories, summary.associations, summary.source, summary.seconds
    );
    if let (Some(first), Some(last)) = (summary.first_id, summary.last_id) {
        text.push_str(&format!(" (ids {first}..={last})"));
    }
    if summary.resumed_after > 0 {
        text.push_str(&format!(
            ", after the {} records imported before; all {} are now imported",
            summary.resumed_after, summary.records
        ));
    }
    if summary.skipped_links > 0 {
        text.push_str(&format!(
            "; skipped {} links to records beyond --limit",
            summary.skipped_links
        ));
    }
    text
}

/// A word for a shell command line, quoted if it needs to be.
pub fn shell_word(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./:=@%+,".contains(&b));
    if plain {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// The command that continues this import.
fn resume_command(target: &[String], args: &ImportArgs) -> String {
    let mut words = vec!["engram".to_owned()];
    words.extend(target.iter().cloned());
    words.push("import".to_owned());
    words.push(shell_word(&args.path.display().to_string()));
    match args.format {
        ImportFormat::Auto => {}
        ImportFormat::Jsonl => words.push("--format jsonl".into()),
        ImportFormat::Wordnet => words.push("--format wordnet".into()),
    }
    if args.batch != DEFAULT_BATCH {
        words.push(format!("--batch {}", args.batch));
    }
    if let Some(limit) = args.limit {
        words.push(format!("--limit {limit}"));
    }
    words.join(" ")
}

/// A failed or interrupted second pass as the error the user sees: what went wrong, what is
/// committed, how to continue.
fn stopped(
    failure: anyhow::Error,
    target: &[String],
    args: &ImportArgs,
    source: &Source,
    progress: &Progress,
) -> anyhow::Error {
    let how = if args.path.as_os_str() == "-" {
        format!(
            "give the same input to `{}` again to continue after them",
            resume_command(target, args)
        )
    } else {
        format!(
            "run `{}` again to continue after them",
            resume_command(target, args)
        )
    };
    let committed = if progress.records == 0 {
        format!("nothing of {} was stored", source.name())
    } else {
        format!(
            "stored before it stopped: {} of {}",
            progress.describe(),
            source.name()
        )
    };
    match failure.downcast::<Interrupted>() {
        Ok(interrupted) => anyhow::Error::new(Interrupted {
            message: format!("{}; {committed}; {how}", interrupted.message),
            ..interrupted
        }),
        Err(failure) => anyhow!("{failure:#}; {committed}; {how}"),
    }
}

/// The first pass: every record checked, nothing written; and whether an import recorded in
/// the store stored the first of these records already.
fn check(
    source: &Source,
    limit: usize,
    dim: usize,
    embedder: Option<&Embedder>,
    imports: &[(String, Progress)],
    interrupted: &dyn Fn() -> Option<anyhow::Error>,
) -> Result<Plan> {
    let unit = source.unit();
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut lines: Vec<usize> = Vec::new();
    let mut targets: Vec<(usize, String)> = Vec::new();
    let mut bad: Vec<(usize, String)> = Vec::new();
    let mut hash = RecordHash::default();
    let mut continues: Option<usize> = None;
    let mut cache: Option<Vec<Cached>> = Some(Vec::new());
    let mut cached_bytes = 0usize;
    for (records, item) in source.items(limit)?.enumerate() {
        if let Some(interruption) = interrupted() {
            return Err(interruption);
        }
        hash.add(&item.bytes);
        let at = item.at;
        cached_bytes += item.bytes.len();
        if cached_bytes > CACHE_BYTES {
            cache = None;
        }
        let problem = item.record.and_then(|record| {
            if let Some(id) = &record.id {
                let key = id.key();
                if let Some(&first) = index.get(&key) {
                    return Err(format!("id {key:?} is already used on {unit} {}", lines[first]));
                }
                index.insert(key, records);
            }
            lines.push(at);
            let mut linked = std::collections::HashSet::new();
            for link in &record.links {
                let to = link.to.key();
                if record.id.as_ref().is_some_and(|id| id.key() == to) {
                    return Err(format!("links to itself (id {to:?})"));
                }
                if !linked.insert(to.clone()) {
                    return Err(format!(
                        "links to id {to:?} twice; a record may link to an id once (5 and \"5\" are one id)"
                    ));
                }
                targets.push((at, to));
            }
            check_record(&record, dim, embedder)?;
            Ok(record)
        });
        match (&mut cache, problem) {
            (Some(cache), Ok(record)) => cache.push(Cached {
                at,
                record,
                hash: hash.clone(),
            }),
            (_, Ok(_)) => {}
            (_, Err(problem)) => {
                if lines.len() == records {
                    lines.push(at);
                }
                bad.push((at, problem));
            }
        }
        // Does an earlier import end here, with exactly these records?
        let count = records + 1;
        let mut digest = None;
        for (i, (_, progress)) in imports.iter().enumerate() {
            if progress.records == count
                && *digest.get_or_insert_with(|| hash.hex()) == progress.sha256
            {
                continues = Some(i);
            }
        }
    }
    // With --limit, links past the limit are dropped on purpose; without, they are mistakes.
    if limit == usize::MAX {
        for (at, target) in targets {
            if !index.contains_key(&target) {
                bad.push((at, format!("links to id {target:?}, which no record has")));
            }
        }
    }
    if bad.is_empty() {
        return Ok(Plan {
            records: lines.len(),
            index,
            sha256: hash.hex(),
            continues,
            cache,
        });
    }
    bad.sort_by_key(|(at, _)| *at);
    for (at, problem) in bad.iter().take(MAX_REPORTED) {
        output::note(&format!("{}: {unit} {at}: {problem}", source.name()));
    }
    if bad.len() > MAX_REPORTED {
        output::note(&format!("... and {} more", bad.len() - MAX_REPORTED));
    }
    bail!(
        "{} bad {unit}{} in {} (listed above); nothing was imported. Fix {} and import again",
        bad.len(),
        if bad.len() == 1 { "" } else { "s" },
        source.name(),
        if bad.len() == 1 { "it" } else { "them" },
    )
}

/// What is wrong with one record, if anything: the engine's own rules
/// ([`engram_graph::check_embedding`], [`engram_graph::check_strength`], [`engram_graph::check_weight`],
/// [`engram_graph::check_time`]) plus what the import adds (something to embed, readable times).
pub fn check_record(
    record: &Record,
    dim: usize,
    embedder: Option<&Embedder>,
) -> Result<(), String> {
    let engine_rule = |result: engram_graph::Result<()>| result.map_err(|e| e.to_string());
    match (&record.embedding, &record.text, embedder) {
        (Some(embedding), _, _) => engine_rule(engram_graph::check_embedding(embedding, dim))?,
        (None, Some(text), Some(embedder)) => {
            if embedder.check_text(text).is_err() {
                return Err(format!(
                    "text has nothing {} can embed, and there is no embedding",
                    embedder.name()
                ));
            }
        }
        (None, Some(_), None) => {
            return Err(
                "no embedding, and this store has no text embedder (created with --embedder none)"
                    .into(),
            );
        }
        (None, None, _) => return Err("needs a \"text\" or an \"embedding\"".into()),
    }
    if let Some(strength) = record.strength {
        engine_rule(engram_graph::check_strength(strength))?;
    }
    for time in [&record.time, &record.created].into_iter().flatten() {
        time.seconds().map_err(|e| e.to_string())?;
    }
    for link in &record.links {
        engine_rule(engram_graph::check_weight(
            link.weight.unwrap_or(DEFAULT_LINK_WEIGHT),
        ))
        .map_err(|e| format!("link to {:?}: {e}", link.to.key()))?;
    }
    Ok(())
}

/// Why the texts of some records could not be embedded ([`embed_records`]).
#[derive(Debug)]
pub struct EmbedFailure {
    /// The record whose text it was, or `None` if no record is to blame (a model that cannot
    /// be loaded).
    pub record: Option<usize>,
    /// The embedder's error.
    pub error: engram_text::Error,
}

/// Texts embedded together between two calls of [`embed_records`]' `embedded`: large enough
/// for `minilm-l6-v2`'s batches (32) to pad little once sorted by length, small enough that a
/// progress bar moves every second or so.
const EMBED_CHUNK: usize = 256;

/// Embeds the text of every record that has no embedding (together, which `minilm-l6-v2` does
/// many times faster than one by one) and stores the vector in it; the positions of the
/// records whose texts were longer than the embedder reads. `embedded(n)` is called as the
/// first `n` records are done. Records with an embedding, and all records when there is no
/// embedder, are left as they are ([`check_record`] refuses a text without one).
pub fn embed_records(
    records: &mut [Record],
    embedder: Option<&Embedder>,
    embedded: &dyn Fn(usize),
) -> Result<Vec<usize>, EmbedFailure> {
    let Some(embedder) = embedder else {
        return Ok(Vec::new());
    };
    let positions: Vec<usize> = (0..records.len())
        .filter(|&i| records[i].embedding.is_none() && records[i].text.is_some())
        .collect();
    let mut truncated = Vec::new();
    for chunk in positions.chunks(EMBED_CHUNK) {
        let texts: Vec<&str> = chunk
            .iter()
            .map(|&i| records[i].text.as_deref().unwrap_or_default())
            .collect();
        let done = embedder.embed_batch(&texts).map_err(|error| match error {
            engram_text::Error::InBatch { index, source } => EmbedFailure {
                record: chunk.get(index).copied(),
                error: *source,
            },
            error => EmbedFailure {
                record: None,
                error,
            },
        })?;
        truncated.extend(done.truncated.iter().map(|&j| chunk[j]));
        for (&i, vector) in chunk.iter().zip(done.vectors) {
            records[i].embedding = Some(vector);
        }
        if let Some(&last) = chunk.last() {
            embedded(last + 1);
        }
    }
    Ok(truncated)
}

/// The memory a checked record becomes, once its text is embedded ([`embed_records`]).
pub fn new_memory(record: Record, now: i64) -> Result<NewMemory> {
    let Some(embedding) = record.embedding else {
        bail!(
            "internal error (this is a bug in engram): a record reached the store without its embedding"
        );
    };
    let time = record.time.as_ref().map(TimeValue::seconds).transpose()?;
    let created = record
        .created
        .as_ref()
        .map(TimeValue::seconds)
        .transpose()?;
    let mut memory = NewMemory::new(embedding)
        .with_strength(record.strength.unwrap_or(NewMemory::DEFAULT_STRENGTH))
        .created_at(created.or(time).unwrap_or(now))
        .last_accessed_at(time.or(created).unwrap_or(now));
    if let Some(text) = record.text {
        memory = memory.with_content(text);
    }
    Ok(memory)
}

/// The second pass.
struct Writer<'a> {
    target: &'a mut dyn Target,
    source: &'a Source,
    plan: &'a Plan,
    key: &'a str,
    /// What is committed, as the store records it.
    progress: Progress,
    /// What the store's record says, for the next batch to check (`None` while it has none).
    stored: Option<Stored>,
    summary: &'a mut Summary,
    signals: &'a Signals,
    /// The first pass's records, if it kept them: written instead of the source read again.
    cache: Option<Vec<Cached>>,
    /// The lines of the texts stored so far that were longer than the embedder reads.
    truncated_at: Vec<usize>,
}

/// A record of the batch being built: its line, and its links.
struct Pending {
    at: usize,
    links: Vec<Link>,
}

impl Writer<'_> {
    /// Writes the records after the stored ones in batches of `batch`, each with its links
    /// and the import's progress, stopping after a batch commits if a signal came.
    fn write(&mut self, batch: usize, limit: usize, quiet: bool) -> Result<()> {
        let unit = self.source.unit();
        // One time for the whole import: a record without one gets it here, as it would
        // from the store, so that a local and a server import store the same memories.
        let now = engram_graph::unix_now();
        let start = self.progress.records;
        let total = self.plan.records;
        self.progress.total = total;
        // Links from stored or earlier records to records not stored yet, by target.
        let mut waiting: HashMap<usize, Vec<(usize, f32)>> = HashMap::new();
        let mut hash = RecordHash::default();
        let bar = output::progress(total, "memories", quiet);
        bar.inc(start as u64);
        // The first pass's records if it kept them, with the hash after each (nothing to check
        // again: they are the records it checked), else the source read again and hashed.
        let mut items: Box<dyn Iterator<Item = (Item, Option<RecordHash>)>> =
            match self.cache.take() {
                Some(records) => Box::new(records.into_iter().map(|c| {
                    let item = Item {
                        at: c.at,
                        bytes: Vec::new(),
                        record: Ok(c.record),
                    };
                    (item, Some(c.hash))
                })),
                None => Box::new(self.source.items(limit)?.map(|item| (item, None))),
            };
        let mut items = items.by_ref().enumerate();
        let advance = |hash: &mut RecordHash, item: &Item, after: Option<RecordHash>| match after {
            Some(after) => *hash = after,
            None => hash.add(&item.bytes),
        };
        // The records before `start` are stored: only their links to later records matter.
        for (i, (item, after)) in items.by_ref().take(start) {
            advance(&mut hash, &item, after);
            let record = item.record.map_err(|e| changed(unit, item.at, &e))?;
            for link in record.links {
                if let Some(&j) = self.plan.index.get(&link.to.key())
                    && j >= start
                {
                    let weight = link.weight.unwrap_or(DEFAULT_LINK_WEIGHT);
                    waiting.entry(j).or_default().push((i, weight));
                }
            }
        }
        let mut first = start;
        while first < total {
            let end = total.min(first + batch);
            let mut memories = Vec::with_capacity(end - first);
            let mut associations = Vec::new();
            let mut records = Vec::with_capacity(end - first);
            for (_, (item, after)) in items.by_ref().take(end - first) {
                advance(&mut hash, &item, after);
                let mut record = item.record.map_err(|e| changed(unit, item.at, &e))?;
                records.push(Pending {
                    at: item.at,
                    links: std::mem::take(&mut record.links),
                });
                record.id = None;
                if record.time.is_none() && record.created.is_none() {
                    record.time = Some(TimeValue::Seconds(now));
                }
                memories.push(record);
            }
            if records.len() != end - first {
                bail!(
                    "{} ended early: the source changed during the import",
                    self.source.name()
                );
            }
            // The line of each batch item, to name the line of a rejected item.
            let mut item_at: Vec<usize> = records.iter().map(|r| r.at).collect();
            let mut links = 0;
            for (offset, record) in records.iter().enumerate() {
                let i = first + offset;
                for link in &record.links {
                    let weight = link.weight.unwrap_or(DEFAULT_LINK_WEIGHT);
                    match self.plan.index.get(&link.to.key()) {
                        None => self.summary.skipped_links += 1,
                        Some(&j) if j < end => {
                            associations.push((self.end(i, first)?, self.end(j, first)?, weight));
                            item_at.push(record.at);
                            links += 1;
                        }
                        Some(&j) => waiting.entry(j).or_default().push((i, weight)),
                    }
                }
                for (k, weight) in waiting.remove(&i).unwrap_or_default() {
                    associations.push((self.end(k, first)?, self.end(i, first)?, weight));
                    item_at.push(record.at);
                    links += 1;
                }
            }
            let mut next = self.progress.clone();
            next.records = end;
            next.sha256 = hash.hex();
            next.associations += links;
            next.updated = engram_graph::unix_now();
            let count = memories.len();
            let batch = Batch {
                memories,
                associations,
                key: self.key.to_owned(),
                progress: next.clone(),
                previous: self.stored.clone(),
            };
            let embedded = |n: usize| bar.set_position((first + n) as u64);
            let written = self.target.write(batch, &embedded);
            let Written { ids, truncated } = written.map_err(|failure| match failure {
                BatchFailure::Item { index, message } => anyhow!(
                    "{unit} {}: {message}",
                    item_at.get(index).copied().unwrap_or(0)
                ),
                BatchFailure::Other(error) => error,
            })?;
            let first_id = match ids.first() {
                Some(&id) if ids.len() == count => id,
                _ => bail!(
                    "internal error (this is a bug in engram): a batch of {count} memories got {} ids",
                    ids.len()
                ),
            };
            // What the target stored: the same record, with these ids.
            next.push(first, first_id, count);
            self.stored = Some(next.stored_records());
            self.progress = next;
            self.summary.memories += ids.len();
            self.summary.associations += links;
            self.summary.truncated += truncated.len();
            self.truncated_at
                .extend(truncated.iter().filter_map(|&i| item_at.get(i)));
            self.summary.committed = end;
            self.summary.complete = end == total;
            self.summary.first_id = self.summary.first_id.or(Some(first_id.get()));
            self.summary.last_id = ids.last().map(|id| id.get());
            bar.set_position(end as u64);
            first = end;
            if let Some(stop) = self.signals.stop()
                && first < total
            {
                bar.finish_and_clear();
                return Err(stop.into());
            }
        }
        bar.finish_and_clear();
        if !waiting.is_empty() || hash.hex() != self.plan.sha256 {
            bail!(
                "{} changed during the import: its records are not the ones checked first",
                self.source.name()
            );
        }
        Ok(())
    }

    /// The batch reference of record `index`: stored before the batch starting at `first`,
    /// or in it.
    fn end(&self, index: usize, first: usize) -> Result<MemoryRef> {
        if index >= first {
            return Ok(MemoryRef::New(index - first));
        }
        self.progress
            .id_of(index)
            .map(MemoryRef::Existing)
            .ok_or_else(|| anyhow!("internal error (this is a bug in engram): record {index} is stored without an id"))
    }
}

/// A record that read well in the first pass and not in the second.
fn changed(unit: &str, at: usize, problem: &str) -> anyhow::Error {
    anyhow!("{unit} {at}: {problem} (the source changed during the import?)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_numbers_parse_as_serde_would_and_anything_else_is_left_to_it() {
        for text in [
            "[]",
            "[ ]",
            "[0]",
            "[-0.5, 1e-3,2E+2 , 3.25e1]",
            " [1,\n2]\r",
        ] {
            let serde: Vec<f32> = serde_json::from_str(text).expect("json");
            assert_eq!(json_floats(text), Some(serde), "{text:?}");
        }
        for text in [
            "[1,]", "[,1]", "[01]", "[1.]", "[.5]", "[+1]", "[inf]", "[NaN]", "[1e]", "[\"1\"]",
            "[[1]]", "1", "[1 2]", "[-]",
        ] {
            assert_eq!(json_floats(text), None, "{text:?}");
        }
        // Correctly rounded: the shortest representation `export` writes reads back exactly.
        for x in [0.1f32, 1.0 / 3.0, f32::MIN_POSITIVE, f32::MAX, -123.456] {
            assert_eq!(json_floats(&format!("[{x:?}]")), Some(vec![x]));
        }
    }

    #[test]
    fn a_bad_embedding_is_reported_as_serde_json_reports_it() {
        let record: Result<Record, _> =
            serde_json::from_str(r#"{"text": "x", "embedding": [1, "two"]}"#);
        let message = record.expect_err("a string").to_string();
        assert!(message.contains("expected f32"), "{message}");
        let record: Record =
            serde_json::from_str(r#"{"embedding": null}"#).expect("null is no embedding");
        assert_eq!(record.embedding, None);
    }
}
