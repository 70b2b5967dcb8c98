//! Seeded inputs for benches: every random source takes an explicit seed.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// A seeded RNG.
pub fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

/// `n` logits drawn from a normal distribution with standard deviation `sigma` (Box–Muller).
pub fn normal_logits(n: usize, sigma: f32, seed: u64) -> Vec<f32> {
    let mut r = rng(seed);
    (0..n)
        .map(|_| {
            let u1: f32 = r.random::<f32>().max(f32::MIN_POSITIVE);
            let u2: f32 = r.random();
            sigma * (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
        })
        .collect()
}

/// `n` uniform values in `[-1, 1)`.
pub fn uniform(n: usize, seed: u64) -> Vec<f32> {
    let mut r = rng(seed);
    (0..n).map(|_| r.random::<f32>() * 2.0 - 1.0).collect()
}

/// A mask of `rows × ceil(vocab/32)` words in which each token is allowed with probability
/// `allowed_frac`.
pub fn random_mask(rows: usize, vocab: usize, allowed_frac: f64, seed: u64) -> Vec<u32> {
    let words = vocab.div_ceil(32);
    let mut r = rng(seed);
    let mut mask = vec![0u32; rows * words];
    for row in 0..rows {
        for t in 0..vocab {
            if r.random_bool(allowed_frac) {
                mask[row * words + t / 32] |= 1 << (t % 32);
            }
        }
    }
    mask
}
