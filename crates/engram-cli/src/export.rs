//! `engram export`: every memory and association as JSON Lines, the format `import` reads;
//! ids are the store's, so importing the file into an empty store of the same dimension gives
//! the same memories, associations and recalls (with new ids if the store is not empty).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::{Context, Result, bail};

use crate::cli::ExportArgs;
use crate::import::{FileId, Link, Record, TimeValue};
use crate::output;
use crate::store;

/// `engram export`.
pub fn run(db: &Path, args: &ExportArgs, json: bool) -> Result<()> {
    let engram = store::open(db)?;
    if let Some(path) = &args.path
        && path.exists()
        && std::fs::canonicalize(path)? == std::fs::canonicalize(db)?
    {
        bail!(
            "{} is the store itself; export to another file",
            path.display()
        );
    }
    let snapshot = engram.snapshot();
    let (memories, associations) = match &args.path {
        Some(path) => {
            let file =
                File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
            let mut out = BufWriter::new(file);
            let counts = write_all(&snapshot, &mut out)?;
            out.flush()
                .with_context(|| format!("cannot write {}", path.display()))?;
            counts
        }
        None => write_all(&snapshot, &mut BufWriter::new(std::io::stdout().lock()))?,
    };
    let Some(path) = &args.path else {
        return Ok(());
    };
    if json {
        return output::json(&serde_json::json!({
            "path": path, "memories": memories, "associations": associations,
        }));
    }
    output::text(&format!(
        "exported {memories} memories and {associations} associations to {}\n",
        path.display()
    ))
}

/// Writes one line per memory, in id order; returns (memories, associations).
fn write_all(snapshot: &engram::Snapshot, out: &mut impl Write) -> Result<(usize, usize)> {
    let (mut memories, mut associations) = (0, 0);
    for memory in snapshot.memories() {
        let links: Vec<Link> = snapshot
            .associations_from(memory.id)
            .iter()
            .map(|a| Link {
                to: FileId::Number(a.to.get()),
                weight: Some(a.weight),
            })
            .collect();
        associations += links.len();
        let record = Record {
            id: Some(FileId::Number(memory.id.get())),
            text: memory.content.as_deref().map(str::to_owned),
            embedding: Some(memory.embedding),
            strength: Some(memory.strength),
            time: Some(TimeValue::Seconds(memory.last_access)),
            created: Some(TimeValue::Seconds(memory.created_at)),
            links,
        };
        serde_json::to_writer(&mut *out, &record)?;
        out.write_all(b"\n")?;
        memories += 1;
    }
    out.flush()?;
    Ok((memories, associations))
}
