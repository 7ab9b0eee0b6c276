//! `engram serve` run for a test: the built binary on a loopback port, driven by curl (a real
//! client).

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::Sandbox;

/// A running server, killed when dropped.
pub struct Server {
    pub child: Child,
    pub url: String,
    pub log: PathBuf,
    pub token: Option<String>,
}

impl Server {
    /// `engram serve --dir DIR --listen 127.0.0.1:0 args...`, with `env` set; waits until it
    /// listens.
    pub fn start(sandbox: &Sandbox, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Self {
        let log = sandbox.path(&format!(
            "serve-{}.log",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .expect("time")
                .as_nanos()
        ));
        let mut command = sandbox.std_command(&["serve", "--dir"]);
        command
            .arg(dir)
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .env_remove("ENGRAM_TOKEN")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).expect("log file"));
        let mut child = command.spawn().expect("engram serve starts");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("the first line");
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| {
                panic!(
                    "unexpected first line {line:?}; log: {}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                )
            })
            .to_owned();
        let token = env
            .iter()
            .find(|(k, _)| *k == "ENGRAM_TOKEN")
            .map(|(_, v)| (*v).to_owned());
        Self {
            child,
            url,
            log,
            token,
        }
    }

    /// `curl -X METHOD URL/PATH` with a JSON body, the server's token unless `auth` says
    /// otherwise; returns the status and the body as text.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
        auth: Option<&str>,
    ) -> (u16, String) {
        let mut curl = Command::new("curl");
        curl.args([
            "-sS",
            "--path-as-is",
            "-o",
            "-",
            "-w",
            "\n%{http_code}",
            "-X",
            method,
        ])
        .arg(format!("{}{path}", self.url))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
        if let Some(token) = auth.or(self.token.as_deref()) {
            curl.args(["-H", &format!("Authorization: Bearer {token}")]);
        }
        if body.is_some() {
            curl.args([
                "-H",
                "Content-Type: application/json",
                "--data-binary",
                "@-",
            ]);
        }
        let mut child = curl.spawn().expect("curl runs");
        let mut stdin = child.stdin.take().expect("stdin");
        stdin
            .write_all(body.unwrap_or_default().as_bytes())
            .expect("body written");
        drop(stdin);
        let output = child.wait_with_output().expect("curl finishes");
        let text = String::from_utf8(output.stdout).expect("UTF-8");
        let (body, status) = text.rsplit_once('\n').expect("a status line");
        (status.parse().unwrap_or(0), body.to_owned())
    }

    /// A request whose answer is JSON.
    pub fn json(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let body = body.map(|b| b.to_string());
        let (status, text) = self.request(method, path, body.as_deref(), None);
        let value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{method} {path}: {status} {text:?} is not JSON: {e}"));
        (status, value)
    }

    /// A request that must succeed with `status`.
    pub fn ok(&self, status: u16, method: &str, path: &str, body: Option<Value>) -> Value {
        let (got, value) = self.json(method, path, body);
        assert_eq!(got, status, "{method} {path}: {value}");
        value
    }

    /// A request that must fail with this status and error code.
    pub fn fails(&self, status: u16, code: &str, method: &str, path: &str, body: Option<&str>) {
        let (got, text) = self.request(method, path, body, None);
        let value: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{method} {path}: {got} {text:?} is not JSON: {e}"));
        assert_eq!(
            (got, value["error"]["code"].as_str()),
            (status, Some(code)),
            "{method} {path}: {value}"
        );
        assert!(value["error"]["message"].is_string(), "{value}");
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args(["-s", signal, &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }

    /// Waits (at most 30 s) for the server to exit; its exit code.
    pub fn wait(&mut self) -> Option<i32> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status.code();
            }
            assert!(Instant::now() < deadline, "the server did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `engram args...` in the sandbox, on `server`'s space if given (else on the sandbox's
/// store), without ENGRAM_TOKEN.
pub fn engram_on(
    sandbox: &Sandbox,
    on: Option<(&Server, &str)>,
    args: &[&str],
) -> std::process::Output {
    let mut command = sandbox.std_command(&[]);
    if let Some((server, space)) = on {
        command.args(["--server", &server.url, "--space", space]);
    }
    command
        .args(args)
        .env_remove("ENGRAM_TOKEN")
        .output()
        .expect("runs")
}

/// The standard output of a command that must have succeeded.
pub fn ok(output: std::process::Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8")
}
