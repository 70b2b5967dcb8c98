//! The one error type of the regress crate.

use std::path::PathBuf;

use dyno_stats::StatsError;

/// Everything reading inputs, judging or writing baselines can fail on. Any of these maps to
/// exit code [`crate::EXIT_ERROR`] (2): an error is never a pass.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegressError {
    /// A statistic or a record file failed (see [`StatsError`]).
    #[error(transparent)]
    Stats(#[from] StatsError),
    /// A file or directory could not be read, listed or created.
    #[error("cannot {op} {path}: {source}")]
    Io {
        /// What was attempted (`read`, `list`, `create directory`).
        op: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The operating-system error.
        #[source]
        source: std::io::Error,
    },
    /// A criterion output file is missing, malformed or inconsistent.
    #[error("{path}: {message}")]
    Criterion {
        /// The file or directory.
        path: PathBuf,
        /// What was wrong and what to do about it.
        message: String,
    },
    /// A line of a CSV input is malformed.
    #[error("{path}:{line}: {message}")]
    Csv {
        /// The file (or `<stdin>`, `<memory>`).
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What was wrong and the expected format.
        message: String,
    },
    /// An observation cannot be used (bad value, missing side or block).
    #[error("benchmark `{benchmark}`: {message}")]
    InvalidObservation {
        /// The benchmark id.
        benchmark: String,
        /// What was wrong and the fix.
        message: String,
    },
    /// A deterministic counter differs between blocks of the same side.
    #[error(
        "benchmark `{benchmark}`: counter `{counter}` on the {side} side is {first} in one block and {other} in \
         another; deterministic counters must not vary between runs of the same build"
    )]
    NondeterministicCounter {
        /// The benchmark id.
        benchmark: String,
        /// The counter name.
        counter: String,
        /// `base` or `head`.
        side: &'static str,
        /// One value seen.
        first: u64,
        /// A different value seen.
        other: u64,
    },
    /// Two inputs (records, a baseline) come from different machine profiles.
    #[error(
        "{what}: machine profiles differ ({expected} vs {found}): {differences}; timings from different \
         machines are not comparable, so measure both sides on one machine or pick the matching baseline"
    )]
    ProfileMismatch {
        /// What was compared (e.g. `base.json vs head.json`).
        what: String,
        /// Key of the expected profile.
        expected: String,
        /// Key of the profile found.
        found: String,
        /// The fields that differ, with both values.
        differences: String,
    },
    /// A baseline file does not belong where it was found, or is unusable for the request.
    #[error("{path}: {message}")]
    Baseline {
        /// The baseline file.
        path: PathBuf,
        /// What was wrong and the fix.
        message: String,
    },
    /// Two inputs that must describe the same run or suite do not.
    #[error("{message}")]
    Mismatch {
        /// What differs and what to do about it.
        message: String,
    },
    /// A configuration value is out of range.
    #[error("`{name}` = {value} is out of range; expected {expected}")]
    InvalidConfig {
        /// The parameter.
        name: &'static str,
        /// The bad value.
        value: f64,
        /// The accepted domain, in words.
        expected: &'static str,
    },
}

/// The result type of this crate.
pub type Result<T, E = RegressError> = std::result::Result<T, E>;

impl RegressError {
    /// Wraps an IO error with the path and operation.
    pub(crate) fn io(
        op: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> RegressError {
        RegressError::Io {
            op,
            path: path.into(),
            source,
        }
    }
}
