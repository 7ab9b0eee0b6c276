//! Every command run as the built binary: what it prints, in text and in JSON.

mod common;

use common::{Sandbox, ids};

#[test]
fn help_describes_every_command() {
    let sandbox = Sandbox::new();
    let help = sandbox.ok(&["--help"]);
    for command in [
        "init",
        "remember",
        "associate",
        "dissociate",
        "forget",
        "show",
        "recall",
        "import",
        "export",
        "stats",
        "info",
        "bench",
        "set-precision",
    ] {
        assert!(help.contains(command), "{command} missing from --help");
        let sub = sandbox.ok(&[command, "--help"]);
        assert!(
            sub.contains("--db") && sub.contains("--json"),
            "{command} --help: {sub}"
        );
    }
    assert!(sandbox.ok(&["recall", "--help"]).contains("--half-life"));
}

#[test]
fn init_records_dimension_and_embedder_and_refuses_to_overwrite() {
    let sandbox = Sandbox::new();
    let init = sandbox.json(&["init", "--dim", "64"]);
    assert_eq!(init["dim"], 64);
    assert_eq!(init["embedder"], "hash-v1 dim=64");
    assert!(sandbox.db.exists());
    let err = sandbox.fails(&["init"]);
    assert!(err.contains("already exists"), "{err}");
    let stats = sandbox.json(&["stats"]);
    assert_eq!(stats["dimension"], 64);
    assert_eq!(stats["memories"], 0);
    assert_eq!(stats["embedder"], "hash-v1 dim=64");
}

#[test]
fn remember_text_or_vectors_with_strength_and_time_and_show_them() {
    let sandbox = Sandbox::new();
    sandbox.init(8);
    assert_eq!(sandbox.ok(&["remember", "the cat sat on the mat"]), "1\n");
    let second = sandbox.json(&[
        "remember",
        "given vector",
        "--vector",
        "[1, 0, 0, 0, 0, 0, 0, 0.5]",
        "--strength",
        "0.25",
        "--at",
        "2023-11-14T22:13:20Z",
    ]);
    assert_eq!(second["id"], 2);
    std::fs::write(sandbox.path("v.json"), "[0,1,0,0,0,0,0,0]").expect("write");
    let third = sandbox.json(&["remember", "--vector-file", "v.json", "--at", "1700000000"]);
    assert_eq!(third["id"], 3);

    let shown = sandbox.json(&["show", "2", "--embedding"]);
    assert_eq!(shown["text"], "given vector");
    assert_eq!(shown["strength"], 0.25);
    assert_eq!(shown["created"], 1_700_000_000);
    assert_eq!(shown["time"], 1_700_000_000);
    let embedding: Vec<f64> = serde_json::from_value(shown["embedding"].clone()).expect("floats");
    assert_eq!(embedding, [1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.5]);
    let no_text = sandbox.json(&["show", "3"]);
    assert_eq!(no_text["text"], serde_json::Value::Null);
    // Times before 1970 are dates too, back to year 0000.
    sandbox.ok(&["remember", "before 1970", "--at", "-86400"]);
    assert!(sandbox.ok(&["show", "4"]).contains("1969-12-31T00:00:00Z"));
    sandbox.ok(&["remember", "long ago", "--at", "0000-01-01T00:00:00Z"]);
    assert_eq!(sandbox.json(&["show", "5"])["time"], engram_graph::MIN_TIME);
    let text = sandbox.ok(&["show", "2"]);
    assert!(
        text.contains("2023-11-14T22:13:20Z") && text.contains("given vector"),
        "{text}"
    );
    // The text embedder's vector is unit length.
    let first = sandbox.json(&["show", "1", "--embedding"]);
    let norm: f64 = first["embedding"]
        .as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number").powi(2))
        .sum();
    assert!((norm - 1.0).abs() < 1e-5, "{norm}");
}

/// A small store: memory 1 is about cats, 2 about lions (lexically far from the cue),
/// 3 about tea; 1 → 2 is associated.
fn small_store(sandbox: &Sandbox) {
    sandbox.init(256);
    for text in [
        "small domestic cat that purrs",
        "Panthera leo of the savanna",
        "hot beverage brewed from dried leaves",
    ] {
        sandbox.ok(&["remember", text, "--at", "1700000000"]);
    }
    // Weak enough that the cat, re-sending activation each hop, stays above the lion.
    sandbox.ok(&["associate", "1", "2", "--weight", "0.3"]);
}

#[test]
fn recall_finds_by_similarity_and_reaches_associations_by_spreading() {
    let sandbox = Sandbox::new();
    small_store(&sandbox);
    let at = ["--at", "1700000000"];
    let recalled = sandbox.json(&["recall", "a domestic cat", at[0], at[1]]);
    let results = recalled["results"].as_array().expect("results");
    assert_eq!(results[0]["id"], 1);
    assert_eq!(results[0]["seed"], true);
    assert_eq!(results[0]["rank"], 1);
    let lion = results
        .iter()
        .find(|r| r["id"] == 2)
        .expect("lion reached by spreading");
    assert_eq!(lion["seed"], false);
    assert!(lion["activation"].as_f64() > Some(0.0));
    assert!(
        lion["text"]
            .as_str()
            .is_some_and(|t| t.contains("Panthera"))
    );
    assert_eq!(recalled["memories"], 3);
    assert!(recalled["kernels"].as_str().is_some());
    // Without hops, only what is similar comes back.
    let seeds_only = sandbox.json(&["recall", "a domestic cat", "--hops", "0", at[0], at[1]]);
    assert!(!ids(&seeds_only).contains(&2));
    assert_eq!(
        ids(&sandbox.json(&["recall", "domestic cat", "--limit", "1", at[0], at[1]])),
        [1]
    );
    // Three years later, with the default one-week half-life, everything has decayed to 0.
    assert_eq!(
        ids(&sandbox.json(&["recall", "domestic cat", "--at", "1800000000"])),
        [0; 0]
    );
    // Text output: a header, the rows, and what ran it.
    let table = sandbox.ok(&["recall", "a domestic cat", at[0], at[1]]);
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].contains("score") && lines[0].contains("similarity"));
    assert!(lines[1].contains("seed") && lines[1].contains("small domestic cat"));
    assert!(lines.last().is_some_and(|l| l.contains("of 3 memories in")));
    let narrow = sandbox.ok(&["recall", "a domestic cat", "--width", "8", at[0], at[1]]);
    assert!(narrow.contains("small d…"), "{narrow}");
}

#[test]
fn retention_decays_with_the_half_life_and_reinforcing_resets_it() {
    let sandbox = Sandbox::new();
    small_store(&sandbox);
    let week_later = (1_700_000_000 + 7 * 86_400).to_string();
    let r = sandbox.json(&[
        "recall",
        "domestic cat",
        "--at",
        &week_later,
        "--half-life",
        "7d",
    ]);
    let retention = r["results"][0]["retention"].as_f64().expect("retention");
    assert!((retention - 0.5).abs() < 1e-3, "{retention}");
    let power = sandbox.json(&[
        "recall",
        "domestic cat",
        "--at",
        &week_later,
        "--power-law",
        "7d,1",
    ]);
    let retention = power["results"][0]["retention"]
        .as_f64()
        .expect("retention");
    assert!((retention - 0.5).abs() < 1e-3, "{retention}");
    sandbox.ok(&["remember", "a faint memory of a cat", "--strength", "0.5"]);
    sandbox.ok(&[
        "recall",
        "faint memory",
        "--limit",
        "1",
        "--reinforce",
        "0.5",
    ]);
    let shown = sandbox.json(&["show", "4"]);
    assert_eq!(shown["strength"], 0.75);
}

#[test]
fn associate_dissociate_and_forget_change_what_recall_reaches() {
    let sandbox = Sandbox::new();
    small_store(&sandbox);
    let both = sandbox.json(&["associate", "3", "1", "--weight", "-0.5", "--both"]);
    assert_eq!(both["both"], true);
    // `show --json` leaves out an empty list, as `export` does.
    let links = |id: &str| match sandbox.json(&["show", id])["links"].clone() {
        serde_json::Value::Null => serde_json::json!([]),
        links => links,
    };
    assert_eq!(
        links("1"),
        serde_json::json!([{"to": 2, "weight": 0.3}, {"to": 3, "weight": -0.5}])
    );
    assert_eq!(links("3"), serde_json::json!([{"to": 1, "weight": -0.5}]));
    assert!(sandbox.ok(&["show", "1"]).contains("→ 2"));
    sandbox.ok(&["dissociate", "1", "3", "--both"]);
    assert_eq!(links("3"), serde_json::json!([]));
    assert_eq!(sandbox.json(&["stats"])["associations"], 1);
    let forgot = sandbox.json(&["forget", "2", "3", "2"]);
    assert_eq!(forgot["forgotten"], serde_json::json!([2, 3]));
    assert_eq!(links("1"), serde_json::json!([]));
    assert_eq!(
        ids(&sandbox.json(&["recall", "Panthera leo savanna"])),
        [1].repeat(0)
    );
    let stats = sandbox.json(&["stats"]);
    assert_eq!(
        (stats["memories"].as_u64(), stats["associations"].as_u64()),
        (Some(1), Some(0))
    );
}

#[test]
fn stats_summarizes_degrees_and_size() {
    let sandbox = Sandbox::new();
    small_store(&sandbox);
    sandbox.ok(&["associate", "1", "3"]);
    // Opening a store may extend its file; stats reports the size before it opened it.
    let file = std::fs::metadata(&sandbox.db).expect("metadata").len();
    let stats = sandbox.json(&["stats"]);
    assert_eq!(stats["associations"], 2);
    let degrees = &stats["out_degree"];
    assert_eq!(degrees["max"], 2);
    assert_eq!(degrees["min"], 0);
    assert_eq!(degrees["median"], 0);
    assert_eq!(degrees["without_associations"], 2);
    assert_eq!(stats["file_bytes"].as_u64(), Some(file));
    assert!(sandbox.ok(&["stats"]).contains("out-degree"));
}

#[test]
fn info_names_the_kernels_and_follows_the_environment() {
    let sandbox = Sandbox::new();
    let info = sandbox.json(&["info"]);
    assert_eq!(info["version"], env!("CARGO_PKG_VERSION"));
    let available = info["available"].as_array().expect("available");
    assert!(
        available
            .iter()
            .any(|k| k.as_str().is_some_and(|k| k.starts_with("rust ")))
    );
    assert!(
        info["how_to_switch"]
            .as_str()
            .is_some_and(|h| h.contains("ENGRAM_KERNELS"))
    );
    // No store is not an error for info: it says so.
    assert!(
        info["store"]["error"]
            .as_str()
            .is_some_and(|e| e.contains("no store"))
    );
    let forced = sandbox
        .engram(&["--json", "info"])
        .env("ENGRAM_KERNELS", "rust")
        .env("ENGRAM_KERNELS_LEVEL", "baseline")
        .output()
        .expect("run");
    let forced: serde_json::Value = serde_json::from_slice(&forced.stdout).expect("json");
    assert_eq!(forced["kernels"]["backend"], "rust");
    assert_eq!(forced["kernels"]["level"], "baseline");
    let text = sandbox.ok(&["info"]);
    assert!(
        text.contains("kernels") && text.contains("switch"),
        "{text}"
    );
}

#[test]
fn compare_backends_and_bench_run_every_backend_and_agree() {
    let sandbox = Sandbox::new();
    small_store(&sandbox);
    let available = sandbox.json(&["info"])["available"]
        .as_array()
        .expect("available")
        .len();
    let compared = sandbox.json(&["recall", "domestic cat", "--compare-backends"]);
    let rows = compared["backends"].as_array().expect("backends");
    assert_eq!(rows.len(), available);
    assert_eq!(rows[0]["backend"], "rust");
    for row in rows {
        assert_eq!(row["same_ranking_as_rust"], true, "{row}");
        assert!(row["max_score_difference"].as_f64() < Some(1e-5), "{row}");
        assert!(row["median_ms"].as_f64() > Some(0.0));
    }
    assert!(
        sandbox
            .ok(&["recall", "cat", "--compare-backends"])
            .contains("same ranking")
    );
    let bench = sandbox.json(&["bench", "--quick"]);
    let rows = bench["results"].as_array().expect("results");
    // Every backend and level, plus the best one on 2 threads.
    assert_eq!(rows.len(), available + 1);
    assert_eq!(rows.last().map(|r| r["threads"].clone()), Some(2.into()));
    assert_eq!(bench["recalls"], 5);
    assert!(
        sandbox
            .ok(&["bench", "--quick", "--threads", "1"])
            .contains("p50")
    );
}

#[test]
fn precision_is_chosen_at_init_shown_by_stats_compared_and_changed() {
    let sandbox = Sandbox::new();
    let init = sandbox.json(&["init", "--dim", "64", "--precision", "int8"]);
    assert_eq!(init["precision"], "int8");
    // 300 memories in one batch: sealed into a segment, which holds their codes.
    let source = sandbox.path("memories.jsonl");
    let topics = ["cats", "tea", "rivers", "violins", "granite", "comets"];
    let lines: Vec<String> = (0..300)
        .map(|i| {
            let topic = topics[i % topics.len()];
            format!(r#"{{"text": "note {i} about {topic} and item {}"}}"#, i / 7)
        })
        .collect();
    std::fs::write(&source, lines.join("\n")).expect("write the source");
    sandbox.ok(&["import", &source.display().to_string()]);
    let stats = sandbox.json(&["stats"]);
    assert_eq!(stats["precision"], "int8");
    assert_eq!(stats["scan_bytes_per_memory"], 64 + 4);
    assert_eq!(stats["code_bytes"], 300 * 68);
    assert!(sandbox.ok(&["stats"]).contains("precision     int8"));

    // Every backend at f32 and at int8: the same results as the Rust reference at f32.
    let available = sandbox.json(&["info"])["available"]
        .as_array()
        .expect("available")
        .len();
    let compared = sandbox.json(&["recall", "notes about tea", "--compare-backends"]);
    let rows = compared["backends"].as_array().expect("backends");
    assert_eq!(rows.len(), 2 * available);
    assert_eq!(rows[0]["precision"], "f32");
    assert_eq!(rows[available]["precision"], "int8");
    for row in rows {
        assert_eq!(row["same_ranking_as_rust"], true, "{row}");
        assert_eq!(row["seed_recall_vs_f32"], 1.0, "{row}");
    }
    let table = sandbox.ok(&["recall", "tea", "--compare-backends"]);
    assert!(
        table.contains("seed recall") && table.contains("int8"),
        "{table}"
    );

    // A precision the store does not keep is refused, with what to do.
    let err = sandbox.fails(&["recall", "tea", "--precision", "f16"]);
    assert!(
        err.contains("keeps int8 codes") && err.contains("set-precision"),
        "{err}"
    );
    let at_f32 = sandbox.json(&["recall", "tea", "--precision", "f32", "--at", "1700000000"]);
    let coded = sandbox.json(&["recall", "tea", "--at", "1700000000"]);
    assert_eq!(at_f32["results"], coded["results"]);
    let err = sandbox.fails(&["recall", "tea", "--candidates", "3"]);
    assert!(err.contains("candidates"), "{err}");

    let changed = sandbox.json(&["set-precision", "f16"]);
    assert_eq!(
        (changed["from"].as_str(), changed["precision"].as_str()),
        (Some("int8"), Some("f16"))
    );
    assert_eq!(sandbox.json(&["stats"])["precision"], "f16");
    let coded = sandbox.json(&["recall", "tea", "--precision", "f16", "--at", "1700000000"]);
    assert_eq!(at_f32["results"], coded["results"]);
    sandbox.ok(&["set-precision", "f32"]);
    let stats = sandbox.json(&["stats"]);
    assert_eq!(
        (stats["precision"].as_str(), stats["code_bytes"].as_u64()),
        (Some("f32"), Some(0))
    );
    let compared = sandbox.json(&["recall", "tea", "--compare-backends"]);
    assert_eq!(
        compared["backends"].as_array().map(Vec::len),
        Some(available)
    );
}
