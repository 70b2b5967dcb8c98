//! The run-record file format: one JSON file per measurement run, carrying everything needed to
//! recompute any statistic later (raw samples, seed, config, machine, git state).
//!
//! Conventions: `schema_version` first; unknown fields are rejected (typos must not pass
//! silently); fields holding a duration or time carry the unit in their name (`created_unix_s`);
//! sample series carry an explicit [`Unit`]. Files are written with [`write_atomic`].
//!
//! ```json
//! {
//!   "schema_version": 1,
//!   "suite": "kernels",
//!   "id": "2026-05-01T12-00-00-ab12cd",
//!   "created_unix_s": 1777636800,
//!   "machine": { "arch": "x86_64", "cpu_model": "AMD EPYC 7763 64-Core Processor",
//!                "isa": ["avx2", "fma"], "logical_cores": 2, "kernel": "6.8",
//!                "toolchain": "rustc 1.95.0 (f2d3ce0bd 2026-03-21)" },
//!   "git": { "commit": "0123abcd…", "dirty": false },
//!   "config": { "blocks": 24 },
//!   "seed": 7,
//!   "health": { "steal_time_fraction": 0.004, "flags": [] },
//!   "samples": [
//!     { "benchmark": "cpu/logits_mask/f32/v32000", "metric": "time", "unit": "ns",
//!       "side": "base", "block": 0, "values": [1203.5, 1199.0] }
//!   ]
//! }
//! ```

mod atomic;
mod machine;

use std::path::Path;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

pub use atomic::write_atomic;
pub use machine::{DISPATCH_ISA, MachineFacts, MachineProfile};

use crate::error::{Result, StatsError};

/// The run-record schema version this build reads and writes.
pub const SCHEMA_VERSION: u32 = 1;

/// One measurement run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunRecord {
    /// Always [`SCHEMA_VERSION`] for records this build writes.
    pub schema_version: u32,
    /// Suite name, e.g. `kernels`.
    pub suite: String,
    /// Run identifier, unique per run.
    pub id: String,
    /// When the run started, in seconds since the Unix epoch.
    pub created_unix_s: u64,
    /// The machine it ran on.
    pub machine: MachineProfile,
    /// The source revision measured (for A/B runs: the head side).
    pub git: GitInfo,
    /// The validated configuration that produced the run, as JSON.
    pub config: serde_json::Value,
    /// The seed of every random choice of the run (block order, layouts, inputs).
    pub seed: u64,
    /// Environment health observed during the run.
    #[serde(default)]
    pub health: HealthRecord,
    /// Raw measurements.
    pub samples: Vec<SampleSeries>,
}

/// Git state of a measured revision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GitInfo {
    /// Full commit hash.
    pub commit: String,
    /// Whether the working tree had uncommitted changes.
    pub dirty: bool,
    /// Branch name, when on one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// `git describe` output (e.g. `v0.3.0-4-gabc123`), when available.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub describe: Option<String>,
}

/// What the run observed about its environment.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthRecord {
    /// Fraction of wall time stolen by the hypervisor (from `/proc/stat`), when measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steal_time_fraction: Option<f64>,
    /// Problems detected while measuring (e.g. `cpu governor changed`); empty when healthy.
    #[serde(default)]
    pub flags: Vec<String>,
}

/// Which build a series was measured on, in an A/B run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// The reference revision (e.g. the merge base).
    Base,
    /// The candidate revision (e.g. the PR head).
    Head,
}

impl Side {
    /// `base` or `head`.
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Base => "base",
            Side::Head => "head",
        }
    }
}

/// Unit of the values of a [`SampleSeries`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// Nanoseconds.
    Ns,
    /// Microseconds.
    Us,
    /// Milliseconds.
    Ms,
    /// Seconds.
    S,
    /// Bytes.
    Bytes,
    /// A dimensionless count (allocations, instructions, tokens).
    Count,
    /// Events per second.
    PerS,
}

impl Unit {
    /// The unit as written in files (`ns`, `us`, `ms`, `s`, `bytes`, `count`, `per_s`).
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Ns => "ns",
            Unit::Us => "us",
            Unit::Ms => "ms",
            Unit::S => "s",
            Unit::Bytes => "bytes",
            Unit::Count => "count",
            Unit::PerS => "per_s",
        }
    }

    /// Factor that converts a value in this unit to nanoseconds, for time units.
    pub fn to_ns(self) -> Option<f64> {
        match self {
            Unit::Ns => Some(1.0),
            Unit::Us => Some(1e3),
            Unit::Ms => Some(1e6),
            Unit::S => Some(1e9),
            Unit::Bytes | Unit::Count | Unit::PerS => None,
        }
    }
}

/// A series of raw values of one metric of one benchmark (optionally one side and block).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SampleSeries {
    /// Benchmark id, e.g. `cpu/logits_mask/f32/v32000`.
    pub benchmark: String,
    /// Metric name: `time` for timings, otherwise a counter (`bytes_moved`, `allocations`).
    pub metric: String,
    /// Unit of `values`.
    pub unit: Unit,
    /// Side of an A/B run; absent for single-revision runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub side: Option<Side>,
    /// Block index of an A/B run; absent for single-revision runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block: Option<u32>,
    /// The values, in `unit`.
    pub values: Vec<f64>,
}

impl RunRecord {
    /// Reads and validates a record file (see [`read`]).
    pub fn read(path: &Path) -> Result<RunRecord> {
        read_versioned(path, "run record", SCHEMA_VERSION)
    }

    /// Writes the record as pretty JSON, atomically.
    pub fn write(&self, path: &Path) -> Result<()> {
        write_json(path, self, "run record")
    }
}

/// Reads a run record: checks `schema_version` first, then parses strictly.
pub fn read(path: &Path) -> Result<RunRecord> {
    RunRecord::read(path)
}

/// Reads any versioned JSON file of ours: a missing or different `schema_version` is reported
/// as [`StatsError::SchemaVersion`] before any other parse error, so an old file never reads as
/// "unknown field".
/// `what` names the file's kind in error messages (e.g. `run record`, `baseline`).
pub fn read_versioned<T: DeserializeOwned>(
    path: &Path,
    what: &'static str,
    expected: u32,
) -> Result<T> {
    let bytes = std::fs::read(path).map_err(|source| StatsError::Io {
        op: "read",
        path: path.to_path_buf(),
        source,
    })?;
    #[derive(Deserialize)]
    struct Probe {
        schema_version: Option<serde_json::Value>,
    }
    let parse_error = |e: serde_json::Error| StatsError::Parse {
        path: path.to_path_buf(),
        what,
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    };
    let probe: Probe = serde_json::from_slice(&bytes).map_err(parse_error)?;
    match probe.schema_version {
        Some(serde_json::Value::Number(n)) if n.as_u64() == Some(u64::from(expected)) => {}
        other => {
            let found = other.map_or_else(|| "missing".to_string(), |v| v.to_string());
            return Err(StatsError::SchemaVersion {
                path: path.to_path_buf(),
                found,
                expected,
            });
        }
    }
    serde_json::from_slice(&bytes).map_err(parse_error)
}

/// Serializes `value` as pretty JSON with a trailing newline and writes it with [`write_atomic`].
pub fn write_json<T: Serialize>(path: &Path, value: &T, what: &'static str) -> Result<()> {
    let mut bytes = serde_json::to_vec_pretty(value)
        .map_err(|source| StatsError::Serialize { what, source })?;
    bytes.push(b'\n');
    write_atomic(path, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> RunRecord {
        RunRecord {
            schema_version: SCHEMA_VERSION,
            suite: "kernels".into(),
            id: "run-1".into(),
            created_unix_s: 1_777_636_800,
            machine: MachineProfile::from_facts(&MachineFacts {
                arch: "x86_64".into(),
                cpu_model: "AMD EPYC 7763 64-Core Processor".into(),
                cpu_flags: vec!["avx2".into()],
                logical_cores: 2,
                kernel_release: "6.8.0".into(),
                toolchain: "rustc 1.95.0".into(),
            }),
            git: GitInfo {
                commit: "abc".into(),
                dirty: false,
                branch: None,
                describe: None,
            },
            config: serde_json::json!({"blocks": 24}),
            seed: 7,
            health: HealthRecord::default(),
            samples: vec![SampleSeries {
                benchmark: "cpu/x".into(),
                metric: "time".into(),
                unit: Unit::Ns,
                side: Some(Side::Base),
                block: Some(0),
                values: vec![1.0, 2.0],
            }],
        }
    }

    #[test]
    fn round_trips_through_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.json");
        let r = record();
        r.write(&path).unwrap();
        assert_eq!(read(&path).unwrap(), r);
    }

    #[test]
    fn wrong_or_missing_schema_version_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.json");
        let mut json = serde_json::to_value(record()).unwrap();
        json["schema_version"] = 99.into();
        std::fs::write(&path, json.to_string()).unwrap();
        let err = read(&path).unwrap_err().to_string();
        assert!(
            err.contains("run.json: schema_version 99 is not supported"),
            "{err}"
        );
        json.as_object_mut().unwrap().remove("schema_version");
        std::fs::write(&path, json.to_string()).unwrap();
        let err = read(&path).unwrap_err().to_string();
        assert!(err.contains("schema_version missing"), "{err}");
    }

    #[test]
    fn unknown_fields_and_bad_json_are_rejected_with_position() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.json");
        let mut json = serde_json::to_value(record()).unwrap();
        json["sede"] = 1.into();
        std::fs::write(&path, serde_json::to_string_pretty(&json).unwrap()).unwrap();
        let err = read(&path).unwrap_err().to_string();
        assert!(err.contains("unknown field `sede`"), "{err}");
        std::fs::write(&path, "{\"schema_version\": 1,\n \"suite\": }").unwrap();
        let err = read(&path).unwrap_err().to_string();
        assert!(err.contains("not a valid run record (line 2"), "{err}");
        let err = read(&dir.path().join("absent.json"))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("cannot read ") && err.contains("absent.json"),
            "{err}"
        );
    }
}
