//! `bench throughput`: all requests submitted at once; the figure is tokens per second of wall
//! time, as `vllm bench throughput` reports it, plus the latency split vLLM's offline bench does
//! not give (time to first token and per-token decode time under that load).

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::dataset::SampleRequest;
use crate::endpoint::{Endpoint, RequestOptions, RequestOutcome};
use crate::metrics::{LatencyMetrics, Totals, latency_metrics, totals};

/// The result of a throughput run. Its JSON carries vLLM's keys (`elapsed_time`,
/// `num_requests`, `total_num_tokens`, `requests_per_second`, `tokens_per_second`) first.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ThroughputReport {
    /// Wall time from the first send to the last response, seconds.
    pub elapsed_time: f64,
    /// Requests in the run.
    pub num_requests: usize,
    /// Prompt plus output tokens of completed requests.
    pub total_num_tokens: usize,
    /// Completed requests per second.
    pub requests_per_second: f64,
    /// `total_num_tokens / elapsed_time`.
    pub tokens_per_second: f64,
    /// Output tokens per second.
    pub output_tokens_per_second: f64,
    /// Prompt tokens of completed requests.
    pub total_prompt_tokens: usize,
    /// Output tokens of completed requests.
    pub total_output_tokens: usize,
    /// Requests that failed.
    pub failed: usize,
    /// TTFT / TPOT / ITL / E2EL under this load.
    #[serde(flatten)]
    pub latency: LatencyMetrics,
}

impl ThroughputReport {
    /// The report of `outcomes` collected over `elapsed`.
    pub fn from_outcomes(
        outcomes: &[RequestOutcome],
        elapsed: Duration,
        percentiles: &[f64],
    ) -> Self {
        let t: Totals = totals(outcomes);
        let secs = elapsed.as_secs_f64().max(f64::MIN_POSITIVE);
        let total = t.prompt_tokens + t.output_tokens;
        Self {
            elapsed_time: elapsed.as_secs_f64(),
            num_requests: t.num_requests,
            total_num_tokens: total,
            requests_per_second: t.completed as f64 / secs,
            tokens_per_second: total as f64 / secs,
            output_tokens_per_second: t.output_tokens as f64 / secs,
            total_prompt_tokens: t.prompt_tokens,
            total_output_tokens: t.output_tokens,
            failed: t.failed,
            latency: latency_metrics(outcomes, percentiles),
        }
    }

    /// The summary lines `vllm bench throughput` prints, then the latency split.
    pub fn render(&self) -> String {
        let mut s = format!(
            "Throughput: {:.2} requests/s, {:.2} total tokens/s, {:.2} output tokens/s\n\
             Total num prompt tokens:  {}\n\
             Total num output tokens:  {}\n",
            self.requests_per_second,
            self.tokens_per_second,
            self.output_tokens_per_second,
            self.total_prompt_tokens,
            self.total_output_tokens
        );
        if self.failed > 0 {
            s.push_str(&format!("Failed requests:          {}\n", self.failed));
        }
        for (name, m) in [
            ("TTFT", &self.latency.ttft_ms),
            ("TPOT", &self.latency.tpot_ms),
            ("E2EL", &self.latency.e2el_ms),
        ] {
            if let Some(m) = m {
                s.push_str(&format!(
                    "{name:<5} ms: mean {:.2}  median {:.2}  p99 {:.2}\n",
                    m.mean,
                    m.median,
                    m.percentile(99.0).unwrap_or(f64::NAN)
                ));
            }
        }
        s
    }
}

/// Sends all `requests` at once to `endpoint` and reports the run.
pub async fn run<E: Endpoint>(
    endpoint: &E,
    requests: &[SampleRequest],
    options: &RequestOptions,
    percentiles: &[f64],
    on_done: &(dyn Fn(&RequestOutcome) + Sync),
) -> (ThroughputReport, Vec<RequestOutcome>) {
    let start = Instant::now();
    let outcomes = super::send_all(endpoint, requests, options, start, on_done).await;
    let elapsed = start.elapsed();
    (
        ThroughputReport::from_outcomes(&outcomes, elapsed, percentiles),
        outcomes,
    )
}
