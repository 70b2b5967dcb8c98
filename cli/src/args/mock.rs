//! `dyno mock-server` flags.

use clap::{Args, ValueEnum};

/// `dyno mock-server`: a ground-truth OpenAI-compatible server that streams tokens on an exact
/// schedule (first chunk at TTFT, then one chunk every ITL) and counts its own lateness.
#[derive(Debug, Args)]
pub struct MockServerArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Port to listen on (0: any free port, printed on start).
    #[arg(long, default_value_t = 8000)]
    pub port: u16,
    /// Model name served (`/v1/models`); requests naming another model get a 404.
    #[arg(long, default_value = "mock")]
    pub model: String,
    /// Time to first token, from the request's arrival (ms).
    #[arg(long, default_value_t = 50.0)]
    pub ttft_ms: f64,
    /// Time between tokens (ms).
    #[arg(long, default_value_t = 10.0)]
    pub itl_ms: f64,
    /// Tokens per answer; a request's smaller `max_tokens` / `max_completion_tokens` wins.
    #[arg(long, default_value_t = 100)]
    pub output_len: u32,
    /// Tokens per SSE event (chunks are then `K · itl` apart).
    #[arg(long, default_value_t = 1, value_name = "K")]
    pub tokens_per_chunk: u32,
    /// Move each chunk by a seeded uniform amount within ± this (ms; at most half a chunk
    /// interval).
    #[arg(long, default_value_t = 0.0)]
    pub jitter_ms: f64,
    /// Never send usage (like llama-cpp-python and mistral.rs).
    #[arg(long, conflicts_with = "usage_in_last_chunk")]
    pub no_usage: bool,
    /// Put usage in the last choice chunk instead of a separate chunk (like llama-server).
    #[arg(long)]
    pub usage_in_last_chunk: bool,
    /// Send `: ping` SSE comment lines (at stream start and between chunks).
    #[arg(long)]
    pub sse_comments: bool,
    /// Do not end streams with `data: [DONE]`.
    #[arg(long)]
    pub no_done: bool,
    /// Send an in-band `{"error": …}` event after N chunks.
    #[arg(long, value_name = "N", group = "fault")]
    pub error_after: Option<u32>,
    /// Stop writing after N chunks but keep the connection open.
    #[arg(long, value_name = "N", group = "fault")]
    pub stall_after: Option<u32>,
    /// Close the connection after N chunks, mid-stream.
    #[arg(long, value_name = "N", group = "fault")]
    pub drop_after: Option<u32>,
    /// Async worker threads.
    #[arg(long, default_value_t = 1)]
    pub workers: usize,
    /// How deadlines are waited for: `precise` (a pacing thread, ~0.1 ms) or `tokio` (1 ms
    /// timer wheel).
    #[arg(long, value_enum, default_value_t = TimerArg::Precise)]
    pub timer: TimerArg,
}

/// `--timer`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TimerArg {
    /// A pacing thread with nanosecond timeouts.
    Precise,
    /// tokio's timer wheel (1 ms ticks).
    Tokio,
}
