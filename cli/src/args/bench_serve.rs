//! `dyno bench serve` and `dyno bench compare` flags (vLLM's `bench serve` names and defaults).

use std::path::PathBuf;

use clap::Args;

/// `dyno bench serve`.
#[derive(Debug, Args)]
pub struct BenchServeArgs {
    /// Server base URL.
    #[arg(long)]
    pub base_url: Option<String>,
}

/// `dyno bench compare`.
#[derive(Debug, Args)]
pub struct CompareArgs {
    /// The baseline result file.
    pub a: PathBuf,
    /// The candidate result file.
    pub b: PathBuf,
}
