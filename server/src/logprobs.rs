//! The engine's per-token log-probabilities in OpenAI's two shapes: the legacy completions
//! lists (`tokens`, `token_logprobs`, `top_logprobs`, `text_offset`) and chat's per-token
//! objects (`content: [{token, logprob, bytes, top_logprobs}]`). Token texts are each token
//! decoded on its own.

use dyno_engine::{TokenEvent, Tokenizer};
use dyno_protocol::common::{ChatLogprobs, ChatTokenLogprob, ChatTopLogprob, CompletionLogprobs};

fn token_text(tokenizer: &dyn Tokenizer, token: u32) -> String {
    tokenizer.decode(&[token]).unwrap_or_default()
}

/// Appends `event`'s log-probabilities to `out` (completions shape); `offset` is the
/// character offset of the token's text in the choice's text. No-op without log-probabilities.
pub fn push_completion(
    out: &mut CompletionLogprobs,
    tokenizer: &dyn Tokenizer,
    event: &TokenEvent,
    offset: usize,
) {
    let Some(lp) = &event.logprobs else {
        return;
    };
    out.tokens.push(token_text(tokenizer, event.token));
    out.token_logprobs.push(Some(lp.sampled));
    let top: serde_json::Map<String, serde_json::Value> = lp
        .top
        .iter()
        .map(|t| {
            (
                token_text(tokenizer, t.token),
                serde_json::Value::from(f64::from(t.logprob)),
            )
        })
        .collect();
    out.top_logprobs.push(Some(top));
    out.text_offset
        .push(u32::try_from(offset).unwrap_or(u32::MAX));
}

/// Appends `event`'s log-probabilities to `out` (chat shape). No-op without them.
pub fn push_chat(out: &mut ChatLogprobs, tokenizer: &dyn Tokenizer, event: &TokenEvent) {
    let Some(lp) = &event.logprobs else {
        return;
    };
    let token = token_text(tokenizer, event.token);
    out.content.push(ChatTokenLogprob {
        bytes: Some(token.as_bytes().to_vec()),
        token,
        logprob: lp.sampled,
        top_logprobs: lp
            .top
            .iter()
            .map(|t| {
                let token = token_text(tokenizer, t.token);
                ChatTopLogprob {
                    bytes: Some(token.as_bytes().to_vec()),
                    token,
                    logprob: t.logprob,
                }
            })
            .collect(),
    });
}
