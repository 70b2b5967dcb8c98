//! [`Endpoint`]: where benchmark requests go. One request in, one raw [`RequestOutcome`] out;
//! every metric is computed later from outcomes by [`crate::metrics`].
//!
//! The `dyno` binary implements it for the in-process engine (offline `bench throughput` and
//! `bench latency`); [`HttpEndpoint`] implements it for servers over HTTP (`bench serve`), one
//! [`Backend`] per wire format:
//!
//! | backend | route | module |
//! |---|---|---|
//! | `openai`, `vllm` | `POST /v1/completions` | `openai_completions.rs` |
//! | `openai-chat` | `POST /v1/chat/completions` | `openai_chat.rs` |
//! | `tgi` | `POST /generate_stream` | `tgi.rs` |
//! | `llama.cpp` | `POST /completion` | `llama_cpp.rs` |
//! | `sglang` | `POST /generate` | `sglang.rs` |
//!
//! The HTTP path is split in three: [`http`] owns the sockets (HTTP/1.1, `TCP_NODELAY`, a pool
//! of kept-alive connections) and stamps every network read with [`Instant::now`] before any
//! parsing; [`sse`] splits the body into server-sent events; each backend module reads only the
//! fields it needs from an event into a [`StreamState`].

mod backend;
mod client;
pub mod http;
mod llama_cpp;
mod openai_chat;
mod openai_completions;
mod server_tokenizer;
mod sglang;
pub mod sse;
mod stream;
mod tgi;

use std::future::Future;
use std::time::{Duration, Instant};

use serde::Serialize;

pub use backend::{
    ALL_BACKENDS, Backend, PayloadOptions, PrepareError, ResponseMode, SamplingFlags,
};
pub use client::{EndpointError, HttpEndpoint, HttpEndpointConfig, PreparedRequest};
pub use server_tokenizer::ServerTokenizer;
pub use stream::StreamState;

use crate::dataset::SampleRequest;

/// Sampling settings sent with every request of a run (vLLM's bench sampling flags).
#[derive(Clone, Debug, PartialEq)]
pub struct RequestOptions {
    /// Samples per prompt (`--n`).
    pub n: u32,
    /// Softmax temperature; vLLM's offline benches use 1.0.
    pub temperature: f32,
    /// Nucleus mass; 1 = off.
    pub top_p: f32,
    /// Top-k; `None` = off.
    pub top_k: Option<u32>,
    /// Keep generating past EOS so outputs have the dataset's length (on in vLLM's offline
    /// benches).
    pub ignore_eos: bool,
    /// Seed of each request's sampler; `None` lets the engine choose.
    pub seed: Option<u64>,
    /// Produce text (`--disable-detokenize` turns it off).
    pub detokenize: bool,
}

impl Default for RequestOptions {
    fn default() -> Self {
        Self {
            n: 1,
            temperature: 1.0,
            top_p: 1.0,
            top_k: None,
            ignore_eos: true,
            seed: None,
            detokenize: true,
        }
    }
}

/// Where a request's output-token count came from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenSource {
    /// The server's (or engine's) own count: OpenAI `usage`, TGI `details`, llama.cpp
    /// `tokens_predicted`, sglang `meta_info`.
    #[default]
    Usage,
    /// The generated text re-tokenized with the benchmark's tokenizer (no count was sent).
    Tokenizer,
    /// One token per token-bearing chunk (no count was sent and no tokenizer was at hand).
    Chunks,
}

impl TokenSource {
    /// The name written to result files.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Usage => "usage",
            Self::Tokenizer => "tokenizer",
            Self::Chunks => "chunks",
        }
    }
}

/// HTTP phase timings of one request, from the moment its bytes were written.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct HttpTimings {
    /// TCP connect time, when this request opened a new connection.
    pub connect: Option<Duration>,
    /// Write to the first byte of the response.
    pub first_byte: Option<Duration>,
    /// Write to the end of the response headers.
    pub headers: Option<Duration>,
}

/// What happened to one request, as raw observations.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RequestOutcome {
    /// The dataset's request id.
    pub request_id: String,
    /// Whether the request completed.
    pub success: bool,
    /// Why it failed.
    pub error: Option<String>,
    /// Prompt tokens as the endpoint counted them (the dataset's count when it reports none).
    pub prompt_len: usize,
    /// Output tokens of all samples together.
    pub output_tokens: usize,
    /// Where [`output_tokens`](Self::output_tokens) came from.
    pub output_token_source: TokenSource,
    /// When the request was sent, from the start of the run.
    pub send_offset: Duration,
    /// When the arrival schedule wanted it sent, from the start of the run (`None` outside
    /// `bench serve`).
    pub scheduled_offset: Option<Duration>,
    /// Time spent waiting for a `--max-concurrency` slot after the scheduled time (vLLM's
    /// client queue time).
    pub queue_time: Duration,
    /// Arrival of each token-bearing output chunk after the send (first = time to first
    /// token), and how many tokens it carried (0 = the server did not say).
    pub chunks: Vec<(Duration, u32)>,
    /// Send to the last token-bearing chunk (vLLM's E2EL; the trailing usage chunk and
    /// `[DONE]` do not extend it). Send to the failure for a failed request.
    pub latency: Duration,
    /// Send to the last byte of the response.
    pub total_time: Duration,
    /// HTTP phase timings (`None` in-process).
    pub http: Option<HttpTimings>,
    /// The output text of sample 0 (empty when not detokenized).
    pub generated_text: String,
}

impl RequestOutcome {
    /// A failed outcome for `request`, sent at `send_offset`.
    pub fn failed(request: &SampleRequest, send_offset: Duration, error: String) -> Self {
        Self {
            request_id: request.request_id.clone(),
            prompt_len: request.prompt_len,
            send_offset,
            error: Some(error),
            ..Self::default()
        }
    }

    /// Time to first token, when a token arrived.
    pub fn ttft(&self) -> Option<Duration> {
        self.chunks.first().map(|c| c.0)
    }
}

/// A clock for one request: call [`chunk`](Self::chunk) when bytes arrive, before parsing.
#[derive(Clone, Debug)]
pub struct RequestTimer {
    run_start: Instant,
    sent: Instant,
    chunks: Vec<(Duration, u32)>,
}

impl RequestTimer {
    /// Starts timing a request sent now, in a run that started at `run_start`.
    pub fn start(run_start: Instant) -> Self {
        Self {
            run_start,
            sent: Instant::now(),
            chunks: Vec::new(),
        }
    }

    /// Records a chunk of `tokens` tokens arriving now.
    pub fn chunk(&mut self, tokens: u32) {
        self.chunks.push((self.sent.elapsed(), tokens));
    }

    /// The send offset, the chunks and the latency up to now.
    pub fn finish(self) -> (Duration, Vec<(Duration, u32)>, Duration) {
        (
            self.sent.duration_since(self.run_start),
            self.chunks,
            self.sent.elapsed(),
        )
    }
}

/// Something that serves benchmark requests. See the [module docs](self).
pub trait Endpoint: Send + Sync {
    /// A short name for reports (`"dyno-engine"`, `"openai"`, …).
    fn name(&self) -> &str;

    /// Sends `request` and waits for its whole response. Never panics on a bad response: a
    /// failure is an outcome with `success == false`.
    fn send(
        &self,
        request: &SampleRequest,
        options: &RequestOptions,
        run_start: Instant,
    ) -> impl Future<Output = RequestOutcome> + Send;
}
