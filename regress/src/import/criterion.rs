//! criterion.rs output (0.3 and later): `target/criterion/**/<slot>/` where `<slot>` is `new`
//! (the latest run) or a saved baseline name (`base`, or `--save-baseline <name>`).
//!
//! Each slot directory holds `benchmark.json` (ids and throughput), `estimates.json` (bootstrap
//! estimates in the measurement unit, ns per iteration for wall time) and `sample.json`
//! (`iters` and the **total** `times` of each sample). The importer reads the raw samples:
//! per-iteration time = `times[i] / iters[i]`, and the block statistic is their median.
//!
//! One criterion run is one process, so it is **one block** of one side: its samples are not
//! independent replicates. Judging a `new` slot against a `base` slot therefore gives K = 1 and
//! an inconclusive verdict, by design. Run the bench once per block and side (as
//! `dyno regress run` does) and import each run with its block index.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use dyno_stats::record::Side;

use crate::error::{RegressError, Result};
use crate::observation::Observation;

/// Throughput declared by a criterion benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Throughput {
    /// Bytes per iteration (binary prefixes in reports).
    Bytes(u64),
    /// Bytes per iteration (decimal prefixes in reports).
    BytesDecimal(u64),
    /// Elements per iteration.
    Elements(u64),
    /// Bits per iteration.
    Bits(u64),
}

/// A criterion bootstrap estimate (`estimates.json` entry).
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
pub struct Estimate {
    /// The point estimate, in the measurement unit.
    pub point_estimate: f64,
    /// Bootstrap standard error.
    pub standard_error: f64,
    /// Bootstrap interval.
    pub confidence_interval: EstimateInterval,
}

/// The interval of an [`Estimate`].
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
pub struct EstimateInterval {
    /// Confidence level (criterion's default 0.95).
    pub confidence_level: f64,
    /// Lower bound.
    pub lower_bound: f64,
    /// Upper bound.
    pub upper_bound: f64,
}

/// criterion's `estimates.json`.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
pub struct Estimates {
    /// Mean per-iteration time.
    pub mean: Estimate,
    /// Median per-iteration time.
    pub median: Estimate,
    /// Median absolute deviation.
    pub median_abs_dev: Estimate,
    /// Slope of time against iterations (linear sampling only).
    pub slope: Option<Estimate>,
    /// Standard deviation.
    pub std_dev: Estimate,
}

#[derive(Deserialize)]
struct BenchmarkFile {
    full_id: String,
    #[serde(default)]
    throughput: Option<Throughput>,
}

#[derive(Deserialize)]
struct SampleFile {
    sampling_mode: String,
    iters: Vec<f64>,
    times: Vec<f64>,
}

/// One benchmark's results in one slot.
#[derive(Debug, Clone, PartialEq)]
pub struct CriterionBenchmark {
    /// criterion's `full_id` (`group/function/value`), the benchmark id.
    pub id: String,
    /// The slot directory read.
    pub directory: PathBuf,
    /// Declared throughput.
    pub throughput: Option<Throughput>,
    /// criterion's own estimates (for reports; the gate uses the raw samples).
    pub estimates: Estimates,
    /// `Linear` or `Flat`.
    pub sampling_mode: String,
    /// Per-iteration time of each sample, in nanoseconds.
    pub per_iteration_ns: Vec<f64>,
}

impl CriterionBenchmark {
    /// The block statistic: median per-iteration time in nanoseconds.
    pub fn block_time_ns(&self) -> f64 {
        dyno_stats::median(&self.per_iteration_ns).expect("validated non-empty and finite")
    }

    /// This run as the timing observation of `side` in `block`.
    pub fn observation(&self, side: Side, block: u32) -> Observation {
        Observation::time_ns(&self.id, side, block, self.block_time_ns())
    }
}

/// Reads every benchmark under `root` (e.g. `target/criterion`) that has a `slot` directory,
/// sorted by id. Fails when none is found, on malformed or old-format files, and on an id that
/// appears twice.
pub fn read_tree(root: &Path, slot: &str) -> Result<Vec<CriterionBenchmark>> {
    if slot.is_empty() || matches!(slot, "report" | "change") || slot.contains(['/', '\\']) {
        return Err(RegressError::Criterion {
            path: root.to_path_buf(),
            message: format!(
                "`{slot}` is not a result slot; use `new` or a saved baseline name such as `base`"
            ),
        });
    }
    let mut dirs = Vec::new();
    find_slots(root, slot, &mut dirs)?;
    dirs.sort();
    let mut out: Vec<CriterionBenchmark> = Vec::with_capacity(dirs.len());
    for dir in dirs {
        let bench = read_slot(&dir)?;
        if let Some(prev) = out.iter().find(|b| b.id == bench.id) {
            return Err(RegressError::Criterion {
                path: dir,
                message: format!(
                    "benchmark id `{}` also appears in {}",
                    bench.id,
                    prev.directory.display()
                ),
            });
        }
        out.push(bench);
    }
    if out.is_empty() {
        return Err(RegressError::Criterion {
            path: root.to_path_buf(),
            message: format!(
                "no criterion results in */{slot}/ below this directory; run `cargo bench` first"
            ),
        });
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(out)
}

/// Timing observations of all `benchmarks` as `side` in `block`.
pub fn observations(benchmarks: &[CriterionBenchmark], side: Side, block: u32) -> Vec<Observation> {
    benchmarks
        .iter()
        .map(|b| b.observation(side, block))
        .collect()
}

fn find_slots(dir: &Path, slot: &str, out: &mut Vec<PathBuf>) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|e| RegressError::io("list", dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| RegressError::io("list", dir, e))?;
        let path = entry.path();
        let is_dir = entry
            .file_type()
            .map_err(|e| RegressError::io("stat", &path, e))?
            .is_dir();
        if !is_dir {
            continue;
        }
        let name = entry.file_name();
        if name == "report" {
            continue;
        }
        if name == slot && path.join("benchmark.json").is_file() {
            out.push(path);
        } else {
            find_slots(&path, slot, out)?;
        }
    }
    Ok(())
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path, hint: &str) -> Result<T> {
    let bytes = std::fs::read(path).map_err(|e| RegressError::io("read", path, e))?;
    serde_json::from_slice(&bytes).map_err(|e| RegressError::Criterion {
        path: path.to_path_buf(),
        message: format!("{e}; {hint}"),
    })
}

const NEW_FORMAT: &str =
    "expected the output of criterion 0.3 or later (re-run `cargo bench` to regenerate it)";

fn read_slot(dir: &Path) -> Result<CriterionBenchmark> {
    let meta: BenchmarkFile = read_json(&dir.join("benchmark.json"), NEW_FORMAT)?;
    let estimates: Estimates = read_json(&dir.join("estimates.json"), NEW_FORMAT)?;
    let sample_path = dir.join("sample.json");
    let raw: serde_json::Value = read_json(&sample_path, NEW_FORMAT)?;
    if raw.is_array() {
        return Err(RegressError::Criterion {
            path: sample_path,
            message: format!("an `[iters, times]` array is the pre-0.3 format; {NEW_FORMAT}"),
        });
    }
    let sample: SampleFile = serde_json::from_value(raw).map_err(|e| RegressError::Criterion {
        path: sample_path.clone(),
        message: format!("{e}; {NEW_FORMAT}"),
    })?;
    let bad = |message: String| RegressError::Criterion {
        path: sample_path.clone(),
        message,
    };
    if sample.iters.len() != sample.times.len() || sample.iters.is_empty() {
        return Err(bad(format!(
            "`iters` has {} entries and `times` {}; they must be equal and non-zero",
            sample.iters.len(),
            sample.times.len()
        )));
    }
    let mut per_iteration_ns = Vec::with_capacity(sample.iters.len());
    for (i, (&n, &t)) in sample.iters.iter().zip(&sample.times).enumerate() {
        if !(n.is_finite() && n > 0.0 && t.is_finite() && t >= 0.0) {
            return Err(bad(format!(
                "sample {i}: iters = {n}, times = {t}; need iters > 0 and a finite time ≥ 0"
            )));
        }
        per_iteration_ns.push(t / n);
    }
    Ok(CriterionBenchmark {
        id: meta.full_id,
        directory: dir.to_path_buf(),
        throughput: meta.throughput,
        estimates,
        sampling_mode: sample.sampling_mode,
        per_iteration_ns,
    })
}
