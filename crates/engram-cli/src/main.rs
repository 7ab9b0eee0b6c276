//! `engram`: remember, associate, forget and recall from a shell; import JSON Lines or
//! WordNet; export; stats; which kernels run; recall benchmarks. `engram --help` lists the
//! commands, `engram COMMAND --help` their options.
//!
//! Errors are one line on standard error (what went wrong, and what to do) and exit status 1;
//! usage errors exit with 2; an import stopped by SIGINT or SIGTERM exits with 130 or 143.
//! Nothing panics on a failed output: `print!`-style macros, which do, are not used.

#![forbid(unsafe_code)]
#![deny(clippy::print_stdout, clippy::print_stderr)]

mod bench;
mod cli;
mod client;
mod commands;
mod export;
mod import;
mod output;
mod progress;
mod recall;
mod serve;
mod source;
mod store;
mod wordnet;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        // `engram export | head` closes the pipe early: that is the reader's choice, not an error.
        Err(error) if is_broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            output::note(&format!("engram: error: {error:#}"));
            match error.downcast_ref::<import::Interrupted>() {
                Some(interrupted) => ExitCode::from(interrupted.exit_status()),
                None => ExitCode::FAILURE,
            }
        }
    }
}

fn run(cli: &Cli) -> anyhow::Result<()> {
    let db = cli.db.as_path();
    store::set_model_dir(cli.model_dir.as_deref());
    // `serve` and `mcp` are servers themselves: ENGRAM_SERVER, set for the shell, does not
    // send them anywhere.
    if let Some(server) = &cli.server
        && !matches!(cli.command, Command::Serve(_) | Command::Mcp)
    {
        return client::run(cli, server);
    }
    match &cli.command {
        Command::Init(args) => commands::init(db, args, cli.json),
        Command::Remember(args) => commands::remember(db, args, cli.json),
        Command::Associate(args) => commands::associate(db, args, cli.json),
        Command::Dissociate(args) => commands::dissociate(db, args, cli.json),
        Command::Forget(args) => commands::forget(db, args, cli.json),
        Command::Show(args) => commands::show(db, args, cli.json),
        Command::Recall(args) => recall::run(db, args, cli.json),
        Command::Import(args) => import::run_local(db, args, cli.json),
        Command::Export(args) => export::run(db, args, cli.json),
        Command::Stats => commands::stats(db, cli.json),
        Command::SetPrecision(args) => commands::set_precision(db, args, cli.json),
        Command::Info => commands::info(db, cli.json),
        Command::Bench(args) => bench::run(db, args, cli.json),
        Command::Serve(args) => serve::run(args, cli.json),
        Command::Mcp => serve::mcp::run(db),
        Command::Migrate(args) => commands::migrate(args, cli.json),
    }
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
            || cause
                .downcast_ref::<serde_json::Error>()
                .and_then(serde_json::Error::io_error_kind)
                == Some(std::io::ErrorKind::BrokenPipe)
    })
}
