//! `sharegpt`: the first human turn of ShareGPT conversations (vLLM's `ShareGPTDataset`).
//!
//! The file is a JSON list of `{"conversations": [{"from": …, "value": …}, …], …}` objects.
//! Entries without `conversations` or with fewer than two turns are skipped; the rest are
//! shuffled with the seed (unless `disable_shuffle`). A request's prompt is `conversations[0]`
//! and its output length the token count of `conversations[1]` (special tokens included), or
//! `sharegpt_output_len` when given. Conversations failing vLLM's `is_valid_sequence` are
//! skipped, and the first `num_prompts` that pass are used (oversampled when too few).

use std::path::Path;

use rand::seq::SliceRandom;
use serde_json::Value;

use super::error::{DatasetError, Location, Result};
use super::source::{kind, malformed, parse_json, read_text};
use super::{Context, Prompt, SampleRequest};

const EXPECTED: &str =
    "a JSON list of ShareGPT objects {\"conversations\": [{\"from\": ..., \"value\": ...}, ...]}";

/// vLLM's `is_valid_sequence` limits.
const MIN_LEN: usize = 4;
const MAX_PROMPT_LEN: usize = 1024;
const MAX_TOTAL_LEN: usize = 2048;

/// vLLM's `is_valid_sequence`: a prompt of 4..=1024 tokens, an output of at least 4 (not
/// checked when the output length is fixed), and at most 2048 tokens together.
pub(crate) fn is_valid_sequence(prompt_len: usize, output_len: usize, output_fixed: bool) -> bool {
    is_valid_sequence_within(
        prompt_len,
        output_len,
        output_fixed,
        MAX_PROMPT_LEN,
        MAX_TOTAL_LEN,
    )
}

/// [`is_valid_sequence`] with other limits (vLLM's AIMO reader: 2048 and 32000).
pub(crate) fn is_valid_sequence_within(
    prompt_len: usize,
    output_len: usize,
    output_fixed: bool,
    max_prompt_len: usize,
    max_total_len: usize,
) -> bool {
    let prompt_too_short = prompt_len < MIN_LEN;
    let output_too_short = !output_fixed && output_len < MIN_LEN;
    let prompt_too_long = prompt_len > max_prompt_len;
    let total_too_long = prompt_len + output_len > max_total_len;
    !(prompt_too_short || output_too_short || prompt_too_long || total_too_long)
}

/// Up to `num_prompts` ShareGPT requests from `path`.
pub(crate) fn sample(
    ctx: &Context<'_>,
    path: &Path,
    output_len: Option<usize>,
) -> Result<Vec<SampleRequest>> {
    let text = read_text(path)?;
    let value = parse_json(path, &text, 0, EXPECTED)?;
    let Value::Array(entries) = value else {
        return Err(malformed(
            path,
            Location::Line(1),
            format!("the top level is {}", kind(&value)),
            EXPECTED,
        ));
    };
    let mut pairs = Vec::with_capacity(entries.len());
    for (index, entry) in entries.iter().enumerate() {
        if let Some(pair) = conversation_pair(path, index, entry)? {
            pairs.push(pair);
        }
    }
    if !ctx.disable_shuffle {
        pairs.shuffle(&mut ctx.rng());
    }

    let tok = ctx.tokenizer;
    let mut requests = Vec::new();
    for (prompt, completion) in &pairs {
        if requests.len() >= ctx.num_prompts {
            break;
        }
        let prompt_len = tok.encode(prompt, true).len();
        let expected_output_len = output_len.unwrap_or_else(|| tok.encode(completion, true).len());
        if !is_valid_sequence(prompt_len, expected_output_len, output_len.is_some()) {
            continue;
        }
        requests.push(SampleRequest {
            request_id: ctx.request_id(requests.len()),
            prompt: Prompt::Text((*prompt).to_owned()),
            prompt_len,
            expected_output_len,
            timestamp: None,
        });
    }
    if requests.is_empty() {
        let reason = if pairs.is_empty() {
            "no entry has a `conversations` list with at least two turns; expected ShareGPT \
             format"
                .to_owned()
        } else {
            format!(
                "none of its {} conversations passes vLLM's length filter (prompt of 4 to 1024 \
                 tokens, output of at least 4, at most 2048 together); use a dataset of \
                 shorter conversations or set --sharegpt-output-len",
                pairs.len()
            )
        };
        return Err(DatasetError::NoUsableRows {
            path: path.to_owned(),
            reason,
        });
    }
    ctx.oversample(&mut requests);
    Ok(requests)
}

/// The first two turns of entry `index`, or `None` when vLLM skips it.
fn conversation_pair<'v>(
    path: &Path,
    index: usize,
    entry: &'v Value,
) -> Result<Option<(&'v str, &'v str)>> {
    let at = Location::Entry(index);
    let Some(object) = entry.as_object() else {
        return Err(malformed(
            path,
            at,
            format!("found {}", kind(entry)),
            EXPECTED,
        ));
    };
    let Some(conversations) = object.get("conversations") else {
        return Ok(None);
    };
    let Some(turns) = conversations.as_array() else {
        return Err(malformed(
            path,
            at,
            format!("`conversations` is {}", kind(conversations)),
            EXPECTED,
        ));
    };
    if turns.len() < 2 {
        return Ok(None);
    }
    let value = |turn: usize| {
        turns[turn]
            .get("value")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                malformed(
                    path,
                    at,
                    format!("`conversations[{turn}].value` is missing or not a string"),
                    EXPECTED,
                )
            })
    };
    Ok(Some((value(0)?, value(1)?)))
}
