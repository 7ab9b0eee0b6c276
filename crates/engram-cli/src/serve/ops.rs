//! What the server and the MCP tools do to a space, once their requests are parsed: each
//! function blocks (files, fsyncs, kernels), so callers run it on the blocking pool
//! ([`blocking`]) or, for the HTTP recall, on a worker while holding a recall permit
//! (`routes::recall`); each answers an [`ApiError`] for anything it refuses.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use axum::http::StatusCode;
use engram_graph::{MemoryId, MemoryRef, RecallParams, WriteBatch};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::error::ApiError;
use super::spaces::Space;
use crate::cli::{
    DEFAULT_HALF_LIFE, DecayArgs, PrecisionChoice, RECALL_ATTENUATION, RECALL_HOPS, RECALL_K,
    RECALL_LIMIT, RECALL_THRESHOLD,
};
use crate::import::{self, DEFAULT_LINK_WEIGHT, Record, TimeValue};
use crate::progress::{self, BatchError, Progress, Stored};
use crate::{commands, recall, store};

/// Runs `work` (which blocks: files, fsyncs, kernels) on the blocking pool. A panic in it is a
/// 500 for this request only.
pub async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ApiError::internal(format!("the request's worker failed: {e}")))?
}

/// What a write stored: the new ids, in order, and the positions of the texts longer than the
/// space's embedder reads (embedded from their beginning only; omitted when none were).
#[derive(Debug, Serialize)]
pub struct Written {
    /// The new memories' ids.
    pub ids: Vec<u64>,
    /// The truncated texts' positions.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub truncated: Vec<usize>,
}

/// Embeds the texts of `records` that have no embedding, all together; the truncated ones'
/// positions. A text that cannot be embedded is a 400 naming its record (`which`), and with
/// `at_item` its position in the batch.
fn embed(
    space: &Space,
    records: &mut [Record],
    which: impl Fn(usize) -> String,
    at_item: bool,
) -> Result<Vec<usize>, ApiError> {
    import::embed_records(records, space.embedder.as_ref(), &|_| {}).map_err(|failure| {
        let error = ApiError::embedder(&failure.error, &space.name);
        match failure.record {
            Some(i) if error.status == StatusCode::BAD_REQUEST => {
                let error = ApiError::bad_request(format!(
                    "{}cannot embed the text: {}",
                    which(i),
                    failure.error
                ));
                if at_item { error.at_item(i) } else { error }
            }
            _ => error,
        }
    })
}

/// Remembers `records` (checked first, all of them) in one transaction. A link's `to` is the
/// `id` of a record of the same call if one has it, else an existing memory's id.
pub fn write_records(space: &Space, mut records: Vec<Record>) -> Result<Written, ApiError> {
    let which = |i: usize, n: usize| {
        if n == 1 {
            String::new()
        } else {
            format!("memory {i} (from 0): ")
        }
    };
    let n = records.len();
    let dim = space.engram.dimension();
    let mut index: HashMap<String, usize> = HashMap::new();
    for (i, record) in records.iter().enumerate() {
        import::check_record(record, dim, space.embedder.as_ref())
            .map_err(|p| ApiError::bad_request(format!("{}{p}", which(i, n))))?;
        if let Some(id) = &record.id
            && index.insert(id.key(), i).is_some()
        {
            return Err(ApiError::bad_request(format!(
                "{}id {:?} is used by two memories of this request",
                which(i, n),
                id.key()
            )));
        }
    }
    let truncated = embed(space, &mut records, |i| which(i, n), false)?;
    let snapshot = space.engram.snapshot();
    let now = engram_graph::unix_now();
    let mut batch = WriteBatch::new();
    let mut refs = Vec::with_capacity(n);
    let mut links = Vec::with_capacity(n);
    for (i, record) in records.iter_mut().enumerate() {
        links.push(std::mem::take(&mut record.links));
        let memory = import::new_memory(std::mem::take(record), now)
            .map_err(|e| ApiError::bad_request(format!("{}{e:#}", which(i, n))))?;
        refs.push(batch.remember(memory));
    }
    for (i, links) in links.into_iter().enumerate() {
        let mut linked = HashSet::new();
        for link in links {
            let key = link.to.key();
            let target = match (index.get(&key), key.parse::<u64>()) {
                (Some(&j), _) if j == i => {
                    return Err(ApiError::bad_request(format!(
                        "{}links to itself (id {key:?})",
                        which(i, n)
                    )));
                }
                (Some(&j), _) => refs[j],
                (None, Ok(id)) if snapshot.contains(MemoryId::new(id)) => {
                    MemoryRef::Existing(MemoryId::new(id))
                }
                _ => {
                    return Err(ApiError::bad_request(format!(
                        "{}links to id {key:?}, which is neither the id of a memory in this request nor of one in space {:?}",
                        which(i, n),
                        space.name
                    )));
                }
            };
            // One target per key: a key names one memory.
            if !linked.insert(key.clone()) {
                return Err(ApiError::bad_request(format!(
                    "{}links to id {key:?} twice",
                    which(i, n)
                )));
            }
            batch.associate(refs[i], target, link.weight.unwrap_or(DEFAULT_LINK_WEIGHT));
        }
    }
    let ids = space
        .engram
        .write(&batch)
        .map_err(|e| ApiError::engine(e, &space.name))?;
    Ok(Written {
        ids: ids.into_iter().map(MemoryId::get).collect(),
        truncated,
    })
}

/// `POST /v1/spaces/{space}/batch`'s body: memories, associations among them and the space's
/// memories, and an import's record of progress, in one transaction. `engram --server URL
/// import` sends its batches this way.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchRequest {
    /// New memories, as records without `id` or `links` (default none).
    #[serde(default)]
    pub memories: Vec<Record>,
    /// Associations, in order, after the memories (default none).
    #[serde(default)]
    pub associations: Vec<BatchAssociation>,
    /// An import's record of progress to store with the batch.
    pub import: Option<ImportBatch>,
}

/// An association of a batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchAssociation {
    /// Where it starts.
    pub from: BatchEnd,
    /// Where it ends.
    pub to: BatchEnd,
    /// Weight in [-1, 1] (default [`DEFAULT_LINK_WEIGHT`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<f32>,
}

/// An end of a batch's association: `{"new": i}`, the batch's `i`-th memory (from 0), or
/// `{"id": n}`, a memory of the space.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum BatchEnd {
    /// The batch's `i`-th memory.
    New(usize),
    /// A memory of the space.
    Id(u64),
}

impl From<MemoryRef> for BatchEnd {
    fn from(end: MemoryRef) -> Self {
        match end {
            MemoryRef::New(i) => BatchEnd::New(i),
            MemoryRef::Existing(id) => BatchEnd::Id(id.get()),
        }
    }
}

/// An import's record of progress, as a batch stores it ([`progress::write_batch`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportBatch {
    /// `engram.import.N`.
    pub key: String,
    /// The record after this batch, but for the ids of its memories (the last records of
    /// it), which the server adds as they are given.
    pub progress: Progress,
    /// What the space's record `key` must say now: what the import stored last (absent
    /// before its first batch). Otherwise another import is writing these records, and
    /// nothing is stored (409 `import_changed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<Stored>,
}

/// An import record under its key, as `GET /v1/spaces/{space}/imports` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportRecord {
    /// `engram.import.N`.
    pub key: String,
    /// What the import stored.
    pub progress: Progress,
}

/// Writes a batch in one transaction; the new memories' ids. A rejected item's error says
/// which it is ([`ApiError::item`]).
pub fn write_batch(space: &Space, request: BatchRequest) -> Result<Written, ApiError> {
    let BatchRequest {
        mut memories,
        associations,
        import,
    } = request;
    if memories.is_empty() && associations.is_empty() && import.is_none() {
        return Err(ApiError::bad_request(
            "the batch holds nothing to write (memories, associations or import)",
        ));
    }
    let n = memories.len();
    let dim = space.engram.dimension();
    for (i, record) in memories.iter().enumerate() {
        let problem = if record.id.is_some() || !record.links.is_empty() {
            Err(
                "a batch's memories take no \"id\" or \"links\": give its associations in \"associations\", by position ({\"new\": i}) or by id ({\"id\": n})"
                    .to_owned(),
            )
        } else {
            import::check_record(record, dim, space.embedder.as_ref())
        };
        problem
            .map_err(|p| ApiError::bad_request(format!("memory {i} (from 0): {p}")).at_item(i))?;
    }
    if let Some(import) = &import {
        if !progress::is_key(&import.key) {
            return Err(ApiError::bad_request(format!(
                "import key {:?} is not {}N (N a number): a batch sets no other property",
                import.key.chars().take(80).collect::<String>(),
                progress::KEY_PREFIX
            )));
        }
        if import.progress.version != progress::VERSION {
            return Err(ApiError::bad_request(format!(
                "the import's progress has version {}; this server reads version {}",
                import.progress.version,
                progress::VERSION
            )));
        }
    }
    let truncated = embed(
        space,
        &mut memories,
        |i| format!("memory {i} (from 0): "),
        true,
    )?;
    let now = engram_graph::unix_now();
    let mut batch = WriteBatch::new();
    for (i, record) in memories.into_iter().enumerate() {
        let memory = import::new_memory(record, now)
            .map_err(|e| ApiError::bad_request(format!("memory {i} (from 0): {e:#}")).at_item(i))?;
        batch.remember(memory);
    }
    for (j, association) in associations.iter().enumerate() {
        let end = |end: BatchEnd| {
            match end {
            BatchEnd::New(i) if i < n => Ok(MemoryRef::New(i)),
            BatchEnd::New(i) => Err(ApiError::bad_request(format!(
                "association {j} (from 0): {{\"new\": {i}}} names no memory of this batch, which has {n}"
            ))
            .at_item(n + j)),
            BatchEnd::Id(id) => Ok(MemoryRef::Existing(MemoryId::new(id))),
        }
        };
        batch.associate(
            end(association.from)?,
            end(association.to)?,
            association.weight.unwrap_or(DEFAULT_LINK_WEIGHT),
        );
    }
    let engine = |error: engram_graph::Error| match error {
        engram_graph::Error::InBatch { index, .. } => {
            ApiError::engine(error, &space.name).at_item(index)
        }
        other => ApiError::engine(other, &space.name),
    };
    let ids = match &import {
        None => space.engram.write(&batch).map_err(engine)?,
        Some(import) => {
            let written = progress::write_batch(
                &space.engram,
                batch,
                n,
                &import.key,
                &import.progress,
                import.previous.as_ref(),
            );
            match written {
                Ok((ids, _)) => ids,
                Err(BatchError::Engine(error)) => return Err(engine(error)),
                Err(BatchError::Invalid(problem)) => {
                    return Err(ApiError::bad_request(format!(
                        "the import's progress: {problem}"
                    )));
                }
                Err(BatchError::Changed(problem)) => {
                    return Err(ApiError::new(
                        StatusCode::CONFLICT,
                        "import_changed",
                        format!("space {:?}: {problem}", space.name),
                    ));
                }
            }
        }
    };
    Ok(Written {
        ids: ids.into_iter().map(MemoryId::get).collect(),
        truncated,
    })
}

/// `GET /v1/spaces/{space}/imports`: what an import needs before it starts (the space's
/// dimension, embedder and next id) and every import record the space holds.
pub fn imports(space: &Space) -> Result<Value, ApiError> {
    let next_id = space.engram.snapshot().next_id().get();
    let properties = space
        .engram
        .properties()
        .map_err(|e| ApiError::engine(e, &space.name))?;
    let mut imports = Vec::new();
    for (key, value) in properties {
        if !key.starts_with(progress::KEY_PREFIX) {
            continue;
        }
        match progress::parse(&value) {
            Some(progress) => imports.push(ImportRecord { key, progress }),
            None => {
                tracing::warn!(space = %space.name, %key, "an import record this version does not read is left out")
            }
        }
    }
    Ok(json!({
        "space": space.name,
        "dim": space.engram.dimension(),
        "embedder": space.embedder_spec(),
        "next_id": next_id,
        "imports": imports,
    }))
}

/// Memory `id` as `engram show --json` prints it (with its embedding if asked).
pub fn show(space: &Space, id: u64, embedding: bool) -> Result<Record, ApiError> {
    let snapshot = space.engram.snapshot();
    let memory = snapshot
        .get(MemoryId::new(id))
        .ok_or_else(|| ApiError::unknown_memory(&space.name, id))?;
    let links = snapshot.associations_from(memory.id);
    Ok(commands::shown(&memory, &links, embedding))
}

/// Forgets every memory of `ids` in one transaction (or none, if one is unknown); the ids
/// forgotten, sorted, each once.
pub fn forget(space: &Space, ids: &[u64]) -> Result<Vec<u64>, ApiError> {
    let snapshot = space.engram.snapshot();
    let ids: std::collections::BTreeSet<u64> = ids.iter().copied().collect();
    let mut batch = WriteBatch::new();
    for &id in &ids {
        if !snapshot.contains(MemoryId::new(id)) {
            return Err(ApiError::unknown_memory(&space.name, id));
        }
        batch.forget(MemoryId::new(id));
    }
    space
        .engram
        .write(&batch)
        .map_err(|e| ApiError::engine(e, &space.name))?;
    Ok(ids.into_iter().collect())
}

/// Associates `from` → `to` (and back, if `both`) with `weight`, replacing a weight there was.
pub fn associate(
    space: &Space,
    from: u64,
    to: u64,
    weight: f32,
    both: bool,
) -> Result<Value, ApiError> {
    let (a, b) = ends(space, from, to)?;
    let mut batch = WriteBatch::new();
    if both {
        batch.associate_both(a, b, weight);
    } else {
        batch.associate(a, b, weight);
    }
    space
        .engram
        .write(&batch)
        .map_err(|e| ApiError::engine(unbatched(e), &space.name))?;
    Ok(json!({ "from": from, "to": to, "weight": weight, "both": both }))
}

/// Removes `from` → `to` (and back, if `both`); 404 if there is neither.
pub fn dissociate(space: &Space, from: u64, to: u64, both: bool) -> Result<Value, ApiError> {
    let (a, b) = ends(space, from, to)?;
    let snapshot = space.engram.snapshot();
    let has = |x: MemoryId, y: MemoryId| snapshot.associations_from(x).iter().any(|e| e.to == y);
    if !(has(a, b) || both && has(b, a)) {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_association",
            format!(
                "space {:?} has no association from {from} to {to}",
                space.name
            ),
        ));
    }
    let mut batch = WriteBatch::new();
    batch.dissociate(a, b);
    if both {
        batch.dissociate(b, a);
    }
    space
        .engram
        .write(&batch)
        .map_err(|e| ApiError::engine(unbatched(e), &space.name))?;
    Ok(json!({ "from": from, "to": to, "both": both }))
}

/// The two memories of an association route, checked to exist.
fn ends(space: &Space, from: u64, to: u64) -> Result<(MemoryId, MemoryId), ApiError> {
    let snapshot = space.engram.snapshot();
    for id in [from, to] {
        if !snapshot.contains(MemoryId::new(id)) {
            return Err(ApiError::unknown_memory(&space.name, id));
        }
    }
    Ok((MemoryId::new(from), MemoryId::new(to)))
}

/// A batch error whose index means nothing to a one-operation route.
fn unbatched(error: engram_graph::Error) -> engram_graph::Error {
    match error {
        engram_graph::Error::InBatch { source, .. } => *source,
        other => other,
    }
}

/// A recall: the cue and the options of `engram recall`, by the same names, with the same
/// defaults (the HTTP route's body and the MCP tool's arguments).
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecallRequest {
    /// The cue, embedded by the space's text embedder.
    text: Option<String>,
    /// The cue as a vector of the space's dimension (instead of text).
    vector: Option<Vec<f32>>,
    /// How many of the most similar memories seed the spreading (1..=10000; default 10).
    k: Option<usize>,
    /// Hops of spreading activation (0..=16; 0 ranks the seeds alone; default 3).
    hops: Option<u32>,
    /// How many results to return (1..=100000; default 20).
    limit: Option<usize>,
    /// The fraction of activation passed along an association per hop, in (0, 1] (default 0.5).
    attenuation: Option<f32>,
    /// Activation a memory needs to pass activation on (>= 0; default 0).
    threshold: Option<f32>,
    /// Exponential decay: strength halves every this long, e.g. "7d", "12h" (default "1week").
    half_life: Option<String>,
    /// Power-law decay instead: "SCALE,EXPONENT", e.g. "1day,0.5".
    power_law: Option<String>,
    /// Compute retention at this time instead of now: Unix seconds or RFC 3339.
    #[schemars(with = "Option<TimeSchema>")]
    at: Option<TimeValue>,
    /// Reinforce what is recalled: last access becomes now and strength moves this fraction
    /// of the way to 1 (a durable write).
    reinforce: Option<f32>,
    /// Scan this precision instead of the store's: f32 always works; f16 or int8 if the store
    /// keeps those codes.
    precision: Option<PrecisionChoice>,
    /// With codes, rescore this many of the best-scoring memories exactly (default
    /// max(10·k, 100)).
    candidates: Option<usize>,
}

impl RecallRequest {
    /// The engine's parameters: the request's, else the command's defaults. Checks what can
    /// be checked before the space is open (the engine checks the ranges).
    pub fn params(&self) -> Result<RecallParams, ApiError> {
        let bad = |e: anyhow::Error| ApiError::bad_request(format!("{e:#}"));
        if self.half_life.is_some() && self.power_law.is_some() {
            return Err(ApiError::bad_request(
                "give half_life or power_law, not both",
            ));
        }
        let curve = store::decay_curve(&DecayArgs {
            half_life: self
                .half_life
                .clone()
                .unwrap_or_else(|| DEFAULT_HALF_LIFE.to_owned()),
            power_law: self.power_law.clone(),
        })
        .map_err(bad)?;
        Ok(RecallParams {
            k: self.k.unwrap_or(RECALL_K),
            hops: self.hops.unwrap_or(RECALL_HOPS),
            limit: self.limit.unwrap_or(RECALL_LIMIT),
            attenuation: self.attenuation.unwrap_or(RECALL_ATTENUATION),
            threshold: self.threshold.unwrap_or(RECALL_THRESHOLD),
            curve,
            now: self
                .at
                .as_ref()
                .map(TimeValue::seconds)
                .transpose()
                .map_err(bad)?,
            reinforce: self.reinforce,
            precision: self.precision.map(Into::into),
            candidates: self.candidates,
        })
    }
}

/// A recall's results, and what they were recalled from.
pub struct Recall {
    recalled: Vec<engram_graph::Recalled>,
    elapsed: std::time::Duration,
    snapshot: engram_graph::Snapshot,
}

impl Recall {
    /// The fields of `recall --json`.
    pub fn json(&self, space: &Space) -> Value {
        recall::results_json(&space.engram, &self.snapshot, &self.recalled, self.elapsed)
    }

    /// The table `engram recall` prints, contents cut at `width` characters.
    pub fn table(&self, space: &Space, width: usize) -> Result<String, ApiError> {
        recall::results_table(
            &space.engram,
            &self.snapshot,
            &self.recalled,
            self.elapsed,
            width,
        )
        .map_err(|e| ApiError::internal(format!("{e:#}")))
    }
}

/// Recalls what the request's cue brings to mind.
pub fn recall(
    space: &Space,
    request: &RecallRequest,
    params: &RecallParams,
) -> Result<Recall, ApiError> {
    let cue = match (&request.vector, &request.text, &space.embedder) {
        (Some(_), Some(_), _) => {
            return Err(ApiError::bad_request("give text or vector, not both"));
        }
        (Some(vector), None, _) => {
            engram_graph::check_embedding(vector, space.engram.dimension())
                .map_err(|e| ApiError::bad_request(format!("vector: {e}")))?;
            vector.clone()
        }
        (None, Some(text), Some(embedder)) => {
            embedder
                .embed(text)
                .map_err(|e| ApiError::embedder(&e, &space.name))?
                .vector
        }
        (None, Some(_), None) => {
            return Err(ApiError::bad_request(format!(
                "space {:?} has no text embedder (it was created with \"embedder\": \"none\"): give a vector",
                space.name
            )));
        }
        (None, None, _) => {
            return Err(ApiError::bad_request(
                "give the cue as \"text\" or as \"vector\"",
            ));
        }
    };
    let started = Instant::now();
    let recalled = space
        .engram
        .recall(&cue, params)
        .map_err(|e| ApiError::engine(e, &space.name))?;
    let elapsed = started.elapsed();
    Ok(Recall {
        recalled,
        elapsed,
        snapshot: space.engram.snapshot(),
    })
}

/// A schema for a time: Unix seconds or RFC 3339 text (what [`TimeValue`] reads).
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)] // Only its schema is used.
pub enum TimeSchema {
    /// Unix seconds.
    Seconds(i64),
    /// RFC 3339, e.g. 2026-11-22T10:00:00Z.
    Text(String),
}
