//! The memory-bandwidth reference: streaming read and copy over buffers far larger than L3
//! (plus an L2-resident read for single-row kernels), measured in the same run as the kernels.

use criterion::{Criterion, Throughput};
use dyno_benches::{Profile, bench_id, cpu_label, profile};
use dyno_kernels::{CpuBackend, bandwidth};

const MIB: usize = 1 << 20;

/// Registers the bandwidth reference benchmarks.
pub fn bench(c: &mut Criterion) {
    let cpu = CpuBackend::new();
    let label = cpu_label(&cpu);
    let threads = rayon::current_num_threads();
    let dram_bytes = match profile() {
        Profile::Quick => 256 * MIB,
        Profile::Full => 1024 * MIB,
    };
    let mut g = c.benchmark_group("bandwidth");
    let big: Vec<f32> = (0..dram_bytes / 4).map(|i| (i % 1024) as f32).collect();
    let mut thread_counts = vec![1];
    if threads > 1 {
        thread_counts.push(threads);
    }
    for &t in &thread_counts {
        g.throughput(Throughput::Bytes(dram_bytes as u64));
        let id = bench_id(
            &label,
            "bandwidth_read",
            "f32",
            &format!("dram_{}mib_t{t}", dram_bytes / MIB),
        );
        g.bench_function(id, |b| b.iter(|| bandwidth::read(&big, t, cpu.isa())));
    }
    let half = &big[..big.len() / 2];
    let mut dst = vec![0f32; half.len()];
    for &t in &thread_counts {
        // A copy reads and writes every byte.
        g.throughput(Throughput::Bytes(2 * 4 * half.len() as u64));
        let id = bench_id(
            &label,
            "bandwidth_copy",
            "f32",
            &format!("dram_{}mib_t{t}", dram_bytes / 2 / MIB),
        );
        g.bench_function(id, |b| b.iter(|| bandwidth::copy(half, &mut dst, t)));
    }
    drop(big);
    // 512 KiB: the size of one 128k-vocab f32 logits row, resident in L2.
    let l2: Vec<f32> = vec![1.0; 128 * 1024];
    g.throughput(Throughput::Bytes(4 * l2.len() as u64));
    g.bench_function(
        bench_id(&label, "bandwidth_read", "f32", "l2_512kib_t1"),
        |b| b.iter(|| bandwidth::read(&l2, 1, cpu.isa())),
    );
    let mut l2w: Vec<f32> = vec![1.0; 128 * 1024];
    g.bench_function(
        bench_id(&label, "bandwidth_write", "f32", "l2_512kib_t1"),
        |b| b.iter(|| bandwidth::write(&mut l2w, f32::NEG_INFINITY, 1)),
    );
    g.finish();
    #[cfg(feature = "cuda")]
    if let Some(cuda) = dyno_benches::cuda_backend() {
        bench_cuda(c, &cuda);
    }
}

/// Device-to-device copy of 1 GiB: the denominator for the CUDA kernels.
#[cfg(feature = "cuda")]
fn bench_cuda(c: &mut Criterion, cuda: &dyno_kernels::cuda::CudaBackend) {
    use dyno_kernels::Backend;
    use std::time::{Duration, Instant};
    let bytes = 1024 * MIB;
    let src = cuda.alloc_zeros::<f32>(bytes / 4).expect("alloc");
    let mut dst = cuda.alloc_zeros::<f32>(bytes / 4).expect("alloc");
    let mut g = c.benchmark_group("bandwidth_cuda");
    g.throughput(Throughput::Bytes(2 * bytes as u64));
    g.bench_function(
        bench_id("cuda", "bandwidth_copy", "f32", "dram_1024mib"),
        |b| {
            b.iter_custom(|iters| {
                cuda.synchronize().expect("sync");
                let start = Instant::now();
                for _ in 0..iters {
                    cuda.copy(&src, &mut dst).expect("copy");
                }
                cuda.synchronize().expect("sync");
                start.elapsed().max(Duration::from_nanos(1))
            })
        },
    );
    g.finish();
}
