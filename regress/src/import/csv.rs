//! Plain CSV observations.
//!
//! # Format
//! ```text
//! # comments and blank lines are ignored
//! benchmark,side,block,value,metric
//! cpu/logits_mask/f32/v32000,base,0,1203.5,time_ns
//! cpu/logits_mask/f32/v32000,head,0,1210.0,time_ns
//! cpu/logits_mask/f32/v32000,head,0,4096,bytes_moved
//! ```
//! - The first non-comment line is the header. Columns `benchmark`, `side`, `block` and
//!   `value` are required, `metric` is optional; any order; no other columns.
//! - `side` is `base` or `head`; `block` a non-negative integer: rows with the same benchmark
//!   and block on both sides are a pair.
//! - `metric`: `time_ns` (the default when the column is absent or the cell empty), `time_us`,
//!   `time_ms` or `time_s` for the block's time statistic (converted to nanoseconds); any other
//!   name is a deterministic counter whose value must be a non-negative integer.
//! - Fields are separated by commas and trimmed; quoting is not supported (benchmark ids never
//!   contain commas or quotes).

use std::fmt::Write as _;
use std::path::Path;

use dyno_stats::record::Side;

use crate::error::{RegressError, Result};
use crate::observation::{Metric, Observation};

const COLUMNS: [&str; 5] = ["benchmark", "side", "block", "value", "metric"];

/// Reads observations from a CSV file.
pub fn read(path: &Path) -> Result<Vec<Observation>> {
    let text = std::fs::read_to_string(path).map_err(|e| RegressError::io("read", path, e))?;
    parse(&text, path)
}

/// Parses CSV text; `source` names it in error messages.
pub fn parse(text: &str, source: &Path) -> Result<Vec<Observation>> {
    let err = |line: usize, message: String| RegressError::Csv {
        path: source.to_path_buf(),
        line,
        message,
    };
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'));
    let Some((header_line, header)) = lines.next() else {
        return Err(err(
            1,
            "empty input; expected a header `benchmark,side,block,value[,metric]`".into(),
        ));
    };
    let names: Vec<&str> = header.split(',').map(str::trim).collect();
    let mut index = [None; 5];
    for (i, name) in names.iter().enumerate() {
        let Some(c) = COLUMNS.iter().position(|c| c == name) else {
            return Err(err(
                header_line,
                format!("unknown column `{name}`; expected benchmark,side,block,value[,metric]"),
            ));
        };
        if index[c].replace(i).is_some() {
            return Err(err(header_line, format!("column `{name}` appears twice")));
        }
    }
    if let Some(missing) = (0..4).find(|&c| index[c].is_none()) {
        return Err(err(
            header_line,
            format!(
                "missing column `{}`; expected benchmark,side,block,value[,metric]",
                COLUMNS[missing]
            ),
        ));
    }
    let mut out = Vec::new();
    for (line, text) in lines {
        if text.contains('"') {
            return Err(err(line, "quoted fields are not supported".into()));
        }
        let fields: Vec<&str> = text.split(',').map(str::trim).collect();
        if fields.len() != names.len() {
            return Err(err(
                line,
                format!("{} field(s), the header has {}", fields.len(), names.len()),
            ));
        }
        let field = |c: usize| index[c].map(|i| fields[i]);
        let benchmark = field(0).unwrap_or_default();
        if benchmark.is_empty() {
            return Err(err(line, "empty benchmark id".into()));
        }
        let side = match field(1).unwrap_or_default() {
            "base" => Side::Base,
            "head" => Side::Head,
            other => {
                return Err(err(
                    line,
                    format!("side `{other}` must be `base` or `head`"),
                ));
            }
        };
        let block_text = field(2).unwrap_or_default();
        let block: u32 = block_text.parse().map_err(|_| {
            err(
                line,
                format!("block `{block_text}` must be a non-negative integer"),
            )
        })?;
        let value_text = field(3).unwrap_or_default();
        let value: f64 = value_text
            .parse()
            .map_err(|_| err(line, format!("value `{value_text}` is not a number")))?;
        let (metric, value) = match field(4).unwrap_or_default() {
            "" | "time_ns" => (Metric::TimeNs, value),
            "time_us" => (Metric::TimeNs, value * 1e3),
            "time_ms" => (Metric::TimeNs, value * 1e6),
            "time_s" => (Metric::TimeNs, value * 1e9),
            counter => (Metric::Counter(counter.to_string()), value),
        };
        out.push(Observation {
            benchmark: benchmark.to_string(),
            side,
            block,
            metric,
            value,
        });
    }
    Ok(out)
}

/// Writes observations in the format [`parse`] reads (with a `metric` column).
pub fn to_csv(observations: &[Observation]) -> String {
    let mut out = String::from("benchmark,side,block,value,metric\n");
    for o in observations {
        let metric = match &o.metric {
            Metric::TimeNs => "time_ns",
            Metric::Counter(name) => name,
        };
        let _ = writeln!(
            out,
            "{},{},{},{},{}",
            o.benchmark,
            o.side.as_str(),
            o.block,
            o.value,
            metric
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_any_column_order_and_units() {
        let text = "# raw blocks\nside,benchmark,value,block\nbase,a,1.5,0\n\nhead,a,1.6,0\n";
        let obs = parse(text, Path::new("x.csv")).unwrap();
        assert_eq!(
            obs,
            vec![
                Observation::time_ns("a", Side::Base, 0, 1.5),
                Observation::time_ns("a", Side::Head, 0, 1.6)
            ]
        );
        let text =
            "benchmark,side,block,value,metric\na,base,3,2,time_us\na,head,3,7,allocations\n";
        let obs = parse(text, Path::new("x.csv")).unwrap();
        assert_eq!(obs[0].value, 2000.0);
        assert_eq!(obs[1].metric, Metric::Counter("allocations".into()));
        assert_eq!(parse(&to_csv(&obs), Path::new("y")).unwrap(), obs);
    }

    #[test]
    fn errors_name_file_line_and_fix() {
        let cases = [
            ("", "x.csv:1: empty input"),
            ("benchmark,side,value\n", "x.csv:1: missing column `block`"),
            (
                "benchmark,side,block,value,extra\n",
                "unknown column `extra`",
            ),
            (
                "benchmark,side,block,value\na,left,0,1\n",
                "x.csv:2: side `left` must be `base` or `head`",
            ),
            (
                "benchmark,side,block,value\na,base,-1,1\n",
                "block `-1` must be a non-negative integer",
            ),
            (
                "benchmark,side,block,value\na,base,0,fast\n",
                "value `fast` is not a number",
            ),
            (
                "benchmark,side,block,value\na,base,0\n",
                "x.csv:2: 3 field(s), the header has 4",
            ),
            (
                "benchmark,side,block,value\n\"a\",base,0,1\n",
                "quoted fields are not supported",
            ),
        ];
        for (text, expected) in cases {
            let e = parse(text, Path::new("x.csv")).unwrap_err().to_string();
            assert!(e.contains(expected), "{e:?} should contain {expected:?}");
        }
    }
}
