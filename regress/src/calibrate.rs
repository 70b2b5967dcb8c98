//! Calibration replay: how often the gate fails unchanged code, and how often it catches a
//! slowdown of known size, **measured** on this machine's recorded data (issue 5 §3).
//!
//! `dyno regress calibrate` records blocks in which several processes run the same benchmarks:
//! the reference build `A`, the same binary again (A/A), a second build of the same code
//! (A/A′), the same binary with an injected slowdown of 1, 2, 5 or 10 % (a run-time knob) and a
//! build with a slowdown compiled in. This module is the pure part: it turns the recorded
//! per-sample times into per-block log-ratios against `A`, then
//! - replays the two-stage decision rule ([`crate::screen`] → [`crate::confirm`]) on families of
//!   `family` benchmarks whose blocks are drawn without replacement from the recorded ones
//!   (stage 2 gets fresh blocks, disjoint from stage 1's). When fewer benchmarks were recorded
//!   than the family needs, the family is **synthesised**: benchmark `j` reuses recorded
//!   benchmark `j mod n` with its own independent block draw;
//! - applies criterion's default rule to the same processes: two-sided p < 0.05 from a
//!   two-sample t statistic with a pooled ("mixed") bootstrap null on the per-sample times, and
//!   the whole 95 % bootstrap interval of the change of the mean above +1 %.
//!
//! For a null condition the rate reported is the false-fail rate per PR (any benchmark of the
//! family fails). For a slowdown condition one benchmark of the family is slowed (the others are
//! A/A) and the rate is the power: the share of replications in which that benchmark is judged a
//! regression.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use rand::rngs::StdRng;
use rand::seq::index::sample;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use dyno_stats::WalshAverages;
use dyno_stats::record::{HealthRecord, MachineProfile};

use crate::comparison::{BenchmarkData, Comparison, Timing};
use crate::config::{JudgeConfig, NoiseModel};
use crate::error::{RegressError, Result};
use crate::observation::{BlockStatistic, SENTINEL_PREFIX};
use crate::stage::{ScreenConfig, confirm, screen};
use crate::verdict::{Outcome, Verdict};

/// The calibration file schema version this build reads and writes.
pub const CALIBRATION_SCHEMA_VERSION: u32 = 1;

/// One bench process of one block: per benchmark, the per-iteration time of each sample (ns).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessRun {
    /// Block index.
    pub block: u32,
    /// Which process (`A`, `A2`, `Aprime`, `inject-0.02`, ...).
    pub process: String,
    /// Wall time of the process, seconds.
    pub seconds: f64,
    /// Per-iteration sample times per benchmark id, in nanoseconds.
    pub benchmarks: BTreeMap<String, Vec<f64>>,
}

/// A condition compared against the reference process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    /// Row label, e.g. `A/A′ (second build)` or `+2 % (run-time knob)`.
    pub name: String,
    /// The process compared with the reference.
    pub process: String,
    /// The true slowdown as a fraction (0 for a null condition).
    pub slowdown: f64,
}

/// Everything a calibration run recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalibrationData {
    /// Always [`CALIBRATION_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The machine.
    pub machine: MachineProfile,
    /// Commit of the measured code.
    pub commit: String,
    /// Start time, seconds since the Unix epoch.
    pub created_unix_s: u64,
    /// How the run was made (filter, timings, builds).
    pub settings: serde_json::Value,
    /// Seed of the process order.
    pub seed: u64,
    /// The reference process (`A`).
    pub reference: String,
    /// The A/A process used as the sentinel in replays (`A2`).
    pub sentinel: String,
    /// The compared conditions.
    pub conditions: Vec<Condition>,
    /// Health over the whole recording.
    pub health: HealthRecord,
    /// Raw data.
    pub runs: Vec<ProcessRun>,
    /// Calibrated noise per benchmark (see [`noise`]); filled in by [`replay`]'s caller.
    #[serde(default)]
    pub noise: BTreeMap<String, f64>,
}

/// Replay parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplayConfig {
    /// Benchmarks per synthetic PR.
    pub family: usize,
    /// Replications per condition.
    pub replications: usize,
    /// Stage-1 blocks.
    pub screen_blocks: usize,
    /// Seed.
    pub seed: u64,
    /// Bootstrap resamples of the criterion rule.
    pub criterion_resamples: usize,
    /// The decision rule (its noise model is replaced by the calibrated one for the
    /// "calibrated τ" column).
    pub judge: JudgeConfig,
    /// Stage-1 suspect rule.
    pub screen: ScreenConfig,
    /// Block statistic of each process's samples.
    #[serde(default)]
    pub statistic: BlockStatistic,
}

impl Default for ReplayConfig {
    fn default() -> Self {
        ReplayConfig {
            family: 50,
            replications: 400,
            screen_blocks: 8,
            seed: 7,
            criterion_resamples: 2000,
            judge: JudgeConfig::default(),
            screen: ScreenConfig::default(),
            statistic: BlockStatistic::Paired,
        }
    }
}

/// Rates of one condition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConditionResult {
    /// The condition.
    pub condition: Condition,
    /// Recorded blocks usable for it.
    pub blocks: usize,
    /// Median over benchmarks of the measured change (HL of all blocks), as a fraction.
    pub measured_change: f64,
    /// dyno rule with τ = the floor: share of replications that failed (null: false-fail per PR;
    /// slowdown: power, the slowed benchmark judged a regression).
    pub dyno_fail: f64,
    /// dyno rule with τ = the floor: share of inconclusive runs.
    pub dyno_inconclusive: f64,
    /// dyno rule with calibrated τ = max(floor, 2σ): share failed, as above.
    pub dyno_calibrated_fail: f64,
    /// dyno rule with calibrated τ: share inconclusive.
    pub dyno_calibrated_inconclusive: f64,
    /// criterion's rule: share of (benchmark, block) comparisons flagged "Regressed".
    pub criterion_flag_rate: f64,
    /// criterion's rule per PR: null, any of `family` benchmarks flagged; slowdown, the slowed
    /// benchmark flagged.
    pub criterion_fail: f64,
    /// dyno rule (τ floor): mean screening blocks per benchmark.
    #[serde(default)]
    pub screen_blocks: f64,
    /// dyno rule (τ floor): mean suspects per PR.
    #[serde(default)]
    pub suspects: f64,
    /// dyno rule (τ floor): mean confirming blocks, over the PRs that had suspects.
    #[serde(default)]
    pub confirm_blocks: f64,
    /// dyno rule (τ floor): share of PRs whose confirming stage wanted more blocks than the
    /// recording had left (their power is then underestimated).
    #[serde(default)]
    pub truncated: f64,
}

/// Sums of what the replayed runs of one condition measured.
#[derive(Default)]
struct Cost {
    screen_blocks: usize,
    suspects: usize,
    confirm_blocks: usize,
    confirming_runs: usize,
    truncated: usize,
}

impl Cost {
    fn add(&mut self, run: &Replayed) {
        self.screen_blocks += run.screen_blocks;
        self.suspects += run.suspects;
        if run.suspects > 0 {
            self.confirm_blocks += run.confirm_blocks;
            self.confirming_runs += 1;
        }
        self.truncated += usize::from(run.truncated);
    }
}

/// The replay's results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Calibration {
    /// Replay parameters.
    pub config: ReplayConfig,
    /// Benchmarks recorded.
    pub benchmarks: Vec<String>,
    /// Calibrated noise per benchmark.
    pub noise: BTreeMap<String, f64>,
    /// One row per condition.
    pub results: Vec<ConditionResult>,
}

/// One block of one benchmark: (block, log-ratio, reference samples, condition samples).
type Row<'a> = (u32, f64, &'a [f64], &'a [f64]);

/// Per condition, per benchmark: its blocks.
struct Paired<'a> {
    by_bench: BTreeMap<&'a str, Vec<Row<'a>>>,
}

fn paired<'a>(data: &'a CalibrationData, process: &str, statistic: BlockStatistic) -> Paired<'a> {
    let mut reference: BTreeMap<(u32, &str), &[f64]> = BTreeMap::new();
    for run in data.runs.iter().filter(|r| r.process == data.reference) {
        for (id, v) in &run.benchmarks {
            reference.insert((run.block, id.as_str()), v.as_slice());
        }
    }
    let mut by_bench: BTreeMap<&str, Vec<Row<'_>>> = BTreeMap::new();
    for run in data.runs.iter().filter(|r| r.process == process) {
        for (id, v) in &run.benchmarks {
            if let Some(base) = reference.get(&(run.block, id.as_str()))
                && let Some((a, b)) = statistic.pair(base, v)
            {
                by_bench.entry(id.as_str()).or_default().push((
                    run.block,
                    (b / a).ln(),
                    base,
                    v.as_slice(),
                ));
            }
        }
    }
    Paired { by_bench }
}

/// Calibrated noise per benchmark from the A/A′ process: the root mean square of the
/// Hodges–Lehmann effects of every window of `chunk` consecutive blocks (the spread a gate
/// run of that many blocks sees between two builds of identical code, layout offset included;
/// overlapping windows use all of a short recording, at the price of correlated terms).
pub fn noise(
    data: &CalibrationData,
    aprime: &str,
    chunk: usize,
    statistic: BlockStatistic,
) -> BTreeMap<String, f64> {
    let p = paired(data, aprime, statistic);
    let chunk = chunk.max(2);
    let mut out = BTreeMap::new();
    for (id, rows) in &p.by_bench {
        let lr: Vec<f64> = rows.iter().map(|r| r.1).collect();
        let effects: Vec<f64> = lr
            .windows(chunk)
            .filter_map(|c| WalshAverages::new(c).ok().map(|w| w.estimate()))
            .collect();
        if let Some(sigma) = NoiseModel::noise_from_null_effects(&effects) {
            out.insert((*id).to_string(), sigma);
        }
    }
    out
}

/// criterion's default change rule on two independent runs' per-sample times: `Regressed` when
/// the two-sided bootstrap p-value of the t statistic is below 0.05 **and** the whole 95 %
/// bootstrap interval of `mean(new)/mean(base) - 1` lies above +1 %.
pub fn criterion_regressed(base: &[f64], new: &[f64], resamples: usize, rng: &mut StdRng) -> bool {
    if base.len() < 2 || new.len() < 2 {
        return false;
    }
    let t_obs = t_stat(base, new);
    let pooled: Vec<f64> = base.iter().chain(new).copied().collect();
    let (mut extreme, mut a, mut b) = (0usize, vec![0.0; base.len()], vec![0.0; new.len()]);
    for _ in 0..resamples {
        for x in a.iter_mut() {
            *x = pooled[rng.random_range(0..pooled.len())];
        }
        for x in b.iter_mut() {
            *x = pooled[rng.random_range(0..pooled.len())];
        }
        if t_stat(&a, &b).abs() >= t_obs.abs() {
            extreme += 1;
        }
    }
    let p = extreme as f64 / resamples as f64;
    if p >= 0.05 {
        return false;
    }
    let mut changes = Vec::with_capacity(resamples);
    for _ in 0..resamples {
        for x in a.iter_mut() {
            *x = base[rng.random_range(0..base.len())];
        }
        for x in b.iter_mut() {
            *x = new[rng.random_range(0..new.len())];
        }
        changes.push(mean(&b) / mean(&a) - 1.0);
    }
    changes.sort_by(f64::total_cmp);
    let lower = changes[((resamples as f64) * 0.025) as usize];
    lower > 0.01
}

fn mean(x: &[f64]) -> f64 {
    x.iter().sum::<f64>() / x.len() as f64
}

fn t_stat(a: &[f64], b: &[f64]) -> f64 {
    let var =
        |x: &[f64], m: f64| x.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (x.len() - 1) as f64;
    let (ma, mb) = (mean(a), mean(b));
    let se = (var(a, ma) / a.len() as f64 + var(b, mb) / b.len() as f64).sqrt();
    if se > 0.0 { (mb - ma) / se } else { 0.0 }
}

/// Replays the gate and criterion's rule on `data`. `noise` sets the calibrated τ column.
pub fn replay(
    data: &CalibrationData,
    noise: &BTreeMap<String, f64>,
    config: &ReplayConfig,
) -> Result<Calibration> {
    config.judge.validate()?;
    let invalid = |message: String| RegressError::Mismatch { message };
    if config.family == 0 || config.replications == 0 || config.screen_blocks < 2 {
        return Err(invalid(
            "calibration replay needs family ≥ 1, replications ≥ 1 and at least 2 screening blocks"
                .into(),
        ));
    }
    let null = paired(data, &data.sentinel, config.statistic);
    let benches: Vec<&str> = null.by_bench.keys().copied().collect();
    if benches.is_empty() {
        return Err(invalid(format!(
            "no block pairs the reference `{}` with `{}`; record more blocks",
            data.reference, data.sentinel
        )));
    }
    let mut rng = StdRng::seed_from_u64(config.seed);
    let mut results = Vec::new();
    for condition in &data.conditions {
        let cond = paired(data, &condition.process, config.statistic);
        let blocks = cond.by_bench.values().map(Vec::len).min().unwrap_or(0);
        let stage2 = (config.judge.min_blocks(4) + 1).max(config.screen.step);
        if blocks < config.screen_blocks + stage2 {
            return Err(invalid(format!(
                "condition `{}` has {blocks} usable block(s); the replay needs at least {} \
                 ({} screening + {stage2} confirming): record more blocks",
                condition.name,
                config.screen_blocks + stage2,
                config.screen_blocks
            )));
        }
        let mut effects: Vec<f64> = cond
            .by_bench
            .values()
            .filter_map(|rows| {
                let lr: Vec<f64> = rows.iter().map(|r| r.1).collect();
                WalshAverages::new(&lr).ok().map(|w| w.estimate().exp_m1())
            })
            .collect();
        effects.sort_by(f64::total_cmp);
        let measured_change = effects[effects.len() / 2];

        let is_null = condition.slowdown == 0.0;
        let mut tally = [[0usize; 2]; 2];
        let mut cost = Cost::default();
        for (c, counts) in tally.iter_mut().enumerate() {
            // column 0: τ = the floor; column 1: τ = max(floor, 2σ) with the calibrated σ.
            let mut judge_config = JudgeConfig {
                noise: NoiseModel::default(),
                ..config.judge.clone()
            };
            for rep in 0..config.replications {
                // The slowed member (0) cycles through the recorded benchmarks, so the power
                // is an average over all of them, each with its own noise.
                let family: Vec<(String, &Rows<'_>)> = (0..config.family)
                    .map(|j| {
                        let id = benches[(j + rep) % benches.len()];
                        let source = if is_null || j == 0 { &cond } else { &null };
                        let rows = source.by_bench.get(id).map_or(&[][..], Vec::as_slice);
                        (format!("{id}#{j}"), rows)
                    })
                    .collect();
                if c == 1 {
                    for (name, _) in &family {
                        let id = name.rsplit_once('#').map_or(name.as_str(), |x| x.0);
                        if let Some(&s) = noise.get(id) {
                            judge_config.noise.per_benchmark.insert(name.clone(), s);
                        }
                    }
                }
                let run = replay_once(
                    &family,
                    null.by_bench.get(benches[0]).map_or(&[][..], Vec::as_slice),
                    &judge_config,
                    config,
                    &mut rng,
                )?;
                let failed = if is_null {
                    run.outcome == Outcome::Regression
                } else {
                    run.first_regressed
                };
                counts[0] += usize::from(failed);
                counts[1] += usize::from(run.outcome == Outcome::Inconclusive);
                if c == 0 {
                    cost.add(&run);
                }
            }
        }

        // criterion's rule, once per recorded (benchmark, block).
        let mut flags: BTreeMap<&str, Vec<bool>> = BTreeMap::new();
        for (id, rows) in &cond.by_bench {
            flags.insert(
                id,
                rows.iter()
                    .map(|r| criterion_regressed(r.2, r.3, config.criterion_resamples, &mut rng))
                    .collect(),
            );
        }
        let null_flags: BTreeMap<&str, Vec<bool>> = if is_null {
            flags.clone()
        } else {
            null.by_bench
                .iter()
                .map(|(id, rows)| {
                    (
                        *id,
                        rows.iter()
                            .map(|r| {
                                criterion_regressed(r.2, r.3, config.criterion_resamples, &mut rng)
                            })
                            .collect(),
                    )
                })
                .collect()
        };
        let all: Vec<bool> = flags.values().flatten().copied().collect();
        let flag_rate = all.iter().filter(|f| **f).count() as f64 / all.len().max(1) as f64;
        let mut crit_fail = 0usize;
        for rep in 0..config.replications {
            let failed = if is_null {
                (0..config.family).any(|j| {
                    let f = &null_flags[benches[j % benches.len()]];
                    f[rng.random_range(0..f.len())]
                })
            } else {
                let f = &flags[benches[rep % benches.len()]];
                f[rng.random_range(0..f.len())]
            };
            crit_fail += usize::from(failed);
        }
        let r = config.replications as f64;
        results.push(ConditionResult {
            condition: condition.clone(),
            blocks,
            measured_change,
            dyno_fail: tally[0][0] as f64 / r,
            dyno_inconclusive: tally[0][1] as f64 / r,
            dyno_calibrated_fail: tally[1][0] as f64 / r,
            dyno_calibrated_inconclusive: tally[1][1] as f64 / r,
            criterion_flag_rate: flag_rate,
            criterion_fail: crit_fail as f64 / r,
            screen_blocks: cost.screen_blocks as f64 / (r * config.family as f64),
            suspects: cost.suspects as f64 / r,
            confirm_blocks: if cost.confirming_runs > 0 {
                cost.confirm_blocks as f64 / cost.confirming_runs as f64
            } else {
                0.0
            },
            truncated: cost.truncated as f64 / r,
        });
    }
    Ok(Calibration {
        config: config.clone(),
        benchmarks: benches.iter().map(|s| s.to_string()).collect(),
        noise: noise.clone(),
        results,
    })
}

type Rows<'a> = [Row<'a>];

/// What one replicated gate run cost and concluded.
struct Replayed {
    outcome: Outcome,
    /// Benchmark 0 (the slowed one, in a slowdown condition) judged a regression.
    first_regressed: bool,
    /// Screening blocks summed over the family.
    screen_blocks: usize,
    /// Suspects re-measured.
    suspects: usize,
    /// Confirming blocks per suspect (0 without suspects).
    confirm_blocks: usize,
    /// The confirming stage wanted more blocks than the recording had left.
    truncated: bool,
}

/// One replicated two-stage gate run, with sequential screening as [`crate::screen`] asks for
/// it: every benchmark starts with `screen_blocks` blocks, the pending ones get `step` more per
/// look, and the suspects get the fresh blocks [`crate::Screening::confirm_plan`] asks for.
fn replay_once(
    family: &[(String, &Rows<'_>)],
    sentinel: &Rows<'_>,
    judge: &JudgeConfig,
    config: &ReplayConfig,
    rng: &mut StdRng,
) -> Result<Replayed> {
    let k1 = config.screen_blocks;
    let draws: Vec<Vec<usize>> = family
        .iter()
        .map(|(_, rows)| sample(rng, rows.len(), rows.len()).into_vec())
        .collect();
    let sentinel_pick = sample(rng, sentinel.len(), sentinel.len()).into_vec();
    let sentinel_data = |pick: &[usize]| {
        vec![BenchmarkData {
            id: format!("{SENTINEL_PREFIX}null"),
            timing: Timing::Paired(pick.iter().map(|&i| sentinel[i].1).collect()),
            counters: Vec::new(),
            unpaired_blocks: 0,
        }]
    };
    let mut taken: Vec<usize> = draws.iter().map(|d| k1.min(d.len())).collect();
    let screening = loop {
        let benchmarks = family
            .iter()
            .zip(&draws)
            .zip(&taken)
            .map(|(((id, rows), pick), &n)| {
                BenchmarkData::paired(id.clone(), pick[..n].iter().map(|&i| rows[i].1).collect())
            })
            .collect();
        let looked = taken.iter().copied().max().unwrap_or(0).min(sentinel.len());
        let stage1 = Comparison {
            benchmarks,
            sentinels: sentinel_data(&sentinel_pick[..looked]),
            health: HealthRecord::default(),
        };
        let screening = screen(&stage1, judge, &config.screen)?;
        if screening.pending.is_empty() {
            break screening;
        }
        let mut grew = false;
        for (j, (id, _)) in family.iter().enumerate() {
            if screening.pending.contains(id) {
                let next = (taken[j] + config.screen.step)
                    .min(config.screen.max_blocks)
                    .min(draws[j].len());
                grew |= next > taken[j];
                taken[j] = next;
            }
        }
        if !grew {
            break screening.close();
        }
    };
    let screen_blocks = taken.iter().sum();
    let (judgement, confirm_blocks, truncated) = if screening.suspects.is_empty() {
        (screening.judgement, 0, false)
    } else {
        let plan = screening.confirm_plan(judge, &config.screen)?;
        let mut fresh = Vec::new();
        let mut truncated = false;
        for (j, (id, rows)) in family.iter().enumerate() {
            if screening.suspects.contains(id) {
                let avail = &draws[j][taken[j]..];
                truncated |= avail.len() < plan.blocks;
                let take = plan.blocks.min(avail.len());
                fresh.push(BenchmarkData::paired(
                    id.clone(),
                    avail[..take].iter().map(|&i| rows[i].1).collect(),
                ));
            }
        }
        let s2 = sample(rng, sentinel.len(), plan.blocks.min(sentinel.len())).into_vec();
        let stage2 = Comparison {
            benchmarks: fresh,
            sentinels: sentinel_data(&s2),
            health: HealthRecord::default(),
        };
        (confirm(&screening, &stage2, judge)?, plan.blocks, truncated)
    };
    Ok(Replayed {
        first_regressed: judgement
            .benchmark(&family[0].0)
            .is_some_and(|r| r.verdict == Verdict::Regression),
        outcome: judgement.outcome,
        screen_blocks,
        suspects: screening.suspects.len(),
        confirm_blocks,
        truncated,
    })
}

impl Calibration {
    /// The results as a markdown table with a short legend.
    pub fn to_markdown(&self) -> String {
        let pct = |x: f64| format!("{:.1} %", x * 100.0);
        let mut s = String::new();
        let _ = writeln!(
            s,
            "| condition | measured change | blocks | dyno: fail | dyno: inconclusive | dyno, calibrated τ: fail | dyno, calibrated τ: inconclusive | criterion: flagged per benchmark and run | criterion: fail |"
        );
        let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        for r in &self.results {
            let _ = writeln!(
                s,
                "| {} | {:+.2} % | {} | {} | {} | {} | {} | {} | {} |",
                r.condition.name,
                r.measured_change * 100.0,
                r.blocks,
                pct(r.dyno_fail),
                pct(r.dyno_inconclusive),
                pct(r.dyno_calibrated_fail),
                pct(r.dyno_calibrated_inconclusive),
                pct(r.criterion_flag_rate),
                pct(r.criterion_fail),
            );
        }
        let _ = writeln!(
            s,
            "\nNull rows (A/A, A/A′): *fail* is the false-fail rate per PR of {} benchmarks. Slowdown rows: *fail* is \
             the power, the share of PRs in which the one slowed benchmark (among {}; it cycles through the recorded ones) is judged a regression. \
             {} replications per cell; stage 1 = {} blocks, stage 2 = fresh blocks for the suspects; q = {}, \
             τ floor = {:.1} %.",
            self.config.family,
            self.config.family,
            self.config.replications,
            self.config.screen_blocks,
            self.config.judge.q,
            self.config.judge.tau_floor * 100.0
        );
        let sc = &self.config.screen;
        let _ = writeln!(
            s,
            "\nWhat the dyno rule (τ floor) measured per PR: screening starts at {} blocks and adds {} per \
             look for what it cannot clear (its {:.0} % upper bound not below {:.1} %), up to {}; the \
             confirming stage is sized for {:.0} % power at that size, at most {} blocks.\n",
            self.config.screen_blocks,
            sc.step,
            sc.clear_level * 100.0,
            sc.effect_fraction * self.config.judge.tau_floor * 100.0,
            sc.max_blocks,
            sc.power * 100.0,
            sc.max_confirm_blocks
        );
        let _ = writeln!(
            s,
            "| condition | screening blocks per benchmark | suspects | confirming blocks | confirming stage cut short by the recording |"
        );
        let _ = writeln!(s, "|---|---:|---:|---:|---:|");
        for r in &self.results {
            let _ = writeln!(
                s,
                "| {} | {:.1} | {:.1} | {:.1} | {} |",
                r.condition.name,
                r.screen_blocks,
                r.suspects,
                r.confirm_blocks,
                pct(r.truncated)
            );
        }
        if !self.noise.is_empty() {
            let _ = writeln!(
                s,
                "\nCalibrated noise σ (A/A′, per {}-block run):",
                self.config.screen.max_blocks
            );
            for (id, sigma) in &self.noise {
                let _ = writeln!(s, "- `{id}`: {:.2} %", sigma * 100.0);
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(slow: f64) -> CalibrationData {
        let mut rng = StdRng::seed_from_u64(1);
        let mut runs = Vec::new();
        for block in 0..30u32 {
            let drift = 1.0 + 0.01 * rng.random::<f64>();
            for (process, factor) in [("A", 1.0), ("A2", 1.0), ("slow", 1.0 + slow)] {
                let mut benchmarks = BTreeMap::new();
                for id in ["x", "y"] {
                    let v: Vec<f64> = (0..10)
                        .map(|_| 1000.0 * drift * factor * (1.0 + 0.002 * rng.random::<f64>()))
                        .collect();
                    benchmarks.insert(id.to_string(), v);
                }
                runs.push(ProcessRun {
                    block,
                    process: process.into(),
                    seconds: 1.0,
                    benchmarks,
                });
            }
        }
        CalibrationData {
            schema_version: CALIBRATION_SCHEMA_VERSION,
            machine: MachineProfile::from_facts(&Default::default()),
            commit: "c".into(),
            created_unix_s: 0,
            settings: serde_json::Value::Null,
            seed: 1,
            reference: "A".into(),
            sentinel: "A2".into(),
            conditions: vec![
                Condition {
                    name: "A/A".into(),
                    process: "A2".into(),
                    slowdown: 0.0,
                },
                Condition {
                    name: "slow".into(),
                    process: "slow".into(),
                    slowdown: slow,
                },
            ],
            health: HealthRecord::default(),
            runs,
            noise: BTreeMap::new(),
        }
    }

    /// A short replay of `d`: PRs of 10 benchmarks, 40 replications.
    fn small_replay(d: &CalibrationData) -> Calibration {
        let config = ReplayConfig {
            family: 10,
            replications: 40,
            criterion_resamples: 200,
            ..ReplayConfig::default()
        };
        replay(d, &noise(d, "A2", 8, BlockStatistic::Median), &config).unwrap()
    }

    #[test]
    fn replay_separates_null_from_a_five_percent_slowdown() {
        let d = data(0.05);
        let c = small_replay(&d);
        assert_eq!(c.results[0].dyno_fail, 0.0);
        assert!(c.results[1].dyno_fail > 0.9, "{:?}", c.results[1]);
        assert!((c.results[1].measured_change - 0.05).abs() < 0.005);
        assert!(c.results[1].criterion_fail > 0.9);
        assert!(c.to_markdown().contains("| slow | +5.0"));
    }

    #[test]
    fn a_faster_second_build_is_no_false_fail() {
        // A/A′ where the second build is 5 % faster (a layout effect): a null condition.
        let mut d = data(-0.05);
        d.conditions[1].slowdown = 0.0;
        let c = small_replay(&d);
        assert_eq!(c.results[1].dyno_fail, 0.0, "{:?}", c.results[1]);
    }

    #[test]
    fn criterion_rule_needs_both_significance_and_the_band() {
        let mut rng = StdRng::seed_from_u64(3);
        let base: Vec<f64> = (0..10).map(|i| 100.0 + f64::from(i % 3)).collect();
        let same = base.clone();
        let slower: Vec<f64> = base.iter().map(|v| v * 1.05).collect();
        let slightly: Vec<f64> = base.iter().map(|v| v * 1.005).collect();
        assert!(!criterion_regressed(&base, &same, 500, &mut rng));
        assert!(criterion_regressed(&base, &slower, 500, &mut rng));
        assert!(!criterion_regressed(&base, &slightly, 500, &mut rng));
    }
}
