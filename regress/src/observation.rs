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
    Median,
    /// The fastest sample: interference only ever adds time, so on a machine whose
    /// neighbours slow most samples the floor is the steadiest estimate of the code's own
    /// cost (Chen & Revels 2016, the rule of Julia's BenchmarkTools); one lucky sample moves it.
    Min,
    /// The median of the per-round log-ratios, for lock-step samples whose `r`-th base and
    /// head slices ran back to back: a burst of interference that slows both sides of a
    /// round cancels in its ratio instead of moving one side's median. A side alone (the
    /// base of a benchmark the head lacks) gets its median.
    #[default]
    Paired,
}

impl BlockStatistic {
    /// The statistic of `samples`; `None` when there is none or it is not a positive finite
    /// time.
    pub fn of(self, samples: &[f64]) -> Option<f64> {
        let v = match self {
            BlockStatistic::Median | BlockStatistic::Paired => dyno_stats::median(samples).ok()?,
            BlockStatistic::Min => samples.iter().copied().reduce(f64::min)?,
        };
        (v > 0.0 && v.is_finite()).then_some(v)
    }

    /// The block's values of the two sides of a pair: `(base, head)`, where under
    /// [`BlockStatistic::Paired`] the head's value is the base's median times the median
    /// per-round ratio (so their log-ratio is that median), and otherwise each side's own
    /// statistic. Paired samples of different lengths fall back to each side's median.
    /// `None` when either side has no usable value.
    pub fn pair(self, base: &[f64], head: &[f64]) -> Option<(f64, f64)> {
        let b = self.of(base)?;
        let h = self.of(head)?;
        if self != BlockStatistic::Paired || base.len() != head.len() {
            return Some((b, h));
        }
        let logs: Vec<f64> = base
            .iter()
            .zip(head)
            .filter(|(x, y)| **x > 0.0 && **y > 0.0 && x.is_finite() && y.is_finite())
            .map(|(x, y)| (y / x).ln())
            .collect();
        let m = dyno_stats::median(&logs).ok()?;
        let h = b * m.exp();
        (h > 0.0 && h.is_finite()).then_some((b, h))
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
        assert_eq!(BlockStatistic::Paired.of(&s), Some(4.5));
    }

    #[test]
    fn paired_statistic_takes_the_median_round_ratio() {
        // Rounds 1 and 2 are disturbed on both sides; every round's ratio is 1.1 but the
        // sides' medians differ by much more.
        let base = [10.0, 30.0, 31.0, 10.0, 10.0];
        let head = [11.0, 33.0, 34.1, 11.0, 11.0];
        let (b, h) = BlockStatistic::Paired.pair(&base, &head).unwrap();
        assert_eq!(b, 10.0);
        assert!((h / b - 1.1).abs() < 1e-12, "{h}");
        let (mb, mh) = BlockStatistic::Median.pair(&base, &head).unwrap();
        assert_eq!((mb, mh), (10.0, 11.0));
        // Unequal lengths: each side's median.
        let (b, h) = BlockStatistic::Paired.pair(&base, &head[..4]).unwrap();
        assert_eq!((b, h), (10.0, 22.0));
        assert_eq!(BlockStatistic::Paired.pair(&[], &head), None);
    }
}
