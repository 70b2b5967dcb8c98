//! `custom`: the user's own prompts, one JSON object per line (vLLM's `CustomDataset`).
//!
//! ```text
//! {"prompt": "What is the capital of India?", "output_tokens": 10}
//! {"prompt": "What is the capital of Iran?"}
//! ```
//!
//! `prompt` (a string) is required; `output_tokens` (a token count) is optional unless
//! `--custom-output-len -1` asks for each line's own. Blank lines are skipped. Rows are
//! shuffled with the seed (unless `disable_shuffle`); `num_prompts == 0` uses every row. Each
//! prompt is rendered through the chat template unless `skip_chat_template`; `prompt_len`
//! counts the rendered prompt with special tokens.
//!
//! Differences from vLLM: a tokenizer without a chat template sends the prompt as it is (vLLM
//! fails), and every line is checked before sampling, so a malformed line anywhere in the file
//! is reported with its line number.

use std::path::Path;

use rand::seq::SliceRandom;
use serde_json::Value;

use super::args::CustomOutputLen;
use super::error::{DatasetError, Location, Result};
use super::source::{kind, malformed, parse_json, read_text, token_count};
use super::{Context, Prompt, SampleRequest};

const EXPECTED: &str =
    "one JSON object per line: {\"prompt\": \"...\", \"output_tokens\": <count, optional>}";

/// One line of the file.
struct Row {
    prompt: String,
    output_tokens: Option<usize>,
}

/// Requests from the JSONL file at `path`.
pub(crate) fn sample(
    ctx: &Context<'_>,
    path: &Path,
    output_len: CustomOutputLen,
    skip_chat_template: bool,
) -> Result<Vec<SampleRequest>> {
    let mut rows = read_rows(path, output_len)?;
    if rows.is_empty() {
        return Err(DatasetError::NoUsableRows {
            path: path.to_owned(),
            reason: format!("the file has no JSON lines; expected {EXPECTED}"),
        });
    }
    if !ctx.disable_shuffle {
        rows.shuffle(&mut ctx.rng());
    }
    let num_prompts = if ctx.num_prompts == 0 {
        rows.len()
    } else {
        ctx.num_prompts
    };
    let tok = ctx.tokenizer;
    let mut requests: Vec<SampleRequest> = rows
        .into_iter()
        .take(num_prompts)
        .enumerate()
        .map(|(i, row)| {
            let prompt = if skip_chat_template {
                row.prompt
            } else {
                tok.apply_chat_template(&row.prompt).unwrap_or(row.prompt)
            };
            let expected_output_len = match output_len {
                CustomOutputLen::Fixed(len) => len,
                CustomOutputLen::PerLine => row.output_tokens.unwrap_or_default(),
            };
            SampleRequest {
                request_id: ctx.request_id(i),
                prompt_len: tok.encode(&prompt, true).len(),
                prompt: Prompt::Text(prompt),
                expected_output_len,
                timestamp: None,
            }
        })
        .collect();
    ctx.oversample_to(&mut requests, num_prompts);
    Ok(requests)
}

/// Every non-blank line of `path`, checked.
fn read_rows(path: &Path, output_len: CustomOutputLen) -> Result<Vec<Row>> {
    let text = read_text(path)?;
    let mut rows = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        if raw.trim().is_empty() {
            continue;
        }
        let line = index as u64 + 1;
        let at = Location::Line(line);
        let value = parse_json(path, raw, line - 1, EXPECTED)?;
        let Some(object) = value.as_object() else {
            return Err(malformed(
                path,
                at,
                format!("found {}", kind(&value)),
                EXPECTED,
            ));
        };
        let prompt = match object.get("prompt") {
            Some(Value::String(prompt)) => prompt.clone(),
            Some(other) => {
                return Err(malformed(
                    path,
                    at,
                    format!("`prompt` is {}", kind(other)),
                    EXPECTED,
                ));
            }
            None => return Err(malformed(path, at, "no `prompt` field", EXPECTED)),
        };
        let output_tokens = match object.get("output_tokens") {
            None | Some(Value::Null) => None,
            Some(value) => Some(token_count(value).ok_or_else(|| {
                malformed(
                    path,
                    at,
                    format!("`output_tokens` is {value}, not a token count"),
                    EXPECTED,
                )
            })?),
        };
        if output_len == CustomOutputLen::PerLine && output_tokens.is_none() {
            return Err(malformed(
                path,
                at,
                "no `output_tokens`, which --custom-output-len -1 requires on every line \
                 (or pass a fixed --custom-output-len)",
                EXPECTED,
            ));
        }
        rows.push(Row {
            prompt,
            output_tokens,
        });
    }
    Ok(rows)
}
