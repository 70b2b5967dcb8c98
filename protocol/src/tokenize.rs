//! vLLM's `POST /tokenize` and `POST /detokenize` (benchmark clients align prompt lengths
//! through them).

use serde::{Deserialize, Serialize};

use crate::chat::ChatMessage;

/// The body of `POST /tokenize`: a `prompt`, or chat `messages` rendered with the template.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TokenizeRequest {
    /// The served model's name (optional).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Text to tokenize.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    /// A conversation to render and tokenize instead of `prompt`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messages: Option<Vec<ChatMessage>>,
    /// Add BOS and the like (default true for `prompt`, false for `messages`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub add_special_tokens: Option<bool>,
    /// Add the assistant turn's opening (messages only; default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub add_generation_prompt: Option<bool>,
    /// Also return each token's text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub return_token_strs: Option<bool>,
}

/// The response of `POST /tokenize`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenizeResponse {
    /// `tokens.len()`.
    pub count: usize,
    /// The model's context length.
    pub max_model_len: usize,
    /// Token ids.
    pub tokens: Vec<u32>,
    /// Each token's text, when asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_strs: Option<Vec<String>>,
}

/// The body of `POST /detokenize`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DetokenizeRequest {
    /// The served model's name (optional).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Token ids.
    pub tokens: Vec<u32>,
}

/// The response of `POST /detokenize`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DetokenizeResponse {
    /// The text.
    pub prompt: String,
}
