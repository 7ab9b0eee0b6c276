//! The router in process (no socket): every documented route answers, other methods get
//! 405, and no mangled request gets a 5xx or takes the server down.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::Value;
use tower::ServiceExt;

use super::routes::ROUTES;
use super::{App, service};

/// The server's runtime, for the two recalls at once of [`populated`]'s app.
fn runtime() -> tokio::runtime::Runtime {
    super::runtime(2).expect("a runtime")
}

/// Sends one request; returns the status and the body as JSON (`Null` if it is not JSON).
async fn send(app: &Arc<App>, method: Method, uri: &str, body: &[u8]) -> (StatusCode, Value) {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json")
        .body(Body::from(body.to_vec()))
        .expect("a request");
    let response = service(app, None)
        .oneshot(request)
        .await
        .expect("the router never fails");
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 26)
        .await
        .expect("a body");
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// A space `s` of dimension 4 holding memories 1 and 2, associated 1 → 2.
async fn populated(dir: &std::path::Path) -> Arc<App> {
    let app = App::new(dir, (None, std::collections::HashMap::new()), 1 << 20, 2).expect("an app");
    let (status, _) = send(&app, Method::PUT, "/v1/spaces/s", br#"{"dim": 4}"#).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, body) = send(
        &app,
        Method::POST,
        "/v1/spaces/s/memories",
        br#"[{"id": "a", "text": "cat", "links": [{"to": "b"}]}, {"id": "b", "embedding": [0, 1, 0, 0]}]"#,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["ids"], serde_json::json!([1, 2]));
    app
}

fn concrete(path: &str) -> String {
    path.replace("{space}", "s")
        .replace("{id}", "1")
        .replace("{from}", "1")
        .replace("{to}", "2")
}

#[test]
fn every_documented_route_answers_and_other_methods_get_405() {
    let dir = tempfile::tempdir().expect("a directory");
    runtime().block_on(async {
        let app = populated(dir.path()).await;
        for (path, methods) in ROUTES {
            let uri = concrete(path);
            for method in [
                Method::GET,
                Method::PUT,
                Method::POST,
                Method::DELETE,
                Method::PATCH,
            ] {
                let documented = methods.contains(&method.as_str().to_ascii_lowercase().as_str());
                // Leave the space, its memories and its association in place for the rest.
                if documented && method == Method::DELETE {
                    continue;
                }
                let body: &[u8] = if uri.ends_with("/recall") {
                    br#"{"text": "cat"}"#
                } else if uri.ends_with("/memories") {
                    br#"{"text": "dog"}"#
                } else if uri.ends_with("/forget") {
                    // Memory 3, remembered by the POST /memories above.
                    br#"{"ids": [3]}"#
                } else if uri.ends_with("/batch") {
                    br#"{"memories": [{"text": "owl"}], "associations": [{"from": {"new": 0}, "to": {"id": 1}}]}"#
                } else if uri.ends_with("/spaces/s") {
                    br#"{"dim": 4}"#
                } else {
                    b""
                };
                let (status, json) = send(&app, method.clone(), &uri, body).await;
                if documented {
                    assert!(status.is_success(), "{method} {uri}: {status} {json}");
                } else {
                    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {uri}");
                    assert_eq!(json["error"]["code"], "method_not_allowed");
                }
            }
        }
        // And the documented DELETEs, last.
        for uri in [
            "/v1/spaces/s/associations/1/2",
            "/v1/spaces/s/memories/1",
            "/v1/spaces/s",
        ] {
            let (status, json) = send(&app, Method::DELETE, uri, b"").await;
            assert_eq!(status, StatusCode::OK, "DELETE {uri}: {json}");
        }
    });
}

/// A small deterministic generator (xorshift64*), so that a failure replays.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Valid bodies with bytes replaced, inserted, deleted and cut, and hostile values, sent to
/// every route: the answer is never a 5xx, and the server still recalls correctly after.
#[test]
fn mangled_requests_get_4xx_never_5xx() {
    let dir = tempfile::tempdir().expect("a directory");
    runtime().block_on(async {
        let app = populated(dir.path()).await;
        let seeds: &[(&str, &[u8])] = &[
            ("/v1/spaces/s/recall", br#"{"text": "cat", "k": 3, "hops": 2, "limit": 5, "attenuation": 0.5, "half_life": "1d", "at": "2026-11-22T10:00:00Z", "candidates": 10}"#),
            ("/v1/spaces/s/recall", br#"{"vector": [1, 0, 0, 0], "power_law": "1day,0.5", "threshold": 0.1}"#),
            ("/v1/spaces/s/memories", br#"[{"id": 7, "text": "x", "strength": 0.5, "time": 1700000000, "links": [{"to": 1, "weight": -0.5}, {"to": "8"}]}, {"id": "8", "embedding": [1e-30, 2, 3, 4]}]"#),
            ("/v1/spaces/s/associations/1/2", br#"{"weight": 0.25, "both": true}"#),
            ("/v1/spaces/t", br#"{"dim": 3, "embedder": "none", "precision": "int8"}"#),
            // An import's batch: its record's numbers are the client's, so anything.
            ("/v1/spaces/s/batch", br#"{"memories": [{"text": "x", "time": 1700000000}, {"embedding": [1, 2, 3, 4], "strength": 0.5}], "associations": [{"from": {"new": 0}, "to": {"id": 1}, "weight": 0.5}, {"from": {"new": 1}, "to": {"new": 0}}], "import": {"key": "engram.import.5", "progress": {"version": 1, "source": "f", "records": 3, "sha256": "ab", "total": 3, "segments": [[0, 4294967296, 1]], "associations": 2, "updated": 0}}}"#),
            ("/v1/spaces/s/batch", br#"{"memories": [{"text": "y"}], "associations": [{"from": {"id": 2}, "to": {"new": 0}}]}"#),
        ];
        let hostile: &[&[u8]] = &[
            b"1e999", b"-0", b"18446744073709551616", b"\"\\ud800\"", b"null", b"[]", b"{}",
            b"NaN", b"\xff\xfe", b"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[", b"\"\"",
        ];
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let (mut accepted, mut refused) = (0, 0);
        let methods = [Method::POST, Method::PUT, Method::GET, Method::DELETE];
        for case in 0..600 {
            let (route, seed) = seeds[rng.below(seeds.len())];
            let mut body = seed.to_vec();
            // A quarter are sent as they are (and accepted), the rest mangled once or more.
            let mangles = [0, 0, 1, 1, 2, 3, 4, 5][rng.below(8)];
            for _ in 0..mangles {
                let at = rng.below(body.len() + 1);
                match rng.below(5) {
                    0 if at < body.len() => body[at] = (rng.next() & 0xff) as u8,
                    1 => body.insert(at, b"{}[]\",:0-e.\\ "[rng.below(13)]),
                    2 if at < body.len() => {
                        body.remove(at);
                    }
                    3 => body.truncate(at),
                    _ => {
                        let value = hostile[rng.below(hostile.len())];
                        // Replace the next number or string with a hostile value.
                        let end = (at + 1 + rng.below(8)).min(body.len());
                        body.splice(at.min(end)..end, value.iter().copied());
                    }
                }
            }
            let mut uri = route.to_owned();
            if rng.below(8) == 0 {
                // A mangled path: ids and names out of range or malformed.
                uri = uri.replace(
                    ["1", "2", "s", "t"][rng.below(4)],
                    ["18446744073709551616", "-1", "%2e%2e", "a%2Fb", "%ff", "x".repeat(80).as_str()][rng.below(6)],
                );
            }
            let method = if rng.below(6) == 0 {
                methods[rng.below(methods.len())].clone()
            } else if route.contains("associations") || route == "/v1/spaces/t" {
                Method::PUT
            } else {
                Method::POST
            };
            let (status, json) = send(&app, method.clone(), &uri, &body).await;
            assert!(
                !status.is_server_error(),
                "case {case}: {method} {uri} {:?} → {status} {json}",
                String::from_utf8_lossy(&body)
            );
            if status.is_success() {
                accepted += 1;
            } else {
                refused += 1;
                assert!(json["error"]["code"].is_string(), "case {case}: {status} {json}");
            }
        }
        // Both kinds, many of each: the mangling neither breaks every request nor none.
        assert!(accepted >= 50 && refused >= 200, "{accepted} accepted, {refused} refused");
        let (status, json) = send(&app, Method::POST, "/v1/spaces/s/recall", br#"{"text": "cat", "hops": 0}"#).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(json["results"][0]["id"], 1, "{json}");
    });
}

#[test]
fn once_shutting_down_every_request_gets_503_with_retry_after() {
    let dir = tempfile::tempdir().expect("a directory");
    runtime().block_on(async {
        let app = populated(dir.path()).await;
        app.shutting_down
            .store(true, std::sync::atomic::Ordering::SeqCst);
        for (method, uri) in [
            (Method::GET, "/health"),
            (Method::POST, "/v1/spaces/s/recall"),
        ] {
            let request = Request::builder()
                .method(method)
                .uri(uri)
                .body(Body::empty())
                .expect("a request");
            let response = service(&app, None).oneshot(request).await.expect("answer");
            assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(
                response.headers().get("retry-after").map(|v| v.as_bytes()),
                Some(&b"1"[..])
            );
        }
    });
}

/// A browser's preflight from another origin: no CORS headers unless `--cors-origin` allows
/// that origin, and never for one it does not name.
#[test]
fn cross_origin_requests_are_refused_unless_their_origin_is_allowed() {
    let dir = tempfile::tempdir().expect("a directory");
    runtime().block_on(async {
        let app = populated(dir.path()).await;
        let preflight = |origin: &'static str| {
            Request::builder()
                .method(Method::OPTIONS)
                .uri("/v1/spaces/s/recall")
                .header("origin", origin)
                .header("access-control-request-method", "POST")
                .header("access-control-request-headers", "content-type")
                .body(Body::empty())
                .expect("a request")
        };
        let allowed = |response: &axum::response::Response| {
            response
                .headers()
                .get("access-control-allow-origin")
                .map(|v| v.to_str().unwrap_or_default().to_owned())
        };
        let off = service(&app, None)
            .oneshot(preflight("http://evil.example"))
            .await
            .expect("answer");
        assert_eq!(allowed(&off), None);
        let cors = super::cors(&["http://localhost:5173".to_owned()]).expect("a valid origin");
        let on = service(&app, cors.clone())
            .oneshot(preflight("http://localhost:5173"))
            .await
            .expect("answer");
        assert_eq!(allowed(&on).as_deref(), Some("http://localhost:5173"));
        let other = service(&app, cors)
            .oneshot(preflight("http://evil.example"))
            .await
            .expect("answer");
        assert_eq!(allowed(&other), None);
    });
}

/// Recalls block the worker they run on; the runtime keeps one worker more than there are
/// recall permits, so with every permit taken by a recall still running, other requests are
/// still answered. (Blocked workers stand in for long recalls: with only as many workers as
/// permits, `/health` would be answered only once one of them ended.)
#[test]
fn with_every_recall_permit_busy_other_requests_are_still_answered() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let dir = tempfile::tempdir().expect("a directory");
    runtime().block_on(async {
        let app = populated(dir.path()).await;
        let (running, ended) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let mut recalls = Vec::new();
        for _ in 0..app.recall_permits.available_permits() {
            let (app, running, ended) =
                (Arc::clone(&app), Arc::clone(&running), Arc::clone(&ended));
            recalls.push(tokio::spawn(async move {
                let _permit = app.recall_permits.acquire().await.expect("a permit");
                running.fetch_add(1, Ordering::SeqCst);
                std::thread::sleep(std::time::Duration::from_secs(3));
                ended.fetch_add(1, Ordering::SeqCst);
            }));
        }
        while running.load(Ordering::SeqCst) < recalls.len() {
            std::thread::yield_now();
        }
        let health = {
            let app = Arc::clone(&app);
            tokio::spawn(async move { send(&app, Method::GET, "/health", b"").await })
        };
        let (status, _) = health.await.expect("the request's task");
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            ended.load(Ordering::SeqCst),
            0,
            "/health waited for a recall to end"
        );
        for recall in recalls {
            recall.await.expect("the blocking task");
        }
    });
}
