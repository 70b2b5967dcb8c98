//! Small-batch matmul that streams each weight row from memory once for all rows of `x`.
//!
//! Decode multiplies a few rows by a large weight: the cost is reading the weight. A general
//! GEMM packs and tiles for reuse across many rows and pays several times the streaming time at
//! 8 rows; here every weight row pair is loaded once and multiplied against all (up to 8 at a
//! time, from L1) activation rows, with the accumulators in registers. Weight rows are split
//! across rayon threads in contiguous ranges, so each thread streams its own part of the matrix.

#[cfg(target_arch = "x86_64")]
mod avx512;
mod portable;

use rayon::prelude::*;

/// Weight rows per rayon task (a multiple of the kernels' row pairs).
const ROWS_PER_TASK: usize = 64;
/// Activation rows per kernel call.
const X_TILE: usize = 8;

/// `out[m, n] = x[m, k] · w[n, k]ᵀ`. Any `m`, best for `m ≤ 16`.
///
/// # Panics
/// If the slice lengths do not match `m`, `n`, `k`.
pub fn matmul_small(x: &[f32], m: usize, w: &[f32], n: usize, k: usize, out: &mut [f32]) {
    assert_eq!(x.len(), m * k, "x is not [m, k]");
    assert_eq!(w.len(), n * k, "w is not [n, k]");
    assert_eq!(out.len(), m * n, "out is not [m, n]");
    if m == 0 || n == 0 {
        return;
    }
    let avx512 = has_avx512();
    // Transposed result: each task writes a contiguous `[rows, m]` range.
    let mut yt = vec![0.0f32; n * m];
    yt.par_chunks_mut(ROWS_PER_TASK * m)
        .zip(w.par_chunks(ROWS_PER_TASK * k))
        .for_each(|(yt, w)| rows(x, m, k, w, yt, avx512));
    for (j, col) in yt.chunks_exact(m).enumerate() {
        for (i, &v) in col.iter().enumerate() {
            out[i * n + j] = v;
        }
    }
}

/// All rows of `w` (a range of weight rows) against every activation row; `yt` is `[rows, m]`.
fn rows(x: &[f32], m: usize, k: usize, w: &[f32], yt: &mut [f32], avx512: bool) {
    #[cfg(target_arch = "x86_64")]
    if avx512 {
        avx512::rows(x, m, k, w, yt);
        return;
    }
    let _ = avx512;
    portable::rows(x, m, k, w, yt);
}

fn has_avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(x: &[f32], m: usize, w: &[f32], n: usize, k: usize) -> Vec<f32> {
        let mut out = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                out[i * n + j] = (0..k).map(|t| x[i * k + t] * w[j * k + t]).sum();
            }
        }
        out
    }

    #[test]
    fn matches_naive_for_odd_shapes() {
        for (m, n, k) in [
            (1, 1, 1),
            (3, 5, 17),
            (8, 130, 33),
            (11, 67, 64),
            (16, 3, 100),
        ] {
            let x: Vec<f32> = (0..m * k)
                .map(|i| ((i * 7 % 13) as f32 - 6.0) / 7.0)
                .collect();
            let w: Vec<f32> = (0..n * k)
                .map(|i| ((i * 5 % 11) as f32 - 5.0) / 9.0)
                .collect();
            let mut out = vec![0.0; m * n];
            matmul_small(&x, m, &w, n, k, &mut out);
            let want = naive(&x, m, &w, n, k);
            for (a, b) in out.iter().zip(&want) {
                assert!(
                    (a - b).abs() <= 1e-4 * (1.0 + b.abs()),
                    "{m}x{n}x{k}: {a} vs {b}"
                );
            }
        }
    }
}
