//! `dyno mock-server` (being built).

use anyhow::{Result, bail};

use crate::args::mock::MockServerArgs;

/// Runs the command; returns the exit code.
pub fn run(args: MockServerArgs) -> Result<i32> {
    let _ = args;
    bail!("not built yet")
}
