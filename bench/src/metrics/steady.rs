//! Steady state of a closed-loop run (`--request-rate inf --max-concurrency C`): the window in
//! which at least `threshold · C` requests were in flight (the saturated plateau, without the
//! ramp at the start and the drain at the end), and the metrics over it.
//!
//! - In flight: every sent request over `[send, send + total time)`.
//! - The window runs from the first moment the in-flight count reaches the level to the last
//!   moment it falls below it.
//! - Throughputs count what happened inside the window: token-bearing chunks (by their
//!   tokens) and successful completions, over the window's length. Latencies are those of the
//!   successful requests that started and finished inside it.

use std::time::Duration;

use super::serve::tpot_ms;
use super::{MetricSummary, chunk_tokens, itl_of, ms};
use crate::endpoint::RequestOutcome;

/// The plateau and its metrics.
#[derive(Clone, Debug, PartialEq)]
pub struct SteadyState {
    /// The level as a fraction of the concurrency (0.95).
    pub threshold: f64,
    /// The in-flight level that defines the window (`ceil(threshold · C)`).
    pub level: usize,
    /// Window start, seconds from the start of the run.
    pub start_s: f64,
    /// Window end, seconds from the start of the run.
    pub end_s: f64,
    /// Successful requests that started and finished inside the window.
    pub requests: usize,
    /// Successful completions per second inside the window.
    pub request_throughput: f64,
    /// Output tokens per second inside the window.
    pub output_throughput: f64,
    /// TTFT of the window's requests, ms.
    pub ttft_ms: Option<MetricSummary>,
    /// TPOT of the window's requests, ms.
    pub tpot_ms: Option<MetricSummary>,
    /// Per-chunk ITL of the window's requests, ms.
    pub itl_ms: Option<MetricSummary>,
    /// E2EL of the window's requests, ms.
    pub e2el_ms: Option<MetricSummary>,
}

/// The steady state of `outcomes` under concurrency `max_concurrency`; `None` when the level
/// was never reached or the window is empty.
pub fn steady_state(
    outcomes: &[RequestOutcome],
    max_concurrency: usize,
    threshold: f64,
    percentiles: &[f64],
) -> Option<SteadyState> {
    let level = ((threshold * max_concurrency as f64).ceil() as usize).max(1);
    let mut events: Vec<(Duration, i8)> = outcomes
        .iter()
        .flat_map(|o| [(o.send_offset, 1i8), (o.send_offset + o.total_time, -1)])
        .collect();
    events.sort();
    let (mut now, mut start, mut end) = (0i64, None, None);
    for (t, d) in events {
        let before = now;
        now += i64::from(d);
        if now >= level as i64 && start.is_none() {
            start = Some(t);
        }
        if before >= level as i64 && now < level as i64 {
            end = Some(t);
        }
    }
    let (start, end) = (start?, end?);
    if end <= start {
        return None;
    }
    let window = (end - start).as_secs_f64();
    let inside: Vec<&RequestOutcome> = outcomes
        .iter()
        .filter(|o| o.success && o.send_offset >= start && o.send_offset + o.latency <= end)
        .collect();
    let mut tokens = 0.0;
    let mut completions = 0usize;
    for o in outcomes.iter().filter(|o| o.success) {
        for (c, k) in o.chunks.iter().zip(chunk_tokens(o)) {
            let t = o.send_offset + c.0;
            if t >= start && t <= end {
                tokens += k;
            }
        }
        let done = o.send_offset + o.latency;
        if done >= start && done <= end {
            completions += 1;
        }
    }
    let of = |v: Vec<f64>| MetricSummary::of(&v, percentiles);
    Some(SteadyState {
        threshold,
        level,
        start_s: start.as_secs_f64(),
        end_s: end.as_secs_f64(),
        requests: inside.len(),
        request_throughput: completions as f64 / window,
        output_throughput: tokens / window,
        ttft_ms: of(inside.iter().filter_map(|o| o.ttft().map(ms)).collect()),
        tpot_ms: of(inside.iter().filter_map(|o| tpot_ms(o)).collect()),
        itl_ms: of(inside.iter().flat_map(|o| itl_of(o).map(ms)).collect()),
        e2el_ms: of(inside.iter().map(|o| ms(o.latency)).collect()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(start_ms: u64, len_ms: u64) -> RequestOutcome {
        let d = Duration::from_millis;
        RequestOutcome {
            success: true,
            output_tokens: 2,
            send_offset: d(start_ms),
            chunks: vec![(d(len_ms / 2), 1), (d(len_ms), 1)],
            latency: d(len_ms),
            total_time: d(len_ms),
            ..RequestOutcome::default()
        }
    }

    #[test]
    fn the_plateau_excludes_ramp_and_drain() {
        // Concurrency 2: one request alone for 100 ms, then two in flight from 100 to 1000 ms
        // (back-to-back requests on two slots), then one alone until 1200 ms.
        let v = vec![
            req(0, 500),
            req(100, 450),
            req(500, 500),
            req(550, 450),
            req(1000, 200),
        ];
        let s = steady_state(&v, 2, 0.95, &[50.0]).unwrap();
        assert_eq!((s.level, s.start_s, s.end_s), (2, 0.1, 1.0));
        // Requests inside [0.1, 1.0]: the ones at 100, 500 and 550 ms.
        assert_eq!(s.requests, 3);
        assert!(
            (s.request_throughput - 4.0 / 0.9).abs() < 1e-9,
            "{}",
            s.request_throughput
        );
        assert!(
            steady_state(&v, 4, 0.95, &[50.0]).is_none(),
            "level 4 never reached"
        );
    }
}
