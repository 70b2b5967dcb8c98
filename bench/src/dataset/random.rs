//! `random`: synthetic prompts of exact token lengths (vLLM's `RandomDataset`).
//!
//! Per request, a prompt length is drawn uniformly from
//! `[floor(L·(1−r)), ceil(L·(1+r))]` with `L = input_len − num_special_tokens_to_add` (the
//! server adds those), and an output length from `[max(1, floor(O·(1−r))), ceil(O·(1+r))]`.
//! The body is a run of consecutive allowed token ids (the vocabulary minus special ids)
//! starting at a random offset; a random prefix of `prefix_len` tokens, drawn once, is shared by
//! every prompt. Each prompt is then made to re-encode to its target length
//! ([`fit_to_length`]), and `prompt_len` is its final token count.
//!
//! **Short inputs never give empty prompts.** vLLM subtracts the special tokens and so sends an
//! empty prompt for `--random-input-len 1` with a BOS-adding tokenizer (vllm#24591); its fix
//! refuses such lengths. Here, without a prefix, the body has at least one token: the prompt is
//! never empty, and the server then sees `1 + num_special_tokens_to_add` tokens, which is more
//! than `input_len` only when `input_len` is at most the special-token count.

use rand::Rng;

use super::args::RandomArgs;
use super::error::{DatasetError, Result};
use super::tokens::{allowed_tokens, fit_to_length, random_tokens};
use super::{Context, Prompt, SampleRequest};

/// Inclusive bounds of the sampled lengths.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LengthBounds {
    /// Least body tokens (the shared prefix comes on top).
    pub input_min: usize,
    /// Most body tokens.
    pub input_max: usize,
    /// Least output tokens.
    pub output_min: usize,
    /// Most output tokens.
    pub output_max: usize,
}

impl LengthBounds {
    /// The bounds `random` draws from for `args` and a tokenizer adding `num_special` tokens.
    pub fn new(args: &RandomArgs, num_special: usize) -> Result<Self> {
        if args.output_len == 0 {
            return Err(DatasetError::InvalidArgument {
                flag: "--random-output-len",
                value: "0".to_owned(),
                expected: "expected at least 1 output token".to_owned(),
            });
        }
        let real_input = args.input_len.saturating_sub(num_special) as f64;
        let r_in = args.range_ratio.input();
        let mut input_min = (real_input * (1.0 - r_in)).floor() as usize;
        let mut input_max = (real_input * (1.0 + r_in)).ceil() as usize;
        if args.prefix_len == 0 {
            input_min = input_min.max(1);
            input_max = input_max.max(input_min);
        }
        let out = args.output_len as f64;
        let r_out = args.range_ratio.output();
        let output_min = ((out * (1.0 - r_out)).floor() as usize).max(1);
        let output_max = ((out * (1.0 + r_out)).ceil() as usize).max(output_min);
        Ok(Self {
            input_min,
            input_max,
            output_min,
            output_max,
        })
    }
}

/// `num_prompts` random requests.
pub(crate) fn sample(ctx: &Context<'_>, args: &RandomArgs) -> Result<Vec<SampleRequest>> {
    let tok = ctx.tokenizer;
    let bounds = LengthBounds::new(args, tok.num_special_tokens_to_add())?;
    let allowed = allowed_tokens(tok)?;
    let vocab = tok.vocab_size();
    let mut rng = ctx.rng();

    let n = ctx.num_prompts;
    let input_lens: Vec<usize> = (0..n)
        .map(|_| rng.random_range(bounds.input_min..=bounds.input_max))
        .collect();
    let output_lens: Vec<usize> = (0..n)
        .map(|_| rng.random_range(bounds.output_min..=bounds.output_max))
        .collect();
    let offsets: Vec<usize> = (0..n).map(|_| rng.random_range(0..vocab)).collect();

    let prefix = if args.prefix_len == 0 {
        String::new()
    } else {
        let tokens = random_tokens(&allowed, args.prefix_len, &mut rng);
        fit_to_length(tok, &allowed, "", tokens, args.prefix_len, &mut rng).text
    };

    let mut requests = Vec::with_capacity(n);
    for (i, (&input_len, &output_len)) in input_lens.iter().zip(&output_lens).enumerate() {
        let start = offsets[i] + i;
        let body: Vec<u32> = (0..input_len)
            .map(|j| allowed[(start + j) % allowed.len()])
            .collect();
        let target = args.prefix_len + input_len;
        let fitted = fit_to_length(tok, &allowed, &prefix, body, target, &mut rng);
        requests.push(SampleRequest {
            request_id: ctx.request_id(i),
            prompt: Prompt::Text(fitted.text),
            prompt_len: fitted.len,
            expected_output_len: output_len,
            timestamp: None,
        });
    }
    Ok(requests)
}
