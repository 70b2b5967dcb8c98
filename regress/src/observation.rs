//! Observations: one value per benchmark, side, block and metric, as the importers produce them.

use serde::{Deserialize, Serialize};

use dyno_stats::record::Side;

/// Benchmark ids starting with this prefix are same-binary A-vs-A sentinels (null controls):
/// they judge the environment, never the code.
pub const SENTINEL_PREFIX: &str = "sentinel/";

/// What an observation measures.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// The block's time statistic (typically a median per-iteration time), in nanoseconds.
    TimeNs,
    /// A deterministic counter (bytes moved, allocations): compared exactly, lower is better.
    Counter(String),
}

/// One measured value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Observation {
    /// Benchmark id, e.g. `cpu/logits_mask/f32/v32000`.
    pub benchmark: String,
    /// Which build produced it.
    pub side: Side,
    /// Block index: values with the same block index on both sides form a pair.
    pub block: u32,
    /// What was measured.
    pub metric: Metric,
    /// The value (nanoseconds for [`Metric::TimeNs`], a non-negative integer for counters).
    pub value: f64,
}

impl Observation {
    /// A timing observation.
    pub fn time_ns(
        benchmark: impl Into<String>,
        side: Side,
        block: u32,
        value_ns: f64,
    ) -> Observation {
        Observation {
            benchmark: benchmark.into(),
            side,
            block,
            metric: Metric::TimeNs,
            value: value_ns,
        }
    }

    /// A counter observation.
    pub fn counter(
        benchmark: impl Into<String>,
        side: Side,
        block: u32,
        name: impl Into<String>,
        value: u64,
    ) -> Observation {
        Observation {
            benchmark: benchmark.into(),
            side,
            block,
            metric: Metric::Counter(name.into()),
            value: value as f64,
        }
    }
}

/// Whether `id` names a sentinel benchmark.
pub fn is_sentinel(id: &str) -> bool {
    id.starts_with(SENTINEL_PREFIX)
}

/// How a block's samples of one side (criterion's samples or lock-step slices, in ns per
/// iteration) become its one value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BlockStatistic {
    /// The median sample: robust to a minority of disturbed samples.
    #[default]
    Median,
    /// The fastest sample: interference only ever adds time, so on a machine whose
    /// neighbours slow most samples the floor is the steadiest estimate of the code's own
    /// cost (Chen & Revels 2016, the rule of Julia's BenchmarkTools); one lucky sample moves it.
    Min,
}

impl BlockStatistic {
    /// The statistic of `samples`; `None` when there is none or it is not a positive finite
    /// time.
    pub fn of(self, samples: &[f64]) -> Option<f64> {
        let v = match self {
            BlockStatistic::Median => dyno_stats::median(samples).ok()?,
            BlockStatistic::Min => samples.iter().copied().reduce(f64::min)?,
        };
        (v > 0.0 && v.is_finite()).then_some(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_statistics() {
        let s = [5.0, 3.0, 9.0, 4.0];
        assert_eq!(BlockStatistic::Median.of(&s), Some(4.5));
        assert_eq!(BlockStatistic::Min.of(&s), Some(3.0));
        assert_eq!(BlockStatistic::Min.of(&[]), None);
        assert_eq!(BlockStatistic::Median.of(&[0.0]), None);
        assert_eq!(BlockStatistic::Min.of(&[f64::NAN]), None);
    }
}
