//! `azure` (dyno's own; vLLM has no reader for it): the Azure LLM inference trace 2023
//! (Patel et al., Splitwise, ISCA 2024), `AzureLLMInferenceTrace_{code,conv}.csv`.
//!
//! Columns `TIMESTAMP, ContextTokens, GeneratedTokens` (found by name, in any order);
//! `TIMESTAMP` is a date-time such as `2023-11-16 18:17:03.9799600` (UTC, a space or `T`
//! between date and time, up to nine fractional digits, an optional `Z`). Rows with at least one
//! context and one generated token are kept. Requests are made exactly as `burstgpt`'s
//! ([`super::replay`]): sampled with the seed, or with `--self-timed` the first `num_prompts`
//! rows replayed at their offsets from the earliest, times `--trace-time-scale`; prompts decode
//! cycling token ids and `prompt_len` is `ContextTokens`.

use std::path::Path;

use super::error::{DatasetError, Location, Result};
use super::replay::{TraceRow, length_trace_requests};
use super::source::{csv_column, csv_error, malformed, read_text};
use super::{Context, SampleRequest};

const EXPECTED: &str = "Azure LLM inference trace CSV columns TIMESTAMP (e.g. \
                        2023-11-16 18:17:03.9799600), ContextTokens, GeneratedTokens";

/// Timestamps are kept as seconds from 2023-01-01 00:00 UTC, so that an `f64` holds the trace's
/// (late 2023) to within 4 ns; from 1970 it would be 240 ns.
const ORIGIN_UNIX_SECONDS: i64 = 1_672_531_200;

/// `num_prompts` Azure-trace requests from `path`; replayed at `replay_scale` when given.
pub(crate) fn sample(
    ctx: &Context<'_>,
    path: &Path,
    replay_scale: Option<f64>,
) -> Result<Vec<SampleRequest>> {
    let rows = read_rows(path)?;
    if rows.is_empty() {
        return Err(DatasetError::NoUsableRows {
            path: path.to_owned(),
            reason: "no row has ContextTokens > 0 and GeneratedTokens > 0; expected the Azure \
                     LLM inference trace (e.g. AzureLLMInferenceTrace_conv.csv)"
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
    let headers = reader
        .headers()
        .map_err(|e| csv_error(path, e, EXPECTED))?
        .clone();
    let timestamp = csv_column(path, &headers, "TIMESTAMP", EXPECTED)?;
    let context = csv_column(path, &headers, "ContextTokens", EXPECTED)?;
    let generated = csv_column(path, &headers, "GeneratedTokens", EXPECTED)?;

    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| csv_error(path, e, EXPECTED))?;
        let at = Location::Line(record.position().map_or(0, csv::Position::line));
        let field = |index: usize| record.get(index).unwrap_or_default().trim();
        let count = |index: usize, name: &str| {
            let raw = field(index);
            raw.parse::<usize>().map_err(|_| {
                malformed(
                    path,
                    at,
                    format!("`{name}` is `{raw}`, not a token count"),
                    EXPECTED,
                )
            })
        };
        let raw_time = field(timestamp);
        let time = parse_date_time(raw_time).ok_or_else(|| {
            malformed(
                path,
                at,
                format!("`TIMESTAMP` is `{raw_time}`, not a date-time"),
                EXPECTED,
            )
        })?;
        let input_tokens = count(context, "ContextTokens")?;
        let output_tokens = count(generated, "GeneratedTokens")?;
        if input_tokens > 0 && output_tokens > 0 {
            rows.push(TraceRow {
                timestamp: time,
                input_tokens,
                output_tokens,
            });
        }
    }
    Ok(rows)
}

/// `YYYY-MM-DD HH:MM:SS[.fraction][Z]` (or with `T`) as seconds from [`ORIGIN_UNIX_SECONDS`].
fn parse_date_time(text: &str) -> Option<f64> {
    let text = text.strip_suffix('Z').unwrap_or(text);
    let (date, time) = text.split_once([' ', 'T'])?;
    let mut date_parts = date.split('-');
    let year: i64 = number(date_parts.next()?, 4)?;
    let month: i64 = number(date_parts.next()?, 2)?;
    let day: i64 = number(date_parts.next()?, 2)?;
    if date_parts.next().is_some() || !(1..=12).contains(&month) {
        return None;
    }
    if day < 1 || day > days_in_month(year, month) {
        return None;
    }
    let (clock, fraction) = match time.split_once('.') {
        Some((clock, fraction)) => (clock, Some(fraction)),
        None => (time, None),
    };
    let mut clock_parts = clock.split(':');
    let hour: i64 = number(clock_parts.next()?, 2)?;
    let minute: i64 = number(clock_parts.next()?, 2)?;
    let second: i64 = number(clock_parts.next()?, 2)?;
    if clock_parts.next().is_some() || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let nanos = match fraction {
        None => 0,
        Some(f) if (1..=9).contains(&f.len()) && f.bytes().all(|b| b.is_ascii_digit()) => {
            f.parse::<u64>().ok()? * 10u64.pow(9 - f.len() as u32)
        }
        Some(_) => return None,
    };
    let whole = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second;
    Some((whole - ORIGIN_UNIX_SECONDS) as f64 + nanos as f64 * 1e-9)
}

/// A field of exactly `digits` ASCII digits.
fn number(text: &str, digits: usize) -> Option<i64> {
    (text.len() == digits && text.bytes().all(|b| b.is_ascii_digit()))
        .then(|| text.parse().ok())
        .flatten()
}

fn days_in_month(year: i64, month: i64) -> i64 {
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to the given proleptic Gregorian date: count whole 400-year eras (of
/// 146,097 days) from a year that starts in March, so the leap day falls at a year's end.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let march_year = if month <= 2 { year - 1 } else { year };
    let era = march_year.div_euclid(400);
    let year_of_era = march_year - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    // 719,468 days lie between 0000-03-01 and 1970-01-01.
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_days_match_known_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(2023, 1, 1) * 86_400, ORIGIN_UNIX_SECONDS);
        assert_eq!(
            days_from_civil(2024, 3, 1) - days_from_civil(2024, 2, 28),
            2
        );
        assert_eq!(days_from_civil(1969, 12, 31), -1);
    }

    #[test]
    fn azure_date_times_parse_to_a_few_nanoseconds() {
        let a = parse_date_time("2023-11-16 18:17:03.9799600").unwrap();
        let b = parse_date_time("2023-11-16T18:17:04.0319600Z").unwrap();
        assert!(((b - a) - 0.052).abs() < 1e-8, "{}", b - a);
        let midnight = parse_date_time("2023-11-17 00:00:00").unwrap();
        let before = parse_date_time("2023-11-16 23:59:59.000000250").unwrap();
        assert!(((midnight - before) - (1.0 - 250e-9)).abs() < 1e-8);
        let new_year = parse_date_time("2024-01-01 00:00:00").unwrap();
        assert_eq!(new_year - midnight, 45.0 * 86_400.0);
    }

    #[test]
    fn malformed_date_times_are_refused() {
        for bad in [
            "",
            "2023-11-16",
            "2023-13-01 00:00:00",
            "2023-02-29 00:00:00",
            "2023-11-16 24:00:00",
            "2023-11-16 18:17:03.",
            "2023-11-16 18:17:03.1234567890",
            "2023-11-16 18:17",
            "1700000000",
            "2023-11-16 18:17:0x",
        ] {
            assert_eq!(parse_date_time(bad), None, "{bad:?}");
        }
        assert!(parse_date_time("2024-02-29 12:00:00").is_some());
    }
}
