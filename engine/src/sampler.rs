//! The engine's sampler: turns a step's logits and each row's [`SamplingParams`] into the
//! arguments of the `dyno-kernels` sampling op and runs it.
//!
//! Randomness is keyed, not stateful: row draws depend on `(seed, step)` where `step` is the
//! number of tokens the sample has generated so far. So a seeded request gives the same tokens
//! whatever else shares its batch, and after a preemption (vLLM's per-request generators give
//! the same guarantee).

use dyno_kernels::sampling::{
    MIN_TEMPERATURE, Penalties, RandomSampling, RowParams, SampledToken, SamplingArgs,
};
use dyno_kernels::{CpuBackend, SamplingOp};

use crate::error::Result;
use crate::kv_cache::TokenId;
use crate::model::Logits;
use crate::request::{RequestId, SamplingParams};

/// One row to sample: a sequence that reached its last token this step.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SampleRow<'a> {
    pub params: &'a SamplingParams,
    /// The sample's seed (see [`sample_seed`]).
    pub seed: u64,
    /// The sample's prompt.
    pub prompt: &'a [TokenId],
    /// Its output so far (its length is the draw's step counter).
    pub output: &'a [TokenId],
}

/// Samples one token per logits row with the CPU sampling op.
#[derive(Debug, Default)]
pub(crate) struct Sampler {
    backend: CpuBackend,
    /// Scratch for penalty histories as plain ids, reused across steps.
    history: Vec<(Vec<u32>, Vec<u32>)>,
}

impl Sampler {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Row `i` of `logits` is sampled with `rows[i]`.
    pub(crate) fn sample(
        &mut self,
        logits: &Logits,
        rows: &[SampleRow<'_>],
    ) -> Result<Vec<SampledToken>> {
        let ids = |t: &[TokenId]| t.iter().map(|t| t.0).collect::<Vec<u32>>();
        self.history.clear();
        for row in rows {
            if penalties_active(row.params) {
                self.history.push((ids(row.prompt), ids(row.output)));
            } else {
                self.history.push((Vec::new(), Vec::new()));
            }
        }
        let params: Vec<RowParams<'_>> = rows
            .iter()
            .zip(&self.history)
            .map(|(row, (prompt, output))| row_params(row, prompt, output))
            .collect();
        let args = SamplingArgs {
            num_rows: rows.len(),
            vocab_size: logits.vocab_size,
            rows: &params,
        };
        Ok(self.backend.sample(&logits.data, &args)?)
    }
}

fn penalties_active(p: &SamplingParams) -> bool {
    p.repetition_penalty != 1.0 || p.presence_penalty != 0.0 || p.frequency_penalty != 0.0
}

fn row_params<'a>(row: &SampleRow<'_>, prompt: &'a [u32], output: &'a [u32]) -> RowParams<'a> {
    let p = row.params;
    let base = if p.temperature < MIN_TEMPERATURE {
        RowParams::greedy()
    } else {
        let mut random = RandomSampling::new(p.temperature, row.seed, row.output.len() as u64)
            .with_top_p(p.top_p)
            .with_min_p(p.min_p);
        if let Some(k) = p.top_k {
            random = random.with_top_k(k);
        }
        RowParams::random(random)
    };
    let base = match p.logprobs {
        Some(n) => base.with_logprobs(n),
        None => base,
    };
    if penalties_active(p) {
        base.with_penalties(Penalties {
            repetition: p.repetition_penalty,
            presence: p.presence_penalty,
            frequency: p.frequency_penalty,
            prompt_tokens: prompt,
            output_tokens: output,
        })
    } else {
        base
    }
}

/// The seed of sample `sample_index` of `request`: the request's own seed when it has one
/// (sample 0 uses it unchanged), otherwise one derived from the engine's seed and the request id.
pub(crate) fn sample_seed(
    engine_seed: u64,
    request_seed: Option<u64>,
    request: RequestId,
    sample_index: u32,
) -> u64 {
    let base = request_seed.unwrap_or_else(|| mix(engine_seed ^ mix(request.0)));
    if sample_index == 0 {
        base
    } else {
        mix(base ^ mix(u64::from(sample_index)))
    }
}

/// splitmix64's finalizer: a bijective 64-bit mix.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logits(rows: &[&[f32]]) -> Logits {
        Logits {
            data: rows.iter().flat_map(|r| r.iter().copied()).collect(),
            vocab_size: rows[0].len(),
        }
    }

    #[test]
    fn greedy_rows_take_the_argmax() {
        let params = SamplingParams::greedy(4);
        let row = SampleRow {
            params: &params,
            seed: 1,
            prompt: &[],
            output: &[],
        };
        let l = logits(&[&[0.0, 3.0, 1.0], &[5.0, 0.0, 1.0]]);
        let out = Sampler::new().sample(&l, &[row, row]).unwrap();
        assert_eq!(out.iter().map(|t| t.token).collect::<Vec<_>>(), [1, 0]);
    }

    #[test]
    fn repetition_penalty_uses_the_history() {
        let params = SamplingParams {
            repetition_penalty: 10.0,
            ..SamplingParams::greedy(4)
        };
        let row = SampleRow {
            params: &params,
            seed: 1,
            prompt: &[TokenId(1)],
            output: &[],
        };
        // Token 1 leads by a little; a strong repetition penalty hands the row to token 2.
        let l = logits(&[&[0.0, 3.0, 2.0]]);
        let out = Sampler::new().sample(&l, &[row]).unwrap();
        assert_eq!(out[0].token, 2);
    }

    #[test]
    fn seeded_draws_repeat_and_steps_differ() {
        let params = SamplingParams::default();
        let flat = vec![0.0f32; 64];
        let l = logits(&[&flat]);
        let draw = |seed, output: &[TokenId]| {
            let row = SampleRow {
                params: &params,
                seed,
                prompt: &[],
                output,
            };
            Sampler::new().sample(&l, &[row]).unwrap()[0].token
        };
        assert_eq!(draw(7, &[]), draw(7, &[]));
        let history: Vec<TokenId> = (0..10).map(TokenId).collect();
        let tokens: Vec<u32> = (0..10).map(|i| draw(7, &history[..i])).collect();
        assert!(tokens.iter().any(|&t| t != tokens[0]), "{tokens:?}");
    }

    #[test]
    fn sample_seeds() {
        assert_eq!(sample_seed(1, Some(42), RequestId(3), 0), 42);
        assert_ne!(sample_seed(1, Some(42), RequestId(3), 1), 42);
        assert_ne!(
            sample_seed(1, None, RequestId(3), 0),
            sample_seed(1, None, RequestId(4), 0)
        );
        assert_ne!(
            sample_seed(1, None, RequestId(3), 0),
            sample_seed(2, None, RequestId(3), 0)
        );
    }
}
