//! One module per command (`bench`, `generate`, and the `dyno regress` ones), plus the
//! decision-rule setup the regress commands share.

pub mod baseline;
pub mod bench;
pub mod bench_serve;
pub mod calibrate;
pub mod check;
pub mod compare;
pub mod generate;
pub mod mock_server;
pub mod run;
pub mod serve;

use anyhow::Result;
use dyno_regress::{Baseline, JudgeConfig, MissingPolicy};
use dyno_stats::record::MachineProfile;

use crate::args::JudgeArgs;

/// The validated decision rule: the flags, plus the calibrated noise of `suite`'s baseline on
/// `profile` when there is one. A baseline that exists but cannot be used (corrupt, wrong
/// schema, another machine's) is an error, never ignored. Returns a remark for the report.
pub fn judge_config(
    args: &JudgeArgs,
    profile: &MachineProfile,
    suite: Option<&str>,
) -> Result<(JudgeConfig, String)> {
    let mut config = JudgeConfig {
        q: args.q,
        tau_floor: args.tau_floor,
        missing: if args.strict_missing {
            MissingPolicy::Inconclusive
        } else {
            MissingPolicy::Report
        },
        ..JudgeConfig::default()
    };
    let remark = match suite {
        Some(suite) => {
            let path = Baseline::path(&args.baselines, profile, suite);
            if path.exists() {
                let baseline = Baseline::load(&args.baselines, profile, suite)?;
                config.noise = baseline.noise_model();
                format!(
                    "calibrated noise of {} benchmark(s) from {}",
                    config.noise.per_benchmark.len(),
                    path.display()
                )
            } else {
                format!(
                    "no baseline at {}: τ = {:.1} % for every benchmark",
                    path.display(),
                    args.tau_floor * 100.0
                )
            }
        }
        None => format!(
            "no suite given: τ = {:.1} % for every benchmark",
            args.tau_floor * 100.0
        ),
    };
    config.validate()?;
    Ok((config, remark))
}
