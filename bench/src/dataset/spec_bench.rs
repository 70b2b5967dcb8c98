//! `spec_bench`: Spec-Bench's `question.jsonl` (vLLM's `SpecBench`), the speculative-decoding
//! workload of 13 categories (writing, roleplay, reasoning, math, coding, extraction, stem,
//! humanities, translation, summarization, qa, math_reasoning, rag).
//!
//! Each line is `{"question_id": …, "category": …, "turns": [first, …]}`; the prompt is
//! `turns[0]`. `--spec-bench-category` keeps one category. Rows are shuffled with the seed
//! (unless `disable_shuffle`), the first `num_prompts` are used (0: every row) and oversampled
//! when too few, as for `custom`. Each prompt is rendered through the chat template unless
//! `skip_chat_template`; `prompt_len` counts the rendered prompt with special tokens, and every
//! request asks for `--spec-bench-output-len` tokens.
//!
//! Beyond vLLM: every line is checked (a malformed one is named by its line), a category that
//! matches nothing is an error that lists the file's categories, and a JSON list of the same
//! objects is read too.

use std::collections::BTreeSet;
use std::path::Path;

use rand::seq::SliceRandom;

use super::error::{DatasetError, Result};
use super::records::read_records;
use super::source::{first_turn, str_field};
use super::{Context, Prompt, SampleRequest};

const EXPECTED: &str = "Spec-Bench JSONL, one {\"category\": \"...\", \"turns\": [\"...\", ...]} \
                        object per line";

/// The `spec_bench` dataset's options (`--spec-bench-*`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpecBenchArgs {
    /// `--spec-bench-output-len` (256).
    pub output_len: usize,
    /// `--spec-bench-category`: only questions of this category.
    pub category: Option<String>,
}

impl Default for SpecBenchArgs {
    fn default() -> Self {
        Self {
            output_len: 256,
            category: None,
        }
    }
}

/// Requests from the Spec-Bench file at `path`.
pub(crate) fn sample(
    ctx: &Context<'_>,
    path: &Path,
    args: &SpecBenchArgs,
    skip_chat_template: bool,
) -> Result<Vec<SampleRequest>> {
    if args.output_len == 0 {
        return Err(DatasetError::InvalidArgument {
            flag: "--spec-bench-output-len",
            value: "0".to_owned(),
            expected: "expected at least 1 output token".to_owned(),
        });
    }
    let records = read_records(path, EXPECTED)?;
    let mut categories = BTreeSet::new();
    let mut prompts = Vec::new();
    for record in &records {
        let category = str_field(path, record.at, &record.object, "category", EXPECTED)?;
        let prompt = first_turn(path, record.at, &record.object, "turns", EXPECTED)?;
        categories.insert(category);
        if args.category.as_deref().is_none_or(|c| c == category) {
            prompts.push(prompt);
        }
    }
    if prompts.is_empty() {
        let reason = match &args.category {
            Some(wanted) if !records.is_empty() => format!(
                "no question has category `{wanted}`; --spec-bench-category takes one of: {}",
                categories.into_iter().collect::<Vec<_>>().join(", ")
            ),
            _ => format!("the file has no questions; expected {EXPECTED}"),
        };
        return Err(DatasetError::NoUsableRows {
            path: path.to_owned(),
            reason,
        });
    }
    if !ctx.disable_shuffle {
        prompts.shuffle(&mut ctx.rng());
    }
    let wanted = if ctx.num_prompts == 0 {
        prompts.len()
    } else {
        ctx.num_prompts
    };
    let tok = ctx.tokenizer;
    let mut requests: Vec<SampleRequest> = prompts
        .into_iter()
        .take(wanted)
        .enumerate()
        .map(|(i, prompt)| {
            let prompt = if skip_chat_template {
                prompt.to_owned()
            } else {
                tok.apply_chat_template(prompt)
                    .unwrap_or_else(|| prompt.to_owned())
            };
            SampleRequest {
                request_id: ctx.request_id(i),
                prompt_len: tok.encode(&prompt, true).len(),
                prompt: Prompt::Text(prompt),
                expected_output_len: args.output_len,
                timestamp: None,
            }
        })
        .collect();
    ctx.oversample_to(&mut requests, wanted);
    Ok(requests)
}
