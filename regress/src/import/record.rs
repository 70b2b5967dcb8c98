//! dyno run records as observations.
//!
//! A series whose `metric` is `time` (with a time unit) contributes the **median** of its values,
//! converted to nanoseconds, as its block's time statistic; a series with unit `count` or
//! `bytes` is a deterministic counter whose values must all be equal. Any other series is an
//! error: the gate judges timings and counters only. A series without `block` is block 0.

use dyno_stats::median;
use dyno_stats::record::{HealthRecord, RunRecord, SampleSeries, Side, Unit};

use crate::comparison::Comparison;
use crate::error::{RegressError, Result};
use crate::observation::{Metric, Observation};

/// How a series is used.
pub(crate) enum SeriesKind {
    /// A time; the payload converts its unit to nanoseconds.
    TimeNs(f64),
    /// A deterministic counter.
    Counter,
}

/// Classifies a series, rejecting those the gate cannot use.
pub(crate) fn series_kind(s: &SampleSeries) -> Result<SeriesKind> {
    let invalid = |message: String| RegressError::InvalidObservation {
        benchmark: s.benchmark.clone(),
        message,
    };
    if s.values.is_empty() {
        return Err(invalid(format!("series `{}` has no values", s.metric)));
    }
    match (s.metric.as_str(), s.unit.to_ns(), s.unit) {
        ("time", Some(factor), _) => Ok(SeriesKind::TimeNs(factor)),
        ("time", None, unit) => Err(invalid(format!(
            "series `time` has unit `{}`; use a time unit (ns, us, ms, s)",
            unit.as_str()
        ))),
        (_, _, Unit::Count | Unit::Bytes) => Ok(SeriesKind::Counter),
        (metric, _, unit) => Err(invalid(format!(
            "series `{metric}` (unit `{}`) is neither `time` nor a counter (unit count or bytes); the gate judges only \
             those",
            unit.as_str()
        ))),
    }
}

/// The single value of a counter series (all values must be equal non-negative integers).
pub(crate) fn constant_counter(s: &SampleSeries) -> Result<u64> {
    let first = s.values[0];
    let ok = |v: f64| v.is_finite() && v >= 0.0 && v.fract() == 0.0;
    if let Some(&other) = s.values.iter().find(|&&v| v != first || !ok(v)) {
        return Err(RegressError::InvalidObservation {
            benchmark: s.benchmark.clone(),
            message: format!(
                "counter `{}` has values {first} and {other} in one series; a deterministic counter is one \
                 non-negative integer",
                s.metric
            ),
        });
    }
    Ok(first as u64)
}

fn observation(s: &SampleSeries, side: Side) -> Result<Observation> {
    let block = s.block.unwrap_or(0);
    let (metric, value) = match series_kind(s)? {
        SeriesKind::TimeNs(factor) => (Metric::TimeNs, median(&s.values)? * factor),
        SeriesKind::Counter => (
            Metric::Counter(s.metric.clone()),
            constant_counter(s)? as f64,
        ),
    };
    Ok(Observation {
        benchmark: s.benchmark.clone(),
        side,
        block,
        metric,
        value,
    })
}

/// Observations of an A/B run record: every series must name its side.
pub fn observations(record: &RunRecord) -> Result<Vec<Observation>> {
    record
        .samples
        .iter()
        .map(|s| {
            let side = s.side.ok_or_else(|| RegressError::InvalidObservation {
                benchmark: s.benchmark.clone(),
                message: format!(
                    "series `{}` of run `{}` has no `side`; an A/B record needs base/head on every series, or judge two \
                     single-revision records with `comparison_from_pair`",
                    s.metric, record.id
                ),
            })?;
            observation(s, side)
        })
        .collect()
}

/// The comparison recorded in one A/B run record, with its health.
pub fn comparison_from_record(record: &RunRecord) -> Result<Comparison> {
    Comparison::from_observations(&observations(record)?, record.health.clone())
}

/// Observations of two single-revision records, `base` and `head`. Their suites and machine
/// profiles must match; a series that names the other side is an error.
pub fn observations_from_pair(base: &RunRecord, head: &RunRecord) -> Result<Vec<Observation>> {
    if base.suite != head.suite {
        return Err(RegressError::Mismatch {
            message: format!(
                "run `{}` is suite `{}` but run `{}` is suite `{}`; compare runs of the same suite",
                base.id, base.suite, head.id, head.suite
            ),
        });
    }
    if base.machine != head.machine {
        return Err(RegressError::ProfileMismatch {
            what: format!("runs `{}` vs `{}`", base.id, head.id),
            expected: base.machine.key(),
            found: head.machine.key(),
            differences: base.machine.differences(&head.machine).join("; "),
        });
    }
    let mut out = Vec::new();
    for (record, side) in [(base, Side::Base), (head, Side::Head)] {
        for s in &record.samples {
            if s.side.is_some_and(|sd| sd != side) {
                return Err(RegressError::InvalidObservation {
                    benchmark: s.benchmark.clone(),
                    message: format!(
                        "run `{}` is used as the {} side but its series says {}",
                        record.id,
                        side.as_str(),
                        s.side.map_or("", Side::as_str)
                    ),
                });
            }
            out.push(observation(s, side)?);
        }
    }
    Ok(out)
}

/// The comparison of two single-revision records; health merges both (larger steal time,
/// all flags).
pub fn comparison_from_pair(base: &RunRecord, head: &RunRecord) -> Result<Comparison> {
    let steal = match (
        base.health.steal_time_fraction,
        head.health.steal_time_fraction,
    ) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    };
    let flags = base
        .health
        .flags
        .iter()
        .chain(&head.health.flags)
        .cloned()
        .collect();
    Comparison::from_observations(
        &observations_from_pair(base, head)?,
        HealthRecord {
            steal_time_fraction: steal,
            flags,
        },
    )
}
