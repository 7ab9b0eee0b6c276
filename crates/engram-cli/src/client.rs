//! `--server URL`: the commands sent to a running `engram serve` instead of a store opened
//! here. Each command becomes one request on the space `--space` names, and prints what it
//! prints locally (the same text, the same `--json`), built from the server's answer by the
//! functions the local commands use. `import` is the local import ([`import::run`]) writing
//! its batches with `POST /v1/spaces/{space}/batch` ([`RemoteSpace`]). Commands that need the
//! store's file (bench, set-precision, migrate, info, serve, mcp) say so instead.

use std::io::{BufRead, Write};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use serde_json::{Value, json};

use crate::cli::{Cli, Command};
use crate::commands::{self, Stats};
use crate::import::{self, Batch, BatchFailure, Record, Target, Written};
use crate::progress::Progress;
use crate::recall::{self, Row};
use crate::serve::ops::{BatchAssociation, ImportBatch, ImportRecord};
use crate::{output, store};

/// A server and the space the command acts on.
struct Remote {
    agent: ureq::Agent,
    /// The server's URL, without a trailing `/`.
    base: String,
    space: String,
    token: Option<String>,
}

/// A request's answer: its status and body.
struct Answer {
    status: u16,
    body: ureq::Body,
}

impl Remote {
    fn new(server: &str, space: Option<&str>) -> Result<Self> {
        let base = server.trim_end_matches('/').to_owned();
        if !base.starts_with("http://") {
            bail!(
                "--server {server:?} is not an http:// URL (write e.g. http://127.0.0.1:7373; https is not built in: reach a remote server through a TLS proxy or an SSH tunnel)"
            );
        }
        let space = space
            .ok_or_else(|| {
                anyhow!("with --server, name the space to use with --space NAME (or ENGRAM_SPACE)")
            })?
            .to_owned();
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(10)))
            .build()
            .into();
        let token = std::env::var(crate::serve::TOKEN_ENV)
            .ok()
            .map(|t| t.trim().to_owned());
        Ok(Self {
            agent,
            base,
            space,
            token,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}/v1/spaces/{}{path}", self.base, self.space)
    }

    /// Sends `method url` with a JSON body, if any; a transport failure is an error, any
    /// status is an answer.
    fn send(&self, method: &str, url: &str, body: Option<&Value>) -> Result<Answer> {
        self.send_text(method, url, body.map(Value::to_string))
    }

    /// [`Remote::send`] with the body's JSON already written.
    fn send_text(&self, method: &str, url: &str, body: Option<String>) -> Result<Answer> {
        let auth = self.token.as_ref().map(|t| format!("Bearer {t}"));
        let with_auth = |request: ureq::RequestBuilder<ureq::typestate::WithoutBody>| match &auth {
            Some(auth) => request.header("Authorization", auth),
            None => request,
        };
        let with_body_auth = |request: ureq::RequestBuilder<ureq::typestate::WithBody>| match &auth
        {
            Some(auth) => request.header("Authorization", auth),
            None => request,
        };
        let unreachable = |e: ureq::Error| anyhow!("cannot reach the server at {}: {e}", self.base);
        let response = match (method, body) {
            ("GET", _) => with_auth(self.agent.get(url)).call(),
            ("DELETE", _) => with_auth(self.agent.delete(url)).call(),
            (method, body) => {
                let request = match method {
                    "PUT" => self.agent.put(url),
                    _ => self.agent.post(url),
                };
                with_body_auth(request)
                    .header("Content-Type", "application/json")
                    .send(body.unwrap_or_default())
            }
        }
        .map_err(unreachable)?;
        let status = response.status().as_u16();
        Ok(Answer {
            status,
            body: response.into_body(),
        })
    }

    /// A request whose answer must be a 2xx with a JSON body; an error answer becomes the
    /// server's message. The status, the JSON, and its text as it came.
    fn json(&self, method: &str, url: &str, body: Option<&Value>) -> Result<(u16, Value, String)> {
        let answer = self.send(method, url, body)?;
        let (status, value, text) = self.read_json(answer)?;
        if (200..300).contains(&status) {
            return Ok((status, value, text));
        }
        Err(self.refused(status, &value))
    }

    /// An answer's JSON, whatever its status: the status, the JSON and its text.
    fn read_json(&self, mut answer: Answer) -> Result<(u16, Value, String)> {
        let text = answer
            .body
            .with_config()
            .limit(1 << 30)
            .read_to_string()
            .with_context(|| format!("reading the answer of {}", self.base))?;
        let value: Value = serde_json::from_str(&text).map_err(|_| {
            anyhow!(
                "the server at {} answered {} with something other than JSON: {}",
                self.base,
                answer.status,
                output::shorten(&text, 200)
            )
        })?;
        Ok((answer.status, value, text))
    }

    /// An error answer as the error the command reports: the server's message, except that an
    /// unknown space is told the command that creates it (the server's message names the
    /// route, for HTTP clients).
    fn refused(&self, status: u16, value: &Value) -> anyhow::Error {
        if value["error"]["code"] == "unknown_space" {
            return anyhow!(
                "there is no space {:?} on {}: create it with `engram --server {} --space {} init` (status {status})",
                self.space,
                self.base,
                import::shell_word(&self.base),
                import::shell_word(&self.space)
            );
        }
        match value["error"]["message"].as_str() {
            Some(message) => anyhow!("{message} (server {}, {status})", self.base),
            None => anyhow!("the server at {} answered {status}: {value}", self.base),
        }
    }
}

/// Runs `cli`'s command on the server `server`.
pub fn run(cli: &Cli, server: &str) -> Result<()> {
    let remote = Remote::new(server, cli.space.as_deref())?;
    let json = cli.json;
    match &cli.command {
        Command::Init(args) => {
            let body = json!({
                "dim": args.dim,
                "embedder": args.embedder.name(),
                "precision": engram_graph::Precision::from(args.precision).as_str(),
            });
            let (status, space, _) = remote.json("PUT", &remote.url(""), Some(&body))?;
            if status != 201 {
                bail!(
                    "space {:?} already exists on {}: use it as it is, or pick another --space",
                    remote.space,
                    remote.base
                );
            }
            if json {
                return output::json(&space);
            }
            output::text(&format!(
                "created space {} on {} (dimension {}, text embedder: {}, scan precision: {})\n",
                remote.space,
                remote.base,
                space["dim"],
                str_of(&space["embedder"]),
                str_of(&space["precision"])
            ))
        }
        Command::Remember(args) => {
            let mut record = json!({ "strength": args.strength });
            if let Some(text) = &args.text {
                record["text"] = json!(text);
            }
            if let Some(vector) = store::read_vector(&args.vector)? {
                record["embedding"] = json!(vector);
            }
            if let Some(at) = &args.at {
                record["time"] = json!(store::parse_time(at)?);
            }
            let (_, answer, _) = remote.json("POST", &remote.url("/memories"), Some(&record))?;
            let id = answer["ids"][0]
                .as_u64()
                .ok_or_else(|| anyhow!("the server answered no id: {answer}"))?;
            let truncated = answer.get("truncated").is_some();
            if truncated {
                // Rare: only then is the space's embedder asked for, to name it in the note.
                let (_, stats, _) = remote.json("GET", &remote.url("/stats"), None)?;
                let spec = stats["embedder"].as_str().unwrap_or_default();
                if let Ok(embedder) = engram_text::Embedder::from_spec(spec, None) {
                    output::note(&store::truncated_note(&embedder, "the text is"));
                }
            }
            if json {
                return output::json(&commands::remembered_json(id, truncated));
            }
            output::text(&format!("{id}\n"))
        }
        Command::Associate(args) => {
            let body = json!({ "weight": args.weight, "both": args.both });
            let url = remote.url(&format!("/associations/{}/{}", args.from, args.to));
            let (_, _, text) = remote.json("PUT", &url, Some(&body))?;
            if json {
                return verbatim(&text);
            }
            output::text(&commands::associated_text(
                args.from,
                args.to,
                args.weight,
                args.both,
            ))
        }
        Command::Dissociate(args) => {
            let url = remote.url(&format!(
                "/associations/{}/{}?both={}",
                args.from, args.to, args.both
            ));
            let (_, _, text) = remote.json("DELETE", &url, None)?;
            if json {
                return verbatim(&text);
            }
            output::text(&commands::dissociated_text(args.from, args.to))
        }
        Command::Forget(args) => {
            let body = json!({ "ids": args.ids });
            let (_, answer, text) = remote.json("POST", &remote.url("/forget"), Some(&body))?;
            if json {
                return verbatim(&text);
            }
            let ids: Vec<u64> = serde_json::from_value(answer["forgotten"].clone())
                .context("the server's forgotten ids")?;
            output::text(&commands::forgot_text(&ids))
        }
        Command::Show(args) => {
            let url = remote.url(&format!(
                "/memories/{}?embedding={}",
                args.id, args.embedding
            ));
            let (_, answer, text) = remote.json("GET", &url, None)?;
            if json {
                return verbatim(&text);
            }
            // From text: a record's embedding is parsed from its raw JSON.
            let record: Record = serde_json::from_str(&answer.to_string())
                .context("the server's memory is not a record")?;
            let mut targets = Vec::new();
            for link in &record.links {
                let url = remote.url(&format!("/memories/{}", link.to.key()));
                let (_, target, _) = remote.json("GET", &url, None)?;
                targets.push(target["text"].as_str().map(str::to_owned));
            }
            output::text(&commands::show_text(&record, &targets)?)
        }
        Command::Recall(args) => {
            if args.compare_backends {
                bail!("--compare-backends runs where the store is; it does not work with --server");
            }
            let mut body = json!({
                "k": args.k, "hops": args.hops, "limit": args.limit,
                "attenuation": args.attenuation, "threshold": args.threshold,
            });
            match &args.decay.power_law {
                Some(power_law) => body["power_law"] = json!(power_law),
                None => body["half_life"] = json!(args.decay.half_life),
            }
            if let Some(text) = &args.text {
                body["text"] = json!(text);
            }
            if let Some(vector) = store::read_vector(&args.vector)? {
                body["vector"] = json!(vector);
            }
            if let Some(at) = &args.at {
                body["at"] = json!(store::parse_time(at)?);
            }
            if let Some(reinforce) = args.reinforce {
                body["reinforce"] = json!(reinforce);
            }
            if let Some(precision) = args.precision {
                body["precision"] = json!(engram_graph::Precision::from(precision).as_str());
            }
            if let Some(candidates) = args.candidates {
                body["candidates"] = json!(candidates);
            }
            let (_, answer, text) = remote.json("POST", &remote.url("/recall"), Some(&body))?;
            if json {
                return verbatim(&text);
            }
            let rows: Vec<Row> = serde_json::from_value(answer["results"].clone())
                .context("the server's results are not recall rows")?;
            let elapsed =
                Duration::from_secs_f64(answer["elapsed_ms"].as_f64().unwrap_or(0.0) / 1e3);
            let memories =
                usize::try_from(answer["memories"].as_u64().unwrap_or(0)).unwrap_or(usize::MAX);
            output::text(&recall::render_table(
                &rows,
                memories,
                elapsed,
                &format!("{} (server {})", str_of(&answer["kernels"]), remote.base),
                args.width,
            )?)
        }
        Command::Stats => {
            let (_, answer, text) = remote.json("GET", &remote.url("/stats"), None)?;
            if json {
                return verbatim(&text);
            }
            let stats: Stats = serde_json::from_value(answer).context("the server's statistics")?;
            output::text(&commands::stats_text(&stats))
        }
        Command::Export(args) => export(&remote, args.path.as_deref(), json),
        Command::Import(args) => {
            import::check_args(args)?;
            let signals = import::Signals::watch()?;
            import::run(&mut RemoteSpace::connect(remote)?, &signals, args, json)
        }
        other => bail!(
            "`engram {}` works on a store file, not over --server: run it where the store is",
            command_name(other)
        ),
    }
}

/// The server's JSON as it sent it (one line, in the fields' order, as the local command
/// prints it).
fn verbatim(text: &str) -> Result<()> {
    output::text(&format!("{}\n", text.trim_end()))
}

/// A JSON string's text, or the JSON itself.
fn str_of(value: &Value) -> String {
    value
        .as_str()
        .map_or_else(|| value.to_string(), str::to_owned)
}

fn command_name(command: &Command) -> &'static str {
    match command {
        Command::SetPrecision(_) => "set-precision",
        Command::Info => "info",
        Command::Bench(_) => "bench",
        Command::Migrate(_) => "migrate",
        Command::Serve(_) => "serve",
        Command::Mcp => "mcp",
        _ => "this command",
    }
}

/// `export` from the server: its JSON Lines, copied as they arrive to standard output or to
/// `path`; with a path, the counts are printed as the local export prints them.
fn export(remote: &Remote, path: Option<&std::path::Path>, json: bool) -> Result<()> {
    let mut answer = remote.send("GET", &remote.url("/export"), None)?;
    if !(200..300).contains(&answer.status) {
        // The error's JSON, read as any other answer's.
        let text = answer.body.with_config().limit(1 << 20).read_to_string()?;
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        bail!(
            "{} (server {}, {})",
            value["error"]["message"].as_str().unwrap_or(&text),
            remote.base,
            answer.status
        );
    }
    let reader = std::io::BufReader::new(answer.body.as_reader());
    let (mut memories, mut associations) = (0usize, 0usize);
    let copy = |out: &mut dyn Write| -> Result<()> {
        for line in reader.lines() {
            let line =
                line.with_context(|| format!("the export from {} broke off", remote.base))?;
            let record: Record = serde_json::from_str(&line).with_context(|| {
                format!(
                    "the export from {} holds a line that is not a record",
                    remote.base
                )
            })?;
            memories += 1;
            associations += record.links.len();
            out.write_all(line.as_bytes())?;
            out.write_all(b"\n")?;
        }
        out.flush()?;
        Ok(())
    };
    let Some(path) = path else {
        return copy(&mut std::io::BufWriter::new(std::io::stdout().lock()))
            .context(output::STDOUT);
    };
    let file =
        std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    copy(&mut std::io::BufWriter::new(file))
        .with_context(|| format!("cannot write {}", path.display()))?;
    if json {
        return output::json(&json!({
            "path": path, "memories": memories, "associations": associations,
        }));
    }
    output::text(&format!(
        "exported {memories} memories and {associations} associations to {}\n",
        path.display()
    ))
}

/// A space of a running server, as an import's [`Target`]: what it needs to start comes from
/// `GET /v1/spaces/{space}/imports`, and each batch is one `POST /v1/spaces/{space}/batch`.
struct RemoteSpace {
    remote: Remote,
    dim: usize,
    embedder: Option<engram_text::Embedder>,
}

/// `GET /v1/spaces/{space}/imports`'s answer.
#[derive(serde::Deserialize)]
struct Imports {
    dim: usize,
    embedder: String,
    imports: Vec<ImportRecord>,
}

/// `POST /v1/spaces/{space}/batch`'s body, as the client writes it.
#[derive(serde::Serialize)]
struct BatchBody<'a> {
    memories: &'a [Record],
    associations: Vec<BatchAssociation>,
    import: ImportBatch,
}

impl RemoteSpace {
    fn connect(remote: Remote) -> Result<Self> {
        let imports = Self::imports_of(&remote)?;
        let embedder = match imports.embedder.as_str() {
            "none" => None,
            spec => Some(engram_text::Embedder::from_spec(spec, None).with_context(|| {
                format!(
                    "space {:?} on {} embeds text with {spec}, which this engram does not know; upgrade engram",
                    remote.space, remote.base
                )
            })?),
        };
        Ok(Self {
            dim: imports.dim,
            embedder,
            remote,
        })
    }

    fn imports_of(remote: &Remote) -> Result<Imports> {
        let (_, answer, _) = remote.json("GET", &remote.url("/imports"), None)?;
        serde_json::from_value(answer).context("the server's list of imports")
    }
}

impl Target for RemoteSpace {
    fn words(&self) -> Vec<String> {
        vec![
            "--server".to_owned(),
            import::shell_word(&self.remote.base),
            "--space".to_owned(),
            import::shell_word(&self.remote.space),
        ]
    }

    fn noun(&self) -> &'static str {
        "space"
    }

    fn spool_dir(&self) -> std::path::PathBuf {
        std::env::temp_dir()
    }

    fn dimension(&self) -> usize {
        self.dim
    }

    fn embedder(&self) -> Option<&engram_text::Embedder> {
        self.embedder.as_ref()
    }

    fn imports(&mut self) -> Result<Vec<(String, Progress)>> {
        Ok(Self::imports_of(&self.remote)?
            .imports
            .into_iter()
            .map(|record| (record.key, record.progress))
            .collect())
    }

    /// The server embeds the batch's texts: `_embedded` is never called.
    fn write(&mut self, batch: Batch, _embedded: &dyn Fn(usize)) -> Result<Written, BatchFailure> {
        let count = batch.memories.len();
        let body = BatchBody {
            memories: &batch.memories,
            associations: batch
                .associations
                .iter()
                .map(|&(from, to, weight)| BatchAssociation {
                    from: from.into(),
                    to: to.into(),
                    weight: Some(weight),
                })
                .collect(),
            import: ImportBatch {
                key: batch.key,
                progress: batch.progress,
                previous: batch.previous,
            },
        };
        let other = BatchFailure::Other;
        let text = serde_json::to_string(&body)
            .map_err(|e| other(anyhow!("cannot write the batch as JSON: {e}")))?;
        let answer = self
            .remote
            .send_text("POST", &self.remote.url("/batch"), Some(text))
            .map_err(other)?;
        let (status, value, _) = self.remote.read_json(answer).map_err(other)?;
        if (200..300).contains(&status) {
            let ids: Vec<u64> = serde_json::from_value(value["ids"].clone())
                .map_err(|e| other(anyhow!("the server's ids: {e}")))?;
            // Absent when no text was truncated.
            let truncated: Vec<usize> = match value.get("truncated") {
                Some(list) => serde_json::from_value(list.clone())
                    .map_err(|e| other(anyhow!("the server's truncated texts: {e}")))?,
                None => Vec::new(),
            };
            return Ok(Written {
                ids: ids.into_iter().map(engram_graph::MemoryId::new).collect(),
                truncated,
            });
        }
        if let (Some(index), Some(message)) = (
            value["error"]["item"].as_u64(),
            value["error"]["message"].as_str(),
        ) {
            return Err(BatchFailure::Item {
                index: usize::try_from(index).unwrap_or(usize::MAX),
                message: format!("{message} (server {}, {status})", self.remote.base),
            });
        }
        let error = self.remote.refused(status, &value);
        Err(other(if status == 413 {
            error.context(format!(
                "a batch of {count} records is larger than the server takes: import with a smaller --batch"
            ))
        } else {
            error
        }))
    }
}
