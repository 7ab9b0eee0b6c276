//! An import's record of progress, kept in the store as the property `engram.import.N` (one
//! per import) and written in the same transaction as each of its batches, so that it is
//! exact after any crash.
//!
//! It holds how many records of the source are stored (always a prefix: records are written
//! in order), the SHA-256 of those records' bytes, and which store ids they got. Importing
//! records whose first ones hash to a record's prefix continues that import after its prefix:
//! an interrupted import resumes, a file that grew imports only its new records, and the
//! same file again imports nothing. Links follow the same rule: a batch writes every link
//! whose later end it stores, so a stored prefix holds exactly the links among its records.

use anyhow::{Result, bail};
use engram_graph::{Engram, MemoryId};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The property key of every import record starts with this.
pub const KEY_PREFIX: &str = "engram.import.";

/// Version of the record's JSON layout.
const VERSION: u32 = 1;

/// What an import stored, over every run that continued it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    /// Layout version ([`VERSION`]).
    pub version: u32,
    /// The source as the first run named it, for messages.
    pub source: String,
    /// Records stored: the first `records` of the source.
    pub records: usize,
    /// SHA-256 (hex) of those records' bytes.
    pub sha256: String,
    /// Records the latest run meant to import: equal to `records` once it finished.
    pub total: usize,
    /// Store ids of the stored records: `[first record, first id, count]`, ascending;
    /// consecutive records with consecutive ids share one segment.
    pub segments: Vec<[u64; 3]>,
    /// Associations stored.
    pub associations: usize,
    /// When it was last written, Unix seconds.
    pub updated: i64,
}

impl Progress {
    /// A new import of `source`, planning `total` records.
    pub fn new(source: String, total: usize) -> Self {
        Self {
            version: VERSION,
            source,
            records: 0,
            sha256: hex(&Sha256::new().finalize()),
            total,
            segments: Vec::new(),
            associations: 0,
            updated: 0,
        }
    }

    /// The store id of record `index`, if it is stored.
    pub fn id_of(&self, index: usize) -> Option<MemoryId> {
        let index = index as u64;
        let at = self.segments.partition_point(|s| s[0] <= index);
        let [first, id, count] = *self.segments.get(at.checked_sub(1)?)?;
        (index < first + count).then(|| MemoryId::new(id + (index - first)))
    }

    /// Records that records `first..first + count` got ids `id..id + count`.
    pub fn push(&mut self, first: usize, id: MemoryId, count: usize) {
        let (first, id, count) = (first as u64, id.get(), count as u64);
        match self.segments.last_mut() {
            Some(last) if last[0] + last[2] == first && last[1] + last[2] == id => {
                last[2] += count;
            }
            _ => self.segments.push([first, id, count]),
        }
    }

    /// Memories stored.
    pub fn memories(&self) -> u64 {
        self.segments.iter().map(|s| s[2]).sum()
    }

    /// The smallest and largest id stored.
    pub fn id_range(&self) -> Option<(u64, u64)> {
        let low = self.segments.iter().map(|s| s[1]).min()?;
        let high = self.segments.iter().map(|s| s[1] + s[2] - 1).max()?;
        Some((low, high))
    }

    /// What it stored, for messages: `16000 of 20000 records (16000 memories, ids
    /// 1..=16000, 3120 associations)`.
    pub fn describe(&self) -> String {
        format!(
            "{} of {} records ({})",
            self.records,
            self.total,
            self.stored()
        )
    }

    /// The memories and associations it stored: `16000 memories, ids 1..=16000, 3120
    /// associations`.
    pub fn stored(&self) -> String {
        let ids = match self.id_range() {
            Some((low, high)) => format!("ids {low}..={high}, "),
            None => String::new(),
        };
        format!(
            "{} memories, {ids}{} associations",
            self.memories(),
            self.associations
        )
    }

    /// The record as a property value.
    pub fn to_json(&self) -> String {
        // A struct of strings and numbers always serializes.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Every import record in the store, by key. A record this version cannot read is reported
/// and skipped: at worst its records are imported again as a new import.
pub fn load(engram: &Engram) -> Result<Vec<(String, Progress)>> {
    let mut imports = Vec::new();
    for (key, value) in engram.properties()? {
        if !key.starts_with(KEY_PREFIX) {
            continue;
        }
        match serde_json::from_str::<Progress>(&value) {
            Ok(progress) if progress.version == VERSION => imports.push((key, progress)),
            _ => crate::output::note(&format!(
                "engram: note: the store's import record {key} is not one this version reads; it is ignored"
            )),
        }
    }
    Ok(imports)
}

/// A key no import record has yet.
pub fn new_key(imports: &[(String, Progress)]) -> String {
    let next = imports
        .iter()
        .filter_map(|(key, _)| key.strip_prefix(KEY_PREFIX)?.parse::<u64>().ok())
        .max()
        .map_or(1, |n| n + 1);
    format!("{KEY_PREFIX}{next}")
}

/// The SHA-256 of a sequence of records, as it grows.
#[derive(Clone, Default)]
pub struct RecordHash(Sha256);

impl RecordHash {
    /// Adds one record's bytes (followed by a newline, so records cannot run together).
    pub fn add(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
        self.0.update(b"\n");
    }

    /// The hash of the records so far, in hex.
    pub fn hex(&self) -> String {
        hex(&self.0.clone().finalize())
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Checks that a record's segments cover exactly its `records` records.
pub fn check(key: &str, progress: &Progress) -> Result<()> {
    let covered: u64 = progress.memories();
    let contiguous = progress
        .segments
        .windows(2)
        .all(|w| w[0][0] + w[0][2] == w[1][0]);
    if covered != progress.records as u64
        || !contiguous
        || progress.segments.first().is_some_and(|s| s[0] != 0)
    {
        bail!(
            "the store's import record {key} is inconsistent (its ids do not cover its {} records); \
             import with --again to import the source as a new import",
            progress.records
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_map_records_to_ids_and_merge_when_contiguous() {
        let mut progress = Progress::new("f".into(), 10);
        progress.push(0, MemoryId::new(1), 3);
        progress.push(3, MemoryId::new(4), 2);
        progress.push(5, MemoryId::new(20), 5);
        assert_eq!(progress.segments, [[0, 1, 5], [5, 20, 5]]);
        let ids: Vec<Option<u64>> = (0..11)
            .map(|i| progress.id_of(i).map(MemoryId::get))
            .collect();
        assert_eq!(
            ids,
            [1, 2, 3, 4, 5, 20, 21, 22, 23, 24]
                .map(Some)
                .into_iter()
                .chain([None])
                .collect::<Vec<_>>()
        );
        assert_eq!(progress.id_range(), Some((1, 24)));
        assert_eq!(progress.memories(), 10);
        progress.records = 10;
        assert!(check("k", &progress).is_ok());
        progress.records = 11;
        assert!(check("k", &progress).is_err());
    }

    #[test]
    fn keys_count_up_and_hashes_depend_on_record_boundaries() {
        let p = Progress::new("f".into(), 1);
        let imports = vec![
            (format!("{KEY_PREFIX}1"), p.clone()),
            (format!("{KEY_PREFIX}7"), p),
        ];
        assert_eq!(new_key(&imports), "engram.import.8");
        assert_eq!(new_key(&[]), "engram.import.1");
        let mut a = RecordHash::default();
        a.add(b"ab");
        let mut b = RecordHash::default();
        b.add(b"a");
        b.add(b"b");
        assert_ne!(a.hex(), b.hex());
        assert_eq!(
            RecordHash::default().hex(),
            Progress::new("f".into(), 0).sha256
        );
        assert_eq!(
            RecordHash::default().hex(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
