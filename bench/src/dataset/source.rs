//! Reading dataset files, with errors that name the file and the place in it.

use std::path::Path;

use serde_json::Value;

use super::error::{DatasetError, Location, Result};

/// The whole file as UTF-8 text.
pub(crate) fn read_text(path: &Path) -> Result<String> {
    text_from_bytes(path, read_bytes(path)?)
}

/// The whole file.
pub(crate) fn read_bytes(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|source| DatasetError::Io {
        path: path.to_owned(),
        source,
    })
}

/// `bytes` of `path` as UTF-8 text; invalid UTF-8 names its line.
pub(crate) fn text_from_bytes(path: &Path, bytes: Vec<u8>) -> Result<String> {
    String::from_utf8(bytes).map_err(|e| {
        let offset = e.utf8_error().valid_up_to();
        let line = 1 + e.as_bytes()[..offset]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        DatasetError::Malformed {
            path: path.to_owned(),
            at: Location::Line(line as u64),
            problem: format!("invalid UTF-8 after byte {offset}"),
            expected: "UTF-8 text",
        }
    })
}

/// `text` parsed as JSON; a syntax error names its line and column.
pub(crate) fn parse_json(
    path: &Path,
    text: &str,
    line_offset: u64,
    expected: &'static str,
) -> Result<Value> {
    serde_json::from_str(text).map_err(|e| DatasetError::Malformed {
        path: path.to_owned(),
        at: Location::LineColumn {
            line: e.line() as u64 + line_offset,
            column: e.column() as u64,
        },
        problem: format!("invalid JSON ({})", without_position(&e)),
        expected,
    })
}

/// serde_json's message without its trailing " at line L column C" (the location says it).
fn without_position(e: &serde_json::Error) -> String {
    let message = e.to_string();
    match message.rfind(" at line ") {
        Some(cut) => message[..cut].to_owned(),
        None => message,
    }
}

/// A malformed-input error at `at`.
pub(crate) fn malformed(
    path: &Path,
    at: Location,
    problem: impl Into<String>,
    expected: &'static str,
) -> DatasetError {
    DatasetError::Malformed {
        path: path.to_owned(),
        at,
        problem: problem.into(),
        expected,
    }
}

/// "an object", "a string", … for messages about JSON values.
pub(crate) fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// The string field `name` of a JSON object, or an error naming it.
pub(crate) fn str_field<'v>(
    path: &Path,
    at: Location,
    object: &'v serde_json::Map<String, Value>,
    name: &str,
    expected: &'static str,
) -> Result<&'v str> {
    match object.get(name) {
        Some(Value::String(s)) => Ok(s),
        Some(other) => Err(malformed(
            path,
            at,
            format!("`{name}` is {}, not a string", kind(other)),
            expected,
        )),
        None => Err(malformed(path, at, format!("no `{name}` field"), expected)),
    }
}

/// The first string of the list field `name` (MT-Bench's and Spec-Bench's `turns`).
pub(crate) fn first_turn<'v>(
    path: &Path,
    at: Location,
    object: &'v serde_json::Map<String, Value>,
    name: &str,
    expected: &'static str,
) -> Result<&'v str> {
    let turns = match object.get(name) {
        Some(Value::Array(turns)) => turns,
        Some(other) => {
            return Err(malformed(
                path,
                at,
                format!("`{name}` is {}, not a list of strings", kind(other)),
                expected,
            ));
        }
        None => return Err(malformed(path, at, format!("no `{name}` field"), expected)),
    };
    match turns.first() {
        Some(Value::String(first)) => Ok(first),
        Some(other) => Err(malformed(
            path,
            at,
            format!("`{name}[0]` is {}, not a string", kind(other)),
            expected,
        )),
        None => Err(malformed(path, at, format!("`{name}` is empty"), expected)),
    }
}

/// A non-negative whole number (`12` or `12.0`, as pandas may write it).
pub(crate) fn token_count(value: &Value) -> Option<usize> {
    if let Some(n) = value.as_u64() {
        return usize::try_from(n).ok();
    }
    let f = value.as_f64()?;
    (f >= 0.0 && f.fract() == 0.0 && f <= usize::MAX as f64).then_some(f as usize)
}

/// A CSV reader's error as a malformed-input error at its line.
pub(crate) fn csv_error(path: &Path, e: csv::Error, expected: &'static str) -> DatasetError {
    let line = e.position().map_or(1, csv::Position::line);
    let problem = match e.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("invalid CSV: {len} fields where the header has {expected_len}"),
        _ => format!("invalid CSV ({e})"),
    };
    malformed(path, Location::Line(line), problem, expected)
}

/// The index of the CSV column `name` (surrounding spaces ignored).
pub(crate) fn csv_column(
    path: &Path,
    headers: &csv::StringRecord,
    name: &str,
    expected: &'static str,
) -> Result<usize> {
    headers
        .iter()
        .position(|h| h.trim() == name)
        .ok_or_else(|| {
            malformed(
                path,
                Location::Header,
                format!("no `{name}` column"),
                expected,
            )
        })
}
