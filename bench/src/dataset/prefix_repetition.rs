//! `prefix_repetition`: groups of prompts sharing a prefix, the prefix-cache workload (vLLM's
//! `PrefixRepetitionRandomDataset`).
//!
//! `num_prefixes` random prefixes of exactly `prefix_len` tokens are made; prefix `p` gets
//! `num_prompts / num_prefixes` prompts, plus one when `p < num_prompts % num_prefixes`. Each
//! prompt is its group's prefix text followed by a fresh random suffix, made so the whole has
//! exactly `prefix_len + suffix_len` tokens. Every request asks for `output_len` tokens. The
//! requests are shuffled (unless `disable_shuffle`); ids follow the final order.
//!
//! Beyond vLLM: random tokens avoid special ids (vLLM draws from the whole vocabulary), and the
//! suffix is fitted after the prefix text rather than on its own, so `prompt_len` is the exact
//! count of the prompt sent and the prefix text is byte-identical within a group.

use rand::seq::SliceRandom;

use super::args::PrefixRepetitionArgs;
use super::error::{DatasetError, Result};
use super::tokens::{allowed_tokens, fit_to_length, random_tokens};
use super::{Context, Prompt, SampleRequest};

/// `num_prompts` requests in `num_prefixes` groups.
pub(crate) fn sample(ctx: &Context<'_>, args: &PrefixRepetitionArgs) -> Result<Vec<SampleRequest>> {
    let groups = args.num_prefixes;
    if groups == 0 {
        return Err(DatasetError::InvalidArgument {
            flag: "--prefix-repetition-num-prefixes",
            value: "0".to_owned(),
            expected: "expected at least 1 prefix".to_owned(),
        });
    }
    let n = ctx.num_prompts;
    let per_prefix = n / groups;
    if per_prefix == 0 {
        return Err(DatasetError::InvalidArgument {
            flag: "--num-prompts",
            value: n.to_string(),
            expected: format!(
                "expected at least one prompt per prefix: raise --num-prompts to \
                 {groups} or lower --prefix-repetition-num-prefixes"
            ),
        });
    }
    let remainder = n % groups;
    let tok = ctx.tokenizer;
    let allowed = allowed_tokens(tok)?;
    let mut rng = ctx.rng();
    let total_len = args.prefix_len + args.suffix_len;

    let mut prompts = Vec::with_capacity(n);
    for group in 0..groups {
        let tokens = random_tokens(&allowed, args.prefix_len, &mut rng);
        let prefix = fit_to_length(tok, &allowed, "", tokens, args.prefix_len, &mut rng).text;
        for _ in 0..per_prefix + usize::from(group < remainder) {
            let suffix = random_tokens(&allowed, args.suffix_len, &mut rng);
            prompts.push(fit_to_length(
                tok, &allowed, &prefix, suffix, total_len, &mut rng,
            ));
        }
    }
    if !ctx.disable_shuffle {
        prompts.shuffle(&mut rng);
    }
    Ok(prompts
        .into_iter()
        .enumerate()
        .map(|(i, fitted)| SampleRequest {
            request_id: ctx.request_id(i),
            prompt: Prompt::Text(fitted.text),
            prompt_len: fitted.len,
            expected_output_len: args.output_len,
            timestamp: None,
        })
        .collect())
}
