//! The `minilm-l6-v2` embedder through the command and the server. With the `minilm` feature
//! (and the model: `export ENGRAM_MODEL_DIR="$(scripts/install-model)"`, as scripts/test does):
//! stores and spaces made with it, texts embedded alone and in an import's batches, an agent's
//! memories over MCP (the Python SDK, `tests/mcp/meaning.py`), truncation said, a missing or
//! damaged model refused with how to install it. Without the feature: a
//! store that records it still opens and takes vectors, and embedding text says how to build
//! the command that can.

mod common;

use serde_json::{Value, json};

use common::Sandbox;
use common::server::Server;

/// The spec a minilm store records.
const SPEC: &str =
    "minilm-l6-v2 sha256=53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db";

/// Lines of JSON Lines, one record per line.
fn jsonl(records: &[Value]) -> String {
    records.iter().map(|r| format!("{r}\n")).collect()
}

/// Asks `server` for a minilm space, which it must refuse with 500 `embedder_unavailable`
/// and not make; the error's message.
fn refuses_a_minilm_space(server: &Server) -> String {
    let (status, value) = server.json("PUT", "/v1/spaces/m", Some(json!({"embedder": "minilm"})));
    assert_eq!(
        (status, value["error"]["code"].as_str()),
        (500, Some("embedder_unavailable")),
        "{value}"
    );
    assert_eq!(
        server.ok(200, "GET", "/v1/spaces", None),
        json!({"spaces": []})
    );
    value["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[cfg(feature = "minilm")]
mod with_the_model {
    use std::path::PathBuf;

    use engram_text::Embedder;

    use super::*;
    use common::server::{engram_on, ok};

    /// A text of about 400 words: longer than the 256 tokens the model reads.
    fn long_text() -> String {
        "the old lighthouse keeper climbed the spiral stairs every evening to light the lamp "
            .repeat(28)
    }

    fn cosine_distance(a: &[f32], b: &[f32]) -> f64 {
        let dot: f64 = a
            .iter()
            .zip(b)
            .map(|(x, y)| f64::from(*x) * f64::from(*y))
            .sum();
        let norm = |v: &[f32]| v.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
        1.0 - dot / (norm(a) * norm(b))
    }

    /// Every exported memory's text and embedding, in id order.
    fn exported(export: &str) -> Vec<(Option<String>, Vec<f32>)> {
        export
            .lines()
            .map(|line| {
                let record: Value = serde_json::from_str(line).expect("JSON");
                let embedding = record["embedding"]
                    .as_array()
                    .expect("embedding")
                    .iter()
                    .map(|x| x.as_f64().expect("number") as f32)
                    .collect();
                (record["text"].as_str().map(str::to_owned), embedding)
            })
            .collect()
    }

    /// The installed model's directory.
    fn model_dir() -> PathBuf {
        match std::env::var_os("ENGRAM_MODEL_DIR") {
            Some(dir) if !dir.is_empty() => PathBuf::from(dir),
            _ => panic!(
                "these tests need the model: export ENGRAM_MODEL_DIR=\"$(scripts/install-model)\""
            ),
        }
    }

    /// `engram --db DB args...` with the model.
    fn with_model(sandbox: &Sandbox, args: &[&str]) -> std::process::Output {
        sandbox
            .std_command(args)
            .env("ENGRAM_MODEL_DIR", model_dir())
            .output()
            .expect("runs")
    }

    /// The same, without ENGRAM_MODEL_DIR.
    fn without_model(sandbox: &Sandbox, args: &[&str]) -> std::process::Output {
        sandbox
            .std_command(args)
            .env_remove("ENGRAM_MODEL_DIR")
            .output()
            .expect("runs")
    }

    fn json_of(output: std::process::Output) -> Value {
        serde_json::from_str(&ok(output)).expect("JSON")
    }

    fn stderr(output: &std::process::Output) -> String {
        String::from_utf8_lossy(&output.stderr).into_owned()
    }

    #[test]
    fn init_records_the_model_and_its_checksum_and_takes_no_other_dimension() {
        let sandbox = Sandbox::new();
        let created = json_of(with_model(
            &sandbox,
            &["--json", "init", "--embedder", "minilm"],
        ));
        assert_eq!(
            (created["embedder"].as_str(), created["dim"].as_u64()),
            (Some(SPEC), Some(384))
        );
        let stats = json_of(with_model(&sandbox, &["--json", "stats"]));
        assert_eq!(stats["embedder"].as_str(), Some(SPEC));

        let other = Sandbox::new();
        let refused = with_model(&other, &["init", "--embedder", "minilm", "--dim", "100"]);
        let error = common::user_error(&refused, &["init"]);
        assert!(error.contains("384 dimensions, not 100"), "{error}");
        assert!(!other.db.exists(), "no store is made");
    }

    #[test]
    fn remember_and_recall_find_memories_by_meaning() {
        let sandbox = Sandbox::new();
        ok(with_model(&sandbox, &["init", "--embedder", "minilm"]));
        let texts = [
            "the stock market fell sharply on Tuesday",
            "a cat sleeps on the sofa all afternoon",
            "how to bake sourdough bread at home",
            "the train to Paris leaves at nine",
        ];
        for text in texts {
            ok(with_model(&sandbox, &["remember", text]));
        }
        // No word in common with the memory it must find.
        let recalled = json_of(with_model(
            &sandbox,
            &[
                "--json",
                "recall",
                "a feline napping on the couch",
                "--hops",
                "0",
            ],
        ));
        assert_eq!(
            recalled["results"][0]["text"].as_str(),
            Some(texts[1]),
            "{recalled}"
        );
        assert_eq!(common::ids(&recalled)[0], 2);

        // What the store holds is the model's vector of the text.
        let shown = json_of(with_model(
            &sandbox,
            &["--json", "show", "2", "--embedding"],
        ));
        let stored: Vec<f32> = serde_json::from_value(shown["embedding"].clone()).expect("floats");
        let expected = Embedder::minilm(Some(&model_dir()))
            .embed(texts[1])
            .expect("embeds")
            .vector;
        assert!(cosine_distance(&stored, &expected) < 1e-6);
    }

    #[test]
    fn an_agent_recalls_by_meaning_over_mcp() {
        let sandbox = Sandbox::new();
        ok(with_model(&sandbox, &["init", "--embedder", "minilm"]));
        common::mcp_client(&sandbox, "meaning.py", &[&model_dir()]);
        // What the agent stored is the model's vector of its text.
        let shown = json_of(with_model(
            &sandbox,
            &["--json", "show", "2", "--embedding"],
        ));
        let stored: Vec<f32> = serde_json::from_value(shown["embedding"].clone()).expect("floats");
        let expected = Embedder::minilm(Some(&model_dir()))
            .embed("penguins huddle together on the Antarctic ice")
            .expect("embeds")
            .vector;
        assert!(cosine_distance(&stored, &expected) < 1e-6);
    }

    #[test]
    fn a_text_longer_than_the_model_reads_is_embedded_from_its_beginning_and_said_so() {
        let sandbox = Sandbox::new();
        ok(with_model(&sandbox, &["init", "--embedder", "minilm"]));
        let long = long_text();
        let remembered = with_model(&sandbox, &["--json", "remember", &long]);
        let note = "longer than minilm-l6-v2 reads (256 tokens): embedded from the beginning only";
        assert!(
            stderr(&remembered).contains(note),
            "{}",
            stderr(&remembered)
        );
        assert_eq!(json_of(remembered), json!({"id": 1, "truncated": true}));
        let short = with_model(&sandbox, &["--json", "remember", "a short text"]);
        assert!(stderr(&short).is_empty(), "{}", stderr(&short));
        assert_eq!(json_of(short), json!({"id": 2}));
        let cue = with_model(&sandbox, &["recall", &long, "--limit", "1"]);
        assert!(stderr(&cue).contains(note), "{}", stderr(&cue));

        let file = sandbox.path("notes.jsonl");
        let records = [
            json!({"text": "first"}),
            json!({"text": long}),
            json!({"text": "third"}),
            json!({"text": long.to_uppercase()}),
        ];
        std::fs::write(&file, jsonl(&records)).expect("written");
        let file = file.to_str().expect("UTF-8");
        let imported = with_model(&sandbox, &["--json", "import", file]);
        assert!(
            stderr(&imported).contains(&format!("2 texts are {note} (lines 2, 4)")),
            "{}",
            stderr(&imported)
        );
        let summary = json_of(imported);
        assert_eq!(
            (summary["memories"].as_u64(), summary["truncated"].as_u64()),
            (Some(4), Some(2))
        );
    }

    #[test]
    fn an_import_embeds_in_batches_what_each_text_alone_gets() {
        let sandbox = Sandbox::new();
        ok(with_model(&sandbox, &["init", "--embedder", "minilm"]));
        // More texts than one chunk of embedding (256), in batches that split them unevenly,
        // with given embeddings among them that must be stored as they are.
        let given: Vec<f32> = (0..384).map(|i| ((i * 7 % 13) as f32) - 6.0).collect();
        let records: Vec<Value> = (0..300)
            .map(|i| match i % 50 {
                7 => json!({"text": format!("record {i} brings its own vector"), "embedding": given}),
                _ => json!({"text": format!("note {i}: {}", ["a red kite over the hill", "the kettle is boiling", "rain again in the afternoon, heavier than yesterday's"][i % 3])}),
            })
            .collect();
        let file = sandbox.path("many.jsonl");
        std::fs::write(&file, jsonl(&records)).expect("written");
        ok(with_model(
            &sandbox,
            &["import", file.to_str().expect("UTF-8"), "--batch", "170"],
        ));
        let stored = exported(&ok(with_model(&sandbox, &["export"])));
        assert_eq!(stored.len(), records.len());
        let embedder = Embedder::minilm(Some(&model_dir()));
        for (i, ((text, embedding), record)) in stored.iter().zip(&records).enumerate() {
            assert_eq!(text.as_deref(), record["text"].as_str());
            if record.get("embedding").is_some() {
                assert_eq!(embedding, &given, "record {i}");
                continue;
            }
            // Every 10th alone: enough to catch a vector stored under another record.
            if i % 10 == 0 || i % 50 == 8 {
                let alone = embedder
                    .embed(text.as_deref().expect("text"))
                    .expect("embeds");
                let distance = cosine_distance(embedding, &alone.vector);
                assert!(distance < 1e-5, "record {i}: {distance:e}");
            }
        }
    }

    #[test]
    fn a_missing_or_damaged_model_says_how_to_install_it_and_vectors_still_work() {
        let sandbox = Sandbox::new();
        let refused = without_model(&sandbox, &["init", "--embedder", "minilm"]);
        let error = common::user_error(&refused, &["init"]);
        assert!(
            error.contains("ENGRAM_MODEL_DIR is not set")
                && error.contains("scripts/install-model"),
            "{error}"
        );
        assert!(!sandbox.db.exists(), "no store is made");
        // `info` says whether the model can run here, and why not.
        let minilm = |output| json_of(output)["embedders"]["minilm-l6-v2"].clone();
        assert_eq!(minilm(with_model(&sandbox, &["--json", "info"])), "ready");
        let missing = minilm(without_model(&sandbox, &["--json", "info"]));
        assert!(
            missing
                .as_str()
                .is_some_and(|m| m.contains("ENGRAM_MODEL_DIR is not set")),
            "{missing}"
        );

        ok(with_model(&sandbox, &["init", "--embedder", "minilm"]));
        let refused = without_model(&sandbox, &["remember", "a cat"]);
        let error = common::user_error(&refused, &["remember"]);
        assert!(error.contains("scripts/install-model"), "{error}");
        // --model-dir instead of the variable.
        let dir = model_dir();
        let dir = dir.to_str().expect("UTF-8");
        assert_eq!(
            ok(without_model(
                &sandbox,
                &["--model-dir", dir, "remember", "a cat"]
            )),
            "1\n"
        );
        // Vectors need no model.
        let vector = json!((0..384).map(|i| (i % 5) as f32).collect::<Vec<_>>()).to_string();
        assert_eq!(
            ok(without_model(
                &sandbox,
                &["remember", "given", "--vector", &vector]
            )),
            "2\n"
        );
        let recalled = json_of(without_model(
            &sandbox,
            &["--json", "recall", "--vector", &vector, "--hops", "0"],
        ));
        assert_eq!(common::ids(&recalled)[0], 2);

        // A model directory with one file changed is refused by name.
        let damaged = sandbox.path("damaged-model");
        for entry in [
            "config.json",
            "tokenizer.json",
            "sentence_bert_config.json",
            "modules.json",
            "1_Pooling/config.json",
            "model.safetensors",
        ] {
            let to = damaged.join(entry);
            std::fs::create_dir_all(to.parent().expect("parent")).expect("mkdir");
            std::fs::copy(model_dir().join(entry), &to).expect("copy");
        }
        let mut config = std::fs::read_to_string(damaged.join("config.json")).expect("read");
        config.push('\n');
        std::fs::write(damaged.join("config.json"), config).expect("write");
        let damaged = damaged.to_str().expect("UTF-8");
        let refused = without_model(&sandbox, &["--model-dir", damaged, "recall", "a cat"]);
        let error = common::user_error(&refused, &["recall"]);
        assert!(
            error.contains("config.json is not the minilm-l6-v2 model's file"),
            "{error}"
        );
    }

    #[test]
    fn a_server_space_embeds_with_minilm_as_the_command_does() {
        let sandbox = Sandbox::new().with_db("local.db");
        let dir = sandbox.path("spaces");
        let model = model_dir();
        let model = model.to_str().expect("UTF-8");
        let server = Server::start(&sandbox, &dir, &[], &[("ENGRAM_MODEL_DIR", model)]);
        let space = server.ok(
            201,
            "PUT",
            "/v1/spaces/m",
            Some(json!({"embedder": "minilm"})),
        );
        assert_eq!(
            (space["embedder"].as_str(), space["dim"].as_u64()),
            (Some(SPEC), Some(384))
        );
        server.fails(
            400,
            "invalid_request",
            "PUT",
            "/v1/spaces/other",
            Some(r#"{"embedder": "minilm", "dim": 100}"#),
        );
        let written = server.ok(
            201,
            "POST",
            "/v1/spaces/m/memories",
            Some(json!([
                {"text": "a cat sleeps on the sofa all afternoon"},
                {"text": long_text()},
                {"text": "the stock market fell sharply on Tuesday"},
            ])),
        );
        assert_eq!(written, json!({"ids": [1, 2, 3], "truncated": [1]}));
        let recalled = server.ok(
            200,
            "POST",
            "/v1/spaces/m/recall",
            Some(json!({"text": "a feline napping on the couch", "hops": 0})),
        );
        assert_eq!(recalled["results"][0]["id"].as_u64(), Some(1), "{recalled}");

        // An import over --server stores what a local import stores.
        let records: Vec<Value> = (0..40)
            .map(|i| json!({"id": i, "text": format!("memory {i} of a walk by the sea"), "time": 1_700_000_000, "links": if i > 0 { json!([{"to": i - 1}]) } else { json!([]) }}))
            .collect();
        let file = sandbox.path("walk.jsonl");
        std::fs::write(&file, jsonl(&records)).expect("written");
        let file = file.to_str().expect("UTF-8");
        let remote = |args: &[&str]| {
            let mut command = sandbox.std_command(&["--server", &server.url, "--space", "walk"]);
            command.args(args).env("ENGRAM_MODEL_DIR", model);
            command.output().expect("runs")
        };
        ok(remote(&["init", "--embedder", "minilm"]));
        ok(remote(&["import", file, "--batch", "15"]));
        ok(with_model(&sandbox, &["init", "--embedder", "minilm"]));
        ok(with_model(&sandbox, &["import", file, "--batch", "15"]));
        let local = ok(with_model(&sandbox, &["export"]));
        let served = ok(engram_on(&sandbox, Some((&server, "walk")), &["export"]));
        let strip = |export: &str| -> Vec<Value> {
            export
                .lines()
                .map(|l| {
                    let mut v: Value = serde_json::from_str(l).expect("JSON");
                    v.as_object_mut().expect("object").remove("embedding");
                    v
                })
                .collect()
        };
        assert_eq!(strip(&served), strip(&local));
        for ((_, a), (_, b)) in exported(&served).iter().zip(exported(&local).iter()) {
            assert!(cosine_distance(a, b) < 1e-6);
        }
    }

    #[test]
    fn a_server_without_the_model_refuses_a_minilm_space_and_makes_none() {
        let sandbox = Sandbox::new();
        let dir = sandbox.path("spaces");
        let missing = sandbox.path("no-model");
        let server = Server::start(
            &sandbox,
            &dir,
            &[],
            &[("ENGRAM_MODEL_DIR", missing.to_str().expect("UTF-8"))],
        );
        let message = refuses_a_minilm_space(&server);
        assert!(message.contains("scripts/install-model"), "{message}");
    }
}

#[cfg(not(feature = "minilm"))]
mod without_the_feature {
    use std::path::Path;

    use super::*;

    /// A store that records minilm-l6-v2, as a build with the feature makes it.
    fn minilm_store(db: &Path) {
        engram_graph::Engram::create_with_properties(
            db,
            384,
            &[("engram.embedder", SPEC)],
            engram_graph::Options::default(),
        )
        .expect("created");
    }

    const HINT: &str = "built without the minilm-l6-v2 embedder: build it with `--features minilm`";

    #[test]
    fn init_with_minilm_says_how_to_build_it_and_makes_no_store() {
        let sandbox = Sandbox::new();
        let error = sandbox.fails(&["init", "--embedder", "minilm"]);
        assert!(error.contains(HINT), "{error}");
        assert!(!sandbox.db.exists());
        let info = sandbox.json(&["info"]);
        assert_eq!(info["embedders"]["hash-v1"], "ready");
        let minilm = &info["embedders"]["minilm-l6-v2"];
        assert!(minilm.as_str().is_some_and(|m| m.contains(HINT)), "{info}");
    }

    #[test]
    fn a_minilm_store_opens_and_takes_vectors_and_text_says_how_to_build() {
        let sandbox = Sandbox::new();
        minilm_store(&sandbox.db);
        assert_eq!(sandbox.json(&["stats"])["embedder"].as_str(), Some(SPEC));
        let vector = json!((0..384).map(|i| (i % 5) as f32).collect::<Vec<_>>()).to_string();
        assert_eq!(
            sandbox.ok(&["remember", "given", "--vector", &vector]),
            "1\n"
        );
        let recalled = sandbox.json(&["recall", "--vector", &vector]);
        assert_eq!(common::ids(&recalled), vec![1]);
        for args in [&["remember", "a cat"][..], &["recall", "a cat"]] {
            let error = sandbox.fails(args);
            assert!(error.contains(HINT), "{args:?}: {error}");
        }
        let file = sandbox.path("texts.jsonl");
        std::fs::write(&file, jsonl(&[json!({"text": "a cat"})])).expect("written");
        let error = sandbox.fails(&["import", file.to_str().expect("UTF-8")]);
        assert!(
            error.contains(HINT) && error.contains("nothing of"),
            "{error}"
        );
        assert_eq!(sandbox.json(&["stats"])["memories"].as_u64(), Some(1));
    }

    #[test]
    fn a_server_without_minilm_refuses_a_minilm_space() {
        let sandbox = Sandbox::new();
        let dir = sandbox.path("spaces");
        let server = Server::start(&sandbox, &dir, &[], &[]);
        let message = refuses_a_minilm_space(&server);
        assert!(message.contains(HINT), "{message}");
    }
}
