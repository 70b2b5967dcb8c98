//! Parse, don't validate: a completions or chat request, as it came off the wire, becomes a
//! [`ValidRequest`] here, once. Everything the engine would refuse is refused here first, as a
//! 400 naming the parameter, so a request that reaches the engine runs.
//!
//! Defaults follow vLLM: `temperature` 1, `n` 1, `max_tokens` 16 for completions (OpenAI's,
//! capped at what the context leaves) and the rest of the context for chat;
//! `max_completion_tokens` wins over `max_tokens`; `top_k` −1 or 0 is off. An explicit
//! `max_tokens` that does not fit beside the prompt is a 400 that states both lengths.

use dyno_engine::{RequestId, SamplingParams, TokenId, Tokenizer};
use dyno_protocol::chat::ChatCompletionRequest;
use dyno_protocol::common::SamplingFields;
use dyno_protocol::completions::{CompletionRequest, SinglePrompt};

use crate::chat_template::ChatTemplate;
use crate::error::ApiError;

/// Most choices per prompt a request may ask for.
pub const MAX_N: u32 = 256;

/// What validation needs to know about the served model.
#[derive(Clone, Copy, Debug)]
pub struct ModelLimits<'a> {
    /// The name clients must put in `model` (empty `model` is accepted too).
    pub served_model_name: &'a str,
    /// The model's tokenizer.
    pub tokenizer: &'a dyn Tokenizer,
    /// Longest sequence, prompt plus output.
    pub max_model_len: usize,
    /// Token ids must be below this.
    pub vocab_size: usize,
}

/// One prompt, tokenized, with its own output limit.
#[derive(Clone, Debug, PartialEq)]
pub struct ValidPrompt {
    /// The prompt's token ids (non-empty, shorter than the context).
    pub tokens: Vec<TokenId>,
    /// The prompt's text, kept for `echo`.
    pub echo_text: Option<String>,
    /// Most tokens to generate for it.
    pub max_tokens: u32,
}

/// How a streamed response ends.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Streaming {
    /// A final chunk with empty `choices` and `usage` before `[DONE]`.
    pub include_usage: bool,
    /// `usage` on every chunk (vLLM's `continuous_usage_stats`).
    pub continuous_usage: bool,
}

/// A request the engine will run. See the [module docs](self).
#[derive(Clone, Debug, PartialEq)]
pub struct ValidRequest {
    /// The prompts, in order (choices are numbered `prompt_index * n + sample_index`).
    pub prompts: Vec<ValidPrompt>,
    /// Sampling parameters (its `max_tokens` is replaced per prompt).
    pub params: SamplingParams,
    /// Scheduling priority (lower first).
    pub priority: i32,
    /// `Some` for a streamed response.
    pub stream: Option<Streaming>,
}

impl ValidRequest {
    /// Choices per prompt.
    pub fn n(&self) -> u32 {
        self.params.n
    }

    /// Engine sequences this request will occupy.
    pub fn num_seqs(&self) -> usize {
        self.prompts.len() * self.params.n as usize
    }

    /// The engine parameters of prompt `i`.
    pub fn params_for(&self, i: usize) -> SamplingParams {
        SamplingParams {
            max_tokens: Some(self.prompts[i].max_tokens),
            ..self.params.clone()
        }
    }
}

/// How the default output limit is chosen when the request gives none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DefaultMaxTokens {
    /// At most this many (OpenAI completions: 16), capped by the context.
    AtMost(u32),
    /// The rest of the context (chat).
    RestOfContext,
}

/// Validates a `POST /v1/completions` body.
///
/// # Errors
/// 404 for an unknown model, 400 naming the parameter for anything out of range.
pub fn completion(
    req: CompletionRequest,
    limits: &ModelLimits<'_>,
) -> Result<ValidRequest, ApiError> {
    check_model(&req.model, limits)?;
    let mut params = sampling(&req.sampling)?;
    params.logprobs = req.logprobs;
    let echo = req.echo.unwrap_or(false);
    let mut prompts = Vec::new();
    let raw = req.prompt.into_prompts();
    if raw.is_empty() {
        return Err(ApiError::invalid(
            "prompt",
            "prompt is an empty list; send at least one prompt",
        ));
    }
    for p in raw {
        let (tokens, text) = match p {
            SinglePrompt::Text(text) => {
                let ids = limits.tokenizer.encode(&text, true).map_err(|e| {
                    ApiError::invalid("prompt", format!("the prompt cannot be tokenized: {e}"))
                })?;
                (ids, Some(text))
            }
            SinglePrompt::Tokens(ids) => {
                if let Some(bad) = ids.iter().find(|&&t| t as usize >= limits.vocab_size) {
                    return Err(ApiError::invalid(
                        "prompt",
                        format!(
                            "token id {bad} is outside the vocabulary of {} tokens; send ids below it",
                            limits.vocab_size
                        ),
                    ));
                }
                let text = if echo {
                    Some(limits.tokenizer.decode(&ids).map_err(|e| {
                        ApiError::invalid(
                            "prompt",
                            format!("the prompt cannot be detokenized for echo: {e}"),
                        )
                    })?)
                } else {
                    None
                };
                (ids, text)
            }
        };
        prompts.push(prompt(
            tokens,
            echo.then_some(text).flatten(),
            req.max_tokens,
            "max_tokens",
            DefaultMaxTokens::AtMost(16),
            limits,
        )?);
    }
    finish(prompts, params, &req.sampling)
}

/// Validates a `POST /v1/chat/completions` body, rendering the conversation with `template`.
///
/// # Errors
/// 404 for an unknown model, 400 naming the parameter for anything out of range or a
/// conversation the template refuses.
pub fn chat(
    req: ChatCompletionRequest,
    limits: &ModelLimits<'_>,
    template: &ChatTemplate,
) -> Result<ValidRequest, ApiError> {
    check_model(&req.model, limits)?;
    let mut params = sampling(&req.sampling)?;
    params.logprobs = match (req.logprobs.unwrap_or(false), req.top_logprobs) {
        (true, top) => Some(top.unwrap_or(0)),
        (false, Some(top)) if top > 0 => {
            return Err(ApiError::invalid(
                "top_logprobs",
                format!(
                    "top_logprobs = {top} needs logprobs = true; set logprobs or drop top_logprobs"
                ),
            ));
        }
        (false, _) => None,
    };
    if req.messages.is_empty() {
        return Err(ApiError::invalid(
            "messages",
            "messages is empty; send at least one message",
        ));
    }
    let text = template
        .render(
            &req.messages,
            req.add_generation_prompt.unwrap_or(true),
            req.chat_template_kwargs.as_ref(),
        )
        .map_err(|e| ApiError::invalid("messages", e.to_string()))?;
    let tokens = limits.tokenizer.encode(&text, false).map_err(|e| {
        ApiError::invalid(
            "messages",
            format!("the conversation cannot be tokenized: {e}"),
        )
    })?;
    let (limit, limit_name) = match (req.max_completion_tokens, req.max_tokens) {
        (Some(v), _) => (Some(v), "max_completion_tokens"),
        (None, v) => (v, "max_tokens"),
    };
    let p = prompt(
        tokens,
        None,
        limit,
        limit_name,
        DefaultMaxTokens::RestOfContext,
        limits,
    )?;
    finish(vec![p], params, &req.sampling)
}

fn check_model(model: &str, limits: &ModelLimits<'_>) -> Result<(), ApiError> {
    if model.is_empty() || model == limits.served_model_name {
        Ok(())
    } else {
        Err(ApiError::ModelNotFound(model.to_owned()))
    }
}

/// The shared sampling fields as engine parameters (`max_tokens` and `logprobs` are set by the
/// caller).
fn sampling(s: &SamplingFields) -> Result<SamplingParams, ApiError> {
    let n = s.n.unwrap_or(1);
    if n == 0 || n > MAX_N {
        return Err(ApiError::invalid(
            "n",
            format!("n = {n} is invalid; ask for 1 to {MAX_N} choices"),
        ));
    }
    let top_k = match s.top_k {
        None | Some(-1) | Some(0) => None,
        Some(k) if k > 0 => Some(u32::try_from(k).unwrap_or(u32::MAX)),
        Some(k) => {
            return Err(ApiError::invalid(
                "top_k",
                format!("top_k = {k} is invalid; use k >= 1, or -1 (or 0) for no limit"),
            ));
        }
    };
    Ok(SamplingParams {
        n,
        max_tokens: None,
        min_tokens: s.min_tokens.unwrap_or(0),
        ignore_eos: s.ignore_eos.unwrap_or(false),
        stop_token_ids: s
            .stop_token_ids
            .iter()
            .flatten()
            .map(|&t| TokenId(t))
            .collect(),
        stop: s.stop.clone().map(|st| st.into_vec()).unwrap_or_default(),
        temperature: s.temperature.unwrap_or(1.0),
        top_p: s.top_p.unwrap_or(1.0),
        top_k,
        min_p: s.min_p.unwrap_or(0.0),
        seed: s.seed.map(|v| v as u64),
        presence_penalty: s.presence_penalty.unwrap_or(0.0),
        frequency_penalty: s.frequency_penalty.unwrap_or(0.0),
        repetition_penalty: s.repetition_penalty.unwrap_or(1.0),
        logprobs: None,
        detokenize: true,
    })
}

/// One prompt with its output limit, checked against the context.
fn prompt(
    tokens: Vec<u32>,
    echo_text: Option<String>,
    requested: Option<i64>,
    limit_name: &str,
    default: DefaultMaxTokens,
    limits: &ModelLimits<'_>,
) -> Result<ValidPrompt, ApiError> {
    let len = tokens.len();
    let max_len = limits.max_model_len;
    if len == 0 {
        return Err(ApiError::invalid(
            "prompt",
            "the prompt is empty; send at least one token",
        ));
    }
    if len >= max_len {
        return Err(ApiError::invalid(
            "prompt",
            format!(
                "the prompt has {len} tokens but this model's maximum context length is {max_len} tokens, which leaves no room to generate; shorten the prompt to at most {} tokens",
                max_len - 1
            ),
        ));
    }
    let room = max_len - len;
    let max_tokens = match requested {
        None => match default {
            DefaultMaxTokens::AtMost(n) => (n as usize).min(room),
            DefaultMaxTokens::RestOfContext => room,
        },
        Some(v) if v < 1 => {
            return Err(ApiError::invalid(
                limit_name,
                format!("{limit_name} = {v} is invalid; ask for at least 1 token"),
            ));
        }
        Some(v) if v as u64 > room as u64 => {
            return Err(ApiError::invalid(
                limit_name,
                format!(
                    "this model's maximum context length is {max_len} tokens, but the prompt has {len} tokens and {limit_name} asks for {v} more ({} in all); shorten the prompt or ask for at most {room} tokens",
                    len as u64 + v as u64
                ),
            ));
        }
        Some(v) => v as usize,
    };
    Ok(ValidPrompt {
        tokens: tokens.into_iter().map(TokenId).collect(),
        echo_text,
        max_tokens: u32::try_from(max_tokens).unwrap_or(u32::MAX),
    })
}

fn finish(
    prompts: Vec<ValidPrompt>,
    mut params: SamplingParams,
    s: &SamplingFields,
) -> Result<ValidRequest, ApiError> {
    let stream = match (s.stream.unwrap_or(false), s.stream_options) {
        (true, opts) => Some(Streaming {
            include_usage: opts.is_some_and(|o| o.include_usage),
            continuous_usage: opts.is_some_and(|o| o.continuous_usage_stats),
        }),
        (false, Some(_)) => {
            return Err(ApiError::invalid(
                "stream_options",
                "stream_options is only allowed with stream = true; set stream or drop stream_options",
            ));
        }
        (false, None) => None,
    };
    let shortest = prompts.iter().map(|p| p.max_tokens).min().unwrap_or(0);
    if params.min_tokens > shortest {
        return Err(ApiError::invalid(
            "min_tokens",
            format!(
                "min_tokens = {} is above max_tokens = {shortest}; lower min_tokens or raise max_tokens",
                params.min_tokens
            ),
        ));
    }
    params.max_tokens = Some(shortest.max(1));
    params
        .validate(RequestId(0))
        .map_err(|e| ApiError::from_engine(&e))?;
    Ok(ValidRequest {
        prompts,
        params,
        priority: s.priority.unwrap_or(0),
        stream,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use dyno_engine::tokenizer::ByteTokenizer;

    fn limits(tok: &ByteTokenizer) -> ModelLimits<'_> {
        ModelLimits {
            served_model_name: "tiny",
            tokenizer: tok,
            max_model_len: 64,
            vocab_size: ByteTokenizer::VOCAB_SIZE,
        }
    }

    fn completion_json(body: serde_json::Value) -> Result<ValidRequest, ApiError> {
        let tok = ByteTokenizer::new();
        completion(serde_json::from_value(body).unwrap(), &limits(&tok))
    }

    fn param_of(r: Result<ValidRequest, ApiError>) -> String {
        r.unwrap_err().param().unwrap_or("<none>").to_owned()
    }

    #[test]
    fn defaults_follow_vllm() {
        let v = completion_json(serde_json::json!({"model": "tiny", "prompt": "hello"})).unwrap();
        assert_eq!(v.prompts.len(), 1);
        assert_eq!(v.prompts[0].tokens.len(), 6); // BOS + 5 bytes
        assert_eq!(v.prompts[0].max_tokens, 16);
        assert_eq!(
            (v.params.n, v.params.temperature, v.params.top_k),
            (1, 1.0, None)
        );
        assert_eq!(v.stream, None);
        // A long prompt leaves less than 16.
        let long = "x".repeat(55);
        let v = completion_json(serde_json::json!({"prompt": long})).unwrap();
        assert_eq!(v.prompts[0].max_tokens, 8);
    }

    #[test]
    fn out_of_range_values_name_their_parameter() {
        let cases = [
            (
                serde_json::json!({"prompt": "a", "max_tokens": -3}),
                "max_tokens",
            ),
            (
                serde_json::json!({"prompt": "a", "max_tokens": 0}),
                "max_tokens",
            ),
            (
                serde_json::json!({"prompt": "a", "max_tokens": 1_000_000}),
                "max_tokens",
            ),
            (
                serde_json::json!({"prompt": "a", "temperature": -0.5}),
                "temperature",
            ),
            (serde_json::json!({"prompt": "a", "top_p": 0.0}), "top_p"),
            (serde_json::json!({"prompt": "a", "top_p": 1.01}), "top_p"),
            (serde_json::json!({"prompt": "a", "top_k": -5}), "top_k"),
            (serde_json::json!({"prompt": "a", "n": 0}), "n"),
            (
                serde_json::json!({"prompt": "a", "presence_penalty": 9}),
                "presence_penalty",
            ),
            (
                serde_json::json!({"prompt": "a", "stream_options": {"include_usage": true}}),
                "stream_options",
            ),
            (
                serde_json::json!({"prompt": "a", "min_tokens": 20}),
                "min_tokens",
            ),
            (serde_json::json!({"prompt": "x".repeat(70)}), "prompt"),
            (serde_json::json!({"prompt": [1, 2, 999]}), "prompt"),
            (serde_json::json!({"prompt": []}), "prompt"),
        ];
        for (body, param) in cases {
            assert_eq!(param_of(completion_json(body.clone())), param, "{body}");
        }
        let too_long = completion_json(serde_json::json!({"prompt": "x".repeat(70)})).unwrap_err();
        assert!(
            too_long.to_string().contains("71 tokens") && too_long.to_string().contains("64"),
            "{too_long}"
        );
        let err =
            completion_json(serde_json::json!({"prompt": "a", "max_tokens": 100})).unwrap_err();
        assert!(
            err.to_string().contains("64") && err.to_string().contains("100"),
            "{err}"
        );
    }

    #[test]
    fn unknown_model_is_404() {
        let err =
            completion_json(serde_json::json!({"model": "gpt-4", "prompt": "a"})).unwrap_err();
        assert_eq!(err, ApiError::ModelNotFound("gpt-4".into()));
    }

    #[test]
    fn lists_token_prompts_and_top_k_off() {
        let v = completion_json(serde_json::json!({
            "prompt": [[1, 2], [3, 4, 5]], "n": 2, "top_k": -1, "echo": true,
            "stream": true, "stream_options": {"include_usage": true}
        }))
        .unwrap();
        assert_eq!(v.num_seqs(), 4);
        assert_eq!(v.params.top_k, None);
        assert_eq!(
            v.prompts[1].tokens,
            vec![TokenId(3), TokenId(4), TokenId(5)]
        );
        assert!(v.prompts[0].echo_text.is_some());
        assert!(v.stream.unwrap().include_usage);
    }

    #[test]
    fn chat_uses_the_rest_of_the_context_and_max_completion_tokens_wins() {
        let tok = ByteTokenizer::new();
        let t = ChatTemplate::new(ChatTemplate::BUILTIN, "builtin", "", "").unwrap();
        let body = |extra: serde_json::Value| {
            let mut b = serde_json::json!({"messages": [{"role": "user", "content": "hi"}]});
            b.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            serde_json::from_value::<ChatCompletionRequest>(b).unwrap()
        };
        let v = chat(body(serde_json::json!({})), &limits(&tok), &t).unwrap();
        let rendered = "<|user|>\nhi\n<|assistant|>\n".len();
        assert_eq!(v.prompts[0].tokens.len(), rendered);
        assert_eq!(v.prompts[0].max_tokens as usize, 64 - rendered);
        let v = chat(
            body(serde_json::json!({"max_tokens": 3, "max_completion_tokens": 5})),
            &limits(&tok),
            &t,
        )
        .unwrap();
        assert_eq!(v.prompts[0].max_tokens, 5);
        let err = chat(
            body(serde_json::json!({"max_completion_tokens": -1})),
            &limits(&tok),
            &t,
        )
        .unwrap_err();
        assert_eq!(err.param(), Some("max_completion_tokens"));
        let v = chat(
            body(serde_json::json!({"logprobs": true, "top_logprobs": 3})),
            &limits(&tok),
            &t,
        )
        .unwrap();
        assert_eq!(v.params.logprobs, Some(3));
    }
}
