//! Portable tile kernel (auto-vectorised): 16-lane partial sums per (weight row, x row); bf16
//! weights are widened to f32 by a shift in the same loop.

use super::{WeightElem, X_TILE};

/// Every weight row of `w` against every row of `x`; `yt` is `[rows, m]`.
pub(super) fn rows<W: WeightElem>(x: &[f32], m: usize, k: usize, w: &[W], yt: &mut [f32]) {
    let mut acc = [0.0f32; X_TILE];
    for (j, wr) in w.chunks_exact(k).enumerate() {
        for i0 in (0..m).step_by(X_TILE) {
            let mt = (m - i0).min(X_TILE);
            tile(&x[i0 * k..(i0 + mt) * k], mt, k, wr, &mut acc);
            yt[j * m + i0..j * m + i0 + mt].copy_from_slice(&acc[..mt]);
        }
    }
}

const LANES: usize = 16;

/// One weight row `w` against `mt` rows of `x`.
fn tile<W: WeightElem>(x: &[f32], mt: usize, k: usize, w: &[W], acc: &mut [f32; X_TILE]) {
    let split = k / LANES * LANES;
    let (wc, wt) = w.split_at(split);
    for i in 0..mt {
        let (xc, xt) = x[i * k..(i + 1) * k].split_at(split);
        let mut lanes = [0.0f32; LANES];
        for (a, b) in wc.chunks_exact(LANES).zip(xc.chunks_exact(LANES)) {
            for l in 0..LANES {
                lanes[l] += a[l].to_f32() * b[l];
            }
        }
        let tail: f32 = wt.iter().zip(xt).map(|(a, b)| a.to_f32() * b).sum();
        acc[i] = lanes.iter().sum::<f32>() + tail;
    }
}
