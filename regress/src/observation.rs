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
