//! Test support shared by the parity tests and benches (feature `testing`): tolerance checks and
//! proptest helpers.

/// Relative-or-absolute closeness: `|a - b| ≤ tol × max(1, |a|, |b|)`.
pub fn close(a: f32, b: f32, tol: f32) -> bool {
    if a == b {
        return true; // covers matching infinities
    }
    (a - b).abs() <= tol * 1f32.max(a.abs()).max(b.abs())
}

/// Asserts two slices are element-wise [`close`], naming the first mismatch.
pub fn assert_close(actual: &[f32], expected: &[f32], tol: f32, what: &str) {
    assert_eq!(actual.len(), expected.len(), "{what}: length mismatch");
    for (i, (&a, &e)) in actual.iter().zip(expected).enumerate() {
        assert!(
            close(a, e, tol) || (a.is_nan() && e.is_nan()),
            "{what}: element {i}: got {a}, expected {e} (tolerance {tol})"
        );
    }
}

/// proptest cases per property: `PROPTEST_CASES` if set, else `default`.
pub fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A small deterministic generator for test data (xorshift64*): the case's seed drives every
/// value, so a failing proptest case replays exactly. Seed with a non-zero value.
#[derive(Debug, Clone)]
pub struct TestRng(pub u64);

impl TestRng {
    /// The next 64 random bits.
    #[allow(clippy::should_implement_trait)] // a generator, not an iterator: it never ends
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// Uniform in `[0, 1)` with 24 bits of resolution.
    pub fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }
    /// Uniform in `[-1, 1)`.
    pub fn uniform(&mut self) -> f32 {
        self.unit() * 2.0 - 1.0
    }
    /// Uniform in `0..n` (`n ≥ 1`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f32 {
        let u1 = self.unit().max(1e-7);
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
    }
    /// Fisher–Yates shuffle.
    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            v.swap(i, self.below(i + 1));
        }
    }
}
