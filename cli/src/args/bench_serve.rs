//! `dyno bench serve` flags (vLLM's `bench serve` names and defaults).

use std::path::PathBuf;

use clap::Args;

use super::bench::DatasetFlags;

/// `dyno bench serve`.
#[derive(Debug, Args)]
pub struct BenchServeArgs {
    /// Wire format: openai, vllm, openai-chat, tgi, llama.cpp or sglang.
    #[arg(long, default_value = "openai")]
    pub backend: String,
    /// Server base URL (http://HOST:PORT[/PATH]); overrides --host and --port.
    #[arg(long)]
    pub base_url: Option<String>,
    /// Server host.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Server port.
    #[arg(long, default_value_t = 8000)]
    pub port: u16,
    /// Route of the requests (default: the backend's: /v1/completions, /v1/chat/completions,
    /// /generate_stream, /completion, /generate).
    #[arg(long)]
    pub endpoint: Option<String>,
    /// Extra header KEY=VALUE (repeatable); overrides built-in headers, not x-request-id.
    #[arg(long, num_args = 1..)]
    pub header: Vec<String>,
    /// Model name (default: the first of GET /v1/models).
    #[arg(long)]
    pub model: Option<String>,
    /// The `model` field sent, when it differs from --model.
    #[arg(long)]
    pub served_model_name: Option<String>,
    /// A local tokenizer directory (tokenizer.json), or `byte` for the built-in byte tokenizer;
    /// without it the server's /tokenize and /detokenize are used.
    #[arg(long)]
    pub tokenizer: Option<PathBuf>,
    /// Send the first request until it succeeds, every 5 s, for up to this long (0: no check).
    #[arg(long, default_value_t = 0.0)]
    pub ready_check_timeout_sec: f64,
    /// JSON object merged into every request body (wins over the sampling flags).
    #[arg(long)]
    pub extra_body: Option<String>,
    /// Prefix of each request's x-request-id (default: bench-<8 hex>-).
    #[arg(long)]
    pub request_id_prefix: Option<String>,
    /// Seconds without any byte from the server before a request fails (0: wait forever).
    #[arg(long, default_value_t = 300.0)]
    pub read_timeout: f64,
    /// Ask the server to keep generating past EOS.
    #[arg(long)]
    pub ignore_eos: bool,
    /// Log-probabilities per token to ask for.
    #[arg(long)]
    pub logprobs: Option<u32>,
    /// Sampling flags (server defaults when absent).
    #[command(flatten)]
    pub sampling: SamplingArgs,
    /// The requests.
    #[command(flatten)]
    pub dataset: DatasetFlags,
    /// Traffic.
    #[command(flatten)]
    pub traffic: TrafficArgs,
    /// Metrics and output.
    #[command(flatten)]
    pub output: ServeOutputArgs,
}

/// Sampling flags.
#[derive(Debug, Clone, Args)]
pub struct SamplingArgs {
    /// Softmax temperature.
    #[arg(long)]
    pub temperature: Option<f64>,
    /// Nucleus mass.
    #[arg(long)]
    pub top_p: Option<f64>,
    /// Top-k.
    #[arg(long, allow_hyphen_values = true)]
    pub top_k: Option<i64>,
    /// Min-p.
    #[arg(long)]
    pub min_p: Option<f64>,
    /// Frequency penalty.
    #[arg(long, allow_hyphen_values = true)]
    pub frequency_penalty: Option<f64>,
    /// Presence penalty.
    #[arg(long, allow_hyphen_values = true)]
    pub presence_penalty: Option<f64>,
    /// Repetition penalty.
    #[arg(long)]
    pub repetition_penalty: Option<f64>,
}

/// Traffic flags.
#[derive(Debug, Clone, Args)]
pub struct TrafficArgs {
    /// Requests per second (`inf`: all at once).
    #[arg(long, default_value = "inf")]
    pub request_rate: String,
    /// Gamma shape of the gaps (1: Poisson).
    #[arg(long, default_value_t = 1.0)]
    pub burstiness: f64,
    /// Most requests in flight.
    #[arg(long)]
    pub max_concurrency: Option<usize>,
    /// linear or exponential rate ramp (with --ramp-up-start-rps and --ramp-up-end-rps).
    #[arg(long)]
    pub ramp_up_strategy: Option<String>,
    /// Rate of the first request of a ramp.
    #[arg(long)]
    pub ramp_up_start_rps: Option<u64>,
    /// Rate of the last request of a ramp.
    #[arg(long)]
    pub ramp_up_end_rps: Option<u64>,
    /// Warm-up requests before the run (at least --max-concurrency of them, all at once).
    #[arg(long, default_value_t = 0)]
    pub num_warmups: usize,
    /// Stop sending after this many seconds, cycling the requests until then.
    #[arg(long)]
    pub duration: Option<f64>,
    /// Seed of the dataset and the arrival times.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Repeat the whole run this many times and report mean, spread and a 95 % interval.
    #[arg(long, default_value_t = 1)]
    pub num_runs: usize,
    /// Client runtime threads.
    #[arg(long, default_value_t = 2)]
    pub worker_threads: usize,
}

/// Metric selection and output flags.
#[derive(Debug, Clone, Args)]
pub struct ServeOutputArgs {
    /// Metrics with percentiles: ttft, tpot, itl, e2el, client_queue_time,
    /// e2el_including_client_queue.
    #[arg(long, default_value = "ttft,tpot,itl")]
    pub percentile_metrics: String,
    /// Percentiles to report, comma-separated.
    #[arg(long, default_value = "99")]
    pub metric_percentiles: String,
    /// Service-level objectives KEY:MS (ttft, tpot, e2el) for goodput.
    #[arg(long, num_args = 1..)]
    pub goodput: Vec<String>,
    /// Save the result JSON.
    #[arg(long)]
    pub save_result: bool,
    /// Keep the per-request arrays in the result.
    #[arg(long)]
    pub save_detailed: bool,
    /// Append to the result file (one JSON per line).
    #[arg(long)]
    pub append_result: bool,
    /// Directory of the result file (created when missing).
    #[arg(long)]
    pub result_dir: Option<PathBuf>,
    /// Result file name (default: vLLM's).
    #[arg(long)]
    pub result_filename: Option<PathBuf>,
    /// KEY=VALUE pairs put into the result (repeatable).
    #[arg(long, num_args = 1..)]
    pub metadata: Vec<String>,
    /// Result label and file-name prefix (default: the backend).
    #[arg(long)]
    pub label: Option<String>,
    /// Write one JSON line per request to this file.
    #[arg(long)]
    pub save_requests: Option<PathBuf>,
    /// No progress bar.
    #[arg(long)]
    pub disable_tqdm: bool,
    /// Steady state: the in-flight level, as a fraction of --max-concurrency.
    #[arg(long, default_value_t = 0.95)]
    pub steady_state_threshold: f64,
}
