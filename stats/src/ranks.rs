//! Mid-ranks with tie bookkeeping, shared by the rank tests.
//!
//! Ranks are kept doubled (`2 · midrank`), which makes them integers even inside tie groups: a
//! group occupying 1-based positions `i..=j` has mid-rank `(i + j) / 2`, so doubled rank `i + j`.
//! Exact null distributions are then plain integer-indexed convolutions.

/// Doubled mid-ranks of some values, aligned with the input, and the sizes of tie groups.
pub(crate) struct Ranks {
    /// `2 · midrank` of each input value, in input order.
    pub doubled: Vec<u64>,
    /// Sizes of the tie groups (only groups of 2 or more).
    pub ties: Vec<usize>,
}

impl Ranks {
    /// Ranks finite `values` ascending (caller guarantees finiteness).
    pub fn of(values: &[f64]) -> Ranks {
        let mut order: Vec<usize> = (0..values.len()).collect();
        order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
        let mut doubled = vec![0u64; values.len()];
        let mut ties = Vec::new();
        let mut start = 0;
        while start < order.len() {
            let mut end = start;
            while end + 1 < order.len() && values[order[end + 1]] == values[order[start]] {
                end += 1;
            }
            // 1-based positions start+1 ..= end+1
            let rank2 = (start + 1 + end + 1) as u64;
            for &i in &order[start..=end] {
                doubled[i] = rank2;
            }
            if end > start {
                ties.push(end - start + 1);
            }
            start = end + 1;
        }
        Ranks { doubled, ties }
    }

    /// `Σ (t³ - t)` over tie groups, the usual tie correction term.
    pub fn tie_term(&self) -> f64 {
        self.ties
            .iter()
            .map(|&t| (t as f64).powi(3) - t as f64)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn midranks_of_ties() {
        let r = Ranks::of(&[3.0, 1.0, 3.0, 2.0, 3.0]);
        // sorted: 1 (rank 1), 2 (rank 2), 3,3,3 (ranks 3,4,5 -> mid 4)
        assert_eq!(r.doubled, vec![8, 2, 8, 4, 8]);
        assert_eq!(r.ties, vec![3]);
        assert_eq!(r.tie_term(), 24.0);
    }
}
