//! The routes: every one answers JSON (`export`: JSON Lines), with the field names of the
//! JSON Lines records and of the commands' `--json` output, and the commands' defaults.
//! `GET /openapi.json` describes them all ([`OPENAPI`]).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use engram_graph::{MemoryId, MemoryRef, RecallParams, WriteBatch};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::App;
use super::error::ApiError;
use super::spaces::Space;
use crate::cli::{
    DEFAULT_DIM, DEFAULT_HALF_LIFE, DEFAULT_WEIGHT, DecayArgs, EmbedderChoice, PrecisionChoice,
    RECALL_ATTENUATION, RECALL_HOPS, RECALL_K, RECALL_LIMIT, RECALL_THRESHOLD,
};
use crate::import::{self, DEFAULT_LINK_WEIGHT, Record, TimeValue};
use crate::{commands, export, recall, store};

/// The recall route, whose latencies the metrics' histogram keeps.
pub const RECALL_ROUTE: &str = "/v1/spaces/{space}/recall";

/// The OpenAPI 3.1 document of every route (`GET /openapi.json`).
pub const OPENAPI: &str = include_str!("openapi.json");

/// Every route and its methods, as the router serves them (a test checks that the OpenAPI
/// document describes exactly these).
#[cfg(test)]
pub const ROUTES: &[(&str, &[&str])] = &[
    ("/health", &["get"]),
    ("/openapi.json", &["get"]),
    ("/metrics", &["get"]),
    ("/v1/spaces", &["get"]),
    ("/v1/spaces/{space}", &["put", "delete"]),
    ("/v1/spaces/{space}/memories", &["post"]),
    ("/v1/spaces/{space}/memories/{id}", &["get", "delete"]),
    (
        "/v1/spaces/{space}/associations/{from}/{to}",
        &["put", "delete"],
    ),
    (RECALL_ROUTE, &["post"]),
    ("/v1/spaces/{space}/stats", &["get"]),
    ("/v1/spaces/{space}/export", &["get"]),
];

/// The router, with `app` as every handler's state.
pub fn router(app: Arc<App>) -> Router {
    let limit = app.max_body_bytes;
    Router::new()
        .route("/health", get(health))
        .route("/openapi.json", get(openapi))
        .route("/metrics", get(metrics))
        .route("/v1/spaces", get(list_spaces))
        .route("/v1/spaces/{space}", put(create_space).delete(delete_space))
        .route("/v1/spaces/{space}/memories", post(remember))
        .route("/v1/spaces/{space}/memories/{id}", get(show).delete(forget))
        .route(
            "/v1/spaces/{space}/associations/{from}/{to}",
            put(associate).delete(dissociate),
        )
        .route(RECALL_ROUTE, post(recall))
        .route("/v1/spaces/{space}/stats", get(stats))
        .route("/v1/spaces/{space}/export", get(export))
        .fallback(no_route)
        .method_not_allowed_fallback(wrong_method)
        .layer(DefaultBodyLimit::max(limit))
        .with_state(app)
}

type Answer = Result<Response, ApiError>;

/// Runs `work` (which blocks: files, fsyncs, kernels) on the blocking pool. A panic in it is a
/// 500 for this request only.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ApiError::internal(format!("the request's worker failed: {e}")))?
}

/// A rejected path, query or body, as our error.
fn rejected(status: StatusCode, text: String) -> ApiError {
    let code = match status {
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        _ => "invalid_request",
    };
    let status = if status.is_client_error() {
        // axum says 422 for a body of the wrong shape; bad input is 400 here, everywhere.
        match status {
            StatusCode::UNPROCESSABLE_ENTITY => StatusCode::BAD_REQUEST,
            other => other,
        }
    } else {
        status
    };
    ApiError::new(status, code, text)
}

fn path_param<T>(path: Result<Path<T>, PathRejection>) -> Result<T, ApiError> {
    path.map(|Path(p)| p)
        .map_err(|r| rejected(r.status(), r.body_text()))
}

fn query_param<T>(query: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    query
        .map(|Query(q)| q)
        .map_err(|r| rejected(r.status(), format!("the query string: {}", r.body_text())))
}

/// A memory id in a path.
fn memory_id(text: &str) -> Result<u64, ApiError> {
    text.parse().map_err(|_| {
        ApiError::bad_request(format!(
            "{:?} is not a memory id (a non-negative integer)",
            text.chars().take(40).collect::<String>()
        ))
    })
}

/// The body as JSON of type `T`: it must be sent as JSON (`Content-Type: application/json`,
/// which also keeps browsers on other origins from sending it without CORS). An empty body
/// is `empty`, if the route has a default, and an error otherwise.
fn json_body<T: DeserializeOwned>(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    empty: Option<T>,
) -> Result<T, ApiError> {
    let bytes = body.map_err(|r| {
        let status = r.status();
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            rejected(
                status,
                "the request body is larger than this server accepts (engram serve --max-body-bytes); send fewer memories per request".into(),
            )
        } else {
            rejected(status, r.body_text())
        }
    })?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        if let Some(default) = empty {
            return Ok(default);
        }
        return Err(ApiError::bad_request("the request needs a JSON body"));
    }
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .is_some_and(|v| v == "application/json" || v.ends_with("+json"));
    if !json {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as JSON, with the header Content-Type: application/json",
        ));
    }
    serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::bad_request(format!("the request body: {e}")))
}

fn ok(status: StatusCode, value: &Value) -> Answer {
    Ok((status, axum::Json(value)).into_response())
}

async fn health(State(app): State<Arc<App>>) -> Answer {
    ok(
        StatusCode::OK,
        &json!({
            "status": "ok",
            "version": env!("CARGO_PKG_VERSION"),
            "spaces_open": app.spaces.open_count(),
        }),
    )
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

async fn metrics(State(app): State<Arc<App>>) -> Response {
    (
        [(header::CONTENT_TYPE, super::metrics::CONTENT_TYPE)],
        app.metrics.render(),
    )
        .into_response()
}

async fn no_route(request: Request) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "no_route",
        format!(
            "there is no route {} {}; GET /openapi.json lists them",
            request.method(),
            request.uri().path().chars().take(200).collect::<String>()
        ),
    )
}

async fn wrong_method(request: Request) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!(
            "{} is not a method of {}; GET /openapi.json lists each route's",
            request.method(),
            request.uri().path().chars().take(200).collect::<String>()
        ),
    )
}

async fn list_spaces(State(app): State<Arc<App>>) -> Answer {
    let names = blocking(move || app.spaces.list()).await?;
    ok(StatusCode::OK, &json!({ "spaces": names }))
}

/// `PUT /v1/spaces/{space}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateSpace {
    /// Default [`DEFAULT_DIM`], as `engram init`'s.
    dim: Option<usize>,
    /// Default `hash`.
    embedder: Option<EmbedderChoice>,
    /// Default `f32`.
    precision: Option<PrecisionChoice>,
}

async fn create_space(
    State(app): State<Arc<App>>,
    space: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    let name = path_param(space)?;
    let request: CreateSpace = json_body(
        &headers,
        body,
        Some(CreateSpace {
            dim: None,
            embedder: None,
            precision: None,
        }),
    )?;
    let dim = request.dim.unwrap_or(DEFAULT_DIM);
    let spec = match request.embedder.unwrap_or(EmbedderChoice::Hash) {
        EmbedderChoice::Hash => engram_text::HashEmbedder::new(dim)
            .map_err(|e| ApiError::bad_request(format!("dim: {e}")))?
            .spec(),
        EmbedderChoice::None => "none".to_owned(),
    };
    let precision =
        engram_graph::Precision::from(request.precision.unwrap_or(PrecisionChoice::F32));
    let (space, created) =
        blocking(move || app.spaces.create(&name, dim, &spec, precision)).await?;
    let embedder = space
        .embedder
        .as_ref()
        .map_or_else(|| "none".to_owned(), engram_text::HashEmbedder::spec);
    ok(
        if created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        },
        &json!({
            "space": space.name,
            "dim": space.engram.dimension(),
            "embedder": embedder,
            "precision": space.engram.precision().as_str(),
            "created": created,
        }),
    )
}

async fn delete_space(
    State(app): State<Arc<App>>,
    space: Result<Path<String>, PathRejection>,
) -> Answer {
    let name = path_param(space)?;
    let deleted = name.clone();
    blocking(move || app.spaces.delete(&name)).await?;
    ok(StatusCode::OK, &json!({ "deleted": deleted }))
}

/// The space named in the path, opened.
async fn space_of(app: &Arc<App>, name: String) -> Result<Arc<Space>, ApiError> {
    let app = Arc::clone(app);
    blocking(move || app.spaces.get(&name)).await
}

/// `POST /v1/spaces/{space}/memories`: one record (an object) or a batch (an array), in one
/// transaction. A link's `to` names a record of the same request by its `id`, or else a memory
/// already in the space by its number.
async fn remember(
    State(app): State<Arc<App>>,
    space: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    let name = path_param(space)?;
    let batch = body
        .as_ref()
        .ok()
        .and_then(|b| b.iter().find(|c| !c.is_ascii_whitespace()))
        == Some(&b'[');
    let records: Vec<Record> = if batch {
        json_body(&headers, body, None)?
    } else {
        vec![json_body(&headers, body, None)?]
    };
    if records.is_empty() {
        return Err(ApiError::bad_request("the array holds no memories"));
    }
    let space = space_of(&app, name).await?;
    let ids = blocking(move || write_records(&space, records)).await?;
    ok(StatusCode::CREATED, &json!({ "ids": ids }))
}

fn write_records(space: &Space, mut records: Vec<Record>) -> Result<Vec<u64>, ApiError> {
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
    let snapshot = space.engram.snapshot();
    let now = engram_graph::unix_now();
    let mut batch = WriteBatch::new();
    let mut refs = Vec::with_capacity(n);
    let mut links = Vec::with_capacity(n);
    for (i, record) in records.iter_mut().enumerate() {
        links.push(std::mem::take(&mut record.links));
        let memory = import::new_memory(std::mem::take(record), space.embedder.as_ref(), now)
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
    Ok(ids.into_iter().map(MemoryId::get).collect())
}

/// `GET /v1/spaces/{space}/memories/{id}`'s query.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ShowQuery {
    /// Include the embedding (default false).
    #[serde(default)]
    embedding: bool,
}

async fn show(
    State(app): State<Arc<App>>,
    path: Result<Path<(String, String)>, PathRejection>,
    query: Result<Query<ShowQuery>, QueryRejection>,
) -> Answer {
    let (name, id) = path_param(path)?;
    let id = memory_id(&id)?;
    let query = query_param(query)?;
    let space = space_of(&app, name).await?;
    let record = blocking(move || {
        let snapshot = space.engram.snapshot();
        let memory = snapshot
            .get(MemoryId::new(id))
            .ok_or_else(|| ApiError::unknown_memory(&space.name, id))?;
        let links = snapshot.associations_from(memory.id);
        Ok(commands::shown(&memory, &links, query.embedding))
    })
    .await?;
    Ok(axum::Json(record).into_response())
}

async fn forget(
    State(app): State<Arc<App>>,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Answer {
    let (name, id) = path_param(path)?;
    let id = memory_id(&id)?;
    let space = space_of(&app, name).await?;
    blocking(move || {
        if !space.engram.snapshot().contains(MemoryId::new(id)) {
            return Err(ApiError::unknown_memory(&space.name, id));
        }
        let mut batch = WriteBatch::new();
        batch.forget(MemoryId::new(id));
        space
            .engram
            .write(&batch)
            .map_err(|e| ApiError::engine(e, &space.name))
    })
    .await?;
    ok(StatusCode::OK, &json!({ "forgotten": [id] }))
}

/// `PUT /v1/spaces/{space}/associations/{from}/{to}`'s body (optional).
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Associate {
    /// Weight in [-1, 1] (default [`DEFAULT_WEIGHT`]); replaces an existing one.
    weight: Option<f32>,
    /// Both ways (default false).
    #[serde(default)]
    both: bool,
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

async fn associate(
    State(app): State<Arc<App>>,
    path: Result<Path<(String, String, String)>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    let (name, from, to) = path_param(path)?;
    let (from, to) = (memory_id(&from)?, memory_id(&to)?);
    let request: Associate = json_body(&headers, body, Some(Associate::default()))?;
    let weight = request.weight.unwrap_or(DEFAULT_WEIGHT);
    let both = request.both;
    let space = space_of(&app, name).await?;
    blocking(move || {
        let (a, b) = ends(&space, from, to)?;
        let mut batch = WriteBatch::new();
        if both {
            batch.associate_both(a, b, weight);
        } else {
            batch.associate(a, b, weight);
        }
        space
            .engram
            .write(&batch)
            .map_err(|e| ApiError::engine(unbatched(e), &space.name))
    })
    .await?;
    ok(
        StatusCode::OK,
        &json!({ "from": from, "to": to, "weight": weight, "both": both }),
    )
}

/// A batch error whose index means nothing to a one-operation route.
fn unbatched(error: engram_graph::Error) -> engram_graph::Error {
    match error {
        engram_graph::Error::InBatch { source, .. } => *source,
        other => other,
    }
}

/// `DELETE /v1/spaces/{space}/associations/{from}/{to}`'s query.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Dissociate {
    /// Remove to → from too (default false).
    #[serde(default)]
    both: bool,
}

async fn dissociate(
    State(app): State<Arc<App>>,
    path: Result<Path<(String, String, String)>, PathRejection>,
    query: Result<Query<Dissociate>, QueryRejection>,
) -> Answer {
    let (name, from, to) = path_param(path)?;
    let (from, to) = (memory_id(&from)?, memory_id(&to)?);
    let both = query_param(query)?.both;
    let space = space_of(&app, name).await?;
    blocking(move || {
        let (a, b) = ends(&space, from, to)?;
        let snapshot = space.engram.snapshot();
        let has =
            |x: MemoryId, y: MemoryId| snapshot.associations_from(x).iter().any(|e| e.to == y);
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
            .map_err(|e| ApiError::engine(unbatched(e), &space.name))
    })
    .await?;
    ok(
        StatusCode::OK,
        &json!({ "from": from, "to": to, "both": both }),
    )
}

/// `POST /v1/spaces/{space}/recall`: the options of `engram recall`, by the same names, with
/// the same defaults.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RecallRequest {
    /// The cue, embedded by the space's embedder.
    text: Option<String>,
    /// The cue as a vector of the space's dimension.
    vector: Option<Vec<f32>>,
    k: Option<usize>,
    hops: Option<u32>,
    limit: Option<usize>,
    attenuation: Option<f32>,
    threshold: Option<f32>,
    half_life: Option<String>,
    power_law: Option<String>,
    at: Option<TimeValue>,
    reinforce: Option<f32>,
    precision: Option<PrecisionChoice>,
    candidates: Option<usize>,
}

async fn recall(
    State(app): State<Arc<App>>,
    space: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    let name = path_param(space)?;
    let request: RecallRequest = json_body(&headers, body, None)?;
    let bad = |e: anyhow::Error| ApiError::bad_request(format!("{e:#}"));
    if request.half_life.is_some() && request.power_law.is_some() {
        return Err(ApiError::bad_request(
            "give half_life or power_law, not both",
        ));
    }
    let curve = store::decay_curve(&DecayArgs {
        half_life: request
            .half_life
            .clone()
            .unwrap_or_else(|| DEFAULT_HALF_LIFE.to_owned()),
        power_law: request.power_law.clone(),
    })
    .map_err(bad)?;
    let params = RecallParams {
        k: request.k.unwrap_or(RECALL_K),
        hops: request.hops.unwrap_or(RECALL_HOPS),
        limit: request.limit.unwrap_or(RECALL_LIMIT),
        attenuation: request.attenuation.unwrap_or(RECALL_ATTENUATION),
        threshold: request.threshold.unwrap_or(RECALL_THRESHOLD),
        curve,
        now: request
            .at
            .as_ref()
            .map(TimeValue::seconds)
            .transpose()
            .map_err(bad)?,
        reinforce: request.reinforce,
        precision: request.precision.map(Into::into),
        candidates: request.candidates,
    };
    let space = space_of(&app, name).await?;
    let answer = blocking(move || {
        let cue = match (request.vector, &request.text, &space.embedder) {
            (Some(_), Some(_), _) => {
                return Err(ApiError::bad_request("give text or vector, not both"));
            }
            (Some(vector), None, _) => {
                engram_graph::check_embedding(&vector, space.engram.dimension())
                    .map_err(|e| ApiError::bad_request(format!("vector: {e}")))?;
                vector
            }
            (None, Some(text), Some(embedder)) => embedder
                .embed(text)
                .map_err(|e| ApiError::bad_request(format!("cannot embed {text:?}: {e}")))?,
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
            .recall(&cue, &params)
            .map_err(|e| ApiError::engine(e, &space.name))?;
        let elapsed = started.elapsed();
        let snapshot = space.engram.snapshot();
        Ok(recall::results_json(
            &space.engram,
            &snapshot,
            &recalled,
            elapsed,
        ))
    })
    .await?;
    ok(StatusCode::OK, &answer)
}

async fn stats(State(app): State<Arc<App>>, space: Result<Path<String>, PathRejection>) -> Answer {
    let name = path_param(space)?;
    let space = space_of(&app, name).await?;
    let stats = blocking(move || {
        let file_size = std::fs::metadata(&space.path).map_or(0, |m| m.len());
        let file_name = format!("{}.{}", space.name, super::spaces::EXTENSION);
        commands::stats_of(&space.engram, std::path::Path::new(&file_name), file_size)
            .map_err(|e| ApiError::internal(format!("space {:?}: {e:#}", space.name)))
    })
    .await?;
    Ok(axum::Json(stats).into_response())
}

/// Bytes of JSON Lines sent per chunk of an export.
const EXPORT_CHUNK: usize = 256 << 10;

/// `GET /v1/spaces/{space}/export`: every memory as JSON Lines (what `engram export` writes
/// and `engram import` reads), streamed from one snapshot as it is written. A failure half-way
/// ends the response without its last chunk, so that a client never takes a cut export for
/// a whole one.
async fn export(State(app): State<Arc<App>>, space: Result<Path<String>, PathRejection>) -> Answer {
    let name = path_param(space)?;
    let space = space_of(&app, name).await?;
    let (sender, receiver) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(4);
    tokio::task::spawn_blocking(move || {
        let snapshot = space.engram.snapshot();
        let mut out = ChunkWriter {
            sender,
            buffer: Vec::with_capacity(EXPORT_CHUNK),
        };
        if let Err(e) = export::write_all(&snapshot, &mut out) {
            tracing::warn!(space = %space.name, error = %format!("{e:#}"), "export stopped");
            let _ = out
                .sender
                .blocking_send(Err(std::io::Error::other(format!("{e:#}"))));
        }
    });
    let body = Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(receiver));
    Ok(([(header::CONTENT_TYPE, "application/x-ndjson")], body).into_response())
}

/// Sends what is written to it as chunks of a response body; a client that went away is a
/// broken pipe, which stops the export.
struct ChunkWriter {
    sender: tokio::sync::mpsc::Sender<std::io::Result<Bytes>>,
    buffer: Vec<u8>,
}

impl ChunkWriter {
    fn send(&mut self) -> std::io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(
            &mut self.buffer,
            Vec::with_capacity(EXPORT_CHUNK),
        ));
        self.sender.blocking_send(Ok(chunk)).map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client went away")
        })
    }
}

impl std::io::Write for ChunkWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.buffer.extend_from_slice(bytes);
        if self.buffer.len() >= EXPORT_CHUNK {
            self.send()?;
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The OpenAPI document describes exactly the routes and methods the router serves, and
    /// every operation has an id, a summary and responses.
    #[test]
    fn the_openapi_document_lists_every_route_and_only_those() {
        let doc: Value = serde_json::from_str(OPENAPI).expect("openapi.json is JSON");
        assert_eq!(doc["openapi"].as_str().map(|v| &v[..4]), Some("3.1."));
        let paths = doc["paths"].as_object().expect("paths");
        let mut documented: Vec<(String, Vec<String>)> = paths
            .iter()
            .map(|(path, item)| {
                let mut methods: Vec<String> = item
                    .as_object()
                    .expect("path item")
                    .keys()
                    .filter(|k| k.as_str() != "parameters")
                    .cloned()
                    .collect();
                methods.sort();
                (path.clone(), methods)
            })
            .collect();
        documented.sort();
        let mut served: Vec<(String, Vec<String>)> = ROUTES
            .iter()
            .map(|(path, methods)| {
                let mut methods: Vec<String> = methods.iter().map(|m| (*m).to_owned()).collect();
                methods.sort();
                ((*path).to_owned(), methods)
            })
            .collect();
        served.sort();
        assert_eq!(documented, served);
        for (path, item) in paths {
            for (method, operation) in item.as_object().expect("path item") {
                if method == "parameters" {
                    continue;
                }
                for field in ["operationId", "summary", "responses"] {
                    assert!(
                        operation.get(field).is_some(),
                        "{method} {path} has no {field}"
                    );
                }
            }
        }
    }
}
