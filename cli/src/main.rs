//! The `dyno` command line. Thin by design: parse the arguments, call a library, print.
//!
//! - `dyno bench throughput|latency`: offline benchmarks of the in-process engine (vLLM's flags
//!   and JSON keys), `dyno generate`: one completion for a person.
//!
//! `dyno regress` is the regression gate of issue 5 (see `docs/regression-gate.md`):
//! - `run`: builds two revisions and measures them in interleaved blocks, then judges;
//! - `check`: judges data measured elsewhere (CSV, run records, criterion trees);
//! - `baseline update|show`: the committed per-machine baselines;
//! - `calibrate`: measures this machine's false-fail rate and power.
//!
//! Exit codes: 0 no regression, 1 regression, 2 error, 3 inconclusive (CI retries on 3).

mod args;
mod bench_process;
mod commands;
mod compile;
mod dataset_args;
mod engine_endpoint;
mod git;
mod health;
mod lockstep;
mod machine;
mod output;
mod schedule;

use std::process::ExitCode;

use clap::Parser;
use dyno_regress::EXIT_ERROR;

use crate::args::{BaselineCommand, BenchCommand, Cli, Command, RegressCommand};

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.global.verbose);
    let result = match cli.command {
        Command::Bench(b) => match b.command {
            BenchCommand::Throughput(a) => commands::bench::throughput(a),
            BenchCommand::Latency(a) => commands::bench::latency(a),
            BenchCommand::Serve(a) => commands::bench_serve::run(*a),
            BenchCommand::Compare(a) => commands::compare::run(a),
        },
        Command::Generate(a) => commands::generate::run(a),
        Command::Serve(a) => commands::serve::run(a),
        Command::MockServer(a) => commands::mock_server::run(a),
        Command::Regress(r) => match r.command {
            RegressCommand::Run(a) => commands::run::run(a),
            RegressCommand::Check(a) => commands::check::run(a),
            RegressCommand::Baseline(b) => match b.command {
                BaselineCommand::Update(a) => commands::baseline::update(a),
                BaselineCommand::Show(a) => commands::baseline::show(a),
            },
            RegressCommand::Calibrate(a) => commands::calibrate::run(a),
        },
    };
    match result {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(2)),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(EXIT_ERROR as u8)
        }
    }
}

/// Logs go to stderr; `DYNO_LOG` (an `EnvFilter` directive) overrides `-v`.
fn init_tracing(verbose: u8) {
    let default = match verbose {
        0 => "warn,dyno=info",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("DYNO_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .init();
}
