//! `engram mcp`: one store served to an agent over the Model Context Protocol, on standard
//! input and output (rmcp, the protocol's official Rust SDK). Tools: `remember`, `recall`,
//! `associate`, `forget`, `show`, each with a JSON Schema of its arguments; their results are
//! structured content (the fields the HTTP routes answer) and a text an agent reads (for
//! `recall`, the command's table). A call the store refuses is a tool error with the HTTP
//! server's error object, `{"error": {"code", "message"}}`; arguments that do not fit the
//! schema are a protocol error. Neither ends the session.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock, Implementation, ServerCapabilities, ServerConfig};
use rmcp::{ServerHandler, ServiceExt, tool, tool_handler, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::error::ApiError;
use super::ops::{self, RecallRequest, TimeSchema, blocking};
use super::spaces::Space;
use crate::cli::DEFAULT_WEIGHT;
use crate::import::Record;
use crate::store;

/// How much of each memory's text the recall table shows, in characters.
const TABLE_WIDTH: usize = 100;

/// What the agent is told about the server when it connects.
const INSTRUCTIONS: &str = "A persistent associative memory. `remember` stores a text (or an embedding) and \
returns its id; `associate` links two memories so that recalling one activates the other; \
`recall` finds what a text brings to mind: the most similar memories, then what their \
associations lead to, ranked by activation times a strength that decays since last access. \
`show` reads one memory and its associations; `forget` removes one.";

/// The MCP server: one store.
#[derive(Clone)]
pub struct MemoryServer {
    space: Arc<Space>,
    tool_router: ToolRouter<Self>,
}

/// `remember`'s arguments: a JSON Lines record, less its file id.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RememberArgs {
    /// The memory's content; embedded by the store's text embedder unless an embedding is given.
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<String>,
    /// The embedding, if the memory comes with its own: the store's dimension, finite, not all zero.
    #[serde(skip_serializing_if = "Option::is_none")]
    embedding: Option<Vec<f32>>,
    /// Base strength in [0, 1] (default 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    strength: Option<f32>,
    /// When it happened: Unix seconds or RFC 3339 (default now).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<TimeSchema>")]
    time: Option<Value>,
    /// Associations from the new memory to memories already stored.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    links: Vec<LinkArgs>,
}

/// An association from a new memory.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkArgs {
    /// The id of the memory it leads to.
    to: u64,
    /// Weight in [-1, 1]; negative inhibits (default 0.5).
    #[serde(skip_serializing_if = "Option::is_none")]
    weight: Option<f32>,
}

/// `associate`'s arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AssociateArgs {
    /// The memory activation flows from.
    from: u64,
    /// The memory it flows to.
    to: u64,
    /// Weight in [-1, 1]; negative inhibits (default 0.5). Replaces an existing weight.
    weight: Option<f32>,
    /// Both ways (default false).
    #[serde(default)]
    both: bool,
}

/// `forget`'s and `show`'s memory.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MemoryArgs {
    /// The memory's id.
    id: u64,
    /// `show` only: include its embedding (default false).
    #[serde(default)]
    embedding: bool,
}

/// A refused call, as a tool error carrying the HTTP server's error object.
fn refused(error: &ApiError) -> CallToolResult {
    CallToolResult::structured_error(json!({
        "error": { "code": error.code, "message": error.message }
    }))
}

/// A result whose text is its JSON.
fn answer(value: Value) -> CallToolResult {
    CallToolResult::structured(value)
}

#[tool_router(router = tool_router)]
impl MemoryServer {
    /// The server of `space`.
    pub fn new(space: Arc<Space>) -> Self {
        Self {
            space,
            tool_router: Self::tool_router(),
        }
    }

    /// Runs a store operation on the blocking pool; its answer or its refusal.
    async fn run(
        &self,
        work: impl FnOnce(&Space) -> Result<Value, ApiError> + Send + 'static,
    ) -> CallToolResult {
        let space = Arc::clone(&self.space);
        match blocking(move || work(&space)).await {
            Ok(value) => answer(value),
            Err(error) => refused(&error),
        }
    }

    #[tool(
        description = "Remember a text (embedded by the store's embedder) or an embedding, with an optional strength, time and associations to existing memories. Returns the new memory's id."
    )]
    async fn remember(&self, Parameters(args): Parameters<RememberArgs>) -> CallToolResult {
        self.run(move |space| {
            let record: Record = serde_json::to_value(&args)
                .and_then(serde_json::from_value)
                .map_err(|e| ApiError::bad_request(format!("the arguments: {e}")))?;
            let written = ops::write_records(space, vec![record])?;
            let mut answer = json!({ "id": written.ids.first() });
            if !written.truncated.is_empty() {
                answer["truncated"] = true.into();
            }
            Ok(answer)
        })
        .await
    }

    #[tool(
        description = "Recall what a text (or vector) brings to mind: the most similar memories seed spreading activation over the associations; results are ranked by activation times retention (strength decayed since last access). Options as `engram recall`'s, same defaults: k seeds (10), hops (3), limit (20), attenuation (0.5), threshold, half_life (1week) or power_law, at, reinforce, precision, candidates."
    )]
    async fn recall(&self, Parameters(request): Parameters<RecallRequest>) -> CallToolResult {
        let params = match request.params() {
            Ok(params) => params,
            Err(error) => return refused(&error),
        };
        let space = Arc::clone(&self.space);
        let answered = blocking(move || {
            let recall = ops::recall(&space, &request, &params)?;
            Ok((recall.json(&space), recall.table(&space, TABLE_WIDTH)?))
        })
        .await;
        match answered {
            Ok((value, table)) => {
                let mut result = CallToolResult::structured(value);
                result.content = vec![ContentBlock::text(table)];
                result
            }
            Err(error) => refused(&error),
        }
    }

    #[tool(
        description = "Associate memory `from` with memory `to` (weight in [-1, 1], default 0.5; `both` for both ways): recalling `from` then activates `to`."
    )]
    async fn associate(&self, Parameters(args): Parameters<AssociateArgs>) -> CallToolResult {
        self.run(move |space| {
            ops::associate(
                space,
                args.from,
                args.to,
                args.weight.unwrap_or(DEFAULT_WEIGHT),
                args.both,
            )
        })
        .await
    }

    #[tool(description = "Forget a memory and every association to or from it.")]
    async fn forget(&self, Parameters(args): Parameters<MemoryArgs>) -> CallToolResult {
        self.run(move |space| Ok(json!({ "forgotten": ops::forget(space, &[args.id])? })))
            .await
    }

    #[tool(
        description = "Show one memory: its text, strength, times and associations (and its embedding if `embedding` is true)."
    )]
    async fn show(&self, Parameters(args): Parameters<MemoryArgs>) -> CallToolResult {
        self.run(move |space| {
            let record = ops::show(space, args.id, args.embedding)?;
            serde_json::to_value(record).map_err(|e| ApiError::internal(e.to_string()))
        })
        .await
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for MemoryServer {
    fn get_info(&self) -> ServerConfig {
        let mut info = ServerConfig::new(ServerCapabilities::builder().enable_tools().build());
        info.server_info = Implementation::new("engram", env!("CARGO_PKG_VERSION"))
            .with_title("engram memory graph")
            .with_description(format!(
                "the store {} (dimension {})",
                self.space.name,
                self.space.engram.dimension()
            ));
        info.instructions = Some(INSTRUCTIONS.to_owned());
        info
    }
}

/// `engram --db PATH mcp`.
pub fn run(db: &Path) -> Result<()> {
    super::init_logging("warn", crate::cli::LogFormat::Text)?;
    let engram = store::open(db, store::Access::Write)?;
    let embedder = store::embedder(&engram)?;
    let name = db.file_name().map_or_else(
        || db.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let space = Arc::new(Space {
        name,
        engram,
        embedder,
        path: db.to_owned(),
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("engram-mcp")
        .enable_all()
        .build()
        .context("cannot start the MCP server's threads")?;
    let result = runtime.block_on(async {
        let running = MemoryServer::new(space)
            .serve(rmcp::transport::stdio())
            .await
            .context("the MCP session did not start")?;
        running.waiting().await.context("the MCP session failed")?;
        Ok(())
    });
    // Waits for a write in progress, so that it is kept before the process exits.
    drop(runtime);
    result
}
