//! `POST /v1/completions`: the handler and [`CompletionFormat`], the legacy completions shape
//! (`object: "text_completion"`, choices with `text`; stream chunks have the same shape with
//! text deltas).

use std::sync::Arc;
use std::time::Instant;

use axum::extract::State;
use axum::response::Response;
use dyno_engine::{TokenEvent, Tokenizer};
use dyno_protocol::common::{CompletionLogprobs, Usage};
use dyno_protocol::completions::{
    COMPLETION_OBJECT, CompletionChoice, CompletionChunk, CompletionRequest, CompletionResponse,
};
use dyno_protocol::sse;

use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::generation::RequestInfo;
use crate::logprobs;
use crate::response::{ResponseFormat, generate};
use crate::state::AppState;
use crate::validate;

/// `POST /v1/completions`.
pub async fn completions(
    State(state): State<Arc<AppState>>,
    ApiJson(request): ApiJson<CompletionRequest>,
) -> Result<Response, ApiError> {
    let arrival = Instant::now();
    let ready = state.ready()?;
    let valid = validate::completion(request, &state.limits(ready))?;
    generate(&state, ready, valid, "cmpl", arrival, CompletionFormat::new).await
}

/// Chunks and responses of `/v1/completions`.
pub struct CompletionFormat {
    info: RequestInfo,
    model: String,
    tokenizer: Option<Arc<dyn Tokenizer>>,
    texts: Vec<String>,
    chars: Vec<usize>,
    logprobs: Vec<CompletionLogprobs>,
    finish: Vec<Option<String>>,
    started: Vec<bool>,
}

impl CompletionFormat {
    /// A format for `info`'s choices; `tokenizer` is set when log-probabilities were asked for.
    pub fn new(info: RequestInfo, model: String, tokenizer: Option<Arc<dyn Tokenizer>>) -> Self {
        let n = info.num_choices;
        Self {
            texts: vec![String::new(); n],
            chars: vec![0; n],
            logprobs: vec![CompletionLogprobs::default(); n],
            finish: vec![None; n],
            started: vec![false; n],
            info,
            model,
            tokenizer,
        }
    }

    fn echo(&self, choice: u32) -> Option<&str> {
        let prompt = choice as usize / self.info.n.max(1) as usize;
        self.info.echo.get(prompt)?.as_deref()
    }

    fn envelope(&self, choices: Vec<CompletionChoice>, usage: Option<Usage>) -> CompletionChunk {
        CompletionChunk {
            id: self.info.id.clone(),
            object: COMPLETION_OBJECT.to_owned(),
            created: self.info.created,
            model: self.model.clone(),
            choices,
            usage,
        }
    }
}

impl ResponseFormat for CompletionFormat {
    fn chunk(
        &mut self,
        choice: u32,
        event: &TokenEvent,
        usage: Option<Usage>,
    ) -> serde_json::Result<Vec<u8>> {
        let c = choice as usize;
        let mut text = String::new();
        if !self.started[c] {
            self.started[c] = true;
            if let Some(echo) = self.echo(choice) {
                text.push_str(echo);
            }
        }
        text.push_str(&event.text);
        let logprobs = self.tokenizer.as_deref().map(|tok| {
            let mut lp = CompletionLogprobs::default();
            logprobs::push_completion(&mut lp, tok, event, self.chars[c]);
            lp
        });
        self.chars[c] += text.chars().count();
        let chunk = self.envelope(
            vec![CompletionChoice {
                index: choice,
                text,
                logprobs,
                finish_reason: event.finished.map(|r| r.as_openai().to_owned()),
            }],
            usage,
        );
        sse::event(&chunk)
    }

    fn usage_chunk(&self, usage: Usage) -> serde_json::Result<Vec<u8>> {
        sse::event(&self.envelope(Vec::new(), Some(usage)))
    }

    fn accumulate(&mut self, choice: u32, event: &TokenEvent) {
        let c = choice as usize;
        if !self.started[c] {
            self.started[c] = true;
            if let Some(echo) = self.echo(choice).map(str::to_owned) {
                self.chars[c] += echo.chars().count();
                self.texts[c].push_str(&echo);
            }
        }
        if let Some(tok) = self.tokenizer.as_deref() {
            logprobs::push_completion(&mut self.logprobs[c], tok, event, self.chars[c]);
        }
        self.chars[c] += event.text.chars().count();
        self.texts[c].push_str(&event.text);
        if let Some(reason) = event.finished {
            self.finish[c] = Some(reason.as_openai().to_owned());
        }
    }

    fn response(mut self, usage: Usage) -> serde_json::Result<Vec<u8>> {
        let with_logprobs = self.tokenizer.is_some();
        let choices = (0..self.info.num_choices)
            .map(|c| CompletionChoice {
                index: c as u32,
                text: std::mem::take(&mut self.texts[c]),
                logprobs: with_logprobs.then(|| std::mem::take(&mut self.logprobs[c])),
                finish_reason: self.finish[c].take(),
            })
            .collect();
        let response = CompletionResponse {
            object: COMPLETION_OBJECT.to_owned(),
            ..self.envelope(choices, Some(usage))
        };
        serde_json::to_vec(&response)
    }
}
