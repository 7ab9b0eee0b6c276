//! [`Error`]: everything opening, reading or writing a store can refuse, sorted by what the
//! user can do about it.

use std::path::PathBuf;
use std::time::Duration;

/// A store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No file at the path.
    #[error("no store at {}", path.display())]
    NotFound {
        /// The path given.
        path: PathBuf,
    },
    /// Creating a store where a file already is.
    #[error("{} already exists", path.display())]
    AlreadyExists {
        /// The path given.
        path: PathBuf,
    },
    /// The file is not an engram store (empty, another kind of file, an LMDB environment
    /// without engram's metadata); what it is instead.
    #[error("not an engram store: {0}")]
    NotAStore(String),
    /// An engram store in format 1 (a redb file, written by engram 0.1 releases before the
    /// memory-mapped store). It is intact; this release reads it only to convert it.
    #[error("an engram store in format 1 (redb); this release reads format {supported}")]
    FormatOne {
        /// The format this release reads and writes.
        supported: u64,
    },
    /// A store written by a newer release.
    #[error("store format {found} is newer than this release supports ({supported})")]
    FormatTooNew {
        /// The file's format version.
        found: u64,
        /// The newest this release reads.
        supported: u64,
    },
    /// The file does not hold what its own structure says: truncated, damaged, or written
    /// by something that is not engram. What was found, briefly.
    #[error("the store is damaged: {0}")]
    Corrupt(String),
    /// Another writer held the store for the whole wait; nothing was written.
    #[error("the store is busy: another process has been writing to it for {waited:?}")]
    Busy {
        /// How long this writer waited.
        waited: Duration,
    },
    /// A write to a store opened read-only.
    #[error("the store was opened read-only")]
    ReadOnly,
    /// The store is already open in this process in a mode that cannot serve this open
    /// (read-only there, read-write asked here).
    #[error("{} is already open read-only in this process", path.display())]
    OpenReadOnly {
        /// The path given.
        path: PathBuf,
    },
    /// The operating system refused (permission denied, read-only file system, disk full,
    /// ...).
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// LMDB refused; its message. Does not happen to a valid store unless it is full (its map
    /// size reached) or out of reader slots.
    #[error("LMDB: {0}")]
    Lmdb(String),
}

/// A result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<heed::Error> for Error {
    fn from(error: heed::Error) -> Self {
        use heed::MdbError;
        match error {
            heed::Error::Io(io) => Error::Io(io),
            heed::Error::Mdb(MdbError::Corrupted | MdbError::PageNotFound) => {
                Error::Corrupt(format!("LMDB says {error}"))
            }
            heed::Error::Mdb(MdbError::Invalid | MdbError::VersionMismatch) => {
                Error::NotAStore(format!("LMDB says {error}"))
            }
            other => Error::Lmdb(other.to_string()),
        }
    }
}
