//! `dyno regress baseline update|show`.

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};
use dyno_regress::Baseline;
use dyno_regress::baseline::{read_history, update as update_baseline};
use dyno_stats::record::RunRecord;

use crate::args::{BaselineShowArgs, BaselineUpdateArgs};
use crate::machine;

/// Records a baseline from a run record.
pub fn update(args: BaselineUpdateArgs) -> Result<i32> {
    let record = RunRecord::read(&args.from)?;
    let here = machine::profile()?;
    if record.machine != here && !args.allow_other_machine {
        bail!(
            "{} was measured on machine profile {}, this is {} ({}); baselines are per machine: \
             run the update there, or pass --allow-other-machine",
            args.from.display(),
            record.machine.key(),
            here.key(),
            record.machine.differences(&here).join("; ")
        );
    }
    let mut baseline = Baseline::from_record(&record)?;
    if let Some(path) = &args.noise {
        let noise = read_noise(path)?;
        for (id, entry) in &mut baseline.benchmarks {
            if let Some(&sigma) = noise.get(id) {
                entry.noise = Some(sigma);
            }
        }
    }
    let path = update_baseline(&args.baselines, baseline, args.tag.as_deref())?;
    let history = read_history(&args.baselines, &record.machine, &record.suite)?;
    println!(
        "recorded {} ({} history entr{}){}",
        path.display(),
        history.len(),
        if history.len() == 1 { "y" } else { "ies" },
        args.tag
            .as_deref()
            .map(|t| format!(", release {t}"))
            .unwrap_or_default()
    );
    Ok(0)
}

/// The `noise` map of a calibration file (`dyno regress calibrate --out`).
fn read_noise(path: &std::path::Path) -> Result<BTreeMap<String, f64>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the calibration file {}", path.display()))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    let noise = value
        .get("noise")
        .with_context(|| {
            format!(
                "{} has no `noise` map; pass the raw file of `dyno regress calibrate`",
                path.display()
            )
        })?
        .clone();
    serde_json::from_value(noise).with_context(|| {
        format!(
            "{}: `noise` must map benchmark ids to numbers",
            path.display()
        )
    })
}

/// Prints this machine's profile, its baseline and history.
pub fn show(args: BaselineShowArgs) -> Result<i32> {
    let profile = machine::profile()?;
    println!("machine profile {}", profile.key());
    println!(
        "  {} | {} | {} logical cores | kernel {} | {}",
        profile.arch, profile.cpu_model, profile.logical_cores, profile.kernel, profile.toolchain
    );
    println!("  isa: {}", profile.isa.join(" "));
    let path = Baseline::path(&args.baselines, &profile, &args.suite);
    if !path.exists() {
        bail!(
            "no baseline for suite `{}` on this machine at {}; record one with `dyno regress \
             baseline update --from RECORD.json`",
            args.suite,
            path.display()
        );
    }
    let b = Baseline::load(&args.baselines, &profile, &args.suite)?;
    println!(
        "\n{}: suite `{}`, commit {}{}, {} benchmark(s)\n",
        path.display(),
        b.suite,
        b.commit,
        b.tag
            .as_deref()
            .map(|t| format!(" (release {t})"))
            .unwrap_or_default(),
        b.benchmarks.len()
    );
    println!("| benchmark | median | noise σ | counters |\n|---|---:|---:|---|");
    for (id, e) in &b.benchmarks {
        let counters: Vec<String> = e.counters.iter().map(|(k, v)| format!("{k}={v}")).collect();
        println!(
            "| `{id}` | {} | {} | {} |",
            e.median_ns.map_or("–".into(), |m| format!("{m:.1} ns")),
            e.noise
                .map_or("–".into(), |s| format!("{:.2} %", s * 100.0)),
            counters.join(", ")
        );
    }
    let history = read_history(&args.baselines, &profile, &args.suite)?;
    println!(
        "\nhistory: {} entr{}",
        history.len(),
        if history.len() == 1 { "y" } else { "ies" }
    );
    for h in history.iter().rev().take(10) {
        println!(
            "  {} {} ({} benchmarks, t={})",
            h.tag.as_deref().unwrap_or("-"),
            crate::git::short(&h.commit),
            h.medians_ns.len(),
            h.created_unix_s
        );
    }
    Ok(0)
}
