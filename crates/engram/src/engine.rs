//! [`Engram`]: the store an application opens, writes to and recalls from; [`Snapshot`]: one
//! consistent version of it.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;

use engram_kernels::Kernels;
use engram_store::{Mode, OpenOptions, Store, WriteTxn};

use crate::Precision;
use crate::format1;
use crate::memory::{
    Association, Memory, MemoryRef, NewMemory, Op, WriteBatch, check_weight, unix_now,
};
use crate::recall::{RecallParams, RecallScratch, Recalled, recall};
use crate::state::{MAX_ROWS, RowMeta, State};
use crate::store::{self, SEAL_ROWS, Touched};
use crate::{Error, MemoryId, Result};

/// How an [`Engram`] runs. [`Default`] gives the documented defaults.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Options {
    /// The kernels recall runs on. Default `None`: [`Kernels::from_env`] — the best backend
    /// and CPU level compiled in, unless `ENGRAM_KERNELS` / `ENGRAM_KERNELS_LEVEL` say
    /// otherwise — single-threaded.
    pub kernels: Option<Kernels>,
    /// Whether a memory may be associated with itself. Default `false`: such a write is an
    /// [`Error::SelfAssociation`].
    pub allow_self_associations: bool,
    /// The changes since the segments were written (reinforcements, forgotten memories,
    /// changed association lists) are merged in once there are more than
    /// `max(min_compaction_changes, memories / 8)`. Default
    /// [`DEFAULT_MIN_COMPACTION_CHANGES`](Self::DEFAULT_MIN_COMPACTION_CHANGES) (4096).
    pub min_compaction_changes: usize,
    /// Open the store for reading only: every write is [`Error::ReadOnly`], and the file is
    /// never written to (it may be on a read-only mount, or belong to another user). Default
    /// `false`.
    pub read_only: bool,
    /// How long a write waits for another process's write to the same store before it fails
    /// with [`Error::Busy`]. Default [`DEFAULT_BUSY_TIMEOUT`](Self::DEFAULT_BUSY_TIMEOUT)
    /// (10 s).
    pub busy_timeout: Duration,
    /// The scan precision of a store this creates ([`Engram::create`], [`Engram::in_memory`],
    /// [`Engram::migrate_format_1`]); an opened store keeps its own (change it with
    /// [`Engram::set_precision`]). Default [`Precision::F32`]: exact, and the fastest
    /// write.
    pub precision: Precision,
}

impl Options {
    /// Default of [`min_compaction_changes`](Self::min_compaction_changes).
    pub const DEFAULT_MIN_COMPACTION_CHANGES: usize = 4096;
    /// Default of [`busy_timeout`](Self::busy_timeout): 10 s.
    pub const DEFAULT_BUSY_TIMEOUT: Duration = engram_store::DEFAULT_BUSY_TIMEOUT;
}

impl Default for Options {
    fn default() -> Self {
        Self {
            kernels: None,
            allow_self_associations: false,
            min_compaction_changes: Self::DEFAULT_MIN_COMPACTION_CHANGES,
            read_only: false,
            busy_timeout: Self::DEFAULT_BUSY_TIMEOUT,
            precision: Precision::F32,
        }
    }
}

/// A persistent memory graph. `Send + Sync`: share it (in an `Arc`) between threads; recalls
/// run concurrently with each other and with one writer at a time, and each sees one
/// consistent [`Snapshot`]. Other processes may open the same store at the same time.
///
/// **Durability:** when a write method returns `Ok`, its transaction is committed with an
/// fsync and survives a crash or power loss; when it returns an error, nothing of it was
/// stored. Writes are visible to the next recall, in this process and in others.
pub struct Engram {
    store: Store,
    path: Option<PathBuf>,
    /// The directory of an [`in_memory`](Engram::in_memory) store, removed on drop.
    _temp: Option<tempfile::TempDir>,
    kernels: Kernels,
    options: Options,
    /// Serializes this process's writers: each builds the next state from the current one.
    writer: Mutex<()>,
    current: RwLock<Arc<State>>,
    scratch: Arc<ScratchPool>,
}

impl std::fmt::Debug for Engram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engram")
            .field("path", &self.path)
            .field("kernels", &self.kernels)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// Recall buffers kept between recalls, one per concurrent recall.
#[derive(Debug, Default)]
struct ScratchPool(Mutex<Vec<RecallScratch>>);

impl ScratchPool {
    fn with<T>(&self, f: impl FnOnce(&mut RecallScratch) -> T) -> T {
        let mut scratch = lock(&self.0).pop().unwrap_or_default();
        let result = f(&mut scratch);
        lock(&self.0).push(scratch);
        result
    }
}

/// Locks a mutex; a panic elsewhere while holding it cannot leave the guarded data half
/// changed (states are replaced whole), so poisoning is ignored.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The kernels of `options`, or those the environment chooses.
fn resolve_kernels(options: &Options) -> Result<Kernels> {
    Ok(match options.kernels {
        Some(kernels) => kernels,
        None => Kernels::from_env()?,
    })
}

fn check_dimension(dim: usize) -> Result<()> {
    if dim == 0 || dim > u32::MAX as usize {
        return Err(Error::InvalidParameter {
            name: "dimension",
            value: dim as f64,
            requirement: "in 1..=4294967295",
        });
    }
    Ok(())
}

/// What a redb file is: an engram store in format 1 ([`Error::FormatOne`]), or another
/// program's database (its header names which), read without changing it.
fn format_one(path: &Path) -> Error {
    let header = redb::Database::builder()
        .open_read_only(path)
        .map_err(Error::from)
        .and_then(|db| format1::read_header(&db));
    match header {
        Ok(_) => Error::FormatOne { path: path.into() },
        Err(error) => error,
    }
}

fn store_options(options: &Options) -> OpenOptions {
    OpenOptions {
        mode: if options.read_only {
            Mode::ReadOnly
        } else {
            Mode::ReadWrite
        },
        busy_timeout: options.busy_timeout,
    }
}

impl Engram {
    /// Creates a store of `dim`-dimensional embeddings in a new file at `path`. The same as
    /// [`create_with_properties`](Self::create_with_properties) with no properties.
    ///
    /// # Errors
    /// As [`create_with_properties`](Self::create_with_properties).
    pub fn create(path: impl AsRef<Path>, dim: usize, options: Options) -> Result<Self> {
        Self::create_with_properties(path, dim, &[], options)
    }

    /// Creates a store of `dim`-dimensional embeddings in a new file at `path`, with its first
    /// application [properties](Self::property) recorded in the same transaction as the
    /// store's metadata. LMDB keeps its lock file beside it, `path` followed by `-lock`.
    ///
    /// **Creation is atomic.** The store is built in a temporary file in the same directory
    /// (`.NAME.XXXXXXXX.engram-init`), fsynced, moved to `path` only if nothing is there, and
    /// the directory is fsynced. After a crash at any moment there is either no file at `path`
    /// (and creating it again works) or a complete store holding every property given; a
    /// leftover temporary file is never opened as a store, and a later create of the same path
    /// removes it once it has been untouched for a minute.
    ///
    /// # Errors
    /// [`Error::AlreadyExists`] if a file is at `path` (checked first, and again when the
    /// store is moved into place, so a file that appears meanwhile is never replaced);
    /// [`Error::InvalidParameter`] if `dim` is 0; [`Error::EmptyPropertyKey`];
    /// [`Error::Kernels`] as [`Options::kernels`]; [`Error::ReadOnly`] with
    /// [`Options::read_only`]; [`Error::Io`] if the directory cannot be written (missing,
    /// read-only, full, no permission).
    pub fn create_with_properties(
        path: impl AsRef<Path>,
        dim: usize,
        properties: &[(&str, &str)],
        options: Options,
    ) -> Result<Self> {
        let path = path.as_ref();
        check_dimension(dim)?;
        if properties.iter().any(|(key, _)| key.is_empty()) {
            return Err(Error::EmptyPropertyKey);
        }
        if options.read_only {
            return Err(Error::ReadOnly);
        }
        // Everything that can be refused is refused before a file is made.
        let kernels = resolve_kernels(&options)?;
        let store = Store::create(path, dim as u64, options.busy_timeout, |txn| {
            store::initialize(txn, options.precision, properties).map_err(store_error)
        })?;
        Self::from_store(store, Some(path.into()), None, kernels, options)
    }

    /// Opens an existing store, reading its metadata (and checking every B-tree page, see the
    /// crate docs), never its embeddings: the cost does not grow with the memories in
    /// segments. A recall then reads the embeddings in place from the file's pages.
    ///
    /// # Errors
    /// [`Error::NotFound`]; [`Error::NotAStore`] for a file that is not an engram store
    /// (empty, not a database, a database without engram's tables); [`Error::FormatOne`] for
    /// a store of format 1 (convert it: [`Engram::migrate_format_1`]);
    /// [`Error::FormatTooNew`]; [`Error::Corrupt`] for a damaged or truncated store;
    /// [`Error::Io`] (permission denied, read-only file system without
    /// [`Options::read_only`], ...); [`Error::Kernels`] as [`Options::kernels`].
    pub fn open(path: impl AsRef<Path>, options: Options) -> Result<Self> {
        let path = path.as_ref();
        let kernels = resolve_kernels(&options)?;
        let store = Store::open(path, store_options(&options)).map_err(|error| match error {
            engram_store::Error::FormatOne { .. } => format_one(path),
            other => other.into(),
        })?;
        Self::from_store(store, Some(path.into()), None, kernels, options)
    }

    /// Opens the store at `path`, creating it (as [`create`](Self::create) does, atomically)
    /// if there is no file; an existing store must have dimension `dim`. If another process
    /// creates it meanwhile, that store is opened.
    ///
    /// # Errors
    /// As [`create`](Self::create) and [`open`](Self::open), and
    /// [`Error::DimensionMismatch`] if the store has another dimension.
    pub fn open_or_create(path: impl AsRef<Path>, dim: usize, options: Options) -> Result<Self> {
        let path = path.as_ref();
        if !path.exists() {
            match Self::create(path, dim, options) {
                Err(Error::AlreadyExists { .. }) => {}
                created => return created,
            }
        }
        let engram = Self::open(path, options)?;
        if engram.dimension() != dim {
            return Err(Error::DimensionMismatch {
                expected: engram.dimension(),
                found: dim,
            });
        }
        Ok(engram)
    }

    /// Converts the format-1 store (a redb file, written by releases before the memory-mapped
    /// store) at `from` into a new store at `to`, created atomically as
    /// [`create`](Self::create) does: every memory with its id, content, strength and times,
    /// every association, the next id and every property. `from` is opened read-only and
    /// never changed. O(N·D + E), in memory.
    ///
    /// # Errors
    /// [`Error::NotFound`] for `from`; [`Error::NotAStore`] or [`Error::Corrupt`] if it is no
    /// intact format-1 store; as [`create`](Self::create) for `to`.
    pub fn migrate_format_1(
        from: impl AsRef<Path>,
        to: impl AsRef<Path>,
        options: Options,
    ) -> Result<Self> {
        let (from, to) = (from.as_ref(), to.as_ref());
        if !from.exists() {
            return Err(Error::NotFound { path: from.into() });
        }
        if options.read_only {
            return Err(Error::ReadOnly);
        }
        let kernels = resolve_kernels(&options)?;
        if to.symlink_metadata().is_ok() {
            return Err(Error::AlreadyExists { path: to.into() });
        }
        let db = redb::Database::builder().open_read_only(from)?;
        let (_, dim) = format1::read_header(&db)?;
        let properties = format1::read_properties(&db)?;
        let (arrays, next_id) = format1::read_all(&db, dim)?;
        drop(db);
        let properties: Vec<(&str, &str)> = properties
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let store = Store::create(to, dim as u64, options.busy_timeout, |txn| {
            let coding = (&kernels, options.precision);
            store::initialize_with_segment(txn, &arrays, next_id, &properties, coding)
                .map_err(store_error)
        })?;
        Self::from_store(store, Some(to.into()), None, kernels, options)
    }

    /// A store that lives only as long as this value: the same engine in a temporary
    /// directory, removed when it is dropped. For tests and ephemeral use.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] if `dim` is 0; [`Error::Kernels`] as [`Options::kernels`];
    /// [`Error::Io`] if no temporary directory can be made.
    pub fn in_memory(dim: usize, options: Options) -> Result<Self> {
        check_dimension(dim)?;
        let kernels = resolve_kernels(&options)?;
        let temp = tempfile::tempdir().map_err(Error::Io)?;
        let options = Options {
            read_only: false,
            ..options
        };
        let store = Store::create(
            &temp.path().join("in-memory.engram"),
            dim as u64,
            options.busy_timeout,
            |txn| store::initialize(txn, options.precision, &[]).map_err(store_error),
        )?;
        Self::from_store(store, None, Some(temp), kernels, options)
    }

    fn from_store(
        store: Store,
        path: Option<PathBuf>,
        temp: Option<tempfile::TempDir>,
        kernels: Kernels,
        options: Options,
    ) -> Result<Self> {
        let dim = usize::try_from(store.dimension())
            .map_err(|_| Error::Corrupt("dimension does not fit in memory".into()))?;
        let state = store::load(&store.snapshot()?, dim)?;
        Ok(Self {
            store,
            path,
            _temp: temp,
            kernels,
            options,
            writer: Mutex::new(()),
            current: RwLock::new(Arc::new(state)),
            scratch: Arc::default(),
        })
    }

    /// The embedding dimension of this store.
    pub fn dimension(&self) -> usize {
        self.current_state().dim
    }

    /// The file behind this store; `None` for [`in_memory`](Self::in_memory).
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The kernels recall runs on.
    pub fn kernels(&self) -> Kernels {
        self.kernels
    }

    /// The options it was opened with.
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// The size of the store's file in bytes.
    ///
    /// # Errors
    /// [`Error::Io`].
    pub fn file_size(&self) -> Result<u64> {
        Ok(self.store.file_size()?)
    }

    /// Whether every compacted embedding is read in place from the file's pages (always,
    /// unless the file's blocks are misaligned and had to be copied), and how many segments
    /// hold them.
    pub fn layout(&self) -> (bool, usize) {
        let state = self.current_state();
        (state.base.is_mapped(), state.base.segments())
    }

    fn current_state(&self) -> Arc<State> {
        self.current
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// The current state, first reloaded if another process committed since it was read.
    fn fresh_state(&self) -> Result<Arc<State>> {
        let current = self.current_state();
        if self.store.last_committed() == current.txn_id {
            return Ok(current);
        }
        let state = Arc::new(store::load(&self.store.snapshot()?, current.dim)?);
        let mut slot = self
            .current
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // Another thread may have published a newer one meanwhile.
        if state.txn_id > slot.txn_id {
            *slot = Arc::clone(&state);
        }
        Ok(Arc::clone(&slot))
    }

    /// The application property `key`, if set: a small string an application keeps with the
    /// store (the `engram` command keeps its text embedder's settings there). Read from the
    /// file, so O(log P) plus a read transaction; not for hot paths.
    ///
    /// # Errors
    /// A storage error.
    pub fn property(&self, key: &str) -> Result<Option<String>> {
        Ok(self.store.read()?.property(key)?.map(str::to_owned))
    }

    /// Every application property, sorted by key.
    ///
    /// # Errors
    /// A storage error.
    pub fn properties(&self) -> Result<Vec<(String, String)>> {
        Ok(self
            .store
            .read()?
            .properties()?
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect())
    }

    /// Sets the application property `key` to `value` (or removes it, with `None`), durably,
    /// in its own transaction. Properties do not touch memories, associations or recall. To
    /// set one in the same transaction as other writes, use [`WriteBatch::set_property`].
    ///
    /// # Errors
    /// [`Error::EmptyPropertyKey`]; a storage error.
    pub fn set_property(&self, key: &str, value: Option<&str>) -> Result<()> {
        let mut batch = WriteBatch::new();
        batch.set_property(key, value);
        self.write(&batch).map_err(Error::unbatched).map(drop)
    }

    /// The current version of the store, with every write committed before the call, by this
    /// process or another; later writes do not change it. O(1) when nothing changed, else
    /// O(changes since the segments were written). If the store cannot be read anew (damaged
    /// meanwhile), the version this handle read last.
    pub fn snapshot(&self) -> Snapshot {
        let state = self.fresh_state().unwrap_or_else(|_| self.current_state());
        Snapshot {
            state,
            kernels: self.kernels,
            scratch: Arc::clone(&self.scratch),
        }
    }

    /// Applies a batch in one transaction: all of it or, if any item is rejected, nothing.
    /// Returns the ids of the memories it remembered, in order.
    ///
    /// # Errors
    /// [`Error::InBatch`] naming the first rejected item and why (wrong dimension, non-finite
    /// element, strength or weight out of range, unknown memory, self-association);
    /// [`Error::NextIdChanged`] if [`WriteBatch::require_first_id`] does not hold;
    /// [`Error::ReadOnly`]; [`Error::Busy`] if another process kept writing for the whole
    /// [`Options::busy_timeout`]; a storage error if the commit fails.
    pub fn write(&self, batch: &WriteBatch) -> Result<Vec<MemoryId>> {
        let _writer = lock(&self.writer);
        let mut txn = self.write_txn()?;
        // Holding the store's writer lock, no other process commits until this one has.
        let current = self.fresh_state()?;
        let mut next = State::clone(&current);
        let mut touched = Touched::default();
        // On error the transaction is dropped, which aborts it, and `next` is discarded.
        let created = apply_batch(&mut next, &mut txn, batch, &self.options, &mut touched)?;
        let sealing = next.rows() - next.base.rows() >= SEAL_ROWS;
        store::persist(&mut txn, &current, &next, &touched, sealing)?;
        let changes = store::pending_changes(&txn)?;
        let threshold = self.options.min_compaction_changes.max(next.live / 8);
        let relaid = if changes > threshold {
            store::compact(&mut txn, &next, &self.kernels, next.base.precision())?;
            true
        } else if sealing {
            let stored_tail = current.rows() - current.base.rows();
            store::seal_tail(&mut txn, &next, stored_tail, &self.kernels)?;
            true
        } else {
            false
        };
        txn.commit()?;
        self.publish_after_commit(next, relaid, changes);
        Ok(created)
    }

    /// Publishes the state a commit made. Reading the commit back (the new segments, the
    /// pages the next recalls read) cannot undo it: if that fails, the state built in memory
    /// is published, marked so that the next snapshot reads the store again.
    fn publish_after_commit(&self, mut next: State, relaid: bool, changes: usize) {
        let reread = self
            .store
            .snapshot()
            .map_err(Error::from)
            .and_then(|snapshot| {
                if relaid {
                    store::load(&snapshot, next.dim)
                } else {
                    next.base = Arc::new(store::load_base(&snapshot, next.dim)?);
                    next.delta.set_changes(changes);
                    next.txn_id = snapshot.id();
                    Ok(next.clone())
                }
            });
        let state = reread.unwrap_or_else(|_| State { txn_id: 0, ..next });
        *self
            .current
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::new(state);
    }

    /// Remembers one memory and returns its id.
    ///
    /// # Errors
    /// [`Error::DimensionMismatch`], [`Error::NonFiniteEmbedding`], [`Error::InvalidStrength`],
    /// [`Error::TooManyMemories`], or a storage error.
    pub fn remember(&self, memory: NewMemory) -> Result<MemoryId> {
        let mut batch = WriteBatch::new();
        batch.remember(memory);
        let ids = self.write(&batch).map_err(Error::unbatched)?;
        ids.first()
            .copied()
            .ok_or_else(|| Error::Internal("a remember created no memory".into()))
    }

    /// Remembers many memories in one transaction; returns their ids in order.
    ///
    /// # Errors
    /// [`Error::InBatch`] for the first rejected memory (nothing is stored), or a storage
    /// error.
    pub fn remember_batch(
        &self,
        memories: impl IntoIterator<Item = NewMemory>,
    ) -> Result<Vec<MemoryId>> {
        let mut batch = WriteBatch::new();
        for memory in memories {
            batch.remember(memory);
        }
        self.write(&batch)
    }

    /// Sets the association `from → to` to `weight` in `[-1, 1]` (negative inhibits),
    /// creating it or replacing its weight.
    ///
    /// # Errors
    /// [`Error::UnknownMemory`], [`Error::InvalidWeight`], [`Error::SelfAssociation`], or a
    /// storage error.
    pub fn associate(&self, from: MemoryId, to: MemoryId, weight: f32) -> Result<()> {
        let mut batch = WriteBatch::new();
        batch.associate(from, to, weight);
        self.write(&batch).map_err(Error::unbatched).map(drop)
    }

    /// Sets the association in both directions, in one transaction.
    ///
    /// # Errors
    /// As [`associate`](Self::associate).
    pub fn associate_both(&self, a: MemoryId, b: MemoryId, weight: f32) -> Result<()> {
        let mut batch = WriteBatch::new();
        batch.associate_both(a, b, weight);
        self.write(&batch).map_err(Error::unbatched).map(drop)
    }

    /// Removes the association `from → to`; doing so when there is none is not an error.
    ///
    /// # Errors
    /// [`Error::UnknownMemory`] if either memory does not exist, or a storage error.
    pub fn dissociate(&self, from: MemoryId, to: MemoryId) -> Result<()> {
        let mut batch = WriteBatch::new();
        batch.dissociate(from, to);
        self.write(&batch).map_err(Error::unbatched).map(drop)
    }

    /// Forgets a memory and every association from or to it. It never comes back from a
    /// recall, and its id is never reused.
    ///
    /// # Errors
    /// [`Error::UnknownMemory`], or a storage error.
    pub fn forget(&self, id: MemoryId) -> Result<()> {
        let mut batch = WriteBatch::new();
        batch.forget(id);
        self.write(&batch).map_err(Error::unbatched).map(drop)
    }

    /// Recalls from a cue embedding on the current snapshot (see [`Snapshot::recall`]); with
    /// [`RecallParams::reinforce`], then reinforces the returned memories in one durable
    /// transaction before returning (memories forgotten in between are skipped).
    ///
    /// # Errors
    /// As [`Snapshot::recall`], and a storage error if reinforcing fails.
    pub fn recall(&self, cue: &[f32], params: &RecallParams) -> Result<Vec<Recalled>> {
        let snapshot = self.snapshot();
        let now = params.now.unwrap_or_else(unix_now);
        let results = snapshot.recall_at(cue, params, now)?;
        if let Some(boost) = params.reinforce {
            let batch = WriteBatch {
                ops: results
                    .iter()
                    .map(|r| Op::Reinforce {
                        id: r.id,
                        at: now,
                        boost,
                    })
                    .collect(),
                remembered: 0,
                first_id: None,
            };
            self.write(&batch)?;
        }
        Ok(results)
    }

    /// Merges the delta into the compacted layout now, instead of when it grows past the
    /// threshold of [`Options::min_compaction_changes`]. Changes nothing a recall returns.
    ///
    /// # Errors
    /// [`Error::ReadOnly`]; [`Error::Busy`]; a storage error.
    pub fn compact(&self) -> Result<()> {
        let _writer = lock(&self.writer);
        let mut txn = self.write_txn()?;
        let current = self.fresh_state()?;
        store::compact(&mut txn, &current, &self.kernels, current.base.precision())?;
        txn.commit()?;
        self.publish_after_commit(State::clone(&current), true, 0);
        Ok(())
    }

    /// A write transaction, unless this handle is read-only. The store refuses one by itself
    /// only when the file was opened read-only; a read-only handle opened in a process that
    /// already holds a read-write one shares that one's environment, so the handle's own
    /// option is checked here.
    fn write_txn(&self) -> Result<WriteTxn<'_>> {
        if self.options.read_only {
            return Err(Error::ReadOnly);
        }
        Ok(self.store.write()?)
    }

    /// The store's scan precision ([`Precision`]).
    pub fn precision(&self) -> Precision {
        self.current_state().base.precision()
    }

    /// Changes the store's scan precision: rebuilds the codes of every memory from its f32
    /// embedding (or drops them, for [`Precision::F32`]) in one transaction, as a compaction
    /// that also quantizes: O(N·D + E). Every process sees the new precision at its next
    /// snapshot. Setting the precision the store has is a compaction.
    ///
    /// # Errors
    /// [`Error::ReadOnly`]; [`Error::Busy`]; a storage error.
    pub fn set_precision(&self, precision: Precision) -> Result<()> {
        let _writer = lock(&self.writer);
        let mut txn = self.write_txn()?;
        let current = self.fresh_state()?;
        store::compact(&mut txn, &current, &self.kernels, precision)?;
        txn.commit()?;
        self.publish_after_commit(State::clone(&current), true, 0);
        Ok(())
    }
}

/// Resolves a batch reference to a live row and its id. A memory of this batch is found by
/// its row directly (no id lookup), unless the batch forgot it meanwhile.
fn resolve(
    state: &State,
    created: &[(MemoryId, u32)],
    target: MemoryRef,
) -> Result<(u32, MemoryId)> {
    match target {
        MemoryRef::Existing(id) => Ok((state.require(id)?, id)),
        MemoryRef::New(index) => {
            let &(id, row) = created.get(index).ok_or(Error::UnknownBatchMemory {
                index,
                created: created.len(),
            })?;
            if state.is_forgotten(row) {
                return Err(Error::UnknownMemory(id));
            }
            Ok((row, id))
        }
    }
}

/// The engine's error for what the store layer refused inside a create's first transaction.
fn store_error(error: Error) -> engram_store::Error {
    match error {
        Error::Io(io) => engram_store::Error::Io(io),
        other => engram_store::Error::Lmdb(other.to_string()),
    }
}

/// Applies every item of `batch` to `state`, recording in `touched` what the transaction
/// must write (properties it writes at once).
fn apply_batch(
    state: &mut State,
    txn: &mut WriteTxn<'_>,
    batch: &WriteBatch,
    options: &Options,
    touched: &mut Touched,
) -> Result<Vec<MemoryId>> {
    if let Some(expected) = batch.first_id
        && expected.get() != state.next_id
    {
        return Err(Error::NextIdChanged {
            expected,
            found: MemoryId::new(state.next_id),
        });
    }
    let now = unix_now();
    let mut created = Vec::with_capacity(batch.remembered);
    let mut edges = Vec::new();
    let mut index = 0;
    while let Some(op) = batch.ops.get(index) {
        if let &Op::Associate { from, .. } = op {
            // A run of associations from one memory (how batches are usually built) finds
            // its out-list once.
            let run = batch.ops[index..]
                .iter()
                .take_while(|op| matches!(op, Op::Associate { from: f, .. } if *f == from))
                .count();
            let ops = &batch.ops[index..index + run];
            apply_associations(state, ops, options, &created, &mut edges, touched)
                .map_err(|(offset, e)| e.in_batch(index + offset))?;
            index += run;
            continue;
        }
        apply_op(state, txn, op, options, now, &mut created, touched)
            .map_err(|e| e.in_batch(index))?;
        index += 1;
    }
    Ok(created.into_iter().map(|(id, _)| id).collect())
}

/// Applies `ops`, a run of associations from one memory (the first op's `from`), resolving
/// every target before changing the out-list (`edges` is scratch). On error, the position in
/// `ops` of the one rejected.
fn apply_associations(
    state: &mut State,
    ops: &[Op],
    options: &Options,
    created: &[(MemoryId, u32)],
    edges: &mut Vec<(u32, f32)>,
    touched: &mut Touched,
) -> std::result::Result<(), (usize, Error)> {
    edges.clear();
    let Some(&Op::Associate { from, .. }) = ops.first() else {
        return Ok(());
    };
    let (from_row, from_id) = resolve(state, created, from).map_err(|e| (0, e))?;
    for (index, op) in ops.iter().enumerate() {
        let &Op::Associate { to, weight, .. } = op else {
            continue;
        };
        let checked = || {
            let (to_row, _) = resolve(state, created, to)?;
            check_weight(weight)?;
            if from_row == to_row && !options.allow_self_associations {
                return Err(Error::SelfAssociation(from_id));
            }
            Ok(to_row)
        };
        edges.push((checked().map_err(|e| (index, e))?, weight));
    }
    state.set_edges(from_row, edges);
    touched.adjacency.push(from_row);
    Ok(())
}

fn apply_op(
    state: &mut State,
    txn: &mut WriteTxn<'_>,
    op: &Op,
    options: &Options,
    now: i64,
    created: &mut Vec<(MemoryId, u32)>,
    touched: &mut Touched,
) -> Result<()> {
    match op {
        Op::Remember(memory) => {
            memory.validate(state.dim)?;
            if state.rows() as u64 >= MAX_ROWS || state.next_id == u64::MAX {
                return Err(Error::TooManyMemories { max: MAX_ROWS });
            }
            let id = MemoryId::new(state.next_id);
            let created_at = memory.created_at.unwrap_or(now);
            let meta = RowMeta {
                id,
                strength: memory.strength,
                created_at,
                last_access: memory.last_access.unwrap_or(created_at),
                content: memory.content.as_deref().map(Arc::from),
            };
            let row = state.push_row(meta, &memory.embedding)?;
            state.next_id += 1;
            created.push((id, row));
        }
        Op::Associate { .. } => {
            let ops = std::slice::from_ref(op);
            apply_associations(state, ops, options, created, &mut Vec::new(), touched)
                .map_err(|(_, e)| e)?;
        }
        &Op::Dissociate { from, to } => {
            let (from_row, _) = resolve(state, created, from)?;
            let (to_row, _) = resolve(state, created, to)?;
            if state.remove_edge(from_row, to_row) {
                touched.adjacency.push(from_row);
            }
        }
        &Op::Forget(id) => {
            let row = state.require(id)?;
            let sources = state.sources_of(row);
            touched.adjacency.extend(sources.iter().copied());
            if state.forget(row, &sources) {
                touched.adjacency.push(row);
            }
            touched.forgotten.push(row);
            touched.access.push(row);
        }
        &Op::Reinforce { id, at, boost } => {
            if let Some(row) = state.row_of(id) {
                state.reinforce(row, at, boost);
                touched.access.push(row);
            }
        }
        Op::SetProperty { key, value } => {
            if key.is_empty() {
                return Err(Error::EmptyPropertyKey);
            }
            txn.set_property(key, value.as_deref())?;
        }
    }
    Ok(())
}

/// One consistent version of an [`Engram`]: what it held when the snapshot was taken, however
/// it is written to afterwards. Cheap to take and to clone; `Send + Sync`.
#[derive(Debug, Clone)]
pub struct Snapshot {
    state: Arc<State>,
    kernels: Kernels,
    scratch: Arc<ScratchPool>,
}

impl Snapshot {
    /// The store's scan precision in this snapshot.
    pub fn precision(&self) -> Precision {
        self.state.base.precision()
    }

    /// The same snapshot, recalling on other kernels (another backend, CPU level or thread
    /// count): for comparing backends on the same data. O(1).
    #[must_use]
    pub fn with_kernels(mut self, kernels: Kernels) -> Self {
        self.kernels = kernels;
        self
    }

    /// The kernels this snapshot recalls on.
    pub fn kernels(&self) -> Kernels {
        self.kernels
    }

    /// Number of memories.
    pub fn len(&self) -> usize {
        self.state.live
    }

    /// Whether there are no memories.
    pub fn is_empty(&self) -> bool {
        self.state.live == 0
    }

    /// Number of associations.
    pub fn association_count(&self) -> usize {
        self.state.edges
    }

    /// The embedding dimension.
    pub fn dimension(&self) -> usize {
        self.state.dim
    }

    /// The id the next remembered memory gets (ids are never reused, so it is one more than
    /// the largest id ever given, or 1).
    pub fn next_id(&self) -> MemoryId {
        MemoryId::new(self.state.next_id)
    }

    /// Writes not yet merged into the compacted layout.
    pub fn pending_changes(&self) -> usize {
        self.state.pending_changes()
    }

    /// Whether a memory with this id exists.
    pub fn contains(&self, id: MemoryId) -> bool {
        self.state.row_of(id).is_some()
    }

    /// A memory, or `None` if no memory has this id.
    pub fn get(&self, id: MemoryId) -> Option<Memory> {
        self.state.row_of(id).map(|row| self.memory(row))
    }

    /// The content text of `id`, if it is here and was given one: what [`get`](Self::get)
    /// answers in [`Memory::content`], without copying the embedding (a recall's results
    /// show their texts, not their vectors).
    pub fn content(&self, id: MemoryId) -> Option<Arc<str>> {
        self.state
            .row_of(id)
            .and_then(|row| self.state.stored_meta(row).content)
    }

    fn memory(&self, row: u32) -> Memory {
        let meta = self.state.meta(row);
        Memory {
            id: meta.id,
            embedding: self.state.embedding(row).to_vec(),
            content: meta.content,
            strength: meta.strength,
            created_at: meta.created_at,
            last_access: meta.last_access,
        }
    }

    /// Every memory's id, ascending.
    pub fn ids(&self) -> impl Iterator<Item = MemoryId> + '_ {
        self.live_rows().map(|row| self.state.id_of(row))
    }

    fn live_rows(&self) -> impl Iterator<Item = u32> + '_ {
        (0u32..)
            .take(self.state.rows())
            .filter(|&row| !self.state.is_forgotten(row))
    }

    /// Every memory, ascending by id.
    pub fn memories(&self) -> impl Iterator<Item = Memory> + '_ {
        self.live_rows().map(|row| self.memory(row))
    }

    /// The associations from a memory, ascending by target id; empty if it does not exist.
    pub fn associations_from(&self, id: MemoryId) -> Vec<Association> {
        let Some(row) = self.state.row_of(id) else {
            return Vec::new();
        };
        self.state
            .adjacency(row)
            .iter()
            .map(|(target, weight)| Association {
                from: id,
                to: self.state.id_of(target),
                weight,
            })
            .collect()
    }

    /// Number of associations from each memory, in id order.
    pub fn out_degrees(&self) -> Vec<usize> {
        self.state.out_degrees()
    }

    /// Recalls from a cue embedding:
    ///
    /// 1. cosine similarity between the cue and every memory;
    /// 2. the `k` most similar memories with a positive similarity become seeds, with their
    ///    similarity as activation (ties: lower id first);
    /// 3. spreading activation over the associations for `hops` hops (formula in
    ///    [`engram_kernels::SpreadParams`]);
    /// 4. every active memory's score is its activation times its retention at `now` (its
    ///    strength decayed by `curve` since its last access);
    /// 5. the `limit` best scores (positive only) are returned, best first, ties by lower id.
    ///
    /// Deterministic: the same snapshot, cue and parameters give the same results.
    ///
    /// # Errors
    /// [`Error::DimensionMismatch`] or [`Error::NonFiniteEmbedding`] for the cue;
    /// [`Error::InvalidParameter`] for a parameter out of range, or for
    /// [`RecallParams::reinforce`] (a snapshot is read-only: use [`Engram::recall`]).
    pub fn recall(&self, cue: &[f32], params: &RecallParams) -> Result<Vec<Recalled>> {
        if let Some(boost) = params.reinforce {
            return Err(Error::InvalidParameter {
                name: "reinforce",
                value: f64::from(boost),
                requirement: "None on a read-only Snapshot (Engram::recall reinforces)",
            });
        }
        self.recall_at(cue, params, params.now.unwrap_or_else(unix_now))
    }

    fn recall_at(&self, cue: &[f32], params: &RecallParams, now: i64) -> Result<Vec<Recalled>> {
        self.scratch
            .with(|scratch| recall(&self.state, &self.kernels, cue, params, now, scratch))
    }
}
