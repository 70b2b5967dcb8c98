//! Small-batch matmul that streams each weight row from memory once for all rows of `x`.
//!
//! Decode multiplies a few rows by a large weight: the cost is reading the weight. A general
//! GEMM packs and tiles for reuse across many rows and pays several times the streaming time at
//! 8 rows; here every weight row pair is loaded once and multiplied against all (up to 8 at a
//! time, from L1) activation rows, with the accumulators in registers. Weight rows are split
//! across rayon threads in contiguous ranges, so each thread streams its own part of the matrix.
//!
//! Weights are f32 or bf16 ([`WeightElem`]); activations, products and sums are f32 either way,
//! so bf16 weights halve the bytes streamed and change nothing else. The kernel is picked at run
//! time ([`GemvPath`]): AVX-512 where the CPU has it, else the portable one.

#[cfg(target_arch = "x86_64")]
mod avx512;
mod portable;

use half::bf16;
use rayon::prelude::*;

use super::dtype::WeightDtype;

/// Weight rows per rayon task (a multiple of the kernels' row pairs).
const ROWS_PER_TASK: usize = 64;
/// Activation rows per kernel call.
const X_TILE: usize = 8;

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for half::bf16 {}
}

/// A weight element the GEMV streams: `f32` or [`half::bf16`]. Sealed: the kernels reinterpret
/// weight pointers by [`WeightElem::DTYPE`], so no other type may implement it.
pub trait WeightElem: sealed::Sealed + Copy + Send + Sync + 'static {
    /// Which storage type this is.
    const DTYPE: WeightDtype;
    /// The value as f32 (exact for both types).
    fn to_f32(self) -> f32;
}

impl WeightElem for f32 {
    const DTYPE: WeightDtype = WeightDtype::F32;
    #[inline]
    fn to_f32(self) -> f32 {
        self
    }
}

impl WeightElem for bf16 {
    const DTYPE: WeightDtype = WeightDtype::Bf16;
    /// bf16 is the top half of an f32: a 16-bit shift, exact for every value including NaN
    /// payloads and subnormals.
    #[inline]
    fn to_f32(self) -> f32 {
        f32::from_bits(u32::from(self.to_bits()) << 16)
    }
}

/// Which kernel [`matmul_small`] runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GemvPath {
    /// Plain Rust, auto-vectorised for the baseline target; runs everywhere.
    Portable,
    /// `avx512f` register tiles with software prefetch; bf16 weights are widened exactly (a
    /// shift or a mask per 16) before the f32 FMA.
    Avx512,
}

impl GemvPath {
    /// The fastest path this CPU supports (run-time detection; no build flags needed).
    pub fn detect() -> Self {
        if Self::Avx512.is_supported() {
            Self::Avx512
        } else {
            Self::Portable
        }
    }

    /// Whether this CPU can run the path.
    pub fn is_supported(self) -> bool {
        match self {
            GemvPath::Portable => true,
            #[cfg(target_arch = "x86_64")]
            GemvPath::Avx512 => std::is_x86_feature_detected!("avx512f"),
            #[cfg(not(target_arch = "x86_64"))]
            GemvPath::Avx512 => false,
        }
    }

    /// Name used in bench IDs and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            GemvPath::Portable => "portable",
            GemvPath::Avx512 => "avx512",
        }
    }
}

/// `out[m, n] = x[m, k] · w[n, k]ᵀ` with `w` stored as f32 or bf16 and f32 accumulation, on the
/// fastest path this CPU supports. Any `m`; best for small `m` ([`crate::model::Linear`] uses it
/// up to 16 rows with f32 weights, 128 with bf16).
///
/// # Panics
/// If the slice lengths do not match `m`, `n`, `k`.
pub fn matmul_small<W: WeightElem>(
    x: &[f32],
    m: usize,
    w: &[W],
    n: usize,
    k: usize,
    out: &mut [f32],
) {
    matmul_small_on(GemvPath::detect(), x, m, w, n, k, out);
}

/// [`matmul_small`] on a chosen kernel path (tests and benches compare the paths).
///
/// # Panics
/// If the slice lengths do not match `m`, `n`, `k`, or this CPU does not support `path`.
pub fn matmul_small_on<W: WeightElem>(
    path: GemvPath,
    x: &[f32],
    m: usize,
    w: &[W],
    n: usize,
    k: usize,
    out: &mut [f32],
) {
    assert_eq!(x.len(), m * k, "x is not [m, k]");
    assert_eq!(w.len(), n * k, "w is not [n, k]");
    assert_eq!(out.len(), m * n, "out is not [m, n]");
    assert!(
        path.is_supported(),
        "gemv path {} is not supported by this CPU; use GemvPath::detect()",
        path.as_str()
    );
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        out.fill(0.0);
        return;
    }
    // The AVX-512 bf16 kernel reads the activations in its even/odd block layout.
    #[cfg(target_arch = "x86_64")]
    let split;
    #[cfg(target_arch = "x86_64")]
    let x = if path == GemvPath::Avx512 && W::DTYPE == WeightDtype::Bf16 {
        split = avx512::split_even_odd(x, m, k);
        &split[..]
    } else {
        x
    };
    // Transposed result: each task writes a contiguous `[rows, m]` range (for one row, `out`).
    let run = |yt: &mut [f32]| {
        yt.par_chunks_mut(ROWS_PER_TASK * m)
            .zip(w.par_chunks(ROWS_PER_TASK * k))
            .for_each(|(yt, w)| rows(path, x, m, k, w, yt));
    };
    if m == 1 {
        run(out);
        return;
    }
    let mut yt = vec![0.0f32; n * m];
    run(&mut yt);
    for (j, col) in yt.chunks_exact(m).enumerate() {
        for (i, &v) in col.iter().enumerate() {
            out[i * n + j] = v;
        }
    }
}

/// All rows of `w` (a range of weight rows) against every activation row; `yt` is `[rows, m]`.
fn rows<W: WeightElem>(path: GemvPath, x: &[f32], m: usize, k: usize, w: &[W], yt: &mut [f32]) {
    match path {
        #[cfg(target_arch = "x86_64")]
        GemvPath::Avx512 => avx512::rows(x, m, k, w, yt),
        _ => portable::rows(x, m, k, w, yt),
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
