//! Machine profiles: the stable identity of a benchmarking machine.
//!
//! Only *stable, bucketed* facts go in (CPU model without its clock suffix, the ISA extensions
//! kernels dispatch on, logical core count, kernel major.minor, toolchain, architecture), never
//! clock speed, bogomips or anything else that drifts between boots. Two runs are comparable
//! only when their profiles are equal; [`MachineProfile::key`] names the baseline directory.

use serde::{Deserialize, Serialize};

/// ISA extensions that change which kernel code path runs (normalised: lower-case, no `.`/`_`).
pub const DISPATCH_ISA: [&str; 23] = [
    "sse42",
    "avx",
    "avx2",
    "fma",
    "f16c",
    "bmi2",
    "avxvnni",
    "avx512f",
    "avx512bw",
    "avx512cd",
    "avx512dq",
    "avx512vl",
    "avx512vnni",
    "avx512bf16",
    "avx512fp16",
    "avx512vbmi",
    "amxtile",
    "amxbf16",
    "amxint8",
    "neon",
    "asimd",
    "sve",
    "sve2",
];

/// Raw facts about a machine, as detected (e.g. from `/proc/cpuinfo`, `uname -r`, `rustc -vV`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MachineFacts {
    /// Target architecture, e.g. `x86_64`.
    pub arch: String,
    /// CPU model string, e.g. `Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz`.
    pub cpu_model: String,
    /// CPU feature flags in any spelling (`sse4_2`, `sse4.2`, `avx512_bf16`, ...); any order.
    pub cpu_flags: Vec<String>,
    /// Logical cores available to the benchmark.
    pub logical_cores: u32,
    /// Kernel release, e.g. `6.8.0-45-generic`.
    pub kernel_release: String,
    /// Toolchain, e.g. the first line of `rustc -vV` plus its commit hash.
    pub toolchain: String,
}

/// The bucketed, comparable identity of a machine.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MachineProfile {
    /// Target architecture, e.g. `x86_64`.
    pub arch: String,
    /// CPU model without clock suffix and trademark marks, whitespace collapsed.
    pub cpu_model: String,
    /// Dispatch-relevant ISA extensions ([`DISPATCH_ISA`]), sorted and de-duplicated.
    pub isa: Vec<String>,
    /// Logical cores.
    pub logical_cores: u32,
    /// Kernel `major.minor`.
    pub kernel: String,
    /// Toolchain identity, whitespace collapsed.
    pub toolchain: String,
}

impl MachineProfile {
    /// Buckets raw facts into a profile.
    pub fn from_facts(facts: &MachineFacts) -> MachineProfile {
        let mut isa: Vec<String> = facts
            .cpu_flags
            .iter()
            .map(|f| f.to_ascii_lowercase().replace(['.', '_', '-'], ""))
            .filter(|f| DISPATCH_ISA.contains(&f.as_str()))
            .collect();
        isa.sort();
        isa.dedup();
        MachineProfile {
            arch: collapse(&facts.arch),
            cpu_model: bucket_cpu_model(&facts.cpu_model),
            isa,
            logical_cores: facts.logical_cores,
            kernel: kernel_major_minor(&facts.kernel_release),
            toolchain: collapse(&facts.toolchain),
        }
    }

    /// Directory-safe key, `{arch}-{cpu slug}-{cores}c-{hash}`, e.g.
    /// `x86_64-intel-xeon-platinum-8481c-cpu-2c-1a2b3c4d`. The 8-hex-digit hash (FNV-1a over
    /// every field) separates profiles that share CPU and core count but differ elsewhere.
    pub fn key(&self) -> String {
        let canonical = serde_json::to_string(self).expect("a profile always serializes");
        let hash = fnv1a64(canonical.as_bytes());
        format!(
            "{}-{}-{}c-{:08x}",
            slug(&self.arch),
            slug(&self.cpu_model),
            self.logical_cores,
            hash >> 32
        )
    }

    /// Names of the fields that differ from `other`, with both values, for error messages.
    pub fn differences(&self, other: &MachineProfile) -> Vec<String> {
        let mut out = Vec::new();
        let mut check = |name: &str, a: String, b: String| {
            if a != b {
                out.push(format!("{name}: {a:?} vs {b:?}"));
            }
        };
        check("arch", self.arch.clone(), other.arch.clone());
        check("cpu_model", self.cpu_model.clone(), other.cpu_model.clone());
        check("isa", self.isa.join(","), other.isa.join(","));
        check(
            "logical_cores",
            self.logical_cores.to_string(),
            other.logical_cores.to_string(),
        );
        check("kernel", self.kernel.clone(), other.kernel.clone());
        check("toolchain", self.toolchain.clone(), other.toolchain.clone());
        out
    }
}

/// Drops the clock suffix (`@ 2.70GHz`) and `(R)`/`(TM)` marks, collapses whitespace.
fn bucket_cpu_model(model: &str) -> String {
    let base = model.split('@').next().unwrap_or("");
    let cleaned = base
        .replace("(R)", " ")
        .replace("(r)", " ")
        .replace("(TM)", " ")
        .replace("(tm)", " ");
    collapse(&cleaned)
}

/// `6.8.0-45-generic` → `6.8`; anything without two numeric parts is kept whole.
fn kernel_major_minor(release: &str) -> String {
    let mut parts = release.trim().split(|c: char| !c.is_ascii_digit());
    match (parts.next(), parts.next()) {
        (Some(a), Some(b)) if !a.is_empty() && !b.is_empty() => format!("{a}.{b}"),
        _ => collapse(release),
    }
}

fn collapse(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Lower-case alphanumerics joined by single dashes, at most 48 characters.
fn slug(s: &str) -> String {
    let words: Vec<String> = s
        .split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
        .filter(|w| !w.is_empty())
        .map(str::to_ascii_lowercase)
        .collect();
    let mut out = words.join("-");
    out.truncate(48);
    out.trim_end_matches('-').to_string()
}

/// 64-bit FNV-1a: a tiny hash that is stable across Rust versions and platforms.
fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn facts() -> MachineFacts {
        MachineFacts {
            arch: "x86_64".into(),
            cpu_model: "Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz".into(),
            cpu_flags: [
                "fpu",
                "avx2",
                "sse4_2",
                "avx512_bf16",
                "avx512f",
                "hypervisor",
                "avx2",
            ]
            .map(String::from)
            .to_vec(),
            logical_cores: 2,
            kernel_release: "6.8.0-45-generic".into(),
            toolchain: "rustc 1.95.0  (f2d3ce0bd 2026-03-21)".into(),
        }
    }

    #[test]
    fn buckets_unstable_facts_away() {
        let p = MachineProfile::from_facts(&facts());
        assert_eq!(p.cpu_model, "Intel Xeon Platinum 8481C CPU");
        assert_eq!(p.isa, vec!["avx2", "avx512bf16", "avx512f", "sse42"]);
        assert_eq!(p.kernel, "6.8");
        assert_eq!(p.toolchain, "rustc 1.95.0 (f2d3ce0bd 2026-03-21)");
        // a different clock, flag order and kernel patch level give the same key
        let mut other = facts();
        other.cpu_model = "Intel(R) Xeon(R) Platinum 8481C CPU @ 3.10GHz".into();
        other.cpu_flags.reverse();
        other.kernel_release = "6.8.12-1".into();
        assert_eq!(MachineProfile::from_facts(&other).key(), p.key());
    }

    #[test]
    fn key_is_readable_and_distinguishes_profiles() {
        let p = MachineProfile::from_facts(&facts());
        let key = p.key();
        assert!(
            key.starts_with("x86_64-intel-xeon-platinum-8481c-cpu-2c-"),
            "{key}"
        );
        assert!(
            key.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
            "{key}"
        );
        let mut q = p.clone();
        q.toolchain = "rustc 1.96.0".into();
        assert_ne!(q.key(), key);
        assert_eq!(
            p.differences(&q),
            vec!["toolchain: \"rustc 1.95.0 (f2d3ce0bd 2026-03-21)\" vs \"rustc 1.96.0\""]
        );
    }
}
