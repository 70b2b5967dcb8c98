//! Confidence intervals.

use serde::{Deserialize, Serialize};

/// A two-sided confidence interval `[lower, upper]` at nominal `level` (e.g. 0.95).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfidenceInterval {
    /// Lower bound.
    pub lower: f64,
    /// Upper bound.
    pub upper: f64,
    /// Nominal confidence level in `(0, 1)`.
    pub level: f64,
}

impl ConfidenceInterval {
    /// Whether `x` lies inside the closed interval.
    pub fn contains(&self, x: f64) -> bool {
        self.lower <= x && x <= self.upper
    }

    /// `upper - lower`.
    pub fn width(&self) -> f64 {
        self.upper - self.lower
    }

    /// Applies a monotone increasing map to both bounds (e.g. `f64::exp` to go from log-ratios
    /// to ratios).
    pub fn map(&self, f: impl Fn(f64) -> f64) -> ConfidenceInterval {
        ConfidenceInterval {
            lower: f(self.lower),
            upper: f(self.upper),
            level: self.level,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contains_and_maps() {
        let ci = ConfidenceInterval {
            lower: -1.0,
            upper: 2.0,
            level: 0.9,
        };
        assert!(ci.contains(0.0) && ci.contains(2.0) && !ci.contains(2.5));
        assert_eq!(ci.width(), 3.0);
        let doubled = ci.map(|x| 2.0 * x);
        assert_eq!(
            (doubled.lower, doubled.upper, doubled.level),
            (-2.0, 4.0, 0.9)
        );
    }
}
