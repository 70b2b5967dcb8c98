//! Builds a criterion bench binary of `dyno-benches` with cargo and finds its executable.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

/// Builds bench target `suite` of `dyno-benches` in `src` with `--release`, into `target_dir`
/// (shared by every revision: dependencies compile once), with extra environment `env`.
pub fn bench_binary(
    src: &Path,
    target_dir: &Path,
    suite: &str,
    env: &[(&str, String)],
) -> Result<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    tracing::info!(src = %src.display(), suite, "building the bench binary");
    let mut cmd = Command::new(&cargo);
    cmd.current_dir(src)
        .args(["build", "--release", "-p", "dyno-benches", "--bench", suite])
        .arg("--message-format=json-render-diagnostics")
        .env("CARGO_TARGET_DIR", target_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd
        .output()
        .with_context(|| format!("running `{cargo} build` in {}", src.display()))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(25).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        bail!(
            "building bench `{suite}` of dyno-benches in {} failed (does this revision have \
             `benches/{suite}.rs`?):\n{}",
            src.display(),
            tail.join("\n")
        );
    }
    let exe = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["reason"] == "compiler-artifact" && v["target"]["name"] == suite)
        .filter(|v| {
            v["target"]["kind"]
                .as_array()
                .is_some_and(|k| k.iter().any(|x| x == "bench"))
        })
        .find_map(|v| v["executable"].as_str().map(PathBuf::from));
    exe.with_context(|| {
        format!(
            "cargo built no `{suite}` bench executable in {}",
            src.display()
        )
    })
}

/// Copies `exe` to `dir/name` (so a later build at the same hash cannot replace it).
pub fn keep(exe: &Path, dir: &Path, name: &str) -> Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let dest = dir.join(name);
    std::fs::copy(exe, &dest)
        .with_context(|| format!("copying {} to {}", exe.display(), dest.display()))?;
    Ok(dest)
}
