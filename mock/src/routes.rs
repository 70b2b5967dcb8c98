//! The HTTP endpoints: generation (completions, chat), models, health, tokenizer and stats.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use bytes::Bytes;
use dyno_protocol::chat::{
    AssistantMessage, CHAT_OBJECT, ChatChoice, ChatCompletionRequest, ChatCompletionResponse,
};
use dyno_protocol::common::Usage;
use dyno_protocol::completions::{
    COMPLETION_OBJECT, CompletionChoice, CompletionRequest, CompletionResponse, SinglePrompt,
};
use dyno_protocol::error::ErrorResponse;
use dyno_protocol::models::{ModelCard, ModelList, VersionResponse};
use dyno_protocol::tokenize::{
    DetokenizeRequest, DetokenizeResponse, TokenizeRequest, TokenizeResponse,
};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use serde::Serialize;

use crate::body::{Dropped, MockBody, PlannedBody};
use crate::config::{Fault, MockConfig, UsageMode};
use crate::pacer::Timer;
use crate::schedule::{self, RequestFacts, Shape};
use crate::stats::ServerStats;
use crate::tokenizer;

/// Largest request body accepted.
const MAX_BODY: usize = 64 << 20;

/// What every handler shares.
pub struct State {
    /// The configuration.
    pub config: MockConfig,
    /// The model name as a JSON string.
    pub model_json: String,
    /// Unix seconds of the server's start (stamped on every answer).
    pub created: u64,
    /// Counters.
    pub stats: Arc<ServerStats>,
    /// The deadline clock.
    pub timer: Timer,
    /// Next request serial.
    pub serial: AtomicU64,
}

/// What a handler returns: a response, or `Err` to make hyper close the connection.
pub type Reply = Result<Response<MockBody>, Dropped>;

fn json_response<T: Serialize>(status: StatusCode, value: &T) -> Response<MockBody> {
    let bytes = serde_json::to_vec(value).unwrap_or_default();
    let mut resp = Response::new(MockBody::full(bytes));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

fn error(
    status: StatusCode,
    kind: &str,
    message: String,
    param: Option<&str>,
) -> Response<MockBody> {
    json_response(
        status,
        &ErrorResponse::new(kind, message, param, status.as_u16()),
    )
}

fn bad_request(message: String, param: Option<&str>) -> Response<MockBody> {
    error(
        StatusCode::BAD_REQUEST,
        "invalid_request_error",
        message,
        param,
    )
}

/// Routes one request.
pub async fn handle(req: Request<Incoming>, state: Arc<State>) -> Reply {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    Ok(match (method, path.as_str()) {
        (Method::POST, "/v1/completions") => {
            return generate(req, &state, Shape::Completions).await;
        }
        (Method::POST, "/v1/chat/completions") => return generate(req, &state, Shape::Chat).await,
        (Method::GET, "/v1/models") => json_response(StatusCode::OK, &models(&state)),
        (Method::GET, "/health") => Response::new(MockBody::empty()),
        (Method::GET, "/version") => json_response(
            StatusCode::OK,
            &VersionResponse {
                version: env!("CARGO_PKG_VERSION").to_owned(),
            },
        ),
        (Method::GET, "/mock/stats") => json_response(StatusCode::OK, &state.stats.snapshot()),
        (Method::POST, "/mock/stats/reset") => {
            state.stats.reset();
            json_response(StatusCode::OK, &state.stats.snapshot())
        }
        (Method::POST, "/tokenize") => match read_json::<TokenizeRequest>(req).await {
            Ok(r) => json_response(StatusCode::OK, &tokenize(&r)),
            Err(resp) => resp,
        },
        (Method::POST, "/detokenize") => match read_json::<DetokenizeRequest>(req).await {
            // Ids past the vocabulary are refused, as a real tokenizer's server does, so a
            // client that probes the vocabulary size through this route finds it.
            Ok(r) => match r.tokens.iter().find(|&&id| id >= tokenizer::VOCAB_SIZE) {
                Some(id) => error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request_error",
                    format!(
                        "token id {id} is outside the mock's vocabulary of {} ids",
                        tokenizer::VOCAB_SIZE
                    ),
                    Some("tokens"),
                ),
                None => json_response(
                    StatusCode::OK,
                    &DetokenizeResponse {
                        prompt: tokenizer::decode(&r.tokens),
                    },
                ),
            },
            Err(resp) => resp,
        },
        (_, p) => error(
            StatusCode::NOT_FOUND,
            "not_found_error",
            format!(
                "no route {p}; the mock serves /v1/completions, /v1/chat/completions, /v1/models, /health, /tokenize, /detokenize and /mock/stats"
            ),
            None,
        ),
    })
}

fn models(state: &State) -> ModelList {
    ModelList {
        object: "list".to_owned(),
        data: vec![ModelCard {
            id: state.config.model.clone(),
            object: "model".to_owned(),
            created: state.created,
            owned_by: "dyno-mock".to_owned(),
            root: None,
            max_model_len: Some(tokenizer::MAX_MODEL_LEN as u64),
        }],
    }
}

fn tokenize(r: &TokenizeRequest) -> TokenizeResponse {
    let text = match (&r.prompt, &r.messages) {
        (Some(p), _) => p.clone(),
        (None, Some(m)) => m
            .iter()
            .filter_map(|m| m.content.as_ref().map(|c| c.text()))
            .collect::<Vec<_>>()
            .join(" "),
        (None, None) => String::new(),
    };
    let tokens = tokenizer::encode(&text);
    TokenizeResponse {
        count: tokens.len(),
        max_model_len: tokenizer::MAX_MODEL_LEN,
        tokens,
        token_strs: r
            .return_token_strs
            .unwrap_or(false)
            .then(|| tokenizer::token_strs(&text)),
    }
}

/// Reads the whole body and parses it; the `Err` side is the error response to send.
async fn read_json<T: serde::de::DeserializeOwned>(
    req: Request<Incoming>,
) -> Result<T, Response<MockBody>> {
    let bytes: Bytes = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(c) => c.to_bytes(),
        Err(e) => {
            return Err(error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "invalid_request_error",
                format!("cannot read the request body ({e}); send at most {MAX_BODY} bytes"),
                None,
            ));
        }
    };
    serde_json::from_slice(&bytes).map_err(|e| {
        bad_request(
            format!("the request body is not valid json for this endpoint: {e}"),
            None,
        )
    })
}

/// What a generation request asks for, after validation.
struct Asked {
    model: String,
    limit: Option<i64>,
    stream: bool,
    include_usage: bool,
    prompt_tokens: u64,
}

fn completions_asked(r: CompletionRequest) -> Asked {
    let prompt_tokens = r
        .prompt
        .into_prompts()
        .iter()
        .map(|p| match p {
            SinglePrompt::Text(t) => tokenizer::count(t),
            SinglePrompt::Tokens(t) => t.len(),
        })
        .sum::<usize>() as u64;
    Asked {
        model: r.model,
        limit: r.max_tokens,
        stream: r.sampling.stream.unwrap_or(false),
        include_usage: r.sampling.stream_options.is_some_and(|o| o.include_usage),
        prompt_tokens,
    }
}

fn chat_asked(r: ChatCompletionRequest) -> Asked {
    let prompt_tokens = r
        .messages
        .iter()
        .filter_map(|m| m.content.as_ref())
        .map(|c| tokenizer::count(&c.text()))
        .sum::<usize>() as u64;
    Asked {
        model: r.model.clone(),
        limit: r.token_limit(),
        stream: r.sampling.stream.unwrap_or(false),
        include_usage: r.sampling.stream_options.is_some_and(|o| o.include_usage),
        prompt_tokens,
    }
}

async fn generate(req: Request<Incoming>, state: &Arc<State>, shape: Shape) -> Reply {
    let asked = match shape {
        Shape::Completions => read_json::<CompletionRequest>(req)
            .await
            .map(completions_asked),
        Shape::Chat => read_json::<ChatCompletionRequest>(req)
            .await
            .map(chat_asked),
    };
    // the schedule's origin: headers and body are in
    let t0 = Instant::now();
    let asked = match asked {
        Ok(a) => a,
        Err(resp) => return Ok(resp),
    };
    let config = &state.config;
    if !asked.model.is_empty() && asked.model != config.model {
        return Ok(error(
            StatusCode::NOT_FOUND,
            "not_found_error",
            format!(
                "the model `{}` does not exist; this mock serves `{}` (--model)",
                asked.model, config.model
            ),
            Some("model"),
        ));
    }
    let tokens = match asked.limit {
        Some(m) if m < 1 => {
            let param = match shape {
                Shape::Completions => "max_tokens",
                Shape::Chat => "max_completion_tokens",
            };
            return Ok(bad_request(
                format!("{param} = {m}; ask for at least 1 token"),
                Some(param),
            ));
        }
        Some(m) => u32::try_from(m).map_or(config.output_len, |m| m.min(config.output_len)),
        None => config.output_len,
    };
    state.stats.count_request();
    let facts = RequestFacts {
        shape,
        tokens,
        include_usage: asked.include_usage,
        prompt_tokens: asked.prompt_tokens,
        serial: state.serial.fetch_add(1, Ordering::Relaxed),
    };
    if asked.stream {
        let plan = schedule::build(config, &facts, &state.model_json, state.created);
        let body = PlannedBody::new(plan, t0, &state.timer, Arc::clone(&state.stats));
        let mut resp = Response::new(MockBody::Stream(body));
        let h = resp.headers_mut();
        h.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
        h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        return Ok(resp);
    }
    whole_answer(state, &facts, t0).await
}

/// A non-streaming answer, written at the last chunk's deadline.
async fn whole_answer(state: &State, facts: &RequestFacts, t0: Instant) -> Reply {
    let config = &state.config;
    let chunks = schedule::chunk_count(facts.tokens, config.tokens_per_chunk);
    match config.fault {
        Some(Fault::StallAfter(n)) if n < chunks => std::future::pending::<()>().await,
        Some(Fault::DropAfter(n)) if n < chunks => {
            state
                .timer
                .delay(t0 + schedule::chunk_offset(config, facts.serial, n))
                .await;
            return Err(Dropped);
        }
        Some(Fault::ErrorAfter(n)) if n < chunks => {
            state
                .timer
                .delay(t0 + schedule::chunk_offset(config, facts.serial, n))
                .await;
            return Ok(error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                format!("mock: error injected after {n} chunk(s) (--error-after)"),
                None,
            ));
        }
        _ => {}
    }
    let usage = (config.usage != UsageMode::Never)
        .then(|| Usage::new(facts.prompt_tokens, u64::from(facts.tokens)));
    let id = schedule::response_id(facts.shape, facts.serial);
    let text = schedule::full_text(facts.tokens);
    let finish = Some("length".to_owned());
    let bytes = match facts.shape {
        Shape::Completions => serde_json::to_vec(&CompletionResponse {
            id,
            object: COMPLETION_OBJECT.to_owned(),
            created: state.created,
            model: config.model.clone(),
            choices: vec![CompletionChoice {
                index: 0,
                text,
                logprobs: None,
                finish_reason: finish,
            }],
            usage,
        }),
        Shape::Chat => serde_json::to_vec(&ChatCompletionResponse {
            id,
            object: CHAT_OBJECT.to_owned(),
            created: state.created,
            model: config.model.clone(),
            choices: vec![ChatChoice {
                index: 0,
                message: AssistantMessage {
                    role: "assistant".to_owned(),
                    content: Some(text),
                },
                logprobs: None,
                finish_reason: finish,
            }],
            usage,
        }),
    }
    .unwrap_or_default();
    let deadline = t0 + schedule::response_offset(config, facts);
    state.timer.delay(deadline).await;
    state
        .stats
        .first_chunk
        .record(Instant::now().saturating_duration_since(deadline));
    let mut resp = Response::new(MockBody::full(bytes));
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(resp)
}
