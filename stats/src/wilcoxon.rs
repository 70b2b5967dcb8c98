//! Wilcoxon signed-rank test for paired differences (or one sample against 0).
//!
//! # Zeros and ties
//! - Zero differences are dropped before ranking (Wilcoxon's convention, R's and SciPy's default);
//!   [`SignedRank::zeros`] says how many.
//! - Tied absolute differences get mid-ranks. For `n ≤` [`EXACT_LIMIT`] non-zero differences the
//!   p-value comes from the exact permutation distribution of *those* mid-ranks (all `2^n` sign
//!   patterns, counted by dynamic programming over doubled rank sums), so ties are handled exactly.
//! - Above the limit: the normal approximation with the tie-corrected variance
//!   `n(n+1)(2n+1)/24 - Σ(t³ - t)/48` and a continuity correction of ½.
//!
//! The smallest attainable one-sided p-value is `2^-n` (all differences positive); a decision
//! rule that needs `p ≤ α` with `α < 2^-n` can never reject, whatever the data. See
//! [`SignedRank::min_p_value`].

use statrs::distribution::{ContinuousCDF, Normal};

use crate::alternative::{Alternative, Method, PValues};
use crate::error::{Result, check_samples};
use crate::ranks::Ranks;

/// Largest number of non-zero differences for which the exact distribution is used.
pub const EXACT_LIMIT: usize = 50;

/// The outcome of a signed-rank test on some differences.
#[derive(Debug, Clone, PartialEq)]
pub struct SignedRank {
    /// `W+`: the sum of the mid-ranks of the positive differences.
    pub w_plus: f64,
    /// Number of non-zero differences that were ranked.
    pub n: usize,
    /// Number of zero differences that were dropped.
    pub zeros: usize,
    /// Exact or normal approximation.
    pub method: Method,
    /// One-sided p-values (greater: differences tend to be positive).
    pub p: PValues,
    min_p: f64,
}

impl SignedRank {
    /// Runs the test on `diffs` (at least one finite value; zeros allowed).
    pub fn test(diffs: &[f64]) -> Result<SignedRank> {
        check_samples("wilcoxon signed-rank", diffs, 1)?;
        let nonzero: Vec<f64> = diffs.iter().copied().filter(|&d| d != 0.0).collect();
        let n = nonzero.len();
        let zeros = diffs.len() - n;
        if n == 0 {
            let p = PValues {
                greater: 1.0,
                less: 1.0,
            };
            return Ok(SignedRank {
                w_plus: 0.0,
                n,
                zeros,
                method: Method::Exact,
                p,
                min_p: 1.0,
            });
        }
        let abs: Vec<f64> = nonzero.iter().map(|d| d.abs()).collect();
        let ranks = Ranks::of(&abs);
        let w2: u64 = ranks
            .doubled
            .iter()
            .zip(&nonzero)
            .filter(|(_, d)| **d > 0.0)
            .map(|(r, _)| r)
            .sum();
        let w_plus = w2 as f64 / 2.0;
        if n <= EXACT_LIMIT {
            let counts = exact_null_counts(&ranks.doubled);
            let total = 2f64.powi(n as i32);
            let upper: u128 = counts[w2 as usize..].iter().map(|&c| c as u128).sum();
            let lower: u128 = counts[..=w2 as usize].iter().map(|&c| c as u128).sum();
            let p = PValues::clamped(upper as f64 / total, lower as f64 / total);
            Ok(SignedRank {
                w_plus,
                n,
                zeros,
                method: Method::Exact,
                p,
                min_p: 1.0 / total,
            })
        } else {
            let nf = n as f64;
            let mean = nf * (nf + 1.0) / 4.0;
            let var = nf * (nf + 1.0) * (2.0 * nf + 1.0) / 24.0 - ranks.tie_term() / 48.0;
            let sd = var.sqrt();
            let normal = Normal::standard();
            let greater_at = |w: f64| normal.sf((w - mean - 0.5) / sd);
            let p = PValues::clamped(greater_at(w_plus), normal.cdf((w_plus - mean + 0.5) / sd));
            let min_p = greater_at(nf * (nf + 1.0) / 2.0);
            Ok(SignedRank {
                w_plus,
                n,
                zeros,
                method: Method::Normal,
                p,
                min_p,
            })
        }
    }

    /// The p-value for `alternative` (`Greater`: the differences tend to be positive).
    pub fn p_value(&self, alternative: Alternative) -> f64 {
        self.p.get(alternative)
    }

    /// The smallest p-value this many non-zero differences could ever give for `alternative`
    /// (`2^-n` one-sided in the exact case).
    pub fn min_p_value(&self, alternative: Alternative) -> f64 {
        match alternative {
            Alternative::TwoSided => (2.0 * self.min_p).min(1.0),
            Alternative::Greater | Alternative::Less => self.min_p,
        }
    }
}

/// Counts of sign patterns by doubled rank sum: entry `s` is how many of the `2^n` patterns give
/// `2 · W+ = s`. Exact in `u64` for `n ≤ 63`.
pub(crate) fn exact_null_counts(doubled_ranks: &[u64]) -> Vec<u64> {
    let total: u64 = doubled_ranks.iter().sum();
    let mut counts = vec![0u64; total as usize + 1];
    counts[0] = 1;
    let mut reach = 0usize;
    for &r in doubled_ranks {
        let r = r as usize;
        reach += r;
        for s in (r..=reach).rev() {
            counts[s] += counts[s - r];
        }
    }
    counts
}

/// Null distribution of the untied signed-rank statistic `T+` for `n` observations, used for
/// the distribution-free Hodges–Lehmann bounds.
#[derive(Debug, Clone)]
pub(crate) enum UntiedNull {
    /// `cdf[t] = P(T+ ≤ t)` for `t = 0 ..= n(n+1)/2`.
    Exact(Vec<f64>),
    /// Normal approximation with continuity correction.
    Normal {
        /// `n(n+1)/4`.
        mean: f64,
        /// `sqrt(n(n+1)(2n+1)/24)`.
        sd: f64,
        /// `n(n+1)/2`.
        max: u64,
    },
}

impl UntiedNull {
    /// The distribution for `n ≥ 1` observations.
    pub fn new(n: usize) -> UntiedNull {
        if n <= EXACT_LIMIT {
            let doubled: Vec<u64> = (1..=n as u64).map(|r| 2 * r).collect();
            let counts = exact_null_counts(&doubled);
            let total = 2f64.powi(n as i32);
            let mut acc = 0u128;
            // only even doubled sums occur: entry 2t is T+ = t
            let cdf = counts
                .iter()
                .step_by(2)
                .map(|&c| {
                    acc += c as u128;
                    acc as f64 / total
                })
                .collect();
            UntiedNull::Exact(cdf)
        } else {
            let nf = n as f64;
            UntiedNull::Normal {
                mean: nf * (nf + 1.0) / 4.0,
                sd: (nf * (nf + 1.0) * (2.0 * nf + 1.0) / 24.0).sqrt(),
                max: (n * (n + 1) / 2) as u64,
            }
        }
    }

    /// `P(T+ ≤ t)`.
    pub fn cdf(&self, t: u64) -> f64 {
        match self {
            UntiedNull::Exact(cdf) => cdf[(t as usize).min(cdf.len() - 1)],
            UntiedNull::Normal { mean, sd, .. } => {
                Normal::standard().cdf((t as f64 + 0.5 - mean) / sd)
            }
        }
    }

    /// Number of `t ≥ 0` with `P(T+ ≤ t) ≤ alpha`: the 1-based index `k` of the Walsh-average
    /// order statistic that is a one-sided `1 - alpha` bound (0 when no bound reaches the level).
    pub fn count_at_most(&self, alpha: f64) -> usize {
        match self {
            UntiedNull::Exact(cdf) => cdf.partition_point(|&c| c <= alpha),
            UntiedNull::Normal { mean, sd, max } => {
                let z = Normal::standard().inverse_cdf(alpha);
                let t = (mean - 0.5 + sd * z).floor();
                if t < 0.0 {
                    0
                } else {
                    (t as u64).min(*max) as usize + 1
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// All 2^n sign patterns of `abs` (already ranked by hand): tail probabilities by enumeration.
    fn enumerate(doubled: &[u64], w2: u64) -> (f64, f64) {
        let n = doubled.len();
        let (mut ge, mut le) = (0u64, 0u64);
        for mask in 0u64..(1 << n) {
            let s: u64 = (0..n)
                .filter(|i| mask >> i & 1 == 1)
                .map(|i| doubled[i])
                .sum();
            ge += u64::from(s >= w2);
            le += u64::from(s <= w2);
        }
        let total = (1u64 << n) as f64;
        (ge as f64 / total, le as f64 / total)
    }

    #[test]
    fn exact_null_matches_enumeration_for_tiny_n() {
        // no ties, n = 1..=8: every observable W+ against brute force
        for n in 1..=8u64 {
            let doubled: Vec<u64> = (1..=n).map(|r| 2 * r).collect();
            let counts = exact_null_counts(&doubled);
            assert_eq!(counts.iter().sum::<u64>(), 1 << n);
            for (s, &c) in counts.iter().enumerate() {
                if c > 0 {
                    let (ge, le) = enumerate(&doubled, s as u64);
                    let upper: u64 = counts[s..].iter().sum();
                    let lower: u64 = counts[..=s].iter().sum();
                    assert_eq!(upper as f64 / (1u64 << n) as f64, ge);
                    assert_eq!(lower as f64 / (1u64 << n) as f64, le);
                }
            }
        }
    }

    #[test]
    fn known_table_values() {
        // n = 5, all positive: W+ = 15, P = 1/32
        let t = SignedRank::test(&[1.0, 2.0, 3.0, 4.0, 5.0]).unwrap();
        assert_eq!(t.w_plus, 15.0);
        assert_eq!(t.p_value(Alternative::Greater), 1.0 / 32.0);
        assert_eq!(t.p_value(Alternative::TwoSided), 2.0 / 32.0);
        assert_eq!(t.min_p_value(Alternative::Greater), 1.0 / 32.0);
        // n = 10 untied: P(T+ <= 8) = 25/1024 (standard table: critical value 8 at one-sided 0.025)
        let null = UntiedNull::new(10);
        assert!((null.cdf(8) - 25.0 / 1024.0).abs() < 1e-15);
        assert!((null.cdf(10) - 43.0 / 1024.0).abs() < 1e-15);
    }

    #[test]
    fn ties_and_zeros_match_enumeration() {
        // zeros dropped; |d| = 1,1,2,3,3,3 -> mid-ranks 1.5,1.5,3,5,5,5
        let diffs = [0.0, 1.0, -1.0, 2.0, -3.0, 3.0, 3.0, 0.0];
        let t = SignedRank::test(&diffs).unwrap();
        assert_eq!((t.n, t.zeros), (6, 2));
        assert_eq!(t.w_plus, 1.5 + 3.0 + 5.0 + 5.0);
        let (ge, le) = enumerate(&[3, 3, 6, 10, 10, 10], 29);
        assert_eq!(t.p_value(Alternative::Greater), ge);
        assert_eq!(t.p_value(Alternative::Less), le);
    }

    #[test]
    fn matches_scipy_normal_approximation() {
        // 60 differences 1..=60 with every 4th negated; reference: scipy.stats.wilcoxon(d,
        // alternative="greater", method="approx", correction=True) -> W+ = 1350, p = 6.904436e-4.
        let d: Vec<f64> = (1..=60)
            .map(|i| if i % 4 == 0 { -(i as f64) } else { i as f64 })
            .collect();
        let t = SignedRank::test(&d).unwrap();
        assert_eq!(t.method, Method::Normal);
        assert_eq!(t.w_plus, 1350.0);
        let p = t.p_value(Alternative::Greater);
        assert!((p - 6.904436e-4).abs() < 1e-9, "{p}");
    }

    #[test]
    fn all_zeros_is_not_significant() {
        let t = SignedRank::test(&[0.0, 0.0]).unwrap();
        assert_eq!(
            (
                t.n,
                t.p_value(Alternative::Greater),
                t.min_p_value(Alternative::Less)
            ),
            (0, 1.0, 1.0)
        );
    }

    #[test]
    fn count_at_most_normal_is_close_to_exact() {
        let exact = UntiedNull::new(50);
        let nf = 50.0f64;
        let normal = UntiedNull::Normal {
            mean: nf * (nf + 1.0) / 4.0,
            sd: (nf * (nf + 1.0) * (2.0 * nf + 1.0) / 24.0).sqrt(),
            max: 1275,
        };
        // the normal choice of order statistic has an exact tail probability close to alpha
        for alpha in [0.001, 0.01, 0.025, 0.05] {
            let k = normal.count_at_most(alpha) as u64;
            let exact_tail = exact.cdf(k - 1);
            // (slightly conservative in the far tail: 0.00077 at alpha = 0.001)
            assert!(
                exact_tail <= 1.1 * alpha && exact_tail >= 0.7 * alpha,
                "alpha {alpha}: exact tail {exact_tail}"
            );
            assert!(exact.count_at_most(alpha).abs_diff(k as usize) <= 10);
        }
    }
}
