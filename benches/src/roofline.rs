//! The roofline table of a criterion run: each kernel's achieved bytes per second beside the
//! bandwidth references measured in the same run, and each target of the kernels issue with how
//! far it is met or missed. Printed at the end of `cargo bench --bench kernels` and by the
//! `roofline` binary.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// `writeln!` into a `String` (infallible).
macro_rules! outln {
    ($out:expr, $($arg:tt)*) => {{
        use std::fmt::Write as _;
        let _ = writeln!($out, $($arg)*);
    }};
}

/// One benchmark of the last run.
struct Row {
    id: String,
    median_ns: f64,
    bytes: Option<u64>,
    /// When criterion wrote the estimate: references come from the newest run, not the best one.
    written: std::time::SystemTime,
}

impl Row {
    fn gbps(&self) -> Option<f64> {
        self.bytes.map(|b| b as f64 / self.median_ns)
    }
}

/// A target from the kernels issue.
enum Goal {
    /// Median time at most this many microseconds.
    MaxMicros(f64),
    /// Achieved bandwidth at least this fraction of the named reference.
    MinShare(f64, Reference),
}

#[derive(Clone, Copy)]
enum Reference {
    CpuDramAll,
    CudaCopy,
}

/// (id substring, goal, description)
fn goals() -> Vec<(&'static str, Goal, &'static str)> {
    vec![
        (
            "paged_attention/bf16/decode_b16_h32_kv8_d128_ctx4096",
            Goal::MinShare(0.70, Reference::CpuDramAll),
            "paged decode, KV in DRAM ≥ 70 % of DRAM read",
        ),
        (
            "sampling/f32/greedy_v128256",
            Goal::MaxMicros(5.0),
            "greedy ≤ 5 µs",
        ),
        (
            "sampling/f32/top_k50_v128256_sigma3",
            Goal::MaxMicros(20.0),
            "top-k 50 ≤ 20 µs",
        ),
        (
            "sampling/f32/top_p0.9_v128256_sigma3",
            Goal::MaxMicros(20.0),
            "top-p 0.9 ≤ 20 µs",
        ),
        (
            "sampling/f32/min_p0.1_v128256_sigma3",
            Goal::MaxMicros(20.0),
            "min-p 0.1 ≤ 20 µs",
        ),
        (
            "logits_mask/f32/b1_v128256_allowed0.5",
            Goal::MaxMicros(4.0),
            "mask one 128k row ≤ 4 µs",
        ),
        (
            "cuda/paged_attention/bf16/decode_b64_h32_kv8_d128_ctx4096",
            Goal::MinShare(0.70, Reference::CudaCopy),
            "H100 paged decode ≥ 70 % of copy bandwidth",
        ),
        (
            "cuda/logits_mask/f32/b256_v128256",
            Goal::MinShare(0.50, Reference::CudaCopy),
            "H100 mask batch 256 ≥ 50 % of copy bandwidth",
        ),
    ]
}

fn read_json(path: &Path) -> Option<Value> {
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

fn collect(dir: &Path, out: &mut Vec<Row>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if !path.is_dir() {
            continue;
        }
        if path.file_name().is_some_and(|n| n == "new") {
            let (Some(bench), Some(est)) = (
                read_json(&path.join("benchmark.json")),
                read_json(&path.join("estimates.json")),
            ) else {
                continue;
            };
            let id = bench["full_id"].as_str().unwrap_or_default();
            // Criterion prefixes the group name; our IDs already carry the op.
            let id = id.split_once('/').map_or(id, |(_, rest)| rest).to_owned();
            let median_ns = est["median"]["point_estimate"].as_f64().unwrap_or(f64::NAN);
            // Element-rate benches (engine components) have no bytes and no roofline row.
            let bytes = bench["throughput"]["Bytes"].as_u64();
            let written = std::fs::metadata(path.join("estimates.json"))
                .and_then(|m| m.modified())
                .unwrap_or(std::time::UNIX_EPOCH);
            out.push(Row {
                id,
                median_ns,
                bytes,
                written,
            });
        } else {
            collect(&path, out);
        }
    }
}

fn fmt_time(ns: f64) -> String {
    if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.2} µs", ns / 1e3)
    } else {
        format!("{ns:.0} ns")
    }
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    format!(
        "{cpu}, {} hardware threads",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    )
}

/// The criterion output folder: `$CRITERION_HOME`, else `$CARGO_TARGET_DIR/criterion`, else
/// `target/criterion` at the workspace root.
pub fn criterion_dir() -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return PathBuf::from(home);
    }
    if let Some(target) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(target).join("criterion");
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/criterion")
}

/// The median time in nanoseconds of every criterion result under `dir` written at or after
/// `since` (`None`: every result), by benchmark ID (without the group prefix), sorted by ID.
pub fn medians(dir: &Path, since: Option<std::time::SystemTime>) -> Vec<(String, f64)> {
    let mut rows = Vec::new();
    collect(dir, &mut rows);
    rows.retain(|r| since.is_none_or(|since| r.written >= since));
    rows.sort_by(|a, b| a.id.cmp(&b.id));
    rows.into_iter().map(|r| (r.id, r.median_ns)).collect()
}

/// Renders the markdown table for the criterion results under `dir` written at or after `since`
/// (`None`: every result); `None` when there are none.
pub fn render(dir: &Path, since: Option<std::time::SystemTime>) -> Option<String> {
    let mut out = String::new();
    let mut rows = Vec::new();
    collect(dir, &mut rows);
    rows.retain(|r| r.bytes.is_some() && since.is_none_or(|since| r.written >= since));
    if rows.is_empty() {
        return None;
    }
    rows.sort_by(|a, b| a.id.cmp(&b.id));
    // The most recently written matching reference (the same run as the kernels beside it).
    let find = |pred: &dyn Fn(&str) -> bool| {
        rows.iter()
            .filter(|r| pred(&r.id))
            .max_by_key(|r| r.written)
            .and_then(Row::gbps)
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let dram_all =
        find(&|id| id.contains("bandwidth_read/f32/dram") && id.ends_with(&format!("_t{threads}")));
    let dram_1 = find(&|id| id.contains("bandwidth_read/f32/dram") && id.ends_with("_t1"));
    let l2_1 = find(&|id| id.contains("bandwidth_read/f32/l2_"));
    let l2_write = find(&|id| id.contains("bandwidth_write/f32/l2_"));
    let cuda_copy = find(&|id| id.starts_with("cuda/bandwidth_copy"));
    let pct = |v: Option<f64>, r: Option<f64>| match (v, r) {
        (Some(v), Some(r)) => format!("{:.0} %", 100.0 * v / r),
        _ => "–".into(),
    };
    let gb = |v: Option<f64>| v.map_or("–".into(), |v| format!("{v:.1}"));

    outln!(out, "# Kernel roofline\n");
    outln!(
        out,
        "Machine: {}. Criterion results from `{}`.\n",
        machine(),
        dir.display()
    );
    outln!(
        out,
        "References measured in the same run (GB/s): DRAM read, all {threads} threads: {}; DRAM read, 1 thread: {}; L2 read, 1 thread: {}; L2 write, 1 thread: {}; CUDA device copy: {}.\n",
        gb(dram_all),
        gb(dram_1),
        gb(l2_1),
        gb(l2_write),
        gb(cuda_copy)
    );
    outln!(
        out,
        "| benchmark | median | GB/s | % DRAM read (all threads) | % DRAM read (1 thread) | % L2 read (1 thread) | % CUDA copy |"
    );
    outln!(out, "|---|---:|---:|---:|---:|---:|---:|");
    for r in &rows {
        let v = r.gbps();
        let cuda = r.id.starts_with("cuda/");
        outln!(
            out,
            "| `{}` | {} | {} | {} | {} | {} | {} |",
            r.id,
            fmt_time(r.median_ns),
            gb(v),
            if cuda { "–".into() } else { pct(v, dram_all) },
            if cuda { "–".into() } else { pct(v, dram_1) },
            if cuda { "–".into() } else { pct(v, l2_1) },
            if cuda {
                pct(v, cuda_copy)
            } else {
                "–".into()
            },
        );
    }
    outln!(
        out,
        "\n## Targets\n\n| target | benchmark | measured | verdict |\n|---|---|---:|---|"
    );
    let by_id: BTreeMap<&str, &Row> = rows.iter().map(|r| (r.id.as_str(), r)).collect();
    for (pattern, goal, what) in goals() {
        let Some((id, row)) = by_id.iter().find(|(id, _)| id.contains(pattern)) else {
            outln!(out, "| {what} | `{pattern}` | not run | – |");
            continue;
        };
        let (measured, verdict) = match goal {
            Goal::MaxMicros(limit) => {
                let us = row.median_ns / 1e3;
                let v = if us <= limit {
                    format!("met ({:.0} % of budget)", 100.0 * us / limit)
                } else {
                    format!("missed by {:.0} %", 100.0 * (us / limit - 1.0))
                };
                (format!("{us:.2} µs"), v)
            }
            Goal::MinShare(share, reference) => {
                let r = match reference {
                    Reference::CpuDramAll => dram_all,
                    Reference::CudaCopy => cuda_copy,
                };
                match (row.gbps(), r) {
                    (Some(v), Some(r)) => {
                        let got = v / r;
                        let verdict = if got >= share {
                            "met".to_owned()
                        } else {
                            format!("missed by {:.0} points", 100.0 * (share - got))
                        };
                        (format!("{:.0} % ({v:.1} GB/s)", 100.0 * got), verdict)
                    }
                    _ => ("–".into(), "reference missing".into()),
                }
            }
        };
        outln!(out, "| {what} | `{id}` | {measured} | {verdict} |");
    }
    Some(out)
}
