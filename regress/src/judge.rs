//! The pure decision rule (issue 5 §2), for one stage or the confirm stage of two.
//!
//! Per benchmark `b` with K paired per-block log-ratios `r_k = ln(head / base)`:
//! 1. one-sided Wilcoxon signed-rank p-value, H1: head slower (and the mirrored one for
//!    improvements), Hodges–Lehmann estimate θ̂ with a distribution-free interval;
//! 2. Benjamini–Hochberg across all benchmarks of the family at `q`;
//! 3. threshold `τ_b = max(τ_floor, c · σ_b)` from the calibrated noise σ_b;
//! 4. **regression** iff BH rejects *and* the effect exceeds `ln(1 + τ_b)` (by the
//!    [`EffectRule`]); **improvement** mirrors it with `-ln(1 + τ_b)`;
//! 5. **inconclusive** when the smallest attainable p (`2^-K`) exceeds `q / m` (the
//!    benchmark could never fail, so it must not pass either), when no block paired, or when the
//!    environment is untrusted (a sentinel out of band, steal time, a health flag);
//! 6. deterministic counters are compared exactly and a rise is a regression regardless.

use dyno_stats::{Alternative, SignedRank, WalshAverages, bh_reject};

use crate::comparison::{BenchmarkData, Comparison, Timing};
use crate::config::{EffectRule, JudgeConfig, MissingPolicy};
use crate::counters;
use crate::environment;
use crate::error::Result;
use crate::verdict::{
    BenchmarkResult, Effect, Environment, Judgement, Outcome, Stage, TimingResult, Verdict,
};

/// Judges every benchmark of `cmp` as one family.
pub fn judge(cmp: &Comparison, config: &JudgeConfig) -> Result<Judgement> {
    config.validate()?;
    let environment = environment::assess(cmp, config)?;
    let items: Vec<&BenchmarkData> = cmp.benchmarks.iter().collect();
    let family = Family::judge(&items, &environment, config, Stage::Single)?;
    Ok(finish(
        family.rows,
        family.size,
        environment,
        config,
        Vec::new(),
    ))
}

/// The rows of one BH family and the family's size.
pub(crate) struct Family {
    pub rows: Vec<BenchmarkResult>,
    pub size: usize,
}

struct Analysed {
    test: SignedRank,
    walsh: WalshAverages,
    effect: Effect,
}

impl Family {
    /// Judges `items` as one Benjamini–Hochberg family under `environment`.
    pub fn judge(
        items: &[&BenchmarkData],
        environment: &Environment,
        config: &JudgeConfig,
        stage: Stage,
    ) -> Result<Family> {
        let mut analysed: Vec<Option<Analysed>> = Vec::with_capacity(items.len());
        for item in items {
            analysed.push(match &item.timing {
                Timing::Paired(lr) if !lr.is_empty() => {
                    let walsh = WalshAverages::new(lr)?;
                    let hl = walsh.interval(config.ci_level)?;
                    let effect =
                        Effect::from_log(hl.estimate, hl.ci.lower, hl.ci.upper, config.ci_level);
                    Some(Analysed {
                        test: SignedRank::test(lr)?,
                        walsh,
                        effect,
                    })
                }
                _ => None,
            });
        }
        let members: Vec<&Analysed> = analysed.iter().flatten().collect();
        let m = members.len();
        let up = bh_reject(
            &members
                .iter()
                .map(|a| a.test.p_value(Alternative::Greater))
                .collect::<Vec<_>>(),
            config.q,
        )?;
        let down = bh_reject(
            &members
                .iter()
                .map(|a| a.test.p_value(Alternative::Less))
                .collect::<Vec<_>>(),
            config.q,
        )?;
        // FCR-adjusted one-sided level for bounds of selected benchmarks (Benjamini & Yekutieli 2005)
        let bound_level =
            |rejections: usize| 1.0 - config.q * rejections.max(1) as f64 / m.max(1) as f64;
        let (up_level, down_level) = (bound_level(up.rejections()), bound_level(down.rejections()));

        let mut rows = Vec::with_capacity(items.len());
        let mut member = 0;
        for (item, analysis) in items.iter().zip(&analysed) {
            let mut notes = Vec::new();
            let (tau, noise) = config.threshold(&item.id);
            let timing = match (&item.timing, analysis) {
                (_, Some(a)) => {
                    let i = member;
                    member += 1;
                    let min_p = a.test.min_p_value(Alternative::Greater);
                    let log_tau = tau.ln_1p();
                    let verdict = if !environment.trusted {
                        notes.push(
                            "environment untrusted (see the environment notes): timing not judged"
                                .into(),
                        );
                        Verdict::Inconclusive
                    } else if min_p > config.q / m as f64 {
                        notes.push(format!(
                            "too few blocks: {} paired block(s) ({} non-zero) can give at best p = {:.2e}, above q/m = \
                             {:.2e} for {} benchmark(s); use at least {} blocks",
                            a.walsh.n(),
                            a.test.n,
                            min_p,
                            config.q / m as f64,
                            m,
                            config.min_blocks(m)
                        ));
                        Verdict::Inconclusive
                    } else {
                        let estimate = a.walsh.estimate();
                        let (slower, faster) = match config.effect_rule {
                            EffectRule::PointEstimate => (estimate > log_tau, estimate < -log_tau),
                            EffectRule::LowerBound => (
                                a.walsh.lower_bound(up_level)?.value > log_tau,
                                a.walsh.upper_bound(down_level)?.value < -log_tau,
                            ),
                        };
                        if up.rejected[i] && slower {
                            Verdict::Regression
                        } else if down.rejected[i] && faster {
                            Verdict::Improvement
                        } else {
                            if up.rejected[i] || down.rejected[i] {
                                notes.push(format!(
                                    "significant change of {:+.2} % within the threshold ±{:.2} %",
                                    a.effect.change * 100.0,
                                    tau * 100.0
                                ));
                            }
                            Verdict::NoRegression
                        }
                    };
                    Some(TimingResult {
                        verdict,
                        blocks: a.walsh.n(),
                        effect: Some(a.effect),
                        p_value: Some(a.test.p_value(Alternative::Greater)),
                        p_adjusted: Some(up.adjusted[i]),
                        min_p_value: Some(min_p),
                        threshold: tau,
                        noise,
                    })
                }
                (Timing::Paired(_), None) => {
                    notes.push("no block was measured on both sides".into());
                    Some(empty_timing(Verdict::Inconclusive, tau, noise))
                }
                (Timing::MissingOn(side), None) => {
                    notes.push(format!("no timings on the {} side", side.as_str()));
                    Some(empty_timing(Verdict::Missing, tau, noise))
                }
                (Timing::Absent, None) => None,
            };
            if item.unpaired_blocks > 0 {
                notes.push(format!(
                    "{} block(s) measured on one side only were ignored",
                    item.unpaired_blocks
                ));
            }
            let counter_results = counters::compare(&item.counters);
            let verdict = counters::combine(
                timing.as_ref().map(|t| t.verdict),
                &counter_results,
                &mut notes,
            );
            rows.push(BenchmarkResult {
                id: item.id.clone(),
                verdict,
                stage,
                timing,
                counters: counter_results,
                notes,
            });
        }
        Ok(Family { rows, size: m })
    }
}

fn empty_timing(verdict: Verdict, threshold: f64, noise: Option<f64>) -> TimingResult {
    TimingResult {
        verdict,
        blocks: 0,
        effect: None,
        p_value: None,
        p_adjusted: None,
        min_p_value: None,
        threshold,
        noise,
    }
}

/// Sorts rows, derives the run outcome and assembles the judgement.
pub(crate) fn finish(
    mut rows: Vec<BenchmarkResult>,
    family_size: usize,
    environment: Environment,
    config: &JudgeConfig,
    mut notes: Vec<String>,
) -> Judgement {
    rows.sort_by(|a, b| a.id.cmp(&b.id));
    let count = |v: Verdict| rows.iter().filter(|r| r.verdict == v).count();
    let judged = rows.iter().any(|r| {
        matches!(
            r.verdict,
            Verdict::NoRegression | Verdict::Improvement | Verdict::Regression
        )
    });
    let outcome = if count(Verdict::Regression) > 0 {
        Outcome::Regression
    } else if !environment.trusted {
        notes.push("the environment is untrusted: rerun the gate".into());
        Outcome::Inconclusive
    } else if count(Verdict::Inconclusive) > 0 {
        notes.push(format!(
            "{} benchmark(s) inconclusive",
            count(Verdict::Inconclusive)
        ));
        Outcome::Inconclusive
    } else if !judged {
        notes.push("no benchmark could be judged: check that both sides produced results".into());
        Outcome::Inconclusive
    } else if config.missing == MissingPolicy::Inconclusive && count(Verdict::Missing) > 0 {
        notes.push(format!(
            "{} benchmark(s) missing on one side",
            count(Verdict::Missing)
        ));
        Outcome::Inconclusive
    } else {
        Outcome::NoRegression
    };
    Judgement {
        outcome,
        q: config.q,
        family_size,
        min_blocks: config.min_blocks(family_size),
        environment,
        benchmarks: rows,
        notes,
    }
}

#[cfg(test)]
mod tests {
    use dyno_stats::record::HealthRecord;

    use super::*;

    /// Deterministic pseudo-noise in [-0.5, 0.5) (a fixed low-discrepancy sequence).
    fn jitter(k: usize) -> f64 {
        (k as f64 * 0.618_033_988_75).fract() - 0.5
    }

    fn series(shift: f64, sd: f64, k: usize, phase: usize) -> Vec<f64> {
        (0..k).map(|i| shift + sd * jitter(i + 7 * phase)).collect()
    }

    fn comparison(benches: Vec<BenchmarkData>) -> Comparison {
        Comparison {
            benchmarks: benches,
            sentinels: Vec::new(),
            health: HealthRecord::default(),
        }
    }

    #[test]
    fn clear_regression_and_improvement() {
        let cmp = comparison(vec![
            BenchmarkData::paired("slow", series(0.05, 0.01, 20, 0)),
            BenchmarkData::paired("fast", series(-0.05, 0.01, 20, 1)),
            BenchmarkData::paired("same", series(0.0, 0.01, 20, 2)),
            BenchmarkData::paired("tiny", series(0.004, 0.001, 20, 3)),
        ]);
        let j = judge(&cmp, &JudgeConfig::default()).unwrap();
        assert_eq!(j.benchmark("slow").unwrap().verdict, Verdict::Regression);
        assert_eq!(j.benchmark("fast").unwrap().verdict, Verdict::Improvement);
        assert_eq!(j.benchmark("same").unwrap().verdict, Verdict::NoRegression);
        let tiny = j.benchmark("tiny").unwrap();
        assert_eq!(tiny.verdict, Verdict::NoRegression);
        assert!(
            tiny.notes[0].contains("within the threshold"),
            "{:?}",
            tiny.notes
        );
        assert_eq!(
            (j.outcome, j.exit_code(), j.family_size),
            (Outcome::Regression, 1, 4)
        );
        let t = j.benchmark("slow").unwrap().timing.as_ref().unwrap();
        assert!((t.effect.unwrap().change - 0.05f64.exp_m1()).abs() < 0.003);
        assert_eq!(t.threshold, 0.01);
    }

    #[test]
    fn too_few_blocks_is_inconclusive_never_pass_or_fail() {
        // 8 blocks with 10 benchmarks: 2^-8 = 0.0039 > 0.01/10
        let mut benches: Vec<BenchmarkData> = (0..9)
            .map(|i| BenchmarkData::paired(format!("b{i}"), series(0.0, 0.01, 8, i)))
            .collect();
        benches.push(BenchmarkData::paired("slow", vec![0.2; 8]));
        let j = judge(&comparison(benches), &JudgeConfig::default()).unwrap();
        assert!(
            j.benchmarks
                .iter()
                .all(|b| b.verdict == Verdict::Inconclusive)
        );
        assert_eq!(
            (j.outcome, j.exit_code(), j.min_blocks),
            (Outcome::Inconclusive, 3, 10)
        );
        assert!(j.benchmark("slow").unwrap().notes[0].contains("use at least 10 blocks"));
    }

    #[test]
    fn threshold_from_calibrated_noise_decides() {
        let cmp = comparison(vec![BenchmarkData::paired(
            "noisy",
            series(0.03, 0.004, 20, 0),
        )]);
        let mut config = JudgeConfig::default();
        config.noise.per_benchmark.insert("noisy".into(), 0.02); // tau = 4 %
        let j = judge(&cmp, &config).unwrap();
        assert_eq!(j.benchmarks[0].verdict, Verdict::NoRegression);
        assert_eq!(j.benchmarks[0].timing.as_ref().unwrap().threshold, 0.04);
        config.noise.per_benchmark.insert("noisy".into(), 0.01); // tau = 2 %
        assert_eq!(
            judge(&cmp, &config).unwrap().benchmarks[0].verdict,
            Verdict::Regression
        );
    }

    #[test]
    fn lower_bound_rule_is_stricter_near_the_threshold() {
        // effect 1.3 % with spread: point estimate beyond 1 %, lower bound not
        let cmp = comparison(vec![BenchmarkData::paired(
            "edge",
            series(0.013, 0.02, 20, 0),
        )]);
        let point = judge(&cmp, &JudgeConfig::default()).unwrap();
        assert_eq!(point.benchmarks[0].verdict, Verdict::Regression);
        let strict = JudgeConfig {
            effect_rule: EffectRule::LowerBound,
            ..JudgeConfig::default()
        };
        assert_eq!(
            judge(&cmp, &strict).unwrap().benchmarks[0].verdict,
            Verdict::NoRegression
        );
    }

    #[test]
    fn untrusted_environment_never_fails_on_timing_but_counters_still_count() {
        let mut cmp = comparison(vec![BenchmarkData::paired(
            "slow",
            series(0.1, 0.01, 20, 0),
        )]);
        cmp.health.steal_time_fraction = Some(0.12);
        let j = judge(&cmp, &JudgeConfig::default()).unwrap();
        assert_eq!(
            (j.outcome, j.benchmarks[0].verdict),
            (Outcome::Inconclusive, Verdict::Inconclusive)
        );
        assert!(
            j.environment.notes[1].contains("steal time 12.0 % exceeds"),
            "{:?}",
            j.environment.notes
        );

        cmp.benchmarks[0].counters.push(crate::CounterPair {
            name: "allocations".into(),
            base: Some(1),
            head: Some(2),
        });
        let j = judge(&cmp, &JudgeConfig::default()).unwrap();
        assert_eq!(
            (j.outcome, j.benchmarks[0].verdict),
            (Outcome::Regression, Verdict::Regression)
        );
    }

    #[test]
    fn sentinel_out_of_band_makes_the_run_inconclusive() {
        let mut cmp = comparison(vec![BenchmarkData::paired(
            "slow",
            series(0.1, 0.01, 20, 0),
        )]);
        cmp.sentinels.push(BenchmarkData::paired(
            "sentinel/noop",
            series(0.02, 0.005, 20, 1),
        ));
        let j = judge(&cmp, &JudgeConfig::default()).unwrap();
        assert_eq!(j.outcome, Outcome::Inconclusive);
        assert!(!j.environment.sentinels[0].in_band);
        // a quiet sentinel vouches for the run
        cmp.sentinels[0] = BenchmarkData::paired("sentinel/noop", series(0.0, 0.005, 20, 1));
        let j = judge(&cmp, &JudgeConfig::default()).unwrap();
        assert_eq!(j.outcome, Outcome::Regression);
        assert!(j.environment.trusted && j.environment.sentinels[0].in_band);
    }

    #[test]
    fn missing_rows_are_explicit() {
        let mut cmp = comparison(vec![BenchmarkData::paired("a", series(0.0, 0.01, 20, 0))]);
        cmp.benchmarks.push(BenchmarkData {
            id: "new".into(),
            timing: Timing::MissingOn(dyno_stats::record::Side::Base),
            counters: Vec::new(),
            unpaired_blocks: 0,
        });
        let j = judge(&cmp, &JudgeConfig::default()).unwrap();
        let row = j.benchmark("new").unwrap();
        assert_eq!(row.verdict, Verdict::Missing);
        assert_eq!(row.notes, vec!["no timings on the base side"]);
        assert_eq!(j.outcome, Outcome::NoRegression);
        let strict = JudgeConfig {
            missing: MissingPolicy::Inconclusive,
            ..JudgeConfig::default()
        };
        assert_eq!(judge(&cmp, &strict).unwrap().outcome, Outcome::Inconclusive);
        // nothing judged at all is never a pass
        assert_eq!(
            judge(&comparison(Vec::new()), &JudgeConfig::default())
                .unwrap()
                .outcome,
            Outcome::Inconclusive
        );
    }
}
