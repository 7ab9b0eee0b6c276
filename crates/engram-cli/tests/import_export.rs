//! `import` and `export`: the JSON Lines format both ways, links across batches, bad lines
//! reported by number with nothing imported, and an exact round trip.

mod common;

use common::Sandbox;

fn stats(sandbox: &Sandbox) -> (u64, u64) {
    let stats = sandbox.json(&["stats"]);
    (
        stats["memories"].as_u64().expect("memories"),
        stats["associations"].as_u64().expect("associations"),
    )
}

const FILE: &str = r#"{"id": "cat", "text": "small domestic cat", "links": [{"to": "lion", "weight": 0.3}, {"to": 7}]}
{"id": "lion", "text": "Panthera leo", "strength": 0.5, "time": "2023-11-14T22:13:20Z", "links": [{"to": "cat", "weight": -0.25}]}

{"text": "a memory nothing links to", "created": 1600000000}
{"id": 7, "embedding": [0.5, 0.5, 0.5, 0.5], "time": 1700000000, "created": 1690000000, "links": [{"to": "cat", "weight": 1}]}
"#;

#[test]
fn import_maps_file_ids_and_links_forward_and_across_batches() {
    for batch in ["1", "2", "1000"] {
        let sandbox = Sandbox::new();
        sandbox.init(4);
        std::fs::write(sandbox.path("in.jsonl"), FILE).expect("write");
        let summary = sandbox.json(&["import", "in.jsonl", "--batch", batch]);
        assert_eq!(summary["memories"], 4, "batch {batch}");
        assert_eq!(summary["associations"], 4, "batch {batch}");
        assert_eq!(
            (summary["first_id"].as_u64(), summary["last_id"].as_u64()),
            (Some(1), Some(4))
        );
        let cat = sandbox.json(&["show", "1"]);
        assert_eq!(
            cat["links"],
            serde_json::json!([{"to": 2, "weight": 0.3}, {"to": 4, "weight": 0.5}])
        );
        let lion = sandbox.json(&["show", "2"]);
        assert_eq!(lion["strength"], 0.5);
        assert_eq!(
            (lion["time"].as_i64(), lion["created"].as_i64()),
            (Some(1_700_000_000), Some(1_700_000_000))
        );
        assert_eq!(
            lion["links"],
            serde_json::json!([{"to": 1, "weight": -0.25}])
        );
        let lone = sandbox.json(&["show", "3"]);
        assert_eq!(
            (lone["time"].as_i64(), lone["created"].as_i64()),
            (Some(1_600_000_000), Some(1_600_000_000))
        );
        let seven = sandbox.json(&["show", "4", "--embedding"]);
        assert_eq!(seven["created"], 1_690_000_000);
        assert_eq!(seven["text"], serde_json::Value::Null);
        assert_eq!(seven["embedding"], serde_json::json!([0.5, 0.5, 0.5, 0.5]));
    }
}

#[test]
fn import_limit_skips_links_past_it_and_says_so() {
    let sandbox = Sandbox::new();
    sandbox.init(4);
    std::fs::write(sandbox.path("in.jsonl"), FILE).expect("write");
    let summary = sandbox.json(&["import", "in.jsonl", "--limit", "2"]);
    assert_eq!(summary["memories"], 2);
    assert_eq!(summary["associations"], 2);
    assert_eq!(summary["skipped_links"], 1);
    let text = Sandbox::new();
    text.init(4);
    std::fs::write(text.path("in.jsonl"), FILE).expect("write");
    assert!(
        text.ok(&["import", "in.jsonl", "--limit", "2"])
            .contains("skipped 1 links")
    );
}

#[test]
fn bad_lines_are_reported_by_number_and_nothing_is_imported() {
    let sandbox = Sandbox::new();
    sandbox.init(4);
    let mut lines: Vec<String> = (0..30)
        .map(|i| format!(r#"{{"id": {i}, "text": "memory number {i}"}}"#))
        .collect();
    lines[3] = r#"{"id": 3, "embedding": [1, 2]}"#.into();
    lines[5] = r#"{"id": 5, "text": "x", "strenght": 1}"#.into();
    lines[8] = r#"{"id": 8, "text": "x", "strength": 7}"#.into();
    lines[11] = r#"{"id": 2, "text": "duplicate id"}"#.into();
    lines[14] = r#"{"id": 14, "text": "x", "links": [{"to": 99}]}"#.into();
    lines[17] = r#"{"id": 17, "text": "x", "links": [{"to": 17}]}"#.into();
    lines[20] = r#"{"id": 20, "text": "x", "links": [{"to": 1, "weight": 3}]}"#.into();
    lines[23] = r#"{"id": 23, "text": "x", "time": "tomorrow"}"#.into();
    lines[26] = "{not json".into();
    std::fs::write(sandbox.path("bad.jsonl"), lines.join("\n")).expect("write");
    let out = sandbox
        .engram(&["import", "bad.jsonl", "--batch", "4"])
        .output()
        .expect("run");
    let last = common::user_error(&out, &["import"]);
    assert!(
        last.contains("9 bad lines") && last.contains("nothing was imported"),
        "{last}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    for (line, why) in [
        (4, "2 dimensions but this store's dimension is 4"),
        (6, "unknown field `strenght`"),
        (9, "strength 7"),
        (12, "already used on line 3"),
        (15, "no record has"),
        (18, "links to itself"),
        (21, "weight 3"),
        (24, "tomorrow"),
        (27, "column"),
    ] {
        let expected = format!("bad.jsonl: line {line}: ");
        let reported = stderr.lines().find(|l| l.contains(&expected));
        assert!(
            reported.is_some_and(|l| l.contains(why)),
            "line {line}: {stderr}"
        );
    }
    assert_eq!(stats(&sandbox), (0, 0));
}

#[test]
fn export_then_import_gives_the_same_store_exactly() {
    let sandbox = Sandbox::new();
    sandbox.init(16);
    std::fs::write(
        sandbox.path("in.jsonl"),
        FILE.replace("[0.5, 0.5, 0.5, 0.5]", &format!("{:?}", [0.1f32; 16])),
    )
    .expect("write");
    sandbox.ok(&["import", "in.jsonl"]);
    sandbox.ok(&["forget", "3"]);
    sandbox.ok(&[
        "remember",
        "after the import: ünïcödé, \"quotes\"\nand a newline",
    ]);
    let exported = sandbox.json(&["export", "out.jsonl"]);
    assert_eq!(
        (
            exported["memories"].as_u64(),
            exported["associations"].as_u64()
        ),
        (Some(4), Some(4))
    );
    let first = std::fs::read_to_string(sandbox.path("out.jsonl")).expect("read");
    // Standard output gets the same lines.
    assert_eq!(sandbox.ok(&["export"]), first);

    let copy = Sandbox::new();
    copy.init(16);
    std::fs::copy(sandbox.path("out.jsonl"), copy.path("in.jsonl")).expect("copy");
    copy.ok(&["import", "in.jsonl"]);
    copy.ok(&["export", "out.jsonl"]);
    let second = std::fs::read_to_string(copy.path("out.jsonl")).expect("read");
    // Ids are renumbered densely in the same order (the forgotten 3 leaves no gap); map the
    // first export's ids onto the second's and everything else must be equal.
    let parse = |text: &str| -> Vec<serde_json::Value> {
        text.lines()
            .map(|l| serde_json::from_str(l).expect("json line"))
            .collect()
    };
    let (first, second) = (parse(&first), parse(&second));
    let new_id: std::collections::HashMap<u64, u64> = first
        .iter()
        .zip(&second)
        .map(|(a, b)| (a["id"].as_u64().expect("id"), b["id"].as_u64().expect("id")))
        .collect();
    assert_eq!(new_id.len(), 4);
    for (mut a, b) in first.into_iter().zip(second) {
        let id = a["id"].as_u64().expect("id");
        a["id"] = new_id[&id].into();
        if let Some(links) = a.get_mut("links").and_then(|l| l.as_array_mut()) {
            for link in links {
                let to = link["to"].as_u64().expect("to");
                link["to"] = new_id[&to].into();
            }
        }
        assert_eq!(a, b);
    }
    let at = ["--at", "1700000000"];
    let recall = |s: &Sandbox| {
        let r = s.json(&["recall", "domestic cat", at[0], at[1]]);
        r["results"]
            .as_array()
            .expect("results")
            .iter()
            .map(|r| (r["score"].clone(), r["text"].clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(recall(&sandbox), recall(&copy));
}

#[test]
fn export_into_a_closed_pipe_is_not_an_error() {
    let sandbox = Sandbox::new();
    sandbox.init(4);
    let lines: Vec<String> = (0..5000)
        .map(|i| format!(r#"{{"text": "memory {i}"}}"#))
        .collect();
    std::fs::write(sandbox.path("in.jsonl"), lines.join("\n")).expect("write");
    sandbox.ok(&["import", "in.jsonl"]);
    let engram = assert_cmd::cargo::cargo_bin!("engram");
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            "'{}' --db '{}' export | head -n 1 >/dev/null; echo \"status ${{PIPESTATUS[0]}}\"",
            engram.display(),
            sandbox.db.display()
        ))
        .output()
        .expect("sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.trim(), "status 0");
}
