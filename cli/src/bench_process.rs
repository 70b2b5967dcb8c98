//! One criterion bench process: a fresh process per block and side, with its own
//! `CRITERION_HOME`, imported through `dyno_regress::import::criterion`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use dyno_regress::import::criterion::{CriterionBenchmark, read_tree};

/// A bench executable and how to run it.
#[derive(Debug, Clone)]
pub struct BenchBinary {
    /// The executable.
    pub exe: PathBuf,
    /// Extra environment for every process (e.g. an injected slowdown).
    pub env: Vec<(String, String)>,
}

/// Criterion timing flags; `None` keeps the bench's own settings.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct Timings {
    /// `--warm-up-time`, seconds.
    pub warm_up_s: Option<f64>,
    /// `--measurement-time`, seconds.
    pub measurement_s: Option<f64>,
}

/// Which benchmarks a process runs.
#[derive(Debug, Clone)]
pub enum Filter {
    /// Every benchmark, or a criterion regex filter.
    Regex(Option<String>),
    /// Exactly one id (criterion `--exact`).
    Exact(String),
}

impl BenchBinary {
    fn command(&self, filter: &Filter) -> Command {
        let mut cmd = Command::new(&self.exe);
        cmd.arg("--bench");
        match filter {
            Filter::Regex(Some(f)) => {
                cmd.arg(f);
            }
            Filter::Regex(None) => {}
            Filter::Exact(id) => {
                cmd.args(["--exact", id]);
            }
        }
        if std::env::var_os("DYNO_BENCH_PROFILE").is_none() {
            cmd.env("DYNO_BENCH_PROFILE", "quick");
        }
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    /// The benchmark ids the filter selects (`--list`).
    pub fn list(&self, filter: &Filter, scratch: &Path) -> Result<Vec<String>> {
        let mut cmd = self.command(filter);
        cmd.arg("--list").env("CRITERION_HOME", scratch);
        let out = run(cmd, &self.exe)?;
        let mut ids: Vec<String> = out
            .lines()
            .filter_map(|l| l.strip_suffix(": benchmark"))
            .map(String::from)
            .collect();
        ids.sort();
        ids.dedup();
        Ok(ids)
    }

    /// Runs the selected benchmarks once in a fresh process whose criterion output goes to
    /// `home` (emptied first), and reads the results back.
    pub fn measure(
        &self,
        filter: &Filter,
        timings: Timings,
        home: &Path,
    ) -> Result<Vec<CriterionBenchmark>> {
        if home.exists() {
            std::fs::remove_dir_all(home)
                .with_context(|| format!("emptying {}", home.display()))?;
        }
        std::fs::create_dir_all(home)?;
        let mut cmd = self.command(filter);
        cmd.arg("--noplot").env("CRITERION_HOME", home);
        if let Some(w) = timings.warm_up_s {
            cmd.args(["--warm-up-time", &w.to_string()]);
        }
        if let Some(m) = timings.measurement_s {
            cmd.args(["--measurement-time", &m.to_string()]);
        }
        run(cmd, &self.exe)?;
        Ok(read_tree(home, "new")?)
    }
}

fn run(mut cmd: Command, exe: &Path) -> Result<String> {
    tracing::debug!(?cmd, "bench process");
    let out = cmd
        .output()
        .with_context(|| format!("starting {}", exe.display()))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(15).collect();
        bail!(
            "bench process {} failed ({}):\n{}",
            exe.display(),
            out.status,
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A regex that matches exactly the given ids (criterion filters are regexes).
pub fn exact_any(ids: &[String]) -> String {
    let escaped: Vec<String> = ids
        .iter()
        .map(|id| {
            let mut s = String::with_capacity(id.len());
            for c in id.chars() {
                if "\\.+*?()|[]{}^$#&-~".contains(c) {
                    s.push('\\');
                }
                s.push(c);
            }
            s
        })
        .collect();
    format!("^({})$", escaped.join("|"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_regex_escapes_ids() {
        assert_eq!(
            exact_any(&["a/b0.5".into(), "c(d)".into()]),
            r"^(a/b0\.5|c\(d\))$"
        );
    }
}
