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
