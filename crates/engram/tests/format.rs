//! Format: a store made by the release that wrote format 1 (`tests/fixtures/format-1.engram`,
//! see its README) is read exactly as it was written. When the format changes, this is the
//! test that shows what a user's existing store becomes.

use std::path::{Path, PathBuf};

use engram::{Engram, MemoryId, Options};

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
fn the_format_1_fixture_opens_with_everything_it_was_given() {
    let (_dir, path) = format_1_copy();
    let engram = Engram::open(&path, Options::default()).expect("open format 1");
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
}
