//! `bench serve`: the online benchmark against a running server, as `vllm bench serve` runs
//! it, in three steps the caller sequences (so that a blocking tokenizer never runs on the
//! async runtime):
//!
//! 1. [`prepare`]: validate the traffic settings, compute the [`Schedule`] and build every
//!    request body ahead of the run (each naming its LoRA adapter under `--lora-modules`).
//! 2. [`run`]: the optional ready check, the warm-ups (max(`--num-warmups`,
//!    `--max-concurrency`) copies of the first request at once, so every connection and batch
//!    slot is warm; unmeasured), then the measured run ([`crate::runner`]) with its
//!    `--probe-request-rate` probes beside it ([`crate::runner::probe`]).
//! 3. [`finish`]: count output tokens with the tokenizer where the server sent no count, then
//!    compute the metrics, the probes' summary and the steady state.

use std::future::Future;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use thiserror::Error;
use tokio::sync::watch;

use crate::arrival::{ArrivalError, Schedule, Traffic, schedule};
use crate::dataset::{BenchTokenizer, SampleRequest};
use crate::endpoint::{HttpEndpoint, PrepareError, PreparedRequest, RequestOutcome, TokenSource};
use crate::metrics::probe::probe_stats;
use crate::metrics::serve::{PercentileMetric, ServeMetricsConfig, serve_metrics};
use crate::metrics::steady::steady_state;
use crate::report::ServeRun;
use crate::runner::probe::{self, ProbeStop};
use crate::runner::{self, RunConfig, RunOutput};

/// Why a serve benchmark could not run.
#[derive(Debug, Error)]
pub enum ServeError {
    /// Bad traffic settings.
    #[error(transparent)]
    Arrival(#[from] ArrivalError),
    /// A request the backend cannot carry.
    #[error(transparent)]
    Prepare(#[from] PrepareError),
    /// No request to send.
    #[error("the dataset gave no requests; check --num-prompts and the dataset flags")]
    NoRequests,
    /// An endless closed loop.
    #[error(
        "--duration with an infinite --request-rate needs --max-concurrency (otherwise requests would be sent without bound)"
    )]
    UnboundedDuration,
    /// A bad `--probe-request-rate`.
    #[error("--probe-request-rate {0}: expected a positive, finite number of probes per second")]
    BadProbeRate(f64),
    /// `--lora-modules` without a name.
    #[error("--lora-modules was given no adapter name; name at least one (--lora-modules NAME …)")]
    NoLoraModules,
    /// The server never answered the ready check.
    #[error("the server was not ready within --ready-check-timeout-sec {secs} s: {last_error}")]
    NotReady {
        /// The timeout.
        secs: f64,
        /// The last failure.
        last_error: String,
    },
}

/// How to run and measure.
#[derive(Clone, Debug, PartialEq)]
pub struct ServeOptions {
    /// Arrivals.
    pub traffic: Traffic,
    /// Seed of the arrival schedule.
    pub seed: u64,
    /// Concurrency, duration, request ids.
    pub run: RunConfig,
    /// `--num-warmups`.
    pub num_warmups: usize,
    /// `--warmup-output-len`: output tokens of each warm-up (and of the ready check); `None`:
    /// the first request's, as vLLM sends.
    pub warmup_output_len: Option<usize>,
    /// `--ready-check-timeout-sec` (`None`: no check).
    pub ready_check: Option<Duration>,
    /// What to compute.
    pub metrics: ServeMetricsConfig,
    /// The steady-state level as a fraction of the concurrency.
    pub steady_threshold: f64,
    /// `--probe-request-rate` (`None`: no probes).
    pub probe_rate: Option<f64>,
    /// `--lora-modules` with `--lora-assignment` (`None`: every request names the run's model).
    pub lora: Option<LoraModules>,
}

/// How `--lora-modules` are handed to requests (`--lora-assignment`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LoraAssignment {
    /// Each request draws an adapter uniformly (seeded by `--seed`; vLLM's default).
    #[default]
    Random,
    /// Request i gets adapter i mod the number of adapters.
    RoundRobin,
}

impl FromStr for LoraAssignment {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "random" => Ok(Self::Random),
            "round-robin" => Ok(Self::RoundRobin),
            other => Err(format!(
                "--lora-assignment `{other}`: expected random or round-robin"
            )),
        }
    }
}

/// LoRA adapters served beside the base model: each request's `model` field names one of them
/// (vLLM's `--lora-modules`; the body is otherwise the same).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoraModules {
    /// The adapter names, as the server knows them.
    pub names: Vec<String>,
    /// How they are assigned.
    pub assignment: LoraAssignment,
}

impl LoraModules {
    /// The adapter of each of `n` requests; random assignment is drawn from `seed`.
    pub fn assign(&self, n: usize, seed: u64) -> Vec<&str> {
        let names = &self.names;
        if names.is_empty() {
            return Vec::new();
        }
        match self.assignment {
            LoraAssignment::RoundRobin => (0..n).map(|i| names[i % names.len()].as_str()).collect(),
            LoraAssignment::Random => {
                // Its own stream of `--seed`, apart from the dataset's and the arrivals'.
                let mut rng = StdRng::seed_from_u64(seed ^ 0x4c6f_5241);
                (0..n)
                    .map(|_| names[rng.random_range(0..names.len())].as_str())
                    .collect()
            }
        }
    }
}

/// Step 1: the schedule and the prebuilt bodies of `requests`.
///
/// # Errors
/// [`ServeError`] for bad traffic settings, an empty dataset or an unsendable prompt.
pub fn prepare(
    endpoint: &HttpEndpoint,
    requests: &[SampleRequest],
    options: &ServeOptions,
) -> Result<(Schedule, Arc<[PreparedRequest]>), ServeError> {
    if requests.is_empty() {
        return Err(ServeError::NoRequests);
    }
    let endless = match options.traffic {
        Traffic::Rate { rate, .. } => rate.is_infinite(),
        _ => false,
    };
    if options.run.duration.is_some() && endless && options.run.max_concurrency.is_none() {
        return Err(ServeError::UnboundedDuration);
    }
    if let Some(rate) = options.probe_rate
        && !(rate > 0.0 && rate.is_finite())
    {
        return Err(ServeError::BadProbeRate(rate));
    }
    let timestamps: Vec<Option<f64>> = requests.iter().map(|r| r.timestamp).collect();
    let schedule = schedule(&options.traffic, requests.len(), options.seed, &timestamps)?;
    let prepared = match &options.lora {
        None => requests
            .iter()
            .map(|r| endpoint.prepare(r))
            .collect::<Result<Vec<_>, _>>()?,
        Some(lora) if lora.names.is_empty() => return Err(ServeError::NoLoraModules),
        Some(lora) => requests
            .iter()
            .zip(lora.assign(requests.len(), options.seed))
            .map(|(r, model)| endpoint.prepare_as(r, model))
            .collect::<Result<Vec<_>, _>>()?,
    };
    Ok((schedule, prepared.into()))
}

/// The ready check's and the warm-ups' request: the first of `requests` (with its adapter
/// under `--lora-modules`), with [`ServeOptions::warmup_output_len`] output tokens when set.
///
/// # Errors
/// [`ServeError::NoRequests`] for an empty dataset; [`ServeError::Prepare`] when the backend
/// cannot send it.
pub fn warmup_request(
    endpoint: &HttpEndpoint,
    requests: &[SampleRequest],
    options: &ServeOptions,
) -> Result<PreparedRequest, ServeError> {
    let first = requests.first().ok_or(ServeError::NoRequests)?;
    let sample = SampleRequest {
        expected_output_len: options
            .warmup_output_len
            .unwrap_or(first.expected_output_len),
        ..first.clone()
    };
    // The first request's adapter, as `prepare` assigns it.
    let prepared = match &options.lora {
        Some(lora) if !lora.names.is_empty() => {
            endpoint.prepare_as(&sample, lora.assign(1, options.seed)[0])
        }
        _ => endpoint.prepare(&sample),
    };
    Ok(prepared?)
}

/// How many warm-ups fill the concurrency: max(`--num-warmups`, `--max-concurrency`) when any
/// were asked for, else none.
pub fn warmup_count(options: &ServeOptions) -> usize {
    if options.num_warmups == 0 {
        0
    } else {
        options
            .num_warmups
            .max(options.run.max_concurrency.unwrap_or(0))
    }
}

/// Step 2: ready check and warm-ups with `warm` (see [`warmup_request`]; `None`: neither),
/// then the measured run with its probes; `cancel` ends it early with what was gathered.
/// Returns the run (probes in [`RunOutput::probes`]) and the warm-up outcomes.
///
/// # Errors
/// [`ServeError::NotReady`] when the ready check never succeeded; [`ServeError::Prepare`] when
/// the backend cannot carry the probe.
pub async fn run(
    endpoint: &Arc<HttpEndpoint>,
    prepared: &Arc<[PreparedRequest]>,
    schedule: &Schedule,
    options: &ServeOptions,
    warm: Option<&PreparedRequest>,
    cancel: impl Future<Output = ()>,
    on_done: &(dyn Fn(&RequestOutcome) + Sync),
) -> Result<(RunOutput, Vec<RequestOutcome>), ServeError> {
    let mut warmups = Vec::new();
    if let Some(first) = warm {
        if let Some(timeout) = options.ready_check {
            runner::ready_check(endpoint, first, timeout)
                .await
                .map_err(|last_error| ServeError::NotReady {
                    secs: timeout.as_secs_f64(),
                    last_error,
                })?;
        }
        let count = warmup_count(options);
        if count > 0 {
            warmups = runner::warm_up(endpoint, first, count, &options.run.request_id_prefix).await;
        }
    }
    let measured = runner::run(
        endpoint.clone(),
        prepared.clone(),
        schedule,
        &options.run,
        cancel,
        on_done,
    );
    let Some(rate) = options.probe_rate else {
        return Ok((measured.await, warmups));
    };
    let probe_request = probe::probe_request(endpoint)?;
    let (stop_tx, mut stop_rx) = watch::channel(None);
    let probes = probe::run(
        endpoint.clone(),
        probe_request,
        rate,
        &options.run.request_id_prefix,
        async move {
            match stop_rx.wait_for(Option::is_some).await {
                Ok(how) => how.unwrap_or(ProbeStop::Abandon),
                Err(_) => ProbeStop::Abandon,
            }
        },
    );
    let measured = async move {
        let output = measured.await;
        let how = if output.interrupted {
            ProbeStop::Abandon
        } else {
            ProbeStop::Finish
        };
        let _ = stop_tx.send(Some(how));
        output
    };
    let (mut output, probes) = tokio::join!(measured, probes);
    output.probes = probes;
    Ok((output, warmups))
}

/// Counts output tokens with `tokenizer` for successful requests whose server sent no count
/// (vLLM re-tokenizes the text without special tokens). Without a tokenizer the chunk count
/// stays, marked [`TokenSource::Chunks`].
pub fn recount_tokens(outcomes: &mut [RequestOutcome], tokenizer: Option<&dyn BenchTokenizer>) {
    let Some(tokenizer) = tokenizer else { return };
    for o in outcomes
        .iter_mut()
        .filter(|o| o.success && o.output_token_source == TokenSource::Chunks)
    {
        o.output_tokens = tokenizer.encode(&o.generated_text, false).len();
        o.output_token_source = TokenSource::Tokenizer;
    }
}

/// Step 3: token counts, metrics and the steady state of a finished run.
pub fn finish(
    mut output: RunOutput,
    schedule: Schedule,
    options: &ServeOptions,
    tokenizer: Option<&dyn BenchTokenizer>,
) -> ServeRun {
    recount_tokens(&mut output.outcomes, tokenizer);
    let mut config = options.metrics.clone();
    // Queue times are reported whenever a concurrency limit can cause them.
    if options.run.max_concurrency.is_some() {
        let finite = !matches!(options.traffic, Traffic::Rate { rate, .. } if rate.is_infinite());
        config
            .percentile_metrics
            .push(PercentileMetric::ClientQueueTime);
        if finite {
            config
                .percentile_metrics
                .push(PercentileMetric::E2elIncludingClientQueue);
        }
        config.percentile_metrics.sort();
        config.percentile_metrics.dedup();
    }
    let mut metrics = serve_metrics(&output.outcomes, output.duration, &config);
    metrics.probe = probe_stats(&output.probes);
    let steady = match (options.run.max_concurrency, options.traffic) {
        (Some(c), Traffic::Rate { rate, .. }) if rate.is_infinite() => steady_state(
            &output.outcomes,
            c,
            options.steady_threshold,
            &config.percentiles,
        ),
        _ => None,
    };
    ServeRun {
        output,
        schedule,
        metrics,
        steady,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Words;

    impl BenchTokenizer for Words {
        fn encode(&self, text: &str, _: bool) -> Vec<u32> {
            text.split_whitespace().map(|_| 1).collect()
        }
        fn decode(&self, _: &[u32]) -> String {
            String::new()
        }
        fn vocab_size(&self) -> usize {
            2
        }
        fn special_token_ids(&self) -> Vec<u32> {
            Vec::new()
        }
        fn num_special_tokens_to_add(&self) -> usize {
            0
        }
    }

    #[test]
    fn tokenizer_counts_only_what_the_server_did_not() {
        let mut v = vec![
            RequestOutcome {
                success: true,
                output_tokens: 2,
                output_token_source: TokenSource::Chunks,
                generated_text: "a b c".into(),
                ..RequestOutcome::default()
            },
            RequestOutcome {
                success: true,
                output_tokens: 9,
                output_token_source: TokenSource::Usage,
                generated_text: "a".into(),
                ..RequestOutcome::default()
            },
        ];
        recount_tokens(&mut v, None);
        assert_eq!(v[0].output_tokens, 2);
        recount_tokens(&mut v, Some(&Words));
        assert_eq!(
            (v[0].output_tokens, v[0].output_token_source),
            (3, TokenSource::Tokenizer)
        );
        assert_eq!(v[1].output_tokens, 9);
    }

    #[test]
    fn lora_assignment_round_robin_and_seeded_random() {
        let mut lora = LoraModules {
            names: vec!["a".into(), "b".into(), "c".into()],
            assignment: "round-robin".parse().unwrap(),
        };
        assert_eq!(lora.assign(5, 0), ["a", "b", "c", "a", "b"]);
        lora.assignment = LoraAssignment::Random;
        let drawn = lora.assign(300, 7);
        assert_eq!(
            drawn,
            lora.assign(300, 7),
            "the same seed draws the same adapters"
        );
        assert_ne!(drawn, lora.assign(300, 8));
        for name in ["a", "b", "c"] {
            let k = drawn.iter().filter(|d| **d == name).count();
            assert!((60..140).contains(&k), "{name} drawn {k} of 300 times");
        }
        assert!("sticky".parse::<LoraAssignment>().is_err());
    }

    #[test]
    fn warmups_fill_the_concurrency() {
        let mut o = ServeOptions {
            traffic: Traffic::Rate {
                rate: f64::INFINITY,
                burstiness: 1.0,
            },
            seed: 0,
            run: RunConfig {
                max_concurrency: Some(8),
                ..RunConfig::default()
            },
            num_warmups: 2,
            warmup_output_len: None,
            ready_check: None,
            metrics: ServeMetricsConfig::default(),
            steady_threshold: 0.95,
            probe_rate: None,
            lora: None,
        };
        assert_eq!(warmup_count(&o), 8);
        o.num_warmups = 0;
        assert_eq!(warmup_count(&o), 0);
        o.num_warmups = 20;
        assert_eq!(warmup_count(&o), 20);
    }
}
