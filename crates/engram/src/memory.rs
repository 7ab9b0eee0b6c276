//! What a user stores: memories, their ids, and batches of writes.

use std::fmt;
use std::sync::Arc;

use crate::{Error, Result};

/// A memory's stable id. Ids are assigned by the store in increasing order starting at 1,
/// never reused (not even after a memory is forgotten), and survive reopening.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MemoryId(u64);

impl MemoryId {
    /// The id with this number, as printed by [`Display`](fmt::Display) or [`get`](Self::get).
    /// Whether a memory has it is up to the store.
    pub const fn new(id: u64) -> Self {
        Self(id)
    }

    /// The id's number.
    pub const fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for MemoryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The earliest time a store keeps: 0000-01-01T00:00:00Z, in Unix seconds.
pub const MIN_TIME: i64 = -62_167_219_200;
/// The latest time a store keeps: 9999-12-31T23:59:59Z, in Unix seconds. Together with
/// [`MIN_TIME`], what RFC 3339 can write.
pub const MAX_TIME: i64 = 253_402_300_799;

/// Seconds since the Unix epoch now (0 if the clock is before 1970), clamped to
/// [`MIN_TIME`]`..=`[`MAX_TIME`].
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(MAX_TIME))
        .min(MAX_TIME)
}

/// The engine's rule for a time (creation, last access, a recall's "now"): Unix seconds in
/// [`MIN_TIME`]`..=`[`MAX_TIME`]. A memory last accessed in year 292,277,026,596 would never
/// decay and would outrank everything; such times are refused instead.
///
/// # Errors
/// [`Error::TimeOutOfRange`].
pub fn check_time(unix_secs: i64) -> Result<()> {
    if (MIN_TIME..=MAX_TIME).contains(&unix_secs) {
        Ok(())
    } else {
        Err(Error::TimeOutOfRange(unix_secs))
    }
}

/// A memory to remember: an embedding plus optional content, strength and times.
///
/// Defaults: no content, strength [`DEFAULT_STRENGTH`](Self::DEFAULT_STRENGTH) (1.0), created
/// now, last accessed when created. Times are integer seconds since the Unix epoch.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMemory {
    pub(crate) embedding: Vec<f32>,
    pub(crate) content: Option<String>,
    pub(crate) strength: f32,
    pub(crate) created_at: Option<i64>,
    pub(crate) last_access: Option<i64>,
}

impl NewMemory {
    /// The strength of a memory that was not given one: 1.0.
    pub const DEFAULT_STRENGTH: f32 = 1.0;

    /// A memory with this embedding and the defaults. The embedding is checked when it is
    /// remembered: it must have the store's dimension and only finite elements.
    pub fn new(embedding: Vec<f32>) -> Self {
        Self {
            embedding,
            content: None,
            strength: Self::DEFAULT_STRENGTH,
            created_at: None,
            last_access: None,
        }
    }

    /// Sets the content text (stored and returned as is; not used by recall).
    #[must_use]
    pub fn with_content(mut self, content: impl Into<String>) -> Self {
        self.content = Some(content.into());
        self
    }

    /// Sets the base strength, which must be in `[0, 1]`.
    #[must_use]
    pub fn with_strength(mut self, strength: f32) -> Self {
        self.strength = strength;
        self
    }

    /// Sets the creation time, which is also the last access time unless
    /// [`last_accessed_at`](Self::last_accessed_at) says otherwise.
    #[must_use]
    pub fn created_at(mut self, unix_secs: i64) -> Self {
        self.created_at = Some(unix_secs);
        self
    }

    /// Sets the last access time, from which retention decays.
    #[must_use]
    pub fn last_accessed_at(mut self, unix_secs: i64) -> Self {
        self.last_access = Some(unix_secs);
        self
    }

    /// The embedding.
    pub fn embedding(&self) -> &[f32] {
        &self.embedding
    }

    /// Checks everything that does not depend on the store but its dimension.
    pub(crate) fn validate(&self, dim: usize) -> Result<()> {
        check_embedding(&self.embedding, dim)?;
        check_strength(self.strength)?;
        for time in [self.created_at, self.last_access].into_iter().flatten() {
            check_time(time)?;
        }
        Ok(())
    }
}

/// The engine's rule for an embedding (memory or cue) in a store of dimension `dim`: `dim`
/// elements, all finite, not all zero (cosine similarity is undefined for a zero vector).
/// Exposed so that a caller can check input before writing anything
/// (the `engram` command's import does); writes and recalls apply the same check.
///
/// # Errors
/// [`Error::DimensionMismatch`], [`Error::NonFiniteEmbedding`] or [`Error::ZeroEmbedding`].
pub fn check_embedding(embedding: &[f32], dim: usize) -> Result<()> {
    if embedding.len() != dim {
        return Err(Error::DimensionMismatch {
            expected: dim,
            found: embedding.len(),
        });
    }
    // One pass without an early exit vectorizes; the position is looked for only on failure.
    let all_finite = embedding.iter().fold(true, |all, x| all & x.is_finite());
    if !all_finite && let Some(index) = embedding.iter().position(|x| !x.is_finite()) {
        return Err(Error::NonFiniteEmbedding {
            index,
            value: embedding[index],
        });
    }
    if embedding.iter().all(|&x| x == 0.0) {
        return Err(Error::ZeroEmbedding);
    }
    Ok(())
}

/// The engine's rule for a strength: in `[0, 1]` (NaN is not).
///
/// # Errors
/// [`Error::InvalidStrength`].
pub fn check_strength(strength: f32) -> Result<()> {
    if (0.0..=1.0).contains(&strength) {
        Ok(())
    } else {
        Err(Error::InvalidStrength(strength))
    }
}

/// The engine's rule for an association weight: finite and in `[-1, 1]`.
///
/// # Errors
/// [`Error::InvalidWeight`].
pub fn check_weight(weight: f32) -> Result<()> {
    if weight.is_finite() && (-1.0..=1.0).contains(&weight) {
        Ok(())
    } else {
        Err(Error::InvalidWeight(weight))
    }
}

/// A stored memory, as read from a [`Snapshot`](crate::Snapshot).
#[derive(Debug, Clone, PartialEq)]
pub struct Memory {
    /// Its id.
    pub id: MemoryId,
    /// Its embedding.
    pub embedding: Vec<f32>,
    /// Its content text, if it was given one.
    pub content: Option<Arc<str>>,
    /// Base strength in `[0, 1]` (before decay).
    pub strength: f32,
    /// Creation time, Unix seconds.
    pub created_at: i64,
    /// Last access time, Unix seconds; retention decays from it.
    pub last_access: i64,
}

/// A directed, weighted association between two memories, as read from a snapshot.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Association {
    /// Where activation flows from.
    pub from: MemoryId,
    /// Where it flows to.
    pub to: MemoryId,
    /// Its weight in `[-1, 1]`; negative weights inhibit.
    pub weight: f32,
}

/// A memory named in a [`WriteBatch`]: one that exists, or one the batch itself remembers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemoryRef {
    /// A memory already in the store.
    Existing(MemoryId),
    /// The `n`-th memory remembered by this batch (0-based), as returned by
    /// [`WriteBatch::remember`].
    New(usize),
}

impl From<MemoryId> for MemoryRef {
    fn from(id: MemoryId) -> Self {
        MemoryRef::Existing(id)
    }
}

/// Several writes applied in order in one transaction: all of them are stored, or (if any is
/// rejected) none. Built with the methods below and passed to
/// [`Engram::write`](crate::Engram::write).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WriteBatch {
    pub(crate) ops: Vec<Op>,
    pub(crate) remembered: usize,
    /// The id the batch's first memory must get, if the caller asked for one.
    pub(crate) first_id: Option<MemoryId>,
}

/// One write of a batch.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Op {
    Remember(NewMemory),
    Associate {
        from: MemoryRef,
        to: MemoryRef,
        weight: f32,
    },
    Dissociate {
        from: MemoryRef,
        to: MemoryRef,
    },
    Forget(MemoryId),
    /// Reinforcement after a recall: skips memories forgotten since.
    Reinforce {
        id: MemoryId,
        at: i64,
        boost: f32,
    },
    /// Sets (`Some`) or removes (`None`) an application property.
    SetProperty {
        key: String,
        value: Option<String>,
    },
}

impl WriteBatch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Remembers a memory; the returned reference names it in later items of this batch.
    pub fn remember(&mut self, memory: NewMemory) -> MemoryRef {
        self.ops.push(Op::Remember(memory));
        self.remembered += 1;
        MemoryRef::New(self.remembered - 1)
    }

    /// Sets the weight of the association `from → to` (creating it, or replacing its weight).
    pub fn associate(&mut self, from: impl Into<MemoryRef>, to: impl Into<MemoryRef>, weight: f32) {
        self.ops.push(Op::Associate {
            from: from.into(),
            to: to.into(),
            weight,
        });
    }

    /// Sets the association in both directions, with the same weight.
    pub fn associate_both(
        &mut self,
        a: impl Into<MemoryRef>,
        b: impl Into<MemoryRef>,
        weight: f32,
    ) {
        let (a, b) = (a.into(), b.into());
        self.associate(a, b, weight);
        self.associate(b, a, weight);
    }

    /// Removes the association `from → to`, if there is one.
    pub fn dissociate(&mut self, from: impl Into<MemoryRef>, to: impl Into<MemoryRef>) {
        self.ops.push(Op::Dissociate {
            from: from.into(),
            to: to.into(),
        });
    }

    /// Forgets a memory and every association from or to it.
    pub fn forget(&mut self, id: MemoryId) {
        self.ops.push(Op::Forget(id));
    }

    /// Sets the application property `key` to `value` (with `None`, removes it), in the same
    /// transaction as the rest of the batch: a record of what the batch did (the `engram`
    /// command keeps an import's progress this way) is then exact after any crash. See
    /// [`Engram::set_property`](crate::Engram::set_property).
    pub fn set_property(&mut self, key: impl Into<String>, value: Option<&str>) {
        self.ops.push(Op::SetProperty {
            key: key.into(),
            value: value.map(str::to_owned),
        });
    }

    /// Applies the batch only if the first memory it remembers gets `id`, which is the
    /// store's [next id](crate::Snapshot::next_id) when the batch is written; its memories
    /// then get `id`, `id + 1`, ... in order. Otherwise the batch fails with
    /// [`Error::NextIdChanged`] and nothing of it is stored. A caller that records the ids it
    /// is about to create (the `engram` command's import progress, in the same batch) uses it
    /// to know them before the write, whatever other writers do.
    pub fn require_first_id(&mut self, id: MemoryId) {
        self.first_id = Some(id);
    }

    /// Number of items.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// Whether the batch has no items.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}
