//! `engram serve` end to end: the built binary on a loopback port, driven by curl (a real
//! client), its answers compared with the commands' own on the same store files.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use common::Sandbox;
use common::server::{Server, engram_on, ok};

fn results(recall: &Value) -> Vec<(u64, String)> {
    recall["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| {
            (
                r["id"].as_u64().expect("id"),
                r["text"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

#[test]
fn every_route_answers_what_the_commands_answer_on_the_same_store() {
    // The commands below run on the space's store file.
    let sandbox = Sandbox::new().with_db("spaces/notes.engram");
    let dir = sandbox.path("spaces");
    let server = Server::start(&sandbox, &dir, &[], &[]);
    let health = server.ok(200, "GET", "/health", None);
    assert_eq!(health["status"], "ok");

    let space = server.ok(201, "PUT", "/v1/spaces/notes", Some(json!({"dim": 128})));
    assert_eq!(space["embedder"], "hash-v1 dim=128");
    // PUT again with the same settings: the same space, 200.
    let again = server.ok(200, "PUT", "/v1/spaces/notes", Some(json!({"dim": 128})));
    assert_eq!(again["created"], false);
    assert_eq!(
        server.ok(200, "GET", "/v1/spaces", None)["spaces"],
        json!(["notes"])
    );

    let ids = server.ok(
        201,
        "POST",
        "/v1/spaces/notes/memories",
        Some(json!([
            {"id": "cat", "text": "cat: a small domesticated feline", "links": [{"to": "lion", "weight": 0.8}]},
            {"id": "lion", "text": "lion: a large tawny feline of Africa", "strength": 0.9, "time": "2026-11-01T00:00:00Z"},
            {"text": "tea: a hot drink made by infusing leaves", "time": 1_790_000_000},
        ])),
    )["ids"]
        .clone();
    assert_eq!(ids, json!([1, 2, 3]));
    // One record alone, linked to an existing memory by its id.
    let one = server.ok(
        201,
        "POST",
        "/v1/spaces/notes/memories",
        Some(json!({"text": "kitten: a young cat", "links": [{"to": 1}]})),
    );
    assert_eq!(one["ids"], json!([4]));
    server.ok(
        200,
        "PUT",
        "/v1/spaces/notes/associations/3/2",
        Some(json!({"weight": -0.25})),
    );
    server.ok(200, "PUT", "/v1/spaces/notes/associations/2/3", None);
    server.ok(200, "DELETE", "/v1/spaces/notes/associations/2/3", None);

    // The command reads the same file while the server has it open.
    let db = dir.join("notes.engram");
    let command = |args: &[&str]| -> Vec<u8> {
        let output = sandbox.std_command(args).output().expect("engram runs");
        assert!(
            output.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        output.stdout
    };
    let command_json =
        |args: &[&str]| -> Value { serde_json::from_slice(&command(args)).expect("JSON") };

    let shown = server.ok(
        200,
        "GET",
        "/v1/spaces/notes/memories/1?embedding=true",
        None,
    );
    assert_eq!(shown, command_json(&["show", "1", "--embedding", "--json"]));
    assert_eq!(shown["links"], json!([{"to": 2, "weight": 0.8}]));

    let cue = json!({"text": "a small cat", "k": 3, "limit": 10, "at": "2026-12-01T00:00:00Z"});
    let served = server.ok(200, "POST", "/v1/spaces/notes/recall", Some(cue));
    let mut by_command = command_json(&[
        "recall",
        "a small cat",
        "--k",
        "3",
        "--limit",
        "10",
        "--at",
        "2026-12-01T00:00:00Z",
        "--json",
    ]);
    assert_eq!(served["results"], by_command["results"]);
    assert_eq!(served["memories"], 4);
    assert_eq!(results(&served)[0].0, 1, "{served}");
    by_command["elapsed_ms"] = served["elapsed_ms"].clone();
    assert_eq!(served, by_command);

    let vector: Vec<f32> = shown["embedding"]
        .as_array()
        .expect("embedding")
        .iter()
        .map(|x| x.as_f64().expect("number") as f32)
        .collect();
    let by_vector = server.ok(
        200,
        "POST",
        "/v1/spaces/notes/recall",
        Some(json!({"vector": vector, "hops": 0, "limit": 1})),
    );
    assert_eq!(results(&by_vector)[0].0, 1);

    // Export: byte for byte what `engram export` writes.
    let (status, exported) = server.request("GET", "/v1/spaces/notes/export", None, None);
    assert_eq!(status, 200);
    assert_eq!(exported.as_bytes(), command(&["export"]).as_slice());
    assert_eq!(exported.lines().count(), 4);

    let mut stats = server.ok(200, "GET", "/v1/spaces/notes/stats", None);
    let mut command_stats = command_json(&["stats", "--json"]);
    assert_eq!(stats["db"], "notes.engram");
    for s in [&mut stats, &mut command_stats] {
        s["db"] = Value::Null;
        s["file_bytes"] = Value::Null;
    }
    assert_eq!(stats, command_stats);

    assert_eq!(
        server.ok(200, "DELETE", "/v1/spaces/notes/memories/4", None),
        json!({"forgotten": [4]})
    );
    server.fails(
        404,
        "unknown_memory",
        "GET",
        "/v1/spaces/notes/memories/4",
        None,
    );
    assert_eq!(
        server.ok(200, "DELETE", "/v1/spaces/notes", None),
        json!({"deleted": "notes"})
    );
    assert!(!db.exists());
    assert!(!dir.join("notes.engram-lock").exists());
    server.fails(404, "unknown_space", "GET", "/v1/spaces/notes/stats", None);

    // The answers are what the OpenAPI document says they are.
    let space = server.ok(
        201,
        "PUT",
        "/v1/spaces/again",
        Some(json!({"precision": "int8"})),
    );
    let shown_without = {
        server.ok(
            201,
            "POST",
            "/v1/spaces/again/memories",
            Some(json!({"text": "x", "links": []})),
        );
        server.ok(200, "GET", "/v1/spaces/again/memories/1", None)
    };
    check_openapi(
        &sandbox,
        &server,
        &[
            ("Space", space),
            ("Record", shown),
            ("Record", shown_without),
            ("RecallResponse", served),
            (
                "Stats",
                server.ok(200, "GET", "/v1/spaces/again/stats", None),
            ),
        ],
    );

    let metrics = server.request("GET", "/metrics", None, None).1;
    assert!(
        metrics.contains(
            r#"engram_http_requests_total{method="POST",route="/v1/spaces/{space}/recall",status="200"} 2"#
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains("engram_recall_duration_seconds_count 2"),
        "{metrics}"
    );
    // One log line per request, with its id.
    assert!(
        server
            .log()
            .contains("route=/v1/spaces/{space}/recall status=200")
    );
}

/// The pinned validator scripts/test installs.
const VALIDATOR: &str = "openapi-spec-validator==0.9.0";

/// `GET /openapi.json` is valid OpenAPI 3.1 (by `openapi-spec-validator`, not ours), and each
/// `(schema, answer)` validates against that component schema of it (by `jsonschema`, which
/// the validator brings), whose response objects allow no field they do not list.
fn check_openapi(sandbox: &Sandbox, server: &Server, answers: &[(&str, Value)]) {
    let (status, doc) = server.request("GET", "/openapi.json", None, None);
    assert_eq!(status, 200);
    let doc_path = sandbox.path("openapi.json");
    std::fs::write(&doc_path, &doc).expect("written");
    let answers_path = sandbox.path("answers.json");
    std::fs::write(&answers_path, serde_json::to_vec(answers).expect("JSON")).expect("written");
    let script = r##"
import json, sys
try:
    import jsonschema
    from openapi_spec_validator import validate
except ImportError as e:
    sys.exit(f"{e}: pip install VALIDATOR (scripts/test does)")
doc = json.load(open(sys.argv[1]))
validate(doc)
for name, answer in json.load(open(sys.argv[2])):
    schema = {"$ref": f"#/components/schemas/{name}", "components": doc["components"]}
    jsonschema.Draft202012Validator(schema).validate(answer)
print("valid")
"##
    .replace("VALIDATOR", VALIDATOR);
    let output = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(&doc_path)
        .arg(&answers_path)
        .output()
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn bad_requests_get_json_errors_with_stable_codes() {
    let sandbox = Sandbox::new();
    let dir = sandbox.path("spaces");
    let server = Server::start(
        &sandbox,
        &dir,
        &["--max-body-bytes", "4096", "--log-format", "json"],
        &[],
    );
    server.ok(
        201,
        "PUT",
        "/v1/spaces/s",
        Some(json!({"dim": 4, "embedder": "none"})),
    );
    let cases: &[(u16, &str, &str, &str, Option<&str>)] = &[
        (
            400,
            "invalid_request",
            "POST",
            "/v1/spaces/s/memories",
            Some("{"),
        ),
        (
            400,
            "invalid_request",
            "POST",
            "/v1/spaces/s/memories",
            Some("[]"),
        ),
        (
            400,
            "invalid_request",
            "POST",
            "/v1/spaces/s/memories",
            Some(r#"{"embedding": [1, 2]}"#),
        ),
        (
            400,
            "invalid_request",
            "POST",
            "/v1/spaces/s/memories",
            Some(r#"{"embedding": [0, 0, 0, 0]}"#),
        ),
        (
            400,
            "invalid_request",
            "POST",
            "/v1/spaces/s/memories",
            Some(r#"{"text": "no embedder here"}"#),
        ),
        (
            400,
            "invalid_request",
            "POST",
            "/v1/spaces/s/memories",
            Some(r#"{"embedding": [1, 0, 0, 0], "strength": 2}"#),
        ),
        (
            400,
            "invalid_request",
            "POST",
            "/v1/spaces/s/memories",
            Some(r#"{"embedding": [1, 0, 0, 0], "links": [{"to": 99}]}"#),
        ),
        (
            400,
            "invalid_request",
            "POST",
            "/v1/spaces/s/memories",
            Some(r#"{"embedding": [1, 0, 0, 0], "colour": "red"}"#),
        ),
        (
            400,
            "invalid_request",
            "POST",
            "/v1/spaces/s/recall",
            Some(r#"{"vector": [1, 0, 0, 0], "k": 0}"#),
        ),
        (
            400,
            "invalid_request",
            "POST",
            "/v1/spaces/s/recall",
            Some(r#"{"vector": [1, 0, 0, 0], "half_life": "soon"}"#),
        ),
        (
            400,
            "invalid_request",
            "POST",
            "/v1/spaces/s/recall",
            Some(r#"{"vector": [1, 0, 0, 0], "precision": "int8"}"#),
        ),
        (
            400,
            "invalid_request",
            "POST",
            "/v1/spaces/s/recall",
            Some("{}"),
        ),
        (
            400,
            "invalid_request",
            "GET",
            "/v1/spaces/s/memories/abc",
            None,
        ),
        (
            400,
            "invalid_request",
            "GET",
            "/v1/spaces/s/memories/18446744073709551616",
            None,
        ),
        (
            400,
            "invalid_request",
            "PUT",
            "/v1/spaces/.hidden",
            Some("{}"),
        ),
        (
            400,
            "invalid_request",
            "PUT",
            "/v1/spaces/..%2F..%2Fetc",
            Some("{}"),
        ),
        (
            400,
            "invalid_request",
            "PUT",
            "/v1/spaces/a%00b",
            Some("{}"),
        ),
        (
            400,
            "invalid_request",
            "PUT",
            "/v1/spaces/t",
            Some(r#"{"dim": 0}"#),
        ),
        (
            400,
            "invalid_request",
            "PUT",
            "/v1/spaces/t",
            Some(r#"{"embedder": "bert"}"#),
        ),
        (404, "unknown_space", "GET", "/v1/spaces/nope/stats", None),
        (404, "unknown_space", "DELETE", "/v1/spaces/nope", None),
        (
            404,
            "unknown_memory",
            "GET",
            "/v1/spaces/s/memories/7",
            None,
        ),
        (
            404,
            "unknown_memory",
            "PUT",
            "/v1/spaces/s/associations/7/8",
            None,
        ),
        (404, "no_route", "GET", "/v1/../../etc/passwd", None),
        (404, "no_route", "GET", "/v2/spaces", None),
        (
            405,
            "method_not_allowed",
            "PATCH",
            "/v1/spaces/s",
            Some("{}"),
        ),
        (
            409,
            "space_exists",
            "PUT",
            "/v1/spaces/s",
            Some(r#"{"dim": 8}"#),
        ),
    ];
    for &(status, code, method, path, body) in cases {
        server.fails(status, code, method, path, body);
    }
    // Too large: 413, however the body is sent.
    let big = format!(r#"{{"embedding": [{}1]}}"#, "0, ".repeat(2000));
    server.fails(
        413,
        "payload_too_large",
        "POST",
        "/v1/spaces/s/memories",
        Some(&big),
    );
    // Not sent as JSON: 415.
    let (status, text) = {
        let output = Command::new("curl")
            .args([
                "-sS",
                "-o",
                "-",
                "-w",
                "\n%{http_code}",
                "-X",
                "POST",
                "-d",
                "{}",
            ])
            .arg(format!("{}/v1/spaces/s/recall", server.url))
            .output()
            .expect("curl");
        let text = String::from_utf8(output.stdout).expect("UTF-8");
        let (body, status) = text.rsplit_once('\n').expect("status").to_owned();
        (status.to_owned(), body.to_owned())
    };
    assert_eq!(status, "415", "{text}");
    assert!(text.contains("unsupported_media_type"));
    // The server still works, and nothing was stored by any of the above.
    let stats = server.ok(200, "GET", "/v1/spaces/s/stats", None);
    assert_eq!(stats["memories"], 0);
    // Every log line is a JSON object; each refusal is logged with its request id and code.
    let lines: Vec<Value> = server
        .log()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
        .collect();
    let refused: Vec<&Value> = lines
        .iter()
        .filter(|l| l["fields"]["message"] == "request refused")
        .collect();
    assert_eq!(refused.len(), cases.len() + 2, "{lines:?}");
    assert!(refused.iter().all(|l| l["fields"]["request"].is_string()));
    assert!(
        refused
            .iter()
            .any(|l| l["fields"]["code"] == "payload_too_large"
                && l["fields"]["status"] == 413
                && l["fields"]["error"].is_string())
    );
}

const TOKEN: &str = "test-token-0123456789abcdef";

#[test]
fn a_token_is_required_off_loopback_and_checked_on_every_route_but_health() {
    let sandbox = Sandbox::new();
    let dir = sandbox.path("spaces");
    // Listening on every address without a token: refused, before binding anything.
    let output = sandbox
        .engram(&["serve", "--listen", "0.0.0.0:0", "--dir"])
        .arg(&dir)
        .env_remove("ENGRAM_TOKEN")
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("refusing to listen on 0.0.0.0:0 without a token"),
        "{stderr}"
    );
    // A token too short to be one: refused.
    let output = sandbox
        .engram(&["serve", "--dir"])
        .arg(&dir)
        .env("ENGRAM_TOKEN", "hunter2")
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(1));

    for from_file in [false, true] {
        let token_file = sandbox.path("token");
        std::fs::write(&token_file, format!("{TOKEN}\n")).expect("token file");
        let server = if from_file {
            let mut server = Server::start(
                &sandbox,
                &dir,
                &["--token-file", token_file.to_str().expect("UTF-8 path")],
                &[],
            );
            server.token = Some(TOKEN.to_owned());
            server
        } else {
            Server::start(&sandbox, &dir, &[], &[("ENGRAM_TOKEN", TOKEN)])
        };
        let without = Some("");
        for (method, path) in [
            ("GET", "/v1/spaces"),
            ("PUT", "/v1/spaces/x"),
            ("GET", "/metrics"),
            ("GET", "/openapi.json"),
        ] {
            let (status, text) = server.request(method, path, None, without);
            assert_eq!(status, 401, "{method} {path} without the token: {text}");
            assert!(text.contains("\"unauthorized\""));
            let (status, _) =
                server.request(method, path, None, Some("test-token-0123456789abcdeF"));
            assert_eq!(status, 401, "{method} {path} with another token");
        }
        assert_eq!(server.request("GET", "/health", None, without).0, 200);
        assert_eq!(server.request("GET", "/v1/spaces", None, None).0, 200);
        // The command sends ENGRAM_TOKEN with --server.
        let space = if from_file { "from-file" } else { "from-env" };
        let command = |token: Option<&str>| {
            let mut command = sandbox.std_command(&[
                "--server",
                &server.url,
                "--space",
                space,
                "init",
                "--dim",
                "8",
            ]);
            command.env_remove("ENGRAM_TOKEN");
            if let Some(token) = token {
                command.env("ENGRAM_TOKEN", token);
            }
            command.output().expect("runs")
        };
        let refused = command(None);
        assert!(String::from_utf8_lossy(&refused.stderr).contains("needs a token"));
        let created = command(Some(TOKEN));
        assert!(
            created.status.success(),
            "{}",
            String::from_utf8_lossy(&created.stderr)
        );
        // Never logged.
        assert!(!server.log().contains(TOKEN));
        assert!(!server.log().contains("0123456789abcde"));
    }
}

#[test]
fn spaces_are_isolated_and_deleting_one_leaves_the_others_whole() {
    let sandbox = Sandbox::new();
    let dir = sandbox.path("spaces");
    let server = Server::start(&sandbox, &dir, &[], &[]);
    for space in ["apples", "bananas"] {
        server.ok(
            201,
            "PUT",
            &format!("/v1/spaces/{space}"),
            Some(json!({"dim": 64})),
        );
    }
    // Interleaved writes, each space's own words.
    for i in 0..20 {
        for (space, word) in [("apples", "apple"), ("bananas", "banana")] {
            server.ok(
                201,
                "POST",
                &format!("/v1/spaces/{space}/memories"),
                Some(json!({"text": format!("{word} number {i}"), "links": if i > 0 { json!([{"to": i}]) } else { json!([]) }})),
            );
        }
    }
    for (space, own, other) in [
        ("apples", "apple", "banana"),
        ("bananas", "banana", "apple"),
    ] {
        let recalled = server.ok(
            200,
            "POST",
            &format!("/v1/spaces/{space}/recall"),
            Some(json!({"text": format!("{other} number 3"), "limit": 100})),
        );
        let texts = results(&recalled);
        assert!(!texts.is_empty());
        assert!(
            texts.iter().all(|(_, t)| t.starts_with(own)),
            "{space} recalled another space's memory: {texts:?}"
        );
    }
    let before = server
        .request("GET", "/v1/spaces/apples/export", None, None)
        .1;
    server.ok(200, "DELETE", "/v1/spaces/bananas", None);
    assert_eq!(
        server
            .request("GET", "/v1/spaces/apples/export", None, None)
            .1,
        before
    );
    assert_eq!(
        server.ok(200, "GET", "/v1/spaces/apples/stats", None)["memories"],
        20
    );
    let mut left: Vec<String> = std::fs::read_dir(&dir)
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["apples.engram", "apples.engram-lock"]);
    // The name can be used again, for a new, empty space.
    server.ok(201, "PUT", "/v1/spaces/bananas", Some(json!({"dim": 32})));
    assert_eq!(
        server.ok(200, "GET", "/v1/spaces/bananas/stats", None)["memories"],
        0
    );
}

/// SIGTERM while a large batch is being written: the batch finishes and is acknowledged, the
/// server exits with 0, and after a restart the batch is there.
#[test]
fn sigterm_lets_the_write_in_flight_finish_then_exits_cleanly() {
    let sandbox = Sandbox::new();
    let dir = sandbox.path("spaces");
    let mut server = Server::start(&sandbox, &dir, &[], &[]);
    server.ok(201, "PUT", "/v1/spaces/s", Some(json!({"dim": 384})));
    server.ok(
        201,
        "POST",
        "/v1/spaces/s/memories",
        Some(json!({"text": "kept"})),
    );
    // Embedding 20,000 texts takes the server a while: long enough to signal it meanwhile.
    let batch: Vec<Value> = (0..20_000)
        .map(|i| json!({"text": format!("memory number {i} of a large batch")}))
        .collect();
    let body = Value::from(batch).to_string();
    let url = server.url.clone();
    let writer = std::thread::spawn(move || {
        let output = Command::new("curl")
            .args(["-sS", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST"])
            .args([
                "-H",
                "Content-Type: application/json",
                "--data-binary",
                "@-",
            ])
            .arg(format!("{url}/v1/spaces/s/memories"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                child
                    .stdin
                    .take()
                    .expect("stdin")
                    .write_all(body.as_bytes())?;
                child.wait_with_output()
            })
            .expect("curl");
        String::from_utf8_lossy(&output.stdout).into_owned()
    });
    // Signal once the batch is being answered (it and this metrics request are in flight).
    let deadline = Instant::now() + Duration::from_secs(20);
    while !server
        .request("GET", "/metrics", None, None)
        .1
        .contains("engram_http_requests_in_flight 2")
    {
        assert!(Instant::now() < deadline, "the batch never arrived");
        std::thread::sleep(Duration::from_millis(5));
    }
    server.signal("TERM");
    assert_eq!(writer.join().expect("writer"), "201", "{}", server.log());
    assert_eq!(server.wait(), Some(0), "{}", server.log());
    let log = server.log();
    assert!(log.contains("signal=\"SIGTERM\""), "{log}");
    assert!(log.contains("stopped"), "{log}");
    let server = Server::start(&sandbox, &dir, &[], &[]);
    assert_eq!(
        server.ok(200, "GET", "/v1/spaces/s/memories/1", None)["text"],
        "kept"
    );
    assert_eq!(
        server.ok(200, "GET", "/v1/spaces/s/stats", None)["memories"],
        20_001
    );
}

/// Several clients write to one space while another is left alone; the server is killed with
/// SIGKILL in the middle. After a restart, every write that got a 2xx is there with what it
/// said, the store opens and takes writes, and the other space is as it was.
#[test]
fn sigkill_under_load_loses_no_acknowledged_write() {
    let sandbox = Sandbox::new();
    let dir = sandbox.path("spaces");
    let server = Server::start(&sandbox, &dir, &[], &[]);
    server.ok(201, "PUT", "/v1/spaces/busy", Some(json!({"dim": 32})));
    server.ok(201, "PUT", "/v1/spaces/quiet", Some(json!({"dim": 32})));
    server.ok(
        201,
        "POST",
        "/v1/spaces/quiet/memories",
        Some(json!([{"text": "untouched one"}, {"text": "untouched two"}])),
    );
    let quiet = server
        .request("GET", "/v1/spaces/quiet/export", None, None)
        .1;
    let url = server.url.clone();
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let url = url.clone();
            std::thread::spawn(move || {
                let mut acknowledged = Vec::new();
                for i in 0.. {
                    let text = format!("writer {w} memory {i}");
                    let body =
                        json!([{"text": text}, {"text": format!("{text} (second)")}]).to_string();
                    let output = Command::new("curl")
                        .args(["-sS", "-o", "-", "-w", "\n%{http_code}", "-X", "POST"])
                        .args([
                            "-H",
                            "Content-Type: application/json",
                            "--data-binary",
                            &body,
                        ])
                        .arg(format!("{url}/v1/spaces/busy/memories"))
                        .output()
                        .expect("curl");
                    let text_out = String::from_utf8_lossy(&output.stdout).into_owned();
                    match text_out.rsplit_once('\n') {
                        Some((body, "201")) => {
                            let ids: Value = serde_json::from_str(body).expect("JSON");
                            acknowledged.push((ids["ids"][0].as_u64().expect("id"), text));
                        }
                        // The server is gone: stop.
                        _ => return acknowledged,
                    }
                }
                acknowledged
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    let mut server = server;
    server.signal("KILL");
    server.wait();
    let acknowledged: Vec<(u64, String)> = writers
        .into_iter()
        .flat_map(|w| w.join().expect("writer"))
        .collect();
    assert!(
        acknowledged.len() >= 8,
        "only {} writes before the kill",
        acknowledged.len()
    );

    let server = Server::start(&sandbox, &dir, &[], &[]);
    for (id, text) in &acknowledged {
        let shown = server.ok(200, "GET", &format!("/v1/spaces/busy/memories/{id}"), None);
        assert_eq!(shown["text"].as_str(), Some(text.as_str()));
        let second = server.ok(
            200,
            "GET",
            &format!("/v1/spaces/busy/memories/{}", id + 1),
            None,
        );
        assert_eq!(
            second["text"].as_str(),
            Some(format!("{text} (second)").as_str())
        );
    }
    // Nothing half-written: every memory has its pair.
    let stats = server.ok(200, "GET", "/v1/spaces/busy/stats", None);
    let memories = stats["memories"].as_u64().expect("count");
    assert_eq!(memories % 2, 0, "{stats}");
    assert!(memories >= 2 * acknowledged.len() as u64);
    server.ok(
        201,
        "POST",
        "/v1/spaces/busy/memories",
        Some(json!({"text": "after the restart"})),
    );
    assert_eq!(
        server
            .request("GET", "/v1/spaces/quiet/export", None, None)
            .1,
        quiet
    );
}

/// `engram --server URL --space NAME COMMAND` prints what the command prints on the store
/// itself, and refuses what needs the file.
#[test]
fn commands_sent_with_server_print_what_they_print_on_the_store() {
    let sandbox = Sandbox::new().with_db("spaces/notes.engram");
    let dir = sandbox.path("spaces");
    let server = Server::start(&sandbox, &dir, &[], &[]);
    let remote = |args: &[&str]| engram_on(&sandbox, Some((&server, "notes")), args);
    let local = |args: &[&str]| ok(sandbox.std_command(args).output().expect("runs"));
    assert!(ok(remote(&["init", "--dim", "64"])).starts_with("created space notes on http://"));
    assert_eq!(ok(remote(&["remember", "cat: a small feline"])), "1\n");
    assert_eq!(
        ok(remote(&[
            "remember",
            "lion: a large feline",
            "--at",
            "2026-11-01T00:00:00Z",
            "--strength",
            "0.5"
        ])),
        "2\n"
    );
    assert_eq!(
        ok(remote(&["--json", "remember", "tea: a hot drink"])),
        "{\"id\":3}\n"
    );
    assert_eq!(
        ok(remote(&["associate", "1", "2", "--weight", "0.75"])),
        "1 → 2 weight 0.75\n"
    );
    assert_eq!(ok(remote(&["associate", "3", "1"])), "3 → 1 weight 0.5\n");
    assert_eq!(ok(remote(&["dissociate", "3", "1"])), "removed 3 → 1\n");
    assert_eq!(ok(remote(&["forget", "3"])), "forgot 3\n");
    for args in [
        &["show", "1"][..],
        &["show", "2", "--embedding"],
        &["--json", "show", "1"],
        &["export"],
    ] {
        assert_eq!(ok(remote(args)), local(args), "{args:?}");
    }
    let cue = ["recall", "small cat", "--at", "2026-12-01T00:00:00Z"];
    let (served, here) = (ok(remote(&cue)), local(&cue));
    let table = |text: &str| {
        text.lines()
            .filter(|l| !l.contains(" memories in "))
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert_eq!(table(&served), table(&here));
    assert!(served.contains("2 of 2 memories in"), "{served}");
    let json_cue = [
        "--json",
        "recall",
        "small cat",
        "--at",
        "2026-12-01T00:00:00Z",
    ];
    let mut served: Value = serde_json::from_str(&ok(remote(&json_cue))).expect("JSON");
    let here: Value = serde_json::from_str(&local(&json_cue)).expect("JSON");
    served["elapsed_ms"] = here["elapsed_ms"].clone();
    assert_eq!(served, here);
    let stats = |text: &str| {
        text.lines()
            .filter(|l| !l.starts_with("store") && !l.starts_with("file size"))
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert_eq!(stats(&ok(remote(&["stats"]))), stats(&local(&["stats"])));
    let exported = sandbox.path("exported.jsonl");
    let exported_arg = exported.to_str().expect("UTF-8 path");
    assert_eq!(
        ok(remote(&["export", exported_arg])),
        format!("exported 2 memories and 1 associations to {exported_arg}\n")
    );
    assert_eq!(
        std::fs::read_to_string(&exported).expect("written"),
        local(&["export"])
    );

    // Refused: the server's message, exit status 1.
    for (args, says) in [
        (&["show", "9"][..], "has no memory with id 9"),
        (&["forget", "1", "9"], "has no memory with id 9"),
        (&["set-precision", "int8"], "works on a store file"),
        (
            &["recall", "x", "--compare-backends"],
            "does not work with --server",
        ),
        (&["init", "--dim", "64"], "already exists"),
        (&["init"], "exists with dimension 64"),
    ] {
        let output = remote(args);
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
    // An unknown space: the command that creates it, not the HTTP route.
    let output = engram_on(&sandbox, Some((&server, "nothere")), &["remember", "x"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let init = format!("engram --server {} --space nothere init", server.url);
    assert!(
        stderr.contains("there is no space \"nothere\"") && stderr.contains(&init),
        "{stderr}"
    );
    // The refused forget of 1 and 9 forgot neither.
    assert!(ok(remote(&["show", "1"])).contains("cat: a small feline"));
    assert_eq!(ok(remote(&["forget", "2", "1", "2"])), "forgot 1, 2\n");
    let output = sandbox
        .std_command(&["--server", &server.url, "stats"])
        .env_remove("ENGRAM_SPACE")
        .output()
        .expect("runs");
    assert!(String::from_utf8_lossy(&output.stderr).contains("--space NAME"));
}

#[test]
fn a_space_token_opens_its_own_space_and_no_other() {
    let sandbox = Sandbox::new();
    let dir = sandbox.path("spaces");
    let tokens = sandbox.path("space-tokens");
    std::fs::write(
        &tokens,
        "# space token\nalpha alpha-token-0123456789\n\nbeta  beta-token-0123456789\n",
    )
    .expect("written");
    let tokens_arg = tokens.to_str().expect("UTF-8 path");
    let (alpha, beta) = (
        Some("alpha-token-0123456789"),
        Some("beta-token-0123456789"),
    );
    let none = Some("");
    {
        // No server token (loopback): the spaces with a token need it; the others are open.
        let server = Server::start(&sandbox, &dir, &["--space-tokens", tokens_arg], &[]);
        let put = |path: &str, auth| server.request("PUT", path, Some("{\"dim\": 8}"), auth).0;
        assert_eq!(put("/v1/spaces/alpha", none), 401);
        assert_eq!(put("/v1/spaces/alpha", beta), 401);
        assert_eq!(
            put("/v1/spaces/%61lpha", none),
            401,
            "an encoded name is the same name"
        );
        assert_eq!(put("/v1/spaces/alpha", alpha), 201);
        assert_eq!(put("/v1/spaces/beta", beta), 201);
        assert_eq!(put("/v1/spaces/gamma", none), 201);
        assert_eq!(
            server
                .request("GET", "/v1/spaces/alpha/stats", None, beta)
                .0,
            401
        );
        assert_eq!(server.request("GET", "/v1/spaces", None, none).0, 200);
    }
    // With a server token too: a space's token opens that space only; the server's, all.
    let server = Server::start(
        &sandbox,
        &dir,
        &["--space-tokens", tokens_arg],
        &[("ENGRAM_TOKEN", TOKEN)],
    );
    let get = |path: &str, auth| server.request("GET", path, None, auth).0;
    assert_eq!(get("/v1/spaces/alpha/stats", alpha), 200);
    assert_eq!(get("/v1/spaces/alpha/stats", Some(TOKEN)), 200);
    assert_eq!(get("/v1/spaces/gamma/stats", alpha), 401);
    assert_eq!(get("/v1/spaces/gamma/stats", Some(TOKEN)), 200);
    assert_eq!(get("/v1/spaces", alpha), 401);
    assert_eq!(get("/metrics", alpha), 401);
    assert!(!server.log().contains("alpha-token"));
    // A bad tokens file stops the server before it listens.
    std::fs::write(&tokens, "alpha short\n").expect("written");
    let output = sandbox
        .engram(&["serve", "--space-tokens", tokens_arg, "--dir"])
        .arg(&dir)
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("line 1"));
}

/// 60 records with ids, times and links both ways across batches of 7 (to records before
/// and after them), one per line.
fn linked_records() -> String {
    // Odd records have text ids, even ones numbers.
    let id = |i: usize| {
        if i % 2 == 1 {
            json!(format!("r{i}"))
        } else {
            json!(i)
        }
    };
    (0..60)
        .map(|i| {
            let mut links = vec![json!({"to": id((i + 13) % 60), "weight": 0.25})];
            if i % 4 == 0 {
                links.push(json!({"to": id((i + 59) % 60)}));
            }
            let mut record = json!({
                "id": id(i),
                "text": format!("record {i} on topic {}", i % 7),
                "time": 1_790_000_000 + i,
                "links": links,
            });
            if i % 10 == 3 {
                record["strength"] = json!(0.5);
            }
            record.to_string() + "\n"
        })
        .collect()
}

/// `engram --server URL --space NAME import` stores what `engram import` stores and says
/// what it says; stopped by SIGTERM, the same command continues it; the batch route refuses
/// what would break an import's record.
#[test]
fn import_with_server_stores_what_a_local_import_stores_and_resumes_after_sigterm() {
    let sandbox = Sandbox::new().with_db("local.engram");
    std::fs::write(sandbox.path("in.jsonl"), linked_records()).expect("write");
    let dir = sandbox.path("spaces");
    let server = Server::start(&sandbox, &dir, &[], &[]);
    let run = |args: &[&str], space: Option<&str>| {
        engram_on(&sandbox, space.map(|space| (&server, space)), args)
    };
    let import = ["--json", "import", "in.jsonl", "--batch", "7"];
    let summary = |text: &str| {
        let mut summary: Value = serde_json::from_str(text).expect("JSON");
        summary["seconds"] = Value::Null;
        summary
    };
    ok(run(&["init", "--dim", "64"], None));
    let local = summary(&ok(run(&import, None)));
    assert_eq!(local["associations"], 75, "{local}");
    ok(run(&["init", "--dim", "64"], Some("notes")));
    assert_eq!(summary(&ok(run(&import, Some("notes")))), local);
    let expected = ok(run(&["export"], None));
    assert_eq!(ok(run(&["export"], Some("notes"))), expected);
    assert_eq!(
        ok(run(&["import", "in.jsonl"], Some("notes"))),
        "in.jsonl is already imported into this space (60 records, import engram.import.1); nothing to do (--again imports it once more)\n"
    );
    let imports = server.ok(200, "GET", "/v1/spaces/notes/imports", None);
    assert_eq!(
        (
            &imports["dim"],
            &imports["next_id"],
            &imports["imports"][0]["key"]
        ),
        (&json!(64), &json!(61), &json!("engram.import.1"))
    );
    assert_eq!(
        imports["imports"][0]["progress"]["segments"],
        json!([[0, 1, 60]])
    );

    // SIGTERM while a batch is sent (each request is two sendto calls; the first is
    // GET .../imports, so the 9th is in the 4th batch): that batch is stored, then the import
    // stops and says how to continue; the same command finishes the same store.
    ok(run(&["init", "--dim", "64"], Some("again")));
    let mut command = run_under_strace(&sandbox, "sendto:signal=SIGTERM:when=9");
    command
        .args(["--server", &server.url, "--space", "again"])
        .args(&import[1..]);
    let out = command.output().expect("strace runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(143), "{stderr}");
    let stored = server.ok(200, "GET", "/v1/spaces/again/stats", None)["memories"]
        .as_u64()
        .expect("memories");
    assert!(
        stored.is_multiple_of(7) && (7..60).contains(&stored),
        "{stored}"
    );
    let resume = format!(
        "run `engram --server {} --space again import in.jsonl --batch 7` again to continue",
        server.url
    );
    assert!(
        stderr.contains(&format!(
            "interrupted by SIGTERM; stored before it stopped: {stored} of 60 records"
        )) && stderr.contains(&resume),
        "{stderr}"
    );
    let done = ok(run(&import[1..], Some("again")));
    assert!(done.contains("all 60 are now imported"), "{done}");
    assert_eq!(ok(run(&["export"], Some("again"))), expected);

    // What the batch route refuses, and why.
    let batch = |body: Value| {
        server.request(
            "POST",
            "/v1/spaces/notes/batch",
            Some(&body.to_string()),
            None,
        )
    };
    // The record after a batch of one more memory, but for its id.
    let mut progress = imports["imports"][0]["progress"].clone();
    progress["records"] = json!(61);
    let error = |(status, text): (u16, String)| -> (u16, Value) {
        let value: Value = serde_json::from_str(&text).expect("JSON");
        (status, value["error"].clone())
    };
    // Another import's batch, which expects the record to be absent: 409, nothing stored.
    let (status, refused) = error(batch(json!({
        "memories": [{"text": "one more"}],
        "import": {"key": "engram.import.1", "progress": progress},
    })));
    assert_eq!(
        (status, &refused["code"]),
        (409, &json!("import_changed")),
        "{refused}"
    );
    // A property that is not an import record's; a record whose ids do not add up; an
    // association to a memory the batch does not have (its position in "item").
    let (status, refused) = error(batch(json!({
        "memories": [{"text": "x"}],
        "import": {"key": "engram.embedder", "progress": progress},
    })));
    assert_eq!(
        (status, &refused["code"]),
        (400, &json!("invalid_request")),
        "{refused}"
    );
    let mut hostile = progress.clone();
    hostile["segments"] = json!([[0, u64::MAX, 60]]);
    hostile["records"] = json!(61);
    let (status, refused) = error(batch(json!({
        "memories": [{"text": "x"}],
        "import": {"key": "engram.import.9", "progress": hostile},
    })));
    assert_eq!(
        (status, &refused["code"]),
        (400, &json!("invalid_request")),
        "{refused}"
    );
    let (status, refused) = error(batch(json!({
        "memories": [{"text": "x"}, {"text": "y"}],
        "associations": [{"from": {"new": 0}, "to": {"id": 1}}, {"from": {"new": 1}, "to": {"new": 2}}],
    })));
    assert_eq!((status, &refused["item"]), (400, &json!(3)), "{refused}");
    let (status, refused) = error(batch(
        json!({"memories": [{"text": "x", "links": [{"to": 1}]}]}),
    ));
    assert_eq!((status, &refused["item"]), (400, &json!(0)), "{refused}");
    assert_eq!(
        server.ok(200, "GET", "/v1/spaces/notes/stats", None)["memories"],
        60
    );
    // A batch without an import record: its ids.
    let written = server.ok(
        201,
        "POST",
        "/v1/spaces/notes/batch",
        Some(json!({
            "memories": [{"text": "x"}, {"embedding": vec![0.5; 64]}],
            "associations": [{"from": {"new": 1}, "to": {"id": 1}, "weight": -0.5}],
        })),
    );
    assert_eq!(written, json!({"ids": [61, 62]}));
    assert_eq!(
        server.ok(200, "GET", "/v1/spaces/notes/memories/62", None)["links"],
        json!([{"to": 1, "weight": -0.5}])
    );
    // The next batch of import 1, which expects the record the import stored: the server
    // adds the id its memory got (63: the batch above took 61 and 62).
    server.ok(
        201,
        "POST",
        "/v1/spaces/notes/batch",
        Some(json!({
            "memories": [{"text": "one more"}],
            "associations": [{"from": {"new": 0}, "to": {"id": 60}}],
            "import": {"key": "engram.import.1", "progress": progress, "previous": {
                "records": 60, "sha256": imports["imports"][0]["progress"]["sha256"],
            }},
        })),
    );
    let after = server.ok(200, "GET", "/v1/spaces/notes/imports", None);
    assert_eq!(
        after["imports"][0]["progress"]["segments"],
        json!([[0, 1, 60], [60, 63, 1]])
    );
    check_openapi(
        &sandbox,
        &server,
        &[("Imports", imports), ("Imports", after)],
    );
}

/// `strace -f -o /dev/null -e inject=SPEC engram` in the sandbox, with no ENGRAM_TOKEN: the
/// caller adds the arguments.
fn run_under_strace(sandbox: &Sandbox, inject: &str) -> Command {
    let engram = sandbox.std_command(&[]);
    let mut strace = Command::new("strace");
    strace
        .args(["-f", "-o", "/dev/null", "-e"])
        .arg(format!("inject={inject}"))
        .arg(engram.get_program())
        .args(engram.get_args())
        .current_dir(sandbox.dir.path())
        .env_remove("ENGRAM_TOKEN")
        .env_remove("ENGRAM_DB")
        .env_remove("ENGRAM_SERVER")
        .env_remove("ENGRAM_SPACE");
    strace
}
