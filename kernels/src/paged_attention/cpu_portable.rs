//! Portable item kernel: widen a chunk of K and V rows to f32, score it for every row, one
//! online-softmax step, accumulate V. Plain Rust written to auto-vectorise; the AVX2 path is the
//! same code compiled with AVX2/FMA/F16C enabled.
#![allow(unsafe_code)]

use super::cpu::{CHUNK, ItemCtx, ItemResult, KvElem, Scratch, exp_neg};

/// The portable kernel for the baseline target.
pub(super) fn item<T: KvElem>(ctx: &ItemCtx<'_, T>, sc: &mut Scratch, res: &mut ItemResult) {
    item_impl(ctx, sc, res);
}

/// The portable kernel compiled for AVX2 + FMA + F16C.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn item_avx2<T: KvElem>(
    ctx: &ItemCtx<'_, T>,
    sc: &mut Scratch,
    res: &mut ItemResult,
) {
    item_impl(ctx, sc, res);
}

#[inline(always)]
fn item_impl<T: KvElem>(ctx: &ItemCtx<'_, T>, sc: &mut Scratch, res: &mut ItemResult) {
    let args = ctx.args;
    let d = args.head_size;
    let nr = ctx.rows.len();
    sc.q.clear();
    for row in ctx.rows {
        sc.q.extend(
            ctx.query[row.q_off..row.q_off + d]
                .iter()
                .map(|&x| x * args.scale),
        );
    }
    res.m = vec![f32::NEG_INFINITY; nr];
    res.l = vec![0.0; nr];
    res.acc = vec![0.0; nr * d];
    sc.k.resize(CHUNK * d, 0.0);
    sc.v.resize(CHUNK * d, 0.0);
    sc.s.resize(nr * CHUNK, 0.0);
    let mut c0 = ctx.kv_start;
    while c0 < ctx.kv_end {
        let n = CHUNK.min(ctx.kv_end - c0);
        for i in 0..n {
            let off = args.kv_offset(ctx.seq, ctx.kv_head, c0 + i);
            T::widen(&ctx.key_cache[off..off + d], &mut sc.k[i * d..(i + 1) * d]);
            T::widen(
                &ctx.value_cache[off..off + d],
                &mut sc.v[i * d..(i + 1) * d],
            );
        }
        for (r, row) in ctx.rows.iter().enumerate() {
            let q = &sc.q[r * d..(r + 1) * d];
            let s = &mut sc.s[r * CHUNK..(r + 1) * CHUNK];
            for (i, k) in sc.k[..n * d].chunks_exact(d).enumerate() {
                s[i] = dot(q, k);
            }
            let (a, b) = row.window(c0, n);
            let alpha = softmax_step(&mut s[..n], a, b, &mut res.m[r], &mut res.l[r]);
            let acc = &mut res.acc[r * d..(r + 1) * d];
            if alpha != 1.0 {
                acc.iter_mut().for_each(|x| *x *= alpha);
            }
            for (&p, v) in s[..n].iter().zip(sc.v.chunks_exact(d)) {
                if p != 0.0 {
                    acc.iter_mut().zip(v).for_each(|(x, &v)| *x += p * v);
                }
            }
        }
        c0 += n;
    }
}

/// Dot product with 8 independent lanes (vectorises without reassociation).
#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for k in 0..8 {
            acc[k] += x[k] * y[k];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// One online-softmax step for one row over a chunk of scores `s` whose valid entries are
/// `a..b`: turns `s` into probabilities relative to the new running max (0 outside `a..b`),
/// updates the running max `m` and sum `l`, and returns the factor `alpha` by which the row's
/// accumulated output must be rescaled.
#[inline(always)]
pub(super) fn softmax_step(s: &mut [f32], a: usize, b: usize, m: &mut f32, l: &mut f32) -> f32 {
    if a >= b {
        s.fill(0.0);
        return 1.0;
    }
    let chunk_max = s[a..b].iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let m_new = m.max(chunk_max);
    let alpha = if *m == f32::NEG_INFINITY {
        0.0
    } else {
        (*m - m_new).exp()
    };
    let mut sum = 0.0;
    for (i, x) in s.iter_mut().enumerate() {
        let p = if (a..b).contains(&i) {
            exp_neg(*x - m_new)
        } else {
            0.0
        };
        *x = p;
        sum += p;
    }
    *l = *l * alpha + sum;
    *m = m_new;
    alpha
}
