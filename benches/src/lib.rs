//! dyno-benches: criterion microbenchmarks of dyno's kernels (and later engine components), the
//! shared fixtures they use, and the roofline report that puts every kernel beside the memory
//! bandwidth measured in the same run.
//!
//! # Key items
//! - [`profile`]: `DYNO_BENCH_PROFILE=quick` (CI smoke, fewer shapes, short timings) or `full`
//!   (default for `cargo bench`).
//! - [`bench_id`]: the stable `{backend}/{op}/{dtype}/{shape}` IDs; they are API (baselines key on them).
//! - [`fixtures`]: seeded random inputs; never downloads anything.
//! - `src/bin/roofline.rs`: reads `target/criterion` and prints each kernel's GB/s and its share
//!   of the bandwidth reference (`cargo run -p dyno-benches --bin roofline`).
//!
//! # Usage
//! ```text
//! cargo bench -p dyno-benches --bench kernels -- --quick   # quick profile, ends with the roofline table
//! cargo bench -p dyno-benches --bench kernels              # full run (< 10 min here)
//! cargo run -p dyno-benches --release --bin roofline       # the table of the last run again
//! ```

pub mod fixtures;
pub mod roofline;

use std::time::Duration;

use criterion::Criterion;

/// How much of the shape grid to run and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// Short timings and the representative shapes only (CI smoke runs, `--test`).
    Quick,
    /// Every shape with criterion timings long enough for stable medians.
    Full,
}

/// The profile: `Quick` when the bench was given `--quick` or `--test` (criterion's own flags)
/// or `DYNO_BENCH_PROFILE=quick`; `Full` otherwise.
pub fn profile() -> Profile {
    let quick_flag = std::env::args().any(|a| a == "--quick" || a == "--test");
    match std::env::var("DYNO_BENCH_PROFILE").as_deref() {
        Ok("quick") => Profile::Quick,
        Ok("full") => Profile::Full,
        _ if quick_flag => Profile::Quick,
        _ => Profile::Full,
    }
}

/// Whether this process only checks that benches run (`--test`, `--list`): no report then.
pub fn smoke_only() -> bool {
    std::env::args().any(|a| a == "--test" || a == "--list")
}

/// Criterion configured for the current [`profile`]; command-line flags (`--warm-up-time`,
/// `--measurement-time`, `--sample-size`, ...) are applied last, so they win.
pub fn criterion_config() -> Criterion {
    let c = Criterion::default();
    let c = match profile() {
        Profile::Quick => c
            .warm_up_time(Duration::from_millis(200))
            .measurement_time(Duration::from_millis(600))
            .sample_size(10),
        Profile::Full => c
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(2))
            .sample_size(30),
    };
    c.configure_from_args()
}

/// The stable benchmark ID `{backend}/{op}/{dtype}/{shape}`.
pub fn bench_id(backend: &str, op: &str, dtype: &str, shape: &str) -> String {
    format!("{backend}/{op}/{dtype}/{shape}")
}

/// The CPU backend label used in IDs: `cpu` plus the ISA path that runs, e.g. `cpu-avx512`.
pub fn cpu_label(cpu: &dyno_kernels::CpuBackend) -> String {
    format!("cpu-{}", cpu.isa().as_str())
}

/// The CUDA backend when one is present, else `None` (benches then run CPU only).
#[cfg(feature = "cuda")]
pub fn cuda_backend() -> Option<dyno_kernels::cuda::CudaBackend> {
    match dyno_kernels::cuda::CudaBackend::new(0) {
        Ok(b) => Some(b),
        Err(e) => {
            eprintln!("note: CUDA benches skipped: {e}");
            None
        }
    }
}
