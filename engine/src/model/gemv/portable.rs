//! Portable tile kernel (auto-vectorised): 16-lane partial sums per (weight row, x row).

use super::X_TILE;

/// Every weight row of `w` against every row of `x`; `yt` is `[rows, m]`.
pub(super) fn rows(x: &[f32], m: usize, k: usize, w: &[f32], yt: &mut [f32]) {
    for (j, wr) in w.chunks_exact(k).enumerate() {
        for i0 in (0..m).step_by(X_TILE) {
            let mt = (m - i0).min(X_TILE);
            let mut acc = [[0.0f32; X_TILE]; 2];
            tile(&x[i0 * k..(i0 + mt) * k], mt, k, wr, 1, &mut acc);
            yt[j * m + i0..j * m + i0 + mt].copy_from_slice(&acc[0][..mt]);
        }
    }
}

const LANES: usize = 16;

fn tile(x: &[f32], mt: usize, k: usize, w: &[f32], r: usize, acc: &mut [[f32; X_TILE]; 2]) {
    for rr in 0..r {
        let wr = &w[rr * k..(rr + 1) * k];
        for i in 0..mt {
            let xr = &x[i * k..(i + 1) * k];
            let mut lanes = [0.0f32; LANES];
            let (wc, wt) = wr.split_at(k / LANES * LANES);
            let (xc, xt) = xr.split_at(k / LANES * LANES);
            for (a, b) in wc.chunks_exact(LANES).zip(xc.chunks_exact(LANES)) {
                for l in 0..LANES {
                    lanes[l] += a[l] * b[l];
                }
            }
            let tail: f32 = wt.iter().zip(xt).map(|(a, b)| a * b).sum();
            acc[rr][i] = lanes.iter().sum::<f32>() + tail;
        }
    }
}
