//! AVX-512 kernel: pairs of weight rows × up to 8 activation rows with the 16 accumulators in
//! registers. `k` is walked in chunks of [`KC`] so the activation rows' chunk (8 × 2 KiB) stays
//! in L1 while a block of [`RB`] weight rows streams past it once; partial sums live in a small
//! (L1) buffer between chunks. Each weight row is software-prefetched [`PREFETCH_BYTES`] ahead.
//!
//! bf16 weights are widened to f32 in registers, exactly (bf16 is the top half of an f32): 32 at
//! a time from one 64-byte load, the even-indexed ones by a shift and the odd-indexed ones by a
//! mask, against activations stored even/odd per block ([`split_even_odd`]). Products and sums
//! are f32 as for f32 weights; only the bytes streamed differ.
#![allow(unsafe_code)]
// Register tiles are indexed by (row, column) in fixed-size loops the compiler unrolls.
#![allow(clippy::needless_range_loop)]

use std::arch::x86_64::*;

use super::{WeightElem, X_TILE};
use crate::model::dtype::WeightDtype;

/// `k` elements per chunk.
const KC: usize = 512;
/// Weight rows per block.
const RB: usize = 16;
/// How far ahead (in bytes of weight) each row is software-prefetched, following the order rows
/// are walked in. The rows of a block are interleaved streams visited in short runs (a 0.5B
/// model's rows are 1.75 KiB in bf16); on a 2-core Xeon the hint made DRAM-resident decode
/// weights stream 10–25 % faster, and following the walk onto the next rows instead of past the
/// row end another 10–15 % for bf16 (0.5B-model shapes, batch 1).
const PREFETCH_BYTES: usize = 2048;

type Partial = [[[f32; 16]; X_TILE]; RB];

/// Every weight row of `w` against every row of `x`; `yt` is `[rows, m]`. Only called when
/// `avx512f` was detected at run time.
pub(super) fn rows<W: WeightElem>(x: &[f32], m: usize, k: usize, w: &[W], yt: &mut [f32]) {
    let nrows = w.len() / k;
    assert!(x.len() >= m * k && yt.len() >= nrows * m);
    let mut partial: Partial = [[[0.0; 16]; X_TILE]; RB];
    for jb in (0..nrows).step_by(RB) {
        let rb = (nrows - jb).min(RB);
        for i0 in (0..m).step_by(X_TILE) {
            let mt = (m - i0).min(X_TILE);
            // Only the tile in use (for batch 1, 1 of 8 columns: zeroing all of it was 8 KiB
            // per 16 weight rows, 2 % of a 0.5B decode step).
            for acc in &mut partial[..rb] {
                acc[..mt].fill([0.0; 16]);
            }
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
fn chunk<W: WeightElem>(
    x: &[f32],
    mt: usize,
    k: usize,
    k0: usize,
    k1: usize,
    w: &[W],
    r: usize,
    acc: &mut [[[f32; 16]; X_TILE]],
) {
    assert!(x.len() >= mt * k && w.len() >= r * k && k1 <= k && acc.len() >= r);
    assert!(mt <= X_TILE && (1..=2).contains(&r));
    macro_rules! go {
        ($m:literal, $r:literal) => {
            // SAFETY: `rows` is only called after `avx512f` was detected at run time, and the
            // lengths and the k range were asserted above.
            unsafe { kernel::<W, $m, $r>(x, k, k0, k1, w, acc) }
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

/// 16 consecutive weights at `p` as f32 lanes.
///
/// # Safety
/// `avx512f` is available and 16 values of `W` are readable at `p`.
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn load16<W: WeightElem>(p: *const W) -> __m512 {
    match W::DTYPE {
        // SAFETY: `WeightElem` is sealed and only `f32` has `DTYPE == F32`, so `p` points at 16
        // readable f32 values (the caller's contract).
        WeightDtype::F32 => unsafe { _mm512_loadu_ps(p.cast::<f32>()) },
        WeightDtype::Bf16 => {
            // SAFETY: only `bf16` has `DTYPE == Bf16`: `p` points at 16 readable 2-byte values,
            // i.e. 32 bytes, one unaligned 256-bit load.
            let h = unsafe { _mm256_loadu_si256(p.cast::<__m256i>()) };
            _mm512_castsi512_ps(_mm512_slli_epi32::<16>(_mm512_cvtepu16_epi32(h)))
        }
    }
}

/// The `n ≤ 16` weights of `w` as f32 lanes, zero-padded.
#[target_feature(enable = "avx512f")]
#[inline]
fn load_tail<W: WeightElem>(w: &[W]) -> __m512 {
    let mut lanes = [0.0f32; 16];
    lanes.iter_mut().zip(w).for_each(|(l, v)| *l = v.to_f32());
    // SAFETY: `lanes` is a 16-float array.
    unsafe { _mm512_loadu_ps(lanes.as_ptr()) }
}

/// Values per full block of the bf16 layout: one 64-byte load.
pub(super) const BF16_BLOCK: usize = 32;

/// The activation layout the bf16 kernel reads: within each full [`BF16_BLOCK`]-value block of
/// every row, the 16 even-indexed values, then the 16 odd-indexed ones; the `k % 32` values after
/// the last full block stay in place.
///
/// A 64-byte load of 32 bf16 weights then widens into the even weights (a shift left by 16) and
/// the odd ones (a mask of the high halves) with one ALU op each, against the converting load
/// plus shift per 16 weights that [`load16`] needs (from L2, 1.05 against 1.4–1.8 ns per 16
/// weights on one core here; a few per cent from DRAM).
pub(super) fn split_even_odd(x: &[f32], m: usize, k: usize) -> Vec<f32> {
    let mut out = x[..m * k].to_vec();
    for (row, src) in out.chunks_exact_mut(k).zip(x.chunks_exact(k)) {
        for (dst, src) in row
            .chunks_exact_mut(BF16_BLOCK)
            .zip(src.chunks_exact(BF16_BLOCK))
        {
            for j in 0..BF16_BLOCK / 2 {
                dst[j] = src[2 * j];
                dst[BF16_BLOCK / 2 + j] = src[2 * j + 1];
            }
        }
    }
    out
}

/// 32 bf16 weights at `p` as f32 lanes: (the even-indexed 16, the odd-indexed 16).
///
/// # Safety
/// `avx512f` is available, `W` is `bf16`, and 32 values are readable at `p`.
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn load32_bf16<W: WeightElem>(p: *const W) -> (__m512, __m512) {
    debug_assert!(W::DTYPE == WeightDtype::Bf16);
    // SAFETY: 32 readable 2-byte values are 64 bytes: one unaligned 512-bit load.
    let raw = unsafe { _mm512_loadu_si512(p.cast::<__m512i>()) };
    // Little-endian: value 2j is the low half of 32-bit lane j, value 2j + 1 the high half.
    let even = _mm512_castsi512_ps(_mm512_slli_epi32::<16>(raw));
    let odd = _mm512_castsi512_ps(_mm512_and_si512(raw, _mm512_set1_epi32(-65536)));
    (even, odd)
}

/// Accumulates `out[r][i] += Σ_{t ∈ k0..k1} w[r, t]·x[i, t]` lane-wise (16 lanes, summed by the
/// caller). For bf16, `x` is in the [`split_even_odd`] layout and `k0` is a multiple of 32.
#[target_feature(enable = "avx512f")]
fn kernel<W: WeightElem, const M: usize, const R: usize>(
    x: &[f32],
    k: usize,
    k0: usize,
    k1: usize,
    w: &[W],
    out: &mut [[[f32; 16]; X_TILE]],
) {
    let bf16 = W::DTYPE == WeightDtype::Bf16;
    let mut acc = [[_mm512_setzero_ps(); M]; R];
    for r in 0..R {
        for i in 0..M {
            // SAFETY: `out[r][i]` is a 16-float array.
            acc[r][i] = unsafe { _mm512_loadu_ps(out[r][i].as_ptr()) };
        }
    }
    let (xp, wp) = (x.as_ptr(), w.as_ptr());
    // One step: 32 values of `k` from `t` for bf16 (one 64-byte load per row), 16 for f32.
    let vec = if bf16 { BF16_BLOCK } else { 16 };
    let blocks_end = k0 + (k1 - k0) / vec * vec;
    // Where the value `PREFETCH_BYTES` ahead of row `r`'s position `t` lies in the order the
    // caller walks the weight: along the row to `k1`, then on in row `r + R` (the next tile of
    // rows) from `k0`. A prefetch never faults, so the address may run past `w` (the caller's
    // next rows are there, or nothing); wrapping_add keeps the pointer arithmetic defined.
    let distance = PREFETCH_BYTES / size_of::<W>();
    let ahead = |r: usize, t: usize| {
        let a = t + distance;
        if a < k1 {
            r * k + a
        } else {
            (r + R) * k + k0 + (a - k1)
        }
    };
    let step = |acc: &mut [[__m512; M]; R], t: usize| {
        if bf16 {
            let mut wv = [(_mm512_setzero_ps(), _mm512_setzero_ps()); R];
            for (r, v) in wv.iter_mut().enumerate() {
                // SAFETY: avx512f is enabled, W is bf16, and t + 32 ≤ k1 ≤ k, so the 32 values
                // lie in row r of `w` (len ≥ R·k).
                *v = unsafe { load32_bf16(wp.add(r * k + t)) };
                _mm_prefetch::<_MM_HINT_T0>(wp.wrapping_add(ahead(r, t)).cast::<i8>());
            }
            for i in 0..M {
                // SAFETY: i < M and t + 32 ≤ k: both halves lie in row i of `x` (len ≥ M·k),
                // which holds this block's even values then its odd ones.
                let (xe, xo) = unsafe {
                    (
                        _mm512_loadu_ps(xp.add(i * k + t)),
                        _mm512_loadu_ps(xp.add(i * k + t + 16)),
                    )
                };
                for r in 0..R {
                    acc[r][i] = _mm512_fmadd_ps(wv[r].0, xe, acc[r][i]);
                    acc[r][i] = _mm512_fmadd_ps(wv[r].1, xo, acc[r][i]);
                }
            }
        } else {
            let mut wv = [_mm512_setzero_ps(); R];
            for (r, v) in wv.iter_mut().enumerate() {
                // SAFETY: avx512f is enabled; r < R and t + 16 ≤ k1 ≤ k, so the 16 values lie
                // in row r of `w` (len ≥ R·k).
                *v = unsafe { load16(wp.add(r * k + t)) };
                _mm_prefetch::<_MM_HINT_T0>(wp.wrapping_add(ahead(r, t)).cast::<i8>());
            }
            for i in 0..M {
                // SAFETY: i < M and t + 16 ≤ k, so the lanes lie in row i of `x` (len ≥ M·k).
                let xv = unsafe { _mm512_loadu_ps(xp.add(i * k + t)) };
                for r in 0..R {
                    acc[r][i] = _mm512_fmadd_ps(wv[r], xv, acc[r][i]);
                }
            }
        }
    };
    let mut t = k0;
    while t < blocks_end {
        step(&mut acc, t);
        t += vec;
    }
    // What is left (bf16: under 32 values at the end of the row, in place; f32: under 16).
    while t < k1 {
        let n = (k1 - t).min(16);
        let mask: __mmask16 = ((1u32 << n) - 1) as u16;
        let mut wv = [_mm512_setzero_ps(); R];
        for (r, v) in wv.iter_mut().enumerate() {
            *v = load_tail(&w[r * k + t..r * k + t + n]);
        }
        for i in 0..M {
            // SAFETY: the masked load reads only the n ≤ 16 lanes from t, within row i of `x`
            // (t + n ≤ k1 ≤ k, len ≥ M·k).
            let xv = unsafe { _mm512_maskz_loadu_ps(mask, xp.add(i * k + t)) };
            for r in 0..R {
                acc[r][i] = _mm512_fmadd_ps(wv[r], xv, acc[r][i]);
            }
        }
        t += n;
    }
    for r in 0..R {
        for i in 0..M {
            // SAFETY: `out[r][i]` is a 16-float array.
            unsafe { _mm512_storeu_ps(out[r][i].as_mut_ptr(), acc[r][i]) };
        }
    }
}
