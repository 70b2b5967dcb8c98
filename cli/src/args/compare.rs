//! `dyno bench compare` flags.

use std::path::PathBuf;

use clap::Args;

/// `dyno bench compare A B`: which differences between two `bench serve` result files (JSON,
/// or JSONL of several runs from `--append-result`) are statistically significant.
#[derive(Debug, Args)]
pub struct CompareArgs {
    /// The baseline result file (A).
    pub a: PathBuf,
    /// The candidate result file (B).
    pub b: PathBuf,
    /// Write the comparison here as JSON (atomically).
    #[arg(long, value_name = "PATH")]
    pub json: Option<PathBuf>,
    /// False discovery rate across the compared metrics (Benjamini–Hochberg).
    #[arg(long, default_value_t = 0.05)]
    pub q: f64,
    /// Confidence level of the shift intervals.
    #[arg(long, default_value_t = 0.95)]
    pub level: f64,
    /// Bootstrap resamples per metric.
    #[arg(long, default_value_t = 2000)]
    pub resamples: usize,
    /// Seed of the bootstrap (the same seed gives the same intervals).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}
