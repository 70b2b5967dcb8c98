//! Welch's unequal-variance t-test for two independent samples.
//!
//! `t = (mean_x - mean_y) / sqrt(s_x²/n_x + s_y²/n_y)` with Welch–Satterthwaite degrees of
//! freedom `(s_x²/n_x + s_y²/n_y)² / ((s_x²/n_x)²/(n_x-1) + (s_y²/n_y)²/(n_y-1))`; p-values from
//! `statrs`' Student t. Means are sensitive to the heavy tails of timing noise: prefer the rank
//! tests for gating and use this as a cross-check (e.g. on log-times of per-process summaries).

use statrs::distribution::{ContinuousCDF, StudentsT};

use crate::alternative::{Alternative, Method, PValues};
use crate::error::{Result, StatsError, check_samples};

/// The outcome of Welch's t-test of `x` against `y`.
#[derive(Debug, Clone, PartialEq)]
pub struct Welch {
    /// The t statistic.
    pub t: f64,
    /// Welch–Satterthwaite degrees of freedom.
    pub df: f64,
    /// `mean(x) - mean(y)`.
    pub mean_difference: f64,
    /// Standard error of the difference.
    pub std_error: f64,
    /// Always [`Method::StudentT`].
    pub method: Method,
    /// One-sided p-values (greater: `mean(x) > mean(y)`).
    pub p: PValues,
}

impl Welch {
    /// Tests `x` against `y` (each at least two finite values, not both constant).
    pub fn test(x: &[f64], y: &[f64]) -> Result<Welch> {
        check_samples("welch: x", x, 2)?;
        check_samples("welch: y", y, 2)?;
        let (mx, vx) = mean_var(x);
        let (my, vy) = mean_var(y);
        let (ax, ay) = (vx / x.len() as f64, vy / y.len() as f64);
        let se2 = ax + ay;
        if se2 <= 0.0 {
            return Err(StatsError::ZeroVariance { what: "welch" });
        }
        let std_error = se2.sqrt();
        let t = (mx - my) / std_error;
        let df = se2 * se2 / (ax * ax / (x.len() - 1) as f64 + ay * ay / (y.len() - 1) as f64);
        let dist = StudentsT::new(0.0, 1.0, df).map_err(|_| StatsError::InvalidParameter {
            name: "df",
            value: df,
            expected: "positive degrees of freedom",
        })?;
        let p = PValues::clamped(dist.sf(t), dist.cdf(t));
        Ok(Welch {
            t,
            df,
            mean_difference: mx - my,
            std_error,
            method: Method::StudentT,
            p,
        })
    }

    /// The p-value for `alternative` (`Greater`: `mean(x) > mean(y)`).
    pub fn p_value(&self, alternative: Alternative) -> f64 {
        self.p.get(alternative)
    }
}

/// Mean and sample variance (divisor `n - 1`).
fn mean_var(x: &[f64]) -> (f64, f64) {
    let n = x.len() as f64;
    let mean = x.iter().sum::<f64>() / n;
    let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, var)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The two worked examples of the Wikipedia article "Welch's t-test" (samples A1/A2 and
    /// B1/B2). Published: t = -2.46, ν ≈ 25.0, p = 0.021; and t = -1.57, ν = 9.9, p = 0.149.
    /// Full-precision references from `scipy.stats.ttest_ind(equal_var=False)`.
    #[test]
    fn textbook_examples() {
        let a1 = [
            27.5, 21.0, 19.0, 23.6, 17.0, 17.9, 16.9, 20.1, 21.9, 22.6, 23.1, 19.6, 19.0, 21.7,
            21.4,
        ];
        let a2 = [
            27.1, 22.0, 20.8, 23.4, 23.4, 23.5, 25.8, 22.0, 24.8, 20.2, 21.9, 22.1, 22.9, 20.5,
            24.4,
        ];
        let w = Welch::test(&a1, &a2).unwrap();
        assert!((w.t - -2.455356398286006).abs() < 1e-9, "{}", w.t);
        assert!((w.df - 24.988529290231416).abs() < 1e-9, "{}", w.df);
        assert!((w.p_value(Alternative::TwoSided) - 0.021378001462866992).abs() < 1e-9);
        assert!((w.p_value(Alternative::Less) - 0.010689000731433496).abs() < 1e-9);

        let b1 = [17.2, 20.9, 22.6, 18.1, 21.7, 21.4, 23.5, 24.2, 14.7, 21.8];
        let b2 = [
            21.5, 22.8, 21.0, 23.0, 21.6, 23.6, 22.5, 20.7, 23.4, 21.8, 20.7, 21.7, 21.5, 22.5,
            23.6, 21.5, 22.5, 23.5, 21.5, 21.8,
        ];
        let w = Welch::test(&b1, &b2).unwrap();
        assert!((w.t - -1.5654335235985037).abs() < 1e-9);
        assert!((w.df - 9.904741248650831).abs() < 1e-9);
        assert!((w.p_value(Alternative::TwoSided) - 0.14884169660532817).abs() < 1e-9);
    }

    #[test]
    fn rejects_degenerate_input() {
        assert!(matches!(
            Welch::test(&[1.0], &[1.0, 2.0]),
            Err(StatsError::TooFewSamples { .. })
        ));
        assert!(matches!(
            Welch::test(&[1.0, 1.0], &[2.0, 2.0]),
            Err(StatsError::ZeroVariance { .. })
        ));
    }
}
