//! AVX-512 kernel: pairs of weight rows × up to 8 activation rows with the 16 accumulators in
//! registers. `k` is walked in chunks of [`KC`] so the activation rows' chunk (8 × 2 KiB) stays
//! in L1 while a block of [`RB`] weight rows streams past it once; partial sums live in a small
//! (L1) buffer between chunks.
#![allow(unsafe_code)]
// Register tiles are indexed by (row, column) in fixed-size loops the compiler unrolls.
#![allow(clippy::needless_range_loop)]

use std::arch::x86_64::*;

use super::X_TILE;

/// `k` elements per chunk.
const KC: usize = 512;
/// Weight rows per block.
const RB: usize = 16;

type Partial = [[[f32; 16]; X_TILE]; RB];

/// Every weight row of `w` against every row of `x`; `yt` is `[rows, m]`. Only called when
/// `avx512f` was detected at run time.
pub(super) fn rows(x: &[f32], m: usize, k: usize, w: &[f32], yt: &mut [f32]) {
    let nrows = w.len() / k;
    assert!(x.len() >= m * k && yt.len() >= nrows * m);
    let mut partial: Partial = [[[0.0; 16]; X_TILE]; RB];
    for jb in (0..nrows).step_by(RB) {
        let rb = (nrows - jb).min(RB);
        for i0 in (0..m).step_by(X_TILE) {
            let mt = (m - i0).min(X_TILE);
            partial.iter_mut().flatten().for_each(|v| *v = [0.0; 16]);
            for k0 in (0..k).step_by(KC) {
                let k1 = (k0 + KC).min(k);
                let mut j = 0;
                while j < rb {
                    let r = (rb - j).min(2);
                    let wr = &w[(jb + j) * k..(jb + j + r) * k];
                    let acc = &mut partial[j..j + r];
                    chunk(&x[i0 * k..(i0 + mt) * k], mt, k, k0, k1, wr, r, acc);
                    j += r;
                }
            }
            for (rr, acc) in partial.iter().enumerate().take(rb) {
                for (i, lanes) in acc.iter().enumerate().take(mt) {
                    yt[(jb + rr) * m + i0 + i] = lanes.iter().sum();
                }
            }
        }
    }
}

/// Dispatch on the tile shape to the const-generic kernel.
#[allow(clippy::too_many_arguments)]
fn chunk(
    x: &[f32],
    mt: usize,
    k: usize,
    k0: usize,
    k1: usize,
    w: &[f32],
    r: usize,
    acc: &mut [[[f32; 16]; X_TILE]],
) {
    assert!(x.len() >= mt * k && w.len() >= r * k && k1 <= k && acc.len() >= r);
    assert!(mt <= X_TILE && (1..=2).contains(&r));
    macro_rules! go {
        ($m:literal, $r:literal) => {
            // SAFETY: `rows` is only called after `avx512f` was detected at run time, and the
            // lengths and the k range were asserted above.
            unsafe { kernel::<$m, $r>(x, k, k0, k1, w, acc) }
        };
    }
    match (mt, r) {
        (1, 1) => go!(1, 1),
        (2, 1) => go!(2, 1),
        (3, 1) => go!(3, 1),
        (4, 1) => go!(4, 1),
        (5, 1) => go!(5, 1),
        (6, 1) => go!(6, 1),
        (7, 1) => go!(7, 1),
        (8, 1) => go!(8, 1),
        (1, _) => go!(1, 2),
        (2, _) => go!(2, 2),
        (3, _) => go!(3, 2),
        (4, _) => go!(4, 2),
        (5, _) => go!(5, 2),
        (6, _) => go!(6, 2),
        (7, _) => go!(7, 2),
        _ => go!(8, 2),
    }
}

#[target_feature(enable = "avx512f")]
fn kernel<const M: usize, const R: usize>(
    x: &[f32],
    k: usize,
    k0: usize,
    k1: usize,
    w: &[f32],
    out: &mut [[[f32; 16]; X_TILE]],
) {
    let mut acc = [[_mm512_setzero_ps(); M]; R];
    for r in 0..R {
        for i in 0..M {
            // SAFETY: `out[r][i]` is a 16-float array.
            acc[r][i] = unsafe { _mm512_loadu_ps(out[r][i].as_ptr()) };
        }
    }
    let full = k0 + (k1 - k0) / 16 * 16;
    let (xp, wp) = (x.as_ptr(), w.as_ptr());
    let mut t = k0;
    while t < full {
        let mut wv = [_mm512_setzero_ps(); R];
        for (r, v) in wv.iter_mut().enumerate() {
            // SAFETY: r < R and t + 16 ≤ k1 ≤ k, so the lanes lie in row r of `w` (len ≥ R·k).
            *v = unsafe { _mm512_loadu_ps(wp.add(r * k + t)) };
        }
        for i in 0..M {
            // SAFETY: i < M and t + 16 ≤ k, so the lanes lie in row i of `x` (len ≥ M·k).
            let xv = unsafe { _mm512_loadu_ps(xp.add(i * k + t)) };
            for r in 0..R {
                acc[r][i] = _mm512_fmadd_ps(wv[r], xv, acc[r][i]);
            }
        }
        t += 16;
    }
    if full < k1 {
        let mask: __mmask16 = (1u16 << (k1 - full)) - 1;
        let mut wv = [_mm512_setzero_ps(); R];
        for (r, v) in wv.iter_mut().enumerate() {
            // SAFETY: the masked load reads only the k1 - full < 16 remaining elements of row r.
            *v = unsafe { _mm512_maskz_loadu_ps(mask, wp.add(r * k + full)) };
        }
        for i in 0..M {
            // SAFETY: as above, the masked lanes lie within row i of `x`.
            let xv = unsafe { _mm512_maskz_loadu_ps(mask, xp.add(i * k + full)) };
            for r in 0..R {
                acc[r][i] = _mm512_fmadd_ps(wv[r], xv, acc[r][i]);
            }
        }
    }
    for r in 0..R {
        for i in 0..M {
            // SAFETY: `out[r][i]` is a 16-float array.
            unsafe { _mm512_storeu_ps(out[r][i].as_mut_ptr(), acc[r][i]) };
        }
    }
}
