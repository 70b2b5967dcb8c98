//! `dyno regress check`: judge data measured elsewhere.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use dyno_regress::import::{criterion, csv, record};
use dyno_regress::{Comparison, Observation, Report, ReportContext, judge};
use dyno_stats::record::{HealthRecord, RunRecord, Side};

use crate::args::CheckArgs;
use crate::commands::judge_config;
use crate::{machine, output};

/// Runs the command; returns the exit code.
pub fn run(args: CheckArgs) -> Result<i32> {
    let mut suite = args.suite.clone();
    let mut profile = None;
    let cmp = if let Some(path) = &args.csv {
        Comparison::from_observations(&csv::read(path)?, HealthRecord::default())?
    } else if !args.records.is_empty() {
        let records: Vec<RunRecord> = args
            .records
            .iter()
            .map(|p| RunRecord::read(p))
            .collect::<Result<_, _>>()?;
        suite.get_or_insert_with(|| records[0].suite.clone());
        profile = Some(records[0].machine.clone());
        match records.as_slice() {
            [ab] => record::comparison_from_record(ab)?,
            [base, head] => record::comparison_from_pair(base, head)?,
            _ => unreachable!("clap allows one or two records"),
        }
    } else {
        let [base, head] = args.criterion.as_slice() else {
            bail!("--criterion takes two directories: BASE_DIR HEAD_DIR");
        };
        let mut obs = criterion_side(base, Side::Base, &args.slot)?;
        obs.extend(criterion_side(head, Side::Head, &args.slot)?);
        Comparison::from_observations(&obs, HealthRecord::default())?
    };
    let profile = match profile {
        Some(p) => p,
        None => machine::profile()?,
    };
    let (config, remark) = judge_config(&args.judge, &profile, suite.as_deref())?;
    let mut judgement = judge(&cmp, &config)?;
    judgement.notes.push(remark);
    let context = ReportContext {
        title: "dyno regress check".into(),
        suite,
        base: None,
        head: None,
        profile: Some(profile.key()),
    };
    output::emit(&Report::new(judgement, context), &args.output)
}

/// Observations of one side's criterion output: one block, or one per `block-<n>/` directory.
fn criterion_side(dir: &Path, side: Side, slot: &str) -> Result<Vec<Observation>> {
    if !dir.is_dir() {
        bail!(
            "{}: no such directory; pass criterion output (e.g. target/criterion) for the {} side",
            dir.display(),
            side.as_str()
        );
    }
    let mut blocks: Vec<(u32, PathBuf)> = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(n) = name.strip_prefix("block-").and_then(|n| n.parse().ok())
            && entry.file_type()?.is_dir()
        {
            blocks.push((n, entry.path()));
        }
    }
    if blocks.is_empty() {
        blocks.push((0, dir.to_path_buf()));
    }
    blocks.sort();
    let mut out = Vec::new();
    for (block, path) in blocks {
        out.extend(criterion::observations(
            &criterion::read_tree(&path, slot)?,
            side,
            block,
        ));
    }
    Ok(out)
}
