//! Hodges–Lehmann location estimate and its distribution-free confidence bounds.
//!
//! For differences `d_1..d_n`, the `M = n(n+1)/2` Walsh averages are `(d_i + d_j) / 2` for
//! `i ≤ j`. The estimate is their median. The number of Walsh averages above a candidate shift
//! `θ` is the signed-rank statistic of `d - θ`, so order statistics of the Walsh averages are
//! confidence bounds (Hollander & Wolfe, *Nonparametric Statistical Methods*, §3.3):
//! with `k = #{t : P(T+ ≤ t) ≤ α}`, the `k`-th smallest Walsh average is a lower bound with
//! coverage `1 - P(T+ ≤ k - 1) ≥ 1 - α`, and the `k`-th largest an upper bound. `T+` follows
//! the untied null distribution (exact up to [`crate::wilcoxon::EXACT_LIMIT`] observations,
//! normal above), which is exact for continuous data.
//!
//! With very few observations no Walsh average reaches the requested level (`2^-n > α`); the
//! bound then falls back to the most extreme Walsh average and [`Bound::coverage`] reports the
//! lower coverage actually achieved, so callers can tell.

use serde::{Deserialize, Serialize};

use crate::error::{Result, check_level, check_samples};
use crate::interval::ConfidenceInterval;
use crate::summary::quantile_sorted;
use crate::wilcoxon::UntiedNull;

/// Sorted Walsh averages of some differences, from which estimate and bounds are read.
#[derive(Debug, Clone)]
pub struct WalshAverages {
    sorted: Vec<f64>,
    n: usize,
    null: UntiedNull,
}

/// A one-sided confidence bound and the coverage it actually achieves.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bound {
    /// The bound.
    pub value: f64,
    /// Achieved coverage probability; at least the requested level unless too few observations.
    pub coverage: f64,
}

/// Hodges–Lehmann estimate with a two-sided distribution-free interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HodgesLehmann {
    /// Median of the Walsh averages.
    pub estimate: f64,
    /// Interval at the requested (nominal) level.
    pub ci: ConfidenceInterval,
    /// Achieved two-sided coverage (below `ci.level` only when there are too few observations).
    pub coverage: f64,
    /// Number of observations.
    pub n: usize,
}

impl WalshAverages {
    /// Builds and sorts the Walsh averages of `diffs` (at least one finite value).
    pub fn new(diffs: &[f64]) -> Result<WalshAverages> {
        check_samples("hodges-lehmann", diffs, 1)?;
        let n = diffs.len();
        let mut sorted = Vec::with_capacity(n * (n + 1) / 2);
        for (i, &a) in diffs.iter().enumerate() {
            sorted.extend(diffs[i..].iter().map(|&b| (a + b) / 2.0));
        }
        sorted.sort_by(f64::total_cmp);
        Ok(WalshAverages {
            sorted,
            n,
            null: UntiedNull::new(n),
        })
    }

    /// Number of observations `n` (not of Walsh averages).
    pub fn n(&self) -> usize {
        self.n
    }

    /// The Hodges–Lehmann estimate: the median of the Walsh averages.
    pub fn estimate(&self) -> f64 {
        quantile_sorted(&self.sorted, 0.5)
    }

    /// One-sided lower bound at confidence `level`: the true shift is `≥ value` with
    /// probability `coverage`.
    pub fn lower_bound(&self, level: f64) -> Result<Bound> {
        check_level(level)?;
        let k = self.null.count_at_most(1.0 - level).max(1);
        Ok(Bound {
            value: self.sorted[k - 1],
            coverage: 1.0 - self.null.cdf(k as u64 - 1),
        })
    }

    /// One-sided upper bound at confidence `level`.
    pub fn upper_bound(&self, level: f64) -> Result<Bound> {
        check_level(level)?;
        let k = self.null.count_at_most(1.0 - level).max(1);
        let m = self.sorted.len();
        Ok(Bound {
            value: self.sorted[m - k],
            coverage: 1.0 - self.null.cdf(k as u64 - 1),
        })
    }

    /// Two-sided interval at `level` (`(1 - level) / 2` in each tail).
    pub fn interval(&self, level: f64) -> Result<HodgesLehmann> {
        check_level(level)?;
        let tail = (1.0 + level) / 2.0;
        let (lower, upper) = (self.lower_bound(tail)?, self.upper_bound(tail)?);
        Ok(HodgesLehmann {
            estimate: self.estimate(),
            ci: ConfidenceInterval {
                lower: lower.value,
                upper: upper.value,
                level,
            },
            coverage: 1.0 - 2.0 * (1.0 - lower.coverage),
            n: self.n,
        })
    }
}

/// Hodges–Lehmann estimate of the location of `diffs` with a two-sided interval at `level`.
pub fn hodges_lehmann(diffs: &[f64], level: f64) -> Result<HodgesLehmann> {
    WalshAverages::new(diffs)?.interval(level)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimate_of_small_sample() {
        // Walsh averages of [1, 2, 9]: 1, 1.5, 5, 2, 5.5, 9 -> sorted 1, 1.5, 2, 5, 5.5, 9
        let w = WalshAverages::new(&[1.0, 2.0, 9.0]).unwrap();
        assert_eq!(w.estimate(), 3.5);
    }

    #[test]
    fn interval_uses_table_order_statistic() {
        // n = 10, 95 % two-sided: P(T+ <= 8) = 0.0244 <= 0.025 < P(T+ <= 9) = 0.0322,
        // so k = 9 (count of t in 0..=8): the 9th smallest and 9th largest Walsh averages.
        let d: Vec<f64> = (1..=10).map(f64::from).collect();
        let w = WalshAverages::new(&d).unwrap();
        let hl = w.interval(0.95).unwrap();
        let mut walsh: Vec<f64> = Vec::new();
        for i in 0..10 {
            for j in i..10 {
                walsh.push((d[i] + d[j]) / 2.0);
            }
        }
        walsh.sort_by(f64::total_cmp);
        assert_eq!(hl.ci.lower, walsh[8]);
        assert_eq!(hl.ci.upper, walsh[walsh.len() - 9]);
        assert!((hl.coverage - (1.0 - 2.0 * 25.0 / 1024.0)).abs() < 1e-12);
        assert_eq!(hl.estimate, 5.5);
    }

    #[test]
    fn too_few_observations_report_lower_coverage() {
        let w = WalshAverages::new(&[0.1, 0.2, 0.3]).unwrap();
        let b = w.lower_bound(0.99).unwrap();
        assert_eq!(b.value, 0.1);
        assert!((b.coverage - 0.875).abs() < 1e-12);
    }
}
