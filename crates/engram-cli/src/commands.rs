//! The small commands: init, remember, associate, dissociate, forget, show, stats, info.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Result, anyhow, bail};
use engram_graph::{
    Association, Engram, Kernels, Memory, MemoryId, NewMemory, Options, WriteBatch,
};
use engram_kernels::{BACKEND_ENV, CpuLevel, LEVEL_ENV};
use serde::Serialize;

use crate::cli::{
    AssociateArgs, DissociateArgs, ForgetArgs, InitArgs, MigrateArgs, RememberArgs,
    SetPrecisionArgs, ShowArgs,
};
use crate::import::{FileId, Link, Record, TimeValue};
use crate::output;
use crate::store::{self, EMBEDDER_PROPERTY, engine_error};

/// `engram migrate`: a format-1 store converted into a new store, atomically; the old one is
/// opened read-only and left as it is.
pub fn migrate(args: &MigrateArgs, json: bool) -> Result<()> {
    let options = Options {
        busy_timeout: store::busy_timeout()?,
        ..Options::default()
    };
    let engram = Engram::migrate_format_1(&args.from, &args.to, options).map_err(|e| match e {
        engram_graph::Error::AlreadyExists { .. } => anyhow!(
            "{} already exists: give migrate a new path to write the converted store to",
            args.to.display()
        ),
        e @ (engram_graph::Error::NotFound { .. }
        | engram_graph::Error::NotAStore(_)
        | engram_graph::Error::Corrupt(_)) => engine_error(e, &args.from),
        other => engine_error(other, &args.to),
    })?;
    let snapshot = engram.snapshot();
    let (memories, associations) = (snapshot.len(), snapshot.association_count());
    if json {
        #[derive(Serialize)]
        struct Migrated<'a> {
            from: &'a Path,
            to: &'a Path,
            memories: usize,
            associations: usize,
        }
        return output::json(&Migrated {
            from: &args.from,
            to: &args.to,
            memories,
            associations,
        });
    }
    output::text(&format!(
        "converted {} (format 1) into {}: {memories} memories, {associations} associations; {} is unchanged\n",
        args.from.display(),
        args.to.display(),
        args.from.display()
    ))
}

/// `engram init`: a new store and its embedder, created atomically: after a crash there is no
/// store at `db` (and `init` works again) or a whole one with its embedder recorded.
pub fn init(db: &Path, args: &InitArgs, json: bool) -> Result<()> {
    let embedder = args
        .embedder
        .embedder(args.dim, store::model_dir())
        .map_err(|e| {
            anyhow!(
                "--embedder {} --dim {}: {e}",
                args.embedder.name(),
                args.dim
            )
        })?;
    if let Some(embedder) = &embedder {
        // A store this machine could not fill is no use: say how to install the model now.
        embedder
            .load()
            .map_err(|e| anyhow!("--embedder {}: {e}", args.embedder.name()))?;
    }
    let spec = embedder.map_or_else(|| "none".to_owned(), |e| e.spec());
    // The engine refuses an existing file, before making anything and again when it moves
    // the new store into place.
    let precision = engram_graph::Precision::from(args.precision);
    Engram::create_with_properties(
        db,
        args.dim,
        &[(EMBEDDER_PROPERTY, &spec)],
        Options {
            precision,
            ..Options::default()
        },
    )
    .map_err(|e| match e {
        engram_graph::Error::AlreadyExists { .. } => anyhow!(
            "{} already exists: use it as it is, or pick another --db",
            db.display()
        ),
        other => engine_error(other, db),
    })?;
    if json {
        #[derive(Serialize)]
        struct Init<'a> {
            db: &'a Path,
            dim: usize,
            embedder: &'a str,
            precision: &'a str,
        }
        return output::json(&Init {
            db,
            dim: args.dim,
            embedder: &spec,
            precision: precision.as_str(),
        });
    }
    output::text(&format!(
        "created {} (dimension {}, text embedder: {spec}, scan precision: {precision})\n",
        db.display(),
        args.dim
    ))
}

/// `engram remember`.
pub fn remember(db: &Path, args: &RememberArgs, json: bool) -> Result<()> {
    let engram = store::open(db, store::Access::Write)?;
    let embedding = store::embedding(&engram, args.text.as_deref(), &args.vector)?;
    let mut memory = NewMemory::new(embedding.vector).with_strength(args.strength);
    if let Some(text) = &args.text {
        memory = memory.with_content(text.as_str());
    }
    if let Some(at) = &args.at {
        let at = store::parse_time(at)?;
        memory = memory.created_at(at).last_accessed_at(at);
    }
    let id = engram.remember(memory).map_err(|e| engine_error(e, db))?;
    if json {
        return output::json(&remembered_json(id.get(), embedding.truncated));
    }
    output::text(&format!("{id}\n"))
}

/// What `remember --json` prints: the id, and `"truncated": true` if the text was longer
/// than the embedder reads.
pub fn remembered_json(id: u64, truncated: bool) -> serde_json::Value {
    let mut value = serde_json::json!({ "id": id });
    if truncated {
        value["truncated"] = true.into();
    }
    value
}

/// `engram associate`.
pub fn associate(db: &Path, args: &AssociateArgs, json: bool) -> Result<()> {
    let engram = store::open(db, store::Access::Write)?;
    let from = store::existing(&engram, args.from)?;
    let to = store::existing(&engram, args.to)?;
    let mut batch = WriteBatch::new();
    if args.both {
        batch.associate_both(from, to, args.weight);
    } else {
        batch.associate(from, to, args.weight);
    }
    engram
        .write(&batch)
        .map_err(|e| engine_error(unbatched(e), db))?;
    if json {
        #[derive(Serialize)]
        struct Associated {
            from: u64,
            to: u64,
            weight: f32,
            both: bool,
        }
        return output::json(&Associated {
            from: from.get(),
            to: to.get(),
            weight: args.weight,
            both: args.both,
        });
    }
    output::text(&associated_text(
        from.get(),
        to.get(),
        args.weight,
        args.both,
    ))
}

/// What `associate` prints.
pub fn associated_text(from: u64, to: u64, weight: f32, both: bool) -> String {
    let arrow = if both { "↔" } else { "→" };
    format!("{from} {arrow} {to} weight {weight}\n")
}

/// What `dissociate` prints.
pub fn dissociated_text(from: u64, to: u64) -> String {
    format!("removed {from} → {to}\n")
}

/// What `forget` prints.
pub fn forgot_text(ids: &[u64]) -> String {
    let ids: Vec<String> = ids.iter().map(u64::to_string).collect();
    format!("forgot {}\n", ids.join(", "))
}

/// `engram dissociate`.
pub fn dissociate(db: &Path, args: &DissociateArgs, json: bool) -> Result<()> {
    let engram = store::open(db, store::Access::Write)?;
    let from = store::existing(&engram, args.from)?;
    let to = store::existing(&engram, args.to)?;
    let snapshot = engram.snapshot();
    let has = |a: MemoryId, b: MemoryId| snapshot.associations_from(a).iter().any(|e| e.to == b);
    if !(has(from, to) || args.both && has(to, from)) {
        bail!(
            "there is no association from {from} to {to} (`engram show {from}` lists its associations)"
        );
    }
    let mut batch = WriteBatch::new();
    batch.dissociate(from, to);
    if args.both {
        batch.dissociate(to, from);
    }
    engram
        .write(&batch)
        .map_err(|e| engine_error(unbatched(e), db))?;
    if json {
        return output::json(
            &serde_json::json!({ "from": from.get(), "to": to.get(), "both": args.both }),
        );
    }
    output::text(&dissociated_text(from.get(), to.get()))
}

/// `engram forget`: every id in one transaction, or none.
pub fn forget(db: &Path, args: &ForgetArgs, json: bool) -> Result<()> {
    let engram = store::open(db, store::Access::Write)?;
    let mut batch = WriteBatch::new();
    let mut seen = std::collections::BTreeSet::new();
    for &id in &args.ids {
        if seen.insert(id) {
            batch.forget(store::existing(&engram, id)?);
        }
    }
    engram
        .write(&batch)
        .map_err(|e| engine_error(unbatched(e), db))?;
    if json {
        return output::json(&serde_json::json!({ "forgotten": seen }));
    }
    output::text(&forgot_text(&seen.iter().copied().collect::<Vec<_>>()))
}

/// A batch error whose index means nothing to a user of a one-item command.
fn unbatched(error: engram_graph::Error) -> engram_graph::Error {
    match error {
        engram_graph::Error::InBatch { source, .. } => *source,
        other => other,
    }
}

/// A memory as `show --json` prints it: the export format, so that a shown memory reads like
/// an exported one (its embedding only if asked for).
pub fn shown(memory: &Memory, links: &[Association], embedding: bool) -> Record {
    Record {
        id: Some(FileId::Number(memory.id.get())),
        text: memory.content.as_deref().map(str::to_owned),
        embedding: embedding.then(|| memory.embedding.clone()),
        strength: Some(memory.strength),
        time: Some(TimeValue::Seconds(memory.last_access)),
        created: Some(TimeValue::Seconds(memory.created_at)),
        links: links
            .iter()
            .map(|a| Link {
                to: FileId::Number(a.to.get()),
                weight: Some(a.weight),
            })
            .collect(),
    }
}

/// `engram show`.
pub fn show(db: &Path, args: &ShowArgs, json: bool) -> Result<()> {
    let engram = store::open(db, store::Access::Read)?;
    let id = store::existing(&engram, args.id)?;
    let snapshot = engram.snapshot();
    let memory = snapshot
        .get(id)
        .ok_or_else(|| anyhow!("memory {id} vanished while reading"))?;
    let links = snapshot.associations_from(id);
    if json {
        return output::json(&shown(&memory, &links, args.embedding));
    }
    let record = shown(&memory, &links, args.embedding);
    let targets: Vec<Option<String>> = links
        .iter()
        .map(|link| {
            snapshot
                .get(link.to)
                .and_then(|m| m.content)
                .map(|c| c.to_string())
        })
        .collect();
    output::text(&show_text(&record, &targets)?)
}

/// A memory as `engram show` prints it, from its `show --json` record and the content of each
/// association's target, in the record's order.
pub fn show_text(record: &Record, targets: &[Option<String>]) -> Result<String> {
    let seconds = |t: &Option<TimeValue>| -> Result<String> {
        Ok(match t {
            Some(t) => store::format_time(t.seconds()?),
            None => "(none)".to_owned(),
        })
    };
    let id = record.id.as_ref().map(FileId::key).unwrap_or_default();
    let mut out = String::new();
    writeln!(out, "id           {id}")?;
    writeln!(
        out,
        "content      {}",
        record.text.as_deref().unwrap_or("(none)")
    )?;
    writeln!(
        out,
        "strength     {}",
        record.strength.unwrap_or(NewMemory::DEFAULT_STRENGTH)
    )?;
    writeln!(out, "created      {}", seconds(&record.created)?)?;
    writeln!(out, "last access  {}", seconds(&record.time)?)?;
    writeln!(out, "associations {}", record.links.len())?;
    for (link, content) in record.links.iter().zip(targets) {
        let content = content
            .as_deref()
            .map(|c| output::shorten(c, 60))
            .unwrap_or_default();
        writeln!(
            out,
            "  → {:<8} {:>6.3}  {content}",
            link.to.key(),
            link.weight.unwrap_or(crate::import::DEFAULT_LINK_WEIGHT)
        )?;
    }
    if let Some(embedding) = &record.embedding {
        writeln!(out, "embedding    {}", serde_json::to_string(embedding)?)?;
    }
    Ok(out)
}

/// How many memories have how many associations (`stats`' `out_degree`).
#[derive(Debug, Serialize, serde::Deserialize)]
pub struct Degrees {
    min: usize,
    median: usize,
    mean: f64,
    p99: usize,
    max: usize,
    without_associations: usize,
}

/// What `engram stats --json` prints (and the server's `GET .../stats` answers).
#[derive(Debug, Serialize, serde::Deserialize)]
pub struct Stats {
    db: std::path::PathBuf,
    memories: usize,
    associations: usize,
    dimension: usize,
    embedder: String,
    precision: String,
    scan_bytes_per_memory: usize,
    file_bytes: u64,
    embedding_bytes: u64,
    code_bytes: u64,
    out_degree: Degrees,
}

/// The statistics of an open store, named `db`, whose file held `file_size` bytes.
pub fn stats_of(engram: &Engram, db: &Path, file_size: u64) -> Result<Stats> {
    let snapshot = engram.snapshot();
    let mut degrees = snapshot.out_degrees();
    degrees.sort_unstable();
    let mean = if degrees.is_empty() {
        0.0
    } else {
        snapshot.association_count() as f64 / degrees.len() as f64
    };
    let isolated = degrees.iter().take_while(|&&d| d == 0).count();
    let embedder = engram
        .property(EMBEDDER_PROPERTY)?
        .unwrap_or_else(|| "none".into());
    let precision = snapshot.precision();
    let dim = snapshot.dimension();
    let scan_bytes = precision.scan_bytes_per_memory(dim);
    let code_bytes = match precision {
        engram_graph::Precision::F32 => 0,
        _ => (snapshot.len() * scan_bytes) as u64,
    };
    Ok(Stats {
        db: db.to_owned(),
        memories: snapshot.len(),
        associations: snapshot.association_count(),
        dimension: snapshot.dimension(),
        embedder,
        precision: precision.as_str().to_owned(),
        scan_bytes_per_memory: scan_bytes,
        file_bytes: file_size,
        embedding_bytes: (snapshot.len() * snapshot.dimension() * 4) as u64,
        code_bytes,
        out_degree: Degrees {
            min: degrees.first().copied().unwrap_or(0),
            median: output::nearest_rank(&degrees, 0.5),
            mean,
            p99: output::nearest_rank(&degrees, 0.99),
            max: degrees.last().copied().unwrap_or(0),
            without_associations: isolated,
        },
    })
}

/// `engram stats`.
pub fn stats(db: &Path, json: bool) -> Result<()> {
    // The size at rest, before opening (which may extend the file while it is open).
    let file_size = std::fs::metadata(db).map(|m| m.len()).unwrap_or(0);
    let engram = store::open(db, store::Access::Read)?;
    let stats = stats_of(&engram, db, file_size)?;
    if json {
        return output::json(&stats);
    }
    output::text(&stats_text(&stats))
}

/// Statistics as `engram stats` prints them.
pub fn stats_text(stats: &Stats) -> String {
    let d = &stats.out_degree;
    format!(
        "store         {}\n\
         memories      {}\n\
         associations  {}\n\
         dimension     {}\n\
         embedder      {}\n\
         precision     {} (a recall scans {} bytes per memory)\n\
         file size     {} ({} of it embeddings, {} codes; the file grows in steps and reuses freed pages)\n\
         out-degree    min {}, median {}, mean {:.2}, p99 {}, max {}; {} memories have none\n",
        stats.db.display(),
        stats.memories,
        stats.associations,
        stats.dimension,
        stats.embedder,
        stats.precision,
        stats.scan_bytes_per_memory,
        output::bytes(stats.file_bytes),
        output::bytes(stats.embedding_bytes),
        output::bytes(stats.code_bytes),
        d.min,
        d.median,
        d.mean,
        d.p99,
        d.max,
        d.without_associations
    )
}

/// `engram set-precision`: rebuilds the codes in one transaction.
pub fn set_precision(db: &Path, args: &SetPrecisionArgs, json: bool) -> Result<()> {
    let engram = store::open(db, store::Access::Write)?;
    let before = engram.precision();
    let precision = engram_graph::Precision::from(args.precision);
    let started = std::time::Instant::now();
    engram
        .set_precision(precision)
        .map_err(|e| engine_error(e, db))?;
    let elapsed = started.elapsed();
    let memories = engram.snapshot().len();
    if json {
        return output::json(&serde_json::json!({
            "db": db, "from": before.as_str(), "precision": precision.as_str(),
            "memories": memories, "seconds": elapsed.as_secs_f64(),
        }));
    }
    output::text(&format!(
        "{}: scan precision {before} -> {precision} ({memories} memories, {:.2} s)\n",
        db.display(),
        elapsed.as_secs_f64()
    ))
}

/// `engram info`: what runs the kernels and how to change it. Works without a store.
pub fn info(db: &Path, json: bool) -> Result<()> {
    let chosen = Kernels::from_env();
    let available = Kernels::all_available();
    let zig = engram_kernels::zig_levels_built()
        .into_iter()
        .find_map(engram_kernels::zig_build_info)
        .map(|info| info.zig_version);
    let detected = CpuLevel::detect();
    let store = match store::open(db, store::Access::Read) {
        Ok(engram) => serde_json::json!({
            "db": db, "memories": engram.snapshot().len(), "dimension": engram.dimension(),
            "embedder": engram.property(EMBEDDER_PROPERTY)?.unwrap_or_else(|| "none".into()),
        }),
        Err(error) => serde_json::json!({ "db": db, "error": format!("{error:#}") }),
    };
    // Whether minilm can embed here: built in, and its model found and checked (a load).
    let minilm = engram_text::Embedder::minilm(store::model_dir());
    let minilm_status = match minilm.load() {
        Ok(()) => "ready".to_owned(),
        Err(error) => error.to_string(),
    };
    let levels: Vec<&str> = CpuLevel::ALL.iter().map(|level| level.name()).collect();
    let how = format!(
        "set {BACKEND_ENV}=rust|zig|auto and {LEVEL_ENV}={}|auto (default auto: the fastest this binary and CPU can run)",
        levels.join("|")
    );
    if json {
        return output::json(&serde_json::json!({
            "version": env!("CARGO_PKG_VERSION"),
            "kernels": match &chosen { Ok(k) => serde_json::json!({
                "backend": k.backend().to_string(), "level": k.level().to_string(), "describe": k.describe()
            }), Err(e) => serde_json::json!({ "error": e.to_string() }) },
            "zig_version": zig,
            "cpu_level_detected": detected.to_string(),
            "available": available.iter().map(|k| format!("{} {}", k.backend(), k.level())).collect::<Vec<_>>(),
            "how_to_switch": how,
            "embedders": { "hash-v1": "ready", minilm.name(): minilm_status },
            "store": store,
        }));
    }
    let mut out = String::new();
    writeln!(out, "engram       {}", env!("CARGO_PKG_VERSION"))?;
    match &chosen {
        Ok(kernels) => writeln!(out, "kernels      {}", kernels.describe())?,
        Err(error) => writeln!(out, "kernels      error: {error}")?,
    }
    writeln!(
        out,
        "zig          {}",
        zig.map_or(
            "not built in (build with --features zig-kernels)".into(),
            |v| { format!("{v} (linked into this binary)") }
        )
    )?;
    writeln!(out, "cpu level    {detected} (the best this CPU runs)")?;
    let names: Vec<String> = available
        .iter()
        .map(|k| format!("{} {}", k.backend(), k.level()))
        .collect();
    writeln!(out, "available    {}", names.join(", "))?;
    writeln!(out, "switch       {how}")?;
    writeln!(
        out,
        "embedders    hash-v1: ready; {}: {minilm_status}",
        minilm.name()
    )?;
    match store.get("error").and_then(|e| e.as_str()) {
        Some(error) => writeln!(out, "store        {error}")?,
        None => writeln!(
            out,
            "store        {} ({} memories, dimension {}, embedder {})",
            db.display(),
            store["memories"],
            store["dimension"],
            store["embedder"].as_str().unwrap_or("none")
        )?,
    }
    output::text(&out)
}
