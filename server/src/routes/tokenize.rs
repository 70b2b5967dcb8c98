//! vLLM's `POST /tokenize` and `POST /detokenize` (benchmark clients align prompt lengths
//! through them). A `prompt` gets the tokenizer's special tokens unless `add_special_tokens` is
//! false; `messages` are rendered with the chat template and get none unless asked.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use dyno_protocol::tokenize::{
    DetokenizeRequest, DetokenizeResponse, TokenizeRequest, TokenizeResponse,
};

use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::state::AppState;

fn check_model(state: &AppState, model: Option<&str>) -> Result<(), ApiError> {
    match model {
        Some(m) if !m.is_empty() && m != state.config.served_model_name => {
            Err(ApiError::ModelNotFound(m.to_owned()))
        }
        _ => Ok(()),
    }
}

/// `POST /tokenize`.
pub async fn tokenize(
    State(state): State<Arc<AppState>>,
    ApiJson(request): ApiJson<TokenizeRequest>,
) -> Result<Json<TokenizeResponse>, ApiError> {
    let ready = state.ready()?;
    check_model(&state, request.model.as_deref())?;
    let tokenizer = ready.engine.tokenizer();
    let (text, add_special, param) = match (&request.prompt, &request.messages) {
        (Some(prompt), None) => (
            prompt.clone(),
            request.add_special_tokens.unwrap_or(true),
            "prompt",
        ),
        (None, Some(messages)) => {
            let text = state
                .config
                .chat_template
                .render(
                    messages,
                    request.add_generation_prompt.unwrap_or(true),
                    None,
                )
                .map_err(|e| ApiError::invalid("messages", e.to_string()))?;
            (
                text,
                request.add_special_tokens.unwrap_or(false),
                "messages",
            )
        }
        _ => {
            return Err(ApiError::InvalidRequest {
                message: "send exactly one of `prompt` and `messages`".into(),
                param: None,
            });
        }
    };
    let tokens = tokenizer
        .encode(&text, add_special)
        .map_err(|e| ApiError::invalid(param, format!("the text cannot be tokenized: {e}")))?;
    let token_strs = request.return_token_strs.unwrap_or(false).then(|| {
        tokens
            .iter()
            .map(|&t| tokenizer.decode(&[t]).unwrap_or_default())
            .collect()
    });
    Ok(Json(TokenizeResponse {
        count: tokens.len(),
        max_model_len: ready.engine.max_model_len(),
        tokens,
        token_strs,
    }))
}

/// `POST /detokenize`.
pub async fn detokenize(
    State(state): State<Arc<AppState>>,
    ApiJson(request): ApiJson<DetokenizeRequest>,
) -> Result<Json<DetokenizeResponse>, ApiError> {
    let ready = state.ready()?;
    check_model(&state, request.model.as_deref())?;
    let vocab = ready.engine.model_config().vocab_size;
    if let Some(bad) = request.tokens.iter().find(|&&t| t as usize >= vocab) {
        return Err(ApiError::invalid(
            "tokens",
            format!(
                "token id {bad} is outside the vocabulary of {vocab} tokens; send ids below it"
            ),
        ));
    }
    let prompt = ready
        .engine
        .tokenizer()
        .decode(&request.tokens)
        .map_err(|e| ApiError::invalid("tokens", format!("the tokens cannot be decoded: {e}")))?;
    Ok(Json(DetokenizeResponse { prompt }))
}
