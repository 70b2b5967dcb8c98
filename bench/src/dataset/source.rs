//! Reading dataset files, with errors that name the file and the place in it.

use std::path::Path;

use serde_json::Value;

use super::error::{DatasetError, Location, Result};

/// The whole file as UTF-8 text.
pub(crate) fn read_text(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|source| DatasetError::Io {
        path: path.to_owned(),
        source,
    })?;
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
