//! Deterministic crashes: run a command under `strace`, which SIGKILLs it at its Nth call of
//! one system call (a write, an fsync, a rename). Shared by the engine's and the command's
//! crash tests (the command's include this file by path).
#![allow(dead_code)] // Each test file uses part of this.

use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Output};

/// The system calls through which a store reaches the disk: LMDB writes a commit's pages with
/// pwrite64 and writev, fdatasyncs them, then writes the meta page with pwrite64 on a
/// descriptor opened O_DSYNC; creating a store fsyncs the file and its directory and moves
/// it into place with renameat2.
pub const DURABILITY_SYSCALLS: &[&str] = &["pwrite64", "writev", "fdatasync", "fsync", "renameat2"];

/// Those a store's creation makes (its one transaction is small: no writev).
pub const CREATE_SYSCALLS: &[&str] = &["pwrite64", "fdatasync", "fsync", "renameat2"];

/// Set to run without strace: the tests that need it then say so and pass.
pub const WITHOUT_STRACE: &str = "ENGRAM_TEST_WITHOUT_STRACE";

/// Whether strace can run here. Without it a crash test fails (it must never pass without
/// killing anything), unless `ENGRAM_TEST_WITHOUT_STRACE` is set.
pub fn strace_available() -> bool {
    let found = Command::new("strace")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var_os(WITHOUT_STRACE).is_some(),
            "the crash tests need strace (apt-get install strace), or set {WITHOUT_STRACE}=1 to skip them"
        );
        eprintln!("SKIPPED: strace is not installed and {WITHOUT_STRACE} is set");
    }
    found
}

/// How a run ended.
pub struct Run {
    /// Its output (stdout and stderr of the command; strace's own trace goes nowhere).
    pub output: Output,
    /// Whether the SIGKILL came: false if the command made fewer than `n` such calls.
    pub killed: bool,
}

/// Runs `command` under strace, killed by SIGKILL when it enters its `n`th (from 1) call of
/// `syscall` — before that call takes effect. Calls are counted per thread.
pub fn run_killed_at(command: &Command, syscall: &str, n: u32) -> Run {
    let mut traced = Command::new("strace");
    traced
        .args(["-f", "-o", "/dev/null", "-e"])
        .arg(format!("trace={syscall}"))
        .arg("-e")
        .arg(format!("inject={syscall}:signal=SIGKILL:when={n}"))
        .arg(command.get_program())
        .args(command.get_args());
    for (key, value) in command.get_envs() {
        match value {
            Some(value) => traced.env(key, value),
            None => traced.env_remove(key),
        };
    }
    if let Some(dir) = command.get_current_dir() {
        traced.current_dir(dir);
    }
    let output = traced.output().expect("run strace");
    // strace ends itself with the signal that ended the command.
    let killed = output.status.signal() == Some(SIGKILL);
    Run { output, killed }
}

/// SIGKILL's number on every Unix this project builds on.
const SIGKILL: i32 = 9;
