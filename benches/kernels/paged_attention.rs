//! Paged-attention benchmarks: decode over a KV cache in DRAM (Llama-3-8B and Qwen2.5-0.5B head
//! shapes, bf16 and f32), a 512-token prefill and a chunked-prefill extend step; the H100 decode
//! shape on CUDA when a device is present.
//!
//! The KV cache is a pool of at least [`POOL_BYTES`] (far larger than any last-level cache) with
//! shuffled block ids, partitioned into disjoint block-table sets that successive iterations
//! rotate through, so every iteration streams blocks from DRAM, not from the previous
//! iteration's cache lines. `Throughput::Bytes` is the least the kernel must move: every attended
//! K and V row once (per KV head) plus the f32 query and output.

use criterion::{BenchmarkGroup, Criterion, Throughput, measurement::WallTime};
use dyno_benches::{Profile, bench_id, cpu_label, fixtures, profile};
use dyno_kernels::paged_attention::PagedAttentionArgs;
use dyno_kernels::{CpuBackend, FloatElem, PagedAttentionOp};
use half::bf16;
use rand::seq::SliceRandom;

/// Smallest KV pool (K + V) per shape, bytes.
const POOL_BYTES: usize = 1 << 30;
const BLOCK_SIZE: usize = 16;

#[derive(Debug, Clone, Copy)]
enum Step {
    /// One new token per sequence.
    Decode,
    /// The whole context is new (q_len = ctx).
    Prefill,
    /// `q_len` new tokens on top of a cached prefix.
    Extend,
}

/// One benchmarked call shape (all sequences alike).
#[derive(Debug, Clone, Copy)]
struct Shape {
    step: Step,
    batch: usize,
    heads: usize,
    kv_heads: usize,
    head_size: usize,
    q_len: usize,
    ctx: usize,
}

impl Shape {
    const fn decode(
        batch: usize,
        heads: usize,
        kv_heads: usize,
        head_size: usize,
        ctx: usize,
    ) -> Self {
        Shape {
            step: Step::Decode,
            batch,
            heads,
            kv_heads,
            head_size,
            q_len: 1,
            ctx,
        }
    }

    /// The shape part of the bench ID, e.g. `decode_b16_h32_kv8_d128_ctx4096_bs16`.
    fn id(&self) -> String {
        let (b, h, kv, d, q, ctx) = (
            self.batch,
            self.heads,
            self.kv_heads,
            self.head_size,
            self.q_len,
            self.ctx,
        );
        match self.step {
            Step::Decode => format!("decode_b{b}_h{h}_kv{kv}_d{d}_ctx{ctx}_bs{BLOCK_SIZE}"),
            Step::Prefill => format!("prefill_b{b}_h{h}_kv{kv}_d{d}_q{q}_bs{BLOCK_SIZE}"),
            Step::Extend => format!("extend_b{b}_h{h}_kv{kv}_d{d}_q{q}_ctx{ctx}_bs{BLOCK_SIZE}"),
        }
    }

    fn blocks_per_seq(&self) -> usize {
        self.ctx.div_ceil(BLOCK_SIZE)
    }

    /// Least bytes moved: each attended K and V row once, the f32 query and output.
    fn least_bytes(&self, elem: usize) -> u64 {
        let kv = 2 * self.batch * self.kv_heads * self.ctx * self.head_size * elem;
        let q_out = 2 * self.batch * self.q_len * self.heads * self.head_size * 4;
        (kv + q_out) as u64
    }
}

/// A KV pool and the rotating block-table sets of one shape.
struct Fixture<T> {
    key_cache: Vec<T>,
    value_cache: Vec<T>,
    num_blocks: usize,
    tables: Vec<Vec<i32>>,
    query_start_loc: Vec<u32>,
    context_lens: Vec<u32>,
    query: Vec<f32>,
}

impl<T: FloatElem> Fixture<T> {
    fn new(shape: &Shape, seed: u64) -> Self {
        let block_elems = shape.kv_heads * BLOCK_SIZE * shape.head_size;
        let needed = shape.batch * shape.blocks_per_seq();
        let pool_blocks = needed.max(POOL_BYTES / (2 * block_elems * size_of::<T>()));
        let mut ids: Vec<i32> = (0..pool_blocks as i32).collect();
        ids.shuffle(&mut fixtures::rng(seed));
        let tables = ids.chunks_exact(needed).map(<[i32]>::to_vec).collect();
        let tokens = shape.batch * shape.q_len;
        Fixture {
            key_cache: tiled(pool_blocks * block_elems, seed + 1),
            value_cache: tiled(pool_blocks * block_elems, seed + 2),
            num_blocks: pool_blocks,
            tables,
            query_start_loc: (0..=shape.batch)
                .map(|s| (s * shape.q_len) as u32)
                .collect(),
            context_lens: vec![shape.ctx as u32; shape.batch],
            query: fixtures::uniform(tokens * shape.heads * shape.head_size, seed + 3),
        }
    }

    fn args<'a>(&'a self, shape: &Shape, set: usize) -> PagedAttentionArgs<'a> {
        PagedAttentionArgs {
            num_heads: shape.heads,
            num_kv_heads: shape.kv_heads,
            head_size: shape.head_size,
            block_size: BLOCK_SIZE,
            num_blocks: self.num_blocks,
            query_start_loc: &self.query_start_loc,
            context_lens: &self.context_lens,
            block_tables: &self.tables[set % self.tables.len()],
            max_blocks_per_seq: shape.blocks_per_seq(),
            scale: 1.0 / (shape.head_size as f32).sqrt(),
            sliding_window: None,
        }
    }
}

/// `n` values in [-1, 1) as `T`: a seeded 64k-value pattern repeated (fast to build for GiBs).
fn tiled<T: FloatElem>(n: usize, seed: u64) -> Vec<T> {
    let pattern: Vec<T> = fixtures::uniform(1 << 16, seed)
        .into_iter()
        .map(T::from_f32)
        .collect();
    let mut v = Vec::with_capacity(n);
    while v.len() < n {
        let take = (n - v.len()).min(pattern.len());
        v.extend_from_slice(&pattern[..take]);
    }
    v
}

/// The CPU shape grid of the current profile.
fn cpu_shapes() -> Vec<(Shape, bool)> {
    const LLAMA: (usize, usize, usize) = (32, 8, 128);
    const QWEN: (usize, usize, usize) = (14, 2, 64);
    let d = |(h, kv, d): (usize, usize, usize), b, ctx| Shape::decode(b, h, kv, d, ctx);
    let prefill = |q| Shape {
        step: Step::Prefill,
        batch: 1,
        heads: 32,
        kv_heads: 8,
        head_size: 128,
        q_len: q,
        ctx: q,
    };
    // (shape, also as f32)
    let mut shapes = vec![
        (d(LLAMA, 16, 512), false),
        (d(QWEN, 4, 1024), false),
        (prefill(128), false),
    ];
    if profile() == Profile::Full {
        shapes.extend([
            (d(LLAMA, 16, 4096), true),
            (d(LLAMA, 1, 512), false),
            (d(LLAMA, 1, 8192), true),
            (d(LLAMA, 64, 2048), false),
            (d(QWEN, 1, 512), false),
            (d(QWEN, 16, 4096), true),
            (d(QWEN, 64, 8192), false),
            (prefill(512), false),
            (
                Shape {
                    step: Step::Extend,
                    batch: 4,
                    heads: 32,
                    kv_heads: 8,
                    head_size: 128,
                    q_len: 64,
                    ctx: 2048,
                },
                false,
            ),
        ]);
    }
    shapes
}

/// Registers the paged-attention benchmarks.
pub fn bench(c: &mut Criterion) {
    let cpu = CpuBackend::new();
    let label = cpu_label(&cpu);
    let mut g = c.benchmark_group("paged_attention");
    for (shape, with_f32) in cpu_shapes() {
        bench_cpu::<bf16>(&mut g, &cpu, &label, &shape);
        if with_f32 {
            bench_cpu::<f32>(&mut g, &cpu, &label, &shape);
        }
    }
    g.finish();
    #[cfg(feature = "cuda")]
    if let Some(cuda) = dyno_benches::cuda_backend() {
        bench_cuda(c, &cuda);
    }
}

fn bench_cpu<T: FloatElem>(
    g: &mut BenchmarkGroup<'_, WallTime>,
    cpu: &CpuBackend,
    label: &str,
    shape: &Shape,
) {
    let fx = Fixture::<T>::new(shape, 42);
    let mut out = vec![0f32; fx.query.len()];
    g.throughput(Throughput::Bytes(shape.least_bytes(size_of::<T>())));
    let mut set = 0;
    g.bench_function(
        bench_id(label, "paged_attention", T::DTYPE.as_str(), &shape.id()),
        |b| {
            b.iter(|| {
                set += 1;
                cpu.paged_attention(
                    &mut out,
                    &fx.query,
                    &fx.key_cache,
                    &fx.value_cache,
                    &fx.args(shape, set),
                )
                .expect("valid shape")
            })
        },
    );
}

#[cfg(feature = "cuda")]
fn bench_cuda(c: &mut Criterion, cuda: &dyno_kernels::cuda::CudaBackend) {
    use dyno_kernels::Backend;
    use std::time::{Duration, Instant};
    let mut g = c.benchmark_group("paged_attention_cuda");
    // The H100 target shape (Llama-3-8B heads, batch 64 × ctx 4096, bf16: 1.07 GB of KV), plus
    // the small-head model and a prefill.
    let shapes = [
        Shape::decode(64, 32, 8, 128, 4096),
        Shape::decode(64, 14, 2, 64, 4096),
        Shape {
            step: Step::Prefill,
            batch: 1,
            heads: 32,
            kv_heads: 8,
            head_size: 128,
            q_len: 512,
            ctx: 512,
        },
    ];
    for shape in &shapes {
        let fx = Fixture::<bf16>::new(shape, 42);
        let d_k = cuda.upload(&fx.key_cache).expect("upload");
        let d_v = cuda.upload(&fx.value_cache).expect("upload");
        let d_q = cuda.upload(&fx.query).expect("upload");
        let mut d_out = cuda.alloc_zeros::<f32>(fx.query.len()).expect("alloc");
        let args = fx.args(shape, 0);
        g.throughput(Throughput::Bytes(shape.least_bytes(2)));
        g.bench_function(
            bench_id("cuda", "paged_attention", "bf16", &shape.id()),
            |b| {
                b.iter_custom(|iters| {
                    cuda.synchronize().expect("sync");
                    let start = Instant::now();
                    for _ in 0..iters {
                        cuda.paged_attention(&mut d_out, &d_q, &d_k, &d_v, &args)
                            .expect("launch");
                    }
                    cuda.synchronize().expect("sync");
                    start.elapsed().max(Duration::from_nanos(1))
                })
            },
        );
    }
    g.finish();
}
