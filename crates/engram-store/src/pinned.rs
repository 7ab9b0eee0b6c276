//! [`Snapshot`]: a read transaction that threads share, and [`Pinned`] slices of its blocks
//! that live as long as anything holds them, not just as long as a borrow.

use std::borrow::Cow;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::{BlockKey, ReadTxn, Result};

/// One consistent committed state, shared: `Send + Sync`, usually in an `Arc`. Blocks
/// [pinned](Snapshot::pin) from it stay valid while any of them, or the snapshot, lives.
#[derive(Debug)]
pub struct Snapshot {
    /// LMDB allows one thread at a time in a transaction.
    txn: Mutex<ReadTxn>,
    id: usize,
}

impl Snapshot {
    pub(crate) fn new(txn: ReadTxn) -> Self {
        let id = txn.id();
        Self {
            txn: Mutex::new(txn),
            id,
        }
    }

    /// LMDB's id of the committed transaction it reads ([`ReadTxn::id`]).
    pub fn id(&self) -> usize {
        self.id
    }

    /// The transaction, for reads that need no longer than the guard.
    pub fn txn(&self) -> MutexGuard<'_, ReadTxn> {
        // A panic in another reader cannot leave a read transaction half changed.
        self.txn
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A block as a slice that keeps this snapshot alive: straight from the map when it is
    /// aligned for `T`, else a copy (see [`ReadTxn::block`]). `None` if there is none.
    ///
    /// # Errors
    /// As [`ReadTxn::block`].
    pub fn pin<T: bytemuck::Pod + Send + Sync>(
        self: &Arc<Self>,
        key: BlockKey,
    ) -> Result<Option<Pinned<T>>> {
        let txn = self.txn();
        let Some(block) = txn.block::<T>(key)? else {
            return Ok(None);
        };
        Ok(Some(match block {
            Cow::Borrowed(values) => Pinned {
                inner: Inner::Mapped {
                    ptr: values.as_ptr(),
                    len: values.len(),
                    _snapshot: Arc::clone(self),
                },
            },
            Cow::Owned(values) => Pinned {
                inner: Inner::Owned(values.into()),
            },
        }))
    }
}

/// A block's values, valid for as long as this lives. Cheap to clone. Derefs to `[T]`.
#[derive(Clone)]
pub struct Pinned<T> {
    inner: Inner<T>,
}

#[derive(Clone)]
enum Inner<T> {
    Mapped {
        ptr: *const T,
        len: usize,
        _snapshot: Arc<Snapshot>,
    },
    Owned(Arc<[T]>),
}

impl<T> Pinned<T> {
    /// Values that live in memory rather than in the map.
    pub fn owned(values: impl Into<Arc<[T]>>) -> Self {
        Self {
            inner: Inner::Owned(values.into()),
        }
    }

    /// Whether the values are read in place from the map (`false`: a copy, or owned).
    pub fn is_mapped(&self) -> bool {
        matches!(self.inner, Inner::Mapped { .. })
    }
}

impl<T> std::ops::Deref for Pinned<T> {
    type Target = [T];

    fn deref(&self) -> &[T] {
        match &self.inner {
            // SAFETY: `ptr..ptr + len` was a `&[T]` that LMDB returned from the read
            // transaction `_snapshot` holds (aligned: `ReadTxn::block` checked it, and inside
            // the file: `check_mapped`). A read transaction's pages are never written or
            // unmapped while it is open (LMDB copies on write and reuses a page only once no
            // reader can see it; the environment, and so the map, stays open while the
            // transaction holds it), and `_snapshot` keeps the transaction open as long as
            // this value lives. So the slice stays valid, and nothing mutates it.
            Inner::Mapped { ptr, len, .. } => unsafe { std::slice::from_raw_parts(*ptr, *len) },
            Inner::Owned(values) => values,
        }
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for Pinned<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pinned")
            .field("len", &self.len())
            .field("mapped", &self.is_mapped())
            .finish()
    }
}

// SAFETY: a `Pinned<T>` is shared read-only access to `[T]` (mapped pages nothing writes, or
// an `Arc<[T]>`) plus an `Arc<Snapshot>`, which is `Send + Sync`; so it may move to and be
// shared by other threads exactly when `&[T]` may, i.e. when `T: Sync`.
unsafe impl<T: Sync> Send for Pinned<T> {}
// SAFETY: as for `Send`.
unsafe impl<T: Sync> Sync for Pinned<T> {}
