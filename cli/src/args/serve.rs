//! `dyno serve` flags (vLLM's names where one exists).

use clap::Args;

use super::engine::EngineArgs;

/// `dyno serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The engine.
    #[command(flatten)]
    pub engine: EngineArgs,
}
