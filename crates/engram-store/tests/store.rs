//! The store: atomic creation, what opening refuses and why, blocks read in place, snapshot
//! isolation, read-only opens that leave the file untouched (also on a read-only mount), and
//! the bounded wait for another process's write.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use engram_store::{BlockKey, Error, Mode, OpenOptions, Store, Table};

const READ_ONLY: OpenOptions = OpenOptions {
    mode: Mode::ReadOnly,
    busy_timeout: Duration::from_secs(10),
};

fn new_store(dir: &Path, name: &str) -> (PathBuf, Store) {
    let path = dir.join(name);
    let store = Store::create(&path, 8, Duration::from_secs(10), |txn| {
        txn.put_meta_u64("next_id", 1)?;
        txn.set_property("made.by", Some("the test"))
    })
    .expect("create");
    (path, store)
}

/// A new store at `dir/name` holding one block (segment 1, part 0) of `len` copies of
/// `value`, closed.
fn store_with_block(dir: &Path, name: &str, value: f32, len: usize) -> PathBuf {
    let (path, store) = new_store(dir, name);
    let mut txn = store.write().expect("write");
    txn.put_block(
        BlockKey {
            segment: 1,
            part: 0,
        },
        &vec![value; len],
    )
    .expect("put");
    txn.commit().expect("commit");
    path
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn a_created_store_holds_its_first_transaction_and_nothing_else_is_left() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (path, store) = new_store(dir.path(), "s.engram");
    assert_eq!(store.dimension(), 8);
    assert_eq!(store.mode(), Mode::ReadWrite);
    let txn = store.read().expect("read");
    assert_eq!(txn.meta_u64("next_id").expect("meta"), Some(1));
    assert_eq!(txn.property("made.by").expect("property"), Some("the test"));
    assert_eq!(txn.properties().expect("all"), [("made.by", "the test")]);
    assert_eq!(names(dir.path()), ["s.engram", "s.engram-lock"]);
    drop((txn, store));
    let err = Store::create(&path, 8, Duration::ZERO, |_| Ok(())).expect_err("exists");
    assert!(matches!(err, Error::AlreadyExists { .. }), "{err}");
}

#[test]
fn a_create_whose_first_transaction_fails_leaves_no_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("s.engram");
    let err = Store::create(&path, 8, Duration::ZERO, |_| {
        Err(Error::Corrupt("refused by the test".into()))
    })
    .expect_err("init fails");
    assert!(matches!(err, Error::Corrupt(_)), "{err}");
    assert_eq!(names(dir.path()), Vec::<String>::new());
    assert!(matches!(
        Store::open(&path, OpenOptions::default()),
        Err(Error::NotFound { .. })
    ));
}

#[test]
fn the_store_keeps_its_own_metadata_keys() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, store) = new_store(dir.path(), "s.engram");
    let mut txn = store.write().expect("write");
    assert!(txn.put_meta_u64("dimension", 9).is_err());
    assert!(txn.put_meta_u64("format", 1).is_err());
}

#[test]
fn large_blocks_are_read_in_place_and_aligned_small_ones_may_be_copied() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (path, store) = new_store(dir.path(), "s.engram");
    let large: Vec<f32> = (0..100_000).map(|i| i as f32 * 0.5).collect();
    let small: Vec<u64> = vec![7, 8, 9];
    let mut txn = store.write().expect("write");
    txn.put_block(
        BlockKey {
            segment: 1,
            part: 0,
        },
        &large,
    )
    .expect("large");
    txn.put_block(
        BlockKey {
            segment: 1,
            part: 1,
        },
        &small,
    )
    .expect("small");
    txn.put_block(
        BlockKey {
            segment: 2,
            part: 0,
        },
        &[1u8, 2, 3],
    )
    .expect("odd");
    txn.commit().expect("commit");
    drop(store);
    let store = Store::open(&path, READ_ONLY).expect("open");
    let txn = store.read().expect("read");
    let read = txn
        .block::<f32>(BlockKey {
            segment: 1,
            part: 0,
        })
        .expect("read")
        .expect("present");
    assert!(
        matches!(read, Cow::Borrowed(_)),
        "a large block is not copied"
    );
    assert_eq!(read.as_ptr() as usize % 16, 0, "and 16-byte aligned");
    assert_eq!(&*read, &large[..]);
    let read = txn
        .block::<u64>(BlockKey {
            segment: 1,
            part: 1,
        })
        .expect("read")
        .expect("present");
    assert_eq!(&*read, &small[..]);
    let err = txn
        .block::<u32>(BlockKey {
            segment: 2,
            part: 0,
        })
        .expect_err("3 bytes are no u32s");
    assert!(matches!(err, Error::Corrupt(_)), "{err}");
    assert!(
        txn.block::<f32>(BlockKey {
            segment: 3,
            part: 0
        })
        .expect("read")
        .is_none()
    );
}

#[test]
fn a_block_written_in_parts_reads_back_as_their_concatenation() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, store) = new_store(dir.path(), "s.engram");
    let parts: Vec<Vec<f32>> = [256usize, 0, 256, 17]
        .iter()
        .scan(0.0f32, |next, &len| {
            let part = (0..len).map(|i| *next + i as f32).collect::<Vec<_>>();
            *next += len as f32;
            Some(part)
        })
        .collect();
    let slices: Vec<&[f32]> = parts.iter().map(Vec::as_slice).collect();
    let key = |segment| BlockKey { segment, part: 0 };
    let mut txn = store.write().expect("write");
    txn.put_block_parts(key(1), &slices).expect("parts");
    txn.put_block_parts::<f32>(key(2), &[]).expect("no parts");
    txn.put_block(key(3), &[9.0f32]).expect("one");
    txn.put_block_parts(key(3), &[&[1.0f32][..], &[2.0]])
        .expect("replaces");
    txn.commit().expect("commit");
    let txn = store.read().expect("read");
    let read = |segment| {
        txn.block::<f32>(key(segment))
            .expect("read")
            .expect("present")
            .into_owned()
    };
    assert_eq!(read(1), parts.concat());
    assert_eq!(read(1).len(), 529);
    assert!(read(2).is_empty());
    assert_eq!(read(3), vec![1.0, 2.0]);
}

#[test]
fn deleting_a_segment_removes_its_blocks_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, store) = new_store(dir.path(), "s.engram");
    let mut txn = store.write().expect("write");
    for segment in [4, 5, 6] {
        for part in [0, 1, u8::MAX] {
            txn.put_block(BlockKey { segment, part }, &[segment as u32])
                .expect("put");
        }
    }
    txn.delete_segment(5).expect("delete");
    txn.commit().expect("commit");
    let txn = store.read().expect("read");
    for segment in [4, 5, 6] {
        for part in [0, 1, u8::MAX] {
            let found = txn.block_bytes(BlockKey { segment, part }).expect("get");
            assert_eq!(found.is_some(), segment != 5, "{segment}/{part}");
        }
    }
}

#[test]
fn a_read_sees_one_committed_state_however_later_writes_go() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, store) = new_store(dir.path(), "s.engram");
    let mut txn = store.write().expect("write");
    txn.put(Table::Rows, 1, b"one").expect("put");
    txn.commit().expect("commit");
    let before = store.read().expect("read");
    let mut txn = store.write().expect("write");
    txn.put(Table::Rows, 2, b"two").expect("put");
    txn.delete(Table::Rows, 1).expect("delete");
    txn.put_meta_u64("next_id", 3).expect("meta");
    txn.commit().expect("commit");
    let uncommitted = {
        let mut txn = store.write().expect("write");
        txn.put(Table::Rows, 9, b"never").expect("put");
        txn.len(Table::Rows).expect("len")
    };
    assert_eq!(uncommitted, 2, "a write sees its own changes");
    let after = store.read().expect("read");
    let rows = |txn: &engram_store::ReadTxn| -> Vec<(u64, Vec<u8>)> {
        txn.iter(Table::Rows)
            .expect("iter")
            .map(|e| e.map(|(k, v)| (k, v.to_vec())).expect("entry"))
            .collect()
    };
    assert_eq!(rows(&before), [(1, b"one".to_vec())]);
    assert_eq!(before.meta_u64("next_id").expect("meta"), Some(1));
    assert_eq!(
        rows(&after),
        [(2, b"two".to_vec())],
        "the dropped write is gone"
    );
    assert_eq!(after.meta_u64("next_id").expect("meta"), Some(3));
    assert_ne!(before.id(), after.id());
    assert!(after.get(Table::Access, 2).expect("get").is_none());
}

#[test]
fn every_open_of_a_file_in_one_process_shares_it_and_read_only_stays_read_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (path, store) = new_store(dir.path(), "s.engram");
    let again = Store::open(&path, OpenOptions::default()).expect("shared");
    let mut txn = again.write().expect("write");
    txn.put(Table::Forgotten, 3, &[]).expect("put");
    txn.commit().expect("commit");
    assert_eq!(
        store
            .read()
            .expect("read")
            .len(Table::Forgotten)
            .expect("len"),
        1
    );
    drop((store, again));
    let reader = Store::open(&path, READ_ONLY).expect("read-only");
    assert!(matches!(reader.write(), Err(Error::ReadOnly)));
    let err = Store::open(&path, OpenOptions::default()).expect_err("read-only here");
    assert!(matches!(err, Error::OpenReadOnly { .. }), "{err}");
    drop(reader);
    Store::open(&path, OpenOptions::default()).expect("read-write once it is closed");
    // A read transaction that outlives its store keeps the store open, and shared.
    let txn = Store::open(&path, READ_ONLY)
        .expect("open")
        .read()
        .expect("read");
    let again = Store::open(&path, READ_ONLY).expect("shared with the transaction's");
    assert_eq!(again.read().expect("read").id(), txn.id());
}

/// The file's bytes and modification time.
fn fingerprint(path: &Path) -> (Vec<u8>, std::time::SystemTime) {
    let bytes = std::fs::read(path).expect("read");
    let mtime = std::fs::metadata(path)
        .and_then(|m| m.modified())
        .expect("mtime");
    (bytes, mtime)
}

#[test]
fn reading_leaves_the_data_file_byte_for_byte_and_its_mtime() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = store_with_block(dir.path(), "s.engram", 1.5, 50_000);
    let before = fingerprint(&path);
    std::thread::sleep(Duration::from_millis(20));
    for _ in 0..3 {
        let store = Store::open(&path, READ_ONLY).expect("open");
        let txn = store.read().expect("read");
        let block = txn.block::<f32>(BlockKey {
            segment: 1,
            part: 0,
        });
        assert_eq!(block.expect("read").expect("present").len(), 50_000);
    }
    assert!(fingerprint(&path) == before, "the data file changed");
}

fn expect_not_a_store(path: &Path) -> String {
    match Store::open(path, OpenOptions::default()) {
        Err(Error::NotAStore(what)) => what,
        other => panic!("{}: {other:?}", path.display()),
    }
}

#[test]
fn files_that_are_not_stores_are_named_and_left_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let empty = dir.path().join("empty");
    std::fs::write(&empty, b"").expect("write");
    assert_eq!(expect_not_a_store(&empty), "the file is empty");
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "some notes\n".repeat(1000)).expect("write");
    assert!(expect_not_a_store(&text).contains("neither"));
    assert_eq!(expect_not_a_store(dir.path()), "a directory");
    assert_eq!(
        std::fs::read(&text).expect("read"),
        "some notes\n".repeat(1000).as_bytes()
    );
    assert_eq!(
        names(dir.path()),
        ["empty", "notes.txt"],
        "no lock file made"
    );
}

#[test]
fn a_format_1_store_is_recognized() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("old.engram");
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../engram/tests/fixtures/format-1.engram");
    std::fs::copy(&fixture, &path).expect("copy");
    let err = Store::open(&path, READ_ONLY).expect_err("format 1");
    assert!(matches!(err, Error::FormatOne { supported: 2 }), "{err}");
    assert_eq!(std::fs::read(&path).ok(), std::fs::read(&fixture).ok());
}

#[test]
fn a_truncated_store_is_an_error_at_every_length_never_a_fault() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = store_with_block(dir.path(), "s.engram", 2.0, 40_000);
    let whole = std::fs::read(&path).expect("read");
    let cut = dir.path().join("cut.engram");
    let page = 4096;
    let mut lengths: Vec<usize> = (1..whole.len() / page).map(|pages| pages * page).collect();
    lengths.extend([1, 100, page + 1, whole.len() - 1]);
    for len in lengths {
        std::fs::write(&cut, &whole[..len]).expect("write");
        let _ = std::fs::remove_file(dir.path().join("cut.engram-lock"));
        match Store::open(&cut, READ_ONLY) {
            Err(Error::Corrupt(_) | Error::NotAStore(_)) => {}
            // Cutting only pages no tree references (free pages at the end) leaves a store
            // LMDB itself can write: it must then read whole.
            Ok(store) => assert_eq!(
                first_block(&store),
                Some(vec![2.0; 40_000]),
                "{len} of {} bytes",
                whole.len()
            ),
            Err(other) => panic!("{len} of {} bytes: {other:?}", whole.len()),
        }
    }
}

/// LMDB writes only the pages a commit dirtied: a page it took from the end of the file and
/// freed in the same commit is never written, so the file ends before the last page its
/// meta page names. Such a store opens (it once was refused as truncated).
#[test]
fn a_store_whose_last_pages_were_never_written_opens() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = store_with_block(dir.path(), "s.engram", 2.0, 40_000);
    let whole = std::fs::read(&path).expect("read");
    let page = 4096;
    // What LMDB leaves: the meta pages say two pages more are in use than the file holds.
    let mut short = whole.clone();
    for meta in [0, page] {
        let at = meta + 16 + 120;
        let last = u64::from_le_bytes(short[at..at + 8].try_into().expect("8 bytes"));
        short[at..at + 8].copy_from_slice(&(last + 2).to_le_bytes());
    }
    let cut = dir.path().join("short.engram");
    std::fs::write(&cut, &short).expect("write");
    let store = Store::open(&cut, READ_ONLY).expect("opens");
    assert_eq!(first_block(&store), Some(vec![2.0; 40_000]));
}

/// The block `store_with_block` wrote, as the store reads it.
fn first_block(store: &Store) -> Option<Vec<f32>> {
    let txn = store.read().expect("read");
    txn.block::<f32>(BlockKey {
        segment: 1,
        part: 0,
    })
    .expect("the block reads")
    .map(|block| block.into_owned())
}

#[test]
fn a_writer_waits_for_another_process_up_to_its_timeout_then_is_busy() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (path, store) = new_store(dir.path(), "s.engram");
    drop(store);
    // `flock` holds the lock an engram writer in another process holds while it writes.
    let ready = dir.path().join("ready");
    let mut holder = Command::new("flock");
    // Its own process group, so that killing the group ends the `sh` holding the lock too.
    std::os::unix::process::CommandExt::process_group(&mut holder, 0);
    let mut holder = holder
        .arg("--exclusive")
        .arg(&path)
        .arg("sh")
        .arg("-c")
        .arg(format!("touch '{}'; sleep 30", ready.display()))
        .spawn()
        .expect("flock");
    let start = Instant::now();
    while !ready.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "flock never started"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let store = Store::open(
        &path,
        OpenOptions {
            mode: Mode::ReadWrite,
            busy_timeout: Duration::from_millis(300),
        },
    )
    .expect("open");
    let start = Instant::now();
    let err = store.write().expect_err("another process writes");
    let waited = start.elapsed();
    assert!(matches!(err, Error::Busy { .. }), "{err}");
    assert!(waited >= Duration::from_millis(300) && waited < Duration::from_secs(10));
    // Reading never waits for a writer.
    store
        .read()
        .expect("read")
        .meta_u64("next_id")
        .expect("meta");
    let group = format!("-{}", holder.id());
    let killed = Command::new("kill").args(["-KILL", "--", &group]).status();
    assert!(killed.expect("kill").success());
    holder.wait().expect("wait");
    store.write().expect("free again").commit().expect("commit");
}

/// Run by [`a_store_on_a_read_only_mount_opens_read_only_and_reads`] inside its mount
/// namespace; does nothing on its own.
#[test]
#[ignore = "a child of another test"]
fn child_reads_on_a_read_only_mount() {
    let Some(path) = std::env::var_os("ENGRAM_STORE_TEST_RO_PATH") else {
        return;
    };
    let path = PathBuf::from(path);
    let store = Store::open(&path, READ_ONLY).expect("open read-only on a read-only mount");
    let txn = store.read().expect("read");
    let block = txn.block::<f32>(BlockKey {
        segment: 1,
        part: 0,
    });
    assert_eq!(
        &*block.expect("read").expect("present"),
        &[3.0f32; 1000][..]
    );
    let err = Store::open(&path.with_file_name("other.engram"), OpenOptions::default());
    assert!(err.is_err(), "read-write on a read-only mount: {err:?}");
}

#[test]
fn a_store_on_a_read_only_mount_opens_read_only_and_reads() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rw = dir.path().join("rw");
    let ro = dir.path().join("ro");
    std::fs::create_dir_all(&rw).expect("mkdir");
    std::fs::create_dir_all(&ro).expect("mkdir");
    let path = store_with_block(&rw, "s.engram", 3.0, 1000);
    // Without its lock file, as a store copied onto read-only media would be.
    std::fs::remove_file(rw.join("s.engram-lock")).expect("remove lock");
    std::fs::copy(&path, rw.join("other.engram")).expect("copy");
    let before = fingerprint(&path);
    // A private mount namespace (unshare), so the read-only bind mount is never seen
    // outside this test.
    let script = format!(
        "mount --bind '{rw}' '{ro}' && mount -o remount,bind,ro '{ro}' && exec \"$0\" \
         --exact child_reads_on_a_read_only_mount --ignored --nocapture",
        rw = rw.display(),
        ro = ro.display()
    );
    let output = Command::new("unshare")
        .args(["--mount", "--map-root-user", "sh", "-c", &script])
        .arg(std::env::current_exe().expect("test binary"))
        .env("ENGRAM_STORE_TEST_RO_PATH", ro.join("s.engram"))
        .output()
        .expect("unshare");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(fingerprint(&path) == before, "the data file changed");
    assert!(
        !rw.join("s.engram-lock").exists(),
        "no lock file on a read-only mount"
    );
}
