//! What the server actually did: how late each write was against its deadline.
//!
//! Lateness is `write time − deadline`, taken when an event is handed to the connection (just
//! before the socket write). First chunks (which set a client's TTFT) and later chunks (ITL) are
//! kept apart. Lock-free counters plus a fixed histogram (25 µs buckets up to 10 ms, 1 ms
//! buckets up to 1 s), so recording costs a few atomic adds and never allocates.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Width of a fine histogram bucket, in nanoseconds.
const FINE_NS: u64 = 25_000;
/// Fine buckets cover `[0, 10 ms)`.
const FINE: u64 = 400;
/// Width of a coarse bucket (from 10 ms on), in nanoseconds.
const COARSE_NS: u64 = 1_000_000;
/// Buckets in all: 400 fine, 990 coarse up to 1 s, one for anything later.
const BUCKETS: usize = 1391;

/// The bucket of a lateness.
fn bucket(ns: u64) -> usize {
    let fine_end = FINE * FINE_NS;
    let b = if ns < fine_end {
        ns / FINE_NS
    } else {
        FINE + (ns - fine_end) / COARSE_NS
    };
    usize::try_from(b).map_or(BUCKETS - 1, |b| b.min(BUCKETS - 1))
}

/// The upper edge of bucket `b`, in nanoseconds.
fn upper_edge(b: usize) -> u64 {
    let b = b as u64;
    if b < FINE {
        (b + 1) * FINE_NS
    } else {
        FINE * FINE_NS + (b - FINE + 1) * COARSE_NS
    }
}

/// A write counts as late in [`LatenessSummary::late`] when it is more than this late.
pub const LATE_THRESHOLD: Duration = Duration::from_millis(1);

/// Lateness counters of one kind of event.
#[derive(Debug)]
pub struct Lateness {
    count: AtomicU64,
    late: AtomicU64,
    sum_ns: AtomicU64,
    max_ns: AtomicU64,
    buckets: Vec<AtomicU64>,
}

impl Default for Lateness {
    fn default() -> Self {
        Self {
            count: AtomicU64::new(0),
            late: AtomicU64::new(0),
            sum_ns: AtomicU64::new(0),
            max_ns: AtomicU64::new(0),
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

/// A snapshot of [`Lateness`], in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct LatenessSummary {
    /// Writes recorded.
    pub count: u64,
    /// Writes more than [`LATE_THRESHOLD`] late.
    pub late: u64,
    /// Mean lateness (ms).
    pub mean_ms: f64,
    /// 99th percentile of lateness (ms; upper edge of its bucket: 25 µs wide below 10 ms,
    /// 1 ms wide above, never above the maximum).
    pub p99_ms: f64,
    /// Largest lateness (ms).
    pub max_ms: f64,
}

impl Lateness {
    /// Records one write that was `late` after its deadline.
    pub fn record(&self, late: Duration) {
        let ns = u64::try_from(late.as_nanos()).unwrap_or(u64::MAX);
        self.count.fetch_add(1, Ordering::Relaxed);
        if late > LATE_THRESHOLD {
            self.late.fetch_add(1, Ordering::Relaxed);
        }
        self.sum_ns.fetch_add(ns, Ordering::Relaxed);
        self.max_ns.fetch_max(ns, Ordering::Relaxed);
        self.buckets[bucket(ns)].fetch_add(1, Ordering::Relaxed);
    }

    /// The counters now.
    pub fn summary(&self) -> LatenessSummary {
        let count = self.count.load(Ordering::Relaxed);
        if count == 0 {
            return LatenessSummary::default();
        }
        let rank = count.saturating_mul(99).div_ceil(100);
        let mut seen = 0;
        let mut p99_bucket = BUCKETS - 1;
        for (i, b) in self.buckets.iter().enumerate() {
            seen += b.load(Ordering::Relaxed);
            if seen >= rank {
                p99_bucket = i;
                break;
            }
        }
        let max_ms = self.max_ns.load(Ordering::Relaxed) as f64 / 1e6;
        LatenessSummary {
            count,
            late: self.late.load(Ordering::Relaxed),
            mean_ms: self.sum_ns.load(Ordering::Relaxed) as f64 / count as f64 / 1e6,
            p99_ms: (upper_edge(p99_bucket) as f64 / 1e6).min(max_ms),
            max_ms,
        }
    }

    fn reset(&self) {
        for a in [&self.count, &self.late, &self.sum_ns, &self.max_ns] {
            a.store(0, Ordering::Relaxed);
        }
        for b in &self.buckets {
            b.store(0, Ordering::Relaxed);
        }
    }
}

/// Everything the server counts.
#[derive(Debug, Default)]
pub struct ServerStats {
    requests: AtomicU64,
    /// Lateness of first token chunks (and of non-streaming answers).
    pub first_chunk: Lateness,
    /// Lateness of the other token chunks.
    pub later_chunks: Lateness,
}

/// The body of `GET /mock/stats`.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct StatsSnapshot {
    /// Generation requests accepted (completions and chat).
    pub requests: u64,
    /// First token chunks (the TTFT writes).
    pub first_chunk: LatenessSummary,
    /// All later token chunks (the ITL writes).
    pub later_chunks: LatenessSummary,
}

impl ServerStats {
    /// Counts one accepted generation request.
    pub fn count_request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    /// The counters now.
    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            requests: self.requests.load(Ordering::Relaxed),
            first_chunk: self.first_chunk.summary(),
            later_chunks: self.later_chunks.summary(),
        }
    }

    /// Zeroes every counter (`POST /mock/stats/reset`, e.g. after a client's warm-ups).
    pub fn reset(&self) {
        self.requests.store(0, Ordering::Relaxed);
        self.first_chunk.reset();
        self.later_chunks.reset();
    }
}

impl std::fmt::Display for StatsSnapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (a, b) = (self.first_chunk, self.later_chunks);
        write!(
            f,
            "{} requests; first-chunk lateness mean {:.3} ms, p99 {:.3} ms, max {:.3} ms ({} over 1 ms); \
             later-chunk lateness mean {:.3} ms, p99 {:.3} ms, max {:.3} ms ({} of {} over 1 ms)",
            self.requests,
            a.mean_ms,
            a.p99_ms,
            a.max_ms,
            a.late,
            b.mean_ms,
            b.p99_ms,
            b.max_ms,
            b.late,
            b.count
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_counts_mean_p99_and_max() {
        let l = Lateness::default();
        for _ in 0..99 {
            l.record(Duration::from_micros(10));
        }
        l.record(Duration::from_millis(3));
        let s = l.summary();
        assert_eq!((s.count, s.late), (100, 1));
        assert!((s.mean_ms - (99.0 * 0.010 + 3.0) / 100.0).abs() < 1e-9);
        assert_eq!(s.p99_ms, 0.025);
        assert_eq!(s.max_ms, 3.0);
        l.reset();
        assert_eq!(l.summary(), LatenessSummary::default());
        // past the fine buckets the percentile still lands near the data, not at 10 ms
        for _ in 0..100 {
            l.record(Duration::from_micros(23_400));
        }
        let s = l.summary();
        assert_eq!(s.p99_ms, 23.4);
        l.record(Duration::from_secs(5));
        assert_eq!(l.summary().p99_ms, 24.0);
    }
}
