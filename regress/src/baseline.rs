//! Committed baselines: `baselines/<profile-key>/<suite>.json`, one file per machine profile and
//! suite, plus an append-only `<suite>.history.jsonl` with one line per update.
//!
//! A baseline stores what is stable on its machine: deterministic counters (gated exactly),
//! the calibrated noise per benchmark (which sets τ), and a timing summary for the record.
//! Timings are never gated against stored numbers; the per-PR gate re-measures both sides.
//!
//! Reading refuses a wrong `schema_version`, unknown fields, a suite or profile that does not
//! match the path, and a profile other than the current machine's: never a silent pass.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use dyno_stats::record::{MachineProfile, RunRecord, read_versioned, write_atomic, write_json};
use dyno_stats::{Samples, StatsError};

use crate::config::NoiseModel;
use crate::error::{RegressError, Result};
use crate::import::record::SeriesKind;
use crate::import::record::series_kind;

/// The baseline schema version this build reads and writes.
pub const BASELINE_SCHEMA_VERSION: u32 = 1;

/// The stored state of one suite on one machine profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Baseline {
    /// Always [`BASELINE_SCHEMA_VERSION`] for files this build writes.
    pub schema_version: u32,
    /// Suite name (also the file name).
    pub suite: String,
    /// The machine profile (its key is the directory name).
    pub profile: MachineProfile,
    /// Release tag (`v1.2.0`) when this baseline records a release.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// Commit measured.
    pub commit: String,
    /// When it was measured, in seconds since the Unix epoch.
    pub created_unix_s: u64,
    /// Per-benchmark entries, by id.
    pub benchmarks: BTreeMap<String, BaselineEntry>,
}

/// What a baseline stores about one benchmark.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BaselineEntry {
    /// Median time in nanoseconds (informational).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub median_ns: Option<f64>,
    /// Median absolute deviation of the time in nanoseconds (informational).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mad_ns: Option<f64>,
    /// Calibrated noise: standard deviation of the A/A′ log-ratio effect (sets τ).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noise: Option<f64>,
    /// Deterministic counters, compared exactly.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub counters: BTreeMap<String, u64>,
}

/// One line of the history file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryEntry {
    /// Schema version of the line.
    pub schema_version: u32,
    /// Release tag, if the update recorded a release.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// Commit measured.
    pub commit: String,
    /// When it was measured, in seconds since the Unix epoch.
    pub created_unix_s: u64,
    /// Median time per benchmark, in nanoseconds.
    pub medians_ns: BTreeMap<String, f64>,
}

impl Baseline {
    /// An empty baseline.
    pub fn new(
        suite: impl Into<String>,
        profile: MachineProfile,
        commit: impl Into<String>,
        created_unix_s: u64,
    ) -> Baseline {
        Baseline {
            schema_version: BASELINE_SCHEMA_VERSION,
            suite: suite.into(),
            profile,
            tag: None,
            commit: commit.into(),
            created_unix_s,
            benchmarks: BTreeMap::new(),
        }
    }

    /// `root/<profile key>/<suite>.json`.
    pub fn path(root: &Path, profile: &MachineProfile, suite: &str) -> PathBuf {
        root.join(profile.key()).join(format!("{suite}.json"))
    }

    /// `root/<profile key>/<suite>.history.jsonl`.
    pub fn history_path(root: &Path, profile: &MachineProfile, suite: &str) -> PathBuf {
        root.join(profile.key())
            .join(format!("{suite}.history.jsonl"))
    }

    /// Reads a baseline file and checks its contents (schema, finite non-negative numbers).
    pub fn read(path: &Path) -> Result<Baseline> {
        let baseline: Baseline = read_versioned(path, "baseline", BASELINE_SCHEMA_VERSION)?;
        for (id, e) in &baseline.benchmarks {
            for (name, v) in [
                ("median_ns", e.median_ns),
                ("mad_ns", e.mad_ns),
                ("noise", e.noise),
            ] {
                if let Some(v) = v
                    && !(v.is_finite() && v >= 0.0)
                {
                    return Err(RegressError::Baseline {
                        path: path.to_path_buf(),
                        message: format!(
                            "benchmark `{id}`: `{name}` = {v} must be a finite non-negative number"
                        ),
                    });
                }
            }
        }
        Ok(baseline)
    }

    /// Loads the baseline of `suite` for the machine `profile` from `root`, verifying that the
    /// file's suite and profile match. A missing file is an IO error naming the path.
    pub fn load(root: &Path, profile: &MachineProfile, suite: &str) -> Result<Baseline> {
        check_suite(suite)?;
        let path = Baseline::path(root, profile, suite);
        let baseline = Baseline::read(&path)?;
        if baseline.suite != suite {
            return Err(RegressError::Baseline {
                path,
                message: format!(
                    "holds suite `{}`, not `{suite}`; the file was copied or renamed",
                    baseline.suite
                ),
            });
        }
        if baseline.profile != *profile {
            return Err(RegressError::ProfileMismatch {
                what: path.display().to_string(),
                expected: profile.key(),
                found: baseline.profile.key(),
                differences: profile.differences(&baseline.profile).join("; "),
            });
        }
        Ok(baseline)
    }

    /// Writes the baseline atomically under `root`, creating its profile directory.
    pub fn save(&self, root: &Path) -> Result<PathBuf> {
        check_suite(&self.suite)?;
        let path = Baseline::path(root, &self.profile, &self.suite);
        let dir = path.parent().expect("a baseline path has a directory");
        std::fs::create_dir_all(dir).map_err(|e| RegressError::io("create directory", dir, e))?;
        write_json(&path, self, "baseline")?;
        Ok(path)
    }

    /// The calibrated noise of every benchmark that has one.
    pub fn noise_model(&self) -> NoiseModel {
        NoiseModel {
            per_benchmark: self
                .benchmarks
                .iter()
                .filter_map(|(id, e)| e.noise.map(|n| (id.clone(), n)))
                .collect(),
        }
    }

    /// Builds a baseline from a single-revision run record (or the head side of an A/B record):
    /// median and MAD of each benchmark's `time` values, and its counters.
    pub fn from_record(record: &RunRecord) -> Result<Baseline> {
        let mut baseline = Baseline::new(
            &record.suite,
            record.machine.clone(),
            &record.git.commit,
            record.created_unix_s,
        );
        let mut times: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
        for s in &record.samples {
            if s.side == Some(dyno_stats::record::Side::Base) {
                continue;
            }
            match series_kind(s)? {
                SeriesKind::TimeNs(factor) => {
                    times
                        .entry(&s.benchmark)
                        .or_default()
                        .extend(s.values.iter().map(|v| v * factor));
                }
                SeriesKind::Counter => {
                    let value = crate::import::record::constant_counter(s)?;
                    let entry = baseline.benchmarks.entry(s.benchmark.clone()).or_default();
                    if let Some(&old) = entry.counters.get(&s.metric)
                        && old != value
                    {
                        return Err(RegressError::NondeterministicCounter {
                            benchmark: s.benchmark.clone(),
                            counter: s.metric.clone(),
                            side: "head",
                            first: old,
                            other: value,
                        });
                    }
                    entry.counters.insert(s.metric.clone(), value);
                }
            }
        }
        for (id, values) in times {
            let summary = Samples::new(values)
                .map_err(|e: StatsError| RegressError::InvalidObservation {
                    benchmark: id.to_string(),
                    message: e.to_string(),
                })?
                .summary();
            let entry = baseline.benchmarks.entry(id.to_string()).or_default();
            entry.median_ns = Some(summary.median);
            entry.mad_ns = Some(summary.mad);
        }
        Ok(baseline)
    }

    fn history_entry(&self) -> HistoryEntry {
        HistoryEntry {
            schema_version: BASELINE_SCHEMA_VERSION,
            tag: self.tag.clone(),
            commit: self.commit.clone(),
            created_unix_s: self.created_unix_s,
            medians_ns: self
                .benchmarks
                .iter()
                .filter_map(|(id, e)| e.median_ns.map(|m| (id.clone(), m)))
                .collect(),
        }
    }
}

/// Records `baseline` under `root` (optionally as release `tag`) and appends a history line.
///
/// Calibrated noise of benchmarks that the new baseline lacks is carried over from the previous
/// file. A previous file that cannot be read is an error (fix or delete it), never overwritten
/// silently. Returns the baseline's path.
pub fn update(root: &Path, mut baseline: Baseline, tag: Option<&str>) -> Result<PathBuf> {
    check_suite(&baseline.suite)?;
    if let Some(tag) = tag {
        if tag.is_empty() || tag.chars().any(char::is_whitespace) {
            return Err(RegressError::Baseline {
                path: Baseline::path(root, &baseline.profile, &baseline.suite),
                message: format!(
                    "release tag {tag:?} must be non-empty and without spaces, e.g. v1.2.0"
                ),
            });
        }
        baseline.tag = Some(tag.to_string());
    }
    let path = Baseline::path(root, &baseline.profile, &baseline.suite);
    if path.exists() {
        let previous = Baseline::load(root, &baseline.profile, &baseline.suite)?;
        for (id, old) in previous.benchmarks {
            if let (Some(entry), Some(noise)) = (baseline.benchmarks.get_mut(&id), old.noise)
                && entry.noise.is_none()
            {
                entry.noise = Some(noise);
            }
        }
    }
    let path = baseline.save(root)?;
    let history = Baseline::history_path(root, &baseline.profile, &baseline.suite);
    let mut bytes = match std::fs::read(&history) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(RegressError::io("read", &history, e)),
    };
    if !bytes.is_empty() && bytes.last() != Some(&b'\n') {
        bytes.push(b'\n');
    }
    let line =
        serde_json::to_vec(&baseline.history_entry()).map_err(|source| StatsError::Serialize {
            what: "baseline history entry",
            source,
        })?;
    bytes.extend_from_slice(&line);
    bytes.push(b'\n');
    write_atomic(&history, &bytes)?;
    Ok(path)
}

/// Reads the history file of `suite` on `profile` (empty when there is none).
pub fn read_history(
    root: &Path,
    profile: &MachineProfile,
    suite: &str,
) -> Result<Vec<HistoryEntry>> {
    let path = Baseline::history_path(root, profile, suite);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(RegressError::io("read", &path, e)),
    };
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            let entry: HistoryEntry =
                serde_json::from_str(l).map_err(|e| RegressError::Baseline {
                    path: path.clone(),
                    message: format!("history line {}: {e}", i + 1),
                })?;
            if entry.schema_version != BASELINE_SCHEMA_VERSION {
                return Err(RegressError::Baseline {
                    path: path.clone(),
                    message: format!(
                        "history line {}: schema_version {} is not supported (this build reads {})",
                        i + 1,
                        entry.schema_version,
                        BASELINE_SCHEMA_VERSION
                    ),
                });
            }
            Ok(entry)
        })
        .collect()
}

/// A suite name is a plain file stem: ASCII letters, digits, `-`, `_`, `.`; not starting with `.`.
fn check_suite(suite: &str) -> Result<()> {
    let ok = !suite.is_empty()
        && !suite.starts_with('.')
        && suite
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(RegressError::Baseline {
            path: PathBuf::from(suite),
            message: "invalid suite name; use letters, digits, `-`, `_` or `.` (e.g. `kernels`)"
                .into(),
        })
    }
}
