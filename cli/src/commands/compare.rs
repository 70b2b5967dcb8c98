//! `dyno compare` (being built).

use anyhow::{Result, bail};

use crate::args::bench_serve::CompareArgs;

/// Runs the command; returns the exit code.
pub fn run(args: CompareArgs) -> Result<i32> {
    let _ = args;
    bail!("not built yet")
}
