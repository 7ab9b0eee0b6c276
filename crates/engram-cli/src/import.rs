//! `engram import`: JSON Lines or WordNet into the store.
//!
//! Two passes. The first reads every record and checks everything that can be checked without
//! writing (JSON, dimension, finite numbers, ranges, times, duplicate ids, link targets, text
//! the embedder can embed); if any record is bad, each bad one is reported with its line and
//! **nothing is imported**. The second pass writes memories in batches of `--batch` records,
//! one transaction each, with the links whose targets are already stored or in the same batch;
//! links to later records are written after the last batch, again in batches.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};
use engram::{Engram, MemoryId, MemoryRef, NewMemory, WriteBatch};
use engram_text::HashEmbedder;
use serde::{Deserialize, Serialize};

use crate::cli::{ImportArgs, ImportFormat};
use crate::output;
use crate::store::{self, engine_error};
use crate::wordnet;

/// Weight of a link that does not give one.
pub const DEFAULT_LINK_WEIGHT: f32 = 0.5;
/// Bad records reported before the rest are only counted.
const MAX_REPORTED: usize = 10;

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
    /// The embedding (the store's dimension, finite numbers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
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
    /// Associations from this record.
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

/// A record id in a file: a string or a non-negative integer.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum FileId {
    /// An integer id.
    Number(u64),
    /// A string id.
    Text(String),
}

impl FileId {
    /// The id's canonical form, so that `5` and `"5"` are one id.
    fn key(&self) -> String {
        match self {
            FileId::Number(n) => n.to_string(),
            FileId::Text(t) => t.clone(),
        }
    }
}

/// A time: Unix seconds or an RFC 3339 string.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TimeValue {
    /// Unix seconds.
    Seconds(i64),
    /// RFC 3339, e.g. `2026-11-22T10:00:00Z`.
    Text(String),
}

impl TimeValue {
    fn seconds(&self) -> Result<i64> {
        match self {
            TimeValue::Seconds(s) => Ok(*s),
            TimeValue::Text(t) => store::parse_time(t),
        }
    }
}

/// Where the records come from.
enum Source {
    Jsonl(std::path::PathBuf),
    Records { name: String, records: Vec<Record> },
}

/// A record with where it is (a line of a file, or the n-th generated record), or why it
/// could not be read.
type Located = (usize, Result<Record, String>);

impl Source {
    /// `line` for files, `record` for generated records.
    fn unit(&self) -> &'static str {
        match self {
            Source::Jsonl(_) => "line",
            Source::Records { .. } => "record",
        }
    }

    fn name(&self) -> String {
        match self {
            Source::Jsonl(path) => path.display().to_string(),
            Source::Records { name, .. } => name.clone(),
        }
    }

    /// Every record in order, at most `limit`; blank lines are skipped.
    fn records(&self, limit: usize) -> Result<Box<dyn Iterator<Item = Located> + '_>> {
        match self {
            Source::Jsonl(path) => {
                let file =
                    File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
                let lines = BufReader::new(file)
                    .lines()
                    .enumerate()
                    .filter_map(|(i, line)| {
                        let number = i + 1;
                        match line {
                            Err(e) => Some((number, Err(format!("cannot read it: {e}")))),
                            Ok(line) if line.trim().is_empty() => None,
                            Ok(line) => Some((
                                number,
                                serde_json::from_str::<Record>(&line).map_err(|e| json_error(&e)),
                            )),
                        }
                    });
                Ok(Box::new(lines.take(limit)))
            }
            Source::Records { records, .. } => Ok(Box::new(
                records
                    .iter()
                    .cloned()
                    .enumerate()
                    .map(|(i, r)| (i + 1, Ok(r)))
                    .take(limit),
            )),
        }
    }
}

/// A JSON error within one line: its column, not serde's "line 1".
fn json_error(error: &serde_json::Error) -> String {
    let text = error.to_string();
    let suffix = format!(" at line {} column {}", error.line(), error.column());
    match text.strip_suffix(&suffix) {
        Some(message) => format!("{message} (column {})", error.column()),
        None => text,
    }
}

/// What the first pass learned.
struct Plan {
    records: usize,
    ids: HashSet<String>,
}

/// What an import did.
#[derive(Serialize)]
struct Summary {
    source: String,
    memories: usize,
    associations: usize,
    skipped_links: usize,
    first_id: Option<u64>,
    last_id: Option<u64>,
    seconds: f64,
}

/// `engram import`.
pub fn run(db: &Path, args: &ImportArgs, json: bool) -> Result<()> {
    if args.batch == 0 {
        bail!("--batch must be at least 1");
    }
    let engram = store::open(db)?;
    let embedder = store::embedder(&engram)?;
    let format = match args.format {
        ImportFormat::Auto if args.path.is_dir() => ImportFormat::Wordnet,
        ImportFormat::Auto => ImportFormat::Jsonl,
        other => other,
    };
    let started = Instant::now();
    let source = match format {
        ImportFormat::Wordnet => {
            let records = wordnet::read(&args.path)?;
            Source::Records {
                name: format!("WordNet at {}", args.path.display()),
                records,
            }
        }
        _ => {
            if !args.path.is_file() {
                bail!(
                    "{} is not a file (give a JSON Lines file, or a WordNet directory)",
                    args.path.display()
                );
            }
            Source::Jsonl(args.path.clone())
        }
    };
    let limit = args.limit.unwrap_or(usize::MAX);
    let plan = check(&source, limit, engram.dimension(), embedder.as_ref())?;
    let summary = write(&engram, db, &source, &plan, args, embedder.as_ref(), json)?;
    let summary = Summary {
        seconds: started.elapsed().as_secs_f64(),
        ..summary
    };
    if json {
        return output::json(&summary);
    }
    let mut text = format!(
        "imported {} memories and {} associations from {} in {:.1} s",
        summary.memories, summary.associations, summary.source, summary.seconds
    );
    if let (Some(first), Some(last)) = (summary.first_id, summary.last_id) {
        text.push_str(&format!(" (ids {first}..={last})"));
    }
    if summary.skipped_links > 0 {
        text.push_str(&format!(
            "; skipped {} links to records beyond --limit",
            summary.skipped_links
        ));
    }
    text.push('\n');
    output::text(&text)
}

/// The first pass: every record checked, nothing written.
fn check(
    source: &Source,
    limit: usize,
    dim: usize,
    embedder: Option<&HashEmbedder>,
) -> Result<Plan> {
    let unit = source.unit();
    let mut ids: HashMap<String, usize> = HashMap::new();
    let mut targets: Vec<(usize, String)> = Vec::new();
    let mut bad: Vec<(usize, String)> = Vec::new();
    let mut records = 0;
    for (at, record) in source.records(limit)? {
        records += 1;
        let problem = record.and_then(|record| {
            if let Some(id) = &record.id {
                let key = id.key();
                if let Some(first) = ids.get(&key) {
                    return Err(format!("id {key:?} is already used on {unit} {first}"));
                }
                ids.insert(key, at);
            }
            for link in &record.links {
                if record
                    .id
                    .as_ref()
                    .is_some_and(|id| id.key() == link.to.key())
                {
                    return Err(format!("links to itself (id {:?})", link.to.key()));
                }
                targets.push((at, link.to.key()));
            }
            check_record(&record, dim, embedder)
        });
        if let Err(problem) = problem {
            bad.push((at, problem));
        }
    }
    // With --limit, links past the limit are dropped on purpose; without, they are mistakes.
    if limit == usize::MAX {
        for (at, target) in targets {
            if !ids.contains_key(&target) {
                bad.push((at, format!("links to id {target:?}, which no record has")));
            }
        }
    }
    if bad.is_empty() {
        return Ok(Plan {
            records,
            ids: ids.into_keys().collect(),
        });
    }
    bad.sort_by_key(|(at, _)| *at);
    for (at, problem) in bad.iter().take(MAX_REPORTED) {
        eprintln!("{}: {unit} {at}: {problem}", source.name());
    }
    if bad.len() > MAX_REPORTED {
        eprintln!("... and {} more", bad.len() - MAX_REPORTED);
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
/// ([`engram::check_embedding`], [`engram::check_strength`], [`engram::check_weight`]) plus
/// what the import adds (something to embed, readable times).
fn check_record(
    record: &Record,
    dim: usize,
    embedder: Option<&HashEmbedder>,
) -> Result<(), String> {
    let engine_rule = |result: engram::Result<()>| result.map_err(|e| e.to_string());
    match (&record.embedding, &record.text, embedder) {
        (Some(embedding), _, _) => engine_rule(engram::check_embedding(embedding, dim))?,
        (None, Some(text), Some(_)) => {
            if engram_text::words(text).is_empty() {
                return Err("text has no words to embed, and there is no embedding".into());
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
        engine_rule(engram::check_strength(strength))?;
    }
    for time in [&record.time, &record.created].into_iter().flatten() {
        time.seconds().map_err(|e| e.to_string())?;
    }
    for link in &record.links {
        engine_rule(engram::check_weight(
            link.weight.unwrap_or(DEFAULT_LINK_WEIGHT),
        ))
        .map_err(|e| format!("link to {:?}: {e}", link.to.key()))?;
    }
    Ok(())
}

/// The memory a checked record becomes.
fn new_memory(record: Record, embedder: Option<&HashEmbedder>, now: i64) -> Result<NewMemory> {
    let embedding = match (record.embedding, &record.text, embedder) {
        (Some(embedding), _, _) => embedding,
        (None, Some(text), Some(embedder)) => embedder.embed(text)?,
        _ => bail!("record has neither an embedding nor text to embed"),
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

/// The second pass: batches of records (with the links they can already make), then the links
/// to later records.
fn write(
    engram: &Engram,
    db: &Path,
    source: &Source,
    plan: &Plan,
    args: &ImportArgs,
    embedder: Option<&HashEmbedder>,
    quiet: bool,
) -> Result<Summary> {
    let unit = source.unit();
    let now = engram::unix_now();
    let mut stored: HashMap<String, MemoryId> = HashMap::with_capacity(plan.ids.len());
    let mut later: Vec<(MemoryId, String, f32)> = Vec::new();
    let mut summary = Summary {
        source: source.name(),
        memories: 0,
        associations: 0,
        skipped_links: 0,
        first_id: None,
        last_id: None,
        seconds: 0.0,
    };
    let bar = output::progress(plan.records, "memories", quiet);
    let mut records = source.records(args.limit.unwrap_or(usize::MAX))?.peekable();
    while records.peek().is_some() {
        let chunk: Vec<(usize, Record)> = records
            .by_ref()
            .take(args.batch)
            .map(|(at, r)| r.map(|r| (at, r)).map_err(|e| anyhow!("{unit} {at}: {e}")))
            .collect::<Result<_>>()?;
        let mut batch = WriteBatch::new();
        // The line of each batch item, to name the line of a rejected item.
        let mut item_at = Vec::new();
        let mut in_batch: HashMap<String, usize> = HashMap::new();
        let mut links = Vec::new();
        for (i, (at, mut record)) in chunk.into_iter().enumerate() {
            if let Some(id) = &record.id {
                in_batch.insert(id.key(), i);
            }
            links.push((at, i, std::mem::take(&mut record.links)));
            batch.remember(
                new_memory(record, embedder, now).with_context(|| format!("{unit} {at}"))?,
            );
            item_at.push(at);
        }
        let mut pending = Vec::new();
        for (at, i, record_links) in links {
            for link in record_links {
                let key = link.to.key();
                let weight = link.weight.unwrap_or(DEFAULT_LINK_WEIGHT);
                let target = match (stored.get(&key), in_batch.get(&key)) {
                    (Some(&id), _) => MemoryRef::Existing(id),
                    (None, Some(&j)) => MemoryRef::New(j),
                    (None, None) if plan.ids.contains(&key) => {
                        pending.push((i, key, weight));
                        continue;
                    }
                    (None, None) => {
                        summary.skipped_links += 1;
                        continue;
                    }
                };
                batch.associate(MemoryRef::New(i), target, weight);
                item_at.push(at);
                summary.associations += 1;
            }
        }
        let ids = engram.write(&batch).map_err(|error| match error {
            engram::Error::InBatch { index, source } => anyhow!(
                "{unit} {}: {source}; the records before this batch ({} memories) are imported, this batch and the rest are not",
                item_at.get(index).copied().unwrap_or(0),
                summary.memories
            ),
            other => engine_error(other, db),
        })?;
        for (key, &i) in &in_batch {
            if let Some(&id) = ids.get(i) {
                stored.insert(key.clone(), id);
            }
        }
        for (i, key, weight) in pending {
            if let Some(&from) = ids.get(i) {
                later.push((from, key, weight));
            }
        }
        summary.memories += ids.len();
        summary.first_id = summary.first_id.or(ids.first().map(|id| id.get()));
        summary.last_id = ids.last().map(|id| id.get()).or(summary.last_id);
        bar.inc(ids.len() as u64);
    }
    bar.finish_and_clear();
    let bar = output::progress(later.len(), "associations", quiet || later.is_empty());
    // Links are small: several times as many per transaction as records.
    for chunk in later.chunks(args.batch.saturating_mul(8)) {
        let mut batch = WriteBatch::new();
        for (from, key, weight) in chunk {
            let to = stored
                .get(key)
                .ok_or_else(|| anyhow!("id {key:?} was checked but not stored"))?;
            batch.associate(*from, *to, *weight);
        }
        engram.write(&batch).map_err(|e| engine_error(e, db))?;
        summary.associations += chunk.len();
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    Ok(summary)
}
