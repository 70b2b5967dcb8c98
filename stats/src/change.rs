//! A relative change summarised from paired log-ratios.
//!
//! Input: one `ln(new / old)` per independent paired block (for timings: `ln(head / base)`, so
//! positive means slower). The ratio is `exp` of the Hodges–Lehmann estimate of the log-ratios,
//! and its interval is `exp` of the distribution-free Walsh-average interval. The verdict uses
//! criterion's shape of rule, with honest block-level replication: the *whole* interval must lie
//! beyond the noise band `±noise` for the change to count.

use serde::{Deserialize, Serialize};

use crate::error::{Result, StatsError};
use crate::hodges_lehmann::WalshAverages;
use crate::interval::ConfidenceInterval;

/// What a [`Change`] says about the measured quantity (a time: larger is slower).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeVerdict {
    /// The whole interval is above `1 + noise`.
    Increased,
    /// The whole interval is below `1 - noise`.
    Decreased,
    /// The interval overlaps the noise band.
    WithinNoise,
    /// Too few blocks for an interval at the requested level.
    TooFewBlocks,
}

/// How to classify a change.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeRule {
    /// Confidence level of the interval (0.95 by default).
    pub level: f64,
    /// Half-width of the noise band as a fraction (0.01 = ±1 %, the default).
    pub noise: f64,
}

impl Default for ChangeRule {
    fn default() -> Self {
        ChangeRule {
            level: 0.95,
            noise: 0.01,
        }
    }
}

/// A relative change `new / old` with its interval and verdict.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Change {
    /// Estimated ratio `new / old` (1.02 = 2 % larger).
    pub ratio: f64,
    /// Interval of the ratio.
    pub ci: ConfidenceInterval,
    /// Classification under the rule used.
    pub verdict: ChangeVerdict,
    /// Number of blocks.
    pub blocks: usize,
}

impl Change {
    /// Summarises per-block `ln(new / old)` values under `rule`.
    pub fn from_log_ratios(log_ratios: &[f64], rule: &ChangeRule) -> Result<Change> {
        if !(rule.noise >= 0.0 && rule.noise < 1.0) {
            return Err(StatsError::InvalidParameter {
                name: "noise",
                value: rule.noise,
                expected: "a noise band fraction in [0, 1), e.g. 0.01",
            });
        }
        let walsh = WalshAverages::new(log_ratios)?;
        let hl = walsh.interval(rule.level)?;
        let ci = hl.ci.map(f64::exp);
        let verdict = if hl.coverage < rule.level {
            ChangeVerdict::TooFewBlocks
        } else if ci.lower > 1.0 + rule.noise {
            ChangeVerdict::Increased
        } else if ci.upper < 1.0 - rule.noise {
            ChangeVerdict::Decreased
        } else {
            ChangeVerdict::WithinNoise
        };
        Ok(Change {
            ratio: hl.estimate.exp(),
            ci,
            verdict,
            blocks: walsh.n(),
        })
    }

    /// The change in percent: `(ratio - 1) · 100`.
    pub fn percent(&self) -> f64 {
        (self.ratio - 1.0) * 100.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_clear_and_unclear_changes() {
        let rule = ChangeRule::default();
        let up: Vec<f64> = (0..12).map(|i| 0.05 + 0.001 * f64::from(i % 3)).collect();
        let c = Change::from_log_ratios(&up, &rule).unwrap();
        assert_eq!(c.verdict, ChangeVerdict::Increased);
        // HL of the log-ratios is 0.051: exp(0.051) - 1 = 5.23 %
        assert!((c.percent() - 5.2323).abs() < 1e-3, "{}", c.percent());

        let down: Vec<f64> = up.iter().map(|x| -x).collect();
        assert_eq!(
            Change::from_log_ratios(&down, &rule).unwrap().verdict,
            ChangeVerdict::Decreased
        );

        let flat: Vec<f64> = (0..12).map(|i| 0.002 * f64::from(i % 5) - 0.004).collect();
        assert_eq!(
            Change::from_log_ratios(&flat, &rule).unwrap().verdict,
            ChangeVerdict::WithinNoise
        );

        let few = [0.2, 0.3, 0.25];
        assert_eq!(
            Change::from_log_ratios(&few, &rule).unwrap().verdict,
            ChangeVerdict::TooFewBlocks
        );
    }
}
