//! Creating a store file atomically. A new store is built in a temporary file in the same
//! directory, fsynced, moved to its path only if nothing is there (never replacing a file
//! that appeared meanwhile), and the directory is fsynced. A crash at any moment leaves
//! either no store at the path or a complete one; at most a hidden temporary file
//! (`.NAME.XXXXXXXX.engram-init`, and the lock file LMDB made beside it, the same name
//! followed by `-lock`) stays behind, which is never opened as a store and is removed by a
//! later create of the same path once it is [`STALE_AFTER`] old.
//!
//! [`Store::create`](crate::Store::create) does all of this.

use std::ffi::OsString;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::{Error, Result};

/// Suffix of the temporary file a create builds the store in.
const TEMP_SUFFIX: &str = ".engram-init";
/// What LMDB appends to a data file's name for its lock file (`MDB_NOSUBDIR`).
pub(crate) const LOCK_SUFFIX: &str = "-lock";
/// Random characters in a temporary file's name.
const TEMP_RANDOM: usize = 8;
/// A temporary file untouched for this long belongs to a create that died: creating a store
/// writes it within milliseconds.
pub(crate) const STALE_AFTER: Duration = Duration::from_secs(60);

/// A store file under construction beside its final path. Dropping it unfinished removes
/// the temporary file (and its lock file).
pub(crate) struct PendingFile {
    path: PathBuf,
    dir: PathBuf,
    temp_path: PathBuf,
    /// Removes the temporary file when dropped; `None` once it is moved into place.
    temp: Option<tempfile::TempPath>,
    /// A handle on the temporary file, to fsync it once the database is written.
    file: File,
}

/// The lock file LMDB keeps beside the data file at `path`.
pub(crate) fn lock_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(LOCK_SUFFIX);
    PathBuf::from(name)
}

impl Drop for PendingFile {
    fn drop(&mut self) {
        // Finished or not, the temporary file's lock file is of no further use. (The
        // temporary file itself is removed by `TempPath`, unless it was persisted.)
        let _ = std::fs::remove_file(lock_path(&self.temp_path));
    }
}

/// The directory holding `path` and its file name.
fn split(path: &Path) -> Result<(PathBuf, OsString)> {
    let name = path.file_name().ok_or_else(|| {
        Error::Io(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{} does not name a file", path.display()),
        ))
    })?;
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    Ok((dir, name.to_owned()))
}

/// The prefix of every temporary file for a store named `name`.
fn temp_prefix(name: &OsString) -> OsString {
    let mut prefix = OsString::from(".");
    prefix.push(name);
    prefix.push(".");
    prefix
}

/// Starts creating a store at `path`: makes the (empty) temporary file to build it in.
pub(crate) fn begin(path: &Path) -> Result<PendingFile> {
    let (dir, name) = split(path)?;
    let prefix = temp_prefix(&name);
    remove_stale(&dir, &prefix);
    let mut builder = tempfile::Builder::new();
    builder
        .prefix(&prefix)
        .suffix(TEMP_SUFFIX)
        .rand_bytes(TEMP_RANDOM);
    // The permissions of a file made by `File::create` (the umask applies), not tempfile's
    // owner-only default: the store is a file like any other.
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
    let temp = builder.tempfile_in(&dir).map_err(Error::Io)?;
    let (file, temp) = temp.into_parts();
    Ok(PendingFile {
        path: path.to_path_buf(),
        dir,
        temp_path: temp.to_path_buf(),
        temp: Some(temp),
        file,
    })
}

impl PendingFile {
    /// The temporary file's path, to build the store in.
    pub(crate) fn temp_path(&self) -> &Path {
        &self.temp_path
    }

    /// Makes the fully written temporary file the store at its path: fsync, move without
    /// replacing anything, fsync the directory. On error the temporary file is removed.
    ///
    /// # Errors
    /// [`Error::AlreadyExists`] if a file appeared at the path meanwhile; [`Error::Io`].
    pub(crate) fn finish(mut self) -> Result<()> {
        self.file.sync_all().map_err(Error::Io)?;
        let Some(temp) = self.temp.take() else {
            return Err(Error::Io(std::io::Error::other(
                "the store was already moved",
            )));
        };
        if let Err(error) = temp.persist_noclobber(&self.path) {
            // Dropping the returned path removes the temporary file.
            drop(error.path);
            return Err(match error.error.kind() {
                std::io::ErrorKind::AlreadyExists => Error::AlreadyExists {
                    path: self.path.clone(),
                },
                _ => Error::Io(error.error),
            });
        }
        sync_dir(&self.dir).map_err(Error::Io)
    }
}

/// Makes a new directory entry durable.
#[cfg(unix)]
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Windows cannot open a directory as a file; NTFS journals the rename itself.
#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> std::io::Result<()> {
    Ok(())
}

/// Whether `name` is a temporary file a create of this store made, or its lock file.
fn is_temp(name: &[u8], prefix: &[u8]) -> bool {
    let name = name.strip_suffix(LOCK_SUFFIX.as_bytes()).unwrap_or(name);
    name.len() == prefix.len() + TEMP_RANDOM + TEMP_SUFFIX.len()
        && name.starts_with(prefix)
        && name.ends_with(TEMP_SUFFIX.as_bytes())
}

/// Removes the temporary files of creates of this store that died (best effort: a file that
/// cannot be inspected or removed is left).
fn remove_stale(dir: &Path, prefix: &OsString) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let prefix = prefix.as_encoded_bytes();
    let now = SystemTime::now();
    for entry in entries.flatten() {
        if !is_temp(entry.file_name().as_encoded_bytes(), prefix) {
            continue;
        }
        let stale = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|modified| now.duration_since(modified).ok())
            .is_some_and(|age| age >= STALE_AFTER);
        if stale {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporary_names_are_recognized_exactly() {
        let prefix = temp_prefix(&OsString::from("s.db"));
        let prefix = prefix.as_encoded_bytes();
        assert!(is_temp(b".s.db.Ab3dEf9h.engram-init", prefix));
        assert!(!is_temp(b".s.db.Ab3dEf9.engram-init", prefix));
        assert!(!is_temp(b"s.db", prefix));
        assert!(!is_temp(b".s.dbx.Ab3dEf9h.engram-init", prefix));
        assert!(!is_temp(b".s.db.Ab3dEf9h.engram-init.bak", prefix));
        assert!(is_temp(b".s.db.Ab3dEf9h.engram-init-lock", prefix));
        assert!(!is_temp(b"s.db-lock", prefix));
    }

    #[test]
    fn only_stale_temporary_files_of_this_store_are_removed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let old = SystemTime::now() - STALE_AFTER - Duration::from_secs(1);
        let make = |name: &str, stale: bool| {
            let path = dir.path().join(name);
            let file = File::create(&path).expect("create");
            if stale {
                file.set_modified(old).expect("set mtime");
            }
            path
        };
        let stale = make(".s.db.AAAAAAAA.engram-init", true);
        let fresh = make(".s.db.BBBBBBBB.engram-init", false);
        let other_store = make(".t.db.CCCCCCCC.engram-init", true);
        let unrelated = make(".s.db.notes", true);
        let stale_lock = make(".s.db.AAAAAAAA.engram-init-lock", true);
        let pending = begin(&dir.path().join("s.db")).expect("begin");
        assert!(!stale.exists(), "a stale leftover is removed");
        assert!(!stale_lock.exists(), "and its lock file");
        assert!(fresh.exists(), "a create that may still run keeps its file");
        assert!(other_store.exists() && unrelated.exists());
        pending.finish().expect("finish");
        assert!(dir.path().join("s.db").exists());
    }

    #[test]
    fn finishing_never_replaces_a_file_that_appeared() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("s.db");
        let pending = begin(&path).expect("begin");
        std::fs::write(lock_path(pending.temp_path()), "LMDB's lock file").expect("lock");
        std::fs::write(&path, "someone else's").expect("write");
        let err = pending.finish().expect_err("must not clobber");
        assert!(matches!(err, Error::AlreadyExists { .. }), "{err}");
        assert_eq!(
            std::fs::read_to_string(&path).expect("read"),
            "someone else's"
        );
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .expect("list")
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(
            names,
            [OsString::from("s.db")],
            "the temporary file is gone"
        );
    }
}
