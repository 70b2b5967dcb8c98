//! The small-batch GEMV against a plain reference on random shapes, for f32 and bf16 weights, on
//! every kernel path this CPU supports (portable always; AVX-512 where detected).
//!
//! Reference: `Σ_t x[i,t]·w[j,t]` in f64 over the weights exactly as stored (bf16 weights
//! widened to f32, which is exact), so it measures only the kernel's f32 arithmetic, not the bf16
//! rounding. Tolerance: `(k + 2)·2⁻²⁴·Σ_t |x[i,t]·w[j,t]|`, the standard bound for a k-term f32
//! dot product in any summation order (unit roundoff 2⁻²⁴ per operation), plus 1e-30.

use dyno_engine::model::gemv::{GemvPath, WeightElem, matmul_small_on};
use half::bf16;
use proptest::prelude::*;

/// Cases per property (two dtypes × up to two paths each).
const CASES: u32 = 48;

/// SplitMix64 values in `[-scale, scale)`: the inputs of one case from its seed.
fn values(n: usize, seed: u64, scale: f32) -> Vec<f32> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = s;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            ((z >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * scale
        })
        .collect()
}

fn paths() -> Vec<GemvPath> {
    [GemvPath::Portable, GemvPath::Avx512]
        .into_iter()
        .filter(|p| p.is_supported())
        .collect()
}

fn check<W: WeightElem>(m: usize, n: usize, k: usize, seed: u64, w: &[W]) {
    let x = values(m * k, seed ^ 0xA5A5, 1.0);
    for path in paths() {
        let mut out = vec![f32::NAN; m * n];
        matmul_small_on(path, &x, m, w, n, k, &mut out);
        for i in 0..m {
            for j in 0..n {
                let terms =
                    (0..k).map(|t| f64::from(x[i * k + t]) * f64::from(w[j * k + t].to_f32()));
                let (want, abs) = terms.fold((0.0f64, 0.0f64), |(s, a), v| (s + v, a + v.abs()));
                let tol = (k as f64 + 2.0) * 2f64.powi(-24) * abs + 1e-30;
                let got = f64::from(out[i * n + j]);
                assert!(
                    (got - want).abs() <= tol,
                    "{path:?} {:?} m={m} n={n} k={k} out[{i},{j}] = {got}, reference {want}, tolerance {tol}",
                    W::DTYPE
                );
            }
        }
    }
}

/// Shapes that cross every tiling boundary: x tiles of 8 rows, row pairs, 64-row rayon tasks,
/// 16-lane vectors and 512-value k chunks.
fn shape() -> impl Strategy<Value = (usize, usize, usize)> {
    prop_oneof![
        (1usize..=20, 1usize..=140, 1usize..=96),
        (1usize..=3, 1usize..=24, 500usize..=1100),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn bf16_gemv_matches_reference((m, n, k) in shape(), seed in any::<u64>(), scale_exp in -8i32..8) {
        // Weights rounded to bf16 once (as the loader does); scaled so the products span
        // exponents.
        let w: Vec<bf16> = values(n * k, seed, 2f32.powi(scale_exp))
            .into_iter()
            .map(bf16::from_f32)
            .collect();
        check(m, n, k, seed, &w);
    }

    #[test]
    fn f32_gemv_matches_reference((m, n, k) in shape(), seed in any::<u64>()) {
        let w = values(n * k, seed, 1.0);
        check(m, n, k, seed, &w);
    }
}

#[test]
fn bf16_widening_is_exact() {
    for bits in 0..=u16::MAX {
        let v = bf16::from_bits(bits);
        if v.is_nan() {
            assert!(WeightElem::to_f32(v).is_nan());
        } else {
            assert_eq!(
                WeightElem::to_f32(v).to_bits(),
                v.to_f32().to_bits(),
                "{bits:#06x}"
            );
        }
    }
}

#[test]
fn empty_and_zero_k_shapes() {
    for path in paths() {
        let mut out = vec![1.0f32; 6];
        matmul_small_on::<bf16>(path, &[], 2, &[], 3, 0, &mut out);
        assert_eq!(out, vec![0.0; 6]);
        let mut none: Vec<f32> = Vec::new();
        matmul_small_on::<f32>(path, &[], 0, &[1.0; 4], 2, 2, &mut none);
    }
}
