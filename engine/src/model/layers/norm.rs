//! RMSNorm: `x / sqrt(mean(x²) + eps) * weight`, row by row (on all threads for many rows).

use super::{for_rows, zip_rows};

/// Normalises each `weight.len()`-wide row of `x` into `out` (same length as `x`).
pub fn rms_norm(x: &[f32], weight: &[f32], eps: f32, out: &mut [f32]) {
    let n = weight.len();
    zip_rows(x, n, out, n, |row, dst| {
        let inv = inv_rms(row, eps);
        for ((d, &v), &w) in dst.iter_mut().zip(row).zip(weight) {
            *d = v * inv * w;
        }
    });
}

/// In place: normalises each `weight.len()`-wide chunk of `x` (per-head QK-norm).
pub(crate) fn rms_norm_in_place(x: &mut [f32], weight: &[f32], eps: f32) {
    for_rows(x, weight.len(), |row| {
        let inv = inv_rms(row, eps);
        for (v, &w) in row.iter_mut().zip(weight) {
            *v = *v * inv * w;
        }
    });
}

fn inv_rms(row: &[f32], eps: f32) -> f32 {
    let ss: f32 = row.iter().map(|v| v * v).sum();
    1.0 / (ss / row.len() as f32 + eps).sqrt()
}
