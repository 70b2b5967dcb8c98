//! Sampling: pick the next token of every row of a logits batch, each row with its own
//! parameters (greedy or random with temperature, top-k, top-p, min-p, penalties, logit bias,
//! seed) — without sorting the vocabulary.
//!
//! # Layout
//! - `logits`: `f32`, row-major `[num_rows, vocab_size]`, **read only** (backends process a
//!   private copy when a row has bias or penalties).
//! - [`SamplingArgs::rows`]: one [`RowParams`] per row, host memory.
//! - Result: one [`SampledToken`] per row, in row order.
//!
//! # Usage
//! ```
//! use dyno_kernels::sampling::{RandomSampling, RowParams, SamplingArgs};
//! use dyno_kernels::{Backend, CpuBackend, SamplingOp};
//! let cpu = CpuBackend::new();
//! let logits = cpu.upload(&[0.1f32, 2.0, -1.0, 0.5, 3.0, 0.0, f32::NEG_INFINITY, 1.0])?;
//! let rows = [
//!     RowParams::greedy(),
//!     RowParams::random(RandomSampling::new(0.8, 42, 7).with_top_p(0.9)).with_logprobs(2),
//! ];
//! let args = SamplingArgs { num_rows: 2, vocab_size: 4, rows: &rows };
//! let out = cpu.sample(&logits, &args)?;
//! assert_eq!(out[0].token, 1);
//! assert_ne!(out[1].token, 2); // banned by its -inf logit
//! assert_eq!(out[1].logprobs.as_ref().map(|l| l.top[0].token), Some(0));
//! # Ok::<(), dyno_kernels::KernelError>(())
//! ```
//!
//! # Semantics of one row
//! Let `l` be the raw logits of the row.
//! 1. **Checks.** A NaN in `l` is [`KernelError::NanLogits`] (first NaN token). `-inf` means
//!    "banned" (e.g. by a structured-output mask). A `+inf` logit, or a logit that bias or
//!    penalties push to `+inf`/NaN, is [`KernelError::InvalidArgument`] naming the token.
//! 2. **Processing** (vLLM's order), only on finite logits — a `-inf` logit stays `-inf`:
//!    `x = l + bias` (entries of [`RowParams::logit_bias`] for the same token add up in list
//!    order); then the repetition penalty `r` on every token of `prompt_tokens ∪ output_tokens`:
//!    `x = x / r` if `x > 0`, else `x = x * r`; then, with `c` = occurrences in `output_tokens`
//!    and `c > 0`: `x = x - frequency * c`, then `x = x - presence` (OpenAI semantics). Every
//!    step is one rounded f32 operation, in this order, on every backend.
//! 3. **Allowed set** `A = {i : x_i > -inf}`; empty → [`KernelError::NothingAllowed`].
//! 4. **Greedy** ([`SamplingMode::Greedy`], or a temperature below [`MIN_TEMPERATURE`], or
//!    `top_k = 1`): the token with the largest `x`, the lowest id on ties.
//! 5. **Random.** `m = max x`, `scale = log2(e) / T` (one f32 division) and the scaled logits
//!    `t_i = (x_i - m) * scale` (f32), so token `i` has weight `2^t_i ≈ exp((x_i - m) / T)`.
//!    The *order* of the row is "larger `x` first, lower id on ties". Filters, in vLLM's order,
//!    each keeping a prefix of that order:
//!    - **min-p** keeps `t_i ≥ log2(min_p)` (i.e. `p_i ≥ min_p · p_max`);
//!    - **top-k** keeps the first `k` of what is left;
//!    - **top-p** keeps the shortest prefix of what is left whose mass reaches `top_p` times its
//!      total mass, the token that crosses included. Masses are the exact integers
//!      `q_i = trunc(2^(t_i + 28))` (see [`rng`] for the f32 `2^x`), summed in u64 and compared
//!      as `prefix ≥ ceil(top_p × total)` in exact integer arithmetic, so the kept set does not
//!      depend on summation order and is identical on every backend. Tokens lighter than
//!      `2^-28` (≈ 3.7e-9) of the top token weigh 0: at most `vocab × 2^-28` of the top
//!      token's mass (5e-4 for a 128k vocabulary, in the worst case) is ignored.
//!
//!    The token is then drawn from the kept set `S` by **inverse transform on the exact
//!    masses in token-id order**: with `Z = Σ_S q_i` and the request's 64-bit uniform `u`
//!    ([`rng`]), `r = ⌊u · Z / 2^64⌋` and the token is the `i ∈ S` (ids increasing) with
//!    `Σ_{j<i} q_j ≤ r < Σ_{j≤i} q_j`. Token `i` is drawn with probability `q_i / Z`, all in
//!    integer arithmetic: no sort, no float prefix sum, the same token on every backend, and a
//!    row's token is a pure function of its logits and parameters (batch neighbours and
//!    thread count never change it).
//! 6. **Logprobs** (when [`RowParams::logprobs`] asks): `log_softmax(l)` of the *raw* logits,
//!    as vLLM's default `raw_logprobs` — the sampled token's value and the top `n` tokens (larger
//!    first, lower id on ties; `-inf` tokens last by id). Nothing is computed when not asked.
//!
//! Edge cases: `top_k` ≥ `vocab_size`, `top_p = 1` and `min_p = 0` are "off"; `top_k = 1` is
//! greedy; `top_p = 0` is rejected by [`SamplingArgs::validate`] (use greedy or `top_k = 1`).
//! Differences to vLLM: ties at the k-th value are broken by id (vLLM keeps them all); masses
//! below `2^-28` of the top token are 0; the draw is an inverse transform on integer masses
//! (vLLM: an exponential race on float probabilities). An exponential race keyed per token
//! would be just as exact, but it needs a counter-based hash and two logarithms for every
//! kept token — several times the cost of the masses, which top-p computes anyway.
//!
//! # Backends
//! - [`reference`](mod@reference): dense penalty arrays, a full sort of the vocabulary, then
//!   the draw: the obviously correct definition, and the "sort-based" baseline of the benches.
//! - CPU ([`cpu_sample`]): threshold searches instead of sorts — a running top-k pass, an
//!   exact mass pass collecting the candidates above a safe threshold, and a weighted
//!   selection on those candidates; AVX-512 or portable kernels ([`crate::CpuBackend::isa`]);
//!   rows on rayon.
//! - CUDA: one CTA per row; radix selection by count and by mass with block reductions, then
//!   the draw with warp sums and a warp scan in id order (`sampling.cu`).
//!
//! Every backend returns bit-identical tokens for the same inputs; logprobs agree within
//! `1e-5` (relative or absolute). [`SamplingArgs::validate`] runs first on every backend.

mod cpu;
#[cfg(target_arch = "x86_64")]
mod cpu_avx512;
mod cpu_portable;
#[cfg(feature = "cuda")]
pub(crate) mod cuda;
mod edits;
pub mod reference;
pub mod rng;

use std::num::NonZeroU32;

pub use cpu::sample as cpu_sample;

use crate::device::Backend;
use crate::error::check_len;
use crate::{KernelError, Result};

const OP: &str = "sampling";

/// Temperatures below this are greedy (vLLM's `_SAMPLING_EPS`); it also keeps `1 / T` finite.
pub const MIN_TEMPERATURE: f32 = 1e-5;
/// Largest supported vocabulary (token ids and mass sums stay far from any overflow).
pub const MAX_VOCAB_SIZE: usize = 1 << 24;
/// Most top logprobs one row may ask for.
pub const MAX_TOP_LOGPROBS: u32 = 1024;

/// How a row picks its token.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SamplingMode {
    /// The largest processed logit, lowest id on ties. No randomness.
    Greedy,
    /// A random draw from the filtered, temperature-scaled distribution.
    Random(RandomSampling),
}

/// Parameters of a random draw. Build with [`RandomSampling::new`] and the `with_*` methods.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RandomSampling {
    /// Softmax temperature, finite and ≥ 0; below [`MIN_TEMPERATURE`] the row is greedy.
    pub temperature: f32,
    /// Keep only the `k` most likely tokens; `None` (or `k ≥ vocab_size`) = off.
    pub top_k: Option<NonZeroU32>,
    /// Nucleus: keep the shortest most-likely prefix with this much mass; in `(0, 1]`, 1 = off.
    pub top_p: f32,
    /// Keep tokens at least `min_p` times as likely as the top one; in `[0, 1]`, 0 = off
    /// (values below `f32::MIN_POSITIVE` count as 0).
    pub min_p: f32,
    /// The request's seed.
    pub seed: u64,
    /// The request's step counter (e.g. the number of tokens generated so far), so successive
    /// tokens of one request draw different numbers from one seed.
    pub step: u64,
}

impl RandomSampling {
    /// Temperature sampling with every filter off.
    pub fn new(temperature: f32, seed: u64, step: u64) -> Self {
        Self {
            temperature,
            top_k: None,
            top_p: 1.0,
            min_p: 0.0,
            seed,
            step,
        }
    }

    /// Sets top-k; `0` turns it off (OpenAI/vLLM use `0` or `-1` for "off").
    pub fn with_top_k(self, k: u32) -> Self {
        Self {
            top_k: NonZeroU32::new(k),
            ..self
        }
    }

    /// Sets top-p.
    pub fn with_top_p(self, top_p: f32) -> Self {
        Self { top_p, ..self }
    }

    /// Sets min-p.
    pub fn with_min_p(self, min_p: f32) -> Self {
        Self { min_p, ..self }
    }
}

/// Penalties over the row's own token history (vLLM/OpenAI semantics, see the module docs).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Penalties<'a> {
    /// Multiplicative penalty on tokens of `prompt_tokens ∪ output_tokens`; > 0, 1 = off.
    pub repetition: f32,
    /// Subtracted once from every token that occurs in `output_tokens`; 0 = off.
    pub presence: f32,
    /// Subtracted per occurrence in `output_tokens`; 0 = off.
    pub frequency: f32,
    /// The request's prompt (token ids < `vocab_size`).
    pub prompt_tokens: &'a [u32],
    /// The tokens generated so far (token ids < `vocab_size`).
    pub output_tokens: &'a [u32],
}

impl Penalties<'_> {
    /// No penalty at all.
    pub const NONE: Penalties<'static> = Penalties {
        repetition: 1.0,
        presence: 0.0,
        frequency: 0.0,
        prompt_tokens: &[],
        output_tokens: &[],
    };

    /// Whether some penalty changes some logit.
    pub fn is_active(&self) -> bool {
        self.repetition != 1.0 || self.presence != 0.0 || self.frequency != 0.0
    }
}

impl Default for Penalties<'_> {
    fn default() -> Self {
        Penalties::NONE
    }
}

/// Everything one row of the batch asks for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RowParams<'a> {
    /// Greedy or random.
    pub mode: SamplingMode,
    /// Repetition / presence / frequency penalties.
    pub penalties: Penalties<'a>,
    /// Sparse `(token, bias)` list added to the logits before the penalties.
    pub logit_bias: &'a [(u32, f32)],
    /// `Some(n)`: return the sampled token's logprob and the `n` (≤ [`MAX_TOP_LOGPROBS`]) most
    /// likely tokens' logprobs; `None`: compute no logprob at all.
    pub logprobs: Option<u32>,
}

impl RowParams<'static> {
    /// Greedy, no penalty, no bias, no logprobs.
    pub fn greedy() -> Self {
        Self::new(SamplingMode::Greedy)
    }

    /// A random draw, no penalty, no bias, no logprobs.
    pub fn random(params: RandomSampling) -> Self {
        Self::new(SamplingMode::Random(params))
    }

    fn new(mode: SamplingMode) -> Self {
        Self {
            mode,
            penalties: Penalties::NONE,
            logit_bias: &[],
            logprobs: None,
        }
    }
}

impl<'a> RowParams<'a> {
    /// Sets the penalties.
    pub fn with_penalties<'b>(self, penalties: Penalties<'b>) -> RowParams<'b>
    where
        'a: 'b,
    {
        RowParams { penalties, ..self }
    }

    /// Sets the logit bias list.
    pub fn with_logit_bias<'b>(self, logit_bias: &'b [(u32, f32)]) -> RowParams<'b>
    where
        'a: 'b,
    {
        RowParams { logit_bias, ..self }
    }

    /// Asks for the sampled token's logprob and the top `n` logprobs.
    pub fn with_logprobs(self, n: u32) -> Self {
        Self {
            logprobs: Some(n),
            ..self
        }
    }
}

/// Shapes and per-row parameters of one sampling call (the logits are a backend buffer).
#[derive(Debug, Clone, Copy)]
pub struct SamplingArgs<'a> {
    /// Rows of the logits buffer; equals `rows.len()`.
    pub num_rows: usize,
    /// Vocabulary size (length of a logits row), `1..=MAX_VOCAB_SIZE`.
    pub vocab_size: usize,
    /// One entry per row (host memory).
    pub rows: &'a [RowParams<'a>],
}

impl SamplingArgs<'_> {
    /// Checks shapes and every parameter, naming the row, the argument and its value.
    pub fn validate(&self, logits_len: usize) -> Result<()> {
        let vocab = self.vocab_size;
        if vocab == 0 || vocab > MAX_VOCAB_SIZE {
            return Err(KernelError::invalid(
                OP,
                "vocab_size",
                format!("is {vocab}; expected 1..={MAX_VOCAB_SIZE}"),
            ));
        }
        if self.rows.len() != self.num_rows {
            return Err(KernelError::invalid(
                OP,
                "rows",
                format!(
                    "has {} entries but num_rows is {}; give one RowParams per logits row",
                    self.rows.len(),
                    self.num_rows
                ),
            ));
        }
        check_len(
            OP,
            "logits",
            logits_len,
            self.num_rows * vocab,
            "num_rows × vocab_size",
        )?;
        for (r, row) in self.rows.iter().enumerate() {
            validate_row(r, row, vocab)?;
        }
        Ok(())
    }
}

fn bad(arg: &'static str, row: usize, what: String) -> KernelError {
    KernelError::invalid(OP, arg, format!("row {row}: {what}"))
}

fn validate_row(r: usize, row: &RowParams<'_>, vocab: usize) -> Result<()> {
    if let SamplingMode::Random(p) = &row.mode {
        if !(p.temperature >= 0.0 && p.temperature.is_finite()) {
            return Err(bad(
                "temperature",
                r,
                format!("is {}; expected a finite value ≥ 0", p.temperature),
            ));
        }
        if !(p.top_p > 0.0 && p.top_p <= 1.0) {
            return Err(bad(
                "top_p",
                r,
                format!(
                    "is {}; expected 0 < top_p ≤ 1 (1 = off; for top_p → 0 use greedy or \
                     top_k = 1)",
                    p.top_p
                ),
            ));
        }
        if !(0.0..=1.0).contains(&p.min_p) {
            return Err(bad(
                "min_p",
                r,
                format!("is {}; expected 0 ≤ min_p ≤ 1 (0 = off)", p.min_p),
            ));
        }
    }
    let pen = &row.penalties;
    if !(pen.repetition > 0.0 && pen.repetition.is_finite()) {
        return Err(bad(
            "repetition_penalty",
            r,
            format!(
                "is {}; expected a finite value > 0 (1 = off)",
                pen.repetition
            ),
        ));
    }
    for (arg, v) in [
        ("presence_penalty", pen.presence),
        ("frequency_penalty", pen.frequency),
    ] {
        if !v.is_finite() {
            return Err(bad(arg, r, format!("is {v}; expected a finite value")));
        }
    }
    for (arg, tokens) in [
        ("prompt_tokens", pen.prompt_tokens),
        ("output_tokens", pen.output_tokens),
    ] {
        if let Some((j, &t)) = tokens
            .iter()
            .enumerate()
            .find(|&(_, &t)| t as usize >= vocab)
        {
            return Err(bad(
                arg,
                r,
                format!("entry {j} is token {t}, out of range for vocab_size {vocab}"),
            ));
        }
    }
    for (j, &(t, b)) in row.logit_bias.iter().enumerate() {
        if t as usize >= vocab {
            return Err(bad(
                "logit_bias",
                r,
                format!("entry {j} is token {t}, out of range for vocab_size {vocab}"),
            ));
        }
        if !b.is_finite() {
            return Err(bad(
                "logit_bias",
                r,
                format!("entry {j} (token {t}) has bias {b}; expected a finite value"),
            ));
        }
    }
    if let Some(n) = row.logprobs
        && (n > MAX_TOP_LOGPROBS || n as usize > vocab)
    {
        return Err(bad(
            "logprobs",
            r,
            format!("asks for {n} top logprobs; expected ≤ min({MAX_TOP_LOGPROBS}, vocab_size)"),
        ));
    }
    Ok(())
}

/// The logprobs of one sampled row (natural log of the raw distribution `softmax(l)`).
#[derive(Debug, Clone, PartialEq)]
pub struct Logprobs {
    /// Logprob of the sampled token.
    pub sampled: f32,
    /// The `n` most likely tokens, most likely first (lower id on ties).
    pub top: Vec<TopLogprob>,
}

/// One entry of [`Logprobs::top`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TopLogprob {
    /// Token id.
    pub token: u32,
    /// Its logprob.
    pub logprob: f32,
}

/// The result for one row.
#[derive(Debug, Clone, PartialEq)]
pub struct SampledToken {
    /// The chosen token id.
    pub token: u32,
    /// Present exactly when the row asked for logprobs.
    pub logprobs: Option<Logprobs>,
}

/// The sampling op, implemented by every backend.
pub trait SamplingOp: Backend {
    /// Samples one token per row. `logits` is not modified. See the [module docs](self).
    fn sample(&self, logits: &Self::Buf<f32>, args: &SamplingArgs<'_>)
    -> Result<Vec<SampledToken>>;
}

/// A row's parameters resolved once for every backend: "off" filters removed, greedy cases
/// folded, the RNG key and the f32 constants of the semantics computed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum RowPlan {
    Greedy,
    Random(RandomPlan),
}

/// See [`RowPlan`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct RandomPlan {
    /// `log2(e) / T`.
    pub scale: f32,
    /// `k < vocab_size`, `k ≥ 2`.
    pub top_k: Option<u32>,
    /// `top_p < 1`.
    pub top_p: Option<f32>,
    /// `log2(min_p)`, or `-inf` when min-p is off.
    pub min_t: f32,
    /// [`rng::row_uniform`] of (seed, step).
    pub draw: u64,
}

impl RandomPlan {
    /// No top-k, top-p or min-p: every allowed token is kept.
    pub(crate) fn is_unfiltered(&self) -> bool {
        self.top_k.is_none() && self.top_p.is_none() && self.min_t == f32::NEG_INFINITY
    }
}

impl RowPlan {
    pub(crate) fn new(mode: &SamplingMode, vocab: usize) -> Self {
        let p = match mode {
            SamplingMode::Greedy => return RowPlan::Greedy,
            SamplingMode::Random(p) => p,
        };
        let top_k = p
            .top_k
            .map(NonZeroU32::get)
            .filter(|&k| (k as usize) < vocab);
        if p.temperature < MIN_TEMPERATURE || top_k == Some(1) {
            return RowPlan::Greedy;
        }
        RowPlan::Random(RandomPlan {
            scale: std::f32::consts::LOG2_E / p.temperature,
            top_k,
            top_p: (p.top_p < 1.0).then_some(p.top_p),
            min_t: if p.min_p >= f32::MIN_POSITIVE {
                rng::log2(p.min_p)
            } else {
                f32::NEG_INFINITY
            },
            draw: rng::row_uniform(p.seed, p.step),
        })
    }
}

/// `a` comes strictly before `b` in the row order (larger value first, lower id on ties).
#[inline(always)]
pub(crate) fn before(a: (f32, u32), b: (f32, u32)) -> bool {
    a.0 > b.0 || (a.0 == b.0 && a.1 < b.1)
}

/// The row order as an [`Ordering`](std::cmp::Ordering) (`Less` = earlier); no NaN allowed.
pub(crate) fn order_cmp(a: (f32, u32), b: (f32, u32)) -> std::cmp::Ordering {
    b.0.partial_cmp(&a.0)
        .expect("no NaN in a checked row")
        .then(a.1.cmp(&b.1))
}

/// The error for a row whose (processed) logits contain NaN or `+inf`: the first raw NaN wins,
/// else the first token whose processed logit is NaN or `+inf`.
pub(crate) fn bad_logit_error(row: usize, raw: &[f32], processed: &[f32]) -> KernelError {
    if let Some(token) = raw.iter().position(|v| v.is_nan()) {
        return KernelError::NanLogits { row, token };
    }
    let token = processed
        .iter()
        .position(|&v| v.is_nan() || v == f32::INFINITY)
        .expect("a bad logit exists");
    bad_logit_at(row, token, raw[token], processed[token])
}

/// The error for a non-NaN raw logit that is, or becomes, `+inf` or NaN.
pub(crate) fn bad_logit_at(row: usize, token: usize, raw: f32, processed: f32) -> KernelError {
    KernelError::invalid(
        OP,
        "logits",
        format!(
            "row {row}: token {token} has raw logit {raw} and {processed} after logit bias and \
             penalties; logits must be finite or -inf, and bias/penalties must not overflow them"
        ),
    )
}
