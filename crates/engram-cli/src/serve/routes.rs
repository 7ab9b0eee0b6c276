//! The routes: every one answers JSON (`export`: JSON Lines), with the field names of the
//! JSON Lines records and of the commands' `--json` output, and the commands' defaults.
//! `GET /openapi.json` describes them all ([`OPENAPI`]).

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use super::App;
use super::error::ApiError;
use super::ops::{self, RecallRequest, blocking};
use super::spaces::Space;
use crate::cli::{DEFAULT_DIM, DEFAULT_WEIGHT, EmbedderChoice, PrecisionChoice};
use crate::import::Record;
use crate::{commands, export, store};

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
    ("/v1/spaces/{space}/forget", &["post"]),
    ("/v1/spaces/{space}/batch", &["post"]),
    ("/v1/spaces/{space}/imports", &["get"]),
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
        .route("/v1/spaces/{space}/forget", post(forget_many))
        .route("/v1/spaces/{space}/batch", post(batch))
        .route("/v1/spaces/{space}/imports", get(imports))
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

fn ok(status: StatusCode, value: &impl serde::Serialize) -> Answer {
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
    let embedder = request
        .embedder
        .unwrap_or(EmbedderChoice::Hash)
        .embedder(dim, store::model_dir())
        .map_err(|e| ApiError::bad_request(format!("dim: {e}")))?;
    let precision =
        engram_graph::Precision::from(request.precision.unwrap_or(PrecisionChoice::F32));
    let (space, created) = blocking(move || {
        if let Some(embedder) = &embedder {
            // A space this server cannot fill is refused before it is made.
            embedder.load().map_err(|e| ApiError::embedder(&e, &name))?;
        }
        let spec = embedder.map_or_else(|| "none".to_owned(), |e| e.spec());
        app.spaces.create(&name, dim, &spec, precision)
    })
    .await?;
    ok(
        if created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        },
        &json!({
            "space": space.name,
            "dim": space.engram.dimension(),
            "embedder": space.embedder_spec(),
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
    if let Some(space) = app.spaces.get_open(&name) {
        return Ok(space);
    }
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
    let written = blocking(move || ops::write_records(&space, records)).await?;
    ok(StatusCode::CREATED, &written)
}

/// `POST /v1/spaces/{space}/batch`: memories, associations and an import's progress in one
/// transaction (what `engram --server URL import` sends).
async fn batch(
    State(app): State<Arc<App>>,
    space: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    let name = path_param(space)?;
    let request: ops::BatchRequest = json_body(&headers, body, None)?;
    let space = space_of(&app, name).await?;
    let written = blocking(move || ops::write_batch(&space, request)).await?;
    ok(StatusCode::CREATED, &written)
}

/// `GET /v1/spaces/{space}/imports`.
async fn imports(
    State(app): State<Arc<App>>,
    space: Result<Path<String>, PathRejection>,
) -> Answer {
    let name = path_param(space)?;
    let space = space_of(&app, name).await?;
    let answer = blocking(move || ops::imports(&space)).await?;
    ok(StatusCode::OK, &answer)
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
    let record = blocking(move || ops::show(&space, id, query.embedding)).await?;
    Ok(axum::Json(record).into_response())
}

async fn forget(
    State(app): State<Arc<App>>,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Answer {
    let (name, id) = path_param(path)?;
    let id = memory_id(&id)?;
    let space = space_of(&app, name).await?;
    let forgotten = blocking(move || ops::forget(&space, &[id])).await?;
    ok(StatusCode::OK, &json!({ "forgotten": forgotten }))
}

/// `POST /v1/spaces/{space}/forget`'s body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ForgetMany {
    /// The memories to forget, in one transaction.
    ids: Vec<u64>,
}

/// `POST /v1/spaces/{space}/forget`: several memories in one transaction, or none of them
/// if one is unknown.
async fn forget_many(
    State(app): State<Arc<App>>,
    space: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    let name = path_param(space)?;
    let request: ForgetMany = json_body(&headers, body, None)?;
    if request.ids.is_empty() {
        return Err(ApiError::bad_request("\"ids\" holds no memory id"));
    }
    let space = space_of(&app, name).await?;
    let forgotten = blocking(move || ops::forget(&space, &request.ids)).await?;
    ok(StatusCode::OK, &json!({ "forgotten": forgotten }))
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
    blocking(move || ops::associate(&space, from, to, weight, both)).await?;
    ok(
        StatusCode::OK,
        &json!({ "from": from, "to": to, "weight": weight, "both": both }),
    )
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
    blocking(move || ops::dissociate(&space, from, to, both)).await?;
    ok(
        StatusCode::OK,
        &json!({ "from": from, "to": to, "both": both }),
    )
}

async fn recall(
    State(app): State<Arc<App>>,
    space: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    let name = path_param(space)?;
    let request: RecallRequest = json_body(&headers, body, None)?;
    let params = request.params()?;
    let space = space_of(&app, name).await?;
    let _permit = app
        .recall_permits
        .acquire()
        .await
        .map_err(|_| ApiError::internal("the recall permits were closed"))?;
    // Run here, on this worker: a recall is bound by the CPU, not by I/O. Handing it to the
    // blocking pool and back cost about 0.1 ms of a recall's time over HTTP (two wake-ups),
    // and `block_in_place`, which hands this worker's other tasks to a new thread, 0.02-0.08
    // ms (BENCHMARKS.md). Blocking a worker is safe because the runtime has one more worker
    // than there are permits (`serve::runtime`): one is always free for other requests.
    let answer = ops::recall(&space, &request, &params)?.json(&space);
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
        let doc: serde_json::Value = serde_json::from_str(OPENAPI).expect("openapi.json is JSON");
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
