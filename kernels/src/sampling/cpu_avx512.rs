//! AVX-512 sampling kernels: 16 logits per step, candidates gathered with `vcompressps`
//! (register form, then a full store: the memory form is slow on Zen), masses with the f32
//! `2^x` of [`rng`](super::rng) (the same fused multiply-adds, `vscalefps` for the exact
//! power of two) summed in u32 lanes, so every kernel returns exactly what its portable twin
//! returns.
//!
//! Every `unsafe fn` here has the same contract: the CPU supports AVX-512 F/BW/VL/DQ; candidate
//! buffers passed for appending have room for `len + n + 16` elements (see `Cands::reserve`),
//! because compressed vectors are stored whole before the length is advanced.
#![allow(unsafe_code)]

use std::arch::x86_64::*;
use std::f32::consts::LOG2_E;

use super::cpu::Cands;
use super::rng::{EXP2_POLY, MASS_BITS, T_FLOOR};

const NEAREST: i32 = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;

/// Lanes `0..n` (n ≤ 16).
#[inline(always)]
fn lanes(n: usize) -> __mmask16 {
    if n >= 16 {
        0xffff
    } else {
        ((1u32 << n) - 1) as __mmask16
    }
}

/// 16 floats from `x[i..]`, lanes past the end set to `fill` (never read).
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
fn load(x: &[f32], i: usize, fill: f32) -> (__m512, __mmask16) {
    let valid = lanes(x.len() - i);
    // SAFETY: `i < x.len()`; the masked load touches only the `valid` lanes inside `x`.
    let v = unsafe { _mm512_mask_loadu_ps(_mm512_set1_ps(fill), valid, x.as_ptr().add(i)) };
    (v, valid)
}

/// 16 ids from `ids[i..]` (lanes past the end are 0).
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
fn load_ids(ids: &[u32], i: usize) -> __m512i {
    let valid = lanes(ids.len() - i);
    // SAFETY: as in `load`.
    unsafe { _mm512_maskz_loadu_epi32(valid, ids.as_ptr().add(i).cast()) }
}

/// `(p, n)` with `2^t ≈ p · 2^n` (as `rng::exp2_parts`; `n` as an integer-valued float).
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
fn exp2_parts(t: __m512) -> (__m512, __m512) {
    let t = _mm512_max_ps(t, _mm512_set1_ps(T_FLOOR));
    let n = _mm512_roundscale_ps::<NEAREST>(t);
    let f = _mm512_sub_ps(t, n);
    let mut p = _mm512_set1_ps(EXP2_POLY[4]);
    for &c in EXP2_POLY[..4].iter().rev() {
        p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(c));
    }
    (_mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0)), n)
}

/// `rng::mass` on 16 lanes (u32): `p · 2^(n + 28)` is exact (normal), then truncated.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
fn mass(t: __m512) -> __m512i {
    let (p, n) = exp2_parts(t);
    let e = _mm512_add_ps(n, _mm512_set1_ps(MASS_BITS as f32));
    _mm512_cvttps_epi32(_mm512_scalef_ps(p, e))
}

/// Sum of the u32 lanes in `keep` of `q`, widened to 8 × u64.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
fn widen_sum(q: __m512i, keep: __mmask16) -> __m512i {
    let q = _mm512_maskz_mov_epi32(keep, q);
    let lo = _mm512_cvtepu32_epi64(_mm512_castsi512_si256(q));
    let hi = _mm512_cvtepu32_epi64(_mm512_extracti64x4_epi64::<1>(q));
    _mm512_add_epi64(lo, hi)
}

/// Lanes of `(v, id)` strictly before `(px, pid)` in the row order.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
fn before_mask(v: __m512, id: __m512i, px: __m512, pid: __m512i) -> __mmask16 {
    _mm512_cmp_ps_mask::<_CMP_GT_OQ>(v, px)
        | (_mm512_cmp_ps_mask::<_CMP_EQ_OQ>(v, px) & _mm512_cmplt_epu32_mask(id, pid))
}

/// Appends the lanes `keep` of 16-lane vectors to the end of the candidate arrays.
///
/// # Safety
/// Each array has capacity for `len + 16` elements.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
unsafe fn append(c: &mut Cands, keep: __mmask16, v: __m512, id: __m512i, q: Option<__m512i>) {
    let len = c.xs.len();
    let n = keep.count_ones() as usize;
    // SAFETY: capacity ≥ len + 16 (contract), so the whole-vector stores stay inside the
    // allocations; the `n` compressed lanes are initialised before the lengths grow.
    unsafe {
        _mm512_storeu_ps(
            c.xs.as_mut_ptr().add(len),
            _mm512_maskz_compress_ps(keep, v),
        );
        _mm512_storeu_si512(
            c.ids.as_mut_ptr().add(len).cast(),
            _mm512_maskz_compress_epi32(keep, id),
        );
        c.xs.set_len(len + n);
        c.ids.set_len(len + n);
        if let Some(q) = q {
            _mm512_storeu_si512(
                c.qs.as_mut_ptr().add(len).cast(),
                _mm512_maskz_compress_epi32(keep, q),
            );
            c.qs.set_len(len + n);
        }
    }
}

fn iota() -> [u32; 16] {
    std::array::from_fn(|i| i as u32)
}

/// See `cpu_portable::scan_max`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
pub(super) unsafe fn scan_max(x: &[f32]) -> (f32, bool) {
    let mut acc = [_mm512_set1_ps(f32::NEG_INFINITY); 4];
    let mut nan: __mmask16 = 0;
    let mut i = 0;
    while i + 64 <= x.len() {
        for (j, a) in acc.iter_mut().enumerate() {
            // SAFETY: `i + 16 j + 16 ≤ x.len()`.
            let v = unsafe { _mm512_loadu_ps(x.as_ptr().add(i + 16 * j)) };
            nan |= _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(v, v);
            *a = _mm512_max_ps(v, *a);
        }
        i += 64;
    }
    while i < x.len() {
        let (v, _) = load(x, i, f32::NEG_INFINITY);
        nan |= _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(v, v);
        acc[0] = _mm512_max_ps(v, acc[0]);
        i += 16;
    }
    let m = _mm512_reduce_max_ps(_mm512_max_ps(
        _mm512_max_ps(acc[0], acc[1]),
        _mm512_max_ps(acc[2], acc[3]),
    ));
    (m, nan != 0 || m == f32::INFINITY)
}

/// See `cpu_portable::find_first`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
pub(super) unsafe fn find_first(x: &[f32], v: f32) -> usize {
    let target = _mm512_set1_ps(v);
    let mut i = 0;
    while i < x.len() {
        let (y, valid) = load(x, i, f32::NAN);
        let hit = _mm512_cmp_ps_mask::<_CMP_EQ_OQ>(y, target) & valid;
        if hit != 0 {
            return i + hit.trailing_zeros() as usize;
        }
        i += 16;
    }
    unreachable!("find_first: the value occurs")
}

/// See `cpu_portable::collect_gt`. `c` has room for `x.len() + 16` more elements.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
pub(super) unsafe fn collect_gt(x: &[f32], base: u32, tau: f32, c: &mut Cands) -> bool {
    let tauv = _mm512_set1_ps(tau);
    // SAFETY: reads 16 u32 from a 16-element array.
    let iota = unsafe { _mm512_loadu_si512(iota().as_ptr().cast()) };
    let ids = |i: usize| _mm512_add_epi32(iota, _mm512_set1_epi32((base as usize + i) as i32));
    let mut nan: __mmask16 = 0;
    let mut i = 0;
    while i + 64 <= x.len() {
        // SAFETY: `i + 64 ≤ x.len()`.
        let v: [__m512; 4] =
            std::array::from_fn(|j| unsafe { _mm512_loadu_ps(x.as_ptr().add(i + 16 * j)) });
        let gt: [__mmask16; 4] =
            std::array::from_fn(|j| _mm512_cmp_ps_mask::<_CMP_GT_OQ>(v[j], tauv));
        for vj in &v {
            nan |= _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(*vj, *vj);
        }
        if gt[0] | gt[1] | gt[2] | gt[3] != 0 {
            for j in 0..4 {
                // SAFETY: at most `x.len()` elements are appended in all; room is the contract.
                unsafe { append(c, gt[j], v[j], ids(i + 16 * j), None) };
            }
        }
        i += 64;
    }
    while i < x.len() {
        let (v, valid) = load(x, i, f32::NEG_INFINITY);
        nan |= _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(v, v) & valid;
        let keep = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(v, tauv) & valid;
        // SAFETY: as above.
        unsafe { append(c, keep, v, ids(i), None) };
        i += 16;
    }
    nan != 0
}

/// See `cpu_portable::mass_collect`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
pub(super) unsafe fn mass_collect(
    x: &[f32],
    m: f32,
    scale: f32,
    min_t: f32,
    tau: f32,
    c: &mut Cands,
) -> u64 {
    // SAFETY: same contract.
    unsafe {
        if min_t > f32::NEG_INFINITY {
            mass_collect_impl::<true, true>(x, m, scale, min_t, tau, c)
        } else {
            mass_collect_impl::<false, true>(x, m, scale, min_t, tau, c)
        }
    }
}

/// See `cpu_portable::collect_ge`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
pub(super) unsafe fn collect_ge(
    x: &[f32],
    m: f32,
    scale: f32,
    min_t: f32,
    tau: f32,
    c: &mut Cands,
) {
    // SAFETY: same contract.
    unsafe { mass_collect_impl::<true, false>(x, m, scale, min_t, tau, c) };
}

#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
unsafe fn mass_collect_impl<const MIN_P: bool, const MASS: bool>(
    x: &[f32],
    m: f32,
    scale: f32,
    min_t: f32,
    tau: f32,
    c: &mut Cands,
) -> u64 {
    c.reserve(x.len(), false);
    // `x ≥ f32::MIN` is `x > -inf`: a `-inf` threshold never collects banned tokens.
    let tauv = _mm512_set1_ps(tau.max(f32::MIN));
    let (mv, sv, min_tv) = (
        _mm512_set1_ps(m),
        _mm512_set1_ps(scale),
        _mm512_set1_ps(min_t),
    );
    // SAFETY: reads 16 u32 from a 16-element array.
    let iota = unsafe { _mm512_loadu_si512(iota().as_ptr().cast()) };
    let ids = |i: usize| _mm512_add_epi32(iota, _mm512_set1_epi32(i as i32));
    let mut total = _mm512_setzero_si512();
    // u32 lane sums of at most 8 masses (each ≤ 2^28 + 32) cannot overflow.
    let mut lanes_sum = [_mm512_setzero_si512(); 2];
    let step = |c: &mut Cands, v: __m512, valid: __mmask16, i: usize| {
        let t = _mm512_mul_ps(_mm512_sub_ps(v, mv), sv);
        let in_r = if MIN_P {
            _mm512_cmp_ps_mask::<_CMP_GE_OQ>(t, min_tv) & valid
        } else {
            valid
        };
        // (`tauv ≥ f32::MIN` also drops `-inf` tokens from the candidates.)
        let keep = in_r & _mm512_cmp_ps_mask::<_CMP_GE_OQ>(v, tauv);
        if keep != 0 {
            // SAFETY: `reserve` above made room for every element of `x` plus 16.
            unsafe { append(c, keep, v, ids(i), None) };
        }
        if MASS {
            _mm512_maskz_mov_epi32(in_r, mass(t))
        } else {
            _mm512_setzero_si512()
        }
    };
    let mut i = 0;
    let mut rounds = 0;
    while i + 32 <= x.len() {
        // SAFETY: `i + 32 ≤ x.len()`.
        let (v0, v1) = unsafe {
            (
                _mm512_loadu_ps(x.as_ptr().add(i)),
                _mm512_loadu_ps(x.as_ptr().add(i + 16)),
            )
        };
        lanes_sum[0] = _mm512_add_epi32(lanes_sum[0], step(c, v0, 0xffff, i));
        lanes_sum[1] = _mm512_add_epi32(lanes_sum[1], step(c, v1, 0xffff, i + 16));
        i += 32;
        rounds += 1;
        if rounds == 8 {
            for l in &mut lanes_sum {
                total = _mm512_add_epi64(total, widen_sum(*l, 0xffff));
                *l = _mm512_setzero_si512();
            }
            rounds = 0;
        }
    }
    while i < x.len() {
        let (v, valid) = load(x, i, f32::NEG_INFINITY);
        total = _mm512_add_epi64(total, widen_sum(step(c, v, valid, i), 0xffff));
        i += 16;
    }
    for l in lanes_sum {
        total = _mm512_add_epi64(total, widen_sum(l, 0xffff));
    }
    _mm512_reduce_add_epi64(total) as u64
}

/// See `cpu_portable::weights`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
pub(super) unsafe fn weights(c: &mut Cands, m: f32, scale: f32) {
    let n = c.xs.len();
    c.qs.clear();
    c.qs.reserve(n + 16);
    let (mv, sv) = (_mm512_set1_ps(m), _mm512_set1_ps(scale));
    let mut i = 0;
    while i < n {
        let (v, _) = load(&c.xs, i, 0.0);
        let q = mass(_mm512_mul_ps(_mm512_sub_ps(v, mv), sv));
        // SAFETY: capacity ≥ n + 16 ≥ i + 16.
        unsafe { _mm512_storeu_si512(c.qs.as_mut_ptr().add(i).cast(), q) };
        i += 16;
    }
    // SAFETY: the first `n` lanes were all written above.
    unsafe { c.qs.set_len(n) };
}

/// See `cpu_portable::split`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
pub(super) unsafe fn split(
    c: &Cands,
    lo: (f32, u32),
    hi: (f32, u32),
    use_mass: bool,
    dst: &mut Cands,
) -> (u64, u64) {
    dst.clear();
    dst.reserve(c.len(), use_mass);
    let (lx, lid) = (_mm512_set1_ps(lo.0), _mm512_set1_epi32(lo.1 as i32));
    let (hx, hid) = (_mm512_set1_ps(hi.0), _mm512_set1_epi32(hi.1 as i32));
    let (mut n_lo, mut n_hi) = (0u64, 0u64);
    let (mut m_lo, mut m_hi) = (_mm512_setzero_si512(), _mm512_setzero_si512());
    let mut i = 0;
    while i < c.len() {
        let (v, valid) = load(&c.xs, i, 0.0);
        let id = load_ids(&c.ids, i);
        let before_lo = before_mask(v, id, lx, lid) & valid;
        let before_hi = before_mask(v, id, hx, hid) & valid;
        let band = before_hi & !before_lo;
        let q = if use_mass {
            // SAFETY: masked load of the valid lanes of `qs` (as long as `xs`).
            let q = unsafe { _mm512_maskz_loadu_epi32(valid, c.qs.as_ptr().add(i).cast()) };
            m_lo = _mm512_add_epi64(m_lo, widen_sum(q, before_lo));
            m_hi = _mm512_add_epi64(m_hi, widen_sum(q, before_hi));
            Some(q)
        } else {
            n_lo += u64::from(before_lo.count_ones());
            n_hi += u64::from(before_hi.count_ones());
            None
        };
        if band != 0 {
            // SAFETY: `reserve` above made room for all of `c` plus 16.
            unsafe { append(dst, band, v, id, q) };
        }
        i += 16;
    }
    (
        n_lo + _mm512_reduce_add_epi64(m_lo) as u64,
        n_hi + _mm512_reduce_add_epi64(m_hi) as u64,
    )
}

/// See `cpu_portable::keep_side`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
pub(super) unsafe fn keep_side(
    c: &Cands,
    pivot: (f32, u32),
    keep_before: bool,
    use_mass: bool,
    dst: &mut Cands,
) {
    dst.clear();
    dst.reserve(c.len(), use_mass);
    let (px, pid) = (_mm512_set1_ps(pivot.0), _mm512_set1_epi32(pivot.1 as i32));
    let mut i = 0;
    while i < c.len() {
        let (v, valid) = load(&c.xs, i, 0.0);
        let id = load_ids(&c.ids, i);
        let before = before_mask(v, id, px, pid);
        let keep = valid & if keep_before { before } else { !before };
        // SAFETY: masked load of the valid lanes of `qs` (same length as `xs` when used).
        let q = use_mass
            .then(|| unsafe { _mm512_maskz_loadu_epi32(valid, c.qs.as_ptr().add(i).cast()) });
        // SAFETY: `reserve` above made room for all of `c` plus 16.
        unsafe { append(dst, keep, v, id, q) };
        i += 16;
    }
}

/// See `cpu_portable::sum_exp`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
pub(super) unsafe fn sum_exp(x: &[f32], m: f32) -> f64 {
    let mv = _mm512_set1_ps(m);
    let mut acc = [_mm512_setzero_pd(); 2];
    let mut i = 0;
    while i < x.len() {
        let (v, valid) = load(x, i, f32::NEG_INFINITY);
        let (p, n) = exp2_parts(_mm512_mul_ps(_mm512_sub_ps(v, mv), _mm512_set1_ps(LOG2_E)));
        let w = _mm512_maskz_scalef_ps(valid, p, n);
        acc[0] = _mm512_add_pd(acc[0], _mm512_cvtps_pd(_mm512_castps512_ps256(w)));
        acc[1] = _mm512_add_pd(acc[1], _mm512_cvtps_pd(_mm512_extractf32x8_ps::<1>(w)));
        i += 16;
    }
    _mm512_reduce_add_pd(_mm512_add_pd(acc[0], acc[1]))
}

/// See `cpu_portable::mass_store`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
pub(super) unsafe fn mass_store(
    x: &[f32],
    m: f32,
    scale: f32,
    min_t: f32,
    masses: &mut Vec<u32>,
) -> u64 {
    let n = x.len();
    masses.clear();
    masses.reserve(n + 16);
    let (mv, sv, min_tv) = (
        _mm512_set1_ps(m),
        _mm512_set1_ps(scale),
        _mm512_set1_ps(min_t),
    );
    let mut total = _mm512_setzero_si512();
    let mut lanes_sum = _mm512_setzero_si512();
    let out = masses.as_mut_ptr();
    let mut i = 0;
    while i < n {
        let (v, _) = load(x, i, f32::NEG_INFINITY);
        let t = _mm512_mul_ps(_mm512_sub_ps(v, mv), sv);
        let q = _mm512_maskz_mov_epi32(_mm512_cmp_ps_mask::<_CMP_GE_OQ>(t, min_tv), mass(t));
        // SAFETY: capacity ≥ n + 16 ≥ i + 16.
        unsafe { _mm512_storeu_si512(out.add(i).cast(), q) };
        lanes_sum = _mm512_add_epi32(lanes_sum, q);
        i += 16;
        if i % 128 == 0 {
            // Eight masses per u32 lane at most: no overflow.
            total = _mm512_add_epi64(total, widen_sum(lanes_sum, 0xffff));
            lanes_sum = _mm512_setzero_si512();
        }
    }
    total = _mm512_add_epi64(total, widen_sum(lanes_sum, 0xffff));
    // SAFETY: the first `n` lanes were all written above (tail lanes of `-inf` have mass 0).
    unsafe { masses.set_len(n) };
    _mm512_reduce_add_epi64(total) as u64
}

/// See `cpu_portable::pick_cands`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
pub(super) unsafe fn pick_cands(c: &Cands, limit: (f32, u32), r: u64) -> u32 {
    let (lx, lid) = (_mm512_set1_ps(limit.0), _mm512_set1_epi32(limit.1 as i32));
    let mut cum = 0u64;
    let mut i = 0;
    while i < c.len() {
        let (v, valid) = load(&c.xs, i, f32::NEG_INFINITY);
        let live = valid & !before_mask(lx, lid, v, load_ids(&c.ids, i));
        // SAFETY: masked load of the valid lanes of `qs` (as long as `xs`).
        let q = unsafe { _mm512_maskz_loadu_epi32(live, c.qs.as_ptr().add(i).cast()) };
        let s = _mm512_reduce_add_epi64(widen_sum(q, 0xffff)) as u64;
        if cum + s > r {
            let mut lanes = [0u32; 16];
            // SAFETY: 16 lanes into a 16-element array.
            unsafe { _mm512_storeu_si512(lanes.as_mut_ptr().cast(), q) };
            for (l, &q) in lanes.iter().enumerate() {
                cum += u64::from(q);
                if cum > r {
                    return c.ids[i + l];
                }
            }
        }
        cum += s;
        i += 16;
    }
    unreachable!("pick_cands: r is below the total mass")
}

/// See `cpu_portable::pick_masses`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
pub(super) unsafe fn pick_masses(masses: &[u32], r: u64) -> usize {
    let mut cum = 0u64;
    let mut i = 0;
    // Blocks of 64 masses, summed as 8 × u64.
    while i + 64 <= masses.len() {
        let mut acc = _mm512_setzero_si512();
        for j in 0..4 {
            // SAFETY: `i + 16 j + 16 ≤ masses.len()`.
            let q = unsafe { _mm512_loadu_si512(masses.as_ptr().add(i + 16 * j).cast()) };
            acc = _mm512_add_epi64(acc, widen_sum(q, 0xffff));
        }
        let s = _mm512_reduce_add_epi64(acc) as u64;
        if cum + s > r {
            break;
        }
        cum += s;
        i += 64;
    }
    for (j, &q) in masses[i..].iter().enumerate() {
        cum += u64::from(q);
        if cum > r {
            return i + j;
        }
    }
    unreachable!("pick_masses: r is below the total mass")
}
