//! The spaces a server serves: one store per space, the file `DIR/SPACE.engram` (and LMDB's
//! `DIR/SPACE.engram-lock` beside it), so that a space is isolated from every other by being
//! another file, and deleting it removes only its own two files. Each space's store is opened
//! once, on first use, and shared by every request and worker; other processes (the command,
//! another server) may open the same files at the same time.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use anyhow::{Context, Result, bail};
use engram_graph::{Engram, Options, Precision};
use engram_text::Embedder;

use super::error::ApiError;
use crate::store::{self, EMBEDDER_PROPERTY};

/// The extension of a space's store file.
pub const EXTENSION: &str = "engram";

/// The longest space name, in bytes.
pub const MAX_NAME: usize = 64;

/// One space: its store and how it embeds text.
pub struct Space {
    /// The space's name.
    pub name: String,
    /// Its store, open for reading and writing.
    pub engram: Engram,
    /// Its text embedder, or `None` if it takes vectors only.
    pub embedder: Option<Embedder>,
    /// Its store file.
    pub path: PathBuf,
}

impl Space {
    /// Its text embedder's spec (`hash-v1 dim=384`, `minilm-l6-v2 sha256=…`), or `none`.
    pub fn embedder_spec(&self) -> String {
        self.embedder
            .as_ref()
            .map_or_else(|| "none".to_owned(), Embedder::spec)
    }
}

/// Every space of a directory, opened as they are used.
pub struct Spaces {
    dir: PathBuf,
    busy_timeout: std::time::Duration,
    /// The spaces opened so far. Opening, creating and deleting hold this lock, so that a
    /// space is opened once and never while it is being deleted.
    open: Mutex<HashMap<String, Arc<Space>>>,
}

/// Whether `name` may name a space: 1 to [`MAX_NAME`] ASCII letters, digits, `-` and `_`,
/// starting with a letter or a digit. No dots and no slashes, so a name can never leave the
/// directory, name a hidden file, or collide with a store's lock or temporary file.
pub fn check_name(name: &str) -> Result<(), ApiError> {
    let valid = !name.is_empty()
        && name.len() <= MAX_NAME
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if valid {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "{:?} is not a space name: use 1 to {MAX_NAME} ASCII letters, digits, '-' and '_', starting with a letter or digit",
            name.chars().take(2 * MAX_NAME).collect::<String>()
        )))
    }
}

impl Spaces {
    /// The spaces of `dir`, which is created if it does not exist.
    pub fn new(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the spaces directory {}", dir.display()))?;
        if !dir.is_dir() {
            bail!("{} is not a directory", dir.display());
        }
        Ok(Self {
            dir: dir.to_owned(),
            busy_timeout: store::busy_timeout()?,
            open: Mutex::new(HashMap::new()),
        })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The store file of space `name` (a checked name).
    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.{EXTENSION}"))
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Arc<Space>>> {
        // A panic while holding the lock left the map as it was (inserts and removes are
        // single calls), so a poisoned lock is still a consistent one.
        self.open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// How many spaces are open.
    pub fn open_count(&self) -> usize {
        self.lock().len()
    }

    /// Space `name` if it is open and the lock is free at once; never blocks, so that the
    /// common case needs no trip to the blocking pool.
    pub fn get_open(&self, name: &str) -> Option<Arc<Space>> {
        self.open.try_lock().ok()?.get(name).cloned()
    }

    /// Space `name`, opened if it is not yet; 404 if there is none. Blocks (it may open a file).
    pub fn get(&self, name: &str) -> Result<Arc<Space>, ApiError> {
        check_name(name)?;
        let mut open = self.lock();
        self.get_locked(&mut open, name)?
            .ok_or_else(|| ApiError::unknown_space(name))
    }

    /// [`get`](Self::get) with the lock held; `None` if there is no such space.
    fn get_locked(
        &self,
        open: &mut HashMap<String, Arc<Space>>,
        name: &str,
    ) -> Result<Option<Arc<Space>>, ApiError> {
        if let Some(space) = open.get(name) {
            return Ok(Some(Arc::clone(space)));
        }
        let path = self.path(name);
        if !path.is_file() {
            return Ok(None);
        }
        let options = Options {
            busy_timeout: self.busy_timeout,
            ..Options::default()
        };
        let engram = Engram::open(&path, options).map_err(|e| ApiError::engine(e, name))?;
        let space = Arc::new(self.space(name, engram, path)?);
        open.insert(name.to_owned(), Arc::clone(&space));
        Ok(Some(space))
    }

    fn space(&self, name: &str, engram: Engram, path: PathBuf) -> Result<Space, ApiError> {
        let embedder = store::embedder(&engram)
            .map_err(|e| ApiError::internal(format!("space {name:?}: {e:#}")))?;
        Ok(Space {
            name: name.to_owned(),
            engram,
            embedder,
            path,
        })
    }

    /// Creates space `name` (atomically: after a crash it exists whole or not at all) with
    /// this dimension, embedder spec (`hash-v1 dim=N` or `none`) and precision. If it exists
    /// already with the same dimension and embedder, returns it and `false`; if with others,
    /// 409.
    pub fn create(
        &self,
        name: &str,
        dim: usize,
        embedder: &str,
        precision: Precision,
    ) -> Result<(Arc<Space>, bool), ApiError> {
        check_name(name)?;
        let mut open = self.lock();
        if let Some(space) = self.get_locked(&mut open, name)? {
            let spec = space
                .engram
                .property(EMBEDDER_PROPERTY)
                .map_err(|e| ApiError::engine(e, name))?
                .unwrap_or_else(|| "none".into());
            if space.engram.dimension() == dim && spec == embedder {
                return Ok((space, false));
            }
            return Err(ApiError::new(
                axum::http::StatusCode::CONFLICT,
                "space_exists",
                format!(
                    "space {name:?} exists with dimension {} and embedder {spec}; delete it first to create it with dimension {dim} and embedder {embedder}",
                    space.engram.dimension()
                ),
            ));
        }
        let path = self.path(name);
        let options = Options {
            busy_timeout: self.busy_timeout,
            precision,
            ..Options::default()
        };
        let engram =
            Engram::create_with_properties(&path, dim, &[(EMBEDDER_PROPERTY, embedder)], options)
                .map_err(|e| ApiError::engine(e, name))?;
        let space = Arc::new(self.space(name, engram, path)?);
        open.insert(name.to_owned(), Arc::clone(&space));
        Ok((space, true))
    }

    /// Deletes space `name`: its store file, then its lock file. Requests already running on
    /// it finish on the open store; later ones get 404. Touches no other file.
    pub fn delete(&self, name: &str) -> Result<(), ApiError> {
        check_name(name)?;
        let mut open = self.lock();
        let path = self.path(name);
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                open.remove(name);
                return Err(ApiError::unknown_space(name));
            }
            Err(e) => {
                return Err(ApiError::internal(format!(
                    "cannot delete space {name:?}: {e}"
                )));
            }
        }
        open.remove(name);
        let mut lock = path.into_os_string();
        lock.push("-lock");
        match std::fs::remove_file(&lock) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(ApiError::internal(format!(
                "deleted space {name:?} but not its lock file: {e}"
            ))),
        }
    }

    /// The names of every space in the directory, sorted.
    pub fn list(&self) -> Result<Vec<String>, ApiError> {
        let entries = std::fs::read_dir(&self.dir)
            .map_err(|e| ApiError::internal(format!("cannot list the spaces: {e}")))?;
        let mut names = Vec::new();
        for entry in entries {
            let entry =
                entry.map_err(|e| ApiError::internal(format!("cannot list the spaces: {e}")))?;
            let file_name = entry.file_name();
            let Some(name) = file_name
                .to_str()
                .and_then(|n| n.strip_suffix(&format!(".{EXTENSION}")))
            else {
                continue;
            };
            if check_name(name).is_ok() && entry.path().is_file() {
                names.push(name.to_owned());
            }
        }
        names.sort();
        Ok(names)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_could_leave_the_directory_or_hide_are_refused() {
        for bad in [
            "",
            ".",
            "..",
            "../x",
            "a/b",
            ".hidden",
            "-x",
            "_x",
            "a.b",
            "a b",
            "é",
            "a\0",
            &"x".repeat(MAX_NAME + 1),
        ] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        for good in ["a", "A-1", "user_42", "0", &"x".repeat(MAX_NAME)] {
            assert!(check_name(good).is_ok(), "{good:?}");
        }
    }
}
