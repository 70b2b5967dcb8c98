//! A tiny deterministic generator (SplitMix64) for seeded weights: its output never changes
//! across crate versions, so the built-in model is the same everywhere.
//!
//! SplitMix64's state advances by a fixed increment, so the `i`-th value after any state is
//! computable directly: [`SplitMix64::vec`] fills large matrices on all cores and still yields
//! exactly the sequence of one-at-a-time draws.

use rayon::prelude::*;

/// The state increment (the golden ratio in 64-bit fixed point).
const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// Values per parallel task in [`SplitMix64::vec`].
const CHUNK: usize = 1 << 16;

/// SplitMix64 state.
#[derive(Clone, Debug)]
pub(crate) struct SplitMix64(u64);

impl SplitMix64 {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(GAMMA);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[-scale, scale)`.
    pub(crate) fn uniform(&mut self, scale: f32) -> f32 {
        let unit = (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32;
        (unit * 2.0 - 1.0) * scale
    }

    /// `n` values uniform in `[-scale, scale)`: the same values, and the same state afterwards, as
    /// `n` calls of [`SplitMix64::uniform`], computed in parallel.
    pub(crate) fn vec(&mut self, n: usize, scale: f32) -> Vec<f32> {
        let start = self.0;
        let mut out = vec![0.0; n];
        out.par_chunks_mut(CHUNK)
            .enumerate()
            .for_each(|(c, chunk)| {
                let mut r = Self(start.wrapping_add(((c * CHUNK) as u64).wrapping_mul(GAMMA)));
                chunk.iter_mut().for_each(|v| *v = r.uniform(scale));
            });
        self.0 = start.wrapping_add((n as u64).wrapping_mul(GAMMA));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parallel_vec_is_the_sequential_stream() {
        let mut a = SplitMix64::new(42);
        let mut b = SplitMix64::new(42);
        for n in [0, 1, 5, CHUNK - 1, CHUNK, 3 * CHUNK + 7] {
            let fast = a.vec(n, 0.5);
            let slow: Vec<f32> = (0..n).map(|_| b.uniform(0.5)).collect();
            assert_eq!(fast, slow, "n = {n}");
            assert_eq!(a.next_u64(), b.next_u64(), "state after n = {n}");
        }
    }
}
