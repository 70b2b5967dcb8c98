//! Files of JSON records: JSONL (one object per line) or one JSON list of objects, as the Hugging
//! Face hub's JSON exports and `pandas.DataFrame.to_json(orient="records")` write them.
//!
//! Each record keeps where it came from ([`Location::Line`] for JSONL, [`Location::Entry`] for a
//! list), so a reader's complaint about a field names the place. Parquet, the hub's own format, is
//! recognised and refused with the one-line conversion to JSONL (a Parquet reader would add the
//! `parquet` crate's tree of compression codecs to every build).

use std::path::Path;

use serde_json::{Map, Value};

use super::error::{DatasetError, Location, Result};
use super::source::{kind, malformed, parse_json, read_bytes, text_from_bytes};

/// Parquet files start (and end) with these bytes.
const PARQUET_MAGIC: &[u8] = b"PAR1";

/// One JSON object of the file and where it is.
pub(crate) struct Record {
    /// Its line (JSONL) or list index (JSON list).
    pub at: Location,
    /// Its fields.
    pub object: Map<String, Value>,
}

/// Every record of `path`: a JSON list of objects when the file starts with `[`, else JSONL
/// (blank lines skipped).
pub(crate) fn read_records(path: &Path, expected: &'static str) -> Result<Vec<Record>> {
    let bytes = read_bytes(path)?;
    let is_parquet_name = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("parquet"));
    if is_parquet_name || bytes.starts_with(PARQUET_MAGIC) {
        return Err(DatasetError::UnsupportedFormat {
            path: path.to_owned(),
            problem: format!(
                "is a Parquet file; dyno reads JSON and JSONL: convert it once with \
                 python -c \"import pandas; pandas.read_parquet('{p}').to_json('{p}.jsonl', \
                 orient='records', lines=True)\" and pass --dataset-path {p}.jsonl",
                p = path.display()
            ),
        });
    }
    let text = text_from_bytes(path, bytes)?;
    if text.trim_start().starts_with('[') {
        json_list(path, &text, expected)
    } else {
        json_lines(path, &text, expected)
    }
}

fn json_list(path: &Path, text: &str, expected: &'static str) -> Result<Vec<Record>> {
    let Value::Array(entries) = parse_json(path, text, 0, expected)? else {
        unreachable!("text starting with `[` parses to a list or fails")
    };
    entries
        .into_iter()
        .enumerate()
        .map(|(index, entry)| record(path, Location::Entry(index), entry, expected))
        .collect()
}

fn json_lines(path: &Path, text: &str, expected: &'static str) -> Result<Vec<Record>> {
    let mut records = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        if raw.trim().is_empty() {
            continue;
        }
        let line = index as u64 + 1;
        let value = parse_json(path, raw, line - 1, expected)?;
        records.push(record(path, Location::Line(line), value, expected)?);
    }
    Ok(records)
}

fn record(path: &Path, at: Location, value: Value, expected: &'static str) -> Result<Record> {
    match value {
        Value::Object(object) => Ok(Record { at, object }),
        other => Err(malformed(
            path,
            at,
            format!("found {}, not an object", kind(&other)),
            expected,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(contents: &[u8], name: &str) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        std::fs::write(&path, contents).unwrap();
        (dir, path)
    }

    #[test]
    fn lists_and_lines_keep_their_locations() {
        let (_d, list) = file(br#" [{"a": 1}, {"a": 2}]"#, "x.json");
        let got: Vec<Location> = read_records(&list, "x")
            .unwrap()
            .iter()
            .map(|r| r.at)
            .collect();
        assert_eq!(got, [Location::Entry(0), Location::Entry(1)]);
        let (_d, lines) = file(b"{\"a\": 1}\n\n{\"a\": 2}\n", "x.jsonl");
        let got: Vec<Location> = read_records(&lines, "x")
            .unwrap()
            .iter()
            .map(|r| r.at)
            .collect();
        assert_eq!(got, [Location::Line(1), Location::Line(3)]);
    }

    #[test]
    fn a_record_that_is_not_an_object_is_named() {
        let (_d, lines) = file(b"{\"a\": 1}\n[1]\n", "x.jsonl");
        let err = read_records(&lines, "x").err().unwrap();
        assert!(
            matches!(
                err,
                DatasetError::Malformed {
                    at: Location::Line(2),
                    ..
                }
            ),
            "{err}"
        );
        let (_d, list) = file(b"[{}, 3]", "x.json");
        let err = read_records(&list, "x").err().unwrap();
        assert!(
            matches!(
                err,
                DatasetError::Malformed {
                    at: Location::Entry(1),
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn parquet_is_refused_with_the_conversion() {
        let (_d, path) = file(b"PAR1\x15\x04\x15", "train-00000.bin");
        let err = read_records(&path, "x").err().unwrap();
        assert!(
            matches!(err, DatasetError::UnsupportedFormat { .. }),
            "{err}"
        );
        assert!(err.to_string().contains("pandas.read_parquet"), "{err}");
    }
}
