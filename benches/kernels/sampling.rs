//! Sampling benchmarks: greedy, top-k, top-p, min-p and plain temperature on one row
//! (single thread, L2-resident for 128k vocabularies) and on a batch of 64 rows (rayon, DRAM),
//! for logits drawn normal with σ 2..4 and a flat case (uniform in [-1, 1)), beside the
//! sort-based reference measured in the same run. Quick profile: the four filters and the
//! reference at 128k, σ 3; full: 13 shapes.
//!
//! Shapes: `{filter}_v{vocab}_{sigma3|flat}`, batches prefixed `b64_`, the reference
//! `sort_ref_{filter}_...`. Throughput: the logits bytes, read once.

use std::time::Duration;

use criterion::{BenchmarkGroup, Criterion, Throughput, measurement::WallTime};
use dyno_benches::{Profile, bench_id, cpu_label, fixtures, profile};
use dyno_kernels::sampling::{RandomSampling, RowParams, SamplingArgs, reference};
use dyno_kernels::{CpuBackend, SamplingOp};

/// One benchmarked configuration.
#[derive(Clone, Copy)]
struct Case {
    rows: usize,
    vocab: usize,
    /// `None`: flat (uniform in [-1, 1)).
    sigma: Option<f32>,
    filter: Filter,
}

#[derive(Clone, Copy)]
enum Filter {
    Greedy,
    Temperature,
    TopK(u32),
    TopP(f32),
    MinP(f32),
}

impl Filter {
    fn name(self) -> String {
        match self {
            Filter::Greedy => "greedy".into(),
            Filter::Temperature => "temp1".into(),
            Filter::TopK(k) => format!("top_k{k}"),
            Filter::TopP(p) => format!("top_p{p}"),
            Filter::MinP(p) => format!("min_p{p}"),
        }
    }

    fn row(self, seed: u64) -> RowParams<'static> {
        let p = RandomSampling::new(1.0, seed, 0);
        match self {
            Filter::Greedy => RowParams::greedy(),
            Filter::Temperature => RowParams::random(p),
            Filter::TopK(k) => RowParams::random(p.with_top_k(k)),
            Filter::TopP(top_p) => RowParams::random(p.with_top_p(top_p)),
            Filter::MinP(min_p) => RowParams::random(p.with_min_p(min_p)),
        }
    }
}

impl Case {
    fn shape(&self) -> String {
        let batch = if self.rows > 1 {
            format!("b{}_", self.rows)
        } else {
            String::new()
        };
        let dist = match (self.filter, self.sigma) {
            (Filter::Greedy, _) => String::new(),
            (_, Some(s)) => format!("_sigma{s}"),
            (_, None) => "_flat".into(),
        };
        format!("{batch}{}_v{}{dist}", self.filter.name(), self.vocab)
    }

    fn logits(&self) -> Vec<f32> {
        let n = self.rows * self.vocab;
        match self.sigma {
            Some(s) => fixtures::normal_logits(n, s, 11),
            None => fixtures::uniform(n, 11),
        }
    }

    fn params(&self) -> Vec<RowParams<'static>> {
        (0..self.rows as u64).map(|r| self.filter.row(r)).collect()
    }
}

fn cases() -> (Vec<Case>, Vec<Case>) {
    let v = 128_256;
    let one = |vocab, sigma, filter| Case {
        rows: 1,
        vocab,
        sigma,
        filter,
    };
    let filters = [Filter::TopK(50), Filter::TopP(0.9), Filter::MinP(0.1)];
    let mut fast = vec![one(v, None, Filter::Greedy)];
    fast.extend(filters.map(|f| one(v, Some(3.0), f)));
    let sort_ref = vec![one(v, Some(3.0), Filter::TopP(0.9))];
    if profile() == Profile::Full {
        // Each shape costs ~10 s of criterion time here: the grid covers σ 2..4 and the flat
        // case for top-p (the filter whose cost depends on the distribution), plain
        // temperature, the other vocabularies and a 64-row batch.
        for sigma in [2.0, 4.0] {
            fast.push(one(v, Some(sigma), Filter::TopP(0.9)));
        }
        fast.push(one(v, None, Filter::TopP(0.9)));
        fast.push(one(v, Some(3.0), Filter::Temperature));
        for vocab in [32_000, 151_936] {
            fast.push(one(vocab, Some(3.0), Filter::TopP(0.9)));
        }
        for filter in [Filter::Greedy, Filter::TopP(0.9)] {
            fast.push(Case {
                rows: 64,
                ..one(v, Some(3.0), filter)
            });
        }
    }
    (fast, sort_ref)
}

fn run(
    g: &mut BenchmarkGroup<'_, WallTime>,
    id: String,
    case: &Case,
    f: impl Fn(&Vec<f32>, &SamplingArgs<'_>),
) {
    let logits = case.logits();
    let params = case.params();
    let args = SamplingArgs {
        num_rows: case.rows,
        vocab_size: case.vocab,
        rows: &params,
    };
    g.throughput(Throughput::Bytes((4 * logits.len()) as u64));
    g.bench_function(id, |b| b.iter(|| f(&logits, &args)));
}

/// Registers the sampling benchmarks.
pub fn bench(c: &mut Criterion) {
    let cpu = CpuBackend::new();
    let label = cpu_label(&cpu);
    let (fast, sort_ref) = cases();
    let mut g = c.benchmark_group("sampling");
    if profile() == Profile::Full {
        // Criterion's analysis and plots cost ~8 s per shape on a 2-vCPU box: shorter
        // measurements keep the full grid near two minutes.
        g.warm_up_time(Duration::from_millis(300))
            .measurement_time(Duration::from_secs(1));
    }
    for case in &fast {
        if case.rows > 1 {
            // Batches take milliseconds per call: few samples keep the run short.
            g.sample_size(10);
        }
        let id = bench_id(&label, "sampling", "f32", &case.shape());
        run(&mut g, id, case, |l, a| {
            cpu.sample(l, a).expect("valid args");
        });
    }
    // The sort-based reference takes tens of ms per row: few samples as well.
    g.sample_size(10);
    for case in &sort_ref {
        let id = bench_id(
            &label,
            "sampling",
            "f32",
            &format!("sort_ref_{}", case.shape()),
        );
        run(&mut g, id, case, |l, a| {
            reference::sample(l, a).expect("valid args");
        });
    }
    g.finish();
    #[cfg(feature = "cuda")]
    if let Some(cuda) = dyno_benches::cuda_backend() {
        bench_cuda(c, &cuda);
    }
}

#[cfg(feature = "cuda")]
fn bench_cuda(c: &mut Criterion, cuda: &dyno_kernels::cuda::CudaBackend) {
    use dyno_kernels::Backend;
    use std::time::Instant;
    let mut g = c.benchmark_group("sampling_cuda");
    let v = 128_256;
    for (rows, filter) in [
        (1, Filter::Greedy),
        (1, Filter::TopK(50)),
        (1, Filter::TopP(0.9)),
        (64, Filter::TopP(0.9)),
        (256, Filter::TopP(0.9)),
    ] {
        let case = Case {
            rows,
            vocab: v,
            sigma: Some(3.0),
            filter,
        };
        let params = case.params();
        let args = SamplingArgs {
            num_rows: rows,
            vocab_size: v,
            rows: &params,
        };
        let logits = cuda.upload(&case.logits()).expect("upload");
        g.throughput(Throughput::Bytes((4 * rows * v) as u64));
        g.bench_function(bench_id("cuda", "sampling", "f32", &case.shape()), |b| {
            // `sample` returns host results, so every call ends synchronised.
            b.iter_custom(|iters| {
                cuda.synchronize().expect("sync");
                let start = Instant::now();
                for _ in 0..iters {
                    cuda.sample(&logits, &args).expect("valid args");
                }
                start.elapsed().max(Duration::from_nanos(1))
            })
        });
    }
    g.finish();
}
