//! [`Generation`]: a validated request running in the engine — one engine request per prompt,
//! their token streams merged, each event numbered by its choice (`prompt_index * n +
//! sample_index`) and timed into the metrics as it passes. Dropping a `Generation` drops the
//! engine streams, which aborts whatever is unfinished and frees its KV blocks (this is how a
//! client that disconnects releases its work), and counts the request as aborted.

use std::sync::Arc;
use std::time::Instant;

use dyno_engine::{EngineError, EngineRequest, FinishReason, TokenEvent};
use dyno_protocol::common::Usage;
use futures::stream::{BoxStream, SelectAll, StreamExt, select_all};

use crate::error::ApiError;
use crate::metrics::Outcome;
use crate::state::{Admission, AppState, Ready};
use crate::validate::ValidRequest;

/// One event of a generation: which prompt it belongs to, and the engine's item.
type Tagged = (usize, Result<TokenEvent, EngineError>);

/// A request running in the engine. See the [module docs](self).
pub struct Generation {
    streams: SelectAll<BoxStream<'static, Tagged>>,
    tracker: Tracker,
    _admission: Admission,
}

impl std::fmt::Debug for Generation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Generation")
            .field("choices", &self.tracker.finish.len())
            .finish_non_exhaustive()
    }
}

/// What the response builders need to know about a request beside its events.
#[derive(Clone, Debug)]
pub struct RequestInfo {
    /// The response id (`cmpl-…` / `chatcmpl-…`).
    pub id: String,
    /// Unix seconds of arrival.
    pub created: u64,
    /// Choices per prompt.
    pub n: u32,
    /// Total choices.
    pub num_choices: usize,
    /// Each prompt's text for `echo` (completions only).
    pub echo: Vec<Option<String>>,
}

impl Generation {
    /// Admits `request` and queues its prompts in the engine. `id_prefix` is `cmpl` or
    /// `chatcmpl`; `arrival` is when the HTTP request came in.
    ///
    /// # Errors
    /// 429 when the waiting queue is full; the engine's refusal otherwise.
    pub fn start(
        state: &Arc<AppState>,
        ready: &Ready,
        request: ValidRequest,
        id_prefix: &str,
        arrival: Instant,
    ) -> Result<(Self, RequestInfo), ApiError> {
        let admission = state.admit(&ready.engine, request.num_seqs())?;
        let n = request.n();
        let mut streams = Vec::with_capacity(request.prompts.len());
        let mut prompt_lens = Vec::with_capacity(request.prompts.len());
        let mut echo = Vec::with_capacity(request.prompts.len());
        let mut first_id = None;
        for i in 0..request.prompts.len() {
            let id = state.request_id();
            first_id.get_or_insert(id);
            let params = request.params_for(i);
            let prompt = &request.prompts[i];
            prompt_lens.push(prompt.tokens.len());
            echo.push(prompt.echo_text.clone());
            let engine_request = EngineRequest {
                params,
                priority: request.priority,
                ..EngineRequest::new(id, prompt.tokens.clone())
            };
            let stream = ready
                .engine
                .generate(engine_request)
                .map_err(|e| ApiError::from_engine(&e))?;
            streams.push(stream.map(move |item| (i, item)).boxed());
        }
        let num_choices = prompt_lens.len() * n as usize;
        let info = RequestInfo {
            id: state.response_id(id_prefix, first_id.unwrap_or(dyno_engine::RequestId(0))),
            created: crate::state::unix_now(),
            n,
            num_choices,
            echo,
        };
        let tracker = Tracker {
            state: Arc::clone(state),
            arrival,
            n,
            first_seen: vec![false; prompt_lens.len()],
            samples_left: vec![n; prompt_lens.len()],
            prompt_lens,
            last_token: vec![None; num_choices],
            tokens: vec![0; num_choices],
            finish: vec![None; num_choices],
            outcome: None,
            counted: false,
        };
        Ok((
            Self {
                streams: select_all(streams),
                tracker,
                _admission: admission,
            },
            info,
        ))
    }

    /// The next event with its choice index; `None` when every choice finished.
    ///
    /// # Errors
    /// An engine failure (the request is counted as failed).
    pub async fn next(&mut self) -> Option<Result<(u32, TokenEvent), EngineError>> {
        let (prompt, item) = self.streams.next().await?;
        Some(match item {
            Ok(event) => Ok((self.tracker.record(prompt, &event), event)),
            Err(e) => {
                self.tracker.outcome = Some(Outcome::Error);
                Err(e)
            }
        })
    }

    /// The request's outcome is counted from its HTTP status (a non-streaming failure), not
    /// when the generation ends.
    pub fn counted_by_status(&mut self) {
        self.tracker.counted = true;
    }

    /// Token counts so far (all choices; prompts counted once each).
    pub fn usage(&self) -> Usage {
        Usage::new(
            self.tracker.prompt_lens.iter().sum::<usize>() as u64,
            self.tracker.tokens.iter().sum::<usize>() as u64,
        )
    }
}

/// Times and counts a generation's events into the metrics.
struct Tracker {
    state: Arc<AppState>,
    arrival: Instant,
    n: u32,
    prompt_lens: Vec<usize>,
    first_seen: Vec<bool>,
    samples_left: Vec<u32>,
    last_token: Vec<Option<Instant>>,
    tokens: Vec<usize>,
    finish: Vec<Option<FinishReason>>,
    outcome: Option<Outcome>,
    /// The outcome is counted elsewhere.
    counted: bool,
}

impl Tracker {
    /// Records `event` of prompt `prompt`; returns its choice index.
    fn record(&mut self, prompt: usize, event: &TokenEvent) -> u32 {
        let now = Instant::now();
        let metrics = &self.state.metrics;
        metrics.token();
        let choice = prompt * self.n as usize + event.sample_index as usize;
        if !self.first_seen[prompt] {
            self.first_seen[prompt] = true;
            metrics.ttft.observe(now - self.arrival);
        }
        if let Some(last) = self.last_token[choice] {
            metrics.itl.observe(now - last);
        }
        self.last_token[choice] = Some(now);
        self.tokens[choice] = event.num_output_tokens;
        if let Some(reason) = event.finished {
            self.finish[choice] = Some(reason);
            metrics.choice_finished(reason);
            self.samples_left[prompt] -= 1;
            if self.samples_left[prompt] == 0 {
                metrics.e2e.observe(now - self.arrival);
                metrics.prompt_tokens(self.prompt_lens[prompt]);
            }
            if self.outcome.is_none() && self.finish.iter().all(Option::is_some) {
                self.outcome = Some(Outcome::Success);
            }
        }
        choice as u32
    }
}

impl Drop for Tracker {
    fn drop(&mut self) {
        let metrics = &self.state.metrics;
        let outcome = self.outcome.unwrap_or(Outcome::Aborted);
        if outcome == Outcome::Aborted {
            for _ in self.finish.iter().filter(|f| f.is_none()) {
                metrics.choice_finished(FinishReason::Aborted);
            }
        }
        if !self.counted {
            metrics.outcome(outcome);
        }
    }
}
