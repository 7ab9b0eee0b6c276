//! A persistent memory graph whose recall runs on the [`engram_kernels`].
//!
//! Memories are embeddings (one fixed dimension per store) with optional content text, a base
//! strength in `[0, 1]` and a last-access time; associations are weighted directed edges
//! between them. A recall goes from a cue embedding to cosine similarity against every memory,
//! to spreading activation from the most similar, to a ranking by activation times retention
//! (strength decayed since last access) — see [`Snapshot::recall`].
//!
//! ```
//! use engram::{Engram, NewMemory, Options, RecallParams};
//!
//! # fn main() -> engram::Result<()> {
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
//! A store is one [redb](https://docs.rs/redb) file (or [in memory](Engram::in_memory)),
//! loaded whole into memory when opened. Every write is one ACID transaction committed with an
//! fsync: **when a write returns `Ok`, it survives a crash; when it returns an error, nothing
//! of it was stored.** A [`WriteBatch`] is one transaction, and can carry application
//! properties ([`WriteBatch::set_property`]) so that a record of what it did is exact after
//! any crash. **Creating a store is atomic** ([`Engram::create_with_properties`]): after a
//! crash at any moment there is either no file at the path or a complete store with every
//! property it was created with. The file records its format version ([`FORMAT_VERSION`])
//! and dimension; opening a newer format, a damaged file, a file that is not a store, or
//! (with [`Engram::open_or_create`]) another dimension is an error, never a panic. Reopening a
//! store gives exactly the recall results it gave before closing. `tests/crash.rs` kills a
//! child process at every write, fsync and rename of a create, and at many writes and fsyncs
//! of later batches, and checks each of these promises after every kill.
//!
//! Times are Unix seconds in [`MIN_TIME`]`..=`[`MAX_TIME`] (years 0000 to 9999, what RFC 3339
//! can write); embeddings have the store's dimension, finite elements, and at least one that
//! is not zero. Errors say which rule an input broke; [`Error::Internal`] alone means a bug.
//!
//! # Layout and cost
//! Recall reads a compacted layout — every embedding in one contiguous row-major buffer with
//! cached norms, the associations as CSR — so each kernel call is zero-copy. Writes go to a
//! small delta beside it (new rows in 256-row chunks, replaced adjacency lists, forgotten
//! rows, reinforced strengths) and are visible to the next recall. A write costs
//! O(its own size + one 256-row chunk + the changed adjacency lists) plus the fsync; once the
//! delta holds more than `max(`[`Options::min_compaction_changes`]` (4096), memories / 8)`
//! changes, the writer merges it in O(N·D + E), so each write pays O(8·D + 8·E/N) amortized.
//! While the delta holds changed associations, a recall gathers the subgraph its spreading
//! can reach into a small CSR — same numbers in the same order, so bit-for-bit the results of
//! the compacted graph. Recall costs one pass over the embeddings plus what the spreading
//! touches, never the whole graph.
//!
//! # Concurrency
//! [`Engram`] is `Send + Sync`. Writers are serialized; recalls never wait for them (they
//! read an immutable [`Snapshot`] taken when they start) and run in parallel. One process at a
//! time may open a store file: another gets [`Error::Locked`].

mod engine;
mod error;
mod format1;
mod memory;
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
pub use recall::{RecallParams, Recalled};
