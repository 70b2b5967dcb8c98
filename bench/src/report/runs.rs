//! `--num-runs N`: the headline metrics of every run, and per metric the mean, standard
//! deviation (sample), min, max, coefficient of variation and a 95 % percentile-bootstrap
//! interval of the mean (`dyno_stats::bootstrap_ci`, seeded; 10 000 resamples).

use std::fmt::Write;

use dyno_stats::{BootstrapConfig, bootstrap_ci};
use serde_json::{Value, json};

use super::json::OrderedJson;

/// The keys summarized across runs (those present in the run results).
pub const HEADLINE: [&str; 15] = [
    "request_throughput",
    "output_throughput",
    "total_token_throughput",
    "mean_ttft_ms",
    "median_ttft_ms",
    "p99_ttft_ms",
    "mean_tpot_ms",
    "median_tpot_ms",
    "p99_tpot_ms",
    "mean_itl_ms",
    "median_itl_ms",
    "p99_itl_ms",
    "mean_e2el_ms",
    "median_e2el_ms",
    "p99_e2el_ms",
];

/// One metric over the runs.
#[derive(Clone, Debug, PartialEq)]
pub struct Spread {
    /// The key.
    pub key: &'static str,
    /// Per-run values.
    pub values: Vec<f64>,
    /// Mean.
    pub mean: f64,
    /// Sample standard deviation (0 for one run).
    pub std: f64,
    /// Smallest.
    pub min: f64,
    /// Largest.
    pub max: f64,
    /// 95 % bootstrap interval of the mean (`None` for fewer than 2 runs).
    pub ci95: Option<(f64, f64)>,
}

/// The spread of every headline key found in `runs`.
pub fn spreads(runs: &[OrderedJson]) -> Vec<Spread> {
    HEADLINE
        .iter()
        .filter_map(|&key| {
            let values: Vec<f64> = runs.iter().filter_map(|r| r.get(key)?.as_f64()).collect();
            if values.len() != runs.len() || values.is_empty() {
                return None;
            }
            let n = values.len() as f64;
            let mean = values.iter().sum::<f64>() / n;
            let std = if values.len() > 1 {
                (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
            } else {
                0.0
            };
            let ci95 = (values.len() > 1)
                .then(|| {
                    bootstrap_ci(
                        &values,
                        |x| x.iter().sum::<f64>() / x.len() as f64,
                        &BootstrapConfig::default(),
                    )
                    .ok()
                    .map(|b| (b.ci.lower, b.ci.upper))
                })
                .flatten();
            Some(Spread {
                key,
                mean,
                std,
                min: values.iter().copied().fold(f64::INFINITY, f64::min),
                max: values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                ci95,
                values,
            })
        })
        .collect()
}

/// The `runs_summary` object.
pub fn summary_json(spreads: &[Spread]) -> Value {
    let mut j = serde_json::Map::new();
    for s in spreads {
        j.insert(
            s.key.to_owned(),
            json!({
                "values": s.values, "mean": s.mean, "std": s.std, "min": s.min, "max": s.max,
                "cv": if s.mean != 0.0 { s.std / s.mean } else { 0.0 },
                "ci95_lower": s.ci95.map(|c| c.0), "ci95_upper": s.ci95.map(|c| c.1),
            }),
        );
    }
    Value::Object(j)
}

/// The printed table over runs.
pub fn render(spreads: &[Spread]) -> String {
    let mut out = String::new();
    let n = spreads.first().map_or(0, |s| s.values.len());
    let _ = writeln!(out, "{:=^50}", format!(" Summary of {n} runs "));
    let _ = writeln!(
        out,
        "{:<26} {:>10} {:>9} {:>21}",
        "metric", "mean", "std", "95% CI of the mean"
    );
    for s in spreads {
        let ci = s
            .ci95
            .map_or("-".to_owned(), |(l, u)| format!("[{l:.2}, {u:.2}]"));
        let _ = writeln!(
            out,
            "{:<26} {:>10.2} {:>9.2} {:>21}",
            s.key, s.mean, s.std, ci
        );
    }
    let _ = writeln!(out, "{}", "=".repeat(50));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_over_runs() {
        let runs: Vec<OrderedJson> = [10.0, 12.0, 14.0]
            .iter()
            .map(|&v| {
                let mut j = OrderedJson::default();
                j.put("request_throughput", v);
                j
            })
            .collect();
        let s = spreads(&runs);
        assert_eq!(s.len(), 1);
        assert_eq!(
            (s[0].mean, s[0].std, s[0].min, s[0].max),
            (12.0, 2.0, 10.0, 14.0)
        );
        let (lo, hi) = s[0].ci95.unwrap();
        assert!(lo >= 10.0 && hi <= 14.0 && lo < 12.0 && hi > 12.0);
        assert!(
            summary_json(&s)["request_throughput"]["cv"]
                .as_f64()
                .unwrap()
                > 0.16
        );
    }
}
