//! The knobs of the decision rule, with the defaults of issue 5 §2.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{RegressError, Result};

/// Which statistic of the effect must exceed the threshold τ for a regression.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EffectRule {
    /// The Hodges–Lehmann point estimate must exceed τ (the default; see the crate docs for why).
    PointEstimate,
    /// The one-sided lower confidence bound of the effect, at the FCR-adjusted level
    /// `1 - q · R / m` (R = BH rejections among m), must exceed τ. Guarantees
    /// P(fail | true slowdown ≤ τ) ≤ q at the cost of power near τ.
    LowerBound,
}

/// When the same-binary sentinel says the environment cannot be trusted.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SentinelRule {
    /// Two-sided Wilcoxon level: under [`BandTest::Estimate`] a sentinel with `p < alpha` is
    /// out of band (default 0.01). [`BandTest::Interval`] ignores it: a shift that is
    /// significant but inside the band (precise blocks find 0.1 % ones) is far below every τ
    /// and does not make the run untrustworthy.
    pub alpha: f64,
    /// Largest tolerated change of a sentinel, as a fraction (default 0.005 = 0.5 %, half the
    /// default τ floor); how it is tested: [`SentinelRule::band_test`].
    pub band: f64,
    /// What must lie beyond the band (default: the whole interval).
    #[serde(default)]
    pub band_test: BandTest,
}

impl Default for SentinelRule {
    fn default() -> Self {
        SentinelRule {
            alpha: 0.01,
            band: 0.005,
            band_test: BandTest::Interval,
        }
    }
}

/// How a sentinel's change is held against its band.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BandTest {
    /// Out of band when the whole HL interval lies beyond ±band (whatever the p-value): evidence that the machine
    /// treated identical code differently by more than the band. A sentinel that is merely
    /// noisy stays in band, because the benchmarks' own tests already pay for that noise
    /// (their p-values grow with it); what they cannot see is a bias between the sides.
    #[default]
    Interval,
    /// Out of band when the point estimate lies beyond ±band. Strict: on a noisy machine the
    /// estimate of 8–16 blocks leaves a 0.5 % band by chance in most runs (calibration on
    /// 2026-12-02: 55–65 % of replays inconclusive).
    Estimate,
}

impl SentinelRule {
    /// Whether a sentinel with this HL change, interval and two-sided p is in band.
    pub fn in_band(&self, change: f64, lower: f64, upper: f64, p: f64) -> bool {
        match self.band_test {
            BandTest::Interval => !(lower > self.band || upper < -self.band),
            BandTest::Estimate => change.abs() <= self.band && p >= self.alpha,
        }
    }
}

/// Calibrated per-benchmark noise: the standard deviation of a benchmark's A/A′ effect
/// (two builds of the same code), in log-ratio units (≈ a fraction: 0.004 = 0.4 %).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoiseModel {
    /// Noise per benchmark id.
    pub per_benchmark: BTreeMap<String, f64>,
}

impl NoiseModel {
    /// Estimates one benchmark's noise from repeated A/A′ effects (HL estimates of `ln(b/a)` for
    /// builds of identical code): the root mean square, since their true value is 0.
    pub fn noise_from_null_effects(effects: &[f64]) -> Option<f64> {
        if effects.is_empty() || effects.iter().any(|e| !e.is_finite()) {
            return None;
        }
        Some((effects.iter().map(|e| e * e).sum::<f64>() / effects.len() as f64).sqrt())
    }
}

/// What to do with a benchmark measured on one side only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MissingPolicy {
    /// Report an explicit `missing` row; the run outcome ignores it (default: adding or removing
    /// a benchmark in a PR is legitimate and must not block it).
    Report,
    /// A missing row makes the whole run inconclusive.
    Inconclusive,
}

/// The decision rule's parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JudgeConfig {
    /// Benjamini–Hochberg false discovery rate across the run's benchmarks (default 0.01).
    pub q: f64,
    /// Smallest practical threshold τ, as a fraction (default 0.01 = 1 %).
    pub tau_floor: f64,
    /// τ = max(`tau_floor`, `noise_multiplier` · calibrated noise) (default 2).
    pub noise_multiplier: f64,
    /// Calibrated noise per benchmark; benchmarks without an entry use `tau_floor`.
    pub noise: NoiseModel,
    /// Which effect statistic must exceed τ (default [`EffectRule::PointEstimate`]).
    pub effect_rule: EffectRule,
    /// Level of the reported two-sided intervals (default 0.95).
    pub ci_level: f64,
    /// Sentinel band.
    pub sentinel: SentinelRule,
    /// Largest tolerated steal-time fraction before the run is inconclusive (default 0.05).
    pub max_steal_fraction: f64,
    /// Treatment of benchmarks missing on one side.
    pub missing: MissingPolicy,
}

impl Default for JudgeConfig {
    fn default() -> Self {
        JudgeConfig {
            q: 0.01,
            tau_floor: 0.01,
            noise_multiplier: 2.0,
            noise: NoiseModel::default(),
            effect_rule: EffectRule::PointEstimate,
            ci_level: 0.95,
            sentinel: SentinelRule::default(),
            max_steal_fraction: 0.05,
            missing: MissingPolicy::Report,
        }
    }
}

/// `Ok` when `ok`, else the error that names parameter `name`, its `value` and what was
/// `expected`.
pub(crate) fn check_param(
    name: &'static str,
    value: f64,
    ok: bool,
    expected: &'static str,
) -> Result<()> {
    if ok {
        Ok(())
    } else {
        Err(RegressError::InvalidConfig {
            name,
            value,
            expected,
        })
    }
}

impl JudgeConfig {
    /// Checks every parameter's domain.
    pub fn validate(&self) -> Result<()> {
        let open01 = |name, value: f64, expected| {
            check_param(name, value, value > 0.0 && value < 1.0, expected)
        };
        open01("q", self.q, "a false discovery rate in (0, 1), e.g. 0.01")?;
        open01(
            "ci_level",
            self.ci_level,
            "a confidence level in (0, 1), e.g. 0.95",
        )?;
        open01(
            "sentinel.alpha",
            self.sentinel.alpha,
            "a significance level in (0, 1), e.g. 0.01",
        )?;
        let nonneg = |name, value: f64, expected| {
            check_param(name, value, value.is_finite() && value >= 0.0, expected)
        };
        nonneg(
            "tau_floor",
            self.tau_floor,
            "a non-negative fraction, e.g. 0.01 for 1 %",
        )?;
        nonneg(
            "noise_multiplier",
            self.noise_multiplier,
            "a non-negative factor, e.g. 2",
        )?;
        nonneg(
            "sentinel.band",
            self.sentinel.band,
            "a non-negative fraction, e.g. 0.005",
        )?;
        nonneg(
            "max_steal_fraction",
            self.max_steal_fraction,
            "a fraction, e.g. 0.05",
        )?;
        for &sigma in self.noise.per_benchmark.values() {
            nonneg(
                "noise",
                sigma,
                "a non-negative log-ratio standard deviation per benchmark",
            )?;
        }
        Ok(())
    }

    /// The threshold τ of a benchmark (a fraction) and its calibrated noise, if any.
    pub fn threshold(&self, id: &str) -> (f64, Option<f64>) {
        let noise = self.noise.per_benchmark.get(id).copied();
        let tau = noise.map_or(self.tau_floor, |s| {
            self.tau_floor.max(self.noise_multiplier * s)
        });
        (tau, noise)
    }

    /// Fewest blocks with which a lone regression among `family` benchmarks can pass BH at `q`:
    /// the smallest `K` with `2^-K ≤ q / family`.
    pub fn min_blocks(&self, family: usize) -> usize {
        let family = family.max(1) as f64;
        (family / self.q).log2().ceil().max(1.0) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentinel_band_needs_evidence_by_default() {
        let rule = SentinelRule::default();
        // noisy but centred: in band (the benchmarks' tests pay for the noise)
        assert!(rule.in_band(0.012, -0.02, 0.04, 0.4));
        // the whole interval beyond +0.5 %: the sides were treated differently
        assert!(!rule.in_band(0.02, 0.006, 0.04, 0.02));
        assert!(!rule.in_band(-0.02, -0.04, -0.006, 0.02));
        // significant but inside the band: harmless next to any τ
        assert!(rule.in_band(0.001, 0.0005, 0.002, 0.001));
        let strict = SentinelRule {
            band_test: BandTest::Estimate,
            ..rule
        };
        assert!(!strict.in_band(0.012, -0.02, 0.04, 0.4));
        assert!(strict.in_band(0.004, -0.02, 0.03, 0.4));
        assert!(!strict.in_band(0.001, 0.0005, 0.002, 0.001));
    }

    #[test]
    fn thresholds_and_block_requirements() {
        let mut c = JudgeConfig::default();
        c.noise.per_benchmark.insert("noisy".into(), 0.008);
        c.noise.per_benchmark.insert("quiet".into(), 0.001);
        assert_eq!(c.threshold("noisy"), (0.016, Some(0.008)));
        assert_eq!(c.threshold("quiet"), (0.01, Some(0.001)));
        assert_eq!(c.threshold("other"), (0.01, None));
        // m = 100, q = 0.01: 2^-14 = 6.1e-5 <= 1e-4 < 2^-13
        assert_eq!(c.min_blocks(100), 14);
        assert_eq!(c.min_blocks(50), 13);
        assert_eq!(c.min_blocks(1), 7);
        assert!(c.validate().is_ok());
        c.q = 0.0;
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .contains("`q` = 0 is out of range")
        );
    }

    #[test]
    fn noise_is_rms_of_null_effects() {
        assert_eq!(
            NoiseModel::noise_from_null_effects(&[0.003, -0.004]),
            Some((12.5e-6f64).sqrt())
        );
        assert_eq!(NoiseModel::noise_from_null_effects(&[]), None);
    }
}
