//! What the mock server does: the timing schedule, the output length and the quirk knobs.

use std::net::SocketAddr;
use std::time::Duration;

use crate::error::MockError;

/// How the server waits for a deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TimerKind {
    /// A dedicated pacing thread that sleeps on a condition variable with nanosecond timeouts
    /// and wakes the stream's task at its deadline (typically 50–150 µs late).
    #[default]
    Precise,
    /// `tokio::time::sleep_until` (1 ms timer wheel: deadlines are rounded up to the next
    /// millisecond, so writes are on average about 1 ms late).
    Tokio,
}

/// Where the usage numbers go in a streamed answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UsageMode {
    /// OpenAI's way: a separate final chunk with empty `choices`, only when the request asks
    /// with `stream_options.include_usage` (vLLM's client counts tokens only from it).
    #[default]
    WhenRequested,
    /// llama-server's way: `usage` in the last choice chunk, whatever the request asked.
    InLastChunk,
    /// No usage anywhere, not even in non-streaming bodies (llama-cpp-python, mistral.rs).
    Never,
}

/// A failure injected after a number of token chunks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// After `n` chunks send an in-band `{"error": …}` event (then `[DONE]` unless disabled).
    ErrorAfter(u32),
    /// After `n` chunks stop writing but keep the connection open.
    StallAfter(u32),
    /// After `n` chunks close the connection mid-stream (no terminating chunk).
    DropAfter(u32),
}

/// The validated configuration of a mock server.
///
/// The schedule of a request received (headers and body read) at `t0`: token chunk `i`
/// (0-based) is written at `t0 + ttft + i · tokens_per_chunk · itl` (± jitter), the last
/// one with `finish_reason: "length"`; the usage chunk and `[DONE]` follow the last chunk at
/// once. A non-streaming answer is written at the last chunk's deadline.
#[derive(Debug, Clone, PartialEq)]
pub struct MockConfig {
    /// Address to listen on (port 0: any free port).
    pub addr: SocketAddr,
    /// Time from receiving the request to the first token chunk.
    pub ttft: Duration,
    /// Time between consecutive tokens.
    pub itl: Duration,
    /// Tokens per answer; a request's `max_tokens` / `max_completion_tokens` lowers it.
    pub output_len: u32,
    /// The served model's name (`/v1/models`; requests naming another model get a 404).
    pub model: String,
    /// Tokens per SSE event (the last event may carry fewer).
    pub tokens_per_chunk: u32,
    /// Where usage goes.
    pub usage: UsageMode,
    /// Send `: ping` comment events: one when the stream opens, one midway between chunks.
    pub sse_comments: bool,
    /// End streams with `data: [DONE]`.
    pub done: bool,
    /// An injected failure.
    pub fault: Option<Fault>,
    /// Each chunk's deadline moves by a seeded uniform amount in `[-jitter, +jitter]`
    /// (at most half the chunk interval, so the order never changes).
    pub jitter: Duration,
    /// How deadlines are waited for.
    pub timer: TimerKind,
}

impl MockConfig {
    /// The defaults of `dyno mock-server`: 127.0.0.1:8000, TTFT 50 ms, ITL 10 ms, 100 tokens.
    pub fn new() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 8000)),
            ttft: Duration::from_millis(50),
            itl: Duration::from_millis(10),
            output_len: 100,
            model: "mock".to_owned(),
            tokens_per_chunk: 1,
            usage: UsageMode::WhenRequested,
            sse_comments: false,
            done: true,
            fault: None,
            jitter: Duration::ZERO,
            timer: TimerKind::Precise,
        }
    }

    /// The same configuration on `127.0.0.1` with an OS-chosen port (for tests).
    pub fn loopback_any_port(mut self) -> Self {
        self.addr = SocketAddr::from(([127, 0, 0, 1], 0));
        self
    }

    /// Time between two consecutive chunks: `tokens_per_chunk · itl`.
    pub fn chunk_interval(&self) -> Duration {
        self.itl * self.tokens_per_chunk
    }

    /// Checks the values a schedule needs.
    ///
    /// # Errors
    /// [`MockError::Config`] naming the bad value.
    pub fn validate(&self) -> Result<(), MockError> {
        let bad = |name: &'static str, message: String| Err(MockError::Config { name, message });
        if self.output_len == 0 {
            return bad(
                "output-len",
                "0 tokens per answer; give at least 1".to_owned(),
            );
        }
        if self.tokens_per_chunk == 0 {
            return bad(
                "tokens-per-chunk",
                "0 tokens per chunk; give at least 1".to_owned(),
            );
        }
        if self.model.is_empty() {
            return bad("model", "the model name is empty; give a name".to_owned());
        }
        if self.jitter > self.chunk_interval() / 2 {
            return bad(
                "jitter",
                format!(
                    "{:?} is more than half the chunk interval {:?}; lower it",
                    self.jitter,
                    self.chunk_interval()
                ),
            );
        }
        Ok(())
    }
}

impl Default for MockConfig {
    fn default() -> Self {
        Self::new()
    }
}
