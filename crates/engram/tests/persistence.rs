//! Persistence: reopening gives the same store and the same recalls; wrong dimension, newer
//! format, damaged or foreign files give clear errors and never a panic.

mod common;

use std::path::Path;

use common::{NOW, Rng, file_names, memory, random_graph};
use engram_graph::{Engram, Error, FORMAT_VERSION, MemoryId, NewMemory, Options, RecallParams};

fn params() -> RecallParams {
    RecallParams {
        now: Some(NOW),
        limit: 100,
        ..RecallParams::default()
    }
}

fn recalls(engram: &Engram, seed: u64) -> Vec<Vec<engram_graph::Recalled>> {
    let mut rng = Rng(seed);
    (0..10)
        .map(|_| {
            engram
                .recall(&rng.vector(engram.dimension()), &params())
                .expect("recall")
        })
        .collect()
}

/// `content` answers what `get` does, for every id up to past the last, forgotten included.
fn contents_are_the_memories(snapshot: &engram_graph::Snapshot) {
    let mut with_content = 0;
    for id in 0..snapshot.next_id().get() + 2 {
        let id = MemoryId::new(id);
        let content = snapshot.content(id);
        assert_eq!(content, snapshot.get(id).and_then(|m| m.content), "{id:?}");
        with_content += usize::from(content.is_some());
    }
    assert!(with_content > 0, "some memories have content");
}

#[test]
fn reopening_gives_exactly_the_same_store_and_recalls() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("store.engram");
    let (before, memories, edges);
    {
        let engram = Engram::create(&path, 24, Options::default()).expect("create");
        let ids = random_graph(&engram, 500, 5, 1);
        engram.forget(ids[10]).expect("forget");
        engram.dissociate(ids[0], ids[1]).expect("dissociate");
        engram
            .remember(
                NewMemory::new(vec![0.5; 24])
                    .with_content("ünïcödé ✓")
                    .created_at(NOW),
            )
            .expect("content");
        assert!(
            engram.snapshot().pending_changes() > 0,
            "closing with a delta"
        );
        before = recalls(&engram, 3);
        let snapshot = engram.snapshot();
        contents_are_the_memories(&snapshot);
        memories = snapshot.memories().collect::<Vec<_>>();
        edges = snapshot
            .ids()
            .flat_map(|id| snapshot.associations_from(id))
            .collect::<Vec<_>>();
    }
    let engram = Engram::open(&path, Options::default()).expect("reopen");
    assert_eq!(engram.dimension(), 24);
    assert_eq!(recalls(&engram, 3), before);
    let snapshot = engram.snapshot();
    contents_are_the_memories(&snapshot);
    assert_eq!(snapshot.memories().collect::<Vec<_>>(), memories);
    let reopened_edges: Vec<_> = snapshot
        .ids()
        .flat_map(|id| snapshot.associations_from(id))
        .collect();
    assert_eq!(reopened_edges, edges);
    assert_eq!(
        memories.last().and_then(|m| m.content.as_deref()),
        Some("ünïcödé ✓")
    );
    // Ids keep increasing after a reopen, even past forgotten ones.
    let next = engram.remember(memory(vec![1.0; 24])).expect("remember");
    assert_eq!(
        next,
        MemoryId::new(memories.last().expect("some").id.get() + 1)
    );
}

#[test]
fn properties_are_durable_and_separate_from_memories() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("store.engram");
    {
        let engram = Engram::create(&path, 4, Options::default()).expect("create");
        // A store created before properties existed has none, and asking is not an error.
        assert_eq!(engram.properties().expect("properties"), vec![]);
        assert_eq!(engram.property("embedder").expect("property"), None);
        engram.set_property("embedder", Some("hash")).expect("set");
        engram.set_property("b", Some("2")).expect("set");
        engram.set_property("b", Some("3")).expect("overwrite");
        engram.set_property("gone", Some("x")).expect("set");
        engram.set_property("gone", None).expect("remove");
        assert!(matches!(
            engram.set_property("", Some("x")),
            Err(Error::EmptyPropertyKey)
        ));
    }
    let engram = Engram::open(&path, Options::default()).expect("open");
    assert_eq!(
        engram.properties().expect("properties"),
        vec![("b".into(), "3".into()), ("embedder".into(), "hash".into())]
    );
    assert_eq!(
        engram.property("embedder").expect("property").as_deref(),
        Some("hash")
    );
    assert_eq!(engram.property("gone").expect("property"), None);
    assert!(engram.snapshot().is_empty());
}

#[test]
fn ids_are_never_reused_after_forgetting_the_newest() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("store.engram");
    let last = {
        let engram = Engram::create(&path, 2, Options::default()).expect("create");
        let id = engram.remember(memory(vec![1.0, 0.0])).expect("remember");
        engram.forget(id).expect("forget");
        id
    };
    let engram = Engram::open(&path, Options::default()).expect("reopen");
    assert!(engram.snapshot().is_empty());
    let next = engram.remember(memory(vec![1.0, 0.0])).expect("remember");
    assert!(next > last);
}

#[test]
fn create_open_and_dimension_errors_are_clear() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("store.engram");
    let missing = Engram::open(&path, Options::default()).expect_err("missing");
    assert!(matches!(missing, Error::NotFound { .. }), "{missing}");
    drop(Engram::create(&path, 8, Options::default()).expect("create"));
    let exists = Engram::create(&path, 8, Options::default()).expect_err("exists");
    assert!(matches!(exists, Error::AlreadyExists { .. }), "{exists}");
    let wrong = Engram::open_or_create(&path, 16, Options::default()).expect_err("dimension");
    assert!(
        matches!(
            wrong,
            Error::DimensionMismatch {
                expected: 8,
                found: 16
            }
        ),
        "{wrong}"
    );
    assert!(Engram::open_or_create(&path, 8, Options::default()).is_ok());
    let zero = Engram::create(dir.path().join("zero"), 0, Options::default()).expect_err("dim 0");
    assert!(matches!(
        zero,
        Error::InvalidParameter {
            name: "dimension",
            ..
        }
    ));
}

#[test]
fn two_handles_on_one_store_see_each_others_writes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("store.engram");
    let first = Engram::create(&path, 4, Options::default()).expect("create");
    let second = Engram::open(&path, Options::default()).expect("a second handle");
    let reader = Engram::open(
        &path,
        Options {
            read_only: true,
            ..Options::default()
        },
    );
    // One process shares one environment per file: read-write already, so read-only is too.
    let reader = reader.expect("a read-only handle");
    let a = first
        .remember(NewMemory::new(vec![1.0, 0.0, 0.0, 0.0]))
        .expect("a");
    let b = second
        .remember(NewMemory::new(vec![0.0, 1.0, 0.0, 0.0]))
        .expect("b");
    assert_eq!(
        (a.get(), b.get()),
        (1, 2),
        "ids are shared, never given twice"
    );
    second.associate(b, a, 0.5).expect("associate");
    for engram in [&first, &second, &reader] {
        let snapshot = engram.snapshot();
        assert_eq!((snapshot.len(), snapshot.association_count()), (2, 1));
    }
    // Sharing the environment does not make the read-only handle a writer.
    assert!(matches!(
        reader.remember(NewMemory::new(vec![0.0, 0.0, 1.0, 0.0])),
        Err(Error::ReadOnly)
    ));
    assert!(matches!(reader.compact(), Err(Error::ReadOnly)));
    assert!(matches!(
        reader.set_property("k", Some("v")),
        Err(Error::ReadOnly)
    ));
    assert_eq!(first.snapshot().len(), 2);
}

#[test]
fn create_records_its_properties_with_the_metadata_and_never_replaces_a_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("store.engram");
    let props = [("engram.embedder", "hash-v1 dim=4"), ("owner", "me")];
    drop(Engram::create_with_properties(&path, 4, &props, Options::default()).expect("create"));
    let engram = Engram::open(&path, Options::default()).expect("open");
    assert_eq!(
        engram.properties().expect("properties"),
        vec![
            ("engram.embedder".into(), "hash-v1 dim=4".into()),
            ("owner".into(), "me".into())
        ]
    );
    drop(engram);
    // Creating the store left nothing else in the directory but LMDB's lock file.
    assert_eq!(
        file_names(dir.path()),
        ["store.engram", "store.engram-lock"]
    );

    let before = std::fs::read(&path).expect("read");
    let err = Engram::create(&path, 4, Options::default()).expect_err("exists");
    assert!(matches!(err, Error::AlreadyExists { .. }), "{err}");
    assert_eq!(std::fs::read(&path).expect("read"), before, "untouched");

    // Refused before any file is made: nothing appears.
    let other = dir.path().join("other.engram");
    let err = Engram::create_with_properties(&other, 4, &[("", "x")], Options::default())
        .expect_err("empty key");
    assert!(matches!(err, Error::EmptyPropertyKey), "{err}");
    let err = Engram::create(
        dir.path().join("missing/dir/s.engram"),
        4,
        Options::default(),
    )
    .expect_err("no directory");
    assert!(
        matches!(&err, Error::Io(io) if io.kind() == std::io::ErrorKind::NotFound),
        "{err}"
    );
    assert_eq!(
        file_names(dir.path()),
        ["store.engram", "store.engram-lock"]
    );
}

/// Rewrites the metadata value `key` from `old` to `new` in the file's bytes, as a newer
/// release or damage would (LMDB keeps a key's value right after it in its leaf page).
fn set_meta(path: &Path, key: &str, old: u64, new: u64) {
    let mut bytes = std::fs::read(path).expect("read");
    let mut pattern = key.as_bytes().to_vec();
    pattern.extend_from_slice(&old.to_le_bytes());
    let at = bytes
        .windows(pattern.len())
        .position(|w| w == pattern)
        .expect("the metadata entry");
    bytes[at + key.len()..at + pattern.len()].copy_from_slice(&new.to_le_bytes());
    std::fs::write(path, bytes).expect("write");
}

#[test]
fn a_newer_format_is_refused_with_the_versions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("store.engram");
    drop(Engram::create(&path, 4, Options::default()).expect("create"));
    set_meta(&path, "format", FORMAT_VERSION, FORMAT_VERSION + 1);
    let err = Engram::open(&path, Options::default()).expect_err("newer");
    assert!(
        matches!(err, Error::FormatTooNew { found, supported } if found == FORMAT_VERSION + 1 && supported == FORMAT_VERSION),
        "{err}"
    );
    assert!(err.to_string().contains("upgrade"), "{err}");
}

#[test]
fn a_foreign_redb_file_is_not_a_store_and_bad_metadata_is_corrupt() {
    // A redb file that is not a format-1 store is named as what it is not.
    let dir = tempfile::tempdir().expect("tempdir");
    let foreign = dir.path().join("other.redb");
    drop(redb::Database::create(&foreign).expect("plain redb"));
    let err = Engram::open(&foreign, Options::default()).expect_err("foreign");
    assert!(matches!(err, Error::NotAStore(_)), "{err}");

    let path = dir.path().join("store.engram");
    drop(Engram::create(&path, 4, Options::default()).expect("create"));
    set_meta(&path, "dimension", 4, 0);
    let err = Engram::open(&path, Options::default()).expect_err("dimension 0");
    assert!(matches!(err, Error::Corrupt(_)), "{err}");
}

#[test]
fn a_file_that_is_not_a_database_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("notes.txt");
    std::fs::write(
        &path,
        "these are not the bytes you are looking for\n".repeat(100),
    )
    .expect("write");
    let err = Engram::open(&path, Options::default()).expect_err("text");
    assert!(matches!(err, Error::NotAStore(_)), "{err}");
    let empty = dir.path().join("empty.engram");
    std::fs::write(&empty, "").expect("write");
    let err = Engram::open(&empty, Options::default()).expect_err("empty");
    assert!(matches!(err, Error::NotAStore(_)), "{err}");
    assert_eq!(std::fs::read(&empty).expect("read"), b"", "left as it was");
}

#[test]
fn damaged_files_give_errors_never_panics() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("store.engram");
    {
        let engram = Engram::create(&path, 16, Options::default()).expect("create");
        random_graph(&engram, 300, 4, 5);
    }
    let pristine = std::fs::read(&path).expect("read");
    let expected: Vec<_> = Engram::open(&path, Options::default())
        .expect("pristine")
        .snapshot()
        .memories()
        .collect();
    let mut silently_changed = 0;
    // Damage where the data is: the file is mostly free (zero) pages.
    let used: Vec<usize> = (0..pristine.len()).filter(|&i| pristine[i] != 0).collect();
    let mut rng = Rng(99);
    let (mut opened, mut refused) = (0, 0);
    for trial in 0..300 {
        let mut bytes = pristine.clone();
        // Overwrite a run of bytes somewhere (header included for the first trials).
        let start = if trial < 5 {
            trial * 64
        } else {
            used[rng.below(used.len() as u64) as usize]
        };
        let len = 1 + rng.below(64) as usize;
        for b in bytes.iter_mut().skip(start).take(len) {
            *b = rng.next_u64() as u8;
        }
        let damaged = dir.path().join(format!("damaged-{trial}.engram"));
        std::fs::write(&damaged, &bytes).expect("write");
        let outcome = std::panic::catch_unwind(|| {
            Engram::open(&damaged, Options::default()).map(|e| {
                // If it opened, it must also be usable.
                let _ = e.recall(&[1.0; 16], &params());
                e.snapshot().memories().collect::<Vec<_>>() != expected
            })
        });
        match outcome {
            Err(_) => panic!("trial {trial}: opening a damaged file panicked"),
            Ok(Ok(changed)) => {
                opened += 1;
                silently_changed += usize::from(changed);
            }
            Ok(Err(e)) => {
                refused += 1;
                assert!(!e.to_string().is_empty());
            }
        }
    }
    eprintln!(
        "damaged files: {opened} opened ({silently_changed} changed), {refused} refused, file {} bytes",
        pristine.len()
    );
    // LMDB keeps no checksums: damage to a value (an embedding, a time) opens as a changed
    // value. What must hold is that no damage panics or faults (above), and that damage to
    // the structure is refused: some of it is.
    assert!(refused > 0, "no damage was detected");
}
