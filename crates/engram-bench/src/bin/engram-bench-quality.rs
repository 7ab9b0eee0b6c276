//! `engram-bench-quality`: how well recalls over WordNet answer cues a person would type, with
//! the lexical `hash-v1` and the `minilm-l6-v2` sentence model, spreading off (hops 0) and on;
//! what each costs to import; and how fast the model embeds on one and two threads.
//!
//! ```text
//! export ENGRAM_MODEL_DIR="$(scripts/install-model)"
//! cargo build --release -p engram-graph-cli --features zig-kernels,minilm
//! cargo run --release -p engram-bench --features minilm --bin engram-bench-quality -- --wordnet /usr/share/wordnet
//! ```
//!
//! 1. Two stores, made as a user makes them: `engram init --embedder hash|minilm`, then
//!    `engram import WORDNET` (timed: the import's wall time, model load included).
//! 2. The cues (`data/wordnet-cues.tsv`: each with the synsets that answer it, written by
//!    hand) are embedded by each store's embedder and recalled in process with the command's
//!    defaults but the hops (k = 10 seeds, limit 10). A cue's hit@1 counts when the first
//!    result is one of its answers; hit@10 when any of the first ten is.
//! 3. Throughput: a child process per thread count (`RAYON_NUM_THREADS`, which candle's matrix
//!    products and the tokenizer follow) loads the model (timed), embeds WordNet glosses in
//!    batches, then each cue alone (the cost a recall adds).

#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use clap::Parser;
use engram_bench::disk::engram_binary;
use engram_bench::wordnet::{self, Synset};
use engram_graph::{Engram, MemoryId, Options, RecallParams};
use engram_text::Embedder;

/// The cues shipped with the benchmark.
const CUES: &str = include_str!("../../data/wordnet-cues.tsv");
/// The store property naming a store's embedder (the command's).
const EMBEDDER_PROPERTY: &str = "engram.embedder";

/// Measure recall quality on WordNet with each text embedder, and the model's speed.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// The WordNet 3.0 database directory (Debian's wordnet-base).
    #[arg(long, default_value = "/usr/share/wordnet")]
    wordnet: PathBuf,
    /// A cue file (cue TAB answer keys) instead of the shipped one.
    #[arg(long)]
    cues: Option<PathBuf>,
    /// Where the two stores go (default: a temporary directory, removed after).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Keep the stores in --dir, and reuse ones a previous run kept (no import then).
    #[arg(long)]
    keep: bool,
    /// Hops of the spreading configuration (the other has none).
    #[arg(long, default_value_t = 3)]
    hops: u32,
    /// Print every cue's first result in each configuration.
    #[arg(long)]
    verbose: bool,
    /// Glosses embedded per throughput run.
    #[arg(long, default_value_t = 2000)]
    sentences: usize,
    /// Throughput runs per thread count (alternated).
    #[arg(long, default_value_t = 2)]
    rounds: usize,
    /// Skip the throughput measurement.
    #[arg(long)]
    skip_throughput: bool,
    /// Only the throughput measurement.
    #[arg(long, conflicts_with = "skip_throughput")]
    only_throughput: bool,
    /// Internal: run one throughput measurement here and print it as one JSON line.
    #[arg(long, hide = true)]
    child_throughput: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let result = if args.child_throughput {
        child_throughput(&args)
    } else {
        run(&args)
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("engram-bench-quality: {error}");
            ExitCode::FAILURE
        }
    }
}

/// One hand-written cue and the memory ids that answer it.
struct Cue {
    text: String,
    answers: Vec<MemoryId>,
}

fn run(args: &Args) -> Result<(), String> {
    let synsets = wordnet::read(&args.wordnet)?;
    if !args.only_throughput {
        quality(args, &synsets)?;
    }
    if !args.skip_throughput {
        throughput(args)?;
    }
    Ok(())
}

/// The cues of `text`, their answer keys mapped to the ids `engram import` gave the synsets.
fn cues(text: &str, synsets: &[Synset]) -> Result<Vec<Cue>, String> {
    let ids: HashMap<&str, MemoryId> = synsets
        .iter()
        .enumerate()
        .map(|(i, s)| (s.key.as_str(), MemoryId::new(i as u64 + 1)))
        .collect();
    let mut cues = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let (cue, answers) = line
            .split_once('\t')
            .ok_or_else(|| format!("cue line {}: no tab between the cue and its answers", n + 1))?;
        let answers = answers
            .split_ascii_whitespace()
            .map(|key| {
                ids.get(key)
                    .copied()
                    .ok_or_else(|| format!("cue line {}: no synset {key} in WordNet", n + 1))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if answers.is_empty() {
            return Err(format!("cue line {}: no answers", n + 1));
        }
        cues.push(Cue {
            text: cue.to_owned(),
            answers,
        });
    }
    Ok(cues)
}

fn quality(args: &Args, synsets: &[Synset]) -> Result<(), String> {
    let cue_text = match &args.cues {
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?,
        None => CUES.to_owned(),
    };
    let cues = cues(&cue_text, synsets)?;
    let temporary = match &args.dir {
        Some(_) => None,
        None => Some(tempfile::tempdir().map_err(|e| format!("no temporary directory: {e}"))?),
    };
    let dir = args
        .dir
        .clone()
        .or_else(|| temporary.as_ref().map(|t| t.path().to_owned()))
        .ok_or("no directory for the stores")?;
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let engram = engram_binary()?;

    println!(
        "## Recall quality on WordNet 3.0 ({} synsets), {} hand-written cues\n",
        synsets.len(),
        cues.len()
    );
    let mut rows = Vec::new();
    let mut imports = Vec::new();
    for embedder in ["hash", "minilm"] {
        let db = dir.join(format!("wordnet-{embedder}.engram"));
        if args.keep && db.exists() {
            imports.push(format!("- `{embedder}`: reused {} (--keep)", db.display()));
        } else {
            let _ = std::fs::remove_file(&db);
            let _ = std::fs::remove_file(db.with_extension("engram-lock"));
            run_engram(&engram, &db, &["init", "--embedder", embedder])?;
            let started = Instant::now();
            run_engram(
                &engram,
                &db,
                &["import", &args.wordnet.display().to_string()],
            )?;
            imports.push(format!(
                "- `{embedder}`: `engram import` of WordNet in {:.1} s",
                started.elapsed().as_secs_f64()
            ));
        }
        let store = Engram::open(
            &db,
            Options {
                read_only: true,
                ..Options::default()
            },
        )
        .map_err(|e| format!("{}: {e}", db.display()))?;
        check_order(&store, synsets)?;
        let spec = store
            .property(EMBEDDER_PROPERTY)
            .map_err(|e| e.to_string())?
            .ok_or("the store records no embedder")?;
        let text_embedder = Embedder::from_spec(&spec, None).map_err(|e| e.to_string())?;
        let texts: Vec<&str> = cues.iter().map(|c| c.text.as_str()).collect();
        let vectors = text_embedder
            .embed_batch(&texts)
            .map_err(|e| format!("{spec}: {e}"))?
            .vectors;
        for hops in [0, args.hops] {
            let params = RecallParams {
                hops,
                limit: 10,
                ..RecallParams::default()
            };
            let (mut hit1, mut hit10) = (0, 0);
            for (cue, vector) in cues.iter().zip(&vectors) {
                let recalled = store.recall(vector, &params).map_err(|e| e.to_string())?;
                let rank = recalled.iter().position(|r| cue.answers.contains(&r.id));
                hit1 += usize::from(rank == Some(0));
                hit10 += usize::from(rank.is_some());
                if args.verbose {
                    let first = recalled
                        .first()
                        .and_then(|r| store.snapshot().content(r.id))
                        .map(|c| c.chars().take(60).collect::<String>())
                        .unwrap_or_default();
                    println!(
                        "{embedder} hops {hops}: {:?} -> rank {rank:?}; first: {first}",
                        cue.text
                    );
                }
            }
            rows.push(format!(
                "| {} | {hops} | {hit1}/{n} ({:.0}%) | {hit10}/{n} ({:.0}%) |",
                text_embedder.name(),
                100.0 * hit1 as f64 / cues.len() as f64,
                100.0 * hit10 as f64 / cues.len() as f64,
                n = cues.len(),
            ));
        }
    }
    println!("| embedder | hops | hit@1 | hit@10 |\n|---|---|---|---|");
    for row in rows {
        println!("{row}");
    }
    println!("\nRecalls with k = 10 seeds and limit 10, the command's other defaults.\n");
    for line in imports {
        println!("{line}");
    }
    if args.keep {
        println!("- stores kept in {}", dir.display());
    }
    println!();
    Ok(())
}

/// `engram --db DB args...`, which must succeed.
fn run_engram(engram: &Path, db: &Path, args: &[&str]) -> Result<(), String> {
    let output = Command::new(engram)
        .arg("--db")
        .arg(db)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", engram.display()))?;
    if !output.status.success() {
        return Err(format!(
            "engram {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(())
}

/// The store holds the synsets in file order (memory `i + 1` is synset `i`), as the cues'
/// answers assume: checked on the first, the last and every 1000th.
fn check_order(store: &Engram, synsets: &[Synset]) -> Result<(), String> {
    let snapshot = store.snapshot();
    if snapshot.len() != synsets.len() {
        return Err(format!(
            "the store has {} memories, WordNet {} synsets",
            snapshot.len(),
            synsets.len()
        ));
    }
    for i in (0..synsets.len()).step_by(1000).chain([synsets.len() - 1]) {
        let content = snapshot.content(MemoryId::new(i as u64 + 1));
        if content.as_deref() != Some(synsets[i].content.as_str()) {
            return Err(format!(
                "memory {} is not synset {} ({:?})",
                i + 1,
                synsets[i].key,
                synsets[i].content
            ));
        }
    }
    Ok(())
}

fn throughput(args: &Args) -> Result<(), String> {
    let me = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut runs: Vec<serde_json::Value> = Vec::new();
    for _ in 0..args.rounds.max(1) {
        for threads in ["1", "2"] {
            let output = Command::new(&me)
                .args([
                    "--child-throughput",
                    "--sentences",
                    &args.sentences.to_string(),
                ])
                .arg("--wordnet")
                .arg(&args.wordnet)
                .env("RAYON_NUM_THREADS", threads)
                .output()
                .map_err(|e| e.to_string())?;
            if !output.status.success() {
                return Err(String::from_utf8_lossy(&output.stderr).into_owned());
            }
            let line = String::from_utf8_lossy(&output.stdout);
            runs.push(serde_json::from_str(line.trim()).map_err(|e| format!("{e}: {line}"))?);
        }
    }
    println!("## minilm-l6-v2 throughput (WordNet glosses, batches of 32 sorted by length)\n");
    println!(
        "| threads | model load | glosses | mean words | glosses/s | one cue, p50 |\n|---|---|---|---|---|---|"
    );
    for m in &runs {
        let number = |key: &str| m[key].as_f64().unwrap_or(f64::NAN);
        println!(
            "| {} | {:.2} s | {} | {:.1} | {:.0} | {:.1} ms |",
            m["threads"].as_str().unwrap_or("?"),
            number("load_seconds"),
            number("sentences"),
            number("mean_words"),
            number("per_second"),
            number("cue_p50_ms")
        );
    }
    println!();
    Ok(())
}

/// Loads the model, embeds `--sentences` glosses spread over WordNet, then each cue alone;
/// prints one JSON line.
fn child_throughput(args: &Args) -> Result<(), String> {
    let synsets = wordnet::read(&args.wordnet)?;
    let step = (synsets.len() / args.sentences.max(1)).max(1);
    let texts: Vec<&str> = synsets
        .iter()
        .step_by(step)
        .take(args.sentences)
        .map(|s| s.content.as_str())
        .collect();
    let embedder = Embedder::minilm(None);
    let started = Instant::now();
    embedder.load().map_err(|e| e.to_string())?;
    let load = started.elapsed();
    let started = Instant::now();
    embedder.embed_batch(&texts).map_err(|e| e.to_string())?;
    let batched = started.elapsed();
    let mut cue_times: Vec<Duration> = CUES
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.split('\t').next())
        .map(|cue| {
            let started = Instant::now();
            let _ = embedder.embed(cue);
            started.elapsed()
        })
        .collect();
    cue_times.sort();
    let words: usize = texts.iter().map(|t| t.split_whitespace().count()).sum();
    println!(
        "{}",
        serde_json::json!({
            "threads": std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "default".into()),
            "load_seconds": load.as_secs_f64(),
            "sentences": texts.len(),
            "mean_words": words as f64 / texts.len().max(1) as f64,
            "per_second": texts.len() as f64 / batched.as_secs_f64(),
            "cue_p50_ms": cue_times.get(cue_times.len() / 2).map_or(0.0, |d| d.as_secs_f64() * 1e3),
        })
    );
    Ok(())
}
