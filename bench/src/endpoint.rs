//! [`Endpoint`]: where benchmark requests go. One request in, one raw [`RequestOutcome`] out;
//! every metric is computed later from outcomes by [`crate::metrics`].
//!
//! The `dyno` binary implements it for the in-process engine (offline `bench throughput` and
//! `bench latency`); HTTP endpoints (`bench serve`) implement it for OpenAI-compatible servers.

use std::future::Future;
use std::time::{Duration, Instant};

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
    /// When the request was sent, from the start of the run.
    pub send_offset: Duration,
    /// Arrival of each output chunk after the send (first = time to first token), and how many
    /// tokens it carried.
    pub chunks: Vec<(Duration, u32)>,
    /// Send to last byte.
    pub latency: Duration,
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
