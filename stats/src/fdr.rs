//! Benjamini–Hochberg control of the false discovery rate across a family of tests.
//!
//! Sort the `m` p-values ascending, `p_(1) ≤ … ≤ p_(m)`; the BH-adjusted value of `p_(i)` is
//! `min over j ≥ i of min(1, m · p_(j) / j)`. Rejecting every hypothesis whose adjusted value
//! is `≤ q` is the step-up procedure: reject the `k` smallest, with `k` the largest `i` such
//! that `p_(i) ≤ i · q / m`. It controls the FDR at `q` for independent or positively dependent
//! tests; when every null is true (an A/A run) FDR equals the family-wise error rate.

use crate::error::{Result, StatsError};

/// Adjusted p-values and rejections of one family at level `q`.
#[derive(Debug, Clone, PartialEq)]
pub struct BhDecision {
    /// Adjusted p-values, in input order.
    pub adjusted: Vec<f64>,
    /// Whether each hypothesis is rejected (`adjusted ≤ q`), in input order.
    pub rejected: Vec<bool>,
    /// The FDR level used.
    pub q: f64,
}

impl BhDecision {
    /// Number of rejected hypotheses.
    pub fn rejections(&self) -> usize {
        self.rejected.iter().filter(|&&r| r).count()
    }
}

/// Benjamini–Hochberg adjusted p-values, in input order. Each p must be in `[0, 1]`.
pub fn benjamini_hochberg(p_values: &[f64]) -> Result<Vec<f64>> {
    if let Some(&p) = p_values.iter().find(|p| !(0.0..=1.0).contains(*p)) {
        return Err(StatsError::InvalidParameter {
            name: "p_value",
            value: p,
            expected: "a probability between 0 and 1",
        });
    }
    let m = p_values.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| p_values[a].total_cmp(&p_values[b]));
    let mut adjusted = vec![0.0; m];
    let mut running = 1.0f64;
    for (rank, &i) in order.iter().enumerate().rev() {
        running = running.min(p_values[i] * m as f64 / (rank + 1) as f64);
        adjusted[i] = running;
    }
    Ok(adjusted)
}

/// Runs Benjamini–Hochberg at FDR level `q` in `(0, 1)`.
pub fn bh_reject(p_values: &[f64], q: f64) -> Result<BhDecision> {
    if !(q > 0.0 && q < 1.0) {
        return Err(StatsError::InvalidParameter {
            name: "q",
            value: q,
            expected: "a false discovery rate strictly between 0 and 1, e.g. 0.01",
        });
    }
    let adjusted = benjamini_hochberg(p_values)?;
    let rejected = adjusted.iter().map(|&a| a <= q).collect();
    Ok(BhDecision {
        adjusted,
        rejected,
        q,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Benjamini & Hochberg (1995), §4: the 15 p-values of the Neuhaus et al. trial. At
    /// q = 0.05 the step-up procedure rejects the four smallest (Bonferroni only three).
    /// Adjusted values as from R `p.adjust(p, "BH")` / `scipy.stats.false_discovery_control`.
    #[test]
    fn worked_example_from_the_paper() {
        let p = [
            0.0001, 0.0004, 0.0019, 0.0095, 0.0201, 0.0278, 0.0298, 0.0344, 0.0459, 0.3240, 0.4262,
            0.5719, 0.6528, 0.7590, 1.000,
        ];
        let d = bh_reject(&p, 0.05).unwrap();
        assert_eq!(d.rejections(), 4);
        assert!(d.rejected[..4].iter().all(|&r| r) && d.rejected[4..].iter().all(|&r| !r));
        let expected = [
            0.0015,
            0.003,
            0.0095,
            0.035625,
            0.0603,
            0.063857142857,
            0.063857142857,
            0.0645,
            0.0765,
            0.486,
            0.581181818182,
            0.714875,
            0.753230769231,
            0.813214285714,
            1.0,
        ];
        for (a, e) in d.adjusted.iter().zip(expected) {
            assert!((a - e).abs() < 1e-9, "{a} vs {e}");
        }
    }

    #[test]
    fn order_is_preserved_and_edges_work() {
        let d = bh_reject(&[0.5, 0.001, 0.04], 0.05).unwrap();
        assert_eq!(d.rejected, vec![false, true, false]);
        assert!((d.adjusted[1] - 0.003).abs() < 1e-15);
        assert!((d.adjusted[2] - 0.06).abs() < 1e-15);
        assert!(bh_reject(&[], 0.05).unwrap().adjusted.is_empty());
        assert!(bh_reject(&[1.2], 0.05).is_err());
        assert!(bh_reject(&[f64::NAN], 0.05).is_err());
        assert!(bh_reject(&[0.1], 0.0).is_err());
    }
}
