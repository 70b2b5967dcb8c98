//! `dyno serve` flags (vLLM's names where one exists).

use std::path::PathBuf;

use clap::Args;

use super::engine::{EngineArgs, parse_bytes};

/// `dyno serve`: the engine behind an OpenAI-compatible HTTP API.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Interface to listen on (0.0.0.0 for every interface).
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Port to listen on; 0 picks a free one (the address is printed on stdout).
    #[arg(long, default_value_t = 8000)]
    pub port: u16,
    /// The model name clients send and `/v1/models` lists; default: the model path's last
    /// component (or `tiny`).
    #[arg(long)]
    pub served_model_name: Option<String>,
    /// A Jinja chat template file (or an inline template) instead of the model's own.
    #[arg(long, value_name = "FILE")]
    pub chat_template: Option<String>,
    /// Require `Authorization: Bearer <KEY>` on /v1/* (also read from DYNO_API_KEY or
    /// VLLM_API_KEY).
    #[arg(long, value_name = "KEY")]
    pub api_key: Option<String>,
    /// Answer 429 (with Retry-After) while this many sequences already wait; default: no limit.
    #[arg(long, value_name = "N")]
    pub max_waiting_requests: Option<usize>,
    /// Larger request bodies get 413 (suffixes K, M, G, KiB, MiB, GiB accepted).
    #[arg(long, value_parser = parse_bytes, default_value = "32MiB")]
    pub max_request_body_bytes: u64,
    /// After SIGTERM or Ctrl-C, how long in-flight requests may run before they are cut.
    #[arg(long, value_name = "SECONDS", default_value_t = 30.0)]
    pub drain_timeout_sec: f64,
    /// The engine.
    #[command(flatten)]
    pub engine: EngineArgs,
}

impl ServeArgs {
    /// The name the model is served as.
    pub fn served_model_name(&self) -> String {
        self.served_model_name.clone().unwrap_or_else(|| {
            PathBuf::from(&self.engine.model).file_name().map_or_else(
                || self.engine.model.clone(),
                |n| n.to_string_lossy().into_owned(),
            )
        })
    }
}
