//! `engram serve`: a directory of stores ("spaces") over HTTP, JSON in and out.
//!
//! One tokio runtime. Store operations block (file reads, fsyncs, kernels): writes and reads
//! run on its blocking pool, so a slow write never holds up the threads that accept requests;
//! recalls, bound by the CPU, run in place on a worker thread, at most `--workers` at once
//! ([`App::recall_permits`]), and the runtime has one worker more, so that one is always free
//! to accept connections and answer the other requests. The
//! routes are in [`routes`], the spaces in [`spaces`], the error format in [`error`].
//! Middleware, outermost first: request id, log line and metrics ([`observe`]); 503 once
//! shutting down ([`gate`]); the bearer token ([`auth`]); CORS when asked for; the body limit.

mod auth;
mod error;
pub mod mcp;
mod metrics;
pub mod ops;
mod routes;
mod spaces;
#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

pub use self::auth::TOKEN_ENV;
use self::auth::Token;
use self::error::{ApiError, ErrorLogged};
use self::metrics::Metrics;
use self::spaces::Spaces;
use crate::cli::ServeArgs;
use crate::output;

/// What every request handler shares.
pub struct App {
    /// The spaces served.
    pub spaces: Spaces,
    /// Counters and the recall histogram.
    pub metrics: Metrics,
    /// The server's token, if any: it opens every route.
    token: Option<Token>,
    /// Per-space tokens: each opens its space's routes only.
    space_tokens: std::collections::HashMap<String, Token>,
    /// Set once a shutdown signal arrived: new requests then get 503.
    shutting_down: AtomicBool,
    /// The next request id's number.
    next_request: AtomicU64,
    /// The largest body accepted.
    pub max_body_bytes: usize,
    /// `--workers` permits: a recall (bound by the CPU) runs only with one, on the worker
    /// thread that took it, so that no more run at once than there are cores for them (and
    /// one worker stays free for everything else), and the rest wait their turn in order
    /// instead of slowing each other down. Writes do not take one: they mostly wait for
    /// their fsync, and the engine runs one writer per store at a time anyway.
    pub recall_permits: tokio::sync::Semaphore,
}

impl App {
    /// The state of a server of the spaces in `dir`, with the server's token and the spaces'.
    fn new(
        dir: &std::path::Path,
        (token, space_tokens): (Option<Token>, std::collections::HashMap<String, Token>),
        max_body_bytes: usize,
        workers: usize,
    ) -> Result<Arc<Self>> {
        Ok(Arc::new(Self {
            recall_permits: tokio::sync::Semaphore::new(workers),
            spaces: Spaces::new(dir)?,
            metrics: Metrics::new(),
            token,
            space_tokens,
            shutting_down: AtomicBool::new(false),
            next_request: AtomicU64::new(1),
            max_body_bytes,
        }))
    }
}

/// The routes with every middleware around them.
fn service(app: &Arc<App>, cors: Option<tower_http::cors::CorsLayer>) -> axum::Router {
    let mut router = routes::router(Arc::clone(app))
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(app),
            auth::require,
        ))
        .layer(axum::middleware::from_fn_with_state(Arc::clone(app), gate));
    if let Some(cors) = cors {
        router = router.layer(cors);
    }
    router.layer(axum::middleware::from_fn_with_state(
        Arc::clone(app),
        observe,
    ))
}

/// The request id header, read from a request (when it is a sane one) and set on every
/// response.
const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The server's runtime for `workers` recalls at once: one worker more than that, because
/// recalls block the worker they run on (`routes::recall`), so that the last one keeps
/// accepting connections and answering everything else.
fn runtime(workers: usize) -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers + 1)
        .thread_name("engram-serve")
        .enable_all()
        .build()
        .context("cannot start the server's threads")
}

/// `engram serve`.
pub fn run(args: &ServeArgs, json: bool) -> Result<()> {
    let token = auth::load(args.token_file.as_deref())?;
    if token.is_none() && !args.listen.ip().is_loopback() {
        bail!(
            "refusing to listen on {} without a token: anyone who can reach that address could read and change every space. Put a token in a file and pass --token-file PATH (or set ENGRAM_TOKEN), or listen on 127.0.0.1",
            args.listen
        );
    }
    let workers = match args.workers {
        Some(0) => bail!("--workers must be at least 1"),
        Some(n) => n,
        None => std::thread::available_parallelism().map_or(2, std::num::NonZero::get),
    };
    init_logging("info", args.log_format)?;
    let space_tokens = auth::load_space_tokens(args.space_tokens.as_deref())?;
    let app = App::new(
        &args.dir,
        (token, space_tokens),
        args.max_body_bytes,
        workers,
    )?;
    let cors = cors(&args.cors_origin)?;
    let runtime = runtime(workers)?;
    let drain = *args.shutdown_timeout;
    let result = runtime.block_on(serve(Arc::clone(&app), args.listen, cors, drain, json));
    // Dropping the runtime waits for every blocking task, so a write that started finishes
    // (and is durable) before the process exits, even past the drain timeout.
    drop(runtime);
    result
}

async fn serve(
    app: Arc<App>,
    listen: SocketAddr,
    cors: Option<tower_http::cors::CorsLayer>,
    drain: Duration,
    json: bool,
) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let local = listener
        .local_addr()
        .context("cannot read the address listened on")?;
    let router = service(&app, cors);
    tracing::info!(
        address = %local,
        dir = %app.spaces.dir().display(),
        token = app.token.is_some(),
        space_tokens = app.space_tokens.len(),
        "listening"
    );
    // The first line on standard output, for scripts and tests (port 0 picks a free port).
    if json {
        output::json(&serde_json::json!({ "listening": local.to_string() }))?;
    } else {
        output::text(&format!("listening on http://{local}\n"))?;
    }
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let signal_app = Arc::clone(&app);
    tokio::spawn(async move {
        let name = shutdown_signal().await;
        signal_app.shutting_down.store(true, Ordering::SeqCst);
        tracing::info!(
            signal = name,
            "shutting down: finishing the requests in flight"
        );
        let _ = stop_tx.send(true);
    });
    let mut stopped = stop_rx.clone();
    let server = axum::serve(listener, router).with_graceful_shutdown(async move {
        let _ = stopped.wait_for(|stop| *stop).await;
    });
    let mut drained = stop_rx;
    tokio::select! {
        result = server => result.context("the server stopped")?,
        () = async {
            let _ = drained.wait_for(|stop| *stop).await;
            tokio::time::sleep(drain).await;
        } => tracing::warn!(seconds = drain.as_secs_f64(), "requests still in flight after the shutdown timeout; exiting"),
    }
    tracing::info!("stopped");
    Ok(())
}

/// Waits for SIGTERM or SIGINT; returns its name.
async fn shutdown_signal() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        },
        _ => {
            // Without signal handlers the default dispositions stay: a signal ends the process
            // at once (LMDB keeps every committed write either way).
            std::future::pending::<()>().await;
            "none"
        }
    }
}

/// Log lines to standard error, in `format`: `ENGRAM_LOG` (a tracing filter such as `info`
/// or `engram=debug`) chooses what, `default` unless it is set.
fn init_logging(default: &str, format: crate::cli::LogFormat) -> Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_env("ENGRAM_LOG")
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(default))
        .context("ENGRAM_LOG is not a log filter (write e.g. info, warn or debug)")?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    match format {
        crate::cli::LogFormat::Json => builder.json().try_init(),
        crate::cli::LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init(),
    }
    .map_err(|e| anyhow::anyhow!("cannot start logging: {e}"))
}

/// CORS for these origins, or none (the default: browsers may not call across origins).
fn cors(origins: &[String]) -> Result<Option<tower_http::cors::CorsLayer>> {
    if origins.is_empty() {
        return Ok(None);
    }
    let mut allowed = Vec::new();
    for origin in origins {
        allowed.push(
            HeaderValue::from_str(origin)
                .with_context(|| format!("--cors-origin {origin:?} is not a header value"))?,
        );
    }
    Ok(Some(
        tower_http::cors::CorsLayer::new()
            .allow_origin(allowed)
            .allow_methods(tower_http::cors::Any)
            .allow_headers([
                axum::http::header::AUTHORIZATION,
                axum::http::header::CONTENT_TYPE,
            ]),
    ))
}

/// 503 for every request once a shutdown began (requests already running go on).
async fn gate(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    if app.shutting_down.load(Ordering::SeqCst) {
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting_down",
            "the server is shutting down; try again once it is back",
        )
        .into_response();
    }
    next.run(request).await
}

/// A request id on every request and response, one log line per request (with the error's
/// code and message when it failed), and the request counted in the metrics.
async fn observe(State(app): State<Arc<App>>, mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = request
        .headers()
        .get(&REQUEST_ID)
        .filter(|v| {
            v.len() <= 64
                && v.as_bytes()
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(b))
        })
        .cloned()
        .unwrap_or_else(|| {
            let n = app.next_request.fetch_add(1, Ordering::Relaxed);
            HeaderValue::from_str(&format!("{n:08x}")).unwrap_or(HeaderValue::from_static("0"))
        });
    request.headers_mut().insert(REQUEST_ID, id.clone());
    let method = request.method().as_str().to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    app.metrics.started();
    let mut response = next.run(request).await;
    let seconds = started.elapsed().as_secs_f64();
    let status = response.status().as_u16();
    app.metrics.answered(&method, &route, status, seconds);
    let id_text = id.to_str().unwrap_or_default().to_owned();
    match response.extensions().get::<ErrorLogged>() {
        Some(e) if status >= 500 => tracing::error!(
            request = %id_text, %method, %route, status, ms = seconds * 1e3,
            code = e.code, error = %e.message, "request failed"
        ),
        Some(e) => tracing::info!(
            request = %id_text, %method, %route, status, ms = seconds * 1e3,
            code = e.code, error = %e.message, "request refused"
        ),
        None => tracing::info!(
            request = %id_text, %method, %route, status, ms = seconds * 1e3, "request"
        ),
    }
    response.headers_mut().insert(REQUEST_ID, id);
    response
}
