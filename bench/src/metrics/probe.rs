//! The summary of `--probe-request-rate` probes (vLLM's "Probe Requests" block): how many
//! completed and failed, and the median, p99 and maximum of their end-to-end latency (send to
//! the last token chunk, as [`RequestOutcome::latency`]), over the successful ones.
//!
//! vLLM leaves the whole block out when no probe succeeded; here the counts are still reported
//! (a server that fails every probe is worth knowing about) and the latencies are `None`.

use super::{MetricSummary, ms};
use crate::endpoint::RequestOutcome;

/// Probe counts and latencies.
#[derive(Clone, Debug, PartialEq)]
pub struct ProbeStats {
    /// Probes that succeeded.
    pub completed: usize,
    /// Probes that failed.
    pub failed: usize,
    /// Median E2EL of the successful probes, ms.
    pub median_e2el_ms: Option<f64>,
    /// 99th percentile (linear interpolation), ms.
    pub p99_e2el_ms: Option<f64>,
    /// Maximum, ms.
    pub max_e2el_ms: Option<f64>,
}

/// The summary of `probes`; `None` when none was sent.
pub fn probe_stats(probes: &[RequestOutcome]) -> Option<ProbeStats> {
    if probes.is_empty() {
        return None;
    }
    let lats: Vec<f64> = probes
        .iter()
        .filter(|o| o.success)
        .map(|o| ms(o.latency))
        .collect();
    let summary = MetricSummary::of(&lats, &[99.0]);
    Some(ProbeStats {
        completed: lats.len(),
        failed: probes.len() - lats.len(),
        median_e2el_ms: summary.as_ref().map(|s| s.median),
        p99_e2el_ms: summary.as_ref().and_then(|s| s.percentile(99.0)),
        max_e2el_ms: lats.iter().copied().reduce(f64::max),
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn probe(ok: bool, latency_ms: u64) -> RequestOutcome {
        RequestOutcome {
            success: ok,
            latency: Duration::from_millis(latency_ms),
            ..RequestOutcome::default()
        }
    }

    #[test]
    fn median_p99_and_max_of_the_successful_ones() {
        let mut v: Vec<RequestOutcome> = (1..=100).map(|i| probe(true, i)).collect();
        v.push(probe(false, 5000));
        let s = probe_stats(&v).unwrap();
        assert_eq!((s.completed, s.failed), (100, 1));
        assert_eq!(s.median_e2el_ms, Some(50.5));
        // numpy: percentile([1..100], 99) = 1 + 0.99·99 = 99.01.
        assert!((s.p99_e2el_ms.unwrap() - 99.01).abs() < 1e-9);
        assert_eq!(
            s.max_e2el_ms,
            Some(100.0),
            "the failed probe's time is not a latency"
        );
    }

    #[test]
    fn none_sent_or_none_succeeded() {
        assert_eq!(probe_stats(&[]), None);
        let s = probe_stats(&[probe(false, 3)]).unwrap();
        assert_eq!((s.completed, s.failed, s.median_e2el_ms), (0, 1, None));
    }
}
