//! A persistent memory graph whose recall runs on the [`engram_kernels`].
//!
//! Memories are embeddings (one fixed dimension per store) with optional content text, a base
//! strength in `[0, 1]` and a last-access time; associations are weighted directed edges
//! between them. A recall goes from a cue embedding to cosine similarity against every memory,
//! to spreading activation from the most similar, to a ranking by activation times retention
//! (strength decayed since last access) — see [`Snapshot::recall`].
//!
//! ```
//! use engram_graph::{Engram, NewMemory, Options, RecallParams};
//!
//! # fn main() -> engram_graph::Result<()> {
//! let engram = Engram::in_memory(3, Options::default())?;
//! let cat = engram.remember(NewMemory::new(vec![1.0, 0.0, 0.0]).with_content("cat"))?;
//! let lion = engram.remember(NewMemory::new(vec![0.0, 1.0, 0.0]).with_content("lion"))?;
//! engram.associate(cat, lion, 0.8)?;
//!
//! let recalled = engram.recall(&[1.0, 0.1, 0.0], &RecallParams::default())?;
//! let of = |id| recalled.iter().find(|r| r.id == id).expect("recalled");
//! assert!(of(cat).similarity > 0.99);
//! // "lion" is barely similar to the cue, but the association from "cat" activates it.
//! assert!(of(lion).similarity < 0.1 && of(lion).activation > 0.9);
//! # Ok(())
//! # }
//! ```
//!
//! # Storage and durability
//! A store is a file `NAME` (format [`FORMAT_VERSION`] 2: an LMDB environment, see
//! [`engram_store`]) and LMDB's lock file `NAME-lock` beside it. Opening reads the metadata
//! only, whatever the store's size; a recall reads the embeddings in place from the file's
//! pages, through the page cache, with no copy into the process (see Memory below). Every
//! write is one transaction committed with an fsync: **when a write returns `Ok`, it survives
//! a crash or power loss; when it returns an error, nothing of it was stored.** LMDB never
//! overwrites a page a committed state uses, so after a crash the store holds the last
//! committed state, with nothing to replay. A [`WriteBatch`] is one transaction, and can carry
//! application properties ([`WriteBatch::set_property`]) so that a record of what it did is
//! exact after any crash. **Creating a store is atomic** ([`Engram::create_with_properties`]):
//! after a crash at any moment there is either no file at the path or a complete store with
//! every property it was created with. Opening a newer format, a damaged or truncated file, a
//! file that is not a store, or (with [`Engram::open_or_create`]) another dimension is an
//! error, never a panic or a fault: the file's B-tree pages are checked before LMDB reads
//! them. LMDB keeps no checksums, so damage inside a value (an embedding, a time) reads as a
//! changed value. A store of format 1 (redb, from earlier releases) is
//! [`Error::FormatOne`]; [`Engram::migrate_format_1`] converts it. `tests/crash.rs` kills a
//! child process at every write, fsync and rename of a create, and at many writes and fsyncs
//! of later batches, and checks each of these promises after every kill.
//!
//! Times are Unix seconds in [`MIN_TIME`]`..=`[`MAX_TIME`] (years 0000 to 9999, what RFC 3339
//! can write); embeddings have the store's dimension, finite elements, and at least one that
//! is not zero. Errors say which rule an input broke; [`Error::Internal`] alone means a bug.
//!
//! # Layout and cost
//! Rows (memories, in id order) live in **segments**, each one contiguous row-major embedding
//! block with its norms, ids, strengths, times, out-edges as CSR and content, written once and
//! read in place: each similarity kernel call runs on a segment's block straight from the
//! map. A batch that brings the unsealed tail to 256 rows seals it into a new segment, so a
//! bulk import writes each embedding once. Changes to rows already in a segment (reinforced
//! strengths, forgotten rows, changed association lists) go to small tables beside them and
//! are visible to the next recall, in every process. Once there are more than
//! `max(`[`Options::min_compaction_changes`]` (4096), memories / 8)` of them, the writer
//! rewrites the store as one segment in O(N·D + E), so each change pays O(8·D + 8·E/N)
//! amortized. A write costs O(its own size + the changed association lists) plus the fsync;
//! forgetting also scans every association list for those pointing at the memory, O(N + E).
//! A recall costs one pass over the embeddings plus what the spreading touches: it gathers
//! the subgraph within its hops of the seeds into a small CSR (same numbers in the same order
//! as the whole graph), which is the whole graph only when all of it is that close. Opening
//! costs O(segments + the unsealed tail + the changes since the last compaction), plus a check
//! of every B-tree page, which those make up — metadata, not embeddings (26–30 ms for
//! `engram stats` at 1M memories, BENCHMARKS.md).
//!
//! # Scan precision
//! A store's recalls scan its f32 embeddings ([`Precision::F32`], the default: exact) or codes
//! of them kept beside them in every segment: [`Precision::F16`] (2 bytes a value) or
//! [`Precision::Int8`] (1), chosen with [`Options::precision`] when the store is created and
//! changed with [`Engram::set_precision`] (a compaction that rebuilds every code). With codes,
//! a recall scans the codes, rescores the best [`RecallParams::candidates`] (default
//! `max(10·k, 100)`) with exact f32 cosine and seeds from those: seeds, ranking and every
//! reported similarity are the f32 scan's whenever the exact top k are among the candidates
//! (`tests/precision.rs` checks equality; BENCHMARKS.md measures how often it holds). The f32
//! embeddings stay: export, rescoring and changes of precision read them. Codes cost one
//! quantization per row written into a segment; rows not yet sealed (under 256) are scanned
//! in f32, and so is a segment without codes (one written to the store by a release that knows
//! no precisions, which reads such a store as f32 and ignores its codes) until the next
//! compaction.
//!
//! # Concurrency
//! [`Engram`] is `Send + Sync`. Any number of processes may open a store at once, each with
//! any number of threads: recalls never wait (each reads an immutable [`Snapshot`], which sees
//! every write committed before it was taken, by any process). Writes are serialized across
//! processes: a write waits for another process's up to [`Options::busy_timeout`] (default
//! 10 s), then fails with [`Error::Busy`], having stored nothing. With
//! [`Options::read_only`] nothing is ever written to the file: it may be on a read-only mount,
//! or belong to another user (reading needs write access to the lock file, except on a
//! read-only mount). LMDB needs a local file system with `mmap` and file locks (not NFS).
//!
//! A handle (and each [`Snapshot`]) keeps the version it read open until it reads a newer
//! one (at its next snapshot or write) or is dropped. While it does, the pages of that
//! version cannot be reused by anyone's later writes, so a store written by another process
//! grows while a handle that reads nothing sits idle: take a snapshot now and then, or drop
//! the handle. The file never shrinks: pages a compaction frees are reused by later writes.
//!
//! # Memory
//! A process's memory holds no copy of the embeddings: its resident set is the pages it has
//! touched, shared through the page cache with every other process reading the store. A store
//! larger than the machine's memory opens and recalls, paging from disk. The unsealed tail
//! (under 256 rows) and the changes since the last compaction are kept in memory. A store can
//! grow to [`engram_store::MAP_SIZE`] (1 TiB on 64-bit targets; address space, not memory).

#![forbid(unsafe_code)]

mod engine;
mod error;
mod format1;
mod memory;
mod precision;
mod recall;
mod state;
mod store;

pub use engine::{Engram, Options, Snapshot};
pub use engram_kernels::{Backend, CpuLevel, DecayCurve, Kernels};
pub use engram_store::FORMAT_VERSION;
pub use error::{Error, Result};
pub use memory::{
    Association, MAX_TIME, MIN_TIME, Memory, MemoryId, MemoryRef, NewMemory, WriteBatch,
    check_embedding, check_strength, check_time, check_weight, unix_now,
};
pub use precision::{Precision, UnknownPrecision};
pub use recall::{RecallParams, Recalled};
