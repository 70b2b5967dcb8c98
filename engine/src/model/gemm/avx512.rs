//! The AVX-512 micro-kernel of [`super`]: an `R × 32` tile of the output in `2R` registers
//! (`R ≤ 12`), one panel row (32 weights, two vectors) and `R` broadcast activations per `kk`.
#![allow(unsafe_code)]
// Register tiles are indexed by row in fixed-size loops the compiler unrolls.
#![allow(clippy::needless_range_loop)]

use std::arch::x86_64::*;

use super::{MR, NR};

/// How far ahead of use the weight stream is prefetched on the few-rows path.
const PREFETCH_BYTES: usize = 2048;
use crate::model::dtype::WeightDtype;
use crate::model::gemv::WeightElem;

/// Computes `tile[i][j] = Σ_kk x[i·k + kk] · panel[kk·NR + j]` for `i < mr`. Only called when
/// `avx512f` was detected at run time.
pub(super) fn tile<W: WeightElem>(
    x: &[f32],
    mr: usize,
    k: usize,
    panel: &[W],
    tile: &mut [[f32; NR]; MR],
) {
    assert!(mr <= MR && x.len() >= mr * k && panel.len() >= k * NR);
    macro_rules! dispatch {
        ($($r:literal)*) => {
            match mr {
                $(
                    // SAFETY: avx512f was detected by the caller; the asserts above bound every
                    // pointer offset the kernel computes (`i·k + kk < mr·k`, `kk·NR + 32 ≤ k·NR`).
                    $r => unsafe { tile_r::<$r, W>(x.as_ptr(), k, panel.as_ptr(), tile) },
                )*
                _ => {}
            }
        };
    }
    dispatch!(1 2 3 4 5 6 7 8 9 10 11 12);
}

/// The 32 weights of one panel row as two f32 vectors.
///
/// # Safety
/// `p` must point to 32 readable elements of type `W`, and avx512f must be available.
#[inline(always)]
unsafe fn load_row<W: WeightElem>(p: *const W) -> (__m512, __m512) {
    match W::DTYPE {
        // SAFETY: W is f32 here (the sealed trait ties DTYPE to the type) and 32 values are
        // readable at `p`.
        WeightDtype::F32 => unsafe {
            let p = p.cast::<f32>();
            (_mm512_loadu_ps(p), _mm512_loadu_ps(p.add(16)))
        },
        // SAFETY: W is bf16 here: 32 × 2 bytes are readable at `p`. A bf16 is the top half of
        // an f32, so zero-extending to 32 bits and shifting left by 16 is the exact value.
        WeightDtype::Bf16 => unsafe {
            let v = _mm512_loadu_si512(p.cast::<__m512i>());
            let lo = _mm512_slli_epi32::<16>(_mm512_cvtepu16_epi32(_mm512_castsi512_si256(v)));
            let hi =
                _mm512_slli_epi32::<16>(_mm512_cvtepu16_epi32(_mm512_extracti64x4_epi64::<1>(v)));
            (_mm512_castsi512_ps(lo), _mm512_castsi512_ps(hi))
        },
    }
}

/// # Safety
/// avx512f must be available; `x` must hold `R × k` readable values and `panel` `k × NR`.
#[target_feature(enable = "avx512f")]
unsafe fn tile_r<const R: usize, W: WeightElem>(
    x: *const f32,
    k: usize,
    panel: *const W,
    tile: &mut [[f32; NR]; MR],
) {
    let mut acc = [[_mm512_setzero_ps(); 2]; R];
    let mut kk = 0;
    if R <= 6 {
        // Few rows: the accumulator chains, not the ports, would set the pace (one FMA per
        // 4-cycle latency per register), so odd `kk` go to a second set of registers.
        let mut odd = [[_mm512_setzero_ps(); 2]; R];
        while kk + 2 <= k {
            // Few rows means the kernel streams weights (decode): ask for them ahead of use.
            // Prefetching past the panel is harmless (a hint, never a fault) and usually
            // fetches the next panel this thread runs.
            let ahead = panel
                .cast::<u8>()
                .wrapping_add(kk * NR * size_of::<W>() + PREFETCH_BYTES);
            for line in (0..2 * NR * size_of::<W>()).step_by(64) {
                _mm_prefetch::<_MM_HINT_T0>(ahead.wrapping_add(line).cast::<i8>());
            }
            // SAFETY: `kk + 1 < k`: both panel rows are readable (caller's contract).
            let ((w0, w1), (v0, v1)) = unsafe {
                (
                    load_row(panel.add(kk * NR)),
                    load_row(panel.add((kk + 1) * NR)),
                )
            };
            for i in 0..R {
                // SAFETY: `i·k + kk + 1 < R·k`, inside `x` (caller's contract).
                let (a, b) = unsafe {
                    (
                        _mm512_set1_ps(*x.add(i * k + kk)),
                        _mm512_set1_ps(*x.add(i * k + kk + 1)),
                    )
                };
                acc[i][0] = _mm512_fmadd_ps(a, w0, acc[i][0]);
                acc[i][1] = _mm512_fmadd_ps(a, w1, acc[i][1]);
                odd[i][0] = _mm512_fmadd_ps(b, v0, odd[i][0]);
                odd[i][1] = _mm512_fmadd_ps(b, v1, odd[i][1]);
            }
            kk += 2;
        }
        for i in 0..R {
            acc[i][0] = _mm512_add_ps(acc[i][0], odd[i][0]);
            acc[i][1] = _mm512_add_ps(acc[i][1], odd[i][1]);
        }
    }
    while kk < k {
        // SAFETY: `kk·NR + 32 ≤ k·NR` values of the panel are readable (caller's contract).
        let (w0, w1) = unsafe { load_row(panel.add(kk * NR)) };
        for i in 0..R {
            // SAFETY: `i·k + kk < R·k`, inside `x` (caller's contract).
            let a = _mm512_set1_ps(unsafe { *x.add(i * k + kk) });
            acc[i][0] = _mm512_fmadd_ps(a, w0, acc[i][0]);
            acc[i][1] = _mm512_fmadd_ps(a, w1, acc[i][1]);
        }
        kk += 1;
    }
    for i in 0..R {
        // SAFETY: each `tile[i]` row holds 32 f32: two 16-lane stores fit.
        unsafe {
            _mm512_storeu_ps(tile[i].as_mut_ptr(), acc[i][0]);
            _mm512_storeu_ps(tile[i].as_mut_ptr().add(16), acc[i][1]);
        }
    }
}
