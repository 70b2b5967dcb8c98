//! Fast CPU sampling: the kept set is found by threshold searches, never by sorting the row.
//!
//! Per random row (greedy is one max pass plus a find):
//! 1. **Top pass** — one pass keeping a running buffer of the `K` largest tokens (`K = top_k`,
//!    or [`TOP0`] without top-k): elements above the running threshold are compressed into the
//!    buffer, which is cut back to the exact top `K` by a selection whenever it fills up.
//!    It also yields the max `m` and the NaN / `+inf` check.
//! 2. If the filtered set `R` (min-p ∩ top-k) lies inside that buffer — always with top-k, and
//!    whenever the `K`-th token already fails min-p — everything else runs on ≤ `K` candidates.
//! 3. Otherwise, for top-p: a threshold `τ` is guessed from the buffer and a strided sample;
//!    one pass computes the exact total mass of `R` and collects the candidates `R ∩ {x ≥ τ}`.
//!    If their mass reaches the target the crossing token is among them (the set is closed
//!    upwards), else `τ` is lowered and the pass repeated — so the guess only ever costs time.
//!    The crossing token is found by a weighted selection over the candidates (see
//!    [`select`]: sampled pivots bracket the target, one pass keeps the band between them).
//! 4. The draw walks the kept candidates in id order (the buffers are kept in id order) to the
//!    point `r`. Without top-p and outside the buffer, one pass stores every token's mass and a
//!    second, early-exiting pass walks them.
//!
//! Scratch (processed row, slot map, candidate buffers) is per thread and reused across calls.
#![allow(unsafe_code)]

use std::cell::RefCell;

use rayon::prelude::*;

use super::edits::{Edit, EditBuilder, apply_all};
use super::rng::{pick_point, top_p_target};
use super::{
    Logprobs, OP, RandomPlan, RowParams, RowPlan, SampledToken, SamplingArgs, SamplingOp,
    TopLogprob, bad_logit_error, order_cmp,
};
use crate::cpu::{CpuBackend, Isa};
use crate::{KernelError, Result};

/// Running-buffer size of the top pass when the row has no top-k.
pub(super) const TOP0: usize = 64;
/// Below this many rows the call stays on the calling thread.
const PARALLEL_MIN_ROWS: usize = 2;
/// Strided sample size of the top-p threshold guess.
const SAMPLE: usize = 512;
/// Sample buckets per unit of scaled logit (`log2` of weight) and their number.
const BUCKETS_PER_UNIT: f32 = 4.0;
const BUCKETS: usize = 256;
/// Share of the `1 − p` tail mass the guessed threshold may leave out (by the estimate): near
/// 1 keeps few extra candidates, lower makes a second collection pass rarer.
const TAIL_SHARE: f32 = 0.8;

/// Candidate tokens as a structure of arrays: logit, id and (when computed) mass.
#[derive(Debug, Default)]
pub(super) struct Cands {
    pub xs: Vec<f32>,
    pub ids: Vec<u32>,
    pub qs: Vec<u32>,
}

impl Cands {
    pub(super) fn clear(&mut self) {
        self.xs.clear();
        self.ids.clear();
        self.qs.clear();
    }

    pub(super) fn len(&self) -> usize {
        self.xs.len()
    }

    fn get(&self, i: usize) -> (f32, u32) {
        (self.xs[i], self.ids[i])
    }

    /// Makes room for `n` more elements plus one vector of slack (the AVX-512 kernels store
    /// whole vectors past the end before setting the length).
    pub(super) fn reserve(&mut self, n: usize, with_mass: bool) {
        self.xs.reserve(n + 16);
        self.ids.reserve(n + 16);
        if with_mass {
            self.qs.reserve(n + 16);
        }
    }
}

#[derive(Default)]
struct Scratch {
    row: Vec<f32>,
    builder: EditBuilder,
    edits: Vec<Edit>,
    top: Cands,
    cands: Cands,
    tmp: [Cands; 2],
    masses: Vec<u32>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// Runs the kernel `$name` of the portable / AVX2 / AVX-512 path picked by `$isa`.
macro_rules! kernel {
    ($isa:expr, $name:ident($($arg:expr),* $(,)?)) => {
        match $isa {
            #[cfg(target_arch = "x86_64")]
            crate::cpu::Isa::Avx512 => {
                // SAFETY: `Isa::Avx512` is only constructed after run-time detection of
                // AVX-512 F/BW/VL/DQ, the features the AVX-512 kernels are compiled with.
                unsafe { crate::sampling::cpu_avx512::$name($($arg),*) }
            }
            isa => crate::sampling::cpu_portable::$name(isa == crate::cpu::Isa::Avx2, $($arg),*),
        }
    };
}

mod select;

use select::{retain, select, top_pass};

impl SamplingOp for CpuBackend {
    fn sample(&self, logits: &Vec<f32>, args: &SamplingArgs<'_>) -> Result<Vec<SampledToken>> {
        sample(self.isa(), logits, args)
    }
}

/// Fast path over a host slice with an explicit ISA (used by the backend, tests and benches).
pub fn sample(isa: Isa, logits: &[f32], args: &SamplingArgs<'_>) -> Result<Vec<SampledToken>> {
    args.validate(logits.len())?;
    let v = args.vocab_size;
    let run = |r: usize| {
        SCRATCH.with(|sc| {
            let raw = &logits[r * v..(r + 1) * v];
            sample_row(isa, r, raw, &args.rows[r], &mut sc.borrow_mut())
        })
    };
    if args.num_rows >= PARALLEL_MIN_ROWS {
        let out: Vec<Result<SampledToken>> = (0..args.num_rows).into_par_iter().map(run).collect();
        out.into_iter().collect()
    } else {
        (0..args.num_rows).map(run).collect()
    }
}

fn sample_row(
    isa: Isa,
    r: usize,
    raw: &[f32],
    params: &RowParams<'_>,
    sc: &mut Scratch,
) -> Result<SampledToken> {
    let Scratch {
        row,
        builder,
        edits,
        top,
        cands,
        tmp,
        masses,
    } = sc;
    builder.build(params, raw.len(), edits);
    let x: &[f32] = if edits.is_empty() {
        raw
    } else {
        row.clear();
        row.extend_from_slice(raw);
        apply_all(row, edits, &params.penalties);
        row
    };
    let token = match RowPlan::new(&params.mode, raw.len()) {
        RowPlan::Greedy => {
            let (m, bad) = kernel!(isa, scan_max(x));
            if bad {
                return Err(bad_logit_error(r, raw, x));
            }
            if m == f32::NEG_INFINITY {
                return Err(KernelError::NothingAllowed { op: OP, row: r });
            }
            kernel!(isa, find_first(x, m)) as u32
        }
        RowPlan::Random(plan) if plan.is_unfiltered() => {
            // Temperature only: a max pass, a pass storing every mass, a walk to the point.
            let (m, bad) = kernel!(isa, scan_max(x));
            if bad {
                return Err(bad_logit_error(r, raw, x));
            }
            if m == f32::NEG_INFINITY {
                return Err(KernelError::NothingAllowed { op: OP, row: r });
            }
            let z = kernel!(isa, mass_store(x, m, plan.scale, plan.min_t, masses));
            kernel!(isa, pick_masses(masses, pick_point(plan.draw, z))) as u32
        }
        RowPlan::Random(plan) => {
            let k = plan.top_k.map_or(TOP0, |k| k as usize);
            let (nan, last) = top_pass(isa, x, k, top, tmp);
            let m = top.xs.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            if nan || m == f32::INFINITY {
                return Err(bad_logit_error(r, raw, x));
            }
            let Some(last) = last else {
                return Err(KernelError::NothingAllowed { op: OP, row: r });
            };
            random(isa, x, &plan, m, last, top, cands, tmp, masses)
        }
    };
    let logprobs = params
        .logprobs
        .map(|n| raw_logprobs(isa, raw, n as usize, token, top, tmp));
    Ok(SampledToken { token, logprobs })
}

/// The token of a random row, given the top pass's buffer `top` (the exact top `K`, in id
/// order), its max `m` and its last element `last` in the row order.
#[allow(clippy::too_many_arguments)]
fn random(
    isa: Isa,
    x: &[f32],
    plan: &RandomPlan,
    m: f32,
    last: (f32, u32),
    top: &mut Cands,
    cands: &mut Cands,
    tmp: &mut [Cands; 2],
    masses: &mut Vec<u32>,
) -> u32 {
    let k = plan.top_k.map_or(TOP0, |k| k as usize);
    let scale = plan.scale;
    let t = |v: f32| (v - m) * scale;
    let complete = plan.top_k.is_some() || top.len() < k || t(last.0) < plan.min_t;
    if plan.min_t > f32::NEG_INFINITY {
        // min-p keeps a prefix (t is monotone in x); outside `complete` all of `top` passes.
        retain(top, |v, _| t(v) >= plan.min_t);
    }
    if complete {
        // R = top ∩ min-p.
        kernel!(isa, weights(top, m, scale));
        let z = top.qs.iter().map(|&q| u64::from(q)).sum();
        let target = plan.top_p.map(|p| top_p_target(p, z));
        return draw(isa, top, target, z, plan.draw, tmp);
    }
    let Some(p) = plan.top_p else {
        let z = kernel!(isa, mass_store(x, m, scale, plan.min_t, masses));
        return kernel!(isa, pick_masses(masses, pick_point(plan.draw, z))) as u32;
    };
    let mut tau_t = guess_threshold(x, m, plan, top, last, p);
    let to_x = |tau_t: f32| {
        if tau_t < -80.0 {
            f32::NEG_INFINITY
        } else {
            m + tau_t / scale
        }
    };
    let mut tau = to_x(tau_t);
    cands.clear();
    let z = kernel!(isa, mass_collect(x, m, scale, plan.min_t, tau, cands));
    let target = top_p_target(p, z);
    loop {
        kernel!(isa, weights(cands, m, scale));
        let held: u64 = cands.qs.iter().map(|&q| u64::from(q)).sum();
        if held >= target || tau == f32::NEG_INFINITY {
            return draw(isa, cands, Some(target), held, plan.draw, tmp);
        }
        // The guess left too much out: collect again below a lower threshold.
        tau_t = 1.25 * tau_t - 1.0;
        tau = to_x(tau_t);
        cands.clear();
        kernel!(isa, collect_ge(x, m, scale, plan.min_t, tau, cands));
    }
}

/// Draws from the candidates `c` (id order, masses in `qs`, total `z`): over all of them, or
/// over the top-p prefix that reaches `target`.
fn draw(isa: Isa, c: &Cands, target: Option<u64>, z: u64, u: u64, tmp: &mut [Cands; 2]) -> u32 {
    let (limit, z) = match target {
        Some(target) => select(isa, c, true, target, tmp),
        None => ((f32::NEG_INFINITY, u32::MAX), z),
    };
    kernel!(isa, pick_cands(c, limit, pick_point(u, z)))
}

/// A scaled-logit threshold `τ_t` (≤ 0) such that the candidates `{t ≥ τ_t}` likely hold the
/// top-p crossing while being few: the exact weights of the top-pass buffer plus a strided
/// sample of the rest estimate the mass below each sample bucket; `τ_t` leaves out at most
/// a share (`TAIL_SHARE`) of the `1 − p` tail by that estimate. Only speed depends on it (the
/// caller checks exactly).
fn guess_threshold(
    x: &[f32],
    m: f32,
    plan: &RandomPlan,
    top: &Cands,
    last: (f32, u32),
    p: f32,
) -> f32 {
    let t = |v: f32| (v - m) * plan.scale;
    let t_last = t(last.0);
    let w_top: f32 = top
        .xs
        .iter()
        .map(|&v| t(v))
        .filter(|&tv| tv >= plan.min_t)
        .map(f32::exp2)
        .sum();
    let n = SAMPLE.min(x.len());
    let stride = x.len() / n;
    let mut counts = [0u32; BUCKETS];
    for i in 0..n {
        let v = x[i * stride];
        let tv = t(v);
        if v < last.0 && tv >= plan.min_t {
            let b = ((t_last - tv) * BUCKETS_PER_UNIT) as usize;
            counts[b.min(BUCKETS - 1)] += 1;
        }
    }
    let per_sample = x.len() as f32 / n as f32;
    // Bucket b stands for weight 2^(t_last − (b + ½) / BUCKETS_PER_UNIT): a geometric sequence.
    let first = per_sample * (t_last - 0.5 / BUCKETS_PER_UNIT).exp2();
    let ratio = (-1.0 / BUCKETS_PER_UNIT).exp2();
    let mut bucket_mass = [0f32; BUCKETS];
    let mut w = first;
    for (mass, &count) in bucket_mass.iter_mut().zip(&counts) {
        *mass = count as f32 * w;
        w *= ratio;
    }
    let bulk: f32 = bucket_mass.iter().sum();
    let budget = TAIL_SHARE * (1.0 - p) * (w_top + bulk);
    let mut below = 0.0;
    for b in (0..BUCKETS).rev() {
        below += bucket_mass[b];
        if below > budget {
            return t_last - (b + 1) as f32 / BUCKETS_PER_UNIT;
        }
    }
    t_last
}

/// Raw logprobs: a top pass over the raw row for the top `n`, one pass for the denominator.
fn raw_logprobs(
    isa: Isa,
    raw: &[f32],
    n: usize,
    token: u32,
    top: &mut Cands,
    tmp: &mut [Cands; 2],
) -> Logprobs {
    top_pass(isa, raw, n.max(1), top, tmp);
    let m = top.xs.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let lse = kernel!(isa, sum_exp(raw, m)).ln();
    let lp = |l: f32| (f64::from(l) - f64::from(m) - lse) as f32;
    let mut order: Vec<(f32, u32)> = (0..top.len()).map(|i| top.get(i)).collect();
    order.sort_unstable_by(|&a, &b| order_cmp(a, b));
    order.truncate(n);
    if order.len() < n {
        // Fewer than n allowed tokens: the rest are -inf, lowest ids first.
        let banned = raw
            .iter()
            .enumerate()
            .filter(|(_, l)| **l == f32::NEG_INFINITY);
        order.extend(banned.take(n - order.len()).map(|(i, &l)| (l, i as u32)));
    }
    Logprobs {
        sampled: lp(raw[token as usize]),
        top: order
            .into_iter()
            .map(|(l, token)| TopLogprob {
                token,
                logprob: lp(l),
            })
            .collect(),
    }
}
