//! Percentile bootstrap confidence intervals of any statistic, seeded for reproducibility.
//!
//! Resample the data with replacement `resamples` times, evaluate the statistic on each
//! resample, and read the `(1 - level) / 2` and `(1 + level) / 2` quantiles (type 7, see
//! [`crate::summary`]) of those values. Resample *independent units*: for paired A/B blocks that
//! is the per-block value, never the samples inside one process.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::error::{Result, StatsError, check_level, check_samples};
use crate::interval::ConfidenceInterval;
use crate::summary::quantile_sorted;

/// How to bootstrap.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BootstrapConfig {
    /// Number of resamples (10 000 by default; at least 1).
    pub resamples: usize,
    /// Confidence level in `(0, 1)` (0.95 by default).
    pub level: f64,
    /// Seed of the resampling RNG (`StdRng::seed_from_u64`); record it with the result.
    pub seed: u64,
}

impl Default for BootstrapConfig {
    fn default() -> Self {
        BootstrapConfig {
            resamples: 10_000,
            level: 0.95,
            seed: 0,
        }
    }
}

/// A statistic with its bootstrap interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BootstrapEstimate {
    /// The statistic on the original data.
    pub estimate: f64,
    /// Percentile interval at `config.level`.
    pub ci: ConfidenceInterval,
    /// Number of resamples used.
    pub resamples: usize,
}

/// Percentile bootstrap interval of `statistic` over `data` (at least one finite value).
///
/// The statistic must return a finite number on every resample. The same `config.seed` always
/// gives the same interval.
pub fn bootstrap_ci<F>(
    data: &[f64],
    mut statistic: F,
    config: &BootstrapConfig,
) -> Result<BootstrapEstimate>
where
    F: FnMut(&[f64]) -> f64,
{
    check_samples("bootstrap", data, 1)?;
    check_level(config.level)?;
    if config.resamples == 0 {
        return Err(StatsError::InvalidParameter {
            name: "resamples",
            value: 0.0,
            expected: "at least 1 resample (1 000 or more for a useful interval)",
        });
    }
    let estimate = statistic(data);
    let mut rng = StdRng::seed_from_u64(config.seed);
    let mut buffer = vec![0.0; data.len()];
    let mut values = Vec::with_capacity(config.resamples);
    for resample in 0..config.resamples {
        for slot in buffer.iter_mut() {
            *slot = data[rng.random_range(0..data.len())];
        }
        let value = statistic(&buffer);
        if !value.is_finite() {
            return Err(StatsError::NonFiniteStatistic { resample, value });
        }
        values.push(value);
    }
    values.sort_by(f64::total_cmp);
    let tail = (1.0 - config.level) / 2.0;
    let ci = ConfidenceInterval {
        lower: quantile_sorted(&values, tail),
        upper: quantile_sorted(&values, 1.0 - tail),
        level: config.level,
    };
    Ok(BootstrapEstimate {
        estimate,
        ci,
        resamples: config.resamples,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::summary::median;

    fn mean(x: &[f64]) -> f64 {
        x.iter().sum::<f64>() / x.len() as f64
    }

    #[test]
    fn same_seed_same_interval() {
        let data: Vec<f64> = (0..30).map(|i| f64::from(i % 7)).collect();
        let config = BootstrapConfig {
            resamples: 500,
            level: 0.9,
            seed: 42,
        };
        let a = bootstrap_ci(&data, mean, &config).unwrap();
        let b = bootstrap_ci(&data, mean, &config).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.estimate, mean(&data));
        assert!(a.ci.lower < a.estimate && a.estimate < a.ci.upper);
        let c = bootstrap_ci(&data, mean, &BootstrapConfig { seed: 43, ..config }).unwrap();
        assert_ne!(a.ci, c.ci);
    }

    #[test]
    fn constant_data_gives_a_point_interval() {
        let r = bootstrap_ci(
            &[3.0; 5],
            |x| median(x).unwrap(),
            &BootstrapConfig::default(),
        )
        .unwrap();
        assert_eq!((r.ci.lower, r.ci.upper), (3.0, 3.0));
    }

    #[test]
    fn rejects_bad_config_and_statistic() {
        let data = [1.0, 2.0];
        let zero = BootstrapConfig {
            resamples: 0,
            ..BootstrapConfig::default()
        };
        assert!(bootstrap_ci(&data, mean, &zero).is_err());
        let bad_level = BootstrapConfig {
            level: 1.0,
            ..BootstrapConfig::default()
        };
        assert!(bootstrap_ci(&data, mean, &bad_level).is_err());
        let err = bootstrap_ci(&data, |_| f64::NAN, &BootstrapConfig::default()).unwrap_err();
        assert!(err.to_string().contains("returned NaN"), "{err}");
    }
}
