//! `burstgpt`: request and response lengths of real GPT-4 traffic (vLLM's `BurstGPTDataset`).
//!
//! The file is BurstGPT's CSV: columns `Timestamp, Model, Request tokens, Response tokens,
//! Total tokens, Log Type` (found by name, in any order). Rows with `Model == "GPT-4"` and
//! `Response tokens > 0` are kept; `num_prompts` of them are drawn with the seed, without
//! replacement, or with replacement when more are asked for than there are (pandas
//! `df.sample`). Request `i` sends the decoding of token ids `(i + j) % vocab_size` for
//! `j < Request tokens`, and `prompt_len` is `Request tokens`, not re-counted (as in vLLM).
//!
//! Beyond vLLM:
//! * `timestamp` holds the row's `Timestamp` minus the earliest kept row's (the first one in
//!   BurstGPT's time-ordered files), for trace replay; vLLM ignores the column. Requests come
//!   in sampled order, not time order: a replayer sorts them.
//! * `no_oversample` is honoured: asking for more requests than rows then gives every row once
//!   (shuffled) instead of repeating rows.

use std::path::Path;

use rand::Rng;
use rand::seq::index;

use super::error::{DatasetError, Location, Result};
use super::source::{malformed, read_text};
use super::{Context, Prompt, SampleRequest};

const EXPECTED: &str = "BurstGPT CSV columns Timestamp, Model, Request tokens, Response tokens, \
                        Total tokens, Log Type";

/// One kept row.
#[derive(Clone, Copy, Debug)]
struct Row {
    timestamp: f64,
    request_tokens: usize,
    response_tokens: usize,
}

/// `num_prompts` BurstGPT requests from `path`.
pub(crate) fn sample(ctx: &Context<'_>, path: &Path) -> Result<Vec<SampleRequest>> {
    let rows = read_rows(path)?;
    if rows.is_empty() {
        return Err(DatasetError::NoUsableRows {
            path: path.to_owned(),
            reason: "no row has Model \"GPT-4\" and Response tokens > 0; expected BurstGPT's \
                     trace (e.g. BurstGPT_without_fails_2.csv)"
                .to_owned(),
        });
    }
    let vocab = ctx.tokenizer.vocab_size();
    if vocab == 0 {
        return Err(DatasetError::InvalidTokenizer {
            problem: "its vocabulary is empty".to_owned(),
        });
    }
    let t0 = rows
        .iter()
        .map(|r| r.timestamp)
        .fold(f64::INFINITY, f64::min);

    let mut rng = ctx.rng();
    let n = ctx.num_prompts;
    let picks: Vec<usize> = if n <= rows.len() {
        index::sample(&mut rng, rows.len(), n).into_vec()
    } else if ctx.no_oversample {
        index::sample(&mut rng, rows.len(), rows.len()).into_vec()
    } else {
        (0..n).map(|_| rng.random_range(0..rows.len())).collect()
    };

    let requests = picks
        .iter()
        .enumerate()
        .map(|(i, &pick)| {
            let row = rows[pick];
            let ids: Vec<u32> = (0..row.request_tokens)
                .map(|j| ((i + j) % vocab) as u32)
                .collect();
            SampleRequest {
                request_id: ctx.request_id(i),
                prompt: Prompt::Text(ctx.tokenizer.decode(&ids)),
                prompt_len: row.request_tokens,
                expected_output_len: row.response_tokens,
                timestamp: Some(row.timestamp - t0),
            }
        })
        .collect();
    Ok(requests)
}

/// The kept rows of the CSV at `path`.
fn read_rows(path: &Path) -> Result<Vec<Row>> {
    let text = read_text(path)?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(text.as_bytes());
    let csv_error = |e: csv::Error| {
        let line = e.position().map_or(1, csv::Position::line);
        let problem = match e.kind() {
            csv::ErrorKind::UnequalLengths {
                expected_len, len, ..
            } => format!("invalid CSV: {len} fields where the header has {expected_len}"),
            _ => format!("invalid CSV ({e})"),
        };
        malformed(path, Location::Line(line), problem, EXPECTED)
    };
    let headers = reader.headers().map_err(csv_error)?.clone();
    let column = |name: &str| {
        headers
            .iter()
            .position(|h| h.trim() == name)
            .ok_or_else(|| {
                malformed(
                    path,
                    Location::Header,
                    format!("no `{name}` column"),
                    EXPECTED,
                )
            })
    };
    let timestamp = column("Timestamp")?;
    let model = column("Model")?;
    let request = column("Request tokens")?;
    let response = column("Response tokens")?;

    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(csv_error)?;
        let line = record.position().map_or(0, csv::Position::line);
        let field = |index: usize, name: &str| {
            record.get(index).ok_or_else(|| {
                malformed(
                    path,
                    Location::Line(line),
                    format!("no `{name}` field"),
                    EXPECTED,
                )
            })
        };
        let number = |index: usize, name: &str| {
            let raw = field(index, name)?;
            raw.trim().parse::<f64>().map_err(|_| {
                malformed(
                    path,
                    Location::Line(line),
                    format!("`{name}` is `{raw}`, not a number"),
                    EXPECTED,
                )
            })
        };
        if field(model, "Model")? != "GPT-4" || number(response, "Response tokens")? <= 0.0 {
            continue;
        }
        let count = |index: usize, name: &str| {
            let value = number(index, name)?;
            if value < 0.0 || value.fract() != 0.0 {
                return Err(malformed(
                    path,
                    Location::Line(line),
                    format!("`{name}` is {value}, not a token count"),
                    EXPECTED,
                ));
            }
            Ok(value as usize)
        };
        rows.push(Row {
            timestamp: number(timestamp, "Timestamp")?,
            request_tokens: count(request, "Request tokens")?,
            response_tokens: count(response, "Response tokens")?,
        });
    }
    Ok(rows)
}
