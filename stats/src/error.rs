//! The one error type of the stats crate.

use std::path::PathBuf;

/// Everything a statistic or a run-record operation can reject or fail on.
///
/// Messages are lower-case, name the offending value and say how to fix it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StatsError {
    /// Fewer samples than the computation needs.
    #[error("{what}: got {got} sample(s), need at least {min}; collect more samples")]
    TooFewSamples {
        /// Which input was too short (e.g. `welch: x`).
        what: &'static str,
        /// How many samples were given.
        got: usize,
        /// How many are needed.
        min: usize,
    },
    /// A sample is NaN or infinite.
    #[error("{what}: sample {index} is {value}; every sample must be a finite number")]
    NonFinite {
        /// Which input held the value.
        what: &'static str,
        /// Position of the bad sample.
        index: usize,
        /// The bad value.
        value: f64,
    },
    /// A parameter (level, probability, count) is outside its domain.
    #[error("`{name}` = {value} is out of range; expected {expected}")]
    InvalidParameter {
        /// The parameter's name.
        name: &'static str,
        /// The bad value.
        value: f64,
        /// The accepted domain, in words.
        expected: &'static str,
    },
    /// The data has no spread where the statistic needs some (e.g. Welch's t with two constant samples).
    #[error("{what}: all samples are identical, so the statistic is undefined; check the input")]
    ZeroVariance {
        /// Which statistic needed the spread.
        what: &'static str,
    },
    /// A bootstrap statistic returned NaN or infinity on a resample.
    #[error(
        "bootstrap: the statistic returned {value} on resample {resample}; it must return a finite number"
    )]
    NonFiniteStatistic {
        /// Resample index.
        resample: usize,
        /// The bad value.
        value: f64,
    },
    /// Reading, writing or renaming a file failed.
    #[error("cannot {op} {path}: {source}")]
    Io {
        /// What was attempted (`read`, `write`, `rename`, ...).
        op: &'static str,
        /// The file involved.
        path: PathBuf,
        /// The operating-system error.
        #[source]
        source: std::io::Error,
    },
    /// A file is not valid JSON for its schema.
    #[error("{path}: not a valid {what} (line {line}, column {column}): {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What the file should hold (e.g. `run record`).
        what: &'static str,
        /// 1-based line of the problem (0 when unknown).
        line: usize,
        /// 1-based column of the problem (0 when unknown).
        column: usize,
        /// What serde reported.
        message: String,
    },
    /// A file was written by another schema version than this build reads.
    #[error(
        "{path}: schema_version {found} is not supported (this build reads version {expected}); \
         re-create the file with this dyno version"
    )]
    SchemaVersion {
        /// The file.
        path: PathBuf,
        /// The version found in the file (`missing` when absent).
        found: String,
        /// The version this build reads.
        expected: u32,
    },
    /// Serializing a value to JSON failed.
    #[error("cannot serialize {what} to json: {source}")]
    Serialize {
        /// What was serialized.
        what: &'static str,
        /// What serde reported.
        #[source]
        source: serde_json::Error,
    },
}

/// The result type of this crate.
pub type Result<T, E = StatsError> = std::result::Result<T, E>;

/// Checks that `values` has at least `min` entries and that all are finite.
pub(crate) fn check_samples(what: &'static str, values: &[f64], min: usize) -> Result<()> {
    if values.len() < min {
        return Err(StatsError::TooFewSamples {
            what,
            got: values.len(),
            min,
        });
    }
    if let Some((index, &value)) = values.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        return Err(StatsError::NonFinite { what, index, value });
    }
    Ok(())
}

/// Checks that a confidence level lies strictly between 0 and 1.
pub(crate) fn check_level(level: f64) -> Result<()> {
    if level > 0.0 && level < 1.0 {
        Ok(())
    } else {
        Err(StatsError::InvalidParameter {
            name: "level",
            value: level,
            expected: "a confidence level strictly between 0 and 1, e.g. 0.95",
        })
    }
}
