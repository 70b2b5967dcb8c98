//! Reports of `bench serve` runs: the printed table in vLLM's layout ([`table`]), the result
//! JSON with vLLM's keys, order and file name ([`json`]), the per-request JSONL
//! ([`requests`]) and the summary over `--num-runs` ([`runs`]). Files are written atomically
//! (`dyno_stats::record::write_atomic`), also when appending.

pub mod json;
pub mod requests;
pub mod runs;
pub mod table;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::arrival::Schedule;
use crate::metrics::serve::ServeMetrics;
use crate::metrics::steady::SteadyState;
use crate::runner::RunOutput;

/// What the run was asked to do (the header of the result file and the table).
#[derive(Clone, Debug, PartialEq)]
pub struct RunHeader {
    /// `%Y%m%d-%H%M%S` (UTC) of the start.
    pub date: String,
    /// `--backend`.
    pub backend: String,
    /// `--label` (default: the backend).
    pub label: String,
    /// `--model`.
    pub model_id: String,
    /// `--tokenizer` (default: the model).
    pub tokenizer_id: String,
    /// `--num-prompts`.
    pub num_prompts: usize,
    /// `--metadata K=V` pairs, in order.
    pub metadata: Vec<(String, String)>,
    /// `--request-rate` (∞ allowed).
    pub request_rate: f64,
    /// `--burstiness`.
    pub burstiness: f64,
    /// `--max-concurrency`.
    pub max_concurrency: Option<usize>,
    /// `(strategy, start, end)` of `--ramp-up-*`.
    pub ramp_up: Option<(String, u64, u64)>,
    /// Where the tokenizer came from (`local DIR`, `server /tokenize`, `none`).
    pub tokenizer_source: String,
    /// `--duration`, when time-bounded.
    pub duration_limit: Option<Duration>,
    /// Warm-up requests sent before the run.
    pub warmups: usize,
}

/// One finished run with its metrics.
#[derive(Debug)]
pub struct ServeRun {
    /// The raw outcomes and timing.
    pub output: RunOutput,
    /// The schedule it followed.
    pub schedule: Schedule,
    /// The metrics.
    pub metrics: ServeMetrics,
    /// The plateau of a closed-loop run.
    pub steady: Option<SteadyState>,
}

/// `%Y%m%d-%H%M%S` of `t` in UTC (vLLM's result-date format).
pub fn format_date(t: SystemTime) -> String {
    let (y, mo, d, h, mi, s) = civil(t);
    format!("{y:04}{mo:02}{d:02}-{h:02}{mi:02}{s:02}")
}

/// ISO 8601 (`2026-11-03T10:04:05.123456`, UTC) of `t`.
pub fn format_iso(t: SystemTime) -> String {
    let (y, mo, d, h, mi, s) = civil(t);
    let micros = t
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .subsec_micros();
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{micros:06}")
}

/// (year, month, day, hour, minute, second) in UTC, from days since the epoch by the
/// proleptic Gregorian calendar (400-year eras of 146 097 days).
fn civil(t: SystemTime) -> (i64, u32, u32, u32, u32, u32) {
    let secs = t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    let rem = rem as u32;
    (year, month, day, rem / 3600, rem % 3600 / 60, rem % 60)
}

/// Python's `str()` of a float: `10.0`, `0.5`, `inf`.
pub fn python_float(x: f64) -> String {
    if x.is_infinite() {
        if x > 0.0 { "inf".into() } else { "-inf".into() }
    } else if x.fract() == 0.0 && x.abs() < 1e16 {
        format!("{x:.1}")
    } else {
        format!("{x}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        let t = UNIX_EPOCH + Duration::from_secs(1_786_000_000) + Duration::from_micros(42);
        // 2026-08-06 07:06:40 UTC.
        assert_eq!(format_date(t), "20260806-070640");
        assert_eq!(format_iso(t), "2026-08-06T07:06:40.000042");
        assert_eq!(
            format_date(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "20000229-000000"
        );
    }

    #[test]
    fn python_floats() {
        assert_eq!(python_float(10.0), "10.0");
        assert_eq!(python_float(0.5), "0.5");
        assert_eq!(python_float(f64::INFINITY), "inf");
    }
}
