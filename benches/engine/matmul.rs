//! The packed-panel matmul every linear layer runs (`dyno_engine::model::gemm`), on the
//! Qwen2.5-0.5B shapes (`gate_up`: 9728 × 896, `down`: 896 × 4864), f32 and bf16 weights, on
//! each micro-kernel path this CPU supports (`portable` only in the full profile: it is an order
//! of magnitude slower), for 1, 8, 64 and 512 activation rows. Throughput is in multiply-adds
//! (`m·n·k`), so criterion's "elem/s" is half the GFLOP/s; one row streams the weight, so its
//! time against the weight's bytes is the bandwidth the decode kernel reaches.
//!
//! Each shape runs warm (one weight, which stays in the last-level cache: the arithmetic rate)
//! and cold (`_cold`: calls rotate over copies of the weight totalling at least
//! [`COLD_BYTES`], so every call streams its weight from DRAM, as a model step does).
//!
//! IDs: `cpu/matmul/{f32,bf16}/{path}_{n}x{k}_m{rows}[_cold]`.

use criterion::{Criterion, SamplingMode, Throughput};
use dyno_benches::{Profile, bench_id, profile};
use dyno_engine::model::WeightDtype;
use dyno_engine::model::gemm::{AMX_MIN_ROWS, MatmulPath, PackedWeight, matmul_packed_on};

/// (name, n, k) of the weights.
const SHAPES: [(&str, usize, usize); 2] = [("gate_up", 9728, 896), ("down", 896, 4864)];
/// Activation rows.
const ROWS: [usize; 4] = [1, 8, 64, 512];
/// Bytes of weight copies the cold variant rotates over (twice a 32 MiB last-level cache).
const COLD_BYTES: usize = 64 << 20;

fn values(len: usize, seed: u32) -> Vec<f32> {
    (0..len as u32)
        .map(|i| ((i.wrapping_mul(2_654_435_761) ^ seed) >> 8) as f32 / (1u32 << 24) as f32 - 0.5)
        .collect()
}

/// Registers the matmul benchmarks.
pub fn bench(c: &mut Criterion) {
    let full = profile() == Profile::Full;
    let paths: Vec<MatmulPath> = [
        MatmulPath::Amx,
        MatmulPath::Avx512Bf16,
        MatmulPath::Avx512,
        MatmulPath::Avx2,
        MatmulPath::Portable,
    ]
    .into_iter()
    .filter(|p| p.is_supported() && (full || *p != MatmulPath::Portable))
    .collect();
    let mut g = c.benchmark_group("matmul");
    g.sampling_mode(SamplingMode::Flat);
    g.sample_size(10);
    for (_, n, k) in SHAPES {
        let w = values(n * k, 7);
        let packed = [WeightDtype::F32, WeightDtype::Bf16].map(|d| {
            let one = PackedWeight::pack(&w, n, k, d);
            let copies = COLD_BYTES.div_ceil(one.bytes());
            vec![one; copies]
        });
        for m in ROWS {
            let x = values(m * k, 11);
            let mut out = vec![0.0f32; m * n];
            g.throughput(Throughput::Elements((m * n * k) as u64));
            for (dtype, weights) in [WeightDtype::F32, WeightDtype::Bf16].iter().zip(&packed) {
                for &path in &paths {
                    // f32 weights run the same kernel on the three AVX-512 paths, and AMX
                    // hands fewer than 16 rows to the `vdpbf16ps` kernel.
                    if (*dtype == WeightDtype::F32
                        && matches!(path, MatmulPath::Avx512Bf16 | MatmulPath::Amx))
                        || (path == MatmulPath::Amx && m < AMX_MIN_ROWS)
                    {
                        continue;
                    }
                    for cold in [false, true] {
                        let id = bench_id(
                            "cpu",
                            "matmul",
                            dtype.as_str(),
                            &format!(
                                "{}_{n}x{k}_m{m}{}",
                                path.as_str(),
                                if cold { "_cold" } else { "" }
                            ),
                        );
                        let mut next = 0;
                        g.bench_function(id, |b| {
                            b.iter(|| {
                                let w = &weights[if cold { next } else { 0 }];
                                next = (next + 1) % weights.len();
                                matmul_packed_on(path, &x, m, w, &mut out);
                            });
                        });
                    }
                }
            }
        }
    }
    g.finish();
}
