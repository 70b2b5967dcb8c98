//! Plain reference: dense penalty arrays, a full sort of the allowed tokens, the filters as
//! prefix truncations, then the inverse-transform draw over what is left, in id order. It is
//! the definition the fast paths are tested against, and the "sort-based" baseline of the
//! benches.

use super::rng::{mass, pick_point, top_p_target};
use super::{
    Logprobs, OP, RandomPlan, RowParams, RowPlan, SampledToken, SamplingArgs, TopLogprob,
    bad_logit_error, edits, order_cmp,
};
use crate::{KernelError, Result};

/// Reference sampling over a host slice (validates first).
pub fn sample(logits: &[f32], args: &SamplingArgs<'_>) -> Result<Vec<SampledToken>> {
    args.validate(logits.len())?;
    let v = args.vocab_size;
    args.rows
        .iter()
        .enumerate()
        .map(|(r, row)| sample_row(r, &logits[r * v..(r + 1) * v], row))
        .collect()
}

/// The processed logits of a row: bias and penalties applied densely.
pub fn processed_logits(raw: &[f32], row: &RowParams<'_>) -> Vec<f32> {
    let v = raw.len();
    let mut bias: Vec<Option<f32>> = vec![None; v];
    for &(t, b) in row.logit_bias {
        let slot = &mut bias[t as usize];
        *slot = Some(slot.unwrap_or(0.0) + b);
    }
    let pen = &row.penalties;
    let mut in_history = vec![false; v];
    let mut counts = vec![0u32; v];
    for &t in pen.prompt_tokens {
        in_history[t as usize] = true;
    }
    for &t in pen.output_tokens {
        in_history[t as usize] = true;
        counts[t as usize] += 1;
    }
    (0..v)
        .map(|i| edits::apply(raw[i], bias[i], in_history[i], counts[i], pen))
        .collect()
}

fn sample_row(r: usize, raw: &[f32], row: &RowParams<'_>) -> Result<SampledToken> {
    let x = processed_logits(raw, row);
    if x.iter().any(|&v| v.is_nan() || v == f32::INFINITY) {
        return Err(bad_logit_error(r, raw, &x));
    }
    if x.iter().all(|&v| v == f32::NEG_INFINITY) {
        return Err(KernelError::NothingAllowed { op: OP, row: r });
    }
    let token = match RowPlan::new(&row.mode, raw.len()) {
        RowPlan::Greedy => greedy(&x),
        RowPlan::Random(plan) => random(&x, &plan),
    };
    Ok(SampledToken {
        token,
        logprobs: row.logprobs.map(|n| raw_logprobs(raw, n as usize, token)),
    })
}

fn greedy(x: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &v) in x.iter().enumerate() {
        if v > x[best] {
            best = i;
        }
    }
    best as u32
}

/// The kept set `S` of a random row, in order (larger first, lower id on ties).
pub(crate) fn kept_set(x: &[f32], plan: &RandomPlan) -> Vec<u32> {
    let mut order: Vec<u32> = (0..x.len() as u32)
        .filter(|&i| x[i as usize] > f32::NEG_INFINITY)
        .collect();
    order.sort_unstable_by(|&a, &b| order_cmp((x[a as usize], a), (x[b as usize], b)));
    let m = x[order[0] as usize];
    let t = |i: u32| (x[i as usize] - m) * plan.scale;
    order.retain(|&i| t(i) >= plan.min_t);
    if let Some(k) = plan.top_k {
        order.truncate(k as usize);
    }
    if let Some(p) = plan.top_p {
        let z: u64 = order.iter().map(|&i| u64::from(mass(t(i)))).sum();
        let target = top_p_target(p, z);
        let mut cum = 0u64;
        let n = order
            .iter()
            .position(|&i| {
                cum += u64::from(mass(t(i)));
                cum >= target
            })
            .expect("the prefix mass reaches ceil(p·z) ≤ z");
        order.truncate(n + 1);
    }
    order
}

fn random(x: &[f32], plan: &RandomPlan) -> u32 {
    let mut kept = kept_set(x, plan);
    let m = x[kept[0] as usize];
    let q = |i: u32| u64::from(mass((x[i as usize] - m) * plan.scale));
    kept.sort_unstable();
    let z: u64 = kept.iter().map(|&i| q(i)).sum();
    let r = pick_point(plan.draw, z);
    let mut cum = 0;
    for &i in &kept {
        cum += q(i);
        if cum > r {
            return i;
        }
    }
    unreachable!("r < z")
}

/// `log_softmax` of the raw row in f64: the sampled token's value and the top `n`.
fn raw_logprobs(raw: &[f32], n: usize, token: u32) -> Logprobs {
    let m = raw.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let sum: f64 = raw.iter().map(|&l| (l as f64 - m).exp()).sum();
    let lse = sum.ln();
    let lp = |i: usize| (raw[i] as f64 - m - lse) as f32;
    let mut order: Vec<usize> = (0..raw.len()).collect();
    order.sort_unstable_by(|&a, &b| order_cmp((raw[a], a as u32), (raw[b], b as u32)));
    Logprobs {
        sampled: lp(token as usize),
        top: order[..n]
            .iter()
            .map(|&i| TopLogprob {
                token: i as u32,
                logprob: lp(i),
            })
            .collect(),
    }
}
