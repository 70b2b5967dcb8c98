//! Logits-mask benchmarks: one 128k row (L2-resident, single thread) and batches that spill to DRAM.

use criterion::{Criterion, Throughput};
use dyno_benches::{Profile, bench_id, cpu_label, fixtures, profile};
use dyno_kernels::logits_mask::{LogitsMaskArgs, words_per_row};
use dyno_kernels::{CpuBackend, LogitsMaskOp};

/// Least bytes the op must move: read every mask word, write `-inf` over every disallowed logit.
fn least_bytes(mask: &[u32], vocab: usize) -> u64 {
    let words = words_per_row(vocab);
    let disallowed: u64 = mask
        .chunks(words)
        .map(|row| vocab as u64 - row.iter().map(|w| u64::from(w.count_ones())).sum::<u64>())
        .sum();
    4 * mask.len() as u64 + 4 * disallowed
}

/// Registers the logits-mask benchmarks.
pub fn bench(c: &mut Criterion) {
    let cpu = CpuBackend::new();
    let label = cpu_label(&cpu);
    let mut g = c.benchmark_group("logits_mask");
    let mut cases: Vec<(usize, usize, f64)> =
        vec![(1, 128_256, 0.5), (1, 128_256, 0.999), (1, 128_256, 0.001)];
    if profile() == Profile::Full {
        cases.extend([
            (1, 32_000, 0.5),
            (1, 151_936, 0.5),
            (8, 128_256, 0.5),
            (64, 128_256, 0.5),
            (256, 128_256, 0.5),
        ]);
    }
    for (rows, vocab, allowed) in cases {
        let mask = fixtures::random_mask(rows, vocab, allowed, 7);
        // The row always allows token 0, so no case is the all-disallowed error.
        let mask: Vec<u32> = mask
            .chunks(words_per_row(vocab))
            .flat_map(|r| {
                let mut r = r.to_vec();
                r[0] |= 1;
                r
            })
            .collect();
        let logits = fixtures::normal_logits(rows * vocab, 3.0, 11);
        let args = LogitsMaskArgs {
            num_rows: rows,
            vocab_size: vocab,
            rows: None,
        };
        g.throughput(Throughput::Bytes(least_bytes(&mask, vocab)));
        let shape = format!("b{rows}_v{vocab}_allowed{allowed}");
        let mut work = logits.clone();
        g.bench_function(bench_id(&label, "logits_mask", "f32", &shape), |b| {
            // Masking is idempotent and its work depends only on the mask words, so every
            // iteration does the same loads and stores on the same (cache-resident) row, as on a
            // row the model just produced.
            b.iter(|| {
                cpu.apply_logits_mask(&mut work, &mask, &args)
                    .expect("valid mask")
            })
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
    use std::time::{Duration, Instant};
    let mut g = c.benchmark_group("logits_mask_cuda");
    for rows in [1usize, 64, 256, 4096] {
        let vocab = 128_256;
        let mask = fixtures::random_mask(rows, vocab, 0.5, 7);
        let logits = fixtures::normal_logits(rows * vocab, 3.0, 11);
        let args = LogitsMaskArgs {
            num_rows: rows,
            vocab_size: vocab,
            rows: None,
        };
        let mut d_logits = cuda.upload(&logits).expect("upload");
        let d_mask = cuda.upload(&mask).expect("upload");
        g.throughput(Throughput::Bytes(least_bytes(&mask, vocab)));
        let shape = format!("b{rows}_v{vocab}_allowed0.5");
        g.bench_function(bench_id("cuda", "logits_mask", "f32", &shape), |b| {
            b.iter_custom(|iters| {
                cuda.synchronize().expect("sync");
                let start = Instant::now();
                for _ in 0..iters {
                    cuda.apply_logits_mask(&mut d_logits, &d_mask, &args)
                        .expect("launch");
                }
                cuda.synchronize().expect("sync");
                start.elapsed().max(Duration::from_nanos(1))
            })
        });
    }
    g.finish();
}
