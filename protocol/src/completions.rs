//! `POST /v1/completions`.

use serde::{Deserialize, Serialize};

use crate::common::{CompletionLogprobs, FinishReason, SamplingFields, Usage};

/// `prompt`: a string, a list of strings, token ids, or a list of token-id lists.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PromptInput {
    /// One text prompt.
    Text(String),
    /// Several text prompts (one choice set each).
    Texts(Vec<String>),
    /// One prompt as token ids.
    Tokens(Vec<u32>),
    /// Several prompts as token ids.
    TokenLists(Vec<Vec<u32>>),
}

/// One prompt of a [`PromptInput`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SinglePrompt {
    /// Text, tokenized by the server.
    Text(String),
    /// Token ids, used as they are.
    Tokens(Vec<u32>),
}

impl PromptInput {
    /// The prompts as a list (a bare string or token list is one prompt).
    pub fn into_prompts(self) -> Vec<SinglePrompt> {
        match self {
            Self::Text(s) => vec![SinglePrompt::Text(s)],
            Self::Texts(v) => v.into_iter().map(SinglePrompt::Text).collect(),
            Self::Tokens(t) => vec![SinglePrompt::Tokens(t)],
            Self::TokenLists(v) => v.into_iter().map(SinglePrompt::Tokens).collect(),
        }
    }
}

/// The body of `POST /v1/completions`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CompletionRequest {
    /// The served model's name.
    #[serde(default)]
    pub model: String,
    /// What to complete.
    pub prompt: PromptInput,
    /// Most tokens per choice (OpenAI's default is 16).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<i64>,
    /// Return this many top log-probabilities per token (the legacy completions integer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<u32>,
    /// Put the prompt in front of the completion text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub echo: Option<bool>,
    /// Sampling, stopping, streaming.
    #[serde(flatten)]
    pub sampling: SamplingFields,
}

/// One choice of a completions response or chunk.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CompletionChoice {
    /// Which choice (prompt index × n + sample index).
    pub index: u32,
    /// The text (a delta, in a stream chunk).
    pub text: String,
    /// Log-probabilities, when asked for.
    #[serde(default)]
    pub logprobs: Option<CompletionLogprobs>,
    /// Set when the choice finished.
    #[serde(default)]
    pub finish_reason: Option<FinishReason>,
}

/// The response of a non-streaming completions request (`object: "text_completion"`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CompletionResponse {
    /// `cmpl-…`.
    pub id: String,
    /// Always `"text_completion"`.
    pub object: String,
    /// Unix seconds.
    pub created: u64,
    /// The served model's name.
    pub model: String,
    /// The choices.
    pub choices: Vec<CompletionChoice>,
    /// Token counts.
    #[serde(default)]
    pub usage: Option<Usage>,
}

/// One event of a streamed completions response: same shape as the response, with text deltas;
/// the final usage chunk has empty `choices` and `usage` set.
pub type CompletionChunk = CompletionResponse;

/// `object` of completions responses and chunks.
pub const COMPLETION_OBJECT: &str = "text_completion";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompt_shapes() {
        for (json, n) in [
            (r#""hi""#, 1),
            (r#"["a", "b"]"#, 2),
            ("[1, 2, 3]", 1),
            ("[[1], [2, 3]]", 2),
        ] {
            let p: PromptInput = serde_json::from_str(json).unwrap();
            assert_eq!(p.into_prompts().len(), n, "{json}");
        }
    }

    #[test]
    fn unknown_fields_pass_wrong_types_fail() {
        let ok: CompletionRequest = serde_json::from_str(
            r#"{"model":"m","prompt":"x","max_tokens":3,"temperature":0,"best_of":1,"stream":true,
                "stream_options":{"include_usage":true},"stop":"\n"}"#,
        )
        .unwrap();
        assert_eq!(ok.max_tokens, Some(3));
        assert_eq!(ok.sampling.temperature, Some(0.0));
        assert!(ok.sampling.stream_options.unwrap().include_usage);
        let bad = serde_json::from_str::<CompletionRequest>(
            r#"{"model":"m","prompt":"x","temperature":"hot"}"#,
        );
        assert!(bad.is_err());
    }

    #[test]
    fn usage_chunk_shape() {
        let chunk = CompletionChunk {
            id: "cmpl-1".into(),
            object: COMPLETION_OBJECT.into(),
            created: 1,
            model: "m".into(),
            choices: vec![],
            usage: Some(Usage::new(3, 4)),
        };
        let v = serde_json::to_value(&chunk).unwrap();
        assert_eq!(v["choices"], serde_json::json!([]));
        assert_eq!(v["usage"]["total_tokens"], 7);
    }
}
