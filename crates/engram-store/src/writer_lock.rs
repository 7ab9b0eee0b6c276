//! One writer at a time across processes, with a bounded wait. LMDB's own writer mutex waits
//! forever; engram writers first take an exclusive `flock` on the data file, retrying until
//! a deadline, and only then begin LMDB's write transaction, which then never waits.

use std::fs::File;
use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::{Error, Result};

/// The first pause between two tries; it doubles up to [`MAX_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(1);
const MAX_PAUSE: Duration = Duration::from_millis(50);

/// The lock of one open store in this process.
#[derive(Debug)]
pub(crate) struct WriterLock {
    /// A handle on the data file used only for `flock` (a lock belongs to the open file
    /// description, so it is independent of LMDB's handles and of other processes').
    file: File,
    /// Threads of this process share `file`, whose lock does not exclude them from each
    /// other: they queue here first.
    threads: Mutex<()>,
}

/// Held while writing; dropping it lets the next writer in.
#[derive(Debug)]
pub(crate) struct WriterGuard<'a> {
    file: &'a File,
    _thread: MutexGuard<'a, ()>,
}

impl WriterLock {
    pub(crate) fn new(path: &Path) -> Result<Self> {
        Ok(Self {
            file: File::open(path)?,
            threads: Mutex::new(()),
        })
    }

    /// Waits up to `timeout` for the other writers of this store, in this process and in
    /// others.
    ///
    /// # Errors
    /// [`Error::Busy`] after `timeout`; [`Error::Io`] if the lock cannot be taken at all.
    pub(crate) fn acquire(&self, timeout: Duration) -> Result<WriterGuard<'_>> {
        let start = Instant::now();
        // A panic while writing cannot leave the `()` inside half changed.
        let thread = self
            .threads
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut pause = FIRST_PAUSE;
        loop {
            match self.file.try_lock() {
                Ok(()) => {
                    return Ok(WriterGuard {
                        file: &self.file,
                        _thread: thread,
                    });
                }
                Err(std::fs::TryLockError::WouldBlock) => {}
                Err(std::fs::TryLockError::Error(error)) => return Err(Error::Io(error)),
            }
            let waited = start.elapsed();
            if waited >= timeout {
                return Err(Error::Busy { waited });
            }
            std::thread::sleep(pause.min(timeout - waited));
            pause = (pause * 2).min(MAX_PAUSE);
        }
    }
}

impl Drop for WriterGuard<'_> {
    fn drop(&mut self) {
        // Closing the handle would release it too; unlocking now lets the next writer in at
        // once. An error here leaves nothing locked that closing would not release.
        let _ = self.file.unlock();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_handle_waits_its_timeout_then_is_busy_and_gets_in_once_released() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("data");
        std::fs::write(&path, b"x").expect("write");
        // Two `WriterLock`s on one file behave as two processes do: separate descriptions.
        let first = WriterLock::new(&path).expect("first");
        let second = WriterLock::new(&path).expect("second");
        let held = first.acquire(Duration::ZERO).expect("free");
        let start = Instant::now();
        let err = second
            .acquire(Duration::from_millis(120))
            .expect_err("held by the first");
        assert!(matches!(err, Error::Busy { waited } if waited >= Duration::from_millis(120)));
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "the wait is bounded"
        );
        drop(held);
        drop(second.acquire(Duration::ZERO).expect("released"));
        // Threads of one process queue on the same handle.
        let lock = std::sync::Arc::new(first);
        let guard = lock.acquire(Duration::ZERO).expect("free again");
        let other = std::sync::Arc::clone(&lock);
        let waiter =
            std::thread::spawn(move || other.acquire(Duration::from_secs(30)).map(drop).is_ok());
        std::thread::sleep(Duration::from_millis(50));
        drop(guard);
        assert!(
            waiter.join().expect("join"),
            "the thread got in after the first"
        );
    }
}
