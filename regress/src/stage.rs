//! Two-stage gating: screen every benchmark sequentially (more blocks only for those the data
//! cannot clear yet), then re-measure only the suspects with fresh blocks, as many as their
//! measured spread needs, and judge those alone.
//!
//! The confirmatory decision uses only stage-2 data, and its Benjamini–Hochberg family is the
//! set of suspects. Because the fresh blocks are independent of the selection, the false-fail
//! guarantee of a single stage holds without any α-spending arithmetic, and the smaller family
//! needs fewer blocks (`K ≥ log2(suspects / q)`).
//!
//! What stage 1 must get right is the other error: a benchmark that really is slower by the
//! size the gate is built to catch (`detect` = `effect_fraction · τ`, 1.5 % at the 1 % floor,
//! set below the 2 % the gate must catch so that a slowdown of about 2 % is not cleared by a
//! tight stage-1 interval that straddles 2 %) must not be cleared. A benchmark is cleared only when the one-sided upper confidence bound
//! of its change (level [`ScreenConfig::clear_level`]) is below `detect`: the data says it is
//! not that much slower. Benchmarks the data cannot clear yet get [`ScreenConfig::step`] more
//! blocks, up to [`ScreenConfig::max_blocks`]; what is still not cleared then is a suspect.

use std::collections::{BTreeMap, BTreeSet};

use dyno_stats::{Samples, WalshAverages, blocks_for_power, power_of_blocks};
use serde::{Deserialize, Serialize};

use crate::comparison::{BenchmarkData, Comparison, Timing};
use crate::config::JudgeConfig;
use crate::environment;
use crate::error::Result;
use crate::judge::{Family, finish};
use crate::verdict::{BenchmarkResult, Judgement, Stage, Verdict};

/// How stage 1 screens and how large stage 2 is.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScreenConfig {
    /// A benchmark whose raw one-sided p-value is below `alpha` **and** whose HL estimate is
    /// above τ is a suspect at once, without more screening blocks (default 0.05).
    pub alpha: f64,
    /// The slowdown the gate is built to catch, as a multiple of τ (default 1.5: 1.5 % at the
    /// 1 % floor; with 2 the 2026-12-03 replays lost 3 points of power at +2 %). Stage 1 clears only what it can show is less slower than that, and stage 2 is
    /// sized to catch that much with [`ScreenConfig::power`].
    pub effect_fraction: f64,
    /// One-sided confidence of the upper bound that clears a benchmark (default 0.99: a
    /// benchmark slower by exactly `detect` is cleared by one look with probability ≤ 1 %).
    pub clear_level: f64,
    /// Screening blocks added per look for the benchmarks not yet cleared (default 8).
    pub step: usize,
    /// Most screening blocks per benchmark; what is not cleared then is a suspect (default 32).
    pub max_blocks: usize,
    /// Power at `detect` that the confirming stage is sized for (default 0.95), from each
    /// suspect's per-block spread in stage 1.
    pub power: f64,
    /// Most confirming blocks, whatever the spread asks for (default 64).
    pub max_confirm_blocks: usize,
}

impl Default for ScreenConfig {
    fn default() -> Self {
        ScreenConfig {
            alpha: 0.05,
            effect_fraction: 1.5,
            clear_level: 0.99,
            step: 8,
            max_blocks: 32,
            power: 0.95,
            max_confirm_blocks: 64,
        }
    }
}

impl ScreenConfig {
    /// Checks every parameter's domain.
    pub fn validate(&self) -> Result<()> {
        use crate::config::check_param as check;
        check(
            "screen.alpha",
            self.alpha,
            self.alpha > 0.0 && self.alpha < 1.0,
            "a level in (0, 1), e.g. 0.05",
        )?;
        check(
            "screen.effect_fraction",
            self.effect_fraction,
            self.effect_fraction > 1.0 && self.effect_fraction.is_finite(),
            "a multiple of τ above 1, e.g. 2",
        )?;
        check(
            "screen.clear_level",
            self.clear_level,
            self.clear_level > 0.5 && self.clear_level < 1.0,
            "a one-sided confidence in (0.5, 1), e.g. 0.99",
        )?;
        check(
            "screen.power",
            self.power,
            self.power >= 0.5 && self.power < 1.0,
            "a probability in [0.5, 1), e.g. 0.95",
        )?;
        check(
            "screen.step",
            self.step as f64,
            self.step >= 1,
            "at least one block per look",
        )?;
        check(
            "screen.max_blocks",
            self.max_blocks as f64,
            self.max_blocks >= 2,
            "at least 2 screening blocks",
        )?;
        check(
            "screen.max_confirm_blocks",
            self.max_confirm_blocks as f64,
            self.max_confirm_blocks >= 2,
            "at least 2 confirming blocks",
        )
    }
}

/// The outcome of one look of stage 1.
#[derive(Debug, Clone, PartialEq)]
pub struct Screening {
    /// Benchmarks to re-measure with fresh blocks, sorted.
    pub suspects: Vec<String>,
    /// Benchmarks that need more screening blocks before they can be cleared or suspected,
    /// sorted (empty once every benchmark has [`ScreenConfig::max_blocks`]).
    pub pending: Vec<String>,
    /// Robust per-block spread (scaled MAD of the log-ratios) of each suspect and pending
    /// benchmark, which sizes the confirming stage.
    pub spread: BTreeMap<String, f64>,
    /// The stage-1 judgement, for reporting (rows have [`Stage::Screen`]).
    pub judgement: Judgement,
}

/// How many fresh blocks the confirming stage takes, and why.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ConfirmPlan {
    /// Blocks to measure.
    pub blocks: usize,
    /// Blocks the most demanding suspect's spread asks for (before the cap).
    pub wanted: usize,
    /// Predicted power at `detect` of the most demanding suspect with `blocks` blocks.
    pub power: f64,
}

/// What a look decided about one benchmark.
enum Look {
    Cleared(String),
    Suspect,
    Pending(String),
}

/// Stage 1, one look: judges `cmp` and sorts every benchmark into cleared, suspect or pending.
///
/// A benchmark is a suspect when its stage-1 timing verdict is a regression, when its raw
/// one-sided p-value is below `screen.alpha` and its HL estimate is above τ, when it has no
/// paired block, or when it has [`ScreenConfig::max_blocks`] blocks and still cannot be cleared.
/// It is cleared when the one-sided upper bound of its change at `screen.clear_level` is below
/// `detect` (= `effect_fraction · τ`); its row then says no regression, even when stage 1 alone
/// has too few blocks for the final family. Otherwise it is pending: the caller measures
/// `screen.step` more blocks of it and looks again. In an untrusted environment every
/// benchmark with timings is a suspect. Counter regressions are final and need no
/// re-measurement.
pub fn screen(cmp: &Comparison, config: &JudgeConfig, screen: &ScreenConfig) -> Result<Screening> {
    screen.validate()?;
    let judgement = crate::judge::judge(cmp, config)?;
    let trusted = judgement.environment.trusted;
    let (mut suspects, mut pending, mut spread) = (Vec::new(), Vec::new(), BTreeMap::new());
    let mut rows = judgement.benchmarks;
    for row in &mut rows {
        row.stage = Stage::Screen;
        let Some(t) = &mut row.timing else { continue };
        if t.verdict == Verdict::Missing {
            continue;
        }
        let lr = match cmp.benchmark(&row.id).map(|b| &b.timing) {
            Some(Timing::Paired(lr)) if !lr.is_empty() => lr.as_slice(),
            _ => &[],
        };
        let detect = screen.effect_fraction * t.threshold;
        // No usable data, an untrusted machine, a stage-1 regression, or a significant
        // estimate beyond τ: a suspect at once.
        let looks_slower = t.p_value.is_some_and(|p| p < screen.alpha)
            && t.effect.is_some_and(|e| e.change > t.threshold);
        let look = if lr.is_empty() || !trusted || t.verdict == Verdict::Regression || looks_slower
        {
            Look::Suspect
        } else {
            let bound = WalshAverages::new(lr)?.upper_bound(screen.clear_level)?;
            let upper = bound.value.exp_m1();
            if bound.coverage >= screen.clear_level && upper < detect {
                Look::Cleared(format!(
                    "cleared in stage 1: {:.0} % upper bound {:+.2} % < {:.2} % ({} blocks)",
                    screen.clear_level * 100.0,
                    upper * 100.0,
                    detect * 100.0,
                    lr.len()
                ))
            } else if lr.len() >= screen.max_blocks {
                Look::Suspect
            } else {
                Look::Pending(format!(
                    "screening: {:.0} % upper bound {:+.2} % is not below {:.2} % after {} \
                     block(s); more blocks needed",
                    screen.clear_level * 100.0,
                    upper * 100.0,
                    detect * 100.0,
                    lr.len()
                ))
            }
        };
        match look {
            Look::Suspect => {
                suspects.push(row.id.clone());
                spread.insert(row.id.clone(), spread_of(lr));
            }
            Look::Pending(note) => {
                pending.push(row.id.clone());
                spread.insert(row.id.clone(), spread_of(lr));
                t.verdict = Verdict::Inconclusive;
                row.verdict = Verdict::Inconclusive;
                row.notes.insert(0, note);
            }
            Look::Cleared(note) => {
                // Too few blocks for the final family, but enough to clear at the screening level.
                t.verdict = Verdict::NoRegression;
                row.notes.retain(|n| !n.starts_with("too few blocks"));
                row.notes.insert(0, note);
                let counters = row.counters.clone();
                let mut notes = Vec::new();
                row.verdict =
                    crate::counters::combine(Some(Verdict::NoRegression), &counters, &mut notes);
            }
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
        pending,
        spread,
        judgement,
    })
}

/// Robust spread of per-block log-ratios: the scaled MAD, or the standard deviation when more
/// than half the values tie (MAD 0); 0 for fewer than two values.
fn spread_of(lr: &[f64]) -> f64 {
    if lr.len() < 2 {
        return 0.0;
    }
    let Ok(samples) = Samples::new(lr.to_vec()) else {
        return 0.0;
    };
    let s = samples.summary();
    if s.mad > 0.0 {
        s.mad_sigma()
    } else {
        s.std_dev
    }
}

impl Screening {
    /// Ends screening early: every pending benchmark becomes a suspect (for a caller that
    /// cannot measure more screening blocks).
    pub fn close(mut self) -> Screening {
        self.suspects.append(&mut self.pending);
        self.suspects.sort();
        self
    }

    /// Fresh blocks for the confirming stage: for each suspect, enough that a slowdown of
    /// `detect` is significant at the lone-rejection BH level `q / suspects` and its estimate
    /// lies above τ, each with probability `screen.power`, given the suspect's stage-1 spread
    /// ([`blocks_for_power`]); the most demanding suspect sets the number, between the
    /// smaller family's minimum (`min_blocks + 1`, at least `screen.step`) and
    /// `screen.max_confirm_blocks`.
    pub fn confirm_plan(&self, config: &JudgeConfig, screen: &ScreenConfig) -> Result<ConfirmPlan> {
        let m = self.suspects.len().max(1);
        let alpha = (config.q / m as f64).min(0.5);
        let floor = (config.min_blocks(m) + 1).max(screen.step);
        // (spread, ln(1 + τ), ln(1 + detect)) per suspect
        let suspects: Vec<(f64, f64, f64)> = self
            .suspects
            .iter()
            .map(|id| {
                let tau = self
                    .judgement
                    .benchmark(id)
                    .and_then(|r| r.timing.as_ref())
                    .map_or(config.tau_floor, |t| t.threshold);
                let sigma = self.spread.get(id).copied().unwrap_or(0.0);
                (sigma, tau.ln_1p(), (screen.effect_fraction * tau).ln_1p())
            })
            .collect();
        let mut wanted = floor;
        for &(sigma, log_tau, log_detect) in &suspects {
            if sigma <= 0.0 {
                // No spread measured (fewer than two paired blocks): take the cap.
                wanted = wanted.max(screen.max_confirm_blocks);
                continue;
            }
            let significant = blocks_for_power(sigma, log_detect, alpha, screen.power)?;
            let beyond_tau = blocks_for_power(sigma, log_detect - log_tau, 0.5, screen.power)?;
            wanted = wanted.max(significant).max(beyond_tau);
        }
        let blocks = wanted.min(screen.max_confirm_blocks.max(floor));
        let mut power = 1.0f64;
        for &(sigma, _, log_detect) in &suspects {
            power = power.min(power_of_blocks(sigma, log_detect, alpha, blocks)?);
        }
        Ok(ConfirmPlan {
            blocks,
            wanted,
            power,
        })
    }
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
    fn too_few_screening_blocks_leave_everyone_pending_until_closed() {
        let s = screen(
            &cmp(&[("a", 0.0), ("b", 0.0)], 3, 0),
            &JudgeConfig::default(),
            &ScreenConfig::default(),
        )
        .unwrap();
        assert!(s.suspects.is_empty());
        assert_eq!(s.pending, vec!["a", "b"]);
        assert!(
            s.judgement
                .benchmarks
                .iter()
                .all(|r| r.verdict == Verdict::Inconclusive),
        );
        // Out of screening blocks: whatever is still pending must be confirmed.
        let s = s.close();
        assert_eq!(s.suspects, vec!["a", "b"]);
        assert!(s.pending.is_empty());
    }
}
