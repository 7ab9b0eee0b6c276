//! Persistence in redb: the tables, the record encoding, loading a store into a [`State`], and
//! the writes of one transaction.
//!
//! Tables:
//! - `meta`: `"format_version"`, `"dimension"`, `"next_id"` → u64.
//! - `memories`: id → record (little-endian): strength f32, created i64, last access i64,
//!   `dimension` × f32 embedding, then the content's UTF-8 bytes after a 1-byte flag (0 = none).
//! - `edges_out`: (from, to) → weight f32; `edges_in`: (to, from) → (), the reverse index that
//!   forgetting uses to find the edges into a memory.
//! - `properties`: application key → value strings ([`Engram::set_property`]); created on first
//!   use, so a store without it simply has none.
//!
//! [`Engram::set_property`]: crate::Engram::set_property

use std::sync::Arc;

use engram_kernels::EmbeddingMatrix;
use redb::{
    ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition, WriteTransaction,
};

use crate::state::{Base, RowMeta, State};
use crate::{Error, MemoryId, Result};

/// The format version this crate writes, and the newest it reads.
pub const FORMAT_VERSION: u64 = 1;

const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const MEMORIES: TableDefinition<u64, &[u8]> = TableDefinition::new("memories");
const EDGES_OUT: TableDefinition<(u64, u64), f32> = TableDefinition::new("edges_out");
const EDGES_IN: TableDefinition<(u64, u64), ()> = TableDefinition::new("edges_in");
const PROPERTIES: TableDefinition<&str, &str> = TableDefinition::new("properties");

const KEY_FORMAT: &str = "format_version";
const KEY_DIMENSION: &str = "dimension";
const KEY_NEXT_ID: &str = "next_id";

/// Bytes before the embedding in a record.
const HEADER: usize = 4 + 8 + 8;

/// Writes the metadata and first properties of a new store, in one transaction.
pub(crate) fn initialize(
    db: &redb::Database,
    dim: usize,
    properties: &[(&str, &str)],
) -> Result<()> {
    let txn = db.begin_write()?;
    {
        let mut meta = txn.open_table(META)?;
        meta.insert(KEY_FORMAT, FORMAT_VERSION)?;
        meta.insert(KEY_DIMENSION, dim as u64)?;
        meta.insert(KEY_NEXT_ID, 1)?;
        // Create the other tables so that a reader never finds them missing.
        txn.open_table(MEMORIES)?;
        txn.open_table(EDGES_OUT)?;
        txn.open_table(EDGES_IN)?;
        let mut table = txn.open_table(PROPERTIES)?;
        for &(key, value) in properties {
            table.insert(key, value)?;
        }
    }
    txn.commit()?;
    Ok(())
}

/// Reads the format version and dimension of an existing store.
pub(crate) fn read_header(db: &redb::Database) -> Result<(u64, usize)> {
    let txn = db.begin_read()?;
    let meta = txn.open_table(META).map_err(|e| match e {
        redb::TableError::TableDoesNotExist(_) => {
            Error::NotAStore("a database without engram's metadata table".into())
        }
        other => other.into(),
    })?;
    let get = |key: &str| -> Result<u64> {
        meta.get(key)?
            .map(|v| v.value())
            .ok_or_else(|| Error::Corrupt(format!("metadata has no {key}")))
    };
    let format = get(KEY_FORMAT)?;
    if format > FORMAT_VERSION {
        return Err(Error::FormatTooNew {
            found: format,
            supported: FORMAT_VERSION,
        });
    }
    let dim = get(KEY_DIMENSION)?;
    let dim = usize::try_from(dim)
        .ok()
        .filter(|&d| d > 0)
        .ok_or_else(|| Error::Corrupt(format!("dimension {dim} is invalid")))?;
    Ok((format, dim))
}

/// The properties table, or `None` in a store that never had one.
fn properties_table(
    txn: &redb::ReadTransaction,
) -> Result<Option<redb::ReadOnlyTable<&'static str, &'static str>>> {
    match txn.open_table(PROPERTIES) {
        Ok(table) => Ok(Some(table)),
        Err(redb::TableError::TableDoesNotExist(_)) => Ok(None),
        Err(other) => Err(other.into()),
    }
}

/// One application property.
pub(crate) fn read_property(db: &redb::Database, key: &str) -> Result<Option<String>> {
    let txn = db.begin_read()?;
    let Some(table) = properties_table(&txn)? else {
        return Ok(None);
    };
    Ok(table.get(key)?.map(|value| value.value().to_owned()))
}

/// Every application property, sorted by key.
pub(crate) fn read_properties(db: &redb::Database) -> Result<Vec<(String, String)>> {
    let txn = db.begin_read()?;
    let Some(table) = properties_table(&txn)? else {
        return Ok(Vec::new());
    };
    table
        .iter()?
        .map(|entry| {
            let (key, value) = entry?;
            Ok((key.value().to_owned(), value.value().to_owned()))
        })
        .collect()
}

/// Loads every memory and edge into a compacted state. O(N·D + E).
pub(crate) fn load(db: &redb::Database, dim: usize) -> Result<State> {
    let txn = db.begin_read()?;
    let next_id = txn
        .open_table(META)?
        .get(KEY_NEXT_ID)?
        .map(|v| v.value())
        .ok_or_else(|| Error::Corrupt("metadata has no next_id".into()))?;
    let memories = txn.open_table(MEMORIES)?;
    let rows = usize::try_from(memories.len()?)
        .map_err(|_| Error::Corrupt("memory count does not fit in memory".into()))?;
    if rows as u64 > crate::state::MAX_ROWS {
        return Err(Error::TooManyMemories {
            max: crate::state::MAX_ROWS,
        });
    }
    let mut embeddings = EmbeddingMatrix::with_capacity(dim, rows)?;
    let mut meta = Vec::with_capacity(rows);
    for entry in memories.iter()? {
        let (id, record) = entry?;
        let id = id.value();
        if id == 0 || id >= next_id {
            return Err(Error::Corrupt(format!(
                "memory id {id} is outside 1..{next_id}"
            )));
        }
        let (row_meta, embedding) = decode(MemoryId::new(id), record.value(), dim)?;
        embeddings.push(&embedding)?;
        meta.push(row_meta);
    }
    let row_of = |id: u64| -> Result<u32> {
        meta.binary_search_by_key(&MemoryId::new(id), |m: &RowMeta| m.id)
            .ok()
            .and_then(|row| u32::try_from(row).ok())
            .ok_or_else(|| Error::Corrupt(format!("an association names missing memory {id}")))
    };
    let mut adjacency = vec![Vec::new(); rows];
    for entry in txn.open_table(EDGES_OUT)?.iter()? {
        let (key, weight) = entry?;
        let (from, to) = key.value();
        let weight = weight.value();
        if !(weight.is_finite() && (-1.0..=1.0).contains(&weight)) {
            return Err(Error::Corrupt(format!(
                "association {from} → {to} has weight {weight}"
            )));
        }
        // Keys come in (from, to) order, so each list is ascending by target.
        adjacency[row_of(from)? as usize].push((row_of(to)?, weight));
    }
    let base = Base::build(embeddings, meta, adjacency)?;
    Ok(State::new(base, dim, next_id))
}

fn encode(meta: &RowMeta, embedding: &[f32]) -> Vec<u8> {
    let content = meta.content.as_deref().map(str::as_bytes);
    let mut out =
        Vec::with_capacity(HEADER + 4 * embedding.len() + 1 + content.map_or(0, <[u8]>::len));
    out.extend_from_slice(&meta.strength.to_le_bytes());
    out.extend_from_slice(&meta.created_at.to_le_bytes());
    out.extend_from_slice(&meta.last_access.to_le_bytes());
    for x in embedding {
        out.extend_from_slice(&x.to_le_bytes());
    }
    match content {
        None => out.push(0),
        Some(bytes) => {
            out.push(1);
            out.extend_from_slice(bytes);
        }
    }
    out
}

fn decode(id: MemoryId, record: &[u8], dim: usize) -> Result<(RowMeta, Vec<f32>)> {
    let bad = |what: &str| Error::Corrupt(format!("memory {id}: {what}"));
    let body = HEADER + 4 * dim;
    if record.len() < body + 1 {
        return Err(bad("record is shorter than its embedding"));
    }
    let (header, rest) = record.split_at(HEADER);
    let (floats, tail) = rest.split_at(4 * dim);
    let le4 = |b: &[u8]| <[u8; 4]>::try_from(b).map_err(|_| bad("truncated"));
    let le8 = |b: &[u8]| <[u8; 8]>::try_from(b).map_err(|_| bad("truncated"));
    let strength = f32::from_le_bytes(le4(&header[0..4])?);
    let created_at = i64::from_le_bytes(le8(&header[4..12])?);
    let last_access = i64::from_le_bytes(le8(&header[12..20])?);
    if !(0.0..=1.0).contains(&strength) {
        return Err(bad("strength is outside [0, 1]"));
    }
    let embedding = floats
        .chunks_exact(4)
        .map(|b| le4(b).map(f32::from_le_bytes))
        .collect::<Result<Vec<f32>>>()?;
    if embedding.iter().any(|x| !x.is_finite()) {
        return Err(bad("embedding has a non-finite element"));
    }
    let content = match tail.split_first() {
        Some((0, [])) => None,
        Some((1, text)) => Some(Arc::from(
            std::str::from_utf8(text).map_err(|_| bad("content is not UTF-8"))?,
        )),
        _ => return Err(bad("bad content flag")),
    };
    Ok((
        RowMeta {
            id,
            strength,
            created_at,
            last_access,
            content,
        },
        embedding,
    ))
}

/// The writes of one transaction, applied in step with the in-memory state. The tables are
/// opened once per transaction, not once per write; drop the writer before committing.
pub(crate) struct StoreWriter<'t> {
    txn: &'t WriteTransaction,
    meta: redb::Table<'t, &'static str, u64>,
    memories: redb::Table<'t, u64, &'static [u8]>,
    edges_out: redb::Table<'t, (u64, u64), f32>,
    edges_in: redb::Table<'t, (u64, u64), ()>,
    /// Opened by the first property write only, so other writes never create the table.
    properties: Option<redb::Table<'t, &'static str, &'static str>>,
}

impl<'t> StoreWriter<'t> {
    pub(crate) fn new(txn: &'t WriteTransaction) -> Result<Self> {
        Ok(Self {
            txn,
            meta: txn.open_table(META)?,
            memories: txn.open_table(MEMORIES)?,
            edges_out: txn.open_table(EDGES_OUT)?,
            edges_in: txn.open_table(EDGES_IN)?,
            properties: None,
        })
    }

    /// Sets (or, with `None`, removes) one application property.
    pub(crate) fn set_property(&mut self, key: &str, value: Option<&str>) -> Result<()> {
        let table = match &mut self.properties {
            Some(table) => table,
            empty => empty.insert(self.txn.open_table(PROPERTIES)?),
        };
        match value {
            Some(value) => table.insert(key, value)?,
            None => table.remove(key)?,
        };
        Ok(())
    }

    pub(crate) fn insert_memory(&mut self, meta: &RowMeta, embedding: &[f32]) -> Result<()> {
        let record = encode(meta, embedding);
        self.memories.insert(meta.id.get(), record.as_slice())?;
        Ok(())
    }

    pub(crate) fn set_next_id(&mut self, next_id: u64) -> Result<()> {
        self.meta.insert(KEY_NEXT_ID, next_id)?;
        Ok(())
    }

    pub(crate) fn update_access(
        &mut self,
        id: MemoryId,
        strength: f32,
        last_access: i64,
    ) -> Result<()> {
        let mut record = match self.memories.get(id.get())? {
            Some(record) => record.value().to_vec(),
            // Loading decoded every record into the state that names this id.
            None => return Err(Error::Internal(format!("memory {id} is not in the store"))),
        };
        if record.len() < HEADER {
            return Err(Error::Internal(format!("memory {id}: record is truncated")));
        }
        record[0..4].copy_from_slice(&strength.to_le_bytes());
        record[12..20].copy_from_slice(&last_access.to_le_bytes());
        self.memories.insert(id.get(), record.as_slice())?;
        Ok(())
    }

    pub(crate) fn set_edge(&mut self, from: MemoryId, to: MemoryId, weight: f32) -> Result<()> {
        self.edges_out.insert((from.get(), to.get()), weight)?;
        self.edges_in.insert((to.get(), from.get()), ())?;
        Ok(())
    }

    pub(crate) fn remove_edge(&mut self, from: MemoryId, to: MemoryId) -> Result<()> {
        self.edges_out.remove((from.get(), to.get()))?;
        self.edges_in.remove((to.get(), from.get()))?;
        Ok(())
    }

    /// Removes a memory and every edge from or to it; returns the sources of the edges that
    /// pointed at it.
    pub(crate) fn forget(&mut self, id: MemoryId) -> Result<Vec<MemoryId>> {
        let id = id.get();
        let targets: Vec<u64> = self
            .edges_out
            .extract_from_if((id, 0)..=(id, u64::MAX), |_, _| true)?
            .map(|entry| entry.map(|(key, _)| key.value().1))
            .collect::<Result<_, _>>()?;
        for to in targets {
            self.edges_in.remove((to, id))?;
        }
        let sources: Vec<u64> = self
            .edges_in
            .extract_from_if((id, 0)..=(id, u64::MAX), |_, _| true)?
            .map(|entry| entry.map(|(key, _)| key.value().1))
            .collect::<Result<_, _>>()?;
        for &from in &sources {
            self.edges_out.remove((from, id))?;
        }
        self.memories.remove(id)?;
        Ok(sources.into_iter().map(MemoryId::new).collect())
    }
}
