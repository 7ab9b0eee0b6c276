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
    /// The file is not an engram store, or is damaged.
    #[error("the store is damaged or not an engram store: {0}")]
    Corrupt(String),
    /// The embedded database failed (I/O, disk full, lock held by another process, ...).
    #[error("storage error: {0}")]
    Storage(#[from] redb::Error),
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

/// Maps each redb error type into [`Error::Storage`], reporting damage as [`Error::Corrupt`].
macro_rules! storage_errors {
    ($($ty:ty),*) => {$(
        impl From<$ty> for Error {
            fn from(error: $ty) -> Self {
                match redb::Error::from(error) {
                    redb::Error::Corrupted(what) => Error::Corrupt(what),
                    other => Error::Storage(other),
                }
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
