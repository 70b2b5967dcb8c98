//! Which differences between two `bench serve` result files are statistically significant.
//!
//! # Input
//! vLLM's `bench serve` result JSON (`--save-result`, optionally `--save-detailed`), a JSONL
//! file written with `--append-result` (one run per line), or a JSON list of runs (a sweep's
//! `summary.json`). Per-request arrays used when present: `ttfts`, `latencies` (seconds),
//! `itls` (a list of lists, seconds), `output_lens`, `errors`. Failed requests (a non-empty
//! `errors` entry, or a latency of 0) are left out.
//!
//! # Method
//! Per metric, two samples of independent units:
//! - **several runs on a side** (either file holds ≥ 2 runs): one value per run, the run's
//!   `median_X_ms` (else `mean_X_ms`) and `request_throughput` / `output_throughput`;
//! - **one run each, with per-request arrays**: one value per successful request: TTFT, TPOT =
//!   (E2EL − TTFT)/(output_len − 1) for requests with more than one token, E2EL, and for ITL each
//!   request's *median* gap (gaps within one request are not independent, so the request is the
//!   unit);
//! - **one run each, no arrays** (or throughput, which is one number per run): only the bare
//!   difference is shown, untested, with the reason.
//!
//! Each tested metric gets a two-sided Mann–Whitney U test ([`dyno_stats::MannWhitney`]), the
//! shift `median(B) − median(A)` with a percentile bootstrap interval (A resampled by
//! [`dyno_stats::bootstrap_ci`], B resampled inside the statistic from its own seeded stream),
//! and Benjamini–Hochberg adjustment across the tested metrics. A metric is `better` or `worse`
//! when its adjusted p-value is at most `q` **and** the interval excludes 0; lower is better for
//! latencies, higher for throughputs. Samples above [`MAX_SAMPLES`] are randomly (seeded)
//! subsampled for the U test, which builds every pairwise difference.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use dyno_stats::{
    Alternative, BootstrapConfig, ConfidenceInterval, MannWhitney, StatsError, bh_reject,
    bootstrap_ci,
};
use rand::rngs::StdRng;
use rand::seq::index::sample;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use serde_json::Value;

/// Largest sample per side given to the U test (it builds all `n_A · n_B` differences).
pub const MAX_SAMPLES: usize = 1000;

/// Why a comparison could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CompareError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating-system error.
        #[source]
        source: std::io::Error,
    },
    /// The file is neither JSON nor JSON lines.
    #[error("{path}: line {line} is not json ({message}); give a `bench serve` result file")]
    NotJson {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What the parser said.
        message: String,
    },
    /// The file is JSON but not a result of `bench serve`.
    #[error("{path}: {what}; give a file written by `bench serve --save-result`")]
    NotAResult {
        /// The file.
        path: PathBuf,
        /// What is missing or wrong.
        what: String,
    },
    /// A statistic failed.
    #[error("{metric}: {source}")]
    Stats {
        /// The metric being compared.
        metric: &'static str,
        /// The statistics error.
        #[source]
        source: StatsError,
    },
}

/// One run of a result file.
#[derive(Debug, Clone, PartialEq)]
pub struct RunResult {
    /// The run's JSON object.
    pub json: serde_json::Map<String, Value>,
}

/// A loaded result file: one run, or several (JSONL / a list).
#[derive(Debug, Clone, PartialEq)]
pub struct ResultFile {
    /// Where it came from.
    pub path: PathBuf,
    /// Its runs, in file order.
    pub runs: Vec<RunResult>,
}

/// Loads a result file.
///
/// # Errors
/// [`CompareError::Io`], [`CompareError::NotJson`] naming the line, or
/// [`CompareError::NotAResult`] saying what is missing.
pub fn load(path: &Path) -> Result<ResultFile, CompareError> {
    let text = std::fs::read_to_string(path).map_err(|source| CompareError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse(path, &text)
}

/// Parses the text of a result file (see [`load`]).
///
/// # Errors
/// As [`load`], except IO.
pub fn parse(path: &Path, text: &str) -> Result<ResultFile, CompareError> {
    let values: Vec<Value> = match serde_json::from_str::<Value>(text) {
        Ok(Value::Array(list)) => list,
        Ok(v) => vec![v],
        Err(whole) => {
            let mut runs = Vec::new();
            for (i, line) in text.lines().enumerate() {
                if line.trim().is_empty() {
                    continue;
                }
                match serde_json::from_str(line) {
                    Ok(v) => runs.push(v),
                    // not JSON lines either: report where the document as a whole broke
                    Err(_) if runs.is_empty() => {
                        return Err(CompareError::NotJson {
                            path: path.to_path_buf(),
                            line: whole.line(),
                            message: whole.to_string(),
                        });
                    }
                    Err(e) => {
                        return Err(CompareError::NotJson {
                            path: path.to_path_buf(),
                            line: i + 1,
                            message: e.to_string(),
                        });
                    }
                }
            }
            runs
        }
    };
    let not_result = |what: String| CompareError::NotAResult {
        path: path.to_path_buf(),
        what,
    };
    if values.is_empty() {
        return Err(not_result("the file holds no run".to_owned()));
    }
    let mut runs = Vec::with_capacity(values.len());
    for (i, v) in values.into_iter().enumerate() {
        let Value::Object(json) = v else {
            return Err(not_result(format!("run {} is not a json object", i + 1)));
        };
        if !json.contains_key("completed") {
            return Err(not_result(format!(
                "run {} has no `completed` key (vLLM's result keys such as `completed`, \
                 `mean_ttft_ms`, `request_throughput` are expected)",
                i + 1
            )));
        }
        runs.push(RunResult { json });
    }
    Ok(ResultFile {
        path: path.to_path_buf(),
        runs,
    })
}

/// A metric compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Time to first token.
    Ttft,
    /// Time per output token after the first.
    Tpot,
    /// Inter-token latency.
    Itl,
    /// End-to-end latency.
    E2el,
    /// Completed requests per second.
    RequestThroughput,
    /// Output tokens per second.
    OutputThroughput,
}

impl Metric {
    /// Every metric, in report order.
    pub const ALL: [Metric; 6] = [
        Metric::Ttft,
        Metric::Tpot,
        Metric::Itl,
        Metric::E2el,
        Metric::RequestThroughput,
        Metric::OutputThroughput,
    ];

    /// Its name in the report.
    pub fn label(self) -> &'static str {
        match self {
            Metric::Ttft => "TTFT (ms)",
            Metric::Tpot => "TPOT (ms)",
            Metric::Itl => "ITL (ms)",
            Metric::E2el => "E2EL (ms)",
            Metric::RequestThroughput => "request throughput (req/s)",
            Metric::OutputThroughput => "output throughput (tok/s)",
        }
    }

    /// Whether a smaller value is an improvement.
    pub fn lower_is_better(self) -> bool {
        !matches!(self, Metric::RequestThroughput | Metric::OutputThroughput)
    }

    /// The run-level value of a run: `median_X_ms` (else `mean_X_ms`), or the throughput.
    fn run_value(self, run: &RunResult) -> Option<f64> {
        let get = |k: &str| run.json.get(k).and_then(Value::as_f64);
        match self {
            Metric::Ttft => get("median_ttft_ms").or_else(|| get("mean_ttft_ms")),
            Metric::Tpot => get("median_tpot_ms").or_else(|| get("mean_tpot_ms")),
            Metric::Itl => get("median_itl_ms").or_else(|| get("mean_itl_ms")),
            Metric::E2el => get("median_e2el_ms").or_else(|| get("mean_e2el_ms")),
            Metric::RequestThroughput => get("request_throughput"),
            Metric::OutputThroughput => get("output_throughput"),
        }
    }

    /// Per-request values (ms) of a run, when its arrays allow.
    fn per_request(self, run: &RunResult) -> Option<Vec<f64>> {
        let arr = |k: &str| run.json.get(k).and_then(Value::as_array);
        let nums = |k: &str| -> Option<Vec<f64>> {
            arr(k).map(|a| a.iter().map(|v| v.as_f64().unwrap_or(f64::NAN)).collect())
        };
        let latencies = nums("latencies")?;
        let errors = arr("errors");
        let ok = |i: usize| -> bool {
            latencies[i] > 0.0
                && errors
                    .and_then(|e| e.get(i))
                    .is_none_or(|e| e.as_str().is_none_or(str::is_empty))
        };
        let n = latencies.len();
        let out: Vec<f64> = match self {
            Metric::E2el => (0..n)
                .filter(|&i| ok(i))
                .map(|i| latencies[i] * 1e3)
                .collect(),
            Metric::Ttft => {
                let ttfts = nums("ttfts").filter(|t| t.len() == n)?;
                (0..n).filter(|&i| ok(i)).map(|i| ttfts[i] * 1e3).collect()
            }
            Metric::Tpot => {
                let ttfts = nums("ttfts").filter(|t| t.len() == n)?;
                let lens = nums("output_lens").filter(|t| t.len() == n)?;
                (0..n)
                    .filter(|&i| ok(i) && lens[i] > 1.0)
                    .map(|i| (latencies[i] - ttfts[i]) / (lens[i] - 1.0) * 1e3)
                    .collect()
            }
            Metric::Itl => {
                let itls = arr("itls").filter(|t| t.len() == n)?;
                (0..n)
                    .filter(|&i| ok(i))
                    .filter_map(|i| {
                        let mut gaps: Vec<f64> = itls[i]
                            .as_array()?
                            .iter()
                            .filter_map(Value::as_f64)
                            .map(|s| s * 1e3)
                            .collect();
                        (!gaps.is_empty()).then(|| median_in_place(&mut gaps))
                    })
                    .collect()
            }
            Metric::RequestThroughput | Metric::OutputThroughput => return None,
        };
        (!out.is_empty() && out.iter().all(|v| v.is_finite())).then_some(out)
    }
}

/// How a metric's two samples were formed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    /// One value per successful request of a single run.
    PerRequest,
    /// One value per run.
    PerRun,
    /// One number per side: a bare difference, untested.
    Bare,
}

impl Basis {
    fn label(self) -> &'static str {
        match self {
            Basis::PerRequest => "per request",
            Basis::PerRun => "per run",
            Basis::Bare => "bare",
        }
    }
}

/// What the comparison says about one metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// B is significantly better than A.
    Better,
    /// B is significantly worse than A.
    Worse,
    /// The test found no significant difference.
    NoSignificantDifference,
    /// Not tested: only a bare difference is available.
    NotTested,
}

impl Verdict {
    fn label(self) -> &'static str {
        match self {
            Verdict::Better => "better",
            Verdict::Worse => "worse",
            Verdict::NoSignificantDifference => "no significant difference",
            Verdict::NotTested => "not tested",
        }
    }
}

/// One metric's row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricComparison {
    /// Which metric.
    pub metric: Metric,
    /// Its label with unit.
    pub label: &'static str,
    /// How the samples were formed.
    pub basis: Basis,
    /// Sample size of A.
    pub n_a: usize,
    /// Sample size of B.
    pub n_b: usize,
    /// Median of A (the value itself when bare).
    pub median_a: f64,
    /// Median of B.
    pub median_b: f64,
    /// `median_b − median_a`.
    pub shift: f64,
    /// Bootstrap interval of the shift (tested metrics only).
    pub shift_ci: Option<ConfidenceInterval>,
    /// Hodges–Lehmann shift of B against A (median of all pairwise `b − a`; tested only).
    pub hodges_lehmann_shift: Option<f64>,
    /// `100 · shift / median_a`.
    pub change_percent: f64,
    /// Two-sided Mann–Whitney p-value.
    pub p_value: Option<f64>,
    /// Benjamini–Hochberg adjusted p-value across the tested metrics.
    pub p_adjusted: Option<f64>,
    /// The verdict.
    pub verdict: Verdict,
}

/// Knobs of a comparison.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CompareConfig {
    /// False discovery rate across the tested metrics.
    pub q: f64,
    /// Confidence level of the shift intervals.
    pub level: f64,
    /// Bootstrap resamples.
    pub resamples: usize,
    /// Seed of the bootstrap and of subsampling.
    pub seed: u64,
}

impl Default for CompareConfig {
    fn default() -> Self {
        Self {
            q: 0.05,
            level: 0.95,
            resamples: 2000,
            seed: 0,
        }
    }
}

/// The whole comparison (what `--json` writes).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    /// File A (the baseline).
    pub a: PathBuf,
    /// File B (the candidate).
    pub b: PathBuf,
    /// Runs in A.
    pub runs_a: usize,
    /// Runs in B.
    pub runs_b: usize,
    /// FDR level.
    pub q: f64,
    /// Interval level.
    pub level: f64,
    /// One row per metric found on both sides.
    pub metrics: Vec<MetricComparison>,
    /// What the reader should know (bare differences and why, metrics missing).
    pub notes: Vec<String>,
}

/// Median of values, reordering them (type 7: the mean of the two middle values when even).
fn median_in_place(v: &mut [f64]) -> f64 {
    let n = v.len();
    let mid = n / 2;
    let (_, upper, _) = v.select_nth_unstable_by(mid, f64::total_cmp);
    let upper = *upper;
    if n % 2 == 1 {
        return upper;
    }
    let lower = v[..mid].iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (lower + upper) / 2.0
}

fn subsample(v: &[f64], rng: &mut StdRng) -> Vec<f64> {
    if v.len() <= MAX_SAMPLES {
        return v.to_vec();
    }
    sample(rng, v.len(), MAX_SAMPLES)
        .into_iter()
        .map(|i| v[i])
        .collect()
}

/// Tests one metric: U test, bootstrap interval of the median shift.
fn test_metric(
    metric: Metric,
    basis: Basis,
    a: &[f64],
    b: &[f64],
    config: &CompareConfig,
) -> Result<MetricComparison, CompareError> {
    let stats = |source| CompareError::Stats {
        metric: metric.label(),
        source,
    };
    let mut rng = StdRng::seed_from_u64(config.seed ^ metric as u64);
    let mw = MannWhitney::test(&subsample(b, &mut rng), &subsample(a, &mut rng)).map_err(stats)?;
    let median_a = median_in_place(&mut a.to_vec());
    let median_b = median_in_place(&mut b.to_vec());
    // A is resampled by the stats crate; B inside the statistic, from its own seeded stream.
    let mut b_rng = StdRng::seed_from_u64(config.seed.wrapping_add(0x9e37_79b9) ^ metric as u64);
    let mut b_buf = vec![0.0; b.len()];
    let mut a_buf = Vec::with_capacity(a.len());
    let boot = bootstrap_ci(
        a,
        |a_star| {
            for slot in b_buf.iter_mut() {
                *slot = b[b_rng.random_range(0..b.len())];
            }
            a_buf.clear();
            a_buf.extend_from_slice(a_star);
            median_in_place(&mut b_buf) - median_in_place(&mut a_buf)
        },
        &BootstrapConfig {
            resamples: config.resamples,
            level: config.level,
            seed: config.seed,
        },
    )
    .map_err(stats)?;
    let shift = median_b - median_a;
    Ok(MetricComparison {
        metric,
        label: metric.label(),
        basis,
        n_a: a.len(),
        n_b: b.len(),
        median_a,
        median_b,
        shift,
        shift_ci: Some(boot.ci),
        hodges_lehmann_shift: Some(mw.shift),
        change_percent: percent(shift, median_a),
        p_value: Some(mw.p_value(Alternative::TwoSided)),
        p_adjusted: None,
        verdict: Verdict::NoSignificantDifference,
    })
}

fn percent(shift: f64, base: f64) -> f64 {
    if base == 0.0 {
        0.0
    } else {
        100.0 * shift / base
    }
}

fn bare(metric: Metric, a: f64, b: f64) -> MetricComparison {
    MetricComparison {
        metric,
        label: metric.label(),
        basis: Basis::Bare,
        n_a: 1,
        n_b: 1,
        median_a: a,
        median_b: b,
        shift: b - a,
        shift_ci: None,
        hodges_lehmann_shift: None,
        change_percent: percent(b - a, a),
        p_value: None,
        p_adjusted: None,
        verdict: Verdict::NotTested,
    }
}

/// Compares B against A.
///
/// # Errors
/// [`CompareError::NotAResult`] when no metric is found on both sides, [`CompareError::Stats`]
/// for a bad `config` (e.g. `q` outside (0, 1)).
pub fn compare(
    a: &ResultFile,
    b: &ResultFile,
    config: &CompareConfig,
) -> Result<Comparison, CompareError> {
    let per_run = a.runs.len() > 1 || b.runs.len() > 1;
    let mut rows = Vec::new();
    let mut notes = Vec::new();
    let mut bare_latency = false;
    for metric in Metric::ALL {
        let runs_a: Vec<f64> = a.runs.iter().filter_map(|r| metric.run_value(r)).collect();
        let runs_b: Vec<f64> = b.runs.iter().filter_map(|r| metric.run_value(r)).collect();
        if per_run {
            if runs_a.is_empty() || runs_b.is_empty() {
                notes.push(format!("{}: not in both files", metric.label()));
                continue;
            }
            rows.push(test_metric(
                metric,
                Basis::PerRun,
                &runs_a,
                &runs_b,
                config,
            )?);
            continue;
        }
        let (ra, rb) = (&a.runs[0], &b.runs[0]);
        if let (Some(xa), Some(xb)) = (metric.per_request(ra), metric.per_request(rb)) {
            rows.push(test_metric(metric, Basis::PerRequest, &xa, &xb, config)?);
        } else if let (Some(&va), Some(&vb)) = (runs_a.first(), runs_b.first()) {
            bare_latency |= metric.lower_is_better();
            rows.push(bare(metric, va, vb));
        } else {
            notes.push(format!("{}: not in both files", metric.label()));
        }
    }
    if rows.is_empty() {
        return Err(CompareError::NotAResult {
            path: a.path.clone(),
            what: format!(
                "no metric is present in both it and {} (expected keys such as `median_ttft_ms`, \
                 `request_throughput`, or per-request arrays)",
                b.path.display()
            ),
        });
    }
    if !per_run {
        notes.push(
            "throughput is one number per run: only a bare difference can be shown; save several \
             runs (--append-result, --num-runs) to test it"
                .to_owned(),
        );
        if bare_latency {
            notes.push(
                "some latency metrics lack per-request arrays (save with --save-detailed): only a \
                 bare difference of one summary number per side is shown, which cannot tell a \
                 change from run-to-run noise"
                    .to_owned(),
            );
        }
    }
    let tested: Vec<usize> = (0..rows.len())
        .filter(|&i| rows[i].p_value.is_some())
        .collect();
    let p: Vec<f64> = tested.iter().filter_map(|&i| rows[i].p_value).collect();
    let bh = bh_reject(&p, config.q).map_err(|source| CompareError::Stats {
        metric: "benjamini-hochberg",
        source,
    })?;
    for (k, &i) in tested.iter().enumerate() {
        let row = &mut rows[i];
        row.p_adjusted = Some(bh.adjusted[k]);
        let excludes_zero = row.shift_ci.is_some_and(|ci| !ci.contains(0.0));
        row.verdict = if bh.rejected[k] && excludes_zero {
            if (row.shift < 0.0) == row.metric.lower_is_better() {
                Verdict::Better
            } else {
                Verdict::Worse
            }
        } else {
            Verdict::NoSignificantDifference
        };
    }
    if per_run && rows.iter().any(|r| r.n_a + r.n_b < 8) {
        notes.push(
            "few runs: with n_A + n_B < 8 the rank test cannot reach small p-values (3 vs 3 runs: \
             p ≥ 0.1); record more runs for a verdict"
                .to_owned(),
        );
    }
    Ok(Comparison {
        a: a.path.clone(),
        b: b.path.clone(),
        runs_a: a.runs.len(),
        runs_b: b.runs.len(),
        q: config.q,
        level: config.level,
        metrics: rows,
        notes,
    })
}

fn fmt_p(p: Option<f64>) -> String {
    match p {
        None => "-".to_owned(),
        Some(p) if p < 0.001 => "<0.001".to_owned(),
        Some(p) => format!("{p:.3}"),
    }
}

impl Comparison {
    /// The printed report: a markdown table, then the notes.
    pub fn to_table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "A = {} ({} run(s)), B = {} ({} run(s)); shift = median(B) − median(A), {:.0} % \
             bootstrap interval; Mann–Whitney p, Benjamini–Hochberg at q = {}",
            self.a.display(),
            self.runs_a,
            self.b.display(),
            self.runs_b,
            self.level * 100.0,
            self.q
        );
        out.push('\n');
        out.push_str(
            "| metric | basis | n A | n B | median A | median B | shift [CI] | change | p | p (BH) | verdict |\n",
        );
        out.push_str("|---|---|---:|---:|---:|---:|---|---:|---:|---:|---|\n");
        for r in &self.metrics {
            let ci = r
                .shift_ci
                .map(|c| format!(" [{:+.3}, {:+.3}]", c.lower, c.upper))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {:.3} | {:.3} | {:+.3}{} | {:+.1} % | {} | {} | {} |",
                r.label,
                r.basis.label(),
                r.n_a,
                r.n_b,
                r.median_a,
                r.median_b,
                r.shift,
                ci,
                r.change_percent,
                fmt_p(r.p_value),
                fmt_p(r.p_adjusted),
                r.verdict.label()
            );
        }
        for n in &self.notes {
            let _ = writeln!(out, "\nnote: {n}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A detailed single-run result: `n` requests, TTFT around `ttft_ms`, 10 tokens with gaps
    /// around `itl_ms`, seeded noise of ±10 %.
    fn detailed(n: usize, ttft_ms: f64, itl_ms: f64, seed: u64) -> ResultFile {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut noise = |x: f64| x * (0.9 + 0.2 * rng.random::<f64>());
        let (mut ttfts, mut itls, mut lat) = (vec![], vec![], vec![]);
        for _ in 0..n {
            let t = noise(ttft_ms) / 1e3;
            let gaps: Vec<f64> = (0..9).map(|_| noise(itl_ms) / 1e3).collect();
            lat.push(t + gaps.iter().sum::<f64>());
            ttfts.push(t);
            itls.push(gaps);
        }
        let v = json!({"completed": n, "request_throughput": 5.0, "output_throughput": 50.0,
            "median_ttft_ms": ttft_ms, "ttfts": ttfts, "itls": itls, "latencies": lat,
            "output_lens": vec![10; n], "errors": vec![""; n]});
        parse(Path::new("x.json"), &v.to_string()).unwrap()
    }

    fn row(c: &Comparison, m: Metric) -> &MetricComparison {
        c.metrics.iter().find(|r| r.metric == m).unwrap()
    }

    #[test]
    fn a_ten_percent_shift_is_flagged() {
        let a = detailed(200, 50.0, 10.0, 1);
        let b = detailed(200, 55.0, 10.0, 2);
        let c = compare(&a, &b, &CompareConfig::default()).unwrap();
        let ttft = row(&c, Metric::Ttft);
        assert_eq!(ttft.basis, Basis::PerRequest);
        assert_eq!(ttft.verdict, Verdict::Worse);
        assert!(ttft.p_adjusted.unwrap() < 1e-6);
        let ci = ttft.shift_ci.unwrap();
        assert!(ci.contains(5.0) && ci.lower > 3.0, "{ci:?}");
        assert!((ttft.change_percent - 10.0).abs() < 3.0);
        // ITL did not move
        assert_eq!(
            row(&c, Metric::Itl).verdict,
            Verdict::NoSignificantDifference
        );
        assert_eq!(
            row(&c, Metric::RequestThroughput).verdict,
            Verdict::NotTested
        );
        // and the other way round B is better
        let c = compare(&b, &a, &CompareConfig::default()).unwrap();
        assert_eq!(row(&c, Metric::Ttft).verdict, Verdict::Better);
    }

    #[test]
    fn identical_samples_are_not_flagged() {
        let a = detailed(150, 50.0, 10.0, 7);
        let c = compare(&a, &a.clone(), &CompareConfig::default()).unwrap();
        for r in &c.metrics {
            assert_ne!(r.verdict, Verdict::Better, "{r:?}");
            assert_ne!(r.verdict, Verdict::Worse, "{r:?}");
            if let Some(p) = r.p_value {
                assert!(p > 0.9, "{r:?}");
                assert_eq!(r.shift, 0.0);
            }
        }
    }

    #[test]
    fn same_distribution_other_seed_is_not_flagged() {
        let a = detailed(200, 50.0, 10.0, 3);
        let b = detailed(200, 50.0, 10.0, 4);
        let c = compare(&a, &b, &CompareConfig::default()).unwrap();
        assert!(
            c.metrics
                .iter()
                .all(|r| !matches!(r.verdict, Verdict::Better | Verdict::Worse)),
            "{}",
            c.to_table()
        );
    }

    #[test]
    fn without_arrays_only_a_bare_difference_is_shown() {
        let a = parse(
            Path::new("a"),
            r#"{"completed": 10, "median_ttft_ms": 50.0}"#,
        )
        .unwrap();
        let b = parse(
            Path::new("b"),
            r#"{"completed": 10, "median_ttft_ms": 60.0}"#,
        )
        .unwrap();
        let c = compare(&a, &b, &CompareConfig::default()).unwrap();
        let r = row(&c, Metric::Ttft);
        assert_eq!(
            (r.basis, r.verdict, r.shift),
            (Basis::Bare, Verdict::NotTested, 10.0)
        );
        assert!(c.notes.iter().any(|n| n.contains("--save-detailed")));
    }

    #[test]
    fn jsonl_runs_are_compared_run_by_run() {
        let runs = |base: f64| -> String {
            (0..6)
                .map(|i| {
                    json!({"completed": 100, "median_ttft_ms": base + f64::from(i) * 0.1,
                        "request_throughput": 10.0 - base / 100.0 + f64::from(i) * 0.01})
                    .to_string()
                })
                .collect::<Vec<_>>()
                .join("\n")
        };
        let a = parse(Path::new("a.jsonl"), &runs(50.0)).unwrap();
        let b = parse(Path::new("b.jsonl"), &runs(60.0)).unwrap();
        assert_eq!(a.runs.len(), 6);
        let c = compare(&a, &b, &CompareConfig::default()).unwrap();
        let ttft = row(&c, Metric::Ttft);
        assert_eq!((ttft.basis, ttft.n_a), (Basis::PerRun, 6));
        assert_eq!(ttft.verdict, Verdict::Worse);
        assert_eq!(row(&c, Metric::RequestThroughput).verdict, Verdict::Worse);
    }

    #[test]
    fn failed_requests_are_left_out() {
        let v = json!({"completed": 2, "ttfts": [0.05, 0.0, 0.07], "latencies": [0.1, 0.0, 0.2],
            "itls": [[0.01], [], [0.02]], "output_lens": [2, 0, 2], "errors": ["", "boom", ""]});
        let f = parse(Path::new("x"), &v.to_string()).unwrap();
        let ttft = Metric::Ttft.per_request(&f.runs[0]).unwrap();
        assert_eq!(ttft.len(), 2);
        let tpot = Metric::Tpot.per_request(&f.runs[0]).unwrap();
        assert!((tpot[0] - 50.0).abs() < 1e-9 && (tpot[1] - 130.0).abs() < 1e-9);
    }

    #[test]
    fn bad_files_say_what_is_wrong() {
        let e = parse(Path::new("f.json"), r#"{"x": 1}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("f.json") && e.contains("`completed`"), "{e}");
        let e = parse(Path::new("g.json"), "not json\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("g.json") && e.contains("line 1"), "{e}");
        assert!(parse(Path::new("h"), "").is_err());
    }

    #[test]
    fn median_matches_type_seven() {
        assert_eq!(median_in_place(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median_in_place(&mut [4.0, 1.0, 3.0, 2.0]), 2.5);
    }
}
