//! `dyno bench serve` flags (vLLM's `bench serve` names and defaults).
//!
//! Every long flag of `vllm bench serve` parses: most do what they do in vLLM, a few are
//! accepted as documented no-ops where that is the truth (`--insecure`, `--trust-remote-code`,
//! `--tokenizer-mode auto|hf`, `--no-stream`, `--custom-ensure-client-side-data`), and the rest
//! are in [`UNSUPPORTED`]: hidden, and passing one fails with its reason instead of clap's
//! "unexpected argument" (`cli/tests/bench_serve_flags.rs` holds vLLM's list and checks both).

use std::path::PathBuf;

use clap::parser::ValueSource;
use clap::{Arg, ArgAction, ArgMatches, Args, Command, FromArgMatches};

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
    /// Send the first request until it succeeds, every 5 s, for up to this long (0: no check);
    /// without --model, the /v1/models lookup waits as long for a server that is still loading.
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
    /// JSON object of chat-template variables (e.g. '{"enable_thinking": false}'). dyno renders
    /// no template on the client, so they go where the template is rendered: the
    /// `chat_template_kwargs` of openai-chat requests; other backends ignore them (a warning says
    /// so).
    #[arg(long)]
    pub chat_template_kwargs: Option<String>,
    /// Send `stream: false` and time whole responses (TTFT = E2EL, as vLLM times its
    /// non-streaming backends; TGI goes to /generate). sglang's bench_serving spelling.
    #[arg(long)]
    pub disable_stream: bool,
    /// Probe requests per second ("Hi", one output token) sent beside the run, outside
    /// --max-concurrency, and reported apart (0: none).
    #[arg(long, default_value_t = 0.0, allow_hyphen_values = true)]
    pub probe_request_rate: f64,
    /// LoRA adapter names the server serves: each request's `model` names one of them.
    #[arg(long, num_args = 1..)]
    pub lora_modules: Vec<String>,
    /// How --lora-modules are assigned: random (seeded by --seed) or round-robin.
    #[arg(long, default_value = "random")]
    pub lora_assignment: String,
    /// Accepted for vLLM command lines: disables TLS verification there; dyno's client speaks
    /// plain http only (https URLs are refused), so it changes nothing.
    #[arg(long)]
    pub insecure: bool,
    /// Never count output tokens with a tokenizer on the client: counts come from the server's
    /// usage, else one per chunk (vLLM without a tokenizer). The dataset is still built with
    /// --tokenizer or the server's /tokenize.
    #[arg(long)]
    pub skip_tokenizer_init: bool,
    /// Accepted for vLLM command lines: tokenizers here are tokenizer.json files, no code is run.
    #[arg(long)]
    pub trust_remote_code: bool,
    /// auto or hf (the same here: a tokenizer.json); vLLM's mistral and deepseek_v32 modes are
    /// not available.
    #[arg(long, default_value = "auto")]
    pub tokenizer_mode: String,
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
    /// vLLM flags that are not supported (hidden; each fails with its reason).
    #[command(flatten)]
    pub unsupported: UnsupportedFlags,
}

/// A `vllm bench serve` flag that dyno does not implement, and why.
#[derive(Debug, PartialEq, Eq)]
pub struct Unsupported {
    /// The long flag without `--`.
    pub flag: &'static str,
    /// Why, and what to use instead.
    pub why: &'static str,
}

const MULTIMODAL: &str = "multimodal datasets are not supported (text and token-id prompts only)";
const PLOTS: &str = "dyno draws no plots; --save-detailed keeps start_times, ttfts and itls and \
                     --save-requests writes one JSON line per request to plot from";
const SPEED_BENCH: &str = "the speed_bench dataset is not implemented; use spec_bench or hf";
const ASR: &str = "the asr dataset needs audio and vLLM's openai-audio backend, which dyno bench \
                   serve does not have";

/// vLLM's `bench serve` flags dyno does not implement, in alphabetical order. Each is parsed
/// (hidden, with or without a value) so that passing it fails with its reason.
pub const UNSUPPORTED: &[Unsupported] = &[
    Unsupported {
        flag: "asr-max-audio-len-sec",
        why: ASR,
    },
    Unsupported {
        flag: "asr-min-audio-len-sec",
        why: ASR,
    },
    Unsupported {
        flag: "bfcl-categories",
        why: "the bfcl (tool-calling) dataset is not implemented; put such prompts in a custom \
              JSONL file (--dataset-name custom)",
    },
    Unsupported {
        flag: "enable-multimodal-chat",
        why: MULTIMODAL,
    },
    Unsupported {
        flag: "no-reranker",
        why: "the random-rerank dataset and rerank backends are not supported (generation \
              backends only)",
    },
    Unsupported {
        flag: "plot-dataset-stats",
        why: PLOTS,
    },
    Unsupported {
        flag: "plot-timeline",
        why: PLOTS,
    },
    Unsupported {
        flag: "profile",
        why: "it drives vLLM's /start_profile and /stop_profile; start the profiler on the \
              server yourself around the run",
    },
    Unsupported {
        flag: "random-mm-base-items-per-request",
        why: MULTIMODAL,
    },
    Unsupported {
        flag: "random-mm-bucket-config",
        why: MULTIMODAL,
    },
    Unsupported {
        flag: "random-mm-limit-mm-per-prompt",
        why: MULTIMODAL,
    },
    Unsupported {
        flag: "random-mm-num-mm-items-range-ratio",
        why: MULTIMODAL,
    },
    Unsupported {
        flag: "speed-bench-category",
        why: SPEED_BENCH,
    },
    Unsupported {
        flag: "speed-bench-dataset-subset",
        why: SPEED_BENCH,
    },
    Unsupported {
        flag: "speed-bench-output-len",
        why: SPEED_BENCH,
    },
    Unsupported {
        flag: "timeline-itl-thresholds",
        why: PLOTS,
    },
    Unsupported {
        flag: "use-beam-search",
        why: "beam search is not part of the OpenAI API that the backends speak; sample with \
              --temperature 0 for deterministic outputs",
    },
];

/// The [`UNSUPPORTED`] flags given on the command line.
#[derive(Debug, Clone, Default)]
pub struct UnsupportedFlags {
    /// In table order.
    pub given: Vec<&'static Unsupported>,
}

impl UnsupportedFlags {
    /// Fails on the first unsupported flag given, naming it and saying why.
    ///
    /// # Errors
    /// The message for the first one.
    pub fn check(&self) -> anyhow::Result<()> {
        match self.given.first() {
            None => Ok(()),
            Some(u) => anyhow::bail!(
                "--{} (a vllm bench serve flag) is not supported by dyno bench serve: {}",
                u.flag,
                u.why
            ),
        }
    }
}

impl FromArgMatches for UnsupportedFlags {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let mut flags = Self::default();
        flags.update_from_arg_matches(matches)?;
        Ok(flags)
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        self.given = UNSUPPORTED
            .iter()
            .filter(|u| matches.value_source(u.flag) == Some(ValueSource::CommandLine))
            .collect();
        Ok(())
    }
}

impl Args for UnsupportedFlags {
    fn augment_args(cmd: Command) -> Command {
        let names: Vec<String> = UNSUPPORTED
            .iter()
            .map(|u| format!("--{}", u.flag))
            .collect();
        let cmd = cmd.after_help(format!(
            "Not supported (vLLM flags that fail with the reason): {}",
            names.join(", ")
        ));
        UNSUPPORTED.iter().fold(cmd, |cmd, u| {
            cmd.arg(
                Arg::new(u.flag)
                    .long(u.flag)
                    .hide(true)
                    .num_args(0..=1)
                    .action(ArgAction::Append),
            )
        })
    }

    fn augment_args_for_update(cmd: Command) -> Command {
        Self::augment_args(cmd)
    }
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
    /// Output tokens of each warm-up and of the ready check (default: the first request's, as
    /// vLLM sends). 1 opens the connections and fills the server's batch at a fraction of the
    /// client's and server's work.
    #[arg(long, value_name = "TOKENS")]
    pub warmup_output_len: Option<usize>,
    /// Stop sending after this many seconds, cycling the requests until then.
    #[arg(long)]
    pub duration: Option<f64>,
    /// Seed of the dataset and the arrival times.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Repeat the whole run this many times and report mean, spread and a 95 % interval.
    #[arg(long, default_value_t = 1)]
    pub num_runs: usize,
    /// Client runtime threads. 1 (the default): one thread sends, reads and times every
    /// stream, with no wake-ups between threads (the least CPU and the steadiest timestamps up
    /// to 1000 streams and 100 000 events per second on two cores, docs/perf/client-accuracy.md);
    /// more spread the reading over that many threads, for servers that stream faster than one
    /// thread can read.
    #[arg(long, default_value_t = 1)]
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
