//! Block order: ABBA over consecutive blocks, with a seeded coin deciding each pair's start.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// One process of a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    /// The base build, every benchmark.
    Base,
    /// The head build, every benchmark.
    Head,
    /// The base build, the sentinel benchmark only (first of the pair).
    SentinelA,
    /// The base build, the sentinel benchmark only (second of the pair).
    SentinelB,
}

/// The process order of `blocks` blocks: pairs of blocks run `A S B S′` then `B S′ A S` (or the
/// reverse, by a seeded coin), so slow drifts cancel within each pair.
pub fn abba(blocks: u32, seed: u64, with_sentinel: bool) -> Vec<Vec<Slot>> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut out = Vec::with_capacity(blocks as usize);
    let mut base_first = true;
    for k in 0..blocks {
        if k % 2 == 0 {
            base_first = rng.random_bool(0.5);
        } else {
            base_first = !base_first;
        }
        let order = if base_first {
            [Slot::Base, Slot::SentinelA, Slot::Head, Slot::SentinelB]
        } else {
            [Slot::Head, Slot::SentinelB, Slot::Base, Slot::SentinelA]
        };
        out.push(
            order
                .into_iter()
                .filter(|s| with_sentinel || matches!(s, Slot::Base | Slot::Head))
                .collect(),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_of_blocks_mirror_each_other() {
        let order = abba(6, 3, true);
        for pair in order.chunks(2) {
            let first: Vec<_> = pair[0]
                .iter()
                .filter(|s| **s != Slot::SentinelA && **s != Slot::SentinelB)
                .collect();
            let second: Vec<_> = pair[1]
                .iter()
                .filter(|s| **s != Slot::SentinelA && **s != Slot::SentinelB)
                .collect();
            assert_eq!(first.len(), 2);
            assert_eq!(first[0], second[1]);
            assert_eq!(first[1], second[0]);
        }
        assert!(abba(4, 3, false).iter().all(|b| b.len() == 2));
    }
}
