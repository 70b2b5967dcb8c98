//! Two-stage gating: screen every benchmark on a few blocks, then re-measure only the suspects
//! with fresh blocks and judge those alone.
//!
//! The confirmatory decision uses only stage-2 data, and its Benjamini–Hochberg family is the
//! set of suspects. Because the fresh blocks are independent of the selection, the false-fail
//! guarantee of a single stage holds without any α-spending arithmetic, and the smaller family
//! needs fewer blocks (`K ≥ log2(suspects / q)`).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::comparison::{BenchmarkData, Comparison};
use crate::config::JudgeConfig;
use crate::environment;
use crate::error::{RegressError, Result};
use crate::judge::{Family, finish};
use crate::verdict::{BenchmarkResult, Judgement, Stage, Verdict};

/// When a stage-1 result makes a benchmark a suspect.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScreenConfig {
    /// Raw one-sided p-value below which a benchmark is a suspect (default 0.05).
    pub alpha: f64,
    /// Multiple of τ that the HL estimate must exceed to make a suspect whatever its p-value
    /// (default 2). Half of τ (the design note's first guess) made about half of the unchanged
    /// benchmarks suspects on a noisy machine: the confirming family grew to ~25 and its BH
    /// level shrank with it; replays of 2026-12-02 lifted power at +5 % from 63 % to 73–95 %
    /// with 2 and kept 0 % false fails.
    pub effect_fraction: f64,
}

impl Default for ScreenConfig {
    fn default() -> Self {
        ScreenConfig {
            alpha: 0.05,
            effect_fraction: 2.0,
        }
    }
}

/// The outcome of stage 1.
#[derive(Debug, Clone, PartialEq)]
pub struct Screening {
    /// Benchmarks to re-measure with fresh blocks, sorted.
    pub suspects: Vec<String>,
    /// The stage-1 judgement, for reporting (rows have [`Stage::Screen`]).
    pub judgement: Judgement,
}

/// Stage 1: judges `cmp` and picks the suspects.
///
/// A benchmark is a suspect when its stage-1 timing verdict is a regression, its raw one-sided
/// p-value is below `screen.alpha` (or it has no paired block), its HL estimate exceeds
/// `effect_fraction · τ`, or its blocks are too few to ever reach `screen.alpha` (it cannot be
/// cleared). In an untrusted environment every benchmark with timings is a suspect. The others
/// are cleared: their rows say no regression even when stage 1 alone has too few blocks for
/// the final family (the screen only needs to reach `screen.alpha`). Counter regressions are
/// final and need no re-measurement.
pub fn screen(cmp: &Comparison, config: &JudgeConfig, screen: &ScreenConfig) -> Result<Screening> {
    if !(screen.alpha > 0.0 && screen.alpha < 1.0) {
        return Err(RegressError::InvalidConfig {
            name: "screen.alpha",
            value: screen.alpha,
            expected: "a level in (0, 1), e.g. 0.05",
        });
    }
    let judgement = crate::judge::judge(cmp, config)?;
    let trusted = judgement.environment.trusted;
    let mut suspects = Vec::new();
    let mut rows = judgement.benchmarks;
    for row in &mut rows {
        row.stage = Stage::Screen;
        let Some(t) = &mut row.timing else { continue };
        if t.verdict == Verdict::Missing {
            continue;
        }
        let suspect = !trusted
            || t.verdict == Verdict::Regression
            || t.p_value.is_none_or(|p| p < screen.alpha)
            || t.min_p_value.is_some_and(|p| p > screen.alpha)
            || t.effect
                .is_some_and(|e| e.change > screen.effect_fraction * t.threshold);
        if suspect {
            suspects.push(row.id.clone());
        } else if t.verdict == Verdict::Inconclusive {
            // Too few blocks for the final family, but enough to clear at the screening level.
            t.verdict = Verdict::NoRegression;
            let (p, change) = (t.p_value.unwrap_or(1.0), t.effect.map_or(0.0, |e| e.change));
            row.notes.retain(|n| !n.starts_with("too few blocks"));
            row.notes.insert(
                0,
                format!(
                    "cleared in stage 1: p = {p:.2} ≥ {}, change {:+.2} % ≤ {:.2} %",
                    screen.alpha,
                    change * 100.0,
                    screen.effect_fraction * t.threshold * 100.0
                ),
            );
            let counters = row.counters.clone();
            let mut notes = Vec::new();
            row.verdict =
                crate::counters::combine(Some(Verdict::NoRegression), &counters, &mut notes);
        }
    }
    let judgement = finish(
        rows,
        judgement.family_size,
        judgement.environment,
        config,
        Vec::new(),
    );
    Ok(Screening {
        suspects,
        judgement,
    })
}

/// Stage 2: judges the suspects of `screening` on `fresh` blocks, as one family.
///
/// Cleared benchmarks keep their stage-1 row. A suspect absent from `fresh` is inconclusive.
/// Counters come from the fresh data, or from stage 1 when the fresh data has none. The
/// environment is that of the fresh run.
pub fn confirm(
    screening: &Screening,
    fresh: &Comparison,
    config: &JudgeConfig,
) -> Result<Judgement> {
    config.validate()?;
    let environment = environment::assess(fresh, config)?;
    let suspects: BTreeSet<&str> = screening.suspects.iter().map(String::as_str).collect();
    let stage1 = |id: &str| screening.judgement.benchmark(id);
    let mut items: Vec<BenchmarkData> = Vec::new();
    for b in fresh
        .benchmarks
        .iter()
        .filter(|b| suspects.contains(b.id.as_str()))
    {
        let mut b = b.clone();
        if b.counters.is_empty()
            && let Some(row) = stage1(&b.id)
        {
            b.counters = row
                .counters
                .iter()
                .map(|c| crate::CounterPair {
                    name: c.name.clone(),
                    base: c.base,
                    head: c.head,
                })
                .collect();
        }
        items.push(b);
    }
    let refs: Vec<&BenchmarkData> = items.iter().collect();
    let family = Family::judge(&refs, &environment, config, Stage::Confirm)?;
    let mut rows = family.rows;
    for row in &mut rows {
        if let Some(t) = stage1(&row.id).and_then(|r| r.timing.as_ref())
            && let (Some(e), Some(p)) = (t.effect, t.p_value)
        {
            row.notes.push(format!(
                "stage 1: {:+.2} % (p = {:.2e}, {} blocks)",
                e.change * 100.0,
                p,
                t.blocks
            ));
        }
    }
    for id in &suspects {
        if !rows.iter().any(|r| r.id == *id) {
            rows.push(BenchmarkResult {
                id: id.to_string(),
                verdict: Verdict::Inconclusive,
                stage: Stage::Confirm,
                timing: None,
                counters: Vec::new(),
                notes: vec!["suspect in stage 1 but not re-measured in stage 2".into()],
            });
        }
    }
    for row in &screening.judgement.benchmarks {
        if !suspects.contains(row.id.as_str()) {
            rows.push(row.clone());
        }
    }
    let notes = vec![format!(
        "two-stage: {} of {} benchmark(s) re-measured",
        suspects.len(),
        screening.judgement.benchmarks.len()
    )];
    Ok(finish(rows, family.size, environment, config, notes))
}

#[cfg(test)]
mod tests {
    use dyno_stats::record::HealthRecord;

    use super::*;
    use crate::verdict::Outcome;

    fn jitter(k: usize) -> f64 {
        (k as f64 * 0.618_033_988_75).fract() - 0.5
    }

    fn cmp(benches: &[(&str, f64)], k: usize, phase: usize) -> Comparison {
        Comparison {
            benchmarks: benches
                .iter()
                .enumerate()
                .map(|(j, &(id, shift))| {
                    BenchmarkData::paired(
                        id,
                        (0..k)
                            .map(|i| shift + 0.01 * jitter(i + 13 * j + phase))
                            .collect(),
                    )
                })
                .collect(),
            sentinels: Vec::new(),
            health: HealthRecord::default(),
        }
    }

    #[test]
    fn screen_then_confirm() {
        let config = JudgeConfig::default();
        let benches = [("a", 0.0), ("b", 0.0), ("slow", 0.04), ("c", 0.0)];
        let s = screen(&cmp(&benches, 12, 0), &config, &ScreenConfig::default()).unwrap();
        assert_eq!(s.suspects, vec!["slow"]);
        assert!(
            s.judgement
                .benchmarks
                .iter()
                .all(|r| r.stage == Stage::Screen)
        );

        let fresh = cmp(&[("slow", 0.04)], 16, 5);
        let j = confirm(&s, &fresh, &config).unwrap();
        assert_eq!(j.family_size, 1);
        let slow = j.benchmark("slow").unwrap();
        assert_eq!(
            (slow.verdict, slow.stage),
            (Verdict::Regression, Stage::Confirm)
        );
        assert!(
            slow.notes.iter().any(|n| n.starts_with("stage 1: +4.")),
            "{:?}",
            slow.notes
        );
        assert_eq!(j.benchmark("a").unwrap().stage, Stage::Screen);
        assert_eq!(j.outcome, Outcome::Regression);

        // the stage-2 data clears the suspect: no regression
        let j = confirm(&s, &cmp(&[("slow", 0.0)], 16, 5), &config).unwrap();
        assert_eq!(j.outcome, Outcome::NoRegression);
        // a suspect that was not re-measured cannot pass
        let j = confirm(&s, &cmp(&[], 16, 5), &config).unwrap();
        assert_eq!(
            (j.outcome, j.benchmark("slow").unwrap().verdict),
            (Outcome::Inconclusive, Verdict::Inconclusive)
        );
    }

    #[test]
    fn too_few_screening_blocks_make_everyone_a_suspect() {
        let s = screen(
            &cmp(&[("a", 0.0), ("b", 0.0)], 3, 0),
            &JudgeConfig::default(),
            &ScreenConfig::default(),
        )
        .unwrap();
        assert_eq!(s.suspects, vec!["a", "b"]);
    }
}
