//! Printing and writing reports: stdout, `--json`/`--markdown` files (atomic writes) and
//! `$GITHUB_STEP_SUMMARY`.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use dyno_regress::Report;
use dyno_stats::record::write_atomic;

use crate::args::OutputArgs;

/// Prints the markdown report and writes the requested files; returns the exit code.
pub fn emit(report: &Report, out: &OutputArgs) -> Result<i32> {
    let markdown = report.to_markdown();
    println!("{markdown}");
    if let Some(path) = &out.json {
        write_file(path, report.to_json()?.as_bytes())?;
    }
    if let Some(path) = &out.markdown {
        write_file(path, markdown.as_bytes())?;
    }
    if !out.no_step_summary
        && let Some(summary) = std::env::var_os("GITHUB_STEP_SUMMARY")
        && !summary.is_empty()
    {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&summary)
            .with_context(|| format!("opening $GITHUB_STEP_SUMMARY ({summary:?})"))?;
        writeln!(f, "{markdown}").context("appending to $GITHUB_STEP_SUMMARY")?;
    }
    Ok(report.exit_code)
}

/// Writes `bytes` to `path` atomically, creating its directory.
pub fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    write_atomic(path, bytes)?;
    Ok(())
}
