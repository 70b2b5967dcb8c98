//! `bench latency`: one batch of requests at a time, timed as a whole, as `vllm bench latency`
//! does (`--batch-size 8 --input-len 32 --output-len 128 --num-iters-warmup 10 --num-iters 30`).

use std::collections::BTreeMap;
use std::time::Instant;

use serde::Serialize;

use crate::dataset::SampleRequest;
use crate::endpoint::{Endpoint, RequestOptions};
use crate::metrics::MetricSummary;

/// vLLM's latency percentiles.
pub const PERCENTILES: [u32; 6] = [10, 25, 50, 75, 90, 99];

/// The result of a latency run, with vLLM's JSON keys.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LatencyReport {
    /// Mean batch latency, seconds.
    pub avg_latency: f64,
    /// Standard deviation (population, as numpy's `std`), seconds.
    pub std_latency: f64,
    /// Every measured batch latency, seconds.
    pub latencies: Vec<f64>,
    /// Percentile → seconds, for 10, 25, 50, 75, 90, 99.
    pub percentiles: BTreeMap<u32, f64>,
    /// Requests that failed in measured iterations (0 in a valid run).
    pub failed: usize,
}

impl LatencyReport {
    /// The report of measured batch latencies in seconds (`None` when there are none).
    pub fn from_latencies(latencies: Vec<f64>, failed: usize) -> Option<Self> {
        let ps: Vec<f64> = PERCENTILES.iter().map(|&p| f64::from(p)).collect();
        let m = MetricSummary::of(&latencies, &ps)?;
        Some(Self {
            avg_latency: m.mean,
            std_latency: m.std,
            percentiles: PERCENTILES
                .iter()
                .map(|&p| (p, m.percentile(f64::from(p)).unwrap_or(f64::NAN)))
                .collect(),
            latencies,
            failed,
        })
    }

    /// The lines `vllm bench latency` prints.
    pub fn render(&self) -> String {
        let mut s = format!(
            "Avg latency: {} seconds\nStd latency: {} seconds\n",
            self.avg_latency, self.std_latency
        );
        for (p, v) in &self.percentiles {
            s.push_str(&format!("{p}% percentile latency: {v} seconds\n"));
        }
        if self.failed > 0 {
            s.push_str(&format!("Failed requests: {}\n", self.failed));
        }
        s
    }
}

/// Runs `warmup` unmeasured and `iters` measured iterations of the whole `batch`;
/// `on_iter(i, measured)` is called after each.
pub async fn run<E: Endpoint>(
    endpoint: &E,
    batch: &[SampleRequest],
    options: &RequestOptions,
    warmup: usize,
    iters: usize,
    on_iter: &(dyn Fn(usize, bool) + Sync),
) -> Option<LatencyReport> {
    let mut latencies = Vec::with_capacity(iters);
    let mut failed = 0;
    for i in 0..warmup + iters {
        let start = Instant::now();
        let outcomes = super::send_all(endpoint, batch, options, start, &|_| {}).await;
        let elapsed = start.elapsed().as_secs_f64();
        let measured = i >= warmup;
        if measured {
            latencies.push(elapsed);
            failed += outcomes.iter().filter(|o| !o.success).count();
        }
        on_iter(i, measured);
    }
    LatencyReport::from_latencies(latencies, failed)
}
