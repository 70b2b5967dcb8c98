//! AVX-512 item kernel.
//!
//! Per chunk of [`CHUNK`] keys:
//! 1. scores: 16 (row, key) dot products at a time (`RB` rows × `TB` keys, `RB·TB = 16`), each
//!    K vector loaded and widened once per row block, then one transpose-reduce turns the 16
//!    accumulators into one vector of 16 scores;
//! 2. one online-softmax step per row (vector exp: Cody–Waite + polynomial + `vscalefps`);
//! 3. V accumulation: 4 rows × 64 lanes of output in registers, one V load per key feeding
//!    16 FMAs with broadcast probabilities.
//!
//! KV rows are widened 32 elements at a time. bf16 is widened by shifting/masking the 32-bit
//! lanes (even elements by `<< 16`, odd ones by `& 0xffff0000`), so its 32 elements come out as
//! (evens, odds); the query and the accumulators are kept in that permuted lane order
//! ([`lane_of`]) and un-permuted at the end. f16 uses `vcvtph2ps`, f32 plain loads. A head-size
//! tail (`head_size % 32`) uses masked loads, which never touch memory past the row.
//!
//! The blocks of a sequence are scattered, so the hardware prefetchers restart at every block;
//! the next chunk's K rows are prefetched while the current chunk is scored and its V rows during
//! the first V pass, a few rows at a time (a whole chunk at once only stalls on the miss
//! buffers).
#![allow(unsafe_code)]

use std::arch::x86_64::*;

use super::cpu::{
    CHUNK, EXP_POLY, ItemCtx, ItemResult, Kind, KvElem, LN2_HI, LN2_LO, RowInfo, Scratch,
};

/// Position of element `k` (`0..32`) of a 32-element group in the widened lane order.
#[inline(always)]
fn lane_of<T: KvElem>(k: usize) -> usize {
    match T::KIND {
        Kind::Bf16 => (k % 2) * 16 + k / 2,
        Kind::F16 | Kind::F32 => k,
    }
}

/// Rows padded to the register blocking: 1 or 2 rows as they are, else a multiple of 4.
#[inline(always)]
fn padded_rows(nr: usize) -> usize {
    if nr <= 2 { nr } else { nr.next_multiple_of(4) }
}

/// One cache's rows for a chunk: `base + offs[i]` is the row (`d` elements) of the chunk's
/// key `i`; `prefetch` holds the next chunk's offsets, prefetched while this one is computed.
#[derive(Clone, Copy)]
struct Rows<'a, T> {
    base: *const T,
    offs: &'a [usize],
    prefetch: &'a [usize],
    d: usize,
}

impl<T> Rows<'_, T> {
    /// The same rows without prefetching (for every row block but the first).
    fn quiet(self) -> Self {
        Rows {
            prefetch: &[],
            ..self
        }
    }
}

/// Runs one work item.
///
/// # Safety
/// The CPU must support AVX-512 F, BW, VL and DQ. `ctx` must come from validated args (every
/// key position of `kv_start..kv_end` maps to a full row inside both caches).
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
pub(super) unsafe fn item<T: KvElem>(ctx: &ItemCtx<'_, T>, sc: &mut Scratch, res: &mut ItemResult) {
    let args = ctx.args;
    let d = args.head_size;
    let dp = d.next_multiple_of(32);
    let nr = ctx.rows.len();
    let nrp = padded_rows(nr);
    sc.q.clear();
    sc.q.resize(nrp * dp, 0.0);
    for (r, row) in ctx.rows.iter().enumerate() {
        let q = &ctx.query[row.q_off..row.q_off + d];
        let dst = &mut sc.q[r * dp..(r + 1) * dp];
        for (e, &x) in q.iter().enumerate() {
            dst[e / 32 * 32 + lane_of::<T>(e % 32)] = x * args.scale;
        }
    }
    sc.acc.clear();
    sc.acc.resize(nrp * dp, 0.0);
    sc.s.clear();
    sc.s.resize(nrp * CHUNK, 0.0);
    sc.m.clear();
    sc.m.resize(nrp, f32::NEG_INFINITY);
    sc.l.clear();
    sc.l.resize(nrp, 0.0);
    sc.alpha.clear();
    sc.alpha.resize(nrp, 1.0);
    sc.offs.clear();
    sc.offs.resize(CHUNK, 0);
    let pad = [RowInfo::PAD];
    let row_info = |r: usize| if r < nr { &ctx.rows[r] } else { &pad[0] };
    let (kbase, vbase) = (ctx.key_cache.as_ptr(), ctx.value_cache.as_ptr());
    let cache_len = ctx.key_cache.len().min(ctx.value_cache.len());

    // Key offsets of the chunk starting at `c0` into `offs`.
    let fill_offsets = |offs: &mut [usize], c0: usize| {
        for (i, off) in offs.iter_mut().enumerate() {
            *off = args.kv_offset(ctx.seq, ctx.kv_head, c0 + i);
            // Validated args guarantee this; it is what makes the raw loads below sound.
            assert!(
                *off + d <= cache_len,
                "kv offset out of range: args were not validated"
            );
        }
    };
    let mut next = std::mem::take(&mut sc.offs_next);
    next.clear();
    next.resize(CHUNK, 0);
    let mut c0 = ctx.kv_start;
    fill_offsets(&mut sc.offs[..CHUNK.min(ctx.kv_end - c0)], c0);
    while c0 < ctx.kv_end {
        let n = CHUNK.min(ctx.kv_end - c0);
        let c1 = c0 + n;
        let n1 = CHUNK.min(ctx.kv_end - c1);
        fill_offsets(&mut next[..n1], c1);
        // The next chunk's rows are prefetched a few at a time while this chunk is computed
        // (its K rows during the scores, its V rows during the first V pass): the blocks are
        // scattered, so the hardware prefetchers alone leave every block's first loads waiting
        // on DRAM, and prefetching a whole chunk at once only stalls on the miss buffers.
        let keys = Rows {
            base: kbase,
            offs: &sc.offs[..n],
            prefetch: &next[..n1],
            d,
        };
        let values = Rows {
            base: vbase,
            ..keys
        };
        // 1. Scores.
        let mut r0 = 0;
        while r0 < nrp {
            let q = &sc.q[r0 * dp..];
            let s = &mut sc.s[r0 * CHUNK..];
            let k = if r0 == 0 { keys } else { keys.quiet() };
            // SAFETY: AVX-512 is enabled in this function; `keys.offs` are validated row offsets
            // of the key cache; `q` holds at least RB padded rows of `dp` floats and `s` RB rows
            // of CHUNK scores (nrp is a multiple of the block when RB > 2).
            r0 += unsafe {
                match nrp - r0 {
                    8.. => scores::<T, 8, 2>(q, dp, k, s),
                    4..=7 => scores::<T, 4, 4>(q, dp, k, s),
                    2..=3 => scores::<T, 2, 8>(q, dp, k, s),
                    _ => scores::<T, 1, 16>(q, dp, k, s),
                }
            };
        }
        // 2. Online softmax.
        for r in 0..nrp {
            let (a, b) = row_info(r).window(c0, n);
            let s = &mut sc.s[r * CHUNK..(r + 1) * CHUNK];
            // SAFETY: AVX-512 is enabled in this function; `s` has CHUNK (a multiple of 16) floats.
            sc.alpha[r] = unsafe { softmax_step(s, n, a, b, &mut sc.m[r], &mut sc.l[r]) };
        }
        // 3. V accumulation.
        let mut r0 = 0;
        while r0 < nrp {
            let acc = &mut sc.acc[r0 * dp..];
            let (p, alpha) = (&sc.s[r0 * CHUNK..], &sc.alpha[r0..]);
            let v = if r0 == 0 { values } else { values.quiet() };
            // SAFETY: AVX-512 is enabled; `values.offs` are validated row offsets of the value
            // cache; `acc` has RB rows of `dp` floats, `p` RB rows of CHUNK probabilities,
            // `alpha` RB factors.
            r0 += unsafe {
                match nrp - r0 {
                    4.. => accumulate::<T, 4>(acc, dp, alpha, p, v),
                    3 => accumulate::<T, 3>(acc, dp, alpha, p, v),
                    2 => accumulate::<T, 2>(acc, dp, alpha, p, v),
                    _ => accumulate::<T, 1>(acc, dp, alpha, p, v),
                }
            };
        }
        std::mem::swap(&mut sc.offs, &mut next);
        c0 = c1;
    }
    sc.offs_next = next;
    res.m = sc.m[..nr].to_vec();
    res.l = sc.l[..nr].to_vec();
    res.acc = vec![0.0; nr * d];
    for (r, out) in res.acc.chunks_exact_mut(d).enumerate() {
        let acc = &sc.acc[r * dp..(r + 1) * dp];
        for (e, o) in out.iter_mut().enumerate() {
            *o = acc[e / 32 * 32 + lane_of::<T>(e % 32)];
        }
    }
}

/// Prefetches every cache line of the `row_bytes`-long row at `row` into L1.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
fn prefetch_row<T>(row: *const T, row_bytes: usize) {
    let row = row.cast::<i8>();
    let skew = row as usize % 64;
    let mut b = 0;
    while b < skew + row_bytes {
        // The address is only a hint (prefetches never fault), so wrapping arithmetic is fine.
        _mm_prefetch::<_MM_HINT_T0>(row.wrapping_add(b).wrapping_sub(skew));
        b += 64;
    }
}

/// Mask of the first `n` (≤ 32) 16-bit lanes.
#[inline(always)]
fn mask32(n: usize) -> __mmask32 {
    if n >= 32 { u32::MAX } else { (1u32 << n) - 1 }
}

/// Mask of the first `n` (≤ 16) 32-bit lanes.
#[inline(always)]
fn mask16(n: usize) -> __mmask16 {
    mask32(n.min(16)) as __mmask16
}

/// Widens `valid` (1..=32) elements at `p` (zeros beyond) to two f32 vectors in [`lane_of`] order.
///
/// # Safety
/// AVX-512 F/BW/VL; `p..p + valid` must be readable.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
unsafe fn load32<T: KvElem>(p: *const T, valid: usize) -> (__m512, __m512) {
    // SAFETY: (whole body) full loads read exactly 32 elements when `valid >= 32`; masked loads
    // read only the first `valid` elements and never fault on the masked-off ones.
    unsafe {
        match T::KIND {
            Kind::Bf16 => {
                let x = if valid >= 32 {
                    _mm512_loadu_si512(p.cast())
                } else {
                    _mm512_maskz_loadu_epi16(mask32(valid), p.cast())
                };
                let even = _mm512_slli_epi32::<16>(x);
                let odd = _mm512_and_si512(x, _mm512_set1_epi32(0xffff_0000u32 as i32));
                (_mm512_castsi512_ps(even), _mm512_castsi512_ps(odd))
            }
            Kind::F16 => {
                let x = if valid >= 32 {
                    _mm512_loadu_si512(p.cast())
                } else {
                    _mm512_maskz_loadu_epi16(mask32(valid), p.cast())
                };
                (
                    _mm512_cvtph_ps(_mm512_castsi512_si256(x)),
                    _mm512_cvtph_ps(_mm512_extracti64x4_epi64::<1>(x)),
                )
            }
            Kind::F32 => {
                let p = p.cast::<f32>();
                if valid >= 32 {
                    (_mm512_loadu_ps(p), _mm512_loadu_ps(p.add(16)))
                } else {
                    let lo = _mm512_maskz_loadu_ps(mask16(valid), p);
                    let hi = if valid > 16 {
                        _mm512_maskz_loadu_ps(mask16(valid - 16), p.add(16))
                    } else {
                        _mm512_setzero_ps()
                    };
                    (lo, hi)
                }
            }
        }
    }
}

/// Scores `RB` rows against the `n = keys.offs.len()` keys of a chunk into `s[r * CHUNK + i]`,
/// prefetching `keys.prefetch` as it goes; returns `RB`.
///
/// # Safety
/// AVX-512 F/BW/VL/DQ; each key row `keys.base + keys.offs[i]` holds `keys.d` readable
/// elements; `q` holds `RB` rows of `dp` floats and `s` at least `RB * CHUNK` floats.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
unsafe fn scores<T: KvElem, const RB: usize, const TB: usize>(
    q: &[f32],
    dp: usize,
    keys: Rows<'_, T>,
    s: &mut [f32],
) -> usize {
    debug_assert_eq!(RB * TB, 16);
    assert!(q.len() >= RB * dp && s.len() >= RB * CHUNK);
    let Rows {
        base: kbase,
        offs,
        prefetch,
        d,
    } = keys;
    let n = offs.len();
    let sp = s.as_mut_ptr();
    let mut i0 = 0;
    while i0 < n {
        // Keys past the chunk end reuse the last key (always a valid row); their scores land
        // in the unused tail of the CHUNK-long score rows.
        let rows: [*const T; TB] =
            std::array::from_fn(|t| kbase.wrapping_add(offs[(i0 + t).min(n - 1)]));
        // SAFETY: see the function contract; `rows` are valid rows of `d` elements.
        let v = unsafe { dot16::<T, RB, TB>(q.as_ptr(), dp, &rows, d) };
        for &off in prefetch.iter().skip(i0).take(TB) {
            prefetch_row(kbase.wrapping_add(off), d * size_of::<T>());
        }
        for r in 0..RB {
            // Lanes `r·TB .. (r+1)·TB` go to `s[r·CHUNK + i0 ..][..TB]`: a masked store at the
            // address of lane 0, `s + r·(CHUNK − TB) + i0`, which is inside `s`.
            let mask = (mask32(TB) << (r * TB)) as __mmask16;
            // SAFETY: `i0 + TB ≤ CHUNK` (CHUNK is a multiple of 16 ≥ TB and `i0 < n ≤ CHUNK`
            // steps by TB), so the stored lanes lie in row `r` of `s`; masked-off lanes are not
            // accessed.
            unsafe { _mm512_mask_storeu_ps(sp.add(r * (CHUNK - TB) + i0), mask, v) };
        }
        i0 += TB;
    }
    RB
}

/// The 16 dot products of `RB` query rows with `TB` key rows, as one vector (lane `r·TB + t`).
///
/// # Safety
/// AVX-512 F/BW/VL/DQ; `q` points to `RB` rows of `dp ≥ d` floats (rounded up to 32); every
/// `keys[t]..keys[t] + d` is readable.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
unsafe fn dot16<T: KvElem, const RB: usize, const TB: usize>(
    q: *const f32,
    dp: usize,
    keys: &[*const T; TB],
    d: usize,
) -> __m512 {
    let mut acc = [_mm512_setzero_ps(); 16];
    let mut c = 0;
    while c < d {
        let valid = d - c;
        for t in 0..TB {
            // SAFETY: `c < d`, so `keys[t] + c` starts inside the row and `valid` elements
            // remain in it; the query rows are padded to `dp ≥ c + 32`.
            unsafe {
                let (k0, k1) = load32(keys[t].add(c), valid);
                for r in 0..RB {
                    let qp = q.add(r * dp + c);
                    let a = &mut acc[r * TB + t];
                    *a = _mm512_fmadd_ps(_mm512_loadu_ps(qp), k0, *a);
                    *a = _mm512_fmadd_ps(_mm512_loadu_ps(qp.add(16)), k1, *a);
                }
            }
        }
        c += 32;
    }
    reduce16(&acc)
}

/// Lane `i` of the result is the horizontal sum of `v[i]` (a 4-level transpose-add tree).
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
fn reduce16(v: &[__m512; 16]) -> __m512 {
    // Level 1: [a.lo256 + a.hi256 | b.lo256 + b.hi256] for pairs (a, b).
    let w: [__m512; 8] = std::array::from_fn(|k| {
        let (a, b) = (v[2 * k], v[2 * k + 1]);
        _mm512_add_ps(
            _mm512_shuffle_f32x4::<0x44>(a, b),
            _mm512_shuffle_f32x4::<0xee>(a, b),
        )
    });
    // Level 2: 128-bit lane j holds 4 partial sums of v[4k + j].
    let u: [__m512; 4] = std::array::from_fn(|k| {
        let (a, b) = (w[2 * k], w[2 * k + 1]);
        _mm512_add_ps(
            _mm512_shuffle_f32x4::<0x88>(a, b),
            _mm512_shuffle_f32x4::<0xdd>(a, b),
        )
    });
    // Level 3: lane j holds [2 partials of v[8k + j], 2 partials of v[8k + 4 + j]].
    let z: [__m512; 2] = std::array::from_fn(|k| {
        let (a, b) = (u[2 * k], u[2 * k + 1]);
        _mm512_add_ps(
            _mm512_shuffle_ps::<0x44>(a, b),
            _mm512_shuffle_ps::<0xee>(a, b),
        )
    });
    // Level 4: element 4j + m is the total of v[4m + j].
    let f = _mm512_add_ps(
        _mm512_shuffle_ps::<0x88>(z[0], z[1]),
        _mm512_shuffle_ps::<0xdd>(z[0], z[1]),
    );
    let idx = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    _mm512_permutexvar_ps(idx, f)
}

/// `e^x` for 16 lanes with `x ≤ 0` (to a few ulp; below about -104 the result is 0).
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
fn exp16(x: __m512) -> __m512 {
    let x = _mm512_max_ps(x, _mm512_set1_ps(-104.0));
    let n = _mm512_roundscale_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(
        _mm512_mul_ps(x, _mm512_set1_ps(std::f32::consts::LOG2_E)),
    );
    let r = _mm512_fnmadd_ps(n, _mm512_set1_ps(LN2_HI), x);
    let r = _mm512_fnmadd_ps(n, _mm512_set1_ps(LN2_LO), r);
    let mut p = _mm512_set1_ps(EXP_POLY[7]);
    for &c in EXP_POLY[..7].iter().rev() {
        p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(c));
    }
    _mm512_scalef_ps(p, n)
}

/// Lanes `k` of a 16-lane group starting at chunk index `base` with `a ≤ base + k < b`.
#[inline(always)]
fn range_mask(a: usize, b: usize, base: usize) -> __mmask16 {
    let lo = a.saturating_sub(base).min(16);
    let hi = b.saturating_sub(base).min(16);
    if hi <= lo {
        0
    } else {
        (mask32(hi) & !mask32(lo)) as __mmask16
    }
}

/// One online-softmax step for one row (see `cpu_portable::softmax_step`): scores `s[..n]`,
/// valid `a..b`, become probabilities (0 elsewhere); returns the rescale factor of the output.
///
/// # Safety
/// AVX-512 F/BW/VL/DQ.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
unsafe fn softmax_step(
    s: &mut [f32],
    n: usize,
    a: usize,
    b: usize,
    m: &mut f32,
    l: &mut f32,
) -> f32 {
    assert!(s.len() >= n.next_multiple_of(16));
    let groups = n.div_ceil(16);
    if a >= b {
        s[..groups * 16].fill(0.0);
        return 1.0;
    }
    let ptr = s.as_mut_ptr();
    let mut chunk_max = f32::NEG_INFINITY;
    for g in 0..groups {
        let mask = range_mask(a, b, 16 * g);
        if mask != 0 {
            // SAFETY: `16 * g + 16 ≤ s.len()` (asserted above).
            let x = unsafe { _mm512_loadu_ps(ptr.add(16 * g)) };
            chunk_max = chunk_max.max(_mm512_mask_reduce_max_ps(mask, x));
        }
    }
    let m_new = m.max(chunk_max);
    let alpha = if *m == f32::NEG_INFINITY {
        0.0
    } else {
        (*m - m_new).exp()
    };
    let mut sum = _mm512_setzero_ps();
    let m_vec = _mm512_set1_ps(m_new);
    for g in 0..groups {
        let mask = range_mask(a, b, 16 * g);
        // SAFETY: as above.
        unsafe {
            let x = _mm512_loadu_ps(ptr.add(16 * g));
            let p = _mm512_maskz_mov_ps(mask, exp16(_mm512_sub_ps(x, m_vec)));
            _mm512_storeu_ps(ptr.add(16 * g), p);
            sum = _mm512_add_ps(sum, p);
        }
    }
    *l = *l * alpha + _mm512_reduce_add_ps(sum);
    *m = m_new;
    alpha
}

/// `acc[r] = acc[r] · alpha[r] + Σ_i p[r][i] · V[i]` for `RB` rows over the chunk's keys,
/// prefetching `values.prefetch` during the first pass; returns `RB`.
///
/// # Safety
/// AVX-512 F/BW/VL/DQ; each value row `values.base + values.offs[i]` holds `values.d` readable
/// elements; `acc` holds `RB` rows of `dp` floats, `p` `RB` rows of CHUNK, `alpha` `RB` factors.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
unsafe fn accumulate<T: KvElem, const RB: usize>(
    acc: &mut [f32],
    dp: usize,
    alpha: &[f32],
    p: &[f32],
    values: Rows<'_, T>,
) -> usize {
    assert!(
        acc.len() >= RB * dp
            && p.len() >= (RB - 1) * CHUNK + values.offs.len()
            && alpha.len() >= RB
    );
    let mut c = 0;
    while c < dp {
        // SAFETY: forwarded contract; `c + 64 ≤ dp` (or `c + 32 ≤ dp`) keeps `acc` in bounds.
        unsafe {
            let v = if c == 0 { values } else { values.quiet() };
            if c + 64 <= dp {
                accumulate_block::<T, RB, 2>(acc, dp, alpha, p, v, c);
                c += 64;
            } else {
                accumulate_block::<T, RB, 1>(acc, dp, alpha, p, v, c);
                c += 32;
            }
        }
    }
    RB
}

/// [`accumulate`] for output lanes `c..c + 32·W` (`W` = 1 or 2 groups of 32).
///
/// # Safety
/// As [`accumulate`], plus `c + 32·W ≤ dp` and `c < d`.
#[allow(clippy::needless_range_loop)]
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
unsafe fn accumulate_block<T: KvElem, const RB: usize, const W: usize>(
    acc: &mut [f32],
    dp: usize,
    alpha: &[f32],
    p: &[f32],
    values: Rows<'_, T>,
    c: usize,
) {
    let Rows {
        base: vbase,
        offs,
        prefetch,
        d,
    } = values;
    let ap = acc.as_mut_ptr();
    let mut a = [[_mm512_setzero_ps(); 4]; RB];
    for r in 0..RB {
        let scale = _mm512_set1_ps(alpha[r]);
        for j in 0..2 * W {
            // SAFETY: `r < RB` and `c + 16·j + 16 ≤ c + 32·W ≤ dp`.
            a[r][j] = _mm512_mul_ps(
                unsafe { _mm512_loadu_ps(ap.add(r * dp + c + 16 * j)) },
                scale,
            );
        }
    }
    let valid0 = d - c;
    let valid1 = d.saturating_sub(c + 32);
    let pp = p.as_ptr();
    let row_bytes = d * size_of::<T>();
    for (i, &off) in offs.iter().enumerate() {
        if let Some(&next) = prefetch.get(i) {
            prefetch_row(vbase.wrapping_add(next), row_bytes);
        }
        // SAFETY: `off..off + d` is a value row and `c < d` (and `c + 32 < d` when W = 2,
        // because the block is full only when dp ≥ c + 64, i.e. d > c + 32).
        let (v0, v1, v2, v3) = unsafe {
            let row = vbase.add(off + c);
            let (v0, v1) = load32(row, valid0);
            let (v2, v3) = if W == 2 {
                load32(row.add(32), valid1)
            } else {
                (v0, v1)
            };
            (v0, v1, v2, v3)
        };
        for r in 0..RB {
            // SAFETY: `r < RB` and `i < offs.len()`, inside `p` (see the caller's assert).
            let pr = _mm512_set1_ps(unsafe { *pp.add(r * CHUNK + i) });
            a[r][0] = _mm512_fmadd_ps(pr, v0, a[r][0]);
            a[r][1] = _mm512_fmadd_ps(pr, v1, a[r][1]);
            if W == 2 {
                a[r][2] = _mm512_fmadd_ps(pr, v2, a[r][2]);
                a[r][3] = _mm512_fmadd_ps(pr, v3, a[r][3]);
            }
        }
    }
    for r in 0..RB {
        for j in 0..2 * W {
            // SAFETY: as for the loads above.
            unsafe { _mm512_storeu_ps(ap.add(r * dp + c + 16 * j), a[r][j]) };
        }
    }
}
