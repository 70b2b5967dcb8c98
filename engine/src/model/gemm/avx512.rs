//! The AVX-512 micro-kernels of [`super`]: an `R × 32` tile of the output in `2R` registers
//! (`R ≤ 12`), one panel row (32 columns, two vectors) and `R` broadcast activations per step.
//!
//! - [`tile`]: f32 weights and activations, FMA.
//! - [`tile_dp`]: bf16 weights and activations in k pairs, `vdpbf16ps` (AVX512-BF16): each
//!   instruction adds two products per lane, twice the work of an FMA.
//! - [`tile_pairs`]: the same bf16 panels on plain AVX-512F: the weights are widened exactly (a
//!   bf16 is the top half of an f32: shift the even one up, mask the odd one) and multiplied by
//!   bf16-rounded f32 activations, so it computes what [`tile_dp`] computes.
#![allow(unsafe_code)]
// Register tiles are indexed by row in fixed-size loops the compiler unrolls.
#![allow(clippy::needless_range_loop)]

use std::arch::x86_64::*;

use half::bf16;

use super::{MR, NR, Tile};

/// How far ahead of use the weight stream is prefetched on the few-rows path.
const PREFETCH_BYTES: usize = 2048;

/// Dispatches `mr` (1..=12) to the const-generic kernel `$kernel::<R>($args…)`.
macro_rules! by_rows {
    ($mr:expr, $kernel:ident, $($arg:expr),*) => {
        match $mr {
            1 => $kernel::<1>($($arg),*),
            2 => $kernel::<2>($($arg),*),
            3 => $kernel::<3>($($arg),*),
            4 => $kernel::<4>($($arg),*),
            5 => $kernel::<5>($($arg),*),
            6 => $kernel::<6>($($arg),*),
            7 => $kernel::<7>($($arg),*),
            8 => $kernel::<8>($($arg),*),
            9 => $kernel::<9>($($arg),*),
            10 => $kernel::<10>($($arg),*),
            11 => $kernel::<11>($($arg),*),
            12 => $kernel::<12>($($arg),*),
            _ => {}
        }
    };
}

/// Computes `tile[i][j] = Σ_kk x[i·k + kk] · panel[kk·NR + j]` for `i < mr`. Only called when
/// avx512f was detected at run time.
pub(super) fn tile(x: &[f32], mr: usize, k: usize, panel: &[f32], tile: &mut Tile) {
    assert!(mr <= MR && x.len() >= mr * k && panel.len() >= k * NR);
    // SAFETY: avx512f was detected by the caller; the asserts above bound every pointer offset
    // the kernel computes (`i·k + kk < mr·k`, `kk·NR + 32 ≤ k·NR`).
    unsafe { by_rows!(mr, tile_r, x.as_ptr(), k, panel.as_ptr(), tile) }
}

/// Computes `tile[i][j] = Σ_p dot(x[i·half + p], panel pair (p, j))` for `i < mr`, where each
/// `x` value holds two bf16 activations (see `super::pairs_of`). Only called when avx512f and
/// avx512bf16 were detected at run time.
pub(super) fn tile_dp(x: &[u32], mr: usize, half: usize, panel: &[bf16], tile: &mut Tile) {
    assert!(mr <= MR && x.len() >= mr * half && panel.len() >= half * 2 * NR);
    // SAFETY: avx512f and avx512bf16 were detected by the caller; the asserts bound every offset
    // (`i·half + p < mr·half`, `p·2·NR + 64 ≤ half·2·NR`).
    unsafe { by_rows!(mr, tile_dp_r, x.as_ptr(), half, panel.as_ptr(), tile) }
}

/// As [`tile_dp`] on AVX-512F alone: `x` holds `mr` rows of `kp` bf16-rounded f32 values.
pub(super) fn tile_pairs(x: &[f32], mr: usize, kp: usize, panel: &[bf16], tile: &mut Tile) {
    assert!(mr <= MR && kp.is_multiple_of(2) && x.len() >= mr * kp && panel.len() >= kp * NR);
    // SAFETY: avx512f was detected by the caller; the asserts bound every offset
    // (`i·kp + 2p + 1 < mr·kp`, `p·2·NR + 64 ≤ kp·NR`).
    unsafe { by_rows!(mr, tile_pairs_r, x.as_ptr(), kp, panel.as_ptr(), tile) }
}

/// `dst[i] = bf16(src[2i]) | bf16(src[2i+1]) << 16`, nearest-even, zero past `src`. Only called
/// when avx512f and avx512bf16 were detected.
pub(super) fn pairs_row(src: &[f32], dst: &mut [u32]) {
    assert!(src.len() <= 2 * dst.len());
    // SAFETY: the features were detected by the caller; the loop reads `src` and writes `dst`
    // only inside their lengths (the tail goes through a zero-padded copy).
    unsafe { pairs_row_impl(src, dst) }
}

/// # Safety
/// avx512f and avx512bf16 must be available.
#[target_feature(enable = "avx512f,avx512bf16")]
unsafe fn pairs_row_impl(src: &[f32], dst: &mut [u32]) {
    let full = src.len() / 32;
    for c in 0..full {
        // SAFETY: `32c + 32 ≤ src.len()` and `16c + 16 ≤ dst.len()` (as `src.len() ≤ 2·dst.len()`).
        unsafe {
            let lo = _mm512_loadu_ps(src.as_ptr().add(32 * c));
            let hi = _mm512_loadu_ps(src.as_ptr().add(32 * c + 16));
            let v: __m512i = std::mem::transmute(_mm512_cvtne2ps_pbh(hi, lo));
            _mm512_storeu_si512(dst.as_mut_ptr().add(16 * c).cast(), v);
        }
    }
    let mut tail = [0.0f32; 32];
    let rest = &src[32 * full..];
    tail[..rest.len()].copy_from_slice(rest);
    let mut out = [0u32; 16];
    // SAFETY: both buffers are local arrays of the sizes the intrinsics read and write.
    unsafe {
        let v: __m512i = std::mem::transmute(_mm512_cvtne2ps_pbh(
            _mm512_loadu_ps(tail.as_ptr().add(16)),
            _mm512_loadu_ps(tail.as_ptr()),
        ));
        _mm512_storeu_si512(out.as_mut_ptr().cast(), v);
    }
    let left = dst.len() - 16 * full;
    dst[16 * full..].copy_from_slice(&out[..left.min(16)]);
    dst[16 * full + left.min(16)..].fill(0);
}

/// Prefetches the 2 × `bytes` of weights a few-rows kernel reads `PREFETCH_BYTES` from now.
/// Prefetching past the panel is harmless (a hint, never a fault) and usually fetches the next
/// panel this thread runs.
#[inline(always)]
fn prefetch_ahead(at: *const u8, bytes: usize) {
    let ahead = at.wrapping_add(PREFETCH_BYTES);
    for line in (0..bytes).step_by(64) {
        // SAFETY: `_mm_prefetch` is a hint; any address is allowed.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(ahead.wrapping_add(line).cast::<i8>()) };
    }
}

/// Adds the odd-step register set into the even one.
#[inline(always)]
fn merge<const R: usize>(acc: &mut [[__m512; 2]; R], odd: &[[__m512; 2]; R]) {
    for i in 0..R {
        for h in 0..2 {
            // SAFETY: avx512f is enabled in every kernel that inlines this.
            acc[i][h] = unsafe { _mm512_add_ps(acc[i][h], odd[i][h]) };
        }
    }
}

/// Stores the accumulators into the first `R` rows of `tile`.
#[inline(always)]
fn store<const R: usize>(acc: &[[__m512; 2]; R], tile: &mut Tile) {
    for i in 0..R {
        // SAFETY: each `tile[i]` row holds 32 f32: two 16-lane stores fit.
        unsafe {
            _mm512_storeu_ps(tile[i].as_mut_ptr(), acc[i][0]);
            _mm512_storeu_ps(tile[i].as_mut_ptr().add(16), acc[i][1]);
        }
    }
}

/// # Safety
/// avx512f must be available; `x` must hold `R × k` readable values and `panel` `k × NR`.
#[target_feature(enable = "avx512f")]
unsafe fn tile_r<const R: usize>(x: *const f32, k: usize, panel: *const f32, tile: &mut Tile) {
    let mut acc = [[_mm512_setzero_ps(); 2]; R];
    let mut kk = 0;
    if R <= 6 {
        // Few rows: the accumulator chains, not the ports, would set the pace (one FMA per
        // 4-cycle latency per register), so odd `kk` go to a second set of registers; and few
        // rows means the kernel streams weights (decode): ask for them ahead of use.
        let mut odd = [[_mm512_setzero_ps(); 2]; R];
        while kk + 2 <= k {
            prefetch_ahead(panel.wrapping_add(kk * NR).cast(), 2 * NR * 4);
            // SAFETY: `kk + 1 < k`: both panel rows are readable (caller's contract).
            let (w0, w1, v0, v1) = unsafe {
                let p = panel.add(kk * NR);
                (
                    _mm512_loadu_ps(p),
                    _mm512_loadu_ps(p.add(16)),
                    _mm512_loadu_ps(p.add(NR)),
                    _mm512_loadu_ps(p.add(NR + 16)),
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
        merge(&mut acc, &odd);
    }
    while kk < k {
        // SAFETY: `kk·NR + 32 ≤ k·NR` values of the panel are readable (caller's contract).
        let (w0, w1) = unsafe {
            let p = panel.add(kk * NR);
            (_mm512_loadu_ps(p), _mm512_loadu_ps(p.add(16)))
        };
        for i in 0..R {
            // SAFETY: `i·k + kk < R·k`, inside `x` (caller's contract).
            let a = _mm512_set1_ps(unsafe { *x.add(i * k + kk) });
            acc[i][0] = _mm512_fmadd_ps(a, w0, acc[i][0]);
            acc[i][1] = _mm512_fmadd_ps(a, w1, acc[i][1]);
        }
        kk += 1;
    }
    store(&acc, tile);
}

/// The two vectors (columns 0–15 and 16–31) of panel pair-row `p` as `vdpbf16ps` operands.
///
/// # Safety
/// 64 bf16 must be readable at `panel + p·2·NR`; avx512f must be available.
#[inline(always)]
unsafe fn pair_row(panel: *const bf16, p: usize) -> (__m512bh, __m512bh) {
    // SAFETY: the caller's contract; `__m512i` and `__m512bh` are both 64 plain bytes.
    unsafe {
        let q = panel.add(p * 2 * NR);
        (
            std::mem::transmute::<__m512i, __m512bh>(_mm512_loadu_si512(q.cast())),
            std::mem::transmute::<__m512i, __m512bh>(_mm512_loadu_si512(q.add(NR).cast())),
        )
    }
}

/// `R` rows of bf16 pairs against one panel with `vdpbf16ps`.
///
/// # Safety
/// avx512f and avx512bf16 must be available; `x` must hold `R × half` readable values and
/// `panel` `half × 2 × NR`.
#[target_feature(enable = "avx512f,avx512bf16")]
unsafe fn tile_dp_r<const R: usize>(
    x: *const u32,
    half: usize,
    panel: *const bf16,
    tile: &mut Tile,
) {
    let mut acc = [[_mm512_setzero_ps(); 2]; R];
    let broadcast = |i: usize, p: usize| {
        // SAFETY: `i·half + p < R·half`, inside `x` (caller's contract); a u32 holds two bf16.
        unsafe {
            std::mem::transmute::<__m512i, __m512bh>(_mm512_set1_epi32(*x.add(i * half + p) as i32))
        }
    };
    let mut p = 0;
    if R <= 6 {
        // Few rows: a second register set for odd pair-rows keeps four chains per row in flight
        // (the dot product's latency is several cycles), and the weights are prefetched.
        let mut odd = [[_mm512_setzero_ps(); 2]; R];
        while p + 2 <= half {
            prefetch_ahead(panel.wrapping_add(p * 2 * NR).cast(), 4 * NR * 2);
            // SAFETY: `p + 1 < half`: both pair-rows are readable (caller's contract).
            let ((w0, w1), (v0, v1)) = unsafe { (pair_row(panel, p), pair_row(panel, p + 1)) };
            for i in 0..R {
                let (a, b) = (broadcast(i, p), broadcast(i, p + 1));
                acc[i][0] = _mm512_dpbf16_ps(acc[i][0], a, w0);
                acc[i][1] = _mm512_dpbf16_ps(acc[i][1], a, w1);
                odd[i][0] = _mm512_dpbf16_ps(odd[i][0], b, v0);
                odd[i][1] = _mm512_dpbf16_ps(odd[i][1], b, v1);
            }
            p += 2;
        }
        merge(&mut acc, &odd);
    }
    while p < half {
        // SAFETY: `p < half`: the pair-row is readable (caller's contract).
        let (w0, w1) = unsafe { pair_row(panel, p) };
        for i in 0..R {
            let a = broadcast(i, p);
            acc[i][0] = _mm512_dpbf16_ps(acc[i][0], a, w0);
            acc[i][1] = _mm512_dpbf16_ps(acc[i][1], a, w1);
        }
        p += 1;
    }
    store(&acc, tile);
}

/// `R` rows of bf16-rounded f32 activations against one bf16 pair panel, widening the weights.
///
/// # Safety
/// avx512f must be available; `x` must hold `R × kp` readable values and `panel` `kp × NR`.
#[target_feature(enable = "avx512f")]
unsafe fn tile_pairs_r<const R: usize>(
    x: *const f32,
    kp: usize,
    panel: *const bf16,
    tile: &mut Tile,
) {
    let mut acc = [[_mm512_setzero_ps(); 2]; R];
    // Odd k in a second register set while it fits (2 × 2R ≤ 24 registers).
    let mut odd = [[_mm512_setzero_ps(); 2]; R];
    let high = _mm512_set1_epi32(0xFFFF_0000u32 as i32);
    for p in 0..kp / 2 {
        if R <= 6 {
            prefetch_ahead(panel.wrapping_add(p * 2 * NR).cast(), 2 * NR * 2);
        }
        // SAFETY: `p < kp / 2`: 64 bf16 are readable at `panel + p·2·NR` (caller's contract).
        let (c0, c1) = unsafe {
            let q = panel.add(p * 2 * NR);
            (
                _mm512_loadu_si512(q.cast()),
                _mm512_loadu_si512(q.add(NR).cast()),
            )
        };
        let even = [
            _mm512_castsi512_ps(_mm512_slli_epi32::<16>(c0)),
            _mm512_castsi512_ps(_mm512_slli_epi32::<16>(c1)),
        ];
        let oddw = [
            _mm512_castsi512_ps(_mm512_and_si512(c0, high)),
            _mm512_castsi512_ps(_mm512_and_si512(c1, high)),
        ];
        for i in 0..R {
            // SAFETY: `i·kp + 2p + 1 < R·kp`, inside `x` (caller's contract).
            let (a, b) = unsafe {
                (
                    _mm512_set1_ps(*x.add(i * kp + 2 * p)),
                    _mm512_set1_ps(*x.add(i * kp + 2 * p + 1)),
                )
            };
            for h in 0..2 {
                acc[i][h] = _mm512_fmadd_ps(a, even[h], acc[i][h]);
                if R <= 6 {
                    odd[i][h] = _mm512_fmadd_ps(b, oddw[h], odd[i][h]);
                } else {
                    acc[i][h] = _mm512_fmadd_ps(b, oddw[h], acc[i][h]);
                }
            }
        }
    }
    if R <= 6 {
        merge(&mut acc, &odd);
    }
    store(&acc, tile);
}
