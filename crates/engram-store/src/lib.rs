//! Engram's on-disk format (format 2): an [LMDB](http://www.lmdb.tech/doc/) environment,
//! through [heed](https://docs.rs/heed), holding the layout the kernels read in place.
//!
//! A store at `NAME` is the data file `NAME` and LMDB's lock file `NAME-lock` beside it.
//! Opening reads the metadata only, so it costs the same at any size; reading maps the file,
//! and a large block comes back as a slice of the map: no copy between the page cache and the
//! caller, and a process's memory is the pages it touched, shared with every other process.
//!
//! # What is in it
//! - `meta`: `format` ([`FORMAT_VERSION`]) and `dimension` (little-endian `u64`), which the
//!   store checks on open, and the engine's own `u64`s ([`WriteTxn::put_meta_u64`]).
//! - `blocks`: large arrays keyed by [`BlockKey`] (segment, part), written once each
//!   ([`WriteTxn::put_block`]) and read as slices ([`ReadTxn::block`]).
//! - four [`Table`]s of small records keyed by a `u64`, and the application `properties`.
//!
//! What the blocks and records mean is the engine's business (the `engram` crate).
//!
//! # Concurrency
//! Any number of processes and threads read at once, each [`ReadTxn`] one consistent
//! committed state, never waiting; one writes at a time. A writer waits for another
//! process's write up to [`OpenOptions::busy_timeout`] (default 10 s), then gets
//! [`Error::Busy`]; LMDB's own wait would be unbounded. Every open of a file in one process
//! shares one environment (LMDB allows no more).
//!
//! # Durability
//! A committed [`WriteTxn`] is fsynced before `commit` returns; LMDB never overwrites the
//! pages a committed state uses, and its two meta pages make a commit atomic, so after a
//! crash or power loss the store holds the last committed state, with nothing to replay.
//! [Creating](Store::create) is atomic too: the store is built in a temporary file beside its
//! path (`.NAME.XXXXXXXX.engram-init`), fsynced, moved into place only if nothing is there,
//! and the directory fsynced; a crash leaves no store or a complete one.
//!
//! # Damage
//! Before LMDB maps a file, its first pages are checked ([`Store::open`]): an empty file, a
//! format-1 (redb) store and other files are named, not opened (LMDB would initialize an empty
//! file), and a file without its two meta pages is [`Error::Corrupt`]. Then, before anything
//! reads through LMDB, every B-tree page of the committed state is checked (`verify.rs`: page
//! numbers, kinds, node bounds, overflow spans, each page reached once, and each inside the
//! file, so a truncated file is [`Error::Corrupt`] instead of a SIGBUS on a missing page;
//! LMDB trusts its pages and faults on a damaged one), at a cost of the B-tree pages, not the
//! blocks. The file may end before the last page its meta page counts: LMDB writes only the
//! pages a commit dirtied, and a page taken from the end and freed in the same commit is never
//! written, so only the pages the trees reference must be there. Every value handed out is
//! checked to lie inside the file. LMDB keeps no checksums: damage inside a value (an
//! embedding, a time) reads as a changed value.
//!
//! # Limits
//! A store can grow to [`MAP_SIZE`] (1 TiB on 64-bit targets): only address space is
//! reserved, never memory. [`MAX_READERS`] (1024) read transactions at once. LMDB needs a
//! local file system (no NFS) with `mmap` and locks; readers need write access to the lock
//! file, except on a read-only mount, where no lock is taken.

mod atomic;
mod error;
mod pinned;
mod sniff;
mod store;
mod verify;
mod writer_lock;

pub use error::{Error, Result};
pub use pinned::{Pinned, Snapshot};
pub use store::{
    BlockKey, DEFAULT_BUSY_TIMEOUT, FORMAT_VERSION, MAP_SIZE, MAX_READERS, Mode, OpenOptions,
    ReadTxn, Store, Table, WriteTxn,
};
