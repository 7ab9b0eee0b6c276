//! [`Store`]: an open environment (shared by every open of the same file in this process),
//! and the transactions on it.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use heed::byteorder::BE;
use heed::types::{Bytes, Str, U64};
use heed::{CommitOrAbort, Database, Env, EnvFlags, EnvOpenOptions, RoTxn, RwTxn, WithoutTls};

use crate::atomic;
use crate::sniff::sniff;
use crate::writer_lock::{WriterGuard, WriterLock};
use crate::{Error, Result};

/// The format version this crate writes, and the only one it reads. Format 1 was a redb
/// file ([`Error::FormatOne`]).
pub const FORMAT_VERSION: u64 = 2;

/// The size of the address range an environment maps: the most a store can grow to. Only
/// address space is reserved; the file holds what is written. 1 TiB on 64-bit targets,
/// 1 GiB on others.
pub const MAP_SIZE: usize = if usize::BITS >= 64 { 1 << 40 } else { 1 << 30 };

/// The most read transactions open at once on one store, over all processes (LMDB's reader
/// table, in the lock file: 64 bytes each).
pub const MAX_READERS: u32 = 1024;

/// The default of [`OpenOptions::busy_timeout`]: 10 s.
pub const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Metadata keys the store itself keeps; [`WriteTxn::put_meta_u64`] refuses them.
const META_FORMAT: &str = "format";
const META_DIMENSION: &str = "dimension";

/// Whether a store is opened for reading only or for reading and writing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Never writes to the data file; works on a read-only mount and, given write access to
    /// the lock file (`NAME-lock`), without write access to the data file.
    ReadOnly,
    /// Reads and writes.
    ReadWrite,
}

/// How a store is opened. [`Default`]: read-write, a 10 s busy timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenOptions {
    /// Default [`Mode::ReadWrite`].
    pub mode: Mode,
    /// How long a write waits for another process's write to finish before it fails with
    /// [`Error::Busy`]. Default [`DEFAULT_BUSY_TIMEOUT`] (10 s).
    pub busy_timeout: Duration,
}

impl Default for OpenOptions {
    fn default() -> Self {
        Self {
            mode: Mode::ReadWrite,
            busy_timeout: DEFAULT_BUSY_TIMEOUT,
        }
    }
}

/// The key-value tables of the format that hold small per-row records, keyed by a `u64`
/// (a row or a memory id: the engine decides).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    /// Rows not yet sealed into a segment.
    Rows,
    /// Strength and last access of rows reinforced since their segment was written.
    Access,
    /// Rows forgotten since their segment was written.
    Forgotten,
    /// Out-adjacency lists that replace their segment's.
    Adjacency,
}

impl Table {
    const ALL: [Table; 4] = [
        Table::Rows,
        Table::Access,
        Table::Forgotten,
        Table::Adjacency,
    ];

    fn name(self) -> &'static str {
        match self {
            Table::Rows => "rows",
            Table::Access => "access",
            Table::Forgotten => "forgotten",
            Table::Adjacency => "adjacency",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// The key of a block: which segment, and which of its parts (the engine numbers them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BlockKey {
    /// The segment.
    pub segment: u64,
    /// The part of it.
    pub part: u8,
}

impl BlockKey {
    fn bytes(self) -> [u8; 9] {
        let mut key = [0; 9];
        key[..8].copy_from_slice(&self.segment.to_be_bytes());
        key[8] = self.part;
        key
    }
}

type RowTable = Database<'static, U64<BE>, Bytes>;

#[derive(Debug, Clone, Copy)]
struct Databases {
    meta: Database<'static, Str, Bytes>,
    blocks: Database<'static, Bytes, Bytes>,
    tables: [RowTable; 4],
    properties: Database<'static, Str, Bytes>,
}

const MAX_DBS: u32 = 8;

#[derive(Debug)]
struct Inner {
    env: Env<WithoutTls>,
    dbs: Databases,
    path: PathBuf,
    canonical: PathBuf,
    mode: Mode,
    dimension: u64,
    /// LMDB's page size for this file (the OS's when it was created).
    page_size: usize,
    /// The address LMDB mapped the file at, if it could be found.
    map_start: Option<usize>,
    /// `None` when read-only.
    writer: Option<WriterLock>,
}

/// The stores open in this process: LMDB allows one environment per file per process, so
/// every open of a file shares it.
static OPEN: Mutex<Vec<(PathBuf, Weak<Inner>)>> = Mutex::new(Vec::new());

/// An open store. Cheap to clone; every clone and every open of the same file in this
/// process share one environment. `Send + Sync`.
#[derive(Debug, Clone)]
pub struct Store {
    inner: Arc<Inner>,
    busy_timeout: Duration,
}

fn env_options(mode: Mode) -> EnvOpenOptions<WithoutTls> {
    let mut options = EnvOpenOptions::new().read_txn_without_tls();
    options
        .map_size(MAP_SIZE)
        .max_dbs(MAX_DBS)
        .max_readers(MAX_READERS);
    let mut flags = EnvFlags::NO_SUB_DIR;
    if mode == Mode::ReadOnly {
        flags |= EnvFlags::READ_ONLY;
    }
    // SAFETY: NO_SUB_DIR and READ_ONLY only say where the files are and that this handle
    // never writes; neither weakens LMDB's locking or durability (the unsafe flags are
    // NO_LOCK, NO_SYNC, NO_META_SYNC, WRITE_MAP, which are never set).
    unsafe { options.flags(flags) };
    options
}

/// Opens the LMDB environment of the file at `path`.
fn open_env(path: &Path, mode: Mode) -> Result<Env<WithoutTls>> {
    // SAFETY: the map is only read through LMDB's transactions and the slices they return,
    // which live no longer than them. Every process that writes to the file does so through
    // LMDB with its lock file (engram never sets NO_LOCK), and this process opens each file
    // once (`OPEN`). What the type system cannot rule out is another program truncating or
    // rewriting the file behind LMDB's back: that is outside the contract, as for any map.
    unsafe { env_options(mode).open(path) }.map_err(|error| match error {
        heed::Error::Io(io) if io.kind() == std::io::ErrorKind::PermissionDenied => {
            Error::Io(std::io::Error::new(
                io.kind(),
                format!(
                    "{io}: reading a store needs read access to it and write access to its \
                     lock file {} (or a read-only mount)",
                    atomic::lock_path(path).display()
                ),
            ))
        }
        other => other.into(),
    })
}

impl Store {
    /// Creates a store of `dimension`-dimensional embeddings at `path`, atomically: `init`
    /// writes the first contents in the same transaction as the store's metadata, and the
    /// file appears at `path` complete or not at all (see the crate docs). Opens it
    /// read-write.
    ///
    /// # Errors
    /// [`Error::AlreadyExists`] (checked first, and again when the file is moved into place);
    /// [`Error::Io`]; what `init` returns (then no file is left).
    pub fn create(
        path: &Path,
        dimension: u64,
        busy_timeout: Duration,
        init: impl FnOnce(&mut WriteTxn<'_>) -> Result<()>,
    ) -> Result<Store> {
        if path.symlink_metadata().is_ok() {
            return Err(Error::AlreadyExists { path: path.into() });
        }
        let pending = atomic::begin(path)?;
        {
            let env = open_env(pending.temp_path(), Mode::ReadWrite)?;
            let dbs = create_databases(&env)?;
            let txn = env.write_txn()?;
            let mut txn = WriteTxn {
                txn,
                dbs,
                _guard: None,
            };
            txn.put_meta_raw(META_FORMAT, FORMAT_VERSION)?;
            txn.put_meta_raw(META_DIMENSION, dimension)?;
            init(&mut txn)?;
            txn.commit()?;
            // The file is moved only once LMDB has closed it.
            let closing = env.prepare_for_closing();
            closing.wait();
        }
        pending.finish()?;
        Self::open(
            path,
            OpenOptions {
                mode: Mode::ReadWrite,
                busy_timeout,
            },
        )
    }

    /// Opens the store at `path`. Reads the metadata only: the cost does not depend on the
    /// store's size.
    ///
    /// # Errors
    /// [`Error::NotFound`]; [`Error::NotAStore`]; [`Error::FormatOne`];
    /// [`Error::FormatTooNew`]; [`Error::Corrupt`] (a truncated file among others);
    /// [`Error::OpenReadOnly`]; [`Error::Io`] (no permission, say).
    pub fn open(path: &Path, options: OpenOptions) -> Result<Store> {
        if path.symlink_metadata().is_err() && !path.exists() {
            return Err(Error::NotFound { path: path.into() });
        }
        let canonical = std::fs::canonicalize(path)?;
        let mut open = OPEN.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        open.retain(|(_, inner)| inner.strong_count() > 0);
        if let Some(inner) = open
            .iter()
            .find(|(p, _)| *p == canonical)
            .and_then(|(_, inner)| inner.upgrade())
        {
            if options.mode == Mode::ReadWrite && inner.mode == Mode::ReadOnly {
                return Err(Error::OpenReadOnly { path: path.into() });
            }
            return Ok(Store {
                inner,
                busy_timeout: options.busy_timeout,
            });
        }
        let inner = Arc::new(open_inner(path, canonical.clone(), options.mode)?);
        open.push((canonical, Arc::downgrade(&inner)));
        Ok(Store {
            inner,
            busy_timeout: options.busy_timeout,
        })
    }

    /// The path it was opened with.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// How it was opened (the first open of the file in this process decides).
    pub fn mode(&self) -> Mode {
        self.inner.mode
    }

    /// The embedding dimension, from the metadata.
    pub fn dimension(&self) -> u64 {
        self.inner.dimension
    }

    /// A read transaction: one consistent committed state, however the store is written to
    /// meanwhile (by this process or others). Never waits for a writer.
    ///
    /// # Errors
    /// [`Error::Lmdb`] if every reader slot ([`MAX_READERS`]) is taken.
    pub fn read(&self) -> Result<ReadTxn> {
        let txn = self.inner.env.clone().static_read_txn()?;
        let info = self.inner.env.info();
        Ok(ReadTxn {
            txn,
            _store: Arc::clone(&self.inner),
            dbs: self.inner.dbs,
            mapped: self.inner.map_start.map(|start| {
                let len = (info.last_page_number + 1).saturating_mul(self.inner.page_size);
                start..start.saturating_add(len)
            }),
        })
    }

    /// A [`read`](Self::read) transaction that threads share, and whose blocks can be pinned.
    ///
    /// # Errors
    /// As [`read`](Self::read).
    pub fn snapshot(&self) -> Result<Arc<crate::Snapshot>> {
        Ok(Arc::new(crate::Snapshot::new(self.read()?)))
    }

    /// LMDB's id of the last transaction committed to the store, by any process: a
    /// [`ReadTxn::id`] below it reads an older state. Reads shared memory only.
    pub fn last_committed(&self) -> usize {
        self.inner.env.info().last_txn_id
    }

    /// A write transaction, after waiting up to the busy timeout for other writers (in this
    /// process and in others). Nothing is written unless it is [committed](WriteTxn::commit).
    ///
    /// # Errors
    /// [`Error::ReadOnly`]; [`Error::Busy`]; [`Error::Io`].
    pub fn write(&self) -> Result<WriteTxn<'_>> {
        let writer = self.inner.writer.as_ref().ok_or(Error::ReadOnly)?;
        let guard = writer.acquire(self.busy_timeout)?;
        let txn = self.inner.env.write_txn()?;
        Ok(WriteTxn {
            txn,
            dbs: self.inner.dbs,
            _guard: Some(guard),
        })
    }

    /// The size of the data file in bytes.
    ///
    /// # Errors
    /// [`Error::Io`].
    pub fn file_size(&self) -> Result<u64> {
        Ok(std::fs::metadata(&self.inner.canonical)?.len())
    }
}

/// Makes the lock file beside `path` if there is none, with the permissions of a file made by
/// `File::create` (0666 less the umask), as the data file has: LMDB would make it 0600, which
/// shuts out every other user, who needs to write it even to read. Best effort: where it
/// cannot be made (a read-only mount), LMDB reads without one or says why it cannot.
fn make_lock_file(path: &Path) {
    let lock = atomic::lock_path(path);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o666);
    let _ = options.open(lock);
}

fn open_inner(path: &Path, canonical: PathBuf, mode: Mode) -> Result<Inner> {
    let environment = sniff(path)?;
    let page_size = usize::try_from(environment.page_size)
        .map_err(|_| Error::Corrupt("its page size does not fit in memory".into()))?;
    make_lock_file(path);
    let env = open_env(path, mode)?;
    check_trees(&env, path, environment.page_size)?;
    let dbs = open_databases(&env)?;
    let txn = env.read_txn()?;
    let meta = |key: &str| -> Result<u64> {
        let bytes = dbs
            .meta
            .get(&txn, key)?
            .ok_or_else(|| Error::Corrupt(format!("its metadata has no {key}")))?;
        decode_u64(bytes).ok_or_else(|| Error::Corrupt(format!("its {key} is not a u64")))
    };
    let format = meta(META_FORMAT)?;
    if format > FORMAT_VERSION {
        return Err(Error::FormatTooNew {
            found: format,
            supported: FORMAT_VERSION,
        });
    }
    if format < FORMAT_VERSION {
        return Err(Error::Corrupt(format!(
            "format {format} in an LMDB environment (format 2 is the first)"
        )));
    }
    let dimension = meta(META_DIMENSION)?;
    if dimension == 0 || dimension > u64::from(u32::MAX) {
        return Err(Error::Corrupt(format!("dimension {dimension}")));
    }
    // A pointer into the map, to find where it starts.
    let map_start = dbs
        .meta
        .get(&txn, META_FORMAT)?
        .and_then(|value| map_start(value.as_ptr() as usize, &canonical));
    drop(txn);
    let writer = match mode {
        Mode::ReadWrite => Some(WriterLock::new(path)?),
        Mode::ReadOnly => None,
    };
    Ok(Inner {
        env,
        dbs,
        path: path.into(),
        canonical,
        mode,
        dimension,
        page_size,
        map_start,
        writer,
    })
}

/// Where the map holding `address` starts, from `/proc/self/maps` (Linux): LMDB does not
/// say. `None` where there is no such file.
fn map_start(address: usize, file: &Path) -> Option<usize> {
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    let file = file.to_str()?;
    maps.lines().find_map(|line| {
        // start-end perms offset dev inode path
        let mut fields = line.split_whitespace();
        let (start, end) = fields.next()?.split_once('-')?;
        let offset = fields.nth(1)?;
        let path = fields.nth(2)?;
        let start = usize::from_str_radix(start, 16).ok()?;
        let end = usize::from_str_radix(end, 16).ok()?;
        let offset = usize::from_str_radix(offset, 16).ok()?;
        (path == file && (start..end).contains(&address) && offset == 0).then_some(start)
    })
}

/// Checks every B-tree page of the committed state before anything reads it through LMDB
/// (see `verify.rs`), inside a read transaction so that no writer reuses its pages meanwhile.
fn check_trees(env: &Env<WithoutTls>, path: &Path, page_size: u64) -> Result<()> {
    let file = std::fs::File::open(path)?;
    for _ in 0..VERIFY_TRIES {
        let txn = env.read_txn()?;
        if crate::verify::verify(&file, page_size, txn.id() as u64)? {
            return Ok(());
        }
        // Two commits replaced the transaction's meta page meanwhile: again, newer.
        drop(txn);
        std::thread::sleep(Duration::from_millis(1));
    }
    Err(Error::Busy {
        waited: Duration::from_millis(VERIFY_TRIES),
    })
}

/// How often opening tries to check a committed state while other processes keep
/// committing.
const VERIFY_TRIES: u64 = 1000;

fn create_databases(env: &Env<WithoutTls>) -> Result<Databases> {
    let txn = env.write_txn()?;
    let dbs = env
        .create_databases_and_commit(txn, |opener, txn| -> Result<_> {
            let tables = [
                opener.create_database(txn, Some(Table::ALL[0].name()))?,
                opener.create_database(txn, Some(Table::ALL[1].name()))?,
                opener.create_database(txn, Some(Table::ALL[2].name()))?,
                opener.create_database(txn, Some(Table::ALL[3].name()))?,
            ];
            Ok(CommitOrAbort::<_, ()>::Commit((
                opener.create_database(txn, Some("meta"))?,
                opener.create_database(txn, Some("blocks"))?,
                tables,
                opener.create_database(txn, Some("properties"))?,
            )))
        })?
        .unwrap_commit();
    let (meta, blocks, tables, properties) = dbs;
    Ok(Databases {
        meta,
        blocks,
        tables,
        properties,
    })
}

fn open_databases(env: &Env<WithoutTls>) -> Result<Databases> {
    let txn = env.read_txn()?;
    let missing = || Error::NotAStore("an LMDB environment without engram's tables".into());
    let dbs = env
        .open_databases_and_commit(txn, |opener, txn| -> Result<_> {
            let tables = [
                opener.open_database(txn, Some(Table::ALL[0].name()))?,
                opener.open_database(txn, Some(Table::ALL[1].name()))?,
                opener.open_database(txn, Some(Table::ALL[2].name()))?,
                opener.open_database(txn, Some(Table::ALL[3].name()))?,
            ];
            Ok(CommitOrAbort::<_, ()>::Commit((
                opener.open_database(txn, Some("meta"))?,
                opener.open_database(txn, Some("blocks"))?,
                tables,
                opener.open_database(txn, Some("properties"))?,
            )))
        })
        .map_err(|error| match error {
            // A named database that is not one (a foreign environment's key).
            Error::Lmdb(message) if message.contains("Incompatible") => missing(),
            other => other,
        })?
        .unwrap_commit();
    let (meta, blocks, tables, properties) = dbs;
    let [Some(rows), Some(access), Some(forgotten), Some(adjacency)] = tables else {
        return Err(missing());
    };
    Ok(Databases {
        meta: meta.ok_or_else(missing)?,
        blocks: blocks.ok_or_else(missing)?,
        tables: [rows, access, forgotten, adjacency],
        properties: properties.ok_or_else(missing)?,
    })
}

fn decode_u64(bytes: &[u8]) -> Option<u64> {
    Some(u64::from_le_bytes(bytes.try_into().ok()?))
}

/// One consistent committed state of a store, held until dropped (a long-lived one keeps
/// the pages it sees from being reused, so the file grows while writes go on). `Send`.
pub struct ReadTxn {
    txn: RoTxn<'static, WithoutTls>,
    /// Keeps the store registered as open while the transaction keeps its environment open,
    /// so that opening the file again shares it.
    _store: Arc<Inner>,
    dbs: Databases,
    /// The addresses of the pages the file holds (as of this transaction or later), where
    /// known.
    mapped: Option<std::ops::Range<usize>>,
}

impl std::fmt::Debug for ReadTxn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadTxn")
            .field("id", &self.txn.id())
            .finish_non_exhaustive()
    }
}

/// A write transaction; dropping it without [`commit`](Self::commit) writes nothing.
pub struct WriteTxn<'s> {
    txn: RwTxn<'s>,
    dbs: Databases,
    /// `None` while creating (no other process can see the file yet).
    _guard: Option<WriterGuard<'s>>,
}

impl std::fmt::Debug for WriteTxn<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteTxn").finish_non_exhaustive()
    }
}

/// Reads shared by both transactions.
macro_rules! reads {
    () => {
        /// A `u64` the engine keeps in the metadata.
        ///
        /// # Errors
        /// [`Error::Corrupt`] if the value is not 8 bytes; a storage error.
        pub fn meta_u64(&self, key: &str) -> Result<Option<u64>> {
            self.dbs
                .meta
                .get(self.ro(), key)?
                .map(|bytes| {
                    decode_u64(self.check_mapped(bytes)?)
                        .ok_or_else(|| Error::Corrupt(format!("its {key} is not a u64")))
                })
                .transpose()
        }

        /// The record at `key` of `table`.
        ///
        /// # Errors
        /// A storage error.
        pub fn get(&self, table: Table, key: u64) -> Result<Option<&[u8]>> {
            self.dbs.tables[table.index()]
                .get(self.ro(), &key)?
                .map(|bytes| self.check_mapped(bytes))
                .transpose()
        }

        /// Every record of `table`, ascending by key.
        ///
        /// # Errors
        /// A storage error (also from the iterator, for a damaged table).
        pub fn iter(
            &self,
            table: Table,
        ) -> Result<impl Iterator<Item = Result<(u64, &[u8])>> + '_> {
            Ok(self.dbs.tables[table.index()]
                .iter(self.ro())?
                .map(|entry| {
                    let (key, bytes) = entry?;
                    Ok((key, self.check_mapped(bytes)?))
                }))
        }

        /// The number of records in `table`.
        ///
        /// # Errors
        /// A storage error.
        pub fn len(&self, table: Table) -> Result<u64> {
            Ok(self.dbs.tables[table.index()].len(self.ro())?)
        }

        /// The application property `key`.
        ///
        /// # Errors
        /// A storage error.
        pub fn property(&self, key: &str) -> Result<Option<&str>> {
            self.dbs
                .properties
                .get(self.ro(), key)?
                .map(|bytes| self.utf8(bytes))
                .transpose()
        }

        /// Every application property, ascending by key.
        ///
        /// # Errors
        /// A storage error.
        pub fn properties(&self) -> Result<Vec<(&str, &str)>> {
            self.dbs
                .properties
                .iter(self.ro())?
                .map(|entry| {
                    let (key, bytes) = entry?;
                    Ok((key, self.utf8(bytes)?))
                })
                .collect()
        }

        fn utf8<'a>(&self, bytes: &'a [u8]) -> Result<&'a str> {
            std::str::from_utf8(self.check_mapped(bytes)?)
                .map_err(|_| Error::Corrupt("a property is not UTF-8".into()))
        }

        /// The raw bytes of a block, `None` if there is none.
        ///
        /// # Errors
        /// A storage error.
        pub fn block_bytes(&self, key: BlockKey) -> Result<Option<&[u8]>> {
            let bytes = self.dbs.blocks.get(self.ro(), &key.bytes())?;
            bytes.map(|bytes| self.check_mapped(bytes)).transpose()
        }

        /// A block as a slice of `T`: borrowed straight from the map when it is aligned for
        /// `T` (every block larger than a page is: LMDB stores it at 16 bytes past a page
        /// boundary), otherwise copied. `None` if there is none.
        ///
        /// # Errors
        /// [`Error::Corrupt`] if its length is not a multiple of `T`'s size; a storage error.
        pub fn block<T: bytemuck::Pod>(&self, key: BlockKey) -> Result<Option<Cow<'_, [T]>>> {
            let Some(bytes) = self.block_bytes(key)? else {
                return Ok(None);
            };
            if bytes.len() % std::mem::size_of::<T>() != 0 {
                return Err(Error::Corrupt(format!(
                    "block {}/{} has {} bytes, not a whole number of {}-byte values",
                    key.segment,
                    key.part,
                    bytes.len(),
                    std::mem::size_of::<T>()
                )));
            }
            Ok(Some(match bytemuck::try_cast_slice(bytes) {
                Ok(values) => Cow::Borrowed(values),
                Err(_) => Cow::Owned(bytemuck::allocation::pod_collect_to_vec(bytes)),
            }))
        }
    };
}

impl ReadTxn {
    fn ro(&self) -> &RoTxn<'static, WithoutTls> {
        &self.txn
    }

    /// LMDB's id of the committed transaction this reads: it changes with every commit, so
    /// two reads with the same id see the same state.
    pub fn id(&self) -> usize {
        self.txn.id()
    }

    /// A value LMDB returned lies in the pages the file holds (the sniffed size covers them):
    /// LMDB takes a large value's length from its node without checking it against the
    /// pages, so a damaged node is an error here, never a read past the end of the file.
    /// (Where the map's address is unknown, on systems without `/proc`, this is not checked.)
    fn check_mapped<'a>(&self, bytes: &'a [u8]) -> Result<&'a [u8]> {
        let Some(mapped) = &self.mapped else {
            return Ok(bytes);
        };
        let start = bytes.as_ptr() as usize;
        match start.checked_add(bytes.len()) {
            Some(end) if start >= mapped.start && end <= mapped.end => Ok(bytes),
            _ => Err(Error::Corrupt(format!(
                "a value of {} bytes lies outside the file",
                bytes.len()
            ))),
        }
    }

    reads!();
}

impl<'s> WriteTxn<'s> {
    fn ro(&self) -> &RoTxn<'s, WithoutTls> {
        &self.txn
    }

    /// In a write transaction a block may live in LMDB's dirty pages, off the map: nothing
    /// to check against it.
    fn check_mapped<'a>(&self, bytes: &'a [u8]) -> Result<&'a [u8]> {
        Ok(bytes)
    }

    reads!();

    fn put_meta_raw(&mut self, key: &str, value: u64) -> Result<()> {
        self.dbs
            .meta
            .put(&mut self.txn, key, &value.to_le_bytes())?;
        Ok(())
    }

    /// Sets a `u64` the engine keeps in the metadata.
    ///
    /// # Errors
    /// [`Error::Lmdb`] for the keys the store keeps itself (`format`, `dimension`); a
    /// storage error.
    pub fn put_meta_u64(&mut self, key: &str, value: u64) -> Result<()> {
        if key == META_FORMAT || key == META_DIMENSION {
            return Err(Error::Lmdb(format!(
                "the metadata key {key} is the store's own"
            )));
        }
        self.put_meta_raw(key, value)
    }

    /// Sets the record at `key` of `table`.
    ///
    /// # Errors
    /// A storage error ([`Error::Lmdb`] "MapFull" once the store reaches [`MAP_SIZE`]).
    pub fn put(&mut self, table: Table, key: u64, record: &[u8]) -> Result<()> {
        self.dbs.tables[table.index()].put(&mut self.txn, &key, record)?;
        Ok(())
    }

    /// Removes the record at `key` of `table`; returns whether there was one.
    ///
    /// # Errors
    /// A storage error.
    pub fn delete(&mut self, table: Table, key: u64) -> Result<bool> {
        Ok(self.dbs.tables[table.index()].delete(&mut self.txn, &key)?)
    }

    /// Removes every record of `table`.
    ///
    /// # Errors
    /// A storage error.
    pub fn clear(&mut self, table: Table) -> Result<()> {
        self.dbs.tables[table.index()].clear(&mut self.txn)?;
        Ok(())
    }

    /// Sets (or, with `None`, removes) an application property.
    ///
    /// # Errors
    /// A storage error.
    pub fn set_property(&mut self, key: &str, value: Option<&str>) -> Result<()> {
        match value {
            Some(value) => self
                .dbs
                .properties
                .put(&mut self.txn, key, value.as_bytes())?,
            None => {
                self.dbs.properties.delete(&mut self.txn, key)?;
            }
        }
        Ok(())
    }

    /// Writes a block of `values`, replacing any at `key`. The bytes are written once,
    /// straight into the space LMDB reserves for them.
    ///
    /// # Errors
    /// A storage error.
    pub fn put_block<T: bytemuck::NoUninit>(&mut self, key: BlockKey, values: &[T]) -> Result<()> {
        self.put_block_parts(key, &[values])
    }

    /// Writes a block of the values of `parts`, one after the other, replacing any at `key`:
    /// a block gathered from pieces (the engine's 256-row chunks) without first joining
    /// them in memory. Each byte is written once, as by [`put_block`](Self::put_block).
    ///
    /// # Errors
    /// A storage error.
    pub fn put_block_parts<T: bytemuck::NoUninit>(
        &mut self,
        key: BlockKey,
        parts: &[&[T]],
    ) -> Result<()> {
        let len = parts.iter().map(|part| std::mem::size_of_val(*part)).sum();
        self.dbs
            .blocks
            .put_reserved(&mut self.txn, &key.bytes(), len, |space| {
                for part in parts {
                    std::io::Write::write_all(space, bytemuck::cast_slice(part))?;
                }
                Ok(())
            })?;
        Ok(())
    }

    /// Removes every block of `segment`.
    ///
    /// # Errors
    /// A storage error.
    pub fn delete_segment(&mut self, segment: u64) -> Result<()> {
        let start = BlockKey { segment, part: 0 }.bytes();
        let end = BlockKey {
            segment,
            part: u8::MAX,
        }
        .bytes();
        let range = (
            std::ops::Bound::Included(&start[..]),
            std::ops::Bound::Included(&end[..]),
        );
        self.dbs.blocks.delete_range(&mut self.txn, &range)?;
        Ok(())
    }

    /// Commits: durable (fsynced) when this returns `Ok`; on an error nothing of it is
    /// stored.
    ///
    /// # Errors
    /// [`Error::Io`] (disk full, ...); [`Error::Lmdb`].
    pub fn commit(self) -> Result<()> {
        self.txn.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(target_os = "linux")]
    fn reads_know_where_the_map_is_so_every_value_is_bounds_checked() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("s.engram");
        let store = Store::create(&path, 4, Duration::ZERO, |_| Ok(())).expect("create");
        let txn = store.read().expect("read");
        let mapped = txn.mapped.clone().expect("found in /proc/self/maps");
        let format = txn.meta_u64(META_FORMAT).expect("format");
        assert_eq!(format, Some(FORMAT_VERSION));
        let inside = txn
            .dbs
            .meta
            .get(&txn.txn, META_FORMAT)
            .expect("get")
            .expect("some");
        assert!(mapped.contains(&(inside.as_ptr() as usize)));
        let outside = [0u8; 8];
        assert!(matches!(txn.check_mapped(&outside), Err(Error::Corrupt(_))));
    }
}
