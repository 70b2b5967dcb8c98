//! `dyno bench throughput|latency` flags, with vLLM's names and defaults.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::engine::EngineArgs;

/// `dyno bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Which benchmark.
    #[command(subcommand)]
    pub command: BenchCommand,
}

/// `dyno bench <command>`.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Offline throughput: every request at once through the in-process engine.
    Throughput(ThroughputArgs),
    /// Offline latency: one batch at a time through the in-process engine.
    Latency(LatencyArgs),
    /// Online: load an OpenAI-compatible (or TGI, llama.cpp, sglang) server over HTTP.
    Serve(Box<super::bench_serve::BenchServeArgs>),
    /// Say which differences between two `bench serve` result files are significant.
    Compare(super::bench_serve::CompareArgs),
}

/// Dataset selection and shaping (shared by the benchmarks that read datasets).
#[derive(Debug, Clone, Args)]
pub struct DatasetFlags {
    /// random, sharegpt, sonnet, burstgpt, prefix_repetition or custom.
    #[arg(long, default_value = "random")]
    pub dataset_name: String,
    /// The dataset file (not needed for random and prefix_repetition).
    #[arg(long)]
    pub dataset_path: Option<PathBuf>,
    /// Requests to sample.
    #[arg(long, default_value_t = 1000)]
    pub num_prompts: usize,
    /// Prompt tokens per request (random; default 1024).
    #[arg(long)]
    pub input_len: Option<usize>,
    /// Output tokens per request (random: default 128; overrides the other datasets' lengths).
    #[arg(long)]
    pub output_len: Option<usize>,
    /// Lengths vary uniformly within ± this fraction (random): one number, or
    /// `{"input": r1, "output": r2}`.
    #[arg(long, default_value = "0.0")]
    pub random_range_ratio: String,
    /// Tokens of a random prefix shared by every prompt (random).
    #[arg(long, default_value_t = 0)]
    pub prefix_len: usize,
    /// sonnet: most tokens of a rendered prompt.
    #[arg(long, default_value_t = 550)]
    pub sonnet_input_len: usize,
    /// sonnet: output tokens per request.
    #[arg(long, default_value_t = 150)]
    pub sonnet_output_len: usize,
    /// sonnet: tokens of the shared prefix.
    #[arg(long, default_value_t = 200)]
    pub sonnet_prefix_len: usize,
    /// Output tokens of every ShareGPT request instead of its reference answer's length.
    #[arg(long)]
    pub sharegpt_output_len: Option<usize>,
    /// Output tokens of custom requests (−1: each line's `output_tokens`).
    #[arg(long, default_value_t = 256, allow_hyphen_values = true)]
    pub custom_output_len: i64,
    /// Do not apply the chat template to custom prompts.
    #[arg(long)]
    pub skip_chat_template: bool,
    /// Keep the dataset's order (sharegpt).
    #[arg(long)]
    pub disable_shuffle: bool,
    /// Do not duplicate requests when the dataset has fewer than --num-prompts.
    #[arg(long)]
    pub no_oversample: bool,
    /// prefix_repetition: tokens of each shared prefix.
    #[arg(long, default_value_t = 256)]
    pub prefix_repetition_prefix_len: usize,
    /// prefix_repetition: tokens of each request's own suffix.
    #[arg(long, default_value_t = 256)]
    pub prefix_repetition_suffix_len: usize,
    /// prefix_repetition: distinct prefixes.
    #[arg(long, default_value_t = 10)]
    pub prefix_repetition_num_prefixes: usize,
    /// prefix_repetition: output tokens per request.
    #[arg(long, default_value_t = 128)]
    pub prefix_repetition_output_len: usize,
}

/// `dyno bench throughput`.
#[derive(Debug, Args)]
pub struct ThroughputArgs {
    /// The engine.
    #[command(flatten)]
    pub engine: EngineArgs,
    /// The requests.
    #[command(flatten)]
    pub dataset: DatasetFlags,
    /// Samples, text and output.
    #[command(flatten)]
    pub run: OfflineRunFlags,
}

/// Flags every offline benchmark takes.
#[derive(Debug, Clone, Args)]
pub struct OfflineRunFlags {
    /// Samples per prompt.
    #[arg(long, default_value_t = 1)]
    pub n: u32,
    /// Produce no output text (token ids only).
    #[arg(long)]
    pub disable_detokenize: bool,
    /// Write the result here (vLLM's keys, plus dyno's), atomically.
    #[arg(long)]
    pub output_json: Option<PathBuf>,
    /// No progress bar.
    #[arg(long)]
    pub disable_tqdm: bool,
}

/// `dyno bench latency`.
#[derive(Debug, Args)]
pub struct LatencyArgs {
    /// The engine.
    #[command(flatten)]
    pub engine: EngineArgs,
    /// Prompt tokens per request.
    #[arg(long, default_value_t = 32)]
    pub input_len: usize,
    /// Output tokens per request.
    #[arg(long, default_value_t = 128)]
    pub output_len: usize,
    /// Requests per batch.
    #[arg(long, default_value_t = 8)]
    pub batch_size: usize,
    /// Unmeasured iterations first.
    #[arg(long, default_value_t = 10)]
    pub num_iters_warmup: usize,
    /// Measured iterations.
    #[arg(long, default_value_t = 30)]
    pub num_iters: usize,
    /// Samples, text and output.
    #[command(flatten)]
    pub run: OfflineRunFlags,
}

/// `dyno generate`.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// The engine.
    #[command(flatten)]
    pub engine: EngineArgs,
    /// The prompt (BOS is added by the tokenizer); empty starts from BOS alone.
    #[arg(long, default_value = "")]
    pub prompt: String,
    /// Most tokens to generate; default: up to EOS or the context length.
    #[arg(long)]
    pub max_tokens: Option<u32>,
    /// Softmax temperature; 0 is greedy.
    #[arg(long, default_value_t = 0.0)]
    pub temperature: f32,
    /// Nucleus sampling mass.
    #[arg(long, default_value_t = 1.0)]
    pub top_p: f32,
    /// Keep only the k most likely tokens.
    #[arg(long)]
    pub top_k: Option<u32>,
    /// Stop when the text contains this string (repeatable).
    #[arg(long)]
    pub stop: Vec<String>,
    /// Keep going past EOS.
    #[arg(long)]
    pub ignore_eos: bool,
    /// Print the prompt before the completion.
    #[arg(long)]
    pub echo: bool,
}
