//! Datasets: where benchmark prompts come from, sampled exactly as vLLM's benchmark suite samples
//! them (`vllm/benchmarks/datasets`), so a figure from `dyno bench` is comparable to one from
//! `vllm bench` on the same data and seed.
//!
//! Every reader produces [`SampleRequest`]s. Token counts come from a [`BenchTokenizer`], which
//! the caller supplies (the engine's tokenizer in-process, the served model's tokenizer for HTTP
//! benchmarks), so this crate never depends on the engine.

/// A prompt as it is sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Prompt {
    /// Text, tokenized by the server or engine.
    Text(String),
    /// Token ids, sent as they are (timed traces, exact-length prompts).
    Tokens(Vec<u32>),
}

/// One request of a benchmark run.
#[derive(Clone, Debug, PartialEq)]
pub struct SampleRequest {
    /// Unique within a run (vLLM's `request_id`, e.g. `"sharegpt-12"`).
    pub request_id: String,
    /// What is sent.
    pub prompt: Prompt,
    /// Prompt tokens as the dataset counts them.
    pub prompt_len: usize,
    /// Output tokens to ask for (`max_tokens`; benchmarks also set `ignore_eos`).
    pub expected_output_len: usize,
    /// Arrival time in seconds from the start of the run, for trace replay.
    pub timestamp: Option<f64>,
}

/// What a dataset reader needs of a tokenizer. The `dyno` binary implements it for the engine's
/// tokenizers.
pub trait BenchTokenizer: Send + Sync {
    /// Token ids of `text`; with the tokenizer's special tokens (BOS) when `add_special_tokens`.
    fn encode(&self, text: &str, add_special_tokens: bool) -> Vec<u32>;
    /// Text of `ids`, special tokens skipped.
    fn decode(&self, ids: &[u32]) -> String;
    /// Number of token ids.
    fn vocab_size(&self) -> usize;
    /// Special token ids (never used as random prompt tokens).
    fn special_token_ids(&self) -> Vec<u32>;
    /// Tokens `encode(_, true)` adds around any text (1 for a BOS-only tokenizer).
    fn num_special_tokens_to_add(&self) -> usize;
    /// The single-user-turn chat rendering of `message`, if the tokenizer has a chat template.
    fn apply_chat_template(&self, message: &str) -> Option<String> {
        let _ = message;
        None
    }
}
