//! The command line: every command, argument and default (clap derive).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// The store used when neither `--db` nor `ENGRAM_DB` names one.
pub const DEFAULT_DB: &str = "engram.db";

/// Remember and recall from a shell: a persistent memory graph whose recall is cosine
/// similarity → spreading activation over associations → ranking by decayed strength.
///
/// Start with `engram init`, then `remember`, `associate` and `recall`; `import` loads JSON
/// Lines or WordNet. Every command takes `--db` and `--json`.
#[derive(Debug, Parser)]
#[command(name = "engram", version, max_term_width = 100)]
pub struct Cli {
    /// The store file [default: $ENGRAM_DB, else ./engram.db].
    #[arg(long, global = true, env = "ENGRAM_DB", default_value = DEFAULT_DB, hide_default_value = true, hide_env = true)]
    pub db: PathBuf,

    /// Print JSON (one object on one line) instead of text, for scripts.
    #[arg(long, global = true)]
    pub json: bool,

    /// Send the command to a running `engram serve` at this URL (e.g. http://127.0.0.1:7373)
    /// instead of opening a store: it acts on the space named by --space. ENGRAM_TOKEN, if
    /// set, is sent as the bearer token. [env: ENGRAM_SERVER]
    #[arg(
        long,
        global = true,
        env = "ENGRAM_SERVER",
        value_name = "URL",
        hide_env = true
    )]
    pub server: Option<String>,

    /// The directory of the minilm-l6-v2 model, for stores that embed text with it (`engram
    /// init --embedder minilm`); `scripts/install-model` installs it and prints the directory.
    /// [default: $ENGRAM_MODEL_DIR]
    #[arg(long, global = true, value_name = "DIR")]
    pub model_dir: Option<PathBuf>,

    /// With --server: the space to act on. [env: ENGRAM_SPACE]
    #[arg(
        long,
        global = true,
        env = "ENGRAM_SPACE",
        value_name = "NAME",
        hide_env = true
    )]
    pub space: Option<String>,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// `init --dim`'s default (and a new space's, in `engram serve`).
pub const DEFAULT_DIM: usize = 384;
/// `associate --weight`'s default.
pub const DEFAULT_WEIGHT: f32 = 0.5;
/// `recall --k`'s default.
pub const RECALL_K: usize = 10;
/// `recall --hops`'s default.
pub const RECALL_HOPS: u32 = 3;
/// `recall --limit`'s default.
pub const RECALL_LIMIT: usize = 20;
/// `recall --attenuation`'s default.
pub const RECALL_ATTENUATION: f32 = 0.5;
/// `recall --threshold`'s default.
pub const RECALL_THRESHOLD: f32 = 0.0;
/// `recall --half-life`'s default.
pub const DEFAULT_HALF_LIFE: &str = "1week";

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a new store: its embedding dimension and how it embeds text.
    Init(InitArgs),
    /// Remember a text (embedded by the store's text embedder) or a vector you give.
    Remember(RememberArgs),
    /// Associate memory A with memory B: recalling A then activates B.
    Associate(AssociateArgs),
    /// Remove the association from A to B.
    Dissociate(DissociateArgs),
    /// Forget memories and every association to or from them.
    Forget(ForgetArgs),
    /// Show one memory and its associations.
    Show(ShowArgs),
    /// Recall what a text or vector brings to mind, best first.
    Recall(RecallArgs),
    /// Import JSON Lines, or the WordNet 3.0 database, in batches of one transaction each.
    Import(ImportArgs),
    /// Export every memory and association as JSON Lines (the format `import` reads).
    Export(ExportArgs),
    /// Counts, dimension, scan precision, file size and the shape of the association graph.
    Stats,
    /// Change what recalls scan: rebuild every memory's codes at a precision (or drop them,
    /// for f32) from the f32 embeddings, which are always kept. One transaction.
    SetPrecision(SetPrecisionArgs),
    /// Version, the kernels in use (backend, CPU level, Zig version) and how to switch, and
    /// whether each text embedder can embed here (minilm: built in, its model found).
    Info,
    /// Time recalls on this store with every backend and CPU level, side by side.
    Bench(BenchArgs),
    /// Serve a directory of stores ("spaces") over HTTP: JSON routes for everything the
    /// commands do, for many clients at once. Ignores --db. See the README's "Server" section.
    Serve(ServeArgs),
    /// Serve this store (--db) to an AI agent over the Model Context Protocol, on standard
    /// input and output: tools remember, recall, associate, forget and show. See the README's
    /// "MCP" section for the lines to add to an agent's configuration.
    Mcp,
    /// Convert a store of format 1 (made by engram before the memory-mapped store) into a new
    /// store; the old one is left as it is. Ignores --db.
    Migrate(MigrateArgs),
}

/// The address `engram serve` listens on unless `--listen` says otherwise.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:7373";
/// `engram serve --max-body-bytes`' default: 64 MiB, a batch of about 25,000 memories of
/// 384 dimensions written as JSON numbers.
pub const DEFAULT_MAX_BODY_BYTES: usize = 64 << 20;

/// `engram serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The directory of spaces: space NAME is the store DIR/NAME.engram. Created if missing.
    #[arg(long, value_name = "DIR")]
    pub dir: PathBuf,
    /// The address and port to listen on (port 0: any free port, printed at start). Any
    /// address but loopback needs a token.
    #[arg(long, value_name = "ADDR:PORT", default_value = DEFAULT_LISTEN)]
    pub listen: std::net::SocketAddr,
    /// A file holding the bearer token every request must carry (`Authorization: Bearer
    /// TOKEN`); ENGRAM_TOKEN in the environment gives it instead. Never on the command line,
    /// where other users could read it. Required unless --listen is a loopback address.
    #[arg(long, value_name = "PATH")]
    pub token_file: Option<PathBuf>,
    /// A file of per-space tokens, one `SPACE TOKEN` per line: a request on such a space
    /// needs its token (or the server's), and a space's token opens that space only.
    #[arg(long, value_name = "PATH")]
    pub space_tokens: Option<PathBuf>,
    /// The largest request body accepted, in bytes; larger ones get 413.
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_MAX_BODY_BYTES)]
    pub max_body_bytes: usize,
    /// Allow browsers on this origin (e.g. http://localhost:5173) to call the server
    /// (repeatable). Without it, CORS is off: no cross-origin browser request is allowed.
    #[arg(long, value_name = "ORIGIN")]
    pub cors_origin: Vec<String>,
    /// Recalls run at once, each on its own thread, with one more thread for every other
    /// request [default: one per core].
    #[arg(long, value_name = "N")]
    pub workers: Option<usize>,
    /// The log lines' format on standard error: text (key=value fields) or json (one object
    /// per line, for log collectors).
    #[arg(long, value_enum, env = "ENGRAM_LOG_FORMAT", default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// How long a shutdown (SIGTERM or SIGINT) waits for requests in flight before it exits;
    /// writes already started always finish.
    #[arg(long, value_name = "DURATION", default_value = "30s")]
    pub shutdown_timeout: humantime::Duration,
}

/// How `engram serve` writes its log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// `2026-12-03T10:00:00Z INFO request request=0000002a method=POST ...`.
    Text,
    /// One JSON object per line: `{"timestamp", "level", "fields": {...}}`.
    Json,
}

/// `engram migrate`.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// The format-1 store, read only.
    pub from: PathBuf,
    /// Where the new store goes (must not exist).
    pub to: PathBuf,
}

/// How a store embeds text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EmbedderChoice {
    /// The built-in lexical embedder: feature hashing of words, word pairs and character
    /// n-grams (engram-text's `hash-v1`). Deterministic, no model, no network.
    Hash,
    /// sentence-transformers' all-MiniLM-L6-v2 (`minilm-l6-v2`): a small BERT that embeds by
    /// meaning, in 384 dimensions, run locally on the CPU from the model `scripts/install-model`
    /// installs (`--model-dir` or ENGRAM_MODEL_DIR). Needs engram built with `--features
    /// minilm`. Texts longer than 256 tokens (about 190 words) are embedded from their
    /// beginning, and the command says so.
    Minilm,
    /// None: every memory and cue must come with its own vector.
    None,
}

impl EmbedderChoice {
    /// The word `init --embedder` and a space's `"embedder"` take.
    pub fn name(self) -> &'static str {
        match self {
            Self::Hash => "hash",
            Self::Minilm => "minilm",
            Self::None => "none",
        }
    }

    /// The embedder a new store of dimension `dim` gets (`None` for `none`), reading the
    /// model, if it has one, from `model_dir` (else ENGRAM_MODEL_DIR); or why `dim` does
    /// not suit it.
    pub fn embedder(
        self,
        dim: usize,
        model_dir: Option<&std::path::Path>,
    ) -> Result<Option<engram_text::Embedder>, String> {
        match self {
            Self::Hash => engram_text::HashEmbedder::new(dim)
                .map(|hash| Some(engram_text::Embedder::Hash(hash)))
                .map_err(|e| e.to_string()),
            Self::Minilm => {
                let embedder = engram_text::Embedder::minilm(model_dir);
                if dim != embedder.dim() {
                    return Err(format!(
                        "{} embeds text in {} dimensions, not {dim}: leave the dimension out, or give {}",
                        embedder.name(),
                        embedder.dim(),
                        embedder.dim()
                    ));
                }
                Ok(Some(embedder))
            }
            Self::None => Ok(None),
        }
    }
}

/// `engram init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// Embedding dimension of every memory (minilm: 384, its only one).
    #[arg(long, default_value_t = DEFAULT_DIM)]
    pub dim: usize,
    /// How text is embedded.
    #[arg(long, value_enum, default_value_t = EmbedderChoice::Hash)]
    pub embedder: EmbedderChoice,
    /// What recalls scan: the f32 embeddings (exact), or f16 or int8 codes kept beside them
    /// (2× or 4× fewer bytes; the best candidates are rescored exactly, so results match f32's
    /// when the true best are among them, as on every cue measured). f32 is the default: the
    /// fastest writes and the smallest file. int8 made recalls of 1M memories 3× faster
    /// (BENCHMARKS.md); `engram set-precision` changes it later.
    #[arg(long, value_enum, default_value_t = PrecisionChoice::F32)]
    pub precision: PrecisionChoice,
}

/// A scan precision (`engram_graph::Precision`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum PrecisionChoice {
    /// The f32 embeddings: exact, 4 bytes a value.
    F32,
    /// f16 codes, 2 bytes a value.
    F16,
    /// int8 codes, 1 byte a value.
    Int8,
}

impl From<PrecisionChoice> for engram_graph::Precision {
    fn from(choice: PrecisionChoice) -> Self {
        match choice {
            PrecisionChoice::F32 => Self::F32,
            PrecisionChoice::F16 => Self::F16,
            PrecisionChoice::Int8 => Self::Int8,
        }
    }
}

/// `engram set-precision`.
#[derive(Debug, Args)]
pub struct SetPrecisionArgs {
    /// The new precision.
    #[arg(value_enum)]
    pub precision: PrecisionChoice,
}

/// A vector given on the command line or in a file, instead of text.
#[derive(Debug, Args)]
#[group(multiple = false)]
pub struct VectorArgs {
    /// The embedding as a JSON array, e.g. '[0.1, -0.3, 0.7]'.
    #[arg(long, value_name = "JSON")]
    pub vector: Option<String>,
    /// A file holding the embedding as a JSON array ('-' reads standard input).
    #[arg(long, value_name = "PATH")]
    pub vector_file: Option<PathBuf>,
}

/// `engram remember`.
#[derive(Debug, Args)]
pub struct RememberArgs {
    /// The memory's content. Embedded by the store's text embedder unless a vector is given.
    pub text: Option<String>,
    #[command(flatten)]
    pub vector: VectorArgs,
    /// Base strength in [0, 1].
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    pub strength: f32,
    /// When it happened (creation and last access): Unix seconds or RFC 3339
    /// ('2026-11-22T10:00:00Z') [default: now].
    #[arg(long, value_name = "TIME", allow_negative_numbers = true)]
    pub at: Option<String>,
}

/// `engram associate`.
#[derive(Debug, Args)]
pub struct AssociateArgs {
    /// The memory activation flows from.
    pub from: u64,
    /// The memory it flows to.
    pub to: u64,
    /// Weight in [-1, 1]; negative inhibits. Replaces an existing association's weight.
    #[arg(long, default_value_t = DEFAULT_WEIGHT, allow_negative_numbers = true)]
    pub weight: f32,
    /// Associate both ways (A → B and B → A).
    #[arg(long)]
    pub both: bool,
}

/// `engram dissociate`.
#[derive(Debug, Args)]
pub struct DissociateArgs {
    /// The memory the association flows from.
    pub from: u64,
    /// The memory it flows to.
    pub to: u64,
    /// Remove B → A too.
    #[arg(long)]
    pub both: bool,
}

/// `engram forget`.
#[derive(Debug, Args)]
pub struct ForgetArgs {
    /// The ids to forget (all in one transaction).
    #[arg(required = true)]
    pub ids: Vec<u64>,
}

/// `engram show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The memory's id.
    pub id: u64,
    /// Print its embedding too.
    #[arg(long)]
    pub embedding: bool,
}

/// How strength decays with time since last access.
#[derive(Debug, Args)]
pub struct DecayArgs {
    /// Exponential decay: strength halves every DURATION ('7d', '12h', '1week 2days').
    #[arg(
        long,
        value_name = "DURATION",
        default_value = DEFAULT_HALF_LIFE,
        conflicts_with = "power_law"
    )]
    pub half_life: String,
    /// Power-law decay instead: (1 + age / SCALE)^(-EXPONENT), e.g. '1day,0.5'.
    #[arg(long, value_name = "SCALE,EXPONENT")]
    pub power_law: Option<String>,
}

/// `engram recall`.
#[derive(Debug, Args)]
pub struct RecallArgs {
    /// The cue, embedded by the store's text embedder.
    pub text: Option<String>,
    #[command(flatten)]
    pub vector: VectorArgs,
    /// How many of the most similar memories seed the spreading (1..=10000).
    #[arg(long, default_value_t = RECALL_K)]
    pub k: usize,
    /// Hops of spreading activation (0..=16; 0 ranks the seeds alone).
    #[arg(long, default_value_t = RECALL_HOPS)]
    pub hops: u32,
    /// How many results to print (1..=100000).
    #[arg(long, default_value_t = RECALL_LIMIT)]
    pub limit: usize,
    /// Attenuation: the fraction of activation passed along an association per hop, in (0, 1].
    /// (`--spread-decay` is its former name, still accepted.)
    #[arg(
        long,
        alias = "spread-decay",
        default_value_t = RECALL_ATTENUATION,
        allow_negative_numbers = true
    )]
    pub attenuation: f32,
    /// Activation a memory needs to pass activation on (≥ 0).
    #[arg(long, default_value_t = RECALL_THRESHOLD, allow_negative_numbers = true)]
    pub threshold: f32,
    #[command(flatten)]
    pub decay: DecayArgs,
    /// Compute retention at this time instead of now (Unix seconds or RFC 3339).
    #[arg(long, value_name = "TIME", allow_negative_numbers = true)]
    pub at: Option<String>,
    /// Reinforce what is recalled: last access becomes now and strength moves this fraction
    /// of the way to 1 (a durable write).
    #[arg(long, value_name = "FRACTION", allow_negative_numbers = true)]
    pub reinforce: Option<f32>,
    /// Scan this precision instead of the store's: f32 always works (exact), f16 or int8 only
    /// if the store keeps those codes.
    #[arg(long, value_enum)]
    pub precision: Option<PrecisionChoice>,
    /// With codes, rescore this many of the best-scoring memories exactly before choosing
    /// the k seeds (k..=100000) [default: max(10·k, 100)].
    #[arg(long, value_name = "R")]
    pub candidates: Option<usize>,
    /// Run the same recall on every backend and CPU level this binary has, and at f32 and
    /// the store's precision, and print each one's time and whether its results match the
    /// Rust reference (and, for codes, the f32 scan: the same seeds, recall@k).
    #[arg(long, conflicts_with = "reinforce")]
    pub compare_backends: bool,
    /// Longest content shown per row, in characters (text output).
    #[arg(long, default_value_t = 70)]
    pub width: usize,
}

/// Input formats of `engram import`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ImportFormat {
    /// JSON Lines if PATH is a file, WordNet if it is a directory.
    Auto,
    /// One JSON object per line: {"id", "text", "embedding", "strength", "time", "created", "links": [{"to", "weight"}]}.
    Jsonl,
    /// The WordNet 3.0 database directory (data.noun, data.verb, data.adj, data.adv).
    Wordnet,
}

/// Records per transaction of `engram import`, unless `--batch` says otherwise.
pub const DEFAULT_BATCH: usize = 2000;

/// `engram import`.
///
/// Importing records this store imported before continues after them: an interrupted import
/// resumes where it stopped, a file that grew imports only its new records, and the same file
/// again imports nothing. JSON Lines are parsed on up to 4 threads (one per core).
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The file (JSON Lines; '-' reads standard input, and a pipe works too) or directory
    /// (WordNet, e.g. /usr/share/wordnet) to import.
    pub path: PathBuf,
    /// The input format.
    #[arg(long, value_enum, default_value_t = ImportFormat::Auto)]
    pub format: ImportFormat,
    /// Records per transaction.
    #[arg(long, default_value_t = DEFAULT_BATCH)]
    pub batch: usize,
    /// Import only the first N records (and the links between them).
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// Import as a new import even if this store imported these records before (they are
    /// then stored twice).
    #[arg(long)]
    pub again: bool,
}

/// `engram export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Where to write [default: standard output].
    pub path: Option<PathBuf>,
}

/// `engram bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Recalls timed per backend and level.
    #[arg(long, default_value_t = 30)]
    pub recalls: usize,
    /// A quick run: 5 recalls each.
    #[arg(long)]
    pub quick: bool,
    /// Threads for the similarity pass, on a second row per backend (1 = only single-threaded).
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
}
