//! This machine's facts (`/proc/cpuinfo`, the kernel release, `rustc -vV`), bucketed into a
//! [`MachineProfile`] by dyno-stats. Clock speed is never read.

use std::process::Command;

use anyhow::{Context, Result};
use dyno_stats::record::{MachineFacts, MachineProfile};

/// Detects the facts of the machine this process runs on.
pub fn facts() -> Result<MachineFacts> {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let field = |name: &str| {
        cpuinfo
            .lines()
            .find(|l| l.split(':').next().is_some_and(|k| k.trim() == name))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
    };
    let cpu_model = field("model name")
        .or_else(|| field("Model"))
        .unwrap_or_else(|| "unknown".into());
    let cpu_flags = field("flags")
        .or_else(|| field("Features"))
        .unwrap_or_default()
        .split_whitespace()
        .map(String::from)
        .collect();
    let kernel_release = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into());
    let logical_cores = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);
    Ok(MachineFacts {
        arch: std::env::consts::ARCH.into(),
        cpu_model,
        cpu_flags,
        logical_cores,
        kernel_release,
        toolchain: toolchain()?,
    })
}

/// The profile of this machine.
pub fn profile() -> Result<MachineProfile> {
    Ok(MachineProfile::from_facts(&facts()?))
}

/// `rustc <release> (<commit-hash>)` from `rustc -vV` (`$RUSTC` if set).
fn toolchain() -> Result<String> {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let out = Command::new(&rustc)
        .arg("-vV")
        .output()
        .with_context(|| format!("running `{rustc} -vV` to identify the toolchain"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let get = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .map(str::trim)
            .unwrap_or("unknown")
            .to_string()
    };
    Ok(format!(
        "rustc {} ({})",
        get("release:"),
        get("commit-hash:")
    ))
}
