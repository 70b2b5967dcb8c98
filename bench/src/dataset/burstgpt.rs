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
//! * trace replay: with `--self-timed` (see [`super::replay`]) the requests are the first
//!   `num_prompts` kept rows, and `timestamp` holds each row's `Timestamp` (seconds) minus the
//!   earliest one's, times `--trace-time-scale`; vLLM ignores the column. Without it,
//!   `timestamp` is `None`.
//! * `no_oversample` is honoured: asking for more requests than rows then gives every row once
//!   (shuffled) instead of repeating rows.

use std::path::Path;

use super::error::{DatasetError, Location, Result};
use super::replay::{TraceRow, length_trace_requests};
use super::source::{csv_column, csv_error, malformed, read_text};
use super::{Context, SampleRequest};

const EXPECTED: &str = "BurstGPT CSV columns Timestamp, Model, Request tokens, Response tokens, \
                        Total tokens, Log Type";

/// `num_prompts` BurstGPT requests from `path`; replayed at `replay_scale` when given.
pub(crate) fn sample(
    ctx: &Context<'_>,
    path: &Path,
    replay_scale: Option<f64>,
) -> Result<Vec<SampleRequest>> {
    let rows = read_rows(path)?;
    if rows.is_empty() {
        return Err(DatasetError::NoUsableRows {
            path: path.to_owned(),
            reason: "no row has Model \"GPT-4\" and Response tokens > 0; expected BurstGPT's \
                     trace (e.g. BurstGPT_without_fails_2.csv)"
                .to_owned(),
        });
    }
    length_trace_requests(ctx, &rows, replay_scale)
}

/// The kept rows of the CSV at `path`.
fn read_rows(path: &Path) -> Result<Vec<TraceRow>> {
    let text = read_text(path)?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(text.as_bytes());
    let csv_error = |e| csv_error(path, e, EXPECTED);
    let headers = reader.headers().map_err(csv_error)?.clone();
    let column = |name| csv_column(path, &headers, name, EXPECTED);
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
        let time = number(timestamp, "Timestamp")?;
        if !time.is_finite() {
            return Err(malformed(
                path,
                Location::Line(line),
                format!("`Timestamp` is {time}, not a time in seconds"),
                EXPECTED,
            ));
        }
        rows.push(TraceRow {
            timestamp: time,
            input_tokens: count(request, "Request tokens")?,
            output_tokens: count(response, "Response tokens")?,
        });
    }
    Ok(rows)
}
