//! Environment health: the same-binary sentinels and the runner's health record decide whether
//! a run's timings can be trusted at all. An untrusted run is inconclusive, never failed.

use dyno_stats::{Alternative, SignedRank, WalshAverages};

use crate::comparison::{Comparison, Timing};
use crate::config::JudgeConfig;
use crate::error::Result;
use crate::verdict::{Effect, Environment, SentinelResult};

/// Reads the sentinels and health limits of `cmp`.
pub(crate) fn assess(cmp: &Comparison, config: &JudgeConfig) -> Result<Environment> {
    let mut notes = Vec::new();
    let mut sentinels = Vec::new();
    for s in &cmp.sentinels {
        let result = match &s.timing {
            Timing::Paired(lr) if !lr.is_empty() => {
                let p = SignedRank::test(lr)?.p_value(Alternative::TwoSided);
                let hl = WalshAverages::new(lr)?.interval(config.ci_level)?;
                let effect =
                    Effect::from_log(hl.estimate, hl.ci.lower, hl.ci.upper, config.ci_level);
                let in_band =
                    config
                        .sentinel
                        .in_band(effect.change, effect.ci_lower, effect.ci_upper, p);
                if !in_band {
                    notes.push(format!(
                        "sentinel `{}` is out of band: {:+.2} % [{:+.2} %, {:+.2} %] (band ±{:.2} %, {:?} test), \
                         two-sided p = {:.2e} (limit {}); the machine treated the two sides differently",
                        s.id,
                        effect.change * 100.0,
                        effect.ci_lower * 100.0,
                        effect.ci_upper * 100.0,
                        config.sentinel.band * 100.0,
                        config.sentinel.band_test,
                        p,
                        config.sentinel.alpha
                    ));
                }
                SentinelResult {
                    id: s.id.clone(),
                    blocks: lr.len(),
                    effect: Some(effect),
                    p_value: Some(p),
                    in_band,
                }
            }
            _ => {
                notes.push(format!(
                    "sentinel `{}` has no paired blocks; the run cannot vouch for its environment",
                    s.id
                ));
                SentinelResult {
                    id: s.id.clone(),
                    blocks: 0,
                    effect: None,
                    p_value: None,
                    in_band: false,
                }
            }
        };
        sentinels.push(result);
    }
    let mut trusted = sentinels.iter().all(|s| s.in_band);
    if sentinels.is_empty() {
        notes.push(
            "no sentinel benchmark in this run: environment drift between the sides is not checked"
                .into(),
        );
    }
    let steal = cmp.health.steal_time_fraction;
    if let Some(steal) = steal
        && (steal.is_nan() || steal > config.max_steal_fraction)
    {
        trusted = false;
        notes.push(format!(
            "steal time {:.1} % exceeds the limit of {:.1} %; the hypervisor took the CPU away during measurement",
            steal * 100.0,
            config.max_steal_fraction * 100.0
        ));
    }
    for flag in &cmp.health.flags {
        trusted = false;
        notes.push(format!("health flag: {flag}"));
    }
    Ok(Environment {
        trusted,
        sentinels,
        steal_time_fraction: steal,
        flags: cmp.health.flags.clone(),
        notes,
    })
}
