//! Selection without sorting: the top pass (a running top-`K` buffer over the row), its cuts,
//! and the weighted selection that finds where a count or a mass is reached in the row order.

use super::{Cands, Isa};
use crate::sampling::before;

/// Elements per call of the top-pass kernel (the buffer may grow by this much between cuts);
/// the first call is shorter, so the running threshold rises before the bulk of the row.
const CHUNK: usize = 4096;
const FIRST_CHUNK: usize = 256;
/// Selection sorts what is left below this size.
const SMALL: usize = 32;
/// Sample size of the selection's pivot estimate, and how many sample steps the two pivots sit
/// on either side of the estimate.
const PIVOT_SAMPLE: usize = 64;
const PIVOT_SPREAD: usize = 4;

/// Keeps the elements of `c` (logits and ids only) for which `keep` holds.
pub(super) fn retain(c: &mut Cands, keep: impl Fn(f32, u32) -> bool) {
    let mut n = 0;
    for i in 0..c.len() {
        if keep(c.xs[i], c.ids[i]) {
            c.xs[n] = c.xs[i];
            c.ids[n] = c.ids[i];
            n += 1;
        }
    }
    c.xs.truncate(n);
    c.ids.truncate(n);
    c.qs.clear();
}

/// The top pass: leaves the exact top `k` allowed tokens of `x` in `top` (all of them if fewer),
/// in id order, and returns whether `x` holds a NaN, and the last kept token in the row order
/// (`None` when no token is allowed).
///
/// The running threshold starts at a strided sample's `r`-th largest value (about `2k + 2000`
/// tokens above it on a 128k row); if fewer than `k` tokens pass it, the pass is redone from
/// `-inf`, so the sample only ever costs time.
pub(super) fn top_pass(
    isa: Isa,
    x: &[f32],
    k: usize,
    top: &mut Cands,
    tmp: &mut [Cands; 2],
) -> (bool, Option<(f32, u32)>) {
    let mut start_tau = sample_threshold(x, k);
    let nan = loop {
        let nan = collect_top(isa, x, k, start_tau, top, tmp);
        if nan || top.len() >= k || start_tau == f32::NEG_INFINITY {
            break nan;
        }
        start_tau = f32::NEG_INFINITY;
    };
    if nan || top.len() == 0 {
        return (nan, None);
    }
    if top.len() > k {
        return (false, Some(cut(isa, top, k, tmp)));
    }
    let last = (0..top.len())
        .map(|i| top.get(i))
        .reduce(|a, b| if before(a, b) { b } else { a });
    (false, last)
}

/// One pass of [`top_pass`] from the running threshold `tau`.
fn collect_top(
    isa: Isa,
    x: &[f32],
    k: usize,
    mut tau: f32,
    top: &mut Cands,
    tmp: &mut [Cands; 2],
) -> bool {
    top.clear();
    // Cut once the first short chunk is in (the threshold then rises early), later only when
    // the buffer outgrows `max(2k, k + 512)`: few cuts, each on a small buffer.
    let cut_at = (2 * k).max(k + 512);
    let mut nan = false;
    let mut start = 0;
    while start < x.len() {
        let len = if start == 0 { FIRST_CHUNK } else { CHUNK };
        let chunk = &x[start..x.len().min(start + len)];
        top.reserve(chunk.len(), false);
        nan |= kernel!(isa, collect_gt(chunk, start as u32, tau, top));
        if (top.len() >= cut_at || (start == 0 && top.len() > k)) && !nan {
            tau = cut(isa, top, k, tmp).0;
        }
        start += chunk.len();
    }
    nan
}

/// The starting threshold of the top pass: the `r`-th largest of a strided sample, with `r`
/// such that about `2k + 2000` tokens of the row lie above it; `-inf` for short rows.
fn sample_threshold(x: &[f32], k: usize) -> f32 {
    const N: usize = 256;
    const MIN_RANK: usize = 4;
    if x.len() < 64 * N {
        return f32::NEG_INFINITY;
    }
    let rank = MIN_RANK + 2 * k * N / x.len();
    if rank >= N / 2 {
        return f32::NEG_INFINITY;
    }
    let stride = x.len() / N;
    let mut best = [f32::NEG_INFINITY; N / 2];
    let best = &mut best[..rank];
    for i in 0..N {
        let v = x[i * stride];
        // Insertion into the descending top-`rank` list (NaN never enters).
        if v > best[rank - 1] {
            let mut j = rank - 1;
            while j > 0 && best[j - 1] < v {
                best[j] = best[j - 1];
                j -= 1;
            }
            best[j] = v;
        }
    }
    best[rank - 1]
}

/// Cuts `top` back to its first `k` elements in the row order; returns the `k`-th.
fn cut(isa: Isa, top: &mut Cands, k: usize, tmp: &mut [Cands; 2]) -> (f32, u32) {
    let (kth, _) = select(isa, top, false, k as u64, tmp);
    retain(top, |v, id| !before(kth, (v, id)));
    kth
}

/// Weighted selection: the element `e*` of `src` at which the running weight (count, or mass
/// `qs` when `use_mass`), accumulated in the row order, first reaches `target`, and that
/// running weight. The total weight of `src` must reach `target`.
///
/// Each level sorts a strided sample of the current set, estimates where the target falls,
/// and makes one pass that weighs the elements before two pivots bracketing that estimate
/// and copies the band between them (≈ 1/16 of the set); if the target is outside the band
/// (a wrong estimate), a second pass keeps the side that holds it. Every level drops at least
/// one pivot, so it terminates whatever the estimates.
pub(super) fn select(
    isa: Isa,
    src: &Cands,
    use_mass: bool,
    target: u64,
    tmp: &mut [Cands; 2],
) -> ((f32, u32), u64) {
    let [mut a, mut b] = tmp.each_mut();
    let mut first = true;
    let mut offset = 0u64;
    let mut total = if use_mass {
        src.qs.iter().map(|&q| u64::from(q)).sum()
    } else {
        src.len() as u64
    };
    loop {
        let (cur, dst): (&Cands, &mut Cands) = if first {
            (src, &mut *a)
        } else {
            (&*a, &mut *b)
        };
        let n = cur.len();
        let weight = |i: usize| if use_mass { u64::from(cur.qs[i]) } else { 1 };
        if n <= SMALL {
            let mut idx = [(0u64, 0usize); SMALL];
            let idx = &mut idx[..n];
            for (i, slot) in idx.iter_mut().enumerate() {
                *slot = (order_key(cur.get(i)), i);
            }
            idx.sort_unstable_by_key(|k| std::cmp::Reverse(k.0));
            for &(_, i) in idx.iter() {
                offset += weight(i);
                if offset >= target {
                    return (cur.get(i), offset);
                }
            }
            unreachable!("select: total weight below target");
        }
        let (lo, hi) = pivots(cur, use_mass, target - offset, total);
        let (w_lo, w_hi) = kernel!(isa, split(cur, lo, hi, use_mass, dst));
        if offset + w_lo >= target {
            kernel!(isa, keep_side(cur, lo, true, use_mass, dst));
            total = w_lo;
        } else if offset + w_hi >= target {
            // The band [lo, hi) is already in `dst`.
            offset += w_lo;
            total = w_hi - w_lo;
        } else {
            kernel!(isa, keep_side(cur, hi, false, use_mass, dst));
            offset += w_hi;
            total -= w_hi;
        }
        if first {
            first = false;
        } else {
            std::mem::swap(&mut a, &mut b);
        }
    }
}

/// A u64 that orders like the row order, larger first: the f32 bits made monotone (with
/// `-0.0` as `+0.0`, since the order treats them as equal) above the complemented id.
#[inline]
fn order_key((x, id): (f32, u32)) -> u64 {
    let b = (x + 0.0).to_bits();
    let mono = if b & 0x8000_0000 != 0 {
        !b
    } else {
        b | 0x8000_0000
    };
    u64::from(mono) << 32 | u64::from(!id)
}

/// Two elements of `c`, `lo` before `hi` in the row order, that likely bracket the element at
/// which the weight reaches `need` (out of `total`), from a sorted strided sample.
fn pivots(c: &Cands, use_mass: bool, need: u64, total: u64) -> ((f32, u32), (f32, u32)) {
    let n = c.len();
    let s = PIVOT_SAMPLE.min(n);
    // Sample positions sorted by the row order (packed keys: one u64 compare each).
    let mut keys = [(0u64, 0usize); PIVOT_SAMPLE];
    for (j, slot) in keys[..s].iter_mut().enumerate() {
        let i = j * n / s;
        *slot = (order_key(c.get(i)), i);
    }
    let keys = &mut keys[..s];
    keys.sort_unstable_by_key(|k| std::cmp::Reverse(k.0));
    let mut idx = [0usize; PIVOT_SAMPLE];
    for (slot, &(_, i)) in idx.iter_mut().zip(keys.iter()) {
        *slot = i;
    }
    let idx = &idx[..s];
    let weight = |i: usize| if use_mass { u64::from(c.qs[i]) } else { 1 };
    let sample_total: u64 = idx.iter().map(|&i| weight(i)).sum();
    let mut j = s / 2;
    if sample_total > 0 {
        let scale = total as f64 / sample_total as f64;
        let mut cum = 0u64;
        for (k, &i) in idx.iter().enumerate() {
            cum += weight(i);
            if cum as f64 * scale >= need as f64 {
                j = k;
                break;
            }
        }
    }
    let lo = j.saturating_sub(PIVOT_SPREAD);
    let hi = (j + PIVOT_SPREAD).min(s - 1);
    (c.get(idx[lo]), c.get(idx[hi]))
}
