//! `engram export`: every memory and association as JSON Lines, the format `import` reads;
//! ids are the store's, so importing the file into an empty store of the same dimension gives
//! the same memories, associations and recalls (with new ids if the store is not empty).

use std::fs::OpenOptions;
use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::{Context, Result, bail};
use same_file::Handle;

use crate::cli::ExportArgs;
use crate::import::{FileId, Link, Record, TimeValue};
use crate::output;
use crate::store;

/// `engram export`.
pub fn run(db: &Path, args: &ExportArgs, json: bool) -> Result<()> {
    let engram = store::open(db, store::Access::Read)?;
    // The store's identity (device and inode on Unix), so that no other name for it — a hard
    // link, a symlink, `/proc/self/fd/...`, standard output — is ever truncated.
    let store_file =
        Handle::from_path(db).with_context(|| format!("cannot read {}", db.display()))?;
    let snapshot = engram.snapshot();
    let (memories, associations) = match &args.path {
        Some(path) => {
            let name = path.display();
            // Opened without truncating: it is emptied only once it is known not to be the store.
            let file = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(false)
                .open(path)
                .with_context(|| format!("cannot create {name}"))?;
            let mut file =
                Handle::from_file(file).with_context(|| format!("cannot create {name}"))?;
            if file == store_file {
                bail!("{name} is the store itself (the same file); export to another file");
            }
            file.as_file_mut()
                .set_len(0)
                .with_context(|| format!("cannot write {name}"))?;
            let mut out = BufWriter::new(file.as_file_mut());
            let counts =
                write_all(&snapshot, &mut out).with_context(|| format!("cannot write {name}"))?;
            out.flush()
                .with_context(|| format!("cannot write {name}"))?;
            counts
        }
        None => {
            if Handle::stdout().is_ok_and(|stdout| stdout == store_file) {
                bail!("standard output is the store itself; export to another file");
            }
            write_all(&snapshot, &mut BufWriter::new(std::io::stdout().lock()))
                .context(output::STDOUT)?
        }
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
pub fn write_all(
    snapshot: &engram_graph::Snapshot,
    out: &mut impl Write,
) -> Result<(usize, usize)> {
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
