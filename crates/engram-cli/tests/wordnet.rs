//! End to end on real data: import the WordNet 3.0 database (Debian's `wordnet-base`, or
//! `ENGRAM_WORDNET_DIR`) and recall cues whose right answers WordNet itself gives: a cue
//! describing a lion finds `lion` by similarity and its hypernym `big cat` by spreading.
//!
//! Runs in release builds (a debug build takes minutes to import 117k synsets):
//! `cargo test --release -p engram-graph-cli --test wordnet`. Without the files it is skipped with a
//! message, except under CI (`CI` set), where a missing database is a failure.

mod common;

use std::path::PathBuf;

use common::Sandbox;

fn wordnet_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("ENGRAM_WORDNET_DIR")
        .map_or_else(|| PathBuf::from("/usr/share/wordnet"), PathBuf::from);
    if dir.join("data.noun").is_file() {
        return Some(dir);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI must install the WordNet database (apt-get install wordnet-base); {} has none",
        dir.display()
    );
    eprintln!(
        "SKIPPED: no WordNet database at {} (apt-get install wordnet-base, or set ENGRAM_WORDNET_DIR)",
        dir.display()
    );
    None
}

/// (rank, seed, text) of each result.
fn recall(sandbox: &Sandbox, cue: &str) -> Vec<(u64, bool, String)> {
    let recalled = sandbox.json(&["recall", cue]);
    recalled["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| {
            (
                r["rank"].as_u64().expect("rank"),
                r["seed"].as_bool().expect("seed"),
                r["text"].as_str().expect("text").to_owned(),
            )
        })
        .collect()
}

fn find<'a>(results: &'a [(u64, bool, String)], prefix: &str) -> &'a (u64, bool, String) {
    results
        .iter()
        .find(|(_, _, text)| text.starts_with(prefix))
        .unwrap_or_else(|| panic!("{prefix:?} not recalled: {results:#?}"))
}

#[test]
#[cfg_attr(
    debug_assertions,
    ignore = "slow in debug builds: run `cargo test --release -p engram-graph-cli --test wordnet`"
)]
fn wordnet_imports_and_recalls_lion_by_similarity_and_big_cat_by_spreading() {
    let Some(dir) = wordnet_dir() else { return };
    let sandbox = Sandbox::new();
    sandbox.init(384);
    let dir = dir.to_string_lossy().into_owned();
    let summary = sandbox.json(&["import", &dir]);
    assert_eq!(summary["memories"], 117_659, "every synset of WordNet 3.0");
    let associations = summary["associations"].as_u64().expect("count");
    assert!(associations > 300_000, "{associations}");
    let stats = sandbox.json(&["stats"]);
    assert_eq!(stats["associations"].as_u64(), Some(associations));

    let lion = recall(&sandbox, "tawny feline with a shaggy mane");
    let (rank, seed, _) = find(&lion, "lion, king of beasts, Panthera leo:");
    assert!(*rank <= 3 && *seed, "lion: rank {rank}, seed {seed}");
    let (rank, seed, _) = find(&lion, "big cat, cat:");
    assert!(*rank <= 5 && !*seed, "big cat: rank {rank}, seed {seed}");

    let tea = recall(&sandbox, "hot drink made by steeping dried leaves in water");
    let (rank, seed, _) = find(&tea, "tea:");
    assert!(*rank <= 3 && *seed, "tea: rank {rank}, seed {seed}");
    let (rank, seed, _) = find(&tea, "beverage, drink,");
    assert!(*rank <= 5 && !*seed, "beverage: rank {rank}, seed {seed}");

    // Every backend and CPU level in this binary ranks the same on real data.
    let compared = sandbox.json(&[
        "recall",
        "tawny feline with a shaggy mane",
        "--compare-backends",
    ]);
    for row in compared["backends"].as_array().expect("backends") {
        assert_eq!(row["same_ranking_as_rust"], true, "{row}");
    }
}
