//! Format: a store made by the release that wrote format 1 (`tests/fixtures/format-1.engram`,
//! see its README) is recognized, left untouched, and converts to format 2 with everything it
//! held.

use std::path::{Path, PathBuf};

use engram_graph::{Engram, Error, FORMAT_VERSION, MemoryId, Options};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// A copy of the format-1 fixture in a temporary directory: opening a store may write to it.
fn format_1_copy() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("format-1.engram");
    std::fs::copy(fixture("format-1.engram"), &path).expect("copy the fixture");
    (dir, path)
}

#[test]
fn opening_a_format_1_store_names_it_and_changes_nothing() {
    let (_dir, path) = format_1_copy();
    for read_only in [false, true] {
        let options = Options {
            read_only,
            ..Options::default()
        };
        let err = Engram::open(&path, options).expect_err("format 1");
        assert!(matches!(err, Error::FormatOne { .. }), "{err}");
        assert!(err.to_string().contains("format 1"), "{err}");
    }
    assert_eq!(FORMAT_VERSION, 2);
    let original = std::fs::read(fixture("format-1.engram")).expect("read");
    assert_eq!(std::fs::read(&path).expect("read"), original, "untouched");
    let names: Vec<_> = std::fs::read_dir(path.parent().expect("dir"))
        .expect("list")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(names.len(), 1, "no lock file beside it: {names:?}");
}

#[test]
fn the_format_1_fixture_converts_with_everything_it_was_given() {
    let (dir, path) = format_1_copy();
    let original = std::fs::read(&path).expect("read");
    let converted = dir.path().join("format-2.engram");
    let engram = Engram::migrate_format_1(&path, &converted, Options::default()).expect("migrate");
    assert_eq!(
        std::fs::read(&path).expect("read"),
        original,
        "the old store is untouched"
    );
    drop(engram);
    let engram = Engram::open(&converted, Options::default()).expect("open format 2");
    assert_eq!(engram.dimension(), 64);
    assert_eq!(
        engram
            .property("engram.embedder")
            .expect("property")
            .as_deref(),
        Some("hash-v1 dim=64")
    );
    let snapshot = engram.snapshot();
    assert_eq!(
        snapshot.next_id(),
        MemoryId::new(5),
        "memory 4 was forgotten"
    );
    let memories: Vec<_> = snapshot.memories().collect();
    let summary: Vec<(u64, Option<&str>, f32)> = memories
        .iter()
        .map(|m| (m.id.get(), m.content.as_deref(), m.strength))
        .collect();
    assert_eq!(
        summary,
        [
            (1, Some("a big cat sleeps in the sun"), 0.4),
            (2, Some("the lion is a big cat"), 0.85),
            (3, Some("dogs bark at night"), 1.0),
        ]
    );
    // The reinforcement moved memory 2's last access after its creation.
    assert!(memories[1].last_access >= memories[1].created_at);
    let links = |id: u64| -> Vec<(u64, f32)> {
        snapshot
            .associations_from(MemoryId::new(id))
            .iter()
            .map(|a| (a.to.get(), a.weight))
            .collect()
    };
    assert_eq!(links(1), [(2, 0.8)]);
    assert_eq!(links(2), [(1, 0.8)]);
    assert_eq!(links(3), [(1, -0.25)]);
    assert_eq!(snapshot.association_count(), 3);
    // Ids are never reused: the next memory gets 5, as it would have in format 1.
    let next = engram
        .remember(engram_graph::NewMemory::new(vec![1.0; 64]))
        .expect("remember");
    assert_eq!(next, MemoryId::new(5));
    let err = Engram::migrate_format_1(&path, &converted, Options::default())
        .expect_err("the target exists");
    assert!(matches!(err, Error::AlreadyExists { .. }), "{err}");
}
