//! The engine's error type. Messages are lower-case, name the offending value and say how to fix
//! it (the CLI prints them as they are).

use crate::request::RequestId;

/// Everything the engine can refuse.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum EngineError {
    /// `--block-size` of 0.
    #[error("--block-size {block_size} is invalid; use a positive number of tokens such as 16")]
    InvalidBlockSize {
        /// The size given.
        block_size: usize,
    },
    /// A zero dimension in the KV shape (layers, KV heads, head size or dtype bytes).
    #[error("kv cache shape has {field} = 0; every dimension must be at least 1")]
    InvalidKvShape {
        /// The dimension that is 0.
        field: &'static str,
    },
    /// The memory budget does not hold a single block.
    #[error(
        "--kv-cache-memory {kv_cache_memory} bytes holds no {block_bytes}-byte block; \
         raise it to at least {block_bytes} bytes"
    )]
    KvCacheTooSmall {
        /// The budget in bytes.
        kv_cache_memory: u64,
        /// Bytes one block takes.
        block_bytes: u64,
    },
    /// The memory budget yields more blocks than a block id can name.
    #[error(
        "--kv-cache-memory gives {num_blocks} blocks, more than a 32-bit block id can address; \
         raise --block-size or lower --kv-cache-memory"
    )]
    TooManyBlocks {
        /// The block count the budget gives.
        num_blocks: u64,
    },
    /// A scheduler limit set to 0.
    #[error("--{flag} is 0; set it to at least 1")]
    ZeroLimit {
        /// The flag's name, without dashes (vLLM's spelling).
        flag: &'static str,
    },
    /// Without chunked prefill, a prompt must fit one step's token budget.
    #[error(
        "--max-num-batched-tokens {max_num_batched_tokens} is below --max-model-len \
         {max_model_len}, so a long prompt could never be scheduled without chunked prefill; \
         raise --max-num-batched-tokens or enable chunked prefill"
    )]
    BudgetBelowModelLen {
        /// The step token budget.
        max_num_batched_tokens: usize,
        /// The longest sequence allowed.
        max_model_len: usize,
    },
    /// The KV cache cannot hold one sequence of the maximum length.
    #[error(
        "--max-model-len {max_model_len} needs {needed_blocks} kv cache blocks but the cache has \
         {num_blocks}; raise --kv-cache-memory or lower --max-model-len"
    )]
    ModelLenExceedsKvCache {
        /// The longest sequence allowed.
        max_model_len: usize,
        /// Blocks one such sequence needs.
        needed_blocks: usize,
        /// Blocks in the cache.
        num_blocks: usize,
    },
    /// A request id already in the scheduler.
    #[error("request {0} is already scheduled; give each request a unique id")]
    DuplicateRequest(RequestId),
    /// A request without prompt tokens.
    #[error("request {0} has an empty prompt; send at least one token")]
    EmptyPrompt(RequestId),
    /// A prompt that leaves no room to generate within the model's context.
    #[error(
        "request {request}: prompt of {prompt_len} tokens leaves no room within --max-model-len \
         {max_model_len}; shorten the prompt to at most {} tokens",
        max_model_len - 1
    )]
    PromptTooLong {
        /// The request.
        request: RequestId,
        /// Its prompt length.
        prompt_len: usize,
        /// The longest sequence allowed.
        max_model_len: usize,
    },
    /// A sampling parameter out of range.
    #[error("request {request}: {param} = {value} is invalid; {fix}")]
    InvalidSamplingParam {
        /// The request.
        request: RequestId,
        /// The parameter's name.
        param: &'static str,
        /// The value given.
        value: u64,
        /// How to fix it.
        fix: &'static str,
    },
    /// A sampling parameter out of range (floating-point or list values).
    #[error("request {request}: {param} = {value} is invalid; {fix}")]
    InvalidParam {
        /// The request.
        request: RequestId,
        /// The parameter's name (vLLM's / OpenAI's spelling).
        param: &'static str,
        /// The value given.
        value: String,
        /// How to fix it.
        fix: &'static str,
    },
    /// The engine's loop is gone (it stopped after an error, or was shut down).
    #[error("the engine has stopped{reason}; restart it")]
    EngineStopped {
        /// Why, when known (": " and the error).
        reason: String,
    },
    /// The sampled tokens do not line up with the step's scheduled sequences.
    #[error(
        "sampled tokens list has {got} entries but the step scheduled {expected} sequences; \
         give one entry per scheduled sequence, in order"
    )]
    SampledTokensMismatch {
        /// Sequences scheduled.
        expected: usize,
        /// Entries given.
        got: usize,
    },
    /// A sequence that had to sample got no token.
    #[error(
        "no sampled token for request {request} sample {sample_index}, which reached the end of \
         its tokens this step; sample a token for every entry with `emits_token`"
    )]
    MissingSampledToken {
        /// The request.
        request: RequestId,
        /// Which of its `n` samples.
        sample_index: u32,
    },
    /// A model or tokenizer file that is missing, unreadable or corrupt.
    #[error("{path}: {reason}")]
    ModelFile {
        /// The file (or directory).
        path: String,
        /// What is wrong with it, and how to fix it where known.
        reason: String,
    },
    /// A `config.json` naming an architecture this engine does not run.
    #[error(
        "unsupported model architecture {architecture:?}; supported: LlamaForCausalLM, \
         MistralForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM"
    )]
    UnsupportedArchitecture {
        /// The `architectures[0]` (or `model_type`) value.
        architecture: String,
    },
    /// A model configuration value out of range.
    #[error("model config: {field} {reason}")]
    InvalidModelConfig {
        /// The `config.json` key.
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// A prompt (plus the tokens to generate) longer than the model's context.
    #[error(
        "prompt of {prompt_len} tokens plus {max_new_tokens} new tokens exceeds the model's \
         context of {max_model_len} tokens; shorten the prompt or generate fewer tokens"
    )]
    ContextTooLong {
        /// Prompt tokens.
        prompt_len: usize,
        /// Tokens requested.
        max_new_tokens: usize,
        /// The model's context length.
        max_model_len: usize,
    },
    /// A tokenizer failure (encoding or decoding).
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// A failure inside the model forward (kernel or tensor library), with its message.
    #[error("model forward: {0}")]
    Forward(String),
}

impl EngineError {
    /// [`EngineError::ModelFile`] for `path`.
    pub fn model_file(path: impl AsRef<std::path::Path>, reason: impl std::fmt::Display) -> Self {
        Self::ModelFile {
            path: path.as_ref().display().to_string(),
            reason: reason.to_string(),
        }
    }

    /// [`EngineError::InvalidModelConfig`].
    pub fn invalid_config(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::InvalidModelConfig {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

impl From<dyno_kernels::KernelError> for EngineError {
    fn from(e: dyno_kernels::KernelError) -> Self {
        Self::Forward(e.to_string())
    }
}

/// `Result` with [`EngineError`] as the default error.
pub type Result<T, E = EngineError> = std::result::Result<T, E>;
