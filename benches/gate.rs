//! The regression gate's own suite (`dyno regress run --suite gate`, `dyno regress calibrate`):
//! a small, fast subset of the kernels suite whose processes start in milliseconds, so a gate
//! can afford a fresh process per block, plus the slowdown injection that calibration needs.
//!
//! # Injected slowdowns
//! Calibration measures the gate's power on real slowdowns of known size. Each benchmark here
//! can do a proportional share of **extra real work of the same kind**: with a slowdown `s`,
//! an accumulator adds `s` per iteration and every time it passes 1 the iteration calls the
//! kernel once more, so on average the iteration does `1 + s` kernel calls (no sleeps, no
//! spin-waits). `s` comes from
//! - the run-time knob `DYNO_BENCH_INJECT_SLOWDOWN=0.02` (read once per process), plus
//! - the compile-time constant `DYNO_BENCH_INJECT_SLOWDOWN_BUILD` (read with `option_env!` when
//!   the bench is compiled: `DYNO_BENCH_INJECT_SLOWDOWN_BUILD=0.05 cargo build --release ...`),
//!   which makes a second binary that is slower by construction.
//!
//! Both default to 0, and then the extra call never happens: the bench measures the kernel.
//!
//! # Lock-step mode
//! Started with `--dyno-lockstep`, the binary does not run criterion: it serves the gate's
//! lock-step protocol on stdin/stdout (`dyno_regress::lockstep`), timing the very closures
//! criterion times, in slices of the iteration count the driver asks for.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group};
use dyno_benches::{bench_id, cpu_label, fixtures};
use dyno_kernels::logits_mask::{LogitsMaskArgs, words_per_row};
use dyno_kernels::{CpuBackend, Isa, LogitsMaskOp, bandwidth};
use dyno_regress::lockstep;

/// The injected slowdown of this process: the build-time constant plus the run-time knob.
fn injected_slowdown() -> f64 {
    let parse = |name: &str, text: &str| -> f64 {
        match text.trim().parse::<f64>() {
            Ok(v) if v.is_finite() && v >= 0.0 => v,
            _ => panic!("{name}={text:?} must be a non-negative fraction such as 0.02"),
        }
    };
    let built = option_env!("DYNO_BENCH_INJECT_SLOWDOWN_BUILD")
        .map_or(0.0, |t| parse("DYNO_BENCH_INJECT_SLOWDOWN_BUILD", t));
    let run = std::env::var("DYNO_BENCH_INJECT_SLOWDOWN")
        .map_or(0.0, |t| parse("DYNO_BENCH_INJECT_SLOWDOWN", &t));
    built + run
}

/// Calls `work` once per iteration, plus once more whenever the slowdown accumulator passes 1.
struct Injector {
    share: f64,
    debt: f64,
}

impl Injector {
    fn new(share: f64) -> Self {
        Injector { share, debt: 0.0 }
    }

    #[inline]
    fn run(&mut self, mut work: impl FnMut()) {
        work();
        if self.share > 0.0 {
            self.debt += self.share;
            while self.debt >= 1.0 {
                self.debt -= 1.0;
                work();
            }
        }
    }
}

/// The criterion group: ids are `gate/<bench_id>` in both modes.
const GROUP: &str = "gate";

/// One benchmark of the suite: its id, the bytes one iteration streams, and one iteration.
struct GateBench {
    id: String,
    bytes: u64,
    iteration: Box<dyn FnMut()>,
}

/// The suite, with slowdown `share` injected into every benchmark. Criterion and the lock-step
/// child run these same closures.
fn suite(share: f64) -> Vec<GateBench> {
    let mut out = Vec::new();
    for (isa, vocab, allowed) in [
        (None, 128_256, 0.5),
        (None, 128_256, 0.999),
        (None, 32_000, 0.5),
        (Some(Isa::Portable), 128_256, 0.5),
    ] {
        let cpu = isa.map_or_else(CpuBackend::new, CpuBackend::with_isa);
        let mut mask = fixtures::random_mask(1, vocab, allowed, 7);
        mask[0] |= 1;
        let mut logits = fixtures::normal_logits(vocab, 3.0, 11);
        let args = LogitsMaskArgs {
            num_rows: 1,
            vocab_size: vocab,
            rows: None,
        };
        let id = bench_id(
            &cpu_label(&cpu),
            "logits_mask",
            "f32",
            &format!("b1_v{vocab}_allowed{allowed}"),
        );
        let mut inject = Injector::new(share);
        out.push(GateBench {
            id,
            bytes: 4 * words_per_row(vocab) as u64,
            iteration: Box::new(move || {
                inject.run(|| {
                    cpu.apply_logits_mask(black_box(&mut logits), &mask, &args)
                        .expect("valid mask")
                })
            }),
        });
    }
    // An L2-resident streaming read: the bandwidth reference of the single-row kernels.
    let cpu = CpuBackend::new();
    let data: Vec<f32> = (0..128 * 1024).map(|i| (i % 1024) as f32).collect();
    let mut inject = Injector::new(share);
    out.push(GateBench {
        id: bench_id(&cpu_label(&cpu), "bandwidth_read", "f32", "l2_512kib_t1"),
        bytes: 4 * data.len() as u64,
        iteration: Box::new(move || {
            inject.run(|| {
                black_box(bandwidth::read(black_box(&data), 1, cpu.isa()));
            })
        }),
    });
    out
}

fn gate(c: &mut Criterion) {
    let mut g = c.benchmark_group(GROUP);
    for mut bench in suite(injected_slowdown()) {
        g.throughput(Throughput::Bytes(bench.bytes));
        g.bench_function(&bench.id, |b| b.iter(&mut bench.iteration));
    }
    g.finish();
}

/// `gate --dyno-lockstep`: the regression gate's lock-step child (see
/// `dyno_regress::lockstep`): the same benchmarks, timed in slices the driver asks for.
fn lockstep() {
    let mut benches: Vec<(String, lockstep::SliceFn<'_>)> = suite(injected_slowdown())
        .into_iter()
        .map(|mut b| {
            let run: lockstep::SliceFn<'_> = Box::new(move |iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    (b.iteration)();
                }
                start.elapsed()
            });
            (format!("{GROUP}/{}", b.id), run)
        })
        .collect();
    let stdin = std::io::stdin().lock();
    let stdout = std::io::stdout().lock();
    if let Err(e) = lockstep::serve(&mut benches, stdin, stdout) {
        eprintln!("lock-step child: {e}");
        std::process::exit(1);
    }
}

/// Short defaults (a gate block runs many processes); command-line flags override them.
fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(150))
        .measurement_time(Duration::from_millis(400))
        .sample_size(10)
        .nresamples(10_000)
        .configure_from_args()
}

criterion_group! {
    name = benches;
    config = config();
    targets = gate
}

fn main() {
    if std::env::args().any(|a| a == lockstep::FLAG) {
        lockstep();
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
