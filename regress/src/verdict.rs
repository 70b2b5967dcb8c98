//! Verdicts and the per-benchmark and per-run results of a judgement.

use serde::{Deserialize, Serialize};

/// Exit code for an error (bad input, IO failure): never a pass.
pub const EXIT_ERROR: i32 = 2;

/// What the gate concludes about one benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Significantly slower beyond the threshold, or a deterministic counter rose.
    Regression,
    /// The data cannot decide (too few blocks, untrusted environment, suspect not re-measured).
    Inconclusive,
    /// Measured on one side only.
    Missing,
    /// Significantly faster beyond the threshold, or a counter fell (reported, never failed).
    Improvement,
    /// No regression detected.
    NoRegression,
}

impl Verdict {
    /// Lower-case words for reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Regression => "regression",
            Verdict::Inconclusive => "inconclusive",
            Verdict::Missing => "missing",
            Verdict::Improvement => "improvement",
            Verdict::NoRegression => "no regression",
        }
    }
}

/// What the gate concludes about the whole run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Nothing regressed (exit 0).
    NoRegression,
    /// At least one benchmark regressed (exit 1).
    Regression,
    /// The measurement cannot be trusted or cannot decide: CI retries, never fails on it (exit 3).
    Inconclusive,
}

impl Outcome {
    /// Process exit code: 0 no regression, 1 regression, 3 inconclusive (2 is [`EXIT_ERROR`]).
    pub fn exit_code(self) -> i32 {
        match self {
            Outcome::NoRegression => 0,
            Outcome::Regression => 1,
            Outcome::Inconclusive => 3,
        }
    }

    /// Lower-case words for reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::NoRegression => "no regression",
            Outcome::Regression => "regression",
            Outcome::Inconclusive => "inconclusive",
        }
    }
}

/// Which stage produced a benchmark's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// A single-stage judgement.
    Single,
    /// Stage 1 of a two-stage run (the benchmark was cleared, or the row is a screening row).
    Screen,
    /// Stage 2: judged on fresh blocks.
    Confirm,
}

/// An effect as relative change `head / base - 1` with its interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Effect {
    /// Hodges–Lehmann estimate as a fraction (0.021 = +2.1 %, head slower).
    pub change: f64,
    /// Lower end of the distribution-free interval, as a fraction.
    pub ci_lower: f64,
    /// Upper end of the interval, as a fraction.
    pub ci_upper: f64,
    /// Nominal level of the interval.
    pub level: f64,
}

impl Effect {
    /// From an HL estimate and interval of log-ratios.
    pub(crate) fn from_log(estimate: f64, lower: f64, upper: f64, level: f64) -> Effect {
        Effect {
            change: estimate.exp_m1(),
            ci_lower: lower.exp_m1(),
            ci_upper: upper.exp_m1(),
            level,
        }
    }
}

/// The timing part of a benchmark's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimingResult {
    /// Verdict from timing alone.
    pub verdict: Verdict,
    /// Number of paired blocks.
    pub blocks: usize,
    /// The estimated change, when at least one block was paired.
    pub effect: Option<Effect>,
    /// One-sided Wilcoxon p-value, H1: head slower.
    pub p_value: Option<f64>,
    /// Benjamini–Hochberg adjusted `p_value` within the run's family.
    pub p_adjusted: Option<f64>,
    /// Smallest p-value these blocks could give (`2^-K` for K non-zero ratios).
    pub min_p_value: Option<f64>,
    /// Threshold τ as a fraction.
    pub threshold: f64,
    /// Calibrated noise used for τ, if any.
    pub noise: Option<f64>,
}

/// How one deterministic counter compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CounterVerdict {
    /// Identical on both sides.
    Equal,
    /// Higher on head: a regression.
    Increased,
    /// Lower on head: an improvement.
    Decreased,
    /// Measured on one side only.
    Missing,
}

/// One deterministic counter's comparison.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CounterResult {
    /// Counter name.
    pub name: String,
    /// Base value.
    pub base: Option<u64>,
    /// Head value.
    pub head: Option<u64>,
    /// Exact comparison.
    pub verdict: CounterVerdict,
}

/// The result for one benchmark.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BenchmarkResult {
    /// Benchmark id.
    pub id: String,
    /// Combined verdict of timing and counters.
    pub verdict: Verdict,
    /// Which stage produced it.
    pub stage: Stage,
    /// Timing analysis, when the benchmark has timings.
    pub timing: Option<TimingResult>,
    /// Counter comparisons.
    pub counters: Vec<CounterResult>,
    /// Human-readable reasons and remarks (why inconclusive, which counter moved, ...).
    pub notes: Vec<String>,
}

/// A sentinel's reading.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SentinelResult {
    /// Sentinel id.
    pub id: String,
    /// Paired blocks.
    pub blocks: usize,
    /// Estimated change (should be ~0).
    pub effect: Option<Effect>,
    /// Two-sided Wilcoxon p-value.
    pub p_value: Option<f64>,
    /// Whether it stayed within its band.
    pub in_band: bool,
}

/// Whether the measurement environment can be trusted, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Environment {
    /// False when a sentinel is out of band or a health limit was exceeded.
    pub trusted: bool,
    /// Sentinel readings.
    pub sentinels: Vec<SentinelResult>,
    /// Steal-time fraction, when measured.
    pub steal_time_fraction: Option<f64>,
    /// Health flags raised by the runner.
    pub flags: Vec<String>,
    /// Why the environment is untrusted, or remarks (e.g. no sentinel).
    pub notes: Vec<String>,
}

/// The result of judging one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Judgement {
    /// Run-level conclusion.
    pub outcome: Outcome,
    /// Benjamini–Hochberg level used.
    pub q: f64,
    /// Number of benchmarks in the final BH family.
    pub family_size: usize,
    /// Blocks needed for a lone regression in that family to be detectable.
    pub min_blocks: usize,
    /// Environment health and sentinels.
    pub environment: Environment,
    /// One row per benchmark, sorted by id.
    pub benchmarks: Vec<BenchmarkResult>,
    /// Run-level remarks (e.g. why the outcome is inconclusive).
    pub notes: Vec<String>,
}

impl Judgement {
    /// The process exit code of this judgement (see [`Outcome::exit_code`]).
    pub fn exit_code(&self) -> i32 {
        self.outcome.exit_code()
    }

    /// The row of one benchmark.
    pub fn benchmark(&self, id: &str) -> Option<&BenchmarkResult> {
        self.benchmarks.iter().find(|b| b.id == id)
    }

    /// Ids of the benchmarks with `verdict`.
    pub fn ids_with(&self, verdict: Verdict) -> Vec<&str> {
        self.benchmarks
            .iter()
            .filter(|b| b.verdict == verdict)
            .map(|b| b.id.as_str())
            .collect()
    }
}
