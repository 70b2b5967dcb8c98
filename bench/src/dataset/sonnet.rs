//! `sonnet`: lines of a poem behind a fixed instruction (vLLM's deprecated `SonnetDataset`).
//!
//! Every prompt is `"Pick as many lines as you can from these poem lines:\n"`, then the first
//! `round((prefix_len − base) / avg)` lines of the file (the shared prefix), then
//! `round((input_len − base) / avg)` minus that many lines drawn with replacement
//! (`random.choices`), where `avg` is the mean token count of a line and `base` the token
//! count of the rendered instruction alone. Rounding is Python's (half to even). A prompt is
//! kept only when its rendered form has at most `input_len` tokens; drawing repeats until
//! `num_prompts` are kept.
//!
//! Differences from vLLM, each on purpose:
//! * **No chat template.** vLLM requires one and fails without it. Here the prompt is then
//!   used as it is (rendered = raw), so the dataset also works for base models.
//! * **Seeded.** vLLM draws from Python's global `random` without seeding it from `--seed`;
//!   here the draws follow the seed.
//! * **Bounded.** vLLM loops forever when no prompt can fit `input_len` (say, a prefix longer
//!   than it); here drawing stops with an error once fewer than 1 draw in 1000 is kept.

use std::path::Path;

use rand::seq::IndexedRandom;

use super::args::{SonnetArgs, SonnetPrompt};
use super::error::{DatasetError, Result};
use super::source::read_text;
use super::{Context, Prompt, SampleRequest};

/// vLLM's instruction.
pub(crate) const BASE_PROMPT: &str = "Pick as many lines as you can from these poem lines:\n";

/// Draws allowed per kept prompt (plus one) before giving up.
const DRAWS_PER_PROMPT: usize = 1000;

/// `num_prompts` sonnet requests from the lines of `path`.
pub(crate) fn sample(
    ctx: &Context<'_>,
    path: &Path,
    args: &SonnetArgs,
) -> Result<Vec<SampleRequest>> {
    let text = read_text(path)?;
    let lines = poem_lines(&text);
    if lines.is_empty() {
        return Err(DatasetError::NoUsableRows {
            path: path.to_owned(),
            reason: "the file is empty; expected lines of a poem".to_owned(),
        });
    }
    let tok = ctx.tokenizer;
    let render = |prompt: &str| {
        tok.apply_chat_template(prompt)
            .unwrap_or_else(|| prompt.to_owned())
    };
    let total: usize = lines.iter().map(|l| tok.encode(l, true).len()).sum();
    if total == 0 {
        return Err(DatasetError::InvalidTokenizer {
            problem: "it encodes every poem line to no tokens".to_owned(),
        });
    }
    let avg_len = total as f64 / lines.len() as f64;
    let base_offset = tok.encode(&render(BASE_PROMPT), true).len();
    if args.input_len <= base_offset {
        return Err(DatasetError::InvalidArgument {
            flag: "--sonnet-input-len",
            value: args.input_len.to_string(),
            expected: format!(
                "expected more than the {base_offset} tokens of the rendered base prompt"
            ),
        });
    }
    let num_input_lines = python_round((args.input_len - base_offset) as f64 / avg_len).max(1);
    let num_prefix_lines = python_round((args.prefix_len as f64 - base_offset as f64) / avg_len);
    let prefix: String = lines[..num_prefix_lines.min(lines.len())].concat();
    let num_extra_lines = num_input_lines.saturating_sub(num_prefix_lines);

    let mut rng = ctx.rng();
    let mut requests = Vec::with_capacity(ctx.num_prompts);
    let mut draws = 0;
    while requests.len() < ctx.num_prompts {
        draws += 1;
        if draws > DRAWS_PER_PROMPT * (requests.len() + 1) {
            return Err(DatasetError::TooFewRequests {
                dataset: "sonnet",
                wanted: ctx.num_prompts,
                got: requests.len(),
                hint: format!(
                    "after {} draws, too few prompts of {num_input_lines} lines fit in \
                     --sonnet-input-len {}; raise it or lower --sonnet-prefix-len {}",
                    draws - 1,
                    args.input_len,
                    args.prefix_len
                ),
            });
        }
        let mut prompt = format!("{BASE_PROMPT}{prefix}");
        for _ in 0..num_extra_lines {
            if let Some(line) = lines.choose(&mut rng) {
                prompt.push_str(line);
            }
        }
        let formatted = render(&prompt);
        let prompt_len = tok.encode(&formatted, true).len();
        if prompt_len > args.input_len {
            continue;
        }
        let sent = match args.prompt {
            SonnetPrompt::ChatFormatted => formatted,
            SonnetPrompt::Raw => prompt,
        };
        requests.push(SampleRequest {
            request_id: ctx.request_id(requests.len()),
            prompt: Prompt::Text(sent),
            prompt_len,
            expected_output_len: args.output_len,
            timestamp: None,
        });
    }
    Ok(requests)
}

/// The file's lines with their line ends, as Python's `readlines()` gives them in text mode:
/// `\r\n` and `\r` become `\n`.
fn poem_lines(text: &str) -> Vec<String> {
    let normalized = text.replace("\r\n", "\n").replace('\r', "\n");
    normalized
        .split_inclusive('\n')
        .map(str::to_owned)
        .collect()
}

/// Python's `round(x)` for a count: half to even, negatives to 0.
fn python_round(x: f64) -> usize {
    let rounded = x.round_ties_even();
    if rounded <= 0.0 { 0 } else { rounded as usize }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_keep_unix_ends() {
        assert_eq!(poem_lines("a\r\nb\rc\nd"), ["a\n", "b\n", "c\n", "d"]);
        assert!(poem_lines("").is_empty());
    }

    #[test]
    fn rounding_is_half_to_even() {
        assert_eq!(python_round(2.5), 2);
        assert_eq!(python_round(3.5), 4);
        assert_eq!(python_round(2.4999), 2);
        assert_eq!(python_round(-3.0), 0);
    }
}
