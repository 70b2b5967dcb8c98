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
    Compare(super::compare::CompareArgs),
}

/// Dataset selection and shaping (shared by the benchmarks that read datasets).
#[derive(Debug, Clone, Args)]
pub struct DatasetFlags {
    /// random, sharegpt, sonnet, burstgpt, prefix_repetition, custom, spec_bench, hf (local
    /// MT-Bench, InstructCoder, AIMO or Blazedit files), timed_trace (Mooncake JSONL) or azure
    /// (Azure LLM inference trace CSV).
    #[arg(long, default_value = "random")]
    pub dataset_name: String,
    /// The dataset file (not needed for random and prefix_repetition).
    #[arg(long)]
    pub dataset_path: Option<PathBuf>,
    /// Requests to sample.
    #[arg(long, default_value_t = 1000)]
    pub num_prompts: usize,
    /// Prompt tokens per request (random; default 1024); overrides --random-input-len.
    #[arg(long)]
    pub input_len: Option<usize>,
    /// Output tokens per request (random: default 128; overrides the other datasets' lengths
    /// and --random-output-len).
    #[arg(long)]
    pub output_len: Option<usize>,
    /// The random dataset's own flags (boxed, as `files` and `trace`).
    #[command(flatten)]
    pub random: Box<RandomFlags>,
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
    /// Do not apply the chat template to custom, spec_bench and hf prompts.
    #[arg(long)]
    pub skip_chat_template: bool,
    /// custom: send media as client-side data. Accepted for vLLM command lines: custom datasets
    /// here are text-only, so there is no media to send.
    #[arg(long)]
    pub custom_ensure_client_side_data: bool,
    /// Keep the dataset's order (sharegpt, custom, spec_bench, hf, prefix_repetition).
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
    /// spec_bench and hf options (boxed: they would make every benchmark's arguments large).
    #[command(flatten)]
    pub files: Box<FileDatasetFlags>,
    /// timed_trace and trace-replay options (boxed for the same reason).
    #[command(flatten)]
    pub trace: Box<TraceFlags>,
}

/// The random dataset's flags.
#[derive(Debug, Clone, Args)]
pub struct RandomFlags {
    /// random: prompt tokens per request (vLLM's dataset-specific spelling; --input-len wins).
    #[arg(long)]
    pub random_input_len: Option<usize>,
    /// random: output tokens per request (vLLM's dataset-specific spelling; --output-len wins).
    #[arg(long)]
    pub random_output_len: Option<usize>,
    /// Lengths vary uniformly within ± this fraction (random): one number, or
    /// `{"input": r1, "output": r2}`.
    #[arg(long, default_value = "0.0")]
    pub random_range_ratio: String,
    /// Tokens of a random prefix shared by every prompt (random).
    #[arg(long, default_value_t = 0, visible_alias = "random-prefix-len")]
    pub prefix_len: usize,
    /// random: prompts per request; only 1 (vLLM batches several prompts into one request for
    /// embedding backends, which dyno does not have).
    #[arg(long, default_value_t = 1)]
    pub random_batch_size: usize,
}

/// The spec_bench and hf datasets' flags.
#[derive(Debug, Clone, Args)]
pub struct FileDatasetFlags {
    /// spec_bench: output tokens per request.
    #[arg(long, default_value_t = 256)]
    pub spec_bench_output_len: usize,
    /// spec_bench: only questions of this category (e.g. coding, math_reasoning, rag).
    #[arg(long)]
    pub spec_bench_category: Option<String>,
    /// hf: which dataset's layout --dataset-path has, when the path does not say it
    /// (philschmid/mt-bench, likaixin/InstructCoder, AI-MO/aimo-validation-aime,
    /// AI-MO/NuminaMath-1.5, AI-MO/NuminaMath-CoT, vdaita/edit_5k_char, vdaita/edit_10k_char).
    #[arg(long)]
    pub hf_name: Option<String>,
    /// hf: output tokens of every request instead of the dataset's default.
    #[arg(long)]
    pub hf_output_len: Option<usize>,
    /// hf Blazedit: least normalized edit distance of a kept row.
    #[arg(long, default_value_t = 0.0)]
    pub blazedit_min_distance: f64,
    /// hf Blazedit: greatest normalized edit distance of a kept row.
    #[arg(long, default_value_t = 1.0)]
    pub blazedit_max_distance: f64,
    /// hf: the hub subset. Accepted so vLLM command lines run unchanged; a local file is read
    /// as it is (a warning says so).
    #[arg(long)]
    pub hf_subset: Option<String>,
    /// hf: the hub split (accepted with a warning, as `--hf-subset`).
    #[arg(long)]
    pub hf_split: Option<String>,
    /// hf: do not stream the hub dataset (accepted; local files are read whole anyway).
    #[arg(long)]
    pub no_stream: bool,
}

/// The timed_trace dataset's flags and trace replay (timed_trace, burstgpt, azure).
#[derive(Debug, Clone, Args)]
pub struct TraceFlags {
    /// timed_trace: tokens per hash id (Mooncake traces use 512).
    #[arg(long, default_value_t = 16)]
    pub timed_trace_chunk_hash_size: usize,
    /// timed_trace: trace timestamps × this = seconds (0.001 for milliseconds).
    #[arg(long, default_value_t = 1.0)]
    pub timed_trace_sec_multiplier: f64,
    /// timed_trace: name of the timestamp column.
    #[arg(long, default_value = "timestamp")]
    pub timed_trace_label_timestamp: String,
    /// timed_trace: name of the prompt-length column.
    #[arg(long, default_value = "input_length")]
    pub timed_trace_label_input_length: String,
    /// timed_trace: name of the output-length column.
    #[arg(long, default_value = "output_length")]
    pub timed_trace_label_output_length: String,
    /// timed_trace: name of the hash-ids column.
    #[arg(long, default_value = "hash_ids")]
    pub timed_trace_label_hash_ids: String,
    /// Send requests at the trace's own arrival times (timed_trace: default; burstgpt, azure:
    /// off unless given) instead of --request-rate.
    #[arg(long, visible_alias = "trace-replay", overrides_with = "no_self_timed")]
    pub self_timed: bool,
    /// Ignore the trace's arrival times (timed_trace) and follow --request-rate.
    #[arg(long, overrides_with = "self_timed")]
    pub no_self_timed: bool,
    /// Multiply replayed arrival times by this (0.5 replays twice as fast); needs a self-timed
    /// run.
    #[arg(long, default_value_t = 1.0)]
    pub trace_time_scale: f64,
}

impl TraceFlags {
    /// `--self-timed` (`Some(true)`), `--no-self-timed` (`Some(false)`), or neither (the
    /// dataset's default); the last one given wins.
    pub fn self_timed(&self) -> Option<bool> {
        match (self.self_timed, self.no_self_timed) {
            (true, _) => Some(true),
            (_, true) => Some(false),
            _ => None,
        }
    }
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
