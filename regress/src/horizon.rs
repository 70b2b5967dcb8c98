//! The long-horizon check: HEAD against the last release, with a cumulative budget.
//!
//! Per-PR gates let sub-threshold slowdowns through (twenty 0.5 % regressions pass one by one).
//! This check compares HEAD with the release recorded in the committed baseline: timings come
//! from a fresh interleaved run of the release build against HEAD (never from stored numbers,
//! which drift with the machine), deterministic counters from the baseline file. A benchmark
//! fails when the decision rule of [`crate::judge`] finds it slower by more than the budget.

use serde::{Deserialize, Serialize};

use crate::baseline::Baseline;
use crate::comparison::{BenchmarkData, Comparison, CounterPair, Timing};
use crate::config::JudgeConfig;
use crate::error::{RegressError, Result};
use crate::judge::judge;
use crate::verdict::Judgement;

/// Parameters of the long-horizon check.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HorizonConfig {
    /// Largest tolerated cumulative slowdown since the release, as a fraction (default 0.03).
    pub budget: f64,
    /// Benjamini–Hochberg level (default 0.01).
    pub q: f64,
}

impl Default for HorizonConfig {
    fn default() -> Self {
        HorizonConfig {
            budget: 0.03,
            q: 0.01,
        }
    }
}

/// Judges `release_vs_head` (base side = the release build, head side = HEAD) against the
/// budget, with counters taken from `release` (a tagged baseline). Benchmarks of the release
/// that HEAD no longer has, and new ones, appear as `missing` rows.
pub fn check(
    release: &Baseline,
    release_vs_head: &Comparison,
    config: &HorizonConfig,
) -> Result<Judgement> {
    let Some(tag) = &release.tag else {
        return Err(RegressError::Baseline {
            path: format!("baselines/{}/{}.json", release.profile.key(), release.suite).into(),
            message: "this baseline is not a release (no `tag`); record one with `dyno regress baseline update --tag \
                      vX.Y.Z`"
                .into(),
        });
    };
    if !(config.budget.is_finite() && config.budget >= 0.0) {
        return Err(RegressError::InvalidConfig {
            name: "budget",
            value: config.budget,
            expected: "a fraction, e.g. 0.03",
        });
    }
    let mut cmp = release_vs_head.clone();
    for b in &mut cmp.benchmarks {
        if let Some(entry) = release.benchmarks.get(&b.id) {
            let head: Vec<(String, Option<u64>)> = b
                .counters
                .iter()
                .map(|c| (c.name.clone(), c.head))
                .collect();
            let mut names: Vec<&String> = entry
                .counters
                .keys()
                .chain(head.iter().map(|(n, _)| n))
                .collect();
            names.sort();
            names.dedup();
            b.counters = names
                .into_iter()
                .map(|name| CounterPair {
                    name: name.clone(),
                    base: entry.counters.get(name).copied(),
                    head: head.iter().find(|(n, _)| n == name).and_then(|(_, v)| *v),
                })
                .collect();
        }
    }
    for id in release.benchmarks.keys() {
        if cmp.benchmark(id).is_none() {
            cmp.benchmarks.push(BenchmarkData {
                id: id.clone(),
                timing: Timing::MissingOn(dyno_stats::record::Side::Head),
                counters: Vec::new(),
                unpaired_blocks: 0,
            });
        }
    }
    let judge_config = JudgeConfig {
        q: config.q,
        tau_floor: config.budget,
        noise_multiplier: 0.0,
        ..JudgeConfig::default()
    };
    let mut judgement = judge(&cmp, &judge_config)?;
    judgement.notes.insert(
        0,
        format!(
            "long-horizon check against release {tag}: cumulative budget {:.1} %",
            config.budget * 100.0
        ),
    );
    Ok(judgement)
}
