//! `engram-bench-serve`: `engram serve` under load, on loopback, as its users reach it.
//!
//! For each size: a server (the `engram` binary beside this one) is started on a fresh
//! directory and filled over HTTP with generated texts (each linked to a few earlier ones).
//! Then, side by side in one run:
//! 1. the same recalls (text cues, the command's defaults) in this process on the same store
//!    file, opened read-only, embedding included: the in-process baseline;
//! 2. one HTTP client recalling them one after another: what HTTP adds to a recall;
//! 3. recall throughput of `--workers 1` against `--workers 2` (several clients, recalls only);
//! 4. many clients mixing recalls and writes: latency percentiles, throughput and errors.
//!
//! `cargo build --release -p engram-graph-cli --features zig-kernels && cargo run --release
//! -p engram-bench --features zig-kernels --bin engram-bench-serve`

#![forbid(unsafe_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use engram_bench::workload::Rng;
use engram_graph::{Engram, Options, RecallParams};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// Benchmarks `engram serve` on loopback: HTTP overhead, scaling over workers, mixed load.
#[derive(Debug, Parser)]
struct Args {
    /// Memories in the space, one measurement each.
    #[arg(long, value_delimiter = ',', default_value = "10000,100000")]
    sizes: Vec<usize>,
    /// Concurrent clients of the mixed load.
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// Concurrent clients of the throughput comparison (recalls only).
    #[arg(long, default_value_t = 8)]
    throughput_clients: usize,
    /// Seconds each load runs.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// Percent of the mixed load's requests that are writes (one memory each).
    #[arg(long, default_value_t = 10)]
    write_percent: u64,
    /// Distinct cues (sequential recalls: each once, after a warm-up round).
    #[arg(long, default_value_t = 200)]
    cues: usize,
    /// The space's scan precision: f32, f16 or int8.
    #[arg(long, default_value = "f32")]
    precision: String,
    /// Keep the spaces in DIR/SIZE (created, or reused if filled before) instead of a
    /// temporary directory removed at the end. A reused space also holds the writes of the
    /// earlier runs' mixed loads (a few thousand at most).
    #[arg(long, value_name = "DIR")]
    keep: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln_stderr(&format!("engram-bench-serve: {e}"));
            ExitCode::FAILURE
        }
    }
}

fn writeln_stderr(text: &str) -> std::io::Result<()> {
    use std::io::Write;
    writeln!(std::io::stderr(), "{text}")
}

fn say(text: &str) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}")?;
    out.flush()?;
    Ok(())
}

/// A text of 6 to 14 words from a vocabulary of 5,000 made-up ones.
fn text(rng: &mut Rng) -> String {
    let words = 6 + rng.below(9);
    (0..words)
        .map(|_| word(rng.below(5000)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Made-up word number `n`: pronounceable, distinct.
fn word(mut n: u64) -> String {
    const CONSONANTS: &[u8] = b"bcdfghklmnprstvz";
    const VOWELS: &[u8] = b"aeiou";
    let mut out = String::new();
    for _ in 0..3 {
        out.push(CONSONANTS[(n % 16) as usize] as char);
        n /= 16;
        out.push(VOWELS[(n % 5) as usize] as char);
        n /= 5;
    }
    out
}

/// A running `engram serve`, killed when dropped.
struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn start(engram: &Path, dir: &Path, workers: usize) -> Result<Self> {
        let mut child = Command::new(engram)
            .args(["serve", "--listen", "127.0.0.1:0", "--workers"])
            .arg(workers.to_string())
            .arg("--dir")
            .arg(dir)
            .env("ENGRAM_LOG", "warn")
            .env_remove("ENGRAM_TOKEN")
            .stdout(Stdio::piped())
            .spawn()?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .ok_or_else(|| format!("engram serve said {line:?}"))?
            .to_owned();
        Ok(Self { child, url })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

/// POSTs JSON; the answer's body, or an error for anything but a 2xx.
fn post(agent: &ureq::Agent, url: &str, body: &str) -> Result<String> {
    let mut response = agent
        .post(url)
        .header("Content-Type", "application/json")
        .send(body)?;
    Ok(response.body_mut().read_to_string()?)
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn sorted(mut values: Vec<f64>) -> Vec<f64> {
    values.sort_by(f64::total_cmp);
    values
}

fn run(args: &Args) -> Result<()> {
    let engram = engram_bench::disk::engram_binary()?;
    say("# engram serve on loopback\n")?;
    say(&format!(
        "- `{}`; {} s per load, {} clients in the mixed load ({}% writes), {} in the throughput comparison",
        std::env::args().collect::<Vec<_>>().join(" "),
        args.seconds,
        args.clients,
        args.write_percent,
        args.throughput_clients
    ))?;
    say(&format!(
        "- kernels: {}; CPU: {}; scan precision {}\n",
        engram_graph::Kernels::from_env()?.describe(),
        cpu_name(),
        args.precision
    ))?;
    let mut overhead = Vec::new();
    let mut scaling = Vec::new();
    let mut mixed = Vec::new();
    for &size in &args.sizes {
        let temporary = tempfile::tempdir()?;
        let dir = match &args.keep {
            Some(keep) => keep.join(size.to_string()),
            None => temporary.path().to_owned(),
        };
        let dir = dir.as_path();
        let fill_seconds = if dir.join("bench.engram").exists() {
            None
        } else {
            std::fs::create_dir_all(dir)?;
            Some(fill(&engram, dir, size, &args.precision)?)
        };
        let mut rng = Rng::new(0x5eed ^ size as u64);
        let cues: Vec<String> = (0..args.cues).map(|_| text(&mut rng)).collect();
        let server = Server::start(&engram, dir, 2)?;
        let measured = sequential(&server, &dir.join("bench.engram"), &cues)?;
        drop(server);
        overhead.push((size, fill_seconds, measured));
        let mut rates = Vec::new();
        for workers in [1, 2] {
            let server = Server::start(&engram, dir, workers)?;
            let load = load(&server, &cues, args.throughput_clients, args.seconds, 0)?;
            rates.push(load.recalls.len() as f64 / load.seconds);
        }
        scaling.push((size, rates[0], rates[1]));
        let server = Server::start(&engram, dir, 2)?;
        mixed.push((
            size,
            load(
                &server,
                &cues,
                args.clients,
                args.seconds,
                args.write_percent,
            )?,
        ));
    }
    say("## What HTTP adds to a recall (one client, one recall at a time)\n")?;
    say(
        "| memories | filled over HTTP | in process p50 ms | HTTP p50 ms | HTTP p99 ms | HTTP − in process (p50s) ms | engine in the server p50 ms | HTTP − engine, paired, p50 ms | GET /health p50 ms |",
    )?;
    say("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")?;
    for (size, fill_seconds, s) in &overhead {
        let (l, h) = (percentile(&s.local, 0.5), percentile(&s.http, 0.5));
        let filled = fill_seconds.map_or_else(
            || "reused (--keep)".to_owned(),
            |seconds| format!("{:.0} memories/s", *size as f64 / seconds),
        );
        say(&format!(
            "| {size} | {filled} | {l:.3} | {h:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} |",
            percentile(&s.http, 0.99),
            h - l,
            percentile(&s.engine, 0.5),
            percentile(&s.added, 0.5),
            percentile(&s.health, 0.5),
        ))?;
    }
    say(&format!(
        "\n## Recall throughput: 1 worker against 2 ({} clients, recalls only)\n",
        args.throughput_clients
    ))?;
    say("| memories | 1 worker recalls/s | 2 workers recalls/s | × |")?;
    say("|---:|---:|---:|---:|")?;
    for (size, one, two) in &scaling {
        say(&format!(
            "| {size} | {one:.0} | {two:.0} | {:.2} |",
            two / one
        ))?;
    }
    say(&format!(
        "\n## Mixed load: {} clients, {}% writes, 2 workers\n",
        args.clients, args.write_percent
    ))?;
    say(
        "| memories | requests/s | recall p50 ms | recall p99 ms | write p50 ms | write p99 ms | errors |",
    )?;
    say("|---:|---:|---:|---:|---:|---:|---:|")?;
    for (size, load) in &mixed {
        let recalls = sorted(load.recalls.clone());
        let writes = sorted(load.writes.clone());
        say(&format!(
            "| {size} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {} |",
            (recalls.len() + writes.len()) as f64 / load.seconds,
            percentile(&recalls, 0.5),
            percentile(&recalls, 0.99),
            percentile(&writes, 0.5),
            percentile(&writes, 0.99),
            load.errors.len()
        ))?;
        for error in load.errors.iter().take(5) {
            say(&format!("  - error: {error}"))?;
        }
    }
    Ok(())
}

fn cpu_name() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, name)| name.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

/// Creates space `bench` (at `precision`) of `size` generated memories over HTTP, each linked to up to 5
/// earlier ones; the seconds it took.
fn fill(engram: &Path, dir: &Path, size: usize, precision: &str) -> Result<f64> {
    let server = Server::start(engram, dir, 2)?;
    let agent = agent();
    agent
        .put(format!("{}/v1/spaces/bench", server.url))
        .header("Content-Type", "application/json")
        .send(format!(r#"{{"dim": 384, "precision": "{precision}"}}"#))?;
    let started = Instant::now();
    let mut rng = Rng::new(0x0123_4567_89ab_cdef);
    let url = format!("{}/v1/spaces/bench/memories", server.url);
    let mut stored = 0u64;
    while (stored as usize) < size {
        let batch = (size - stored as usize).min(5000);
        let records: Vec<String> = (0..batch)
            .map(|_| {
                let links: Vec<String> = (0..rng.below(6))
                    .filter(|_| stored > 0)
                    .map(|_| format!(r#"{{"to": {}}}"#, 1 + rng.below(stored)))
                    .collect::<std::collections::BTreeSet<_>>()
                    .into_iter()
                    .collect();
                format!(
                    r#"{{"text": "{}", "links": [{}]}}"#,
                    text(&mut rng),
                    links.join(",")
                )
            })
            .collect();
        post(&agent, &url, &format!("[{}]", records.join(",")))?;
        stored += batch as u64;
    }
    Ok(started.elapsed().as_secs_f64())
}

/// One client, one request at a time, interleaved so that each kind of request meets the
/// machine in the same state: for each cue, the recall in this process (embedding included,
/// on the store file opened read-only), the same recall over HTTP, and a `GET /health` (the
/// floor: a round trip through the connection and the router). Milliseconds of each, and of
/// the engine's recall inside the server (the answer's `elapsed_ms`), after a warm-up round.
struct Sequential {
    local: Vec<f64>,
    http: Vec<f64>,
    /// Each HTTP recall's time less its engine time in the server: what HTTP, JSON and the
    /// server's threads add, paired request by request.
    added: Vec<f64>,
    engine: Vec<f64>,
    health: Vec<f64>,
}

fn sequential(server: &Server, path: &Path, cues: &[String]) -> Result<Sequential> {
    let engram = Engram::open(
        path,
        Options {
            read_only: true,
            ..Options::default()
        },
    )?;
    let embedder = engram_text::HashEmbedder::new(engram.dimension())?;
    let params = RecallParams::default();
    let agent = agent();
    let url = format!("{}/v1/spaces/bench/recall", server.url);
    let health_url = format!("{}/health", server.url);
    let mut s = Sequential {
        local: Vec::new(),
        http: Vec::new(),
        added: Vec::new(),
        engine: Vec::new(),
        health: Vec::new(),
    };
    let ms = |started: Instant| started.elapsed().as_secs_f64() * 1e3;
    for round in 0..2 {
        for cue in cues {
            let started = Instant::now();
            let vector = embedder.embed(cue)?;
            std::hint::black_box(engram.recall(&vector, &params)?);
            let local = ms(started);
            let body = format!(r#"{{"text": "{cue}"}}"#);
            let started = Instant::now();
            let answer = post(&agent, &url, &body)?;
            let http = ms(started);
            let started = Instant::now();
            agent.get(&health_url).call()?.body_mut().read_to_string()?;
            let health = ms(started);
            if round == 1 {
                let value: serde_json::Value = serde_json::from_str(&answer)?;
                let engine = value["elapsed_ms"].as_f64().ok_or("no elapsed_ms")?;
                s.local.push(local);
                s.http.push(http);
                s.added.push(http - engine);
                s.engine.push(engine);
                s.health.push(health);
            }
        }
    }
    for v in [
        &mut s.local,
        &mut s.http,
        &mut s.added,
        &mut s.engine,
        &mut s.health,
    ] {
        v.sort_by(f64::total_cmp);
    }
    Ok(s)
}

/// What a load measured.
struct Load {
    seconds: f64,
    /// Milliseconds of each recall.
    recalls: Vec<f64>,
    /// Milliseconds of each write.
    writes: Vec<f64>,
    errors: Vec<String>,
}

/// `clients` threads, each with its own connection, sending recalls of random cues (and
/// `write_percent`% one-memory writes) for `seconds`.
fn load(
    server: &Server,
    cues: &[String],
    clients: usize,
    seconds: f64,
    write_percent: u64,
) -> Result<Load> {
    let stop = Arc::new(AtomicBool::new(false));
    let cues = Arc::new(cues.to_vec());
    let started = Instant::now();
    let threads: Vec<_> = (0..clients)
        .map(|c| {
            let (stop, cues) = (Arc::clone(&stop), Arc::clone(&cues));
            let recall_url = format!("{}/v1/spaces/bench/recall", server.url);
            let write_url = format!("{}/v1/spaces/bench/memories", server.url);
            std::thread::spawn(move || {
                let agent = agent();
                let mut rng = Rng::new(0x9e37_79b9 + c as u64);
                let (mut recalls, mut writes, mut errors) = (Vec::new(), Vec::new(), Vec::new());
                while !stop.load(Ordering::Relaxed) {
                    let write = rng.below(100) < write_percent;
                    let (url, body) = if write {
                        (&write_url, format!(r#"{{"text": "{}"}}"#, text(&mut rng)))
                    } else {
                        let cue = &cues[rng.below(cues.len() as u64) as usize];
                        (&recall_url, format!(r#"{{"text": "{cue}"}}"#))
                    };
                    let sent = Instant::now();
                    match post(&agent, url, &body) {
                        Ok(_) => {
                            let ms = sent.elapsed().as_secs_f64() * 1e3;
                            if write {
                                writes.push(ms)
                            } else {
                                recalls.push(ms)
                            }
                        }
                        Err(e) => errors.push(e.to_string()),
                    }
                }
                (recalls, writes, errors)
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs_f64(seconds));
    stop.store(true, Ordering::Relaxed);
    let mut load = Load {
        seconds: 0.0,
        recalls: Vec::new(),
        writes: Vec::new(),
        errors: Vec::new(),
    };
    for thread in threads {
        let (recalls, writes, errors) = thread.join().map_err(|_| "a client panicked")?;
        load.recalls.extend(recalls);
        load.writes.extend(writes);
        load.errors.extend(errors);
    }
    load.seconds = started.elapsed().as_secs_f64();
    Ok(load)
}
