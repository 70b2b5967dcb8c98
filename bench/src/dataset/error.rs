//! [`DatasetError`]: everything that can go wrong while turning a dataset into requests.
//!
//! Every message says what was wrong and what to do about it. Malformed input names the file and
//! where in it the problem is ([`Location`]): a 1-based line for JSONL, CSV and JSON syntax, a
//! 0-based array index for JSON lists (written `[3]`, as in JSON paths).

use std::fmt;
use std::path::PathBuf;

use super::args::DatasetName;

/// `Result` with [`DatasetError`] as the default error.
pub type Result<T, E = DatasetError> = std::result::Result<T, E>;

/// Where in a dataset file a problem is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Location {
    /// A 1-based line of the file (JSONL, CSV, or a JSON syntax error).
    Line(u64),
    /// A 1-based line and column of the file (JSON syntax errors).
    LineColumn {
        /// 1-based line.
        line: u64,
        /// 1-based column.
        column: u64,
    },
    /// An element of the file's top-level JSON array, 0-based.
    Entry(usize),
    /// The CSV header row.
    Header,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Line(line) => write!(f, "line {line}"),
            Self::LineColumn { line, column } => write!(f, "line {line}, column {column}"),
            Self::Entry(index) => write!(f, "entry [{index}]"),
            Self::Header => f.write_str("header row"),
        }
    }
}

/// The names `--dataset-name` takes, comma-separated.
fn dataset_names() -> String {
    DatasetName::ALL.map(DatasetName::as_str).join(", ")
}

/// Why a dataset could not be turned into requests.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DatasetError {
    /// `--dataset-name` is not a dataset vLLM knows.
    #[error("unknown dataset `{name}`; expected one of: {}", dataset_names())]
    UnknownDataset {
        /// The name as given.
        name: String,
    },
    /// `--dataset-name` is one of vLLM's datasets that dyno does not read (yet).
    #[error(
        "dataset `{name}` exists in vLLM but dyno does not read it yet; use one of: {}",
        dataset_names()
    )]
    UnsupportedDataset {
        /// The name as given.
        name: String,
    },
    /// A file-backed dataset without `--dataset-path`.
    #[error("dataset `{dataset}` reads a file: pass --dataset-path <FILE> ({expected})")]
    MissingPath {
        /// The dataset's name.
        dataset: &'static str,
        /// What the file should be.
        expected: &'static str,
    },
    /// A generated dataset given a `--dataset-path` it would ignore (vLLM rejects this too).
    #[error(
        "dataset `{dataset}` generates its prompts and reads no file; drop --dataset-path {}",
        path.display()
    )]
    UnexpectedPath {
        /// The dataset's name.
        dataset: &'static str,
        /// The path given.
        path: PathBuf,
    },
    /// An option out of its range.
    #[error("{flag} {value}: {expected}")]
    InvalidArgument {
        /// The option, spelled as vLLM's flag.
        flag: &'static str,
        /// The value given.
        value: String,
        /// What is allowed, and what to do.
        expected: String,
    },
    /// The tokenizer cannot produce what the dataset needs.
    #[error("tokenizer: {problem}")]
    InvalidTokenizer {
        /// What is missing, and what to do.
        problem: String,
    },
    /// The dataset file could not be read.
    #[error("cannot read {}: {source}; check --dataset-path", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The dataset file is not in the format its dataset expects.
    #[error("{} {at}: {problem}; expected {expected}", path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// Where in the file.
        at: Location,
        /// What was found.
        problem: String,
        /// What the format requires there.
        expected: &'static str,
    },
    /// The file is in a format dyno does not read (Parquet).
    #[error("{} {problem}", path.display())]
    UnsupportedFormat {
        /// The file.
        path: PathBuf,
        /// What it is, and how to convert it.
        problem: String,
    },
    /// Nothing in the file survived the dataset's filters.
    #[error("no usable rows in {}: {reason}", path.display())]
    NoUsableRows {
        /// The file.
        path: PathBuf,
        /// Which filter removed everything, and what to do.
        reason: String,
    },
    /// Fewer requests than `--num-prompts` could be made, and oversampling cannot fill the gap.
    #[error("dataset `{dataset}` made only {got} of the {wanted} requests asked for: {hint}")]
    TooFewRequests {
        /// The dataset's name.
        dataset: &'static str,
        /// `--num-prompts`.
        wanted: usize,
        /// Requests made.
        got: usize,
        /// Why, and what to change.
        hint: String,
    },
    /// Two requests got the same id (vLLM raises on this too).
    #[error(
        "request id `{id}` appears twice; request ids must be unique within a run (pick a \
         --request-id-prefix that no other id starts with)"
    )]
    DuplicateRequestId {
        /// The repeated id.
        id: String,
    },
}
