//! [`Metrics`]: the server's counters and latency histograms, and `GET /metrics` in Prometheus'
//! text format (version 0.0.4). Recording is lock-free (atomics only), so the per-token cost on
//! the streaming path is one bucket search and two atomic adds.
//!
//! Every series carries `model_name="<served model name>"`. vLLM's names where vLLM has one:
//!
//! | name | type | meaning |
//! |---|---|---|
//! | `vllm:num_requests_running` | gauge | sequences running in the engine (as of its last step) |
//! | `vllm:num_requests_waiting` | gauge | sequences waiting for the engine |
//! | `vllm:kv_cache_usage_perc` | gauge | fraction of KV blocks in use, 0–1 |
//! | `vllm:prefix_cache_queries_total` | counter | prompt tokens looked up in the prefix cache |
//! | `vllm:prefix_cache_hits_total` | counter | of those, tokens served from the cache |
//! | `vllm:num_preemptions_total` | counter | preemptions |
//! | `vllm:prompt_tokens_total` | counter | prompt tokens of finished requests |
//! | `vllm:generation_tokens_total` | counter | tokens generated (streamed to clients) |
//! | `vllm:request_success_total{finished_reason}` | counter | choices finished, by `stop` / `length` / `abort` |
//! | `vllm:time_to_first_token_seconds` | histogram | request arrival to its first token |
//! | `vllm:inter_token_latency_seconds` | histogram | gap between consecutive tokens of a choice |
//! | `vllm:e2e_request_latency_seconds` | histogram | request arrival to its last token |
//!
//! dyno's own:
//!
//! | name | type | meaning |
//! |---|---|---|
//! | `dyno:requests_total{outcome}` | counter | HTTP requests to `/v1/*` by outcome: `success`, `aborted` (client went away), `invalid` (4xx), `rejected` (429), `unavailable` (503), `error` (5xx) |
//! | `dyno:kv_blocks_in_use` | gauge | KV blocks with a live reference (0 when idle) |
//! | `dyno:kv_blocks_total` | gauge | KV blocks in the pool |
//! | `dyno:engine_steps_total` | counter | engine steps run |
//! | `dyno:model_ready` | gauge | 1 once the model is loaded |

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use dyno_engine::{EngineStats, FinishReason};

/// vLLM's TTFT buckets (seconds).
const TTFT_BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
    20.0, 40.0, 80.0, 160.0, 640.0, 2560.0,
];
/// vLLM's inter-token buckets, with finer ones below 10 ms (a CPU engine's decode steps).
const ITL_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75,
    1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0,
];
/// vLLM's end-to-end buckets, with finer ones below 0.3 s.
const E2E_BUCKETS: &[f64] = &[
    0.01, 0.05, 0.1, 0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0,
    60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0,
];

/// A fixed-bucket histogram of durations.
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    /// Per bucket (not cumulative); the last one is `+Inf`.
    counts: Box<[AtomicU64]>,
    sum_nanos: AtomicU64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_nanos: AtomicU64::new(0),
        }
    }

    /// Records one duration.
    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        let bucket = self.bounds.partition_point(|&b| b < secs);
        self.counts[bucket].fetch_add(1, Ordering::Relaxed);
        self.sum_nanos.fetch_add(
            u64::try_from(d.as_nanos()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// Observations so far.
    pub fn count(&self) -> u64 {
        self.counts.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }

    fn render(&self, out: &mut String, name: &str, help: &str, labels: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut cumulative = 0;
        for (i, count) in self.counts.iter().enumerate() {
            cumulative += count.load(Ordering::Relaxed);
            let le = self
                .bounds
                .get(i)
                .map_or_else(|| "+Inf".to_owned(), |b| b.to_string());
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{le}\"}} {cumulative}");
        }
        let sum = self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        let _ = writeln!(out, "{name}_sum{{{labels}}} {sum}");
        let _ = writeln!(out, "{name}_count{{{labels}}} {cumulative}");
    }
}

/// How a `/v1/*` request ended, for `dyno:requests_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Answered in full.
    Success,
    /// The client went away before the answer was complete.
    Aborted,
    /// Refused as invalid (4xx other than 429).
    Invalid,
    /// Refused by admission control (429).
    Rejected,
    /// Loading or draining (503).
    Unavailable,
    /// Failed inside the server (5xx).
    Error,
}

impl Outcome {
    const ALL: [Self; 6] = [
        Self::Success,
        Self::Aborted,
        Self::Invalid,
        Self::Rejected,
        Self::Unavailable,
        Self::Error,
    ];

    fn label(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Aborted => "aborted",
            Self::Invalid => "invalid",
            Self::Rejected => "rejected",
            Self::Unavailable => "unavailable",
            Self::Error => "error",
        }
    }
}

/// The server's metrics. See the [module docs](self).
#[derive(Debug)]
pub struct Metrics {
    labels: String,
    /// Time to first token per request.
    pub ttft: Histogram,
    /// Gaps between tokens of a choice.
    pub itl: Histogram,
    /// Request arrival to last token.
    pub e2e: Histogram,
    finished: [AtomicU64; 3],
    outcomes: [AtomicU64; 6],
    prompt_tokens: AtomicU64,
    generation_tokens: AtomicU64,
}

impl Metrics {
    /// Metrics of the model served as `model_name`.
    pub fn new(model_name: &str) -> Self {
        let escaped = model_name
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n");
        Self {
            labels: format!("model_name=\"{escaped}\""),
            ttft: Histogram::new(TTFT_BUCKETS),
            itl: Histogram::new(ITL_BUCKETS),
            e2e: Histogram::new(E2E_BUCKETS),
            finished: Default::default(),
            outcomes: Default::default(),
            prompt_tokens: AtomicU64::new(0),
            generation_tokens: AtomicU64::new(0),
        }
    }

    /// Counts a request's outcome.
    pub fn outcome(&self, outcome: Outcome) {
        let i = Outcome::ALL.iter().position(|o| *o == outcome).unwrap_or(0);
        self.outcomes[i].fetch_add(1, Ordering::Relaxed);
    }

    /// How many requests ended with `outcome`.
    pub fn outcome_count(&self, outcome: Outcome) -> u64 {
        let i = Outcome::ALL.iter().position(|o| *o == outcome).unwrap_or(0);
        self.outcomes[i].load(Ordering::Relaxed)
    }

    /// Counts one finished choice.
    pub fn choice_finished(&self, reason: FinishReason) {
        let i = match reason.as_openai() {
            "stop" => 0,
            "length" => 1,
            _ => 2,
        };
        self.finished[i].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one generated token.
    pub fn token(&self) {
        self.generation_tokens.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts the prompt tokens of a finished request.
    pub fn prompt_tokens(&self, n: usize) {
        self.prompt_tokens.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// The Prometheus text of these metrics plus the engine's gauges (absent while loading).
    pub fn render(&self, engine: Option<&EngineStats>) -> String {
        let l = &self.labels;
        let mut out = String::with_capacity(8192);
        let gauge = |out: &mut String, name: &str, help: &str, value: f64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name}{{{l}}} {value}"
            );
        };
        let stats = engine.copied().unwrap_or_default();
        gauge(
            &mut out,
            "dyno:model_ready",
            "1 once the model is loaded.",
            f64::from(u8::from(engine.is_some())),
        );
        gauge(
            &mut out,
            "vllm:num_requests_running",
            "Sequences running in the engine.",
            stats.num_running as f64,
        );
        gauge(
            &mut out,
            "vllm:num_requests_waiting",
            "Sequences waiting to be scheduled.",
            stats.num_waiting as f64,
        );
        gauge(
            &mut out,
            "vllm:kv_cache_usage_perc",
            "Fraction of KV-cache blocks in use (1 = full).",
            stats.kv_usage,
        );
        gauge(
            &mut out,
            "dyno:kv_blocks_in_use",
            "KV-cache blocks with a live reference.",
            kv_blocks_in_use(&stats) as f64,
        );
        gauge(
            &mut out,
            "dyno:kv_blocks_total",
            "KV-cache blocks in the pool.",
            stats.kv_num_blocks as f64,
        );
        let counter = |out: &mut String, name: &str, help: &str, value: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name}{{{l}}} {value}"
            );
        };
        counter(
            &mut out,
            "vllm:prefix_cache_queries_total",
            "Prompt tokens looked up in the prefix cache.",
            stats.prefix_cache.queries,
        );
        counter(
            &mut out,
            "vllm:prefix_cache_hits_total",
            "Prompt tokens served from the prefix cache.",
            stats.prefix_cache.hits,
        );
        counter(
            &mut out,
            "vllm:num_preemptions_total",
            "Preemptions of running sequences.",
            stats.num_preemptions,
        );
        counter(
            &mut out,
            "dyno:engine_steps_total",
            "Engine steps run.",
            stats.steps,
        );
        counter(
            &mut out,
            "vllm:prompt_tokens_total",
            "Prompt tokens of finished requests.",
            self.prompt_tokens.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "vllm:generation_tokens_total",
            "Tokens generated.",
            self.generation_tokens.load(Ordering::Relaxed),
        );
        let name = "vllm:request_success_total";
        let _ = writeln!(
            out,
            "# HELP {name} Finished choices by finish reason.\n# TYPE {name} counter"
        );
        for (reason, count) in ["stop", "length", "abort"].iter().zip(&self.finished) {
            let _ = writeln!(
                out,
                "{name}{{{l},finished_reason=\"{reason}\"}} {}",
                count.load(Ordering::Relaxed)
            );
        }
        let name = "dyno:requests_total";
        let _ = writeln!(
            out,
            "# HELP {name} Requests to /v1/* by outcome.\n# TYPE {name} counter"
        );
        for (outcome, count) in Outcome::ALL.iter().zip(&self.outcomes) {
            let _ = writeln!(
                out,
                "{name}{{{l},outcome=\"{}\"}} {}",
                outcome.label(),
                count.load(Ordering::Relaxed)
            );
        }
        self.ttft.render(
            &mut out,
            "vllm:time_to_first_token_seconds",
            "Request arrival to its first token.",
            l,
        );
        self.itl.render(
            &mut out,
            "vllm:inter_token_latency_seconds",
            "Gap between consecutive tokens of a choice.",
            l,
        );
        self.e2e.render(
            &mut out,
            "vllm:e2e_request_latency_seconds",
            "Request arrival to its last token.",
            l,
        );
        out
    }
}

/// KV blocks in use: `kv_usage` is `used / total` of two block counts, so this is exact.
pub fn kv_blocks_in_use(stats: &EngineStats) -> usize {
    (stats.kv_usage * stats.kv_num_blocks as f64).round() as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative() {
        let h = Histogram::new(&[0.01, 0.1]);
        h.observe(Duration::from_millis(5));
        h.observe(Duration::from_millis(10));
        h.observe(Duration::from_millis(50));
        h.observe(Duration::from_secs(3));
        let mut out = String::new();
        h.render(&mut out, "x", "help", "m=\"a\"");
        assert!(out.contains("x_bucket{m=\"a\",le=\"0.01\"} 2\n"), "{out}");
        assert!(out.contains("x_bucket{m=\"a\",le=\"0.1\"} 3\n"), "{out}");
        assert!(out.contains("x_bucket{m=\"a\",le=\"+Inf\"} 4\n"), "{out}");
        assert!(out.contains("x_sum{m=\"a\"} 3.065\n"), "{out}");
        assert_eq!(h.count(), 4);
    }

    #[test]
    fn render_names_and_labels() {
        let m = Metrics::new("my \"model\"");
        m.choice_finished(FinishReason::MaxTokens);
        m.outcome(Outcome::Rejected);
        let stats = EngineStats {
            kv_num_blocks: 200,
            kv_usage: 0.035,
            ..EngineStats::default()
        };
        let text = m.render(Some(&stats));
        let l = "model_name=\"my \\\"model\\\"\"";
        assert!(
            text.contains(&format!("dyno:kv_blocks_in_use{{{l}}} 7\n")),
            "{text}"
        );
        assert!(text.contains(&format!(
            "vllm:request_success_total{{{l},finished_reason=\"length\"}} 1\n"
        )));
        assert!(text.contains(&format!(
            "dyno:requests_total{{{l},outcome=\"rejected\"}} 1\n"
        )));
        assert!(text.contains(&format!("dyno:model_ready{{{l}}} 1\n")));
        assert!(
            m.render(None)
                .contains(&format!("dyno:model_ready{{{l}}} 0\n"))
        );
    }
}
