//! The engine's one error type.

use std::path::PathBuf;

use crate::MemoryId;

/// Result with the engine's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the engine. Every variant says what was wrong; none of them
/// leaves anything half-stored: a write that returns an error stored nothing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An embedding (memory or cue) has the wrong number of floats for this store.
    #[error("embedding has {found} dimensions but this store's dimension is {expected}")]
    DimensionMismatch {
        /// The store's dimension.
        expected: usize,
        /// The embedding's length.
        found: usize,
    },
    /// An embedding (memory or cue) contains NaN or ±∞.
    #[error("embedding element {index} is {value}; every element must be finite")]
    NonFiniteEmbedding {
        /// Position of the first bad element.
        index: usize,
        /// Its value.
        value: f32,
    },
    /// An embedding (memory or cue) whose elements are all zero: its cosine similarity to
    /// anything is undefined, so as a memory it could never be recalled by similarity and as
    /// a cue it would recall nothing.
    #[error("embedding is all zeros; cosine similarity needs at least one non-zero element")]
    ZeroEmbedding,
    /// A time outside [`MIN_TIME`](crate::MIN_TIME)`..=`[`MAX_TIME`](crate::MAX_TIME)
    /// (0000-01-01T00:00:00Z to 9999-12-31T23:59:59Z, what RFC 3339 can write).
    #[error(
        "time {0} is outside the supported range {min}..={max} Unix seconds (years 0000 to 9999)",
        min = crate::MIN_TIME,
        max = crate::MAX_TIME
    )]
    TimeOutOfRange(i64),
    /// A strength outside `[0, 1]` (or NaN).
    #[error("strength {0} is outside [0, 1]")]
    InvalidStrength(f32),
    /// An association weight that is not finite or lies outside `[-1, 1]`.
    #[error("association weight {0} is outside [-1, 1] (negative weights inhibit)")]
    InvalidWeight(f32),
    /// No memory has this id (it never existed or was forgotten).
    #[error("no memory has id {0}")]
    UnknownMemory(MemoryId),
    /// A memory associated with itself while [`Options::allow_self_associations`] is off.
    ///
    /// [`Options::allow_self_associations`]: crate::Options::allow_self_associations
    #[error(
        "memory {0} cannot be associated with itself (self-associations are disabled in the options)"
    )]
    SelfAssociation(MemoryId),
    /// A batch refers to a memory it creates, by an index past the memories created before it.
    #[error("batch item refers to new memory #{index}, but only {created} were created before it")]
    UnknownBatchMemory {
        /// The index given.
        index: usize,
        /// Memories remembered earlier in the batch.
        created: usize,
    },
    /// A parameter outside its documented range.
    #[error("parameter {name} = {value} is invalid: must be {requirement}")]
    InvalidParameter {
        /// The parameter.
        name: &'static str,
        /// Its value.
        value: f64,
        /// What it must be.
        requirement: &'static str,
    },
    /// A recall asked to scan codes of a precision the store does not keep
    /// ([`RecallParams::precision`](crate::RecallParams::precision)); f32 is always there.
    #[error(
        "the store keeps {store} codes, not {requested}: recall at {store} or f32, or change the store's precision"
    )]
    PrecisionUnavailable {
        /// The precision asked for.
        requested: crate::Precision,
        /// The store's.
        store: crate::Precision,
    },
    /// [`Engram::set_property`](crate::Engram::set_property) or a batch was given an empty
    /// property key.
    #[error("a property key must not be empty")]
    EmptyPropertyKey,
    /// The store would exceed the kernels' node limit (row indices are `u32`).
    #[error("a store holds at most {max} memories")]
    TooManyMemories {
        /// The limit.
        max: u64,
    },
    /// One item of a [`WriteBatch`](crate::WriteBatch) was rejected; nothing of the batch
    /// was stored.
    #[error("batch item {index}: {source}")]
    InBatch {
        /// Position of the rejected item in the batch.
        index: usize,
        /// Why it was rejected.
        #[source]
        source: Box<Error>,
    },
    /// A batch's [`WriteBatch::require_first_id`](crate::WriteBatch::require_first_id) did
    /// not hold: other memories were remembered first. Nothing of the batch was stored.
    #[error(
        "the batch required its first memory to get id {expected}, but the next id is {found} (another write came first); nothing of it was stored"
    )]
    NextIdChanged {
        /// The id the batch required.
        expected: MemoryId,
        /// The store's next id.
        found: MemoryId,
    },
    /// `create` found a file already there.
    #[error("{} already exists; open it instead of creating it", path.display())]
    AlreadyExists {
        /// The path.
        path: PathBuf,
    },
    /// `open` found no file.
    #[error("{} does not exist; create it first", path.display())]
    NotFound {
        /// The path.
        path: PathBuf,
    },
    /// The file was written by a newer version of this crate.
    #[error(
        "store format version {found} is newer than the {supported} this version reads; upgrade engram"
    )]
    FormatTooNew {
        /// The file's format version.
        found: u64,
        /// The newest version this crate reads.
        supported: u64,
    },
    /// Another process kept writing to the store for the whole [`Options::busy_timeout`]
    /// (default 10 s); nothing of this write was stored. Reads never wait.
    ///
    /// [`Options::busy_timeout`]: crate::Options::busy_timeout
    #[error("the store is busy: another process has been writing to it for {waited:?}")]
    Busy {
        /// How long this write waited.
        waited: std::time::Duration,
    },
    /// A write to a store opened with [`Options::read_only`](crate::Options::read_only).
    #[error("the store was opened read-only")]
    ReadOnly,
    /// The file is an engram store in format 1 (a redb file, written by releases before the
    /// memory-mapped store). It is intact, and untouched; [`Engram::migrate_format_1`]
    /// converts it.
    ///
    /// [`Engram::migrate_format_1`]: crate::Engram::migrate_format_1
    #[error(
        "{} is an engram store in format 1, which this version reads only to convert it",
        path.display()
    )]
    FormatOne {
        /// The path.
        path: PathBuf,
    },
    /// The file is not an engram store: empty, not a database at all, or a database without
    /// the engram metadata. Nothing was changed in it.
    #[error("not an engram store: {0}")]
    NotAStore(String),
    /// The file is an engram store but its contents are damaged.
    #[error("the store is damaged: {0}")]
    Corrupt(String),
    /// Reading or writing the file failed: no space left on the device, a read-only file
    /// system, permission denied, a path through something that is not a directory, ...
    /// [`std::io::Error::kind`] tells which. A write that fails this way stored nothing.
    #[error("I/O error: {0}")]
    Io(std::io::Error),
    /// The storage engine failed in a way that is neither I/O nor damage (for example, a value
    /// larger than it can hold).
    #[error("storage error: {0}")]
    Storage(String),
    /// A bug in this crate: an invariant it maintains does not hold. Nothing was stored by the
    /// call that returned it; please report it.
    #[error("internal error (this is a bug in engram; please report it): {0}")]
    Internal(String),
    /// The kernels rejected a choice (for example `ENGRAM_KERNELS` names a backend that is not
    /// compiled in) or an input the engine passed them.
    #[error(transparent)]
    Kernels(#[from] engram_kernels::Error),
}

impl Error {
    /// Wraps an error as the rejection of batch item `index`.
    pub(crate) fn in_batch(self, index: usize) -> Self {
        Error::InBatch {
            index,
            source: Box::new(self),
        }
    }

    /// The error of a single-item write: the item's own error rather than its batch wrapper.
    pub(crate) fn unbatched(self) -> Self {
        match self {
            Error::InBatch { source, .. } => *source,
            other => other,
        }
    }
}

impl From<engram_store::Error> for Error {
    fn from(error: engram_store::Error) -> Self {
        use engram_store::Error as E;
        match error {
            E::NotFound { path } => Error::NotFound { path },
            E::AlreadyExists { path } => Error::AlreadyExists { path },
            E::NotAStore(what) => Error::NotAStore(what),
            E::FormatTooNew { found, supported } => Error::FormatTooNew { found, supported },
            E::Corrupt(what) => Error::Corrupt(what),
            E::Busy { waited } => Error::Busy { waited },
            E::ReadOnly => Error::ReadOnly,
            E::Io(io) => Error::Io(io),
            other => Error::Storage(other.to_string()),
        }
    }
}

impl From<redb::Error> for Error {
    /// Sorts redb's errors by what the caller can do about them.
    fn from(error: redb::Error) -> Self {
        use redb::Error as E;
        match error {
            E::DatabaseAlreadyOpen | E::LockProtocolMismatch => {
                Error::Storage("the format-1 store is open in another process".into())
            }
            E::Corrupted(what) => Error::Corrupt(what),
            // redb reports a file that is empty or has no redb header as invalid data while
            // opening it; the operating system never reports that kind for a read or write.
            E::Io(io) if io.kind() == std::io::ErrorKind::InvalidData => {
                Error::NotAStore(io.to_string())
            }
            E::Io(io) => Error::Io(io),
            E::UpgradeRequired(version) => Error::NotAStore(format!(
                "the file is in redb file format {version}, which this version does not read"
            )),
            e @ (E::TableTypeMismatch { .. }
            | E::TableIsMultimap(_)
            | E::TableIsNotMultimap(_)
            | E::TypeDefinitionChanged { .. }) => {
                Error::NotAStore(format!("a database whose tables are not engram's ({e})"))
            }
            E::ValueTooLarge(bytes) => Error::Storage(format!(
                "a record of {bytes} bytes is larger than the storage engine holds (3 GiB)"
            )),
            E::Unsupported => Error::Storage(
                "the file system does not support an operation the store needs (file locks)".into(),
            ),
            E::PreviousIo => Error::Storage(
                "an earlier I/O error left the store unusable until it is opened again".into(),
            ),
            // Everything else is a misuse of redb by this crate.
            other => Error::Internal(format!("storage engine: {other}")),
        }
    }
}

/// Maps each specific redb error type through [`redb::Error`].
macro_rules! storage_errors {
    ($($ty:ty),*) => {$(
        impl From<$ty> for Error {
            fn from(error: $ty) -> Self {
                Error::from(redb::Error::from(error))
            }
        }
    )*};
}

storage_errors!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);
