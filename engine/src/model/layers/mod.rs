//! Building blocks of the decoder: [`rms_norm`], [`Rope`], [`Linear`], [`silu_mul`], and the
//! row-parallel loop they share.
//!
//! The element-wise layers run on all rayon threads once a step has [`PAR_ROWS`] rows or more
//! (a prefill, a large decode batch): single-threaded, they took a fifth of a 64-request step on
//! two cores while the other core waited.

mod linear;
mod norm;
mod rope;

use rayon::prelude::*;

pub use linear::Linear;
pub use norm::rms_norm;
pub(crate) use norm::rms_norm_in_place as norm_in_place;
pub use rope::Rope;

/// Rows from which the element-wise layers split their rows across rayon threads.
pub const PAR_ROWS: usize = 8;

/// Runs `f` on every `row`-wide chunk of `data`, on all threads from [`PAR_ROWS`] rows.
pub(crate) fn for_rows<T: Send>(data: &mut [T], row: usize, f: impl Fn(&mut [T]) + Send + Sync) {
    if data.len() >= PAR_ROWS * row {
        data.par_chunks_mut(row).for_each(f);
    } else {
        data.chunks_mut(row).for_each(f);
    }
}

/// Runs `f(src_row, dst_row)` on matching `src_width`- and `dst_width`-wide rows, on all threads
/// from [`PAR_ROWS`] rows.
pub(crate) fn zip_rows(
    src: &[f32],
    src_width: usize,
    dst: &mut [f32],
    dst_width: usize,
    f: impl Fn(&[f32], &mut [f32]) + Send + Sync,
) {
    if dst.len() >= PAR_ROWS * dst_width {
        src.par_chunks(src_width)
            .zip(dst.par_chunks_mut(dst_width))
            .for_each(|(s, d)| f(s, d));
    } else {
        src.chunks(src_width)
            .zip(dst.chunks_mut(dst_width))
            .for_each(|(s, d)| f(s, d));
    }
}

/// `x += y`, element-wise (the residual connections).
pub fn add_in_place(x: &mut [f32], y: &[f32]) {
    const CHUNK: usize = 16 << 10;
    if x.len() >= PAR_ROWS * CHUNK / 4 {
        x.par_chunks_mut(CHUNK)
            .zip(y.par_chunks(CHUNK))
            .for_each(|(a, b)| a.iter_mut().zip(b).for_each(|(a, b)| *a += b));
    } else {
        x.iter_mut().zip(y).for_each(|(a, b)| *a += b);
    }
}

/// `gate_up` holds rows `[gate (n) | up (n)]`; writes `silu(gate) * up` into `out` (`[rows, n]`).
pub fn silu_mul(gate_up: &[f32], n: usize, out: &mut Vec<f32>) {
    out.resize(gate_up.len() / 2, 0.0);
    zip_rows(gate_up, 2 * n, out, n, |row, dst| {
        let (g, u) = row.split_at(n);
        for ((d, &g), &u) in dst.iter_mut().zip(g).zip(u) {
            *d = g / (1.0 + exp(-g)) * u;
        }
    });
}

/// `e^x` in f32 within 2 ulp over the whole range (a Cody–Waite reduction to `|r| ≤ ln2/2` and a
/// degree-6 Taylor polynomial), written without branches or calls so a loop over it vectorises
/// (`f32::exp` is a libm call per element). Saturates to 0 below −87.3 and to `f32::MAX`-scale
/// values above 88.3 (`silu` needs neither end exactly); NaN stays NaN.
#[inline(always)]
fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    // 1.5 × 2²³: adding and subtracting it rounds to the nearest integer in SIMD lanes.
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-87.3, 88.3);
    let t = x * LOG2E + ROUND;
    let n = t - ROUND;
    // The rounded integer sits in `t`'s low mantissa bits: no float-to-int conversion (whose
    // saturating semantics would not vectorise).
    let ni = t.to_bits().wrapping_sub(ROUND.to_bits());
    let r = (x - n * LN2_HI) - n * LN2_LO;
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    p * f32::from_bits(ni.wrapping_add(127) << 23)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Within 2 ulp (relative 2.4e-7) of `f64::exp` over the range silu feeds it.
        #[test]
        fn exp_matches_libm(x in -87.0f32..88.0) {
            let want = f64::from(x).exp();
            let got = f64::from(exp(x));
            prop_assert!((got - want).abs() <= 2.4e-7 * want, "exp({x}) = {got}, want {want}");
        }
    }

    #[test]
    fn exp_ends() {
        assert_eq!(exp(-1e4), exp(-87.3));
        assert!(exp(-1e4) < 1e-37);
        assert!(exp(1e4).is_finite() && exp(1e4) > 1e38);
        assert!(exp(f32::NAN).is_nan());
        assert_eq!(exp(0.0), 1.0);
    }

    #[test]
    fn silu_mul_matches_the_formula_serial_and_parallel() {
        for rows in [1, PAR_ROWS + 3] {
            let n = 37;
            let gate_up: Vec<f32> = (0..rows * 2 * n)
                .map(|i| ((i * 7919) % 2001) as f32 / 100.0 - 10.0)
                .collect();
            let mut out = Vec::new();
            silu_mul(&gate_up, n, &mut out);
            assert_eq!(out.len(), rows * n);
            for (r, row) in gate_up.chunks(2 * n).enumerate() {
                for j in 0..n {
                    let (g, u) = (f64::from(row[j]), f64::from(row[n + j]));
                    let want = g / (1.0 + (-g).exp()) * u;
                    let got = f64::from(out[r * n + j]);
                    assert!(
                        (got - want).abs() <= 1e-6 * (1.0 + want.abs()),
                        "{got} vs {want}"
                    );
                }
            }
        }
    }
}
