//! Samples and their descriptive summary.
//!
//! # Percentile definition
//! Percentiles interpolate linearly between order statistics (Hyndman & Fan type 7, the default
//! of R's `quantile` and NumPy's `percentile`): for sorted values `x[0..n]` and `p` in `[0, 100]`,
//! let `h = (n - 1) · p / 100`; the percentile is `x[⌊h⌋] + (h - ⌊h⌋) · (x[⌊h⌋ + 1] - x[⌊h⌋])`.
//! So the 0th percentile is the minimum, the 100th the maximum and the 50th the median.

use serde::{Deserialize, Serialize};

use crate::error::{Result, StatsError, check_samples};

/// Percentiles reported by [`Samples::summary`].
pub const DEFAULT_PERCENTILES: [f64; 7] = [5.0, 25.0, 50.0, 75.0, 90.0, 95.0, 99.0];

/// A non-empty set of finite measurements (one unit, chosen by the caller).
#[derive(Debug, Clone, PartialEq)]
pub struct Samples {
    values: Vec<f64>,
}

impl Samples {
    /// Wraps `values`; fails on an empty vector or on a NaN or infinite value.
    pub fn new(values: Vec<f64>) -> Result<Self> {
        check_samples("samples", &values, 1)?;
        Ok(Samples { values })
    }

    /// The values in the order given.
    pub fn as_slice(&self) -> &[f64] {
        &self.values
    }

    /// Number of values (at least 1).
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Always false: a `Samples` is never empty. Present for API symmetry with slices.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The values sorted ascending.
    pub fn sorted(&self) -> Vec<f64> {
        let mut sorted = self.values.clone();
        sorted.sort_by(f64::total_cmp);
        sorted
    }

    /// Summary with the [`DEFAULT_PERCENTILES`].
    pub fn summary(&self) -> Summary {
        self.summary_with(&DEFAULT_PERCENTILES)
            .expect("default percentiles are in range")
    }

    /// Summary with the given percentiles (each in `[0, 100]`).
    pub fn summary_with(&self, percentiles: &[f64]) -> Result<Summary> {
        let sorted = self.sorted();
        let n = sorted.len();
        let mean = sorted.iter().sum::<f64>() / n as f64;
        let std_dev = if n > 1 {
            (sorted.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
        } else {
            0.0
        };
        let median = quantile_sorted(&sorted, 0.5);
        let percentiles = percentiles
            .iter()
            .map(|&p| {
                Ok(Percentile {
                    p,
                    value: percentile(&sorted, p)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Summary {
            n,
            mean,
            std_dev,
            min: sorted[0],
            max: sorted[n - 1],
            median,
            mad: mad_around(&sorted, median),
            percentiles,
        })
    }
}

impl TryFrom<Vec<f64>> for Samples {
    type Error = StatsError;

    fn try_from(values: Vec<f64>) -> Result<Self> {
        Samples::new(values)
    }
}

/// One percentile of a [`Summary`]: `value` is the `p`-th percentile (`p` in `[0, 100]`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Percentile {
    /// The percentile rank, in `[0, 100]`.
    pub p: f64,
    /// The interpolated value (see the module docs for the interpolation).
    pub value: f64,
}

/// Descriptive statistics of a [`Samples`], in the samples' unit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Summary {
    /// Number of samples.
    pub n: usize,
    /// Arithmetic mean.
    pub mean: f64,
    /// Sample standard deviation (divisor `n - 1`; 0 when `n = 1`).
    pub std_dev: f64,
    /// Smallest sample.
    pub min: f64,
    /// Largest sample.
    pub max: f64,
    /// Median (the 50th percentile).
    pub median: f64,
    /// Median absolute deviation from the median, unscaled (multiply by 1.4826 for a normal σ).
    pub mad: f64,
    /// Requested percentiles, in the order requested.
    pub percentiles: Vec<Percentile>,
}

impl Summary {
    /// The stored percentile `p`, if it was requested.
    pub fn percentile(&self, p: f64) -> Option<f64> {
        self.percentiles.iter().find(|x| x.p == p).map(|x| x.value)
    }

    /// The MAD scaled to estimate σ of a normal distribution (`1.4826 · mad`).
    pub fn mad_sigma(&self) -> f64 {
        MAD_TO_SIGMA * self.mad
    }
}

/// Factor that turns a MAD into a consistent estimate of a normal σ.
pub const MAD_TO_SIGMA: f64 = 1.482_602_218_505_602;

/// The `p`-th percentile (`p` in `[0, 100]`) of ascending `sorted` values (type 7 interpolation).
pub fn percentile(sorted: &[f64], p: f64) -> Result<f64> {
    check_samples("percentile", sorted, 1)?;
    if !(0.0..=100.0).contains(&p) {
        return Err(StatsError::InvalidParameter {
            name: "p",
            value: p,
            expected: "a percentile between 0 and 100",
        });
    }
    Ok(quantile_sorted(sorted, p / 100.0))
}

/// Median of any finite values (sorts a copy).
pub fn median(values: &[f64]) -> Result<f64> {
    check_samples("median", values, 1)?;
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    Ok(quantile_sorted(&sorted, 0.5))
}

/// Type-7 quantile of non-empty ascending values, `q` in `[0, 1]`.
pub(crate) fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    let h = (sorted.len() - 1) as f64 * q;
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(sorted.len() - 1);
    sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
}

/// Median absolute deviation from `center` of ascending values.
fn mad_around(sorted: &[f64], center: f64) -> f64 {
    let mut deviations: Vec<f64> = sorted.iter().map(|x| (x - center).abs()).collect();
    deviations.sort_by(f64::total_cmp);
    quantile_sorted(&deviations, 0.5)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_of_known_values() {
        let s = Samples::new(vec![4.0, 1.0, 3.0, 2.0, 10.0])
            .unwrap()
            .summary();
        assert_eq!(s.n, 5);
        assert_eq!(s.mean, 4.0);
        assert_eq!(s.min, 1.0);
        assert_eq!(s.max, 10.0);
        assert_eq!(s.median, 3.0);
        // |x - 3| = 1, 2, 0, 1, 7 -> median 1
        assert_eq!(s.mad, 1.0);
        // sample sd: squares 9 + 4 + 1 + 0 + 36 = 50 over 4
        assert!((s.std_dev - 12.5f64.sqrt()).abs() < 1e-12);
        assert_eq!(s.percentile(50.0), Some(3.0));
        assert_eq!(s.percentile(42.0), None);
    }

    #[test]
    fn percentile_interpolates_type_7() {
        let sorted = [1.0, 2.0, 3.0, 4.0];
        // h = 3 * 0.9 = 2.7 -> 3 + 0.7 * 1
        assert!((percentile(&sorted, 90.0).unwrap() - 3.7).abs() < 1e-12);
        assert_eq!(percentile(&sorted, 0.0).unwrap(), 1.0);
        assert_eq!(percentile(&sorted, 100.0).unwrap(), 4.0);
        assert_eq!(percentile(&sorted, 50.0).unwrap(), 2.5);
        assert!(percentile(&sorted, 101.0).is_err());
    }

    #[test]
    fn single_value_has_zero_spread() {
        let s = Samples::new(vec![7.0]).unwrap().summary();
        assert_eq!((s.std_dev, s.mad, s.median), (0.0, 0.0, 7.0));
    }

    #[test]
    fn rejects_empty_and_non_finite() {
        assert!(matches!(
            Samples::new(vec![]),
            Err(StatsError::TooFewSamples { .. })
        ));
        let err = Samples::new(vec![1.0, f64::NAN]).unwrap_err();
        assert!(err.to_string().contains("sample 1 is NaN"), "{err}");
    }

    #[test]
    fn summary_round_trips_through_json() {
        let s = Samples::new(vec![1.0, 2.0, 3.0]).unwrap().summary();
        let json = serde_json::to_string(&s).unwrap();
        assert!(json.contains("\"percentiles\":[{\"p\":5.0"), "{json}");
        assert_eq!(serde_json::from_str::<Summary>(&json).unwrap(), s);
    }
}
