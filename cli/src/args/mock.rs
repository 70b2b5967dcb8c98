//! `dyno mock-server` flags.

use clap::Args;

/// `dyno mock-server`.
#[derive(Debug, Args)]
pub struct MockServerArgs {
    /// Port to listen on (0: any free port, printed on start).
    #[arg(long, default_value_t = 8000)]
    pub port: u16,
}
