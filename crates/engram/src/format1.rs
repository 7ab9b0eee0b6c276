//! Format 1, which releases before the memory-mapped store wrote: a redb file, read here
//! only to convert it ([`Engram::migrate_format_1`](crate::Engram::migrate_format_1)), and
//! opened read-only, so the file is never changed.
//!
//! Tables:
//! - `meta`: `"format_version"`, `"dimension"`, `"next_id"` → u64.
//! - `memories`: id → record (little-endian): strength f32, created i64, last access i64,
//!   `dimension` × f32 embedding, then the content's UTF-8 bytes after a 1-byte flag (0 = none).
//! - `edges_out`: (from, to) → weight f32; `edges_in`: (to, from) → (), the reverse index that
//!   forgetting uses to find the edges into a memory.
//! - `properties`: application key → value strings; created on first use, so a store without
//!   it simply has none.

use redb::{ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};

use crate::state::RowMeta;
use crate::store::SegmentArrays;
use crate::{Error, MemoryId, Result};

/// Format 1's version number.
const FORMAT_VERSION: u64 = 1;

const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const MEMORIES: TableDefinition<u64, &[u8]> = TableDefinition::new("memories");
const EDGES_OUT: TableDefinition<(u64, u64), f32> = TableDefinition::new("edges_out");
const PROPERTIES: TableDefinition<&str, &str> = TableDefinition::new("properties");

const KEY_FORMAT: &str = "format_version";
const KEY_DIMENSION: &str = "dimension";
const KEY_NEXT_ID: &str = "next_id";

/// Reads the format version and dimension of an existing store.
pub(crate) fn read_header(db: &redb::ReadOnlyDatabase) -> Result<(u64, usize)> {
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
    if format != FORMAT_VERSION {
        return Err(Error::Corrupt(format!(
            "a redb store of format {format}, not {FORMAT_VERSION}"
        )));
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

/// Every application property, sorted by key.
pub(crate) fn read_properties(db: &redb::ReadOnlyDatabase) -> Result<Vec<(String, String)>> {
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

/// Every memory and edge, as one segment, and the next id. O(N·D + E).
pub(crate) fn read_all(db: &redb::ReadOnlyDatabase, dim: usize) -> Result<(SegmentArrays, u64)> {
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
    let mut embeddings = Vec::with_capacity(rows);
    let mut meta = Vec::with_capacity(rows);
    for entry in memories.iter()? {
        let (id, record) = entry?;
        let id = id.value();
        if id == 0 || id >= next_id {
            return Err(Error::Corrupt(format!(
                "memory id {id} is outside 1..{next_id}"
            )));
        }
        // A record is laid out as format 2's tail records are.
        let (row_meta, embedding) = crate::store::decode(MemoryId::new(id), record.value(), dim)?;
        embeddings.push(embedding);
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
    let mut arrays = SegmentArrays::with_capacity(dim, rows)?;
    for ((meta, embedding), edges) in meta.iter().zip(&embeddings).zip(adjacency) {
        arrays.push(meta, embedding, edges.into_iter())?;
    }
    Ok((arrays, next_id))
}
