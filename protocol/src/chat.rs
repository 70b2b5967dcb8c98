//! `POST /v1/chat/completions`.

use serde::{Deserialize, Serialize};

use crate::common::{ChatLogprobs, FinishReason, SamplingFields, Usage};

/// A message's content: a string, or a list of typed parts (only `text` parts carry text here).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum MessageContent {
    /// Plain text.
    Text(String),
    /// Typed parts (`{"type": "text", "text": …}`, `{"type": "image_url", …}`).
    Parts(Vec<ContentPart>),
}

impl MessageContent {
    /// The text of the content: the string, or the `text` parts joined with newlines.
    pub fn text(&self) -> String {
        match self {
            Self::Text(s) => s.clone(),
            Self::Parts(parts) => parts
                .iter()
                .filter_map(|p| p.text.as_deref())
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }
}

/// One part of a multi-part message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ContentPart {
    /// `text`, `image_url`, `input_audio`, …
    #[serde(rename = "type")]
    pub kind: String,
    /// The text of a `text` part.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Other fields of the part (e.g. `image_url`), kept as they came.
    #[serde(flatten)]
    pub rest: serde_json::Map<String, serde_json::Value>,
}

/// One message of a conversation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// `system`, `user`, `assistant`, `tool`, …
    pub role: String,
    /// The message's content (`null` for an assistant turn that only calls tools).
    #[serde(default)]
    pub content: Option<MessageContent>,
    /// Other fields (`name`, `tool_calls`, …), passed to the chat template as they came.
    #[serde(flatten)]
    pub rest: serde_json::Map<String, serde_json::Value>,
}

impl ChatMessage {
    /// A message with plain-text content.
    pub fn new(role: &str, content: &str) -> Self {
        Self {
            role: role.to_owned(),
            content: Some(MessageContent::Text(content.to_owned())),
            rest: serde_json::Map::new(),
        }
    }
}

/// The body of `POST /v1/chat/completions`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChatCompletionRequest {
    /// The served model's name.
    #[serde(default)]
    pub model: String,
    /// The conversation so far.
    pub messages: Vec<ChatMessage>,
    /// Most tokens per choice (deprecated by OpenAI in favour of `max_completion_tokens`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<i64>,
    /// Most tokens per choice (wins over `max_tokens` when both are given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_completion_tokens: Option<i64>,
    /// Return the sampled tokens' log-probabilities.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<bool>,
    /// How many alternatives per position (needs `logprobs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_logprobs: Option<u32>,
    /// Add the assistant turn's opening to the rendered prompt (vLLM; default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub add_generation_prompt: Option<bool>,
    /// Extra variables for the chat template (vLLM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chat_template_kwargs: Option<serde_json::Map<String, serde_json::Value>>,
    /// Sampling, stopping, streaming.
    #[serde(flatten)]
    pub sampling: SamplingFields,
}

impl ChatCompletionRequest {
    /// The token limit the request asks for: `max_completion_tokens`, else `max_tokens`.
    pub fn token_limit(&self) -> Option<i64> {
        self.max_completion_tokens.or(self.max_tokens)
    }
}

/// The assistant's answer in a non-streaming response.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AssistantMessage {
    /// Always `"assistant"`.
    pub role: String,
    /// The generated text.
    pub content: Option<String>,
}

/// One choice of a non-streaming chat response.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatChoice {
    /// Which choice.
    pub index: u32,
    /// The answer.
    pub message: AssistantMessage,
    /// Log-probabilities, when asked for.
    #[serde(default)]
    pub logprobs: Option<ChatLogprobs>,
    /// Why it finished.
    #[serde(default)]
    pub finish_reason: Option<FinishReason>,
}

/// The response of a non-streaming chat request (`object: "chat.completion"`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatCompletionResponse {
    /// `chatcmpl-…`.
    pub id: String,
    /// Always `"chat.completion"`.
    pub object: String,
    /// Unix seconds.
    pub created: u64,
    /// The served model's name.
    pub model: String,
    /// The choices.
    pub choices: Vec<ChatChoice>,
    /// Token counts.
    #[serde(default)]
    pub usage: Option<Usage>,
}

/// What a stream chunk adds to a choice.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatDelta {
    /// `"assistant"` on a choice's first chunk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// New text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// Reasoning text (reasoning models; counted as output by benchmark clients).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<String>,
}

/// One choice of a chat stream chunk.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatChunkChoice {
    /// Which choice.
    pub index: u32,
    /// What this chunk adds.
    pub delta: ChatDelta,
    /// Log-probabilities of this chunk's tokens.
    #[serde(default)]
    pub logprobs: Option<ChatLogprobs>,
    /// Set on the choice's last chunk.
    #[serde(default)]
    pub finish_reason: Option<FinishReason>,
}

/// One event of a streamed chat response (`object: "chat.completion.chunk"`); the final usage
/// chunk has empty `choices` and `usage` set.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatCompletionChunk {
    /// Same id on every chunk of a response.
    pub id: String,
    /// Always `"chat.completion.chunk"`.
    pub object: String,
    /// Unix seconds.
    pub created: u64,
    /// The served model's name.
    pub model: String,
    /// The choices this chunk updates.
    pub choices: Vec<ChatChunkChoice>,
    /// Token counts (final usage chunk only; `null` before).
    #[serde(default)]
    pub usage: Option<Usage>,
}

/// `object` of non-streaming chat responses.
pub const CHAT_OBJECT: &str = "chat.completion";
/// `object` of chat stream chunks.
pub const CHAT_CHUNK_OBJECT: &str = "chat.completion.chunk";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_shapes_and_limits() {
        let req: ChatCompletionRequest = serde_json::from_str(
            r#"{"model":"m","messages":[{"role":"system","content":"be brief"},
                {"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}],
                "max_tokens":5,"max_completion_tokens":7}"#,
        )
        .unwrap();
        assert_eq!(req.token_limit(), Some(7));
        assert_eq!(req.messages[1].content.as_ref().unwrap().text(), "a\nb");
    }

    #[test]
    fn delta_skips_absent_fields() {
        let v = serde_json::to_value(ChatDelta {
            content: Some("x".into()),
            ..ChatDelta::default()
        })
        .unwrap();
        assert_eq!(v, serde_json::json!({"content": "x"}));
    }
}
