//! `POST /v1/chat/completions`: the handler and [`ChatFormat`]. The conversation is rendered
//! with the model's chat template (see [`crate::chat_template`]). In a stream, a choice's first
//! chunk carries `role: "assistant"` together with the first token's text (one chunk per token,
//! so a client counting chunks counts tokens), later chunks carry `content` deltas.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::State;
use axum::response::Response;
use dyno_engine::{TokenEvent, Tokenizer};
use dyno_protocol::chat::{
    AssistantMessage, CHAT_CHUNK_OBJECT, CHAT_OBJECT, ChatChoice, ChatChunkChoice,
    ChatCompletionChunk, ChatCompletionRequest, ChatCompletionResponse, ChatDelta,
};
use dyno_protocol::common::{ChatLogprobs, Usage};
use dyno_protocol::sse;

use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::generation::RequestInfo;
use crate::logprobs;
use crate::response::{ResponseFormat, generate};
use crate::state::AppState;
use crate::validate;

const ASSISTANT: &str = "assistant";

/// `POST /v1/chat/completions`.
pub async fn chat_completions(
    State(state): State<Arc<AppState>>,
    ApiJson(request): ApiJson<ChatCompletionRequest>,
) -> Result<Response, ApiError> {
    let arrival = Instant::now();
    let ready = state.ready()?;
    let valid = validate::chat(request, &state.limits(ready), &state.config.chat_template)?;
    generate(&state, ready, valid, "chatcmpl", arrival, ChatFormat::new).await
}

/// Chunks and responses of `/v1/chat/completions`.
pub struct ChatFormat {
    info: RequestInfo,
    model: String,
    tokenizer: Option<Arc<dyn Tokenizer>>,
    contents: Vec<String>,
    logprobs: Vec<ChatLogprobs>,
    finish: Vec<Option<String>>,
    role_sent: Vec<bool>,
}

impl ChatFormat {
    /// A format for `info`'s choices; `tokenizer` is set when log-probabilities were asked for.
    pub fn new(info: RequestInfo, model: String, tokenizer: Option<Arc<dyn Tokenizer>>) -> Self {
        let n = info.num_choices;
        Self {
            contents: vec![String::new(); n],
            logprobs: vec![ChatLogprobs::default(); n],
            finish: vec![None; n],
            role_sent: vec![false; n],
            info,
            model,
            tokenizer,
        }
    }

    fn envelope(&self, choices: Vec<ChatChunkChoice>, usage: Option<Usage>) -> ChatCompletionChunk {
        ChatCompletionChunk {
            id: self.info.id.clone(),
            object: CHAT_CHUNK_OBJECT.to_owned(),
            created: self.info.created,
            model: self.model.clone(),
            choices,
            usage,
        }
    }
}

impl ResponseFormat for ChatFormat {
    fn chunk(
        &mut self,
        choice: u32,
        event: &TokenEvent,
        usage: Option<Usage>,
    ) -> serde_json::Result<Vec<u8>> {
        let c = choice as usize;
        let role = (!self.role_sent[c]).then(|| ASSISTANT.to_owned());
        self.role_sent[c] = true;
        let logprobs = self.tokenizer.as_deref().map(|tok| {
            let mut lp = ChatLogprobs::default();
            logprobs::push_chat(&mut lp, tok, event);
            lp
        });
        let chunk = self.envelope(
            vec![ChatChunkChoice {
                index: choice,
                delta: ChatDelta {
                    role,
                    content: Some(event.text.clone()),
                    reasoning_content: None,
                },
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
        if let Some(tok) = self.tokenizer.as_deref() {
            logprobs::push_chat(&mut self.logprobs[c], tok, event);
        }
        self.contents[c].push_str(&event.text);
        if let Some(reason) = event.finished {
            self.finish[c] = Some(reason.as_openai().to_owned());
        }
    }

    fn response(mut self, usage: Usage) -> serde_json::Result<Vec<u8>> {
        let with_logprobs = self.tokenizer.is_some();
        let choices = (0..self.info.num_choices)
            .map(|c| ChatChoice {
                index: c as u32,
                message: AssistantMessage {
                    role: ASSISTANT.to_owned(),
                    content: Some(std::mem::take(&mut self.contents[c])),
                },
                logprobs: with_logprobs.then(|| std::mem::take(&mut self.logprobs[c])),
                finish_reason: self.finish[c].take(),
            })
            .collect();
        let response = ChatCompletionResponse {
            id: self.info.id.clone(),
            object: CHAT_OBJECT.to_owned(),
            created: self.info.created,
            model: self.model.clone(),
            choices,
            usage: Some(usage),
        };
        serde_json::to_vec(&response)
    }
}
