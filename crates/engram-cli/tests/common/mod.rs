//! Running the built `engram` binary in a temporary directory.
#![allow(dead_code)] // Each test file uses part of this.

use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;

/// `engram serve` on a loopback port, and commands sent to it.
pub mod server;

/// Deterministic crashes under strace, shared with the engine's crash tests.
#[path = "../../../engram/tests/common/kill.rs"]
pub mod kill;

/// A temporary directory with a store path in it (not created).
pub struct Sandbox {
    pub dir: tempfile::TempDir,
    pub db: PathBuf,
}

impl Sandbox {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("test.db");
        Self { dir, db }
    }

    /// The same sandbox with its store at `name` (relative to the sandbox) instead.
    pub fn with_db(mut self, name: &str) -> Self {
        self.db = self.dir.path().join(name);
        self
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `engram --db <db> args...`, in the sandbox, with no ENGRAM_* settings from outside.
    pub fn engram(&self, args: &[&str]) -> Command {
        Command::from_std(self.std_command(args))
    }

    /// The same command as a `std::process::Command` (to run it under strace, say).
    pub fn std_command(&self, args: &[&str]) -> std::process::Command {
        let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin!("engram"));
        cmd.current_dir(self.dir.path())
            .env_remove("ENGRAM_DB")
            .env_remove("ENGRAM_KERNELS")
            .env_remove("ENGRAM_KERNELS_LEVEL")
            .env("RUST_BACKTRACE", "1")
            .arg("--db")
            .arg(&self.db)
            .args(args);
        cmd
    }

    /// `engram --db <db> args...` under strace, which tampers with the system calls on `path`
    /// as `inject` says: `pwrite64:error=ENOSPC:when=30+` fails its 30th write and every later
    /// one, `fdatasync:signal=SIGTERM:when=7` sends SIGTERM at its 7th fdatasync; several,
    /// separated by `;`, all apply.
    pub fn under_strace(&self, path: &Path, args: &[&str], inject: &str) -> Output {
        let command = self.std_command(args);
        let mut strace = std::process::Command::new("strace");
        strace.args(["-f", "-o", "/dev/null", "-P"]).arg(path);
        for spec in inject.split(';') {
            strace.arg("-e").arg(format!("inject={spec}"));
        }
        strace
            .arg(command.get_program())
            .args(command.get_args())
            .current_dir(self.dir.path())
            .output()
            .expect("strace")
    }

    /// Runs a bash script in the sandbox, with `$ENGRAM` the built binary and `$DB` the store
    /// (for pipes and redirections: `"$ENGRAM" --db "$DB" export | head -n 1`).
    pub fn shell(&self, script: &str) -> Output {
        std::process::Command::new("bash")
            .arg("-c")
            .arg(script)
            .current_dir(self.dir.path())
            .env("ENGRAM", assert_cmd::cargo::cargo_bin!("engram"))
            .env("DB", &self.db)
            .env_remove("ENGRAM_DB")
            .env_remove("ENGRAM_KERNELS")
            .env_remove("ENGRAM_KERNELS_LEVEL")
            .output()
            .expect("bash")
    }

    /// Runs and expects success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.engram(args).output().expect("run engram");
        assert!(
            out.status.success(),
            "engram {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8 stdout")
    }

    /// Runs with `--json`, expects success, parses stdout.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.ok(&all);
        assert_eq!(out.lines().count(), 1, "one line of JSON: {out}");
        serde_json::from_str(&out).expect("valid JSON")
    }

    /// Runs, expects failure with exit status 1 and a one-line error; returns the error line.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.engram(args).output().expect("run engram");
        user_error(&out, args)
    }

    /// `init` with the text embedder in `dim` dimensions.
    pub fn init(&self, dim: usize) {
        self.ok(&["init", "--dim", &dim.to_string()]);
    }
}

/// Checks a user error: status 1, stderr ends in one `engram: error:` line, no panic or
/// backtrace, nothing on stdout.
pub fn user_error(out: &Output, args: &[&str]) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "engram {args:?}: {stderr}");
    assert!(
        !stderr.contains("panicked") && !stderr.contains("backtrace"),
        "{stderr}"
    );
    assert!(
        out.stdout.is_empty(),
        "stdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let last = stderr.lines().last().unwrap_or_default().to_owned();
    assert!(last.starts_with("engram: error: "), "{stderr}");
    last
}

pub fn ids(value: &serde_json::Value) -> Vec<u64> {
    value["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| r["id"].as_u64().expect("id"))
        .collect()
}

/// Runs `tests/mcp/{script}`, an MCP client written with the official Python SDK (which
/// scripts/test installs), as `python3 SCRIPT ENGRAM DB [extra...]` in `sandbox`, without
/// ENGRAM_MODEL_DIR (a script that needs the model is given its directory), and checks that
/// it ended by printing "ok".
pub fn mcp_client(sandbox: &Sandbox, script: &str, extra: &[&Path]) {
    let client = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/mcp")
        .join(script);
    let output = std::process::Command::new("python3")
        .arg(&client)
        .arg(assert_cmd::cargo::cargo_bin!("engram"))
        .arg(&sandbox.db)
        .args(extra)
        .env_remove("ENGRAM_MODEL_DIR")
        // The scripts import `sdk.py`: no __pycache__ in the source tree.
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .current_dir(sandbox.dir.path())
        .output()
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.trim_end().ends_with("ok"),
        "{script}: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

pub fn exists(path: &Path) -> bool {
    path.exists()
}
