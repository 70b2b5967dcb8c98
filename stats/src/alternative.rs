//! Alternative hypotheses and one-sided p-value pairs shared by the tests.

use serde::{Deserialize, Serialize};

/// Which departure from the null hypothesis a test looks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Alternative {
    /// The location (difference, shift) is greater than zero.
    Greater,
    /// The location is less than zero.
    Less,
    /// The location differs from zero in either direction.
    TwoSided,
}

/// How a p-value was computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// From the exact permutation distribution of the statistic (ties included).
    Exact,
    /// From a normal approximation with tie and continuity corrections.
    Normal,
    /// From a Student t distribution.
    StudentT,
}

/// The two one-sided p-values of a test; the two-sided one is derived from them.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PValues {
    /// P-value for [`Alternative::Greater`].
    pub greater: f64,
    /// P-value for [`Alternative::Less`].
    pub less: f64,
}

impl PValues {
    /// The p-value for `alternative`; the two-sided value is `min(1, 2 · min(greater, less))`.
    pub fn get(&self, alternative: Alternative) -> f64 {
        match alternative {
            Alternative::Greater => self.greater,
            Alternative::Less => self.less,
            Alternative::TwoSided => (2.0 * self.greater.min(self.less)).min(1.0),
        }
    }

    /// Clamps both values to `[0, 1]` (guards against rounding in sums of probabilities).
    pub(crate) fn clamped(greater: f64, less: f64) -> PValues {
        PValues {
            greater: greater.clamp(0.0, 1.0),
            less: less.clamp(0.0, 1.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_sided_doubles_the_smaller_tail() {
        let p = PValues {
            greater: 0.02,
            less: 0.99,
        };
        assert_eq!(p.get(Alternative::Greater), 0.02);
        assert_eq!(p.get(Alternative::TwoSided), 0.04);
        assert_eq!(
            PValues {
                greater: 0.7,
                less: 0.6
            }
            .get(Alternative::TwoSided),
            1.0
        );
    }
}
