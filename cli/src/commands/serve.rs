//! `dyno serve` (being built).

use anyhow::{Result, bail};

use crate::args::serve::ServeArgs;

/// Runs the command; returns the exit code.
pub fn run(args: ServeArgs) -> Result<i32> {
    let _ = args;
    bail!("not built yet")
}
