//! `dyno bench-serve` (being built).

use anyhow::{Result, bail};

use crate::args::bench_serve::BenchServeArgs;

/// Runs the command; returns the exit code.
pub fn run(args: BenchServeArgs) -> Result<i32> {
    let _ = args;
    bail!("not built yet")
}
