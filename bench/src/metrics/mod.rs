//! Metrics as pure functions of [`RequestOutcome`]s, with vLLM's definitions
//! (`vllm bench serve`'s `calculate_metrics`):
//!
//! - TTFT: send to the first output chunk.
//! - TPOT: per request, `(latency − ttft) / (output_tokens − 1)`, for requests with more than one
//!   output token.
//! - ITL (vLLM's, per chunk): gaps between successive token-bearing chunks, flattened over the
//!   successful requests; a chunk that carries several tokens is still one gap.
//! - ITL per token (dyno's, `itl_per_token`): a chunk that carries `k` tokens contributes `k`
//!   gaps of `gap / k`. When the server did not say how many tokens a chunk carried, the
//!   request's remaining output tokens are shared equally among its unsaid chunks.
//! - E2EL: send to the last token-bearing chunk.
//!
//! Percentiles use linear interpolation between closest ranks (numpy's default, type 7).
//! [`serve`] holds the rest of `bench serve`'s metrics (throughputs, goodput, peaks, queue
//! times), [`steady`] the steady state and [`probe`] the `--probe-request-rate` summary.
//!
//! `docs/metrics.md` (in the repository) is the reference for users: every metric `bench serve`
//! reports, vLLM's and dyno's, with its definition, unit and source, the printed layout, and
//! where dyno deliberately differs from vLLM.

pub mod probe;
pub mod serve;
pub mod steady;

use std::time::Duration;

use dyno_stats::{Samples, Summary};
use serde::Serialize;

use crate::endpoint::RequestOutcome;

/// Percentiles reported by default (vLLM's `--metric-percentiles 99` plus the median and p90).
pub const DEFAULT_PERCENTILES: [f64; 3] = [50.0, 90.0, 99.0];

/// Mean, median, standard deviation and percentiles of one metric, in milliseconds.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MetricSummary {
    /// Values summarized.
    pub count: usize,
    /// Mean.
    pub mean: f64,
    /// Median.
    pub median: f64,
    /// Standard deviation (population, as numpy's default and vLLM report it).
    pub std: f64,
    /// `(percentile, value)` pairs.
    pub percentiles: Vec<(f64, f64)>,
}

impl MetricSummary {
    /// Summarizes `values` (any unit); `None` when there are none or one is not finite.
    pub fn of(values: &[f64], percentiles: &[f64]) -> Option<Self> {
        let summary: Summary = Samples::new(values.to_vec())
            .ok()?
            .summary_with(percentiles)
            .ok()?;
        let n = values.len() as f64;
        let std = if values.len() > 1 {
            summary.std_dev * ((n - 1.0) / n).sqrt()
        } else {
            0.0
        };
        Some(Self {
            count: summary.n,
            mean: summary.mean,
            median: summary.median,
            std,
            percentiles: summary.percentiles.iter().map(|p| (p.p, p.value)).collect(),
        })
    }

    /// The stored percentile `p`.
    pub fn percentile(&self, p: f64) -> Option<f64> {
        self.percentiles.iter().find(|x| x.0 == p).map(|x| x.1)
    }
}

/// Milliseconds of `d`.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The latency metrics of a set of outcomes (successful ones only). Serializes with the flat
/// keys of `vllm bench serve` result files: `mean_ttft_ms`, `median_ttft_ms`, `std_ttft_ms`,
/// `p99_ttft_ms`, and the same for `tpot`, `itl` and `e2el`.
#[derive(Clone, Debug, PartialEq)]
pub struct LatencyMetrics {
    /// Time to first token, ms.
    pub ttft_ms: Option<MetricSummary>,
    /// Time per output token after the first, ms.
    pub tpot_ms: Option<MetricSummary>,
    /// Inter-token latency, ms (per chunk, as vLLM).
    pub itl_ms: Option<MetricSummary>,
    /// Inter-token latency, ms, per token (dyno's).
    pub itl_per_token_ms: Option<MetricSummary>,
    /// End-to-end latency, ms.
    pub e2el_ms: Option<MetricSummary>,
}

impl Serialize for LatencyMetrics {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let metrics = [
            ("ttft", &self.ttft_ms),
            ("tpot", &self.tpot_ms),
            ("itl", &self.itl_ms),
            ("e2el", &self.e2el_ms),
            ("itl_per_token", &self.itl_per_token_ms),
        ];
        let mut map = serializer.serialize_map(None)?;
        for (name, m) in metrics {
            let Some(m) = m else { continue };
            map.serialize_entry(&format!("mean_{name}_ms"), &m.mean)?;
            map.serialize_entry(&format!("median_{name}_ms"), &m.median)?;
            map.serialize_entry(&format!("std_{name}_ms"), &m.std)?;
            for &(p, value) in &m.percentiles {
                map.serialize_entry(&format!("p{}_{name}_ms", percentile_word(p)), &value)?;
            }
        }
        map.end()
    }
}

/// vLLM's spelling of a percentile in result keys: `99` for 99.0, `99.9` for 99.9.
pub fn percentile_word(p: f64) -> String {
    if p.fract() == 0.0 {
        format!("{}", p as i64)
    } else {
        format!("{p}")
    }
}

/// TTFT, TPOT, ITL and E2EL of the successful `outcomes`. See the [module docs](self).
pub fn latency_metrics(outcomes: &[RequestOutcome], percentiles: &[f64]) -> LatencyMetrics {
    let ok = || outcomes.iter().filter(|o| o.success);
    let ttft: Vec<f64> = ok().filter_map(|o| o.ttft().map(ms)).collect();
    let tpot: Vec<f64> = ok().filter_map(tpot_ms).collect();
    let itl: Vec<f64> = ok().flat_map(|o| itl_of(o).map(ms)).collect();
    let mut itl_per_token = Vec::new();
    for o in ok() {
        itl_per_token.extend(itl_per_token_of(o));
    }
    let e2el: Vec<f64> = ok().map(|o| ms(o.latency)).collect();
    LatencyMetrics {
        ttft_ms: MetricSummary::of(&ttft, percentiles),
        tpot_ms: MetricSummary::of(&tpot, percentiles),
        itl_ms: MetricSummary::of(&itl, percentiles),
        e2el_ms: MetricSummary::of(&e2el, percentiles),
        itl_per_token_ms: MetricSummary::of(&itl_per_token, percentiles),
    }
}

/// TPOT of one request in ms: `(E2EL − TTFT) / (output_tokens − 1)`; `None` for one output
/// token or none (vLLM leaves those requests out of TPOT).
pub fn tpot_ms(o: &RequestOutcome) -> Option<f64> {
    let ttft = o.ttft()?;
    (o.output_tokens > 1).then(|| ms(o.latency.saturating_sub(ttft)) / (o.output_tokens - 1) as f64)
}

/// vLLM's ITL of one request: the gaps between its successive chunks.
pub fn itl_of(o: &RequestOutcome) -> impl Iterator<Item = Duration> + '_ {
    o.chunks.windows(2).map(|w| w[1].0.saturating_sub(w[0].0))
}

/// Tokens carried by each chunk of `o`: the server's counts; an unsaid (0) first chunk carries
/// one token (the prefill's), and the other unsaid ones share the rest of the request's output
/// tokens equally (at least one each).
pub fn chunk_tokens(o: &RequestOutcome) -> Vec<f64> {
    let known: u64 = o.chunks.iter().map(|c| u64::from(c.1)).sum();
    let first_unsaid = o.chunks.first().is_some_and(|c| c.1 == 0);
    let unsaid = o.chunks.iter().filter(|c| c.1 == 0).count() - usize::from(first_unsaid);
    let rest = o.output_tokens as f64 - known as f64 - f64::from(u8::from(first_unsaid));
    let share = if unsaid == 0 {
        1.0
    } else {
        (rest / unsaid as f64).max(1.0)
    };
    o.chunks
        .iter()
        .enumerate()
        .map(|(i, c)| match (i, c.1) {
            (0, 0) => 1.0,
            (_, 0) => share,
            (_, k) => f64::from(k),
        })
        .collect()
}

/// Per-token ITL of one request in ms: each gap divided among the tokens of the chunk that ends
/// it (see the [module docs](self)).
pub fn itl_per_token_of(o: &RequestOutcome) -> Vec<f64> {
    let tokens = chunk_tokens(o);
    let mut out = Vec::new();
    for (i, gap) in itl_of(o).enumerate() {
        let k = tokens[i + 1].max(1.0);
        let copies = k.round().max(1.0) as usize;
        out.extend(std::iter::repeat_n(ms(gap) / k, copies));
    }
    out
}

/// Token and request totals of a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    /// Requests sent.
    pub num_requests: usize,
    /// Requests that completed.
    pub completed: usize,
    /// Requests that failed.
    pub failed: usize,
    /// Prompt tokens of completed requests.
    pub prompt_tokens: usize,
    /// Output tokens of completed requests.
    pub output_tokens: usize,
}

/// Totals over `outcomes`.
pub fn totals(outcomes: &[RequestOutcome]) -> Totals {
    let mut t = Totals {
        num_requests: outcomes.len(),
        ..Totals::default()
    };
    for o in outcomes {
        if o.success {
            t.completed += 1;
            t.prompt_tokens += o.prompt_len;
            t.output_tokens += o.output_tokens;
        } else {
            t.failed += 1;
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(chunks: &[(u64, u32)], latency_ms: u64) -> RequestOutcome {
        RequestOutcome {
            success: true,
            prompt_len: 10,
            output_tokens: chunks.iter().map(|c| c.1 as usize).sum(),
            chunks: chunks
                .iter()
                .map(|&(t, k)| (Duration::from_millis(t), k))
                .collect(),
            latency: Duration::from_millis(latency_ms),
            ..RequestOutcome::default()
        }
    }

    #[test]
    fn definitions_on_known_timings() {
        // TTFT 50 ms, then 4 tokens 10 ms apart, the last two in one chunk.
        let o = outcome(&[(50, 1), (60, 1), (70, 1), (90, 2)], 90);
        let m = latency_metrics(&[o.clone(), RequestOutcome::default()], &[50.0]);
        assert_eq!(m.ttft_ms.as_ref().unwrap().mean, 50.0);
        // (90 - 50) / (5 - 1) = 10 ms.
        assert!((m.tpot_ms.as_ref().unwrap().mean - 10.0).abs() < 1e-9);
        let itl = m.itl_ms.unwrap();
        assert_eq!(itl.count, 3, "vLLM: one gap per chunk");
        assert!((itl.mean - 40.0 / 3.0).abs() < 1e-9);
        let per_token = m.itl_per_token_ms.unwrap();
        assert_eq!(per_token.count, 4, "the two-token chunk counts twice");
        assert!((per_token.mean - 10.0).abs() < 1e-9);
        assert_eq!(m.e2el_ms.unwrap().median, 90.0);
        let t = totals(&[o, RequestOutcome::default()]);
        assert_eq!((t.completed, t.failed, t.output_tokens), (1, 1, 5));
    }

    #[test]
    fn unsaid_chunk_sizes_share_the_output() {
        // 7 tokens in 4 chunks, sizes unknown: 1 for the first, 2 for each of the others.
        let mut o = outcome(&[(10, 0), (20, 0), (30, 0), (40, 0)], 40);
        o.output_tokens = 7;
        assert_eq!(chunk_tokens(&o), vec![1.0, 2.0, 2.0, 2.0]);
        let itl = itl_per_token_of(&o);
        assert_eq!(itl, vec![5.0; 6]);
    }

    #[test]
    fn json_keys_are_vllms() {
        let o = outcome(&[(50, 1), (60, 1)], 60);
        let m = latency_metrics(&[o], &[50.0, 99.9]);
        let v = serde_json::to_value(&m).unwrap();
        assert_eq!(v["mean_ttft_ms"], 50.0);
        assert_eq!(v["median_e2el_ms"], 60.0);
        assert!(
            v["p99.9_itl_ms"].is_number() && v["p50_tpot_ms"].is_number(),
            "{v}"
        );
    }

    #[test]
    fn std_is_the_population_one() {
        let s = MetricSummary::of(&[1.0, 3.0], &[50.0]).unwrap();
        assert_eq!((s.mean, s.median), (2.0, 2.0));
        assert!((s.std - 1.0).abs() < 1e-12, "{}", s.std);
        assert!(MetricSummary::of(&[], &[50.0]).is_none());
    }
}
