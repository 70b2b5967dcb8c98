//! Datasets: where benchmark prompts come from, sampled exactly as vLLM's benchmark suite samples
//! them (`vllm/benchmarks/datasets`), so a figure from `dyno bench` is comparable to one from
//! `vllm bench` on the same data and seed.
//!
//! Every reader produces [`SampleRequest`]s. Token counts come from a [`BenchTokenizer`], which
//! the caller supplies (the engine's tokenizer in-process, the served model's tokenizer for HTTP
//! benchmarks), so this crate never depends on the engine.
//!
//! # Usage
//!
//! ```no_run
//! # use dyno_bench::dataset::{BenchTokenizer, DatasetArgs, DatasetName, sample};
//! # fn run(tokenizer: &dyn BenchTokenizer) -> Result<(), dyno_bench::dataset::DatasetError> {
//! let mut args = DatasetArgs::new(DatasetName::ShareGpt);
//! args.path = Some("ShareGPT_V3_unfiltered_cleaned_split.json".into());
//! args.num_prompts = 200;
//! let requests = sample(&args, tokenizer)?;
//! # Ok(()) }
//! ```
//!
//! | dataset | reads | module |
//! |---|---|---|
//! | `random` | nothing: exact-length random token prompts | `random.rs` |
//! | `sharegpt` | ShareGPT JSON list | `sharegpt.rs` |
//! | `sonnet` | poem lines (text) | `sonnet.rs` |
//! | `burstgpt` | BurstGPT CSV (lengths; timestamps with `--self-timed`) | `burstgpt.rs` |
//! | `prefix_repetition` | nothing: groups sharing a random prefix | `prefix_repetition.rs` |
//! | `custom` | JSONL `{"prompt", "output_tokens"}` | `custom.rs` |
//! | `spec_bench` | Spec-Bench JSONL `{"category", "turns"}` | `spec_bench.rs` |
//! | `hf` | local JSON/JSONL of MT-Bench, InstructCoder, AIMO, Blazedit | `hf/` |
//! | `timed_trace` | Mooncake JSONL `{"timestamp", "input_length", "output_length", "hash_ids"}`: token-id prompts sharing blocks, self-timed | `timed_trace.rs` |
//! | `azure` | Azure LLM inference trace 2023 CSV (lengths; timestamps with `--self-timed`) | `azure.rs` |
//!
//! # Trace replay
//!
//! [`SampleRequest::timestamp`] is set only when the run is to follow the trace's clock:
//! `timed_trace` by default, `burstgpt` and `azure` with `--self-timed` (vLLM ignores their
//! timestamps), never for the other datasets. See `replay.rs` for the rules and time scaling.
//!
//! # Determinism
//!
//! The same arguments, seed, tokenizer and build give the same requests, in the same order.
//! The draws come from `rand`'s [`StdRng`] seeded with [`StdRng::seed_from_u64`], one stream per
//! purpose. vLLM draws from numpy's `default_rng` and Python's `random`; those streams cannot
//! be reproduced here, so the same seed picks *different* rows and lengths than vLLM does,
//! from the same distributions. (`StdRng`'s algorithm may change across `rand` major versions;
//! `Cargo.lock` pins it.)
//!
//! # Oversampling
//!
//! When a file has fewer usable rows than `num_prompts` (sharegpt, custom), random rows are
//! repeated (seeded) under new ids, as vLLM does, unless `no_oversample`. Request ids are the
//! prefix (default `"<dataset name>-"`) plus a number; a repeated id is an error.

mod args;
mod azure;
mod burstgpt;
mod custom;
mod error;
mod hf;
mod prefix_repetition;
mod random;
mod records;
mod replay;
mod sharegpt;
mod sonnet;
mod source;
mod spec_bench;
mod timed_trace;
mod tokens;

use std::collections::HashSet;

use rand::SeedableRng;
use rand::rngs::StdRng;

pub use args::{
    CustomOutputLen, DatasetArgs, DatasetName, PrefixRepetitionArgs, RandomArgs, RangeRatio,
    SonnetArgs, SonnetPrompt,
};
pub use error::{DatasetError, Location, Result};
pub use hf::HfArgs;
pub use random::LengthBounds;
pub use replay::ReplayArgs;
pub use spec_bench::SpecBenchArgs;
pub use timed_trace::TimedTraceArgs;

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
    /// Arrival time in seconds from the start of the run when the run replays its dataset's
    /// clock (timed_trace by default, burstgpt and azure with `--self-timed`); `None` otherwise,
    /// and then the run's `--request-rate` decides.
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

/// The requests `args` describe, tokenized with `tokenizer`.
///
/// Checks the options first (a file-backed dataset needs `path`, a generated one refuses it;
/// `num_prompts` must be positive except for `custom` and `spec_bench`; replay options must fit
/// the dataset), then reads and samples the dataset, and finally checks that request ids are
/// unique.
pub fn sample(args: &DatasetArgs, tokenizer: &dyn BenchTokenizer) -> Result<Vec<SampleRequest>> {
    let name = args.name;
    if let (None, Some(path)) = (name.expected_file(), &args.path) {
        return Err(DatasetError::UnexpectedPath {
            dataset: name.as_str(),
            path: path.clone(),
        });
    }
    if args.num_prompts == 0 && !matches!(name, DatasetName::Custom | DatasetName::SpecBench) {
        return Err(DatasetError::InvalidArgument {
            flag: "--num-prompts",
            value: "0".to_owned(),
            expected: "expected at least 1 request".to_owned(),
        });
    }
    let replay = args.replay.scale_for(name)?;
    let ctx = Context {
        tokenizer,
        num_prompts: args.num_prompts,
        seed: args.seed,
        id_prefix: args.id_prefix(),
        disable_shuffle: args.disable_shuffle,
        no_oversample: args.no_oversample,
    };
    let file = || {
        args.path
            .as_deref()
            .ok_or_else(|| DatasetError::MissingPath {
                dataset: name.as_str(),
                expected: name.expected_file().unwrap_or_default(),
            })
    };
    let requests = match name {
        DatasetName::Random => random::sample(&ctx, &args.random)?,
        DatasetName::ShareGpt => sharegpt::sample(&ctx, file()?, args.sharegpt_output_len)?,
        DatasetName::Sonnet => sonnet::sample(&ctx, file()?, &args.sonnet)?,
        DatasetName::BurstGpt => burstgpt::sample(&ctx, file()?, replay)?,
        DatasetName::PrefixRepetition => prefix_repetition::sample(&ctx, &args.prefix_repetition)?,
        DatasetName::Custom => custom::sample(
            &ctx,
            file()?,
            args.custom_output_len,
            args.skip_chat_template,
        )?,
        DatasetName::SpecBench => {
            spec_bench::sample(&ctx, file()?, &args.spec_bench, args.skip_chat_template)?
        }
        DatasetName::Hf => hf::sample(&ctx, file()?, &args.hf, args.skip_chat_template)?,
        DatasetName::TimedTrace => timed_trace::sample(&ctx, file()?, &args.timed_trace, replay)?,
        DatasetName::Azure => azure::sample(&ctx, file()?, replay)?,
    };
    ensure_unique_ids(&requests)?;
    Ok(requests)
}

/// Fails on the first request id seen twice.
fn ensure_unique_ids(requests: &[SampleRequest]) -> Result<()> {
    let mut seen = HashSet::with_capacity(requests.len());
    for request in requests {
        if !seen.insert(request.request_id.as_str()) {
            return Err(DatasetError::DuplicateRequestId {
                id: request.request_id.clone(),
            });
        }
    }
    Ok(())
}

/// Random streams, one per purpose, so that e.g. oversampling does not shift a dataset's
/// own draws.
#[derive(Clone, Copy)]
enum Stream {
    /// The dataset's own draws (shuffles, lengths, tokens).
    Dataset = 0,
    /// Rows repeated by oversampling.
    Oversample = 1,
}

/// What every reader needs besides its own options.
pub(crate) struct Context<'a> {
    tokenizer: &'a dyn BenchTokenizer,
    num_prompts: usize,
    seed: u64,
    id_prefix: String,
    disable_shuffle: bool,
    no_oversample: bool,
}

impl Context<'_> {
    /// The dataset's random stream.
    fn rng(&self) -> StdRng {
        self.stream(Stream::Dataset)
    }

    fn stream(&self, stream: Stream) -> StdRng {
        // Golden-ratio spacing keeps the streams' seeds apart for every user seed.
        StdRng::seed_from_u64(self.seed ^ (stream as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15))
    }

    /// The id of request `index`.
    fn request_id(&self, index: usize) -> String {
        format!("{}{index}", self.id_prefix)
    }

    /// [`Self::oversample_to`] `num_prompts`.
    fn oversample(&self, requests: &mut Vec<SampleRequest>) {
        self.oversample_to(requests, self.num_prompts);
    }

    /// Repeats random requests of `requests` under new ids (`prefix` + position) until there
    /// are `wanted`, unless `no_oversample` (vLLM's `maybe_oversample_requests`).
    fn oversample_to(&self, requests: &mut Vec<SampleRequest>, wanted: usize) {
        let have = requests.len();
        if self.no_oversample || have == 0 || have >= wanted {
            return;
        }
        let mut rng = self.stream(Stream::Oversample);
        for index in have..wanted {
            let mut copy = requests[rand::Rng::random_range(&mut rng, 0..have)].clone();
            copy.request_id = self.request_id(index);
            requests.push(copy);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(id: &str) -> SampleRequest {
        SampleRequest {
            request_id: id.to_owned(),
            prompt: Prompt::Text(String::new()),
            prompt_len: 0,
            expected_output_len: 1,
            timestamp: None,
        }
    }

    #[test]
    fn duplicate_request_ids_are_an_error() {
        let ok = [request("a-0"), request("a-1")];
        assert!(ensure_unique_ids(&ok).is_ok());
        let twice = [request("a-0"), request("a-1"), request("a-0")];
        let err = ensure_unique_ids(&twice).unwrap_err();
        assert!(matches!(&err, DatasetError::DuplicateRequestId { id } if id == "a-0"));
    }

    #[test]
    fn streams_differ_for_one_seed() {
        use rand::RngCore;
        let tokenizer = NoTokenizer;
        let ctx = Context {
            tokenizer: &tokenizer,
            num_prompts: 1,
            seed: 0,
            id_prefix: String::new(),
            disable_shuffle: false,
            no_oversample: false,
        };
        let a = ctx.stream(Stream::Dataset).next_u64();
        let b = ctx.stream(Stream::Oversample).next_u64();
        assert_ne!(a, b);
        assert_eq!(a, StdRng::seed_from_u64(0).next_u64());
    }

    struct NoTokenizer;

    impl BenchTokenizer for NoTokenizer {
        fn encode(&self, _: &str, _: bool) -> Vec<u32> {
            Vec::new()
        }
        fn decode(&self, _: &[u32]) -> String {
            String::new()
        }
        fn vocab_size(&self) -> usize {
            0
        }
        fn special_token_ids(&self) -> Vec<u32> {
            Vec::new()
        }
        fn num_special_tokens_to_add(&self) -> usize {
            0
        }
    }
}
