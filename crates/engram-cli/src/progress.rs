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
pub const VERSION: u32 = 1;

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
        match parse(&value) {
            Some(progress) => imports.push((key, progress)),
            None => crate::output::note(&format!(
                "engram: note: the store's import record {key} is not one this version reads; it is ignored"
            )),
        }
    }
    Ok(imports)
}

/// Which records an import's record said were stored: what a batch expects to find before it
/// writes, so that two imports never write one record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stored {
    /// [`Progress::records`].
    pub records: usize,
    /// [`Progress::sha256`].
    pub sha256: String,
}

impl Progress {
    /// What it says is stored, as a batch after it expects it.
    pub fn stored_records(&self) -> Stored {
        Stored {
            records: self.records,
            sha256: self.sha256.clone(),
        }
    }
}

/// Why an import's batch was not written. Nothing of it was stored.
#[derive(Debug)]
pub enum BatchError {
    /// The store's record is not the one the batch continues: another import of these
    /// records wrote it (the message says what each holds).
    Changed(String),
    /// The record is not one: its segments do not cover the records before the batch's.
    Invalid(String),
    /// The engine refused the batch.
    Engine(engram_graph::Error),
}

/// Times a batch is tried again when another write takes the next id between reading it and
/// writing: each try costs one read and one refused transaction.
const ID_RACES: usize = 16;

/// Writes an import's `batch`, whose memories are the last `memories` records of
/// `progress`, with `progress` as the record `key` once those memories' ids are added to
/// it; the ids, and the record stored.
///
/// Only if the store's record `key` is still what the import stored last (`previous`;
/// `None` before its first batch): two imports of the same records, from two processes or
/// through a server, cannot both write them. The next id is read, then the record, and the
/// batch requires the next id to be the one read: every import batch remembers memories, so
/// if another one committed after the next id was read, the batch is refused and tried again
/// with both read again; if it committed before, the record read shows it.
pub fn write_batch(
    engram: &Engram,
    mut batch: engram_graph::WriteBatch,
    memories: usize,
    key: &str,
    progress: &Progress,
    previous: Option<&Stored>,
) -> Result<(Vec<MemoryId>, Progress), BatchError> {
    let Some(first_record) = progress.records.checked_sub(memories) else {
        return Err(BatchError::Changed(format!(
            "the import's record {key} holds {} records, fewer than the batch's {memories} memories",
            progress.records
        )));
    };
    let mut before = progress.clone();
    before.records = first_record;
    check(key, &before).map_err(|_| {
        BatchError::Invalid(format!(
            "the segments of record {key} must give ids (1 and up) to its first {first_record} records, in order, the {memories} records of the batch being the last of its {}",
            progress.records
        ))
    })?;
    let mut tries = 0;
    loop {
        // The next id first: see above.
        let first_id = engram.snapshot().next_id();
        let stored = engram
            .property(key)
            .map_err(BatchError::Engine)?
            .map(|value| parse(&value).map(|p| p.stored_records()));
        let expected = previous.cloned().map(Some);
        if stored != expected {
            let describe = |s: &Option<Option<Stored>>| match s {
                None => "nothing".to_owned(),
                Some(None) => "a record this version does not read".to_owned(),
                Some(Some(s)) => format!("{} records", s.records),
            };
            return Err(BatchError::Changed(format!(
                "another import of these records is writing them: the store's import record {key} says {} are stored, where this import stored {}",
                describe(&stored),
                describe(&expected)
            )));
        }
        let mut next = progress.clone();
        if memories > 0 {
            next.push(first_record, first_id, memories);
        }
        batch.require_first_id(first_id);
        // Items apply in order, so this record replaces one an earlier try added.
        batch.set_property(key, Some(&next.to_json()));
        match engram.write(&batch) {
            Ok(ids) => return Ok((ids, next)),
            Err(engram_graph::Error::NextIdChanged { .. }) if tries < ID_RACES => tries += 1,
            Err(error) => return Err(BatchError::Engine(error)),
        }
    }
}

/// An import record from its property value, if this version reads it.
pub fn parse(value: &str) -> Option<Progress> {
    serde_json::from_str::<Progress>(value)
        .ok()
        .filter(|progress| progress.version == VERSION)
}

/// Whether `key` names an import record: [`KEY_PREFIX`] and a number.
pub fn is_key(key: &str) -> bool {
    key.strip_prefix(KEY_PREFIX)
        .is_some_and(|n| !n.is_empty() && n.len() <= 20 && n.bytes().all(|b| b.is_ascii_digit()))
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

/// Checks that a record's segments cover exactly its `records` records, in order, with ids
/// from 1 up. A record can come from a client (`POST /v1/spaces/{space}/batch`), so its
/// numbers may be anything: the arithmetic is checked.
pub fn check(key: &str, progress: &Progress) -> Result<()> {
    // Each segment starts where the one before ended, the first at record 0, and neither
    // its records nor its ids pass u64::MAX; then the last one ends at `records`.
    let mut end = Some(0u64);
    for &[first, id, count] in &progress.segments {
        end = end
            .filter(|&e| e == first && id > 0 && id.checked_add(count).is_some())
            .and_then(|e| e.checked_add(count));
    }
    if end != Some(progress.records as u64) {
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
    fn check_refuses_gaps_overlaps_id_zero_and_overflow_without_panicking() {
        let record = |segments: Vec<[u64; 3]>, records: usize| Progress {
            segments,
            records,
            ..Progress::new("f".into(), records)
        };
        assert!(check("k", &record(vec![], 0)).is_ok());
        assert!(check("k", &record(vec![[0, 1, 2], [2, 9, 3]], 5)).is_ok());
        for (segments, records) in [
            (vec![[1, 1, 2]], 2),                          // does not start at record 0
            (vec![[0, 1, 2], [3, 9, 1]], 4),               // a gap
            (vec![[0, 1, 2], [1, 9, 2]], 3),               // an overlap
            (vec![[0, 0, 2]], 2),                          // id 0 is never given
            (vec![[0, u64::MAX, 2]], 2),                   // ids past u64::MAX
            (vec![[0, 1, u64::MAX], [u64::MAX, 1, 2]], 1), // records past u64::MAX
        ] {
            assert!(
                check("k", &record(segments.clone(), records)).is_err(),
                "{segments:?}"
            );
        }
        assert!(is_key("engram.import.12"));
        for key in [
            "engram.import.",
            "engram.import.1a",
            "engram.embedder",
            "engram.import.-1",
        ] {
            assert!(!is_key(key), "{key}");
        }
    }

    /// A batch of `n` memories for a store of dimension 2.
    fn memories(n: usize) -> engram_graph::WriteBatch {
        let mut batch = engram_graph::WriteBatch::new();
        for i in 0..n {
            batch.remember(engram_graph::NewMemory::new(vec![1.0, i as f32]));
        }
        batch
    }

    #[test]
    fn a_batch_writes_only_after_what_its_import_stored_last_and_records_its_ids() {
        let dir = tempfile::tempdir().expect("tempdir");
        let engram =
            Engram::create(dir.path().join("s.engram"), 2, Default::default()).expect("create");
        let key = "engram.import.1";
        let mut progress = Progress::new("f".into(), 5);
        progress.records = 2;
        // The first batch: nothing may be stored under the key yet.
        let (ids, first) =
            write_batch(&engram, memories(2), 2, key, &progress, None).expect("first batch");
        assert_eq!(ids, [MemoryId::new(1), MemoryId::new(2)]);
        assert_eq!(first.segments, [[0, 1, 2]]);
        assert_eq!(
            load(&engram).expect("load"),
            [(key.to_owned(), first.clone())]
        );
        // Another import that saw nothing stored, or an older record, is refused.
        let mut second = first.clone();
        second.records = 4;
        for stale in [None, Some(Progress::new("f".into(), 5).stored_records())] {
            let refused = write_batch(&engram, memories(2), 2, key, &second, stale.as_ref());
            assert!(
                matches!(refused, Err(BatchError::Changed(_))),
                "{refused:?}"
            );
        }
        // Other writes meanwhile move the ids, not the record.
        engram.write(&memories(3)).expect("3 more");
        let (ids, after) = write_batch(
            &engram,
            memories(2),
            2,
            key,
            &second,
            Some(&first.stored_records()),
        )
        .expect("second batch");
        assert_eq!(ids, [MemoryId::new(6), MemoryId::new(7)]);
        assert_eq!(after.segments, [[0, 1, 2], [2, 6, 2]]);
        assert_eq!(load(&engram).expect("load")[0].1, after);
        // A record whose segments do not cover the records before the batch's.
        let mut bad = after.clone();
        bad.records = 9;
        let refused = write_batch(
            &engram,
            memories(1),
            1,
            key,
            &bad,
            Some(&after.stored_records()),
        );
        assert!(
            matches!(refused, Err(BatchError::Invalid(_))),
            "{refused:?}"
        );
        assert_eq!(engram.snapshot().len(), 7);
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
