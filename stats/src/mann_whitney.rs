//! Mann–Whitney U (Wilcoxon rank-sum) test for two independent samples, with the
//! Hodges–Lehmann shift estimate.
//!
//! `U` counts, over all pairs, how often `x_i > y_j` (ties count ½). For `n_x + n_y ≤`
//! [`EXACT_LIMIT`] the p-value comes from the exact permutation distribution of the mid-ranks
//! (ties handled exactly, by dynamic programming over doubled rank sums); above it, from the
//! normal approximation with the tie-corrected variance
//! `n_x n_y / 12 · ((N + 1) - Σ(t³ - t) / (N (N - 1)))` and a continuity correction of ½.
//!
//! Use it only when the samples are independent replicates (e.g. per-process summaries); for
//! paired A/B blocks use [`crate::wilcoxon`].

use statrs::distribution::{ContinuousCDF, Normal};

use crate::alternative::{Alternative, Method, PValues};
use crate::error::{Result, check_samples};
use crate::ranks::Ranks;
use crate::summary::quantile_sorted;

/// Largest combined sample size for which the exact distribution is used.
pub const EXACT_LIMIT: usize = 50;

/// The outcome of a Mann–Whitney test of `x` against `y`.
#[derive(Debug, Clone, PartialEq)]
pub struct MannWhitney {
    /// `U` of `x`: `#(x_i > y_j) + ½ · #(x_i = y_j)`.
    pub u: f64,
    /// Size of `x`.
    pub n_x: usize,
    /// Size of `y`.
    pub n_y: usize,
    /// Exact or normal approximation.
    pub method: Method,
    /// One-sided p-values (greater: `x` tends to be larger than `y`).
    pub p: PValues,
    /// Hodges–Lehmann shift: the median of all `x_i - y_j`.
    pub shift: f64,
}

impl MannWhitney {
    /// Tests `x` against `y` (each at least one finite value).
    pub fn test(x: &[f64], y: &[f64]) -> Result<MannWhitney> {
        check_samples("mann-whitney: x", x, 1)?;
        check_samples("mann-whitney: y", y, 1)?;
        let (n_x, n_y) = (x.len(), y.len());
        let pooled: Vec<f64> = x.iter().chain(y).copied().collect();
        let ranks = Ranks::of(&pooled);
        let r2: u64 = ranks.doubled[..n_x].iter().sum();
        // U = R - n_x (n_x + 1) / 2, with R = r2 / 2
        let u = r2 as f64 / 2.0 - (n_x * (n_x + 1)) as f64 / 2.0;
        let n = n_x + n_y;
        let (method, p) = if n <= EXACT_LIMIT {
            let counts = rank_sum_counts(&ranks.doubled, n_x);
            let total: f64 = counts.iter().map(|&c| c as f64).sum();
            let upper: f64 = counts[r2 as usize..].iter().map(|&c| c as f64).sum();
            let lower: f64 = counts[..=r2 as usize].iter().map(|&c| c as f64).sum();
            (
                Method::Exact,
                PValues::clamped(upper / total, lower / total),
            )
        } else {
            let (nx, ny, nf) = (n_x as f64, n_y as f64, n as f64);
            let mean = nx * ny / 2.0;
            let var = nx * ny / 12.0 * ((nf + 1.0) - ranks.tie_term() / (nf * (nf - 1.0)));
            let sd = var.sqrt();
            let normal = Normal::standard();
            let p = if sd > 0.0 {
                PValues::clamped(
                    normal.sf((u - mean - 0.5) / sd),
                    normal.cdf((u - mean + 0.5) / sd),
                )
            } else {
                PValues {
                    greater: 1.0,
                    less: 1.0,
                }
            };
            (Method::Normal, p)
        };
        let mut diffs: Vec<f64> = x
            .iter()
            .flat_map(|&a| y.iter().map(move |&b| a - b))
            .collect();
        diffs.sort_by(f64::total_cmp);
        let shift = quantile_sorted(&diffs, 0.5);
        Ok(MannWhitney {
            u,
            n_x,
            n_y,
            method,
            p,
            shift,
        })
    }

    /// The p-value for `alternative` (`Greater`: `x` tends to be larger than `y`).
    pub fn p_value(&self, alternative: Alternative) -> f64 {
        self.p.get(alternative)
    }
}

/// Counts of ways to choose `k` of the items by doubled rank sum of the chosen ones.
fn rank_sum_counts(doubled: &[u64], k: usize) -> Vec<u64> {
    let total: u64 = doubled.iter().sum();
    let width = total as usize + 1;
    // table[j * width + s]: ways to pick j items with doubled sum s
    let mut table = vec![0u64; (k + 1) * width];
    table[0] = 1;
    let mut reach = 0usize;
    for (i, &r) in doubled.iter().enumerate() {
        let r = r as usize;
        reach += r;
        for j in (1..=k.min(i + 1)).rev() {
            for s in (r..=reach).rev() {
                let from = table[(j - 1) * width + s - r];
                table[j * width + s] += from;
            }
        }
    }
    table[k * width..].to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn complete_separation_exact() {
        // x all above y: U = 12, P(greater) = 1 / C(7, 3) = 1/35
        let t = MannWhitney::test(&[10.0, 11.0, 12.0], &[1.0, 2.0, 3.0, 4.0]).unwrap();
        assert_eq!(t.u, 12.0);
        assert_eq!(t.method, Method::Exact);
        assert!((t.p_value(Alternative::Greater) - 1.0 / 35.0).abs() < 1e-15);
        assert!((t.p_value(Alternative::TwoSided) - 2.0 / 35.0).abs() < 1e-15);
        assert_eq!(t.p_value(Alternative::Less), 1.0);
        // the 12 differences x_i - y_j run 6..=11; their median is 8.5
        assert_eq!(t.shift, 8.5);
    }

    #[test]
    fn exact_with_ties_matches_enumeration() {
        let x = [1.0, 2.0, 2.0, 3.0];
        let y = [2.0, 3.0, 3.0, 0.5, 4.0];
        let t = MannWhitney::test(&x, &y).unwrap();
        // enumerate all C(9, 4) labelings of the pooled mid-ranks
        let pooled: Vec<f64> = x.iter().chain(&y).copied().collect();
        let ranks = Ranks::of(&pooled);
        let obs: u64 = ranks.doubled[..4].iter().sum();
        let (mut ge, mut le, mut total) = (0u32, 0u32, 0u32);
        for mask in 0u32..(1 << 9) {
            if mask.count_ones() == 4 {
                let s: u64 = (0..9)
                    .filter(|i| mask >> i & 1 == 1)
                    .map(|i| ranks.doubled[i])
                    .sum();
                ge += u32::from(s >= obs);
                le += u32::from(s <= obs);
                total += 1;
            }
        }
        assert_eq!(
            t.p_value(Alternative::Greater),
            f64::from(ge) / f64::from(total)
        );
        assert_eq!(
            t.p_value(Alternative::Less),
            f64::from(le) / f64::from(total)
        );
        // U from the rank formula equals the direct pair count
        let direct: f64 = x
            .iter()
            .flat_map(|a| {
                y.iter().map(move |b| {
                    if a > b {
                        1.0
                    } else if a == b {
                        0.5
                    } else {
                        0.0
                    }
                })
            })
            .sum();
        assert_eq!(t.u, direct);
    }

    #[test]
    fn matches_scipy_normal_approximation() {
        // x = 0..30, y = 5..35 (both step 1): scipy.stats.mannwhitneyu(x, y, alternative="less",
        // method="asymptotic", use_continuity=True) -> U = 312.5, p = 0.02137368.
        let x: Vec<f64> = (0..30).map(f64::from).collect();
        let y: Vec<f64> = (5..35).map(f64::from).collect();
        let t = MannWhitney::test(&x, &y).unwrap();
        assert_eq!(t.method, Method::Normal);
        assert_eq!(t.u, 312.5);
        assert!(
            (t.p_value(Alternative::Less) - 0.02137368).abs() < 1e-7,
            "{}",
            t.p_value(Alternative::Less)
        );
        assert_eq!(t.shift, -5.0);
    }
}
