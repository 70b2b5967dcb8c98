//! Plain reference: gather each attended key and value by position, full softmax in f64.

use super::{PagedAttentionArgs, ReshapeAndCacheArgs};
use crate::Result;
use crate::device::FloatElem;

/// Reference paged attention over host slices (validates first). See the [module docs](super).
pub fn paged_attention<T: FloatElem>(
    out: &mut [f32],
    query: &[f32],
    key_cache: &[T],
    value_cache: &[T],
    args: &PagedAttentionArgs<'_>,
) -> Result<()> {
    args.validate(query.len(), key_cache.len(), value_cache.len(), out.len())?;
    let (h, d) = (args.num_heads, args.head_size);
    for s in 0..args.num_seqs() {
        let (first, q_len) = args.seq_queries(s);
        let ctx = args.context_lens[s] as usize;
        for j in 0..q_len {
            let pos = ctx - q_len + j;
            let lo = args
                .sliding_window
                .map_or(0, |w| (pos + 1).saturating_sub(w));
            for head in 0..h {
                let kv_head = head / args.group_size();
                let row = ((first + j) * h + head) * d;
                let q = &query[row..row + d];
                let scores: Vec<f64> = (lo..=pos)
                    .map(|p| {
                        let k = &key_cache[args.kv_offset(s, kv_head, p)..][..d];
                        let dot: f64 = q
                            .iter()
                            .zip(k)
                            .map(|(&a, &b)| f64::from(a) * f64::from(b.to_f32()))
                            .sum();
                        f64::from(args.scale) * dot
                    })
                    .collect();
                let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let weights: Vec<f64> = scores.iter().map(|&x| (x - max).exp()).collect();
                let total: f64 = weights.iter().sum();
                let mut acc = vec![0f64; d];
                for (p, w) in (lo..=pos).zip(&weights) {
                    let v = &value_cache[args.kv_offset(s, kv_head, p)..][..d];
                    for (a, &x) in acc.iter_mut().zip(v) {
                        *a += w * f64::from(x.to_f32());
                    }
                }
                for (o, a) in out[row..row + d].iter_mut().zip(&acc) {
                    *o = (a / total) as f32;
                }
            }
        }
    }
    Ok(())
}

/// Reference `reshape_and_cache` over host slices (validates first).
pub fn reshape_and_cache<T: FloatElem>(
    key: &[f32],
    value: &[f32],
    key_cache: &mut [T],
    value_cache: &mut [T],
    args: &ReshapeAndCacheArgs<'_>,
) -> Result<()> {
    args.validate(key.len(), value.len(), key_cache.len(), value_cache.len())?;
    let d = args.head_size;
    for (t, &slot) in args.slot_mapping.iter().enumerate() {
        if slot < 0 {
            continue;
        }
        for kv_head in 0..args.num_kv_heads {
            let src = (t * args.num_kv_heads + kv_head) * d;
            let dst = args.slot_offset(slot as usize, kv_head);
            for i in 0..d {
                key_cache[dst + i] = T::from_f32(key[src + i]);
                value_cache[dst + i] = T::from_f32(value[src + i]);
            }
        }
    }
    Ok(())
}
