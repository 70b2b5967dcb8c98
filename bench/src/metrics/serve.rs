//! `bench serve`'s run metrics with vLLM's definitions (`calculate_metrics`), computed from
//! outcomes and the run's duration, plus dyno's additions under their own names.
//!
//! vLLM's: completed/failed, token totals (prompt lengths as the server counted them), request,
//! output and total throughput, goodput (requests meeting every `--goodput` SLO per second;
//! TPOT counts as 0 for one-token outputs), peak output throughput (chunk arrivals per
//! one-second bucket from the first start: it counts chunks, vllm#37666), peak concurrent
//! requests (sweep line over `[start, start + E2EL)` of successful requests, departures first
//! at ties), and per selected metric mean/median/std/percentiles (0 when there are no values).
//!
//! dyno's: peak output throughput counted in tokens, per-token ITL, achieved request rate,
//! send lag (how late the client itself sent: send − due − queue time), HTTP phase timings
//! and where output-token counts came from.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Duration;

use thiserror::Error;

use super::probe::ProbeStats;
pub use super::tpot_ms;
use super::{MetricSummary, chunk_tokens, itl_of, itl_per_token_of, ms};
use crate::endpoint::RequestOutcome;

/// Bad `--percentile-metrics`, `--metric-percentiles` or `--goodput`.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum MetricsError {
    /// A metric name not in the list.
    #[error(
        "unknown metric `{0}` in --percentile-metrics; expected ttft, tpot, itl, e2el, client_queue_time or e2el_including_client_queue"
    )]
    UnknownMetric(String),
    /// A percentile outside (0, 100] or not a number.
    #[error(
        "bad percentile `{0}` in --metric-percentiles; expected numbers in (0, 100] such as 50,90,99"
    )]
    BadPercentile(String),
    /// A goodput item not `KEY:MS`.
    #[error("bad --goodput item `{0}`; expected ttft:MS, tpot:MS or e2el:MS with MS ≥ 0")]
    BadGoodput(String),
}

/// A metric `--percentile-metrics` can select.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PercentileMetric {
    /// Time to first token.
    Ttft,
    /// Time per output token after the first.
    Tpot,
    /// Inter-token latency (per chunk).
    Itl,
    /// End-to-end latency.
    E2el,
    /// Waiting for a `--max-concurrency` slot.
    ClientQueueTime,
    /// E2EL plus the client queue time.
    E2elIncludingClientQueue,
}

impl PercentileMetric {
    /// vLLM's key part (`mean_{key}_ms`).
    pub fn key(self) -> &'static str {
        match self {
            Self::Ttft => "ttft",
            Self::Tpot => "tpot",
            Self::Itl => "itl",
            Self::E2el => "e2el",
            Self::ClientQueueTime => "client_queue_time",
            Self::E2elIncludingClientQueue => "e2el_including_client_queue",
        }
    }

    /// The printed name (`Mean {label} (ms):`).
    pub fn label(self) -> &'static str {
        match self {
            Self::Ttft => "TTFT",
            Self::Tpot => "TPOT",
            Self::Itl => "ITL",
            Self::E2el => "E2EL",
            Self::ClientQueueTime => "Client Queue Time",
            Self::E2elIncludingClientQueue => "E2EL incl. Client Queue",
        }
    }

    /// The printed section header.
    pub fn header(self) -> &'static str {
        match self {
            Self::Ttft => "Time to First Token",
            Self::Tpot => "Time per Output Token (excl. 1st token)",
            Self::Itl => "Inter-token Latency",
            Self::E2el => "End-to-end Latency",
            Self::ClientQueueTime => "Client-side Queueing",
            Self::E2elIncludingClientQueue => "Queue-inclusive End-to-end Latency",
        }
    }
}

impl FromStr for PercentileMetric {
    type Err = MetricsError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.trim() {
            "ttft" => Self::Ttft,
            "tpot" => Self::Tpot,
            "itl" => Self::Itl,
            "e2el" => Self::E2el,
            "client_queue_time" => Self::ClientQueueTime,
            "e2el_including_client_queue" => Self::E2elIncludingClientQueue,
            other => return Err(MetricsError::UnknownMetric(other.to_owned())),
        })
    }
}

/// `--percentile-metrics ttft,tpot,itl` → the metrics, in vLLM's print order.
///
/// # Errors
/// [`MetricsError::UnknownMetric`].
pub fn parse_percentile_metrics(s: &str) -> Result<Vec<PercentileMetric>, MetricsError> {
    let mut v: Vec<PercentileMetric> = s
        .split(',')
        .filter(|x| !x.trim().is_empty())
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    v.sort();
    v.dedup();
    Ok(v)
}

/// `--metric-percentiles 50,99.9` → the percentiles.
///
/// # Errors
/// [`MetricsError::BadPercentile`].
pub fn parse_percentiles(s: &str) -> Result<Vec<f64>, MetricsError> {
    s.split(',')
        .filter(|x| !x.trim().is_empty())
        .map(|x| match x.trim().parse::<f64>() {
            Ok(p) if p > 0.0 && p <= 100.0 => Ok(p),
            _ => Err(MetricsError::BadPercentile(x.to_owned())),
        })
        .collect()
}

/// One `--goodput` service-level objective.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GoodputSlo {
    /// `ttft`, `tpot` or `e2el`.
    pub metric: PercentileMetric,
    /// The limit, ms.
    pub ms: f64,
}

/// `--goodput ttft:500 tpot:50` → the objectives.
///
/// # Errors
/// [`MetricsError::BadGoodput`].
pub fn parse_goodput(items: &[String]) -> Result<Vec<GoodputSlo>, MetricsError> {
    items
        .iter()
        .flat_map(|i| i.split_whitespace())
        .map(|item| {
            let bad = || MetricsError::BadGoodput(item.to_owned());
            let (k, v) = item.split_once(':').ok_or_else(bad)?;
            let metric = match k.trim() {
                "ttft" => PercentileMetric::Ttft,
                "tpot" => PercentileMetric::Tpot,
                "e2el" => PercentileMetric::E2el,
                _ => return Err(bad()),
            };
            let ms: f64 = v.trim().parse().map_err(|_| bad())?;
            if ms.is_nan() || ms < 0.0 {
                return Err(bad());
            }
            Ok(GoodputSlo { metric, ms })
        })
        .collect()
}

/// What to compute.
#[derive(Clone, Debug, PartialEq)]
pub struct ServeMetricsConfig {
    /// `--percentile-metrics`.
    pub percentile_metrics: Vec<PercentileMetric>,
    /// `--metric-percentiles`.
    pub percentiles: Vec<f64>,
    /// `--goodput`.
    pub goodput: Vec<GoodputSlo>,
}

impl Default for ServeMetricsConfig {
    fn default() -> Self {
        Self {
            percentile_metrics: vec![
                PercentileMetric::Ttft,
                PercentileMetric::Tpot,
                PercentileMetric::Itl,
            ],
            percentiles: vec![99.0],
            goodput: Vec::new(),
        }
    }
}

/// Summaries of the HTTP phases.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HttpPhases {
    /// TCP connect, over the requests that opened a connection.
    pub connect_ms: Option<MetricSummary>,
    /// Write to first response byte (successful requests).
    pub first_byte_ms: Option<MetricSummary>,
    /// Write to end of response head (successful requests).
    pub headers_ms: Option<MetricSummary>,
    /// Requests that opened a new connection.
    pub new_connections: usize,
}

/// The metrics of one run. See the [module docs](self).
#[derive(Clone, Debug, PartialEq)]
pub struct ServeMetrics {
    /// Seconds.
    pub duration: f64,
    /// Successful requests.
    pub completed: usize,
    /// Failed requests.
    pub failed: usize,
    /// Prompt tokens of successful requests.
    pub total_input: usize,
    /// Output tokens of successful requests.
    pub total_output: usize,
    /// Completed per second.
    pub request_throughput: f64,
    /// Goodput per second (`None` without `--goodput`).
    pub request_goodput: Option<f64>,
    /// Output tokens per second.
    pub output_throughput: f64,
    /// Prompt plus output tokens per second.
    pub total_token_throughput: f64,
    /// vLLM's peak: most chunk arrivals in one second.
    pub max_output_tokens_per_s: f64,
    /// dyno's peak: most output tokens in one second.
    pub max_output_tokens_per_s_tokens: f64,
    /// Most successful requests in flight at once.
    pub max_concurrent_requests: usize,
    /// The selected metrics' summaries, in print order.
    pub selected: Vec<(PercentileMetric, MetricSummary)>,
    /// Per-token ITL.
    pub itl_per_token: MetricSummary,
    /// Send lag: send − due − queue, ms (requests with a due time).
    pub send_lag: Option<MetricSummary>,
    /// Requests sent over the last send offset (`None` when all were sent at once).
    pub achieved_request_rate: Option<f64>,
    /// HTTP phases (empty in-process).
    pub http: HttpPhases,
    /// Output-token count sources of successful requests.
    pub token_sources: BTreeMap<&'static str, usize>,
    /// `--probe-request-rate` probes (`None`: none sent; filled in by the serve mode, which
    /// holds the probes' outcomes).
    pub probe: Option<ProbeStats>,
}

fn summary_or_zero(values: &[f64], percentiles: &[f64]) -> MetricSummary {
    MetricSummary::of(values, percentiles).unwrap_or_else(|| MetricSummary {
        count: 0,
        mean: 0.0,
        median: 0.0,
        std: 0.0,
        percentiles: percentiles.iter().map(|&p| (p, 0.0)).collect(),
    })
}

/// The metrics of `outcomes` over a run of `duration`.
pub fn serve_metrics(
    outcomes: &[RequestOutcome],
    duration: Duration,
    config: &ServeMetricsConfig,
) -> ServeMetrics {
    let ok: Vec<&RequestOutcome> = outcomes.iter().filter(|o| o.success).collect();
    let secs = duration.as_secs_f64().max(f64::MIN_POSITIVE);
    let total_input: usize = ok.iter().map(|o| o.prompt_len).sum();
    let total_output: usize = ok.iter().map(|o| o.output_tokens).sum();
    let ps = &config.percentiles;
    let values = |m: PercentileMetric| -> Vec<f64> {
        match m {
            PercentileMetric::Ttft => ok.iter().filter_map(|o| o.ttft().map(ms)).collect(),
            PercentileMetric::Tpot => ok.iter().filter_map(|o| tpot_ms(o)).collect(),
            PercentileMetric::Itl => ok.iter().flat_map(|o| itl_of(o).map(ms)).collect(),
            PercentileMetric::E2el => ok.iter().map(|o| ms(o.latency)).collect(),
            PercentileMetric::ClientQueueTime => ok.iter().map(|o| ms(o.queue_time)).collect(),
            PercentileMetric::E2elIncludingClientQueue => {
                ok.iter().map(|o| ms(o.latency + o.queue_time)).collect()
            }
        }
    };
    let selected = config
        .percentile_metrics
        .iter()
        .map(|&m| (m, summary_or_zero(&values(m), ps)))
        .collect();
    let request_goodput = (!config.goodput.is_empty()).then(|| {
        let good = ok
            .iter()
            .filter(|o| {
                config.goodput.iter().all(|slo| {
                    let v = match slo.metric {
                        PercentileMetric::Ttft => o.ttft().map_or(0.0, ms),
                        PercentileMetric::Tpot => tpot_ms(o).unwrap_or(0.0),
                        _ => ms(o.latency),
                    };
                    v <= slo.ms
                })
            })
            .count();
        good as f64 / secs
    });
    let (peak_chunks, peak_tokens) = peaks(&ok);
    let itl_per_token: Vec<f64> = ok.iter().flat_map(|o| itl_per_token_of(o)).collect();
    let lags: Vec<f64> = outcomes
        .iter()
        .filter_map(|o| {
            let due = o.scheduled_offset?;
            Some(ms(o.send_offset.saturating_sub(due + o.queue_time)))
        })
        .collect();
    let last_send = outcomes
        .iter()
        .map(|o| o.send_offset)
        .max()
        .unwrap_or_default();
    let achieved_request_rate = (last_send > Duration::from_millis(1))
        .then(|| outcomes.len() as f64 / last_send.as_secs_f64());
    let mut token_sources = BTreeMap::new();
    for o in &ok {
        *token_sources
            .entry(o.output_token_source.as_str())
            .or_insert(0) += 1;
    }
    ServeMetrics {
        duration: duration.as_secs_f64(),
        completed: ok.len(),
        failed: outcomes.len() - ok.len(),
        total_input,
        total_output,
        request_throughput: ok.len() as f64 / secs,
        request_goodput,
        output_throughput: total_output as f64 / secs,
        total_token_throughput: (total_input + total_output) as f64 / secs,
        max_output_tokens_per_s: peak_chunks,
        max_output_tokens_per_s_tokens: peak_tokens,
        max_concurrent_requests: peak_concurrency(&ok),
        selected,
        itl_per_token: summary_or_zero(&itl_per_token, ps),
        send_lag: MetricSummary::of(&lags, &merge(ps, &[50.0, 99.0])),
        achieved_request_rate,
        http: http_phases(outcomes, ps),
        token_sources,
        probe: None,
    }
}

fn merge(a: &[f64], b: &[f64]) -> Vec<f64> {
    let mut v: Vec<f64> = a.iter().chain(b).copied().collect();
    v.sort_by(f64::total_cmp);
    v.dedup();
    v
}

fn http_phases(outcomes: &[RequestOutcome], ps: &[f64]) -> HttpPhases {
    let connect: Vec<f64> = outcomes
        .iter()
        .filter_map(|o| o.http?.connect.map(ms))
        .collect();
    let ok = || outcomes.iter().filter(|o| o.success).filter_map(|o| o.http);
    let first: Vec<f64> = ok().filter_map(|h| h.first_byte.map(ms)).collect();
    let head: Vec<f64> = ok().filter_map(|h| h.headers.map(ms)).collect();
    HttpPhases {
        new_connections: connect.len(),
        connect_ms: MetricSummary::of(&connect, ps),
        first_byte_ms: MetricSummary::of(&first, ps),
        headers_ms: MetricSummary::of(&head, ps),
    }
}

/// (most chunk arrivals, most tokens) in one-second buckets from the first start.
fn peaks(ok: &[&RequestOutcome]) -> (f64, f64) {
    let Some(min_start) = ok.iter().map(|o| o.send_offset).min() else {
        return (0.0, 0.0);
    };
    let max_end = ok
        .iter()
        .map(|o| o.send_offset + o.latency)
        .max()
        .unwrap_or(min_start);
    let buckets = (max_end - min_start).as_secs_f64().ceil() as usize + 1;
    let mut chunks = vec![0.0f64; buckets];
    let mut tokens = vec![0.0f64; buckets];
    for o in ok {
        let sizes = chunk_tokens(o);
        for (c, k) in o.chunks.iter().zip(sizes) {
            let t = (o.send_offset + c.0 - min_start).as_secs_f64();
            let b = t as usize;
            if b < buckets {
                chunks[b] += 1.0;
                tokens[b] += k;
            }
        }
    }
    let max = |v: &[f64]| v.iter().copied().fold(0.0, f64::max);
    (max(&chunks), max(&tokens))
}

/// Exact sweep-line maximum of requests in flight over `[start, start + E2EL)`.
pub fn peak_concurrency(ok: &[&RequestOutcome]) -> usize {
    let mut events: Vec<(Duration, i8)> = ok
        .iter()
        .flat_map(|o| [(o.send_offset, 1i8), (o.send_offset + o.latency, -1)])
        .collect();
    // Departures (−1) before arrivals (+1) at equal times.
    events.sort();
    let (mut now, mut peak) = (0i64, 0i64);
    for (_, d) in events {
        now += i64::from(d);
        peak = peak.max(now);
    }
    peak as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(start_ms: u64, chunks: &[u64], tokens: usize) -> RequestOutcome {
        let chunks: Vec<(Duration, u32)> = chunks
            .iter()
            .map(|&t| (Duration::from_millis(t), 0))
            .collect();
        RequestOutcome {
            success: true,
            prompt_len: 10,
            output_tokens: tokens,
            send_offset: Duration::from_millis(start_ms),
            latency: chunks.last().map(|c| c.0).unwrap_or_default(),
            chunks,
            ..RequestOutcome::default()
        }
    }

    #[test]
    fn vllm_formulas_on_known_timings() {
        let a = outcome(0, &[100, 120, 140, 160], 4);
        let b = outcome(50, &[200, 300], 5);
        let failed = RequestOutcome::default();
        let config = ServeMetricsConfig {
            percentile_metrics: parse_percentile_metrics("ttft,tpot,itl,e2el").unwrap(),
            percentiles: vec![50.0, 99.0],
            goodput: parse_goodput(&["ttft:150 tpot:25".into()]).unwrap(),
        };
        let m = serve_metrics(&[a, b, failed], Duration::from_secs(2), &config);
        assert_eq!(
            (m.completed, m.failed, m.total_input, m.total_output),
            (2, 1, 20, 9)
        );
        assert_eq!(m.request_throughput, 1.0);
        assert_eq!(m.output_throughput, 4.5);
        let get = |k| m.selected.iter().find(|s| s.0 == k).unwrap().1.clone();
        assert_eq!(get(PercentileMetric::Ttft).mean, 150.0);
        // a: (160-100)/3 = 20; b: (300-200)/4 = 25.
        assert_eq!(get(PercentileMetric::Tpot).mean, 22.5);
        // Gaps 20, 20, 20, 100 (flattened over requests).
        assert_eq!(get(PercentileMetric::Itl).mean, 40.0);
        assert_eq!(get(PercentileMetric::Itl).median, 20.0);
        assert_eq!(get(PercentileMetric::E2el).mean, 230.0);
        // Goodput: a (TTFT 100, TPOT 20) passes, b (TTFT 200) fails.
        assert_eq!(m.request_goodput, Some(0.5));
        assert_eq!(m.max_concurrent_requests, 2);
        assert_eq!(
            m.max_output_tokens_per_s, 6.0,
            "6 chunks in the first second"
        );
        assert_eq!(
            m.max_output_tokens_per_s_tokens, 9.0,
            "9 tokens in the first second"
        );
        assert_eq!(m.token_sources.get("usage"), Some(&2));
    }

    #[test]
    fn peak_concurrency_departures_first() {
        let a = outcome(0, &[100], 1);
        let b = outcome(100, &[50], 1);
        assert_eq!(
            peak_concurrency(&[&a, &b]),
            1,
            "b starts exactly when a ends"
        );
        let c = outcome(99, &[50], 1);
        assert_eq!(peak_concurrency(&[&a, &c]), 2);
    }

    #[test]
    fn empty_metrics_are_zero_and_parsing_errors() {
        let m = serve_metrics(&[], Duration::from_secs(1), &ServeMetricsConfig::default());
        assert_eq!(m.selected[0].1.mean, 0.0);
        assert_eq!(m.selected[0].1.percentiles, vec![(99.0, 0.0)]);
        assert!(parse_percentile_metrics("ttft,nope").is_err());
        assert!(parse_percentiles("99,101").is_err());
        assert_eq!(parse_percentiles("50, 99.9").unwrap(), vec![50.0, 99.9]);
        assert!(parse_goodput(&["ttft=5".into()]).is_err());
        assert!(parse_goodput(&["itl:5".into()]).is_err());
    }

    #[test]
    fn send_lag_and_queue_time() {
        let mut o = outcome(0, &[10, 20], 2);
        o.scheduled_offset = Some(Duration::from_millis(100));
        o.queue_time = Duration::from_millis(30);
        o.send_offset = Duration::from_millis(131);
        let config = ServeMetricsConfig {
            percentile_metrics: vec![
                PercentileMetric::ClientQueueTime,
                PercentileMetric::E2elIncludingClientQueue,
            ],
            ..ServeMetricsConfig::default()
        };
        let m = serve_metrics(&[o], Duration::from_secs(1), &config);
        assert_eq!(m.send_lag.unwrap().mean, 1.0);
        assert_eq!(m.selected[0].1.mean, 30.0);
        assert_eq!(m.selected[1].1.mean, 50.0);
    }
}
