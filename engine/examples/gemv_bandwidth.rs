//! Small-batch GEMV against the memory-bandwidth floor.
//!
//! `cargo run --release -p dyno-engine --example gemv_bandwidth [rows] [n] [k]` (defaults 8 4096
//! 4096): times `dyno_engine::model::gemv::matmul_small` with f32 and bf16 weights, and
//! candle-core's f32 matmul, on `rows × k` by a `n × k` weight, and reports each beside its
//! `weight bytes ÷ read bandwidth` floor (read bandwidth measured by
//! `dyno_kernels::bandwidth::read` over a buffer of the f32 weight's size, on the same thread
//! count, in the same run). Use a weight far larger than the last-level cache to see DRAM.

use std::time::Instant;

use candle_core::{Device, Tensor};
use dyno_engine::model::gemv::matmul_small;
use dyno_kernels::{Isa, bandwidth};
use half::bf16;

fn best_of(iters: usize, mut f: impl FnMut()) -> f64 {
    f();
    (0..iters)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

fn median_of(iters: usize, mut f: impl FnMut()) -> f64 {
    f();
    let mut v: Vec<f64> = (0..iters)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .collect();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let (m, n, k) = (
        *args.first().unwrap_or(&8),
        *args.get(1).unwrap_or(&4096),
        *args.get(2).unwrap_or(&4096),
    );
    let threads = rayon::current_num_threads();
    let w: Vec<f32> = (0..n * k)
        .map(|i| ((i % 97) as f32 - 48.0) / 97.0)
        .collect();
    let x: Vec<f32> = (0..m * k)
        .map(|i| ((i % 31) as f32 - 15.0) / 31.0)
        .collect();
    let mut out = vec![0.0f32; m * n];
    let bytes = (n * k * 4) as f64;
    // Same buffer size as the weight, so both are DRAM-bound in the same way.
    let isa = Isa::detect();
    let bw = bytes
        / median_of(15, || {
            std::hint::black_box(bandwidth::read(&w, threads, isa));
        });
    let gemv = median_of(30, || matmul_small(&x, m, &w, n, k, &mut out));
    let gemv_best = best_of(30, || matmul_small(&x, m, &w, n, k, &mut out));
    let wb: Vec<bf16> = w.iter().map(|&v| bf16::from_f32(v)).collect();
    let gemv_bf16 = median_of(30, || matmul_small(&x, m, &wb, n, k, &mut out));
    let wt = Tensor::from_slice(&w, (n, k), &Device::Cpu).unwrap();
    let xt = Tensor::from_slice(&x, (m, k), &Device::Cpu).unwrap();
    let candle = median_of(10, || {
        std::hint::black_box(xt.matmul(&wt.t().unwrap()).unwrap());
    });
    let floor = bytes / bw;
    println!("machine: {threads} rayon threads, isa {}", isa.as_str());
    println!(
        "shape: {m} rows x [{n} x {k}] f32 = {:.1} MiB of weights",
        bytes / (1 << 20) as f64
    );
    println!(
        "read bandwidth (dyno_kernels::bandwidth::read, {threads} threads): {:.2} GB/s",
        bw / 1e9
    );
    println!("floor (weights / bandwidth): {:.3} ms", floor * 1e3);
    println!(
        "gemv (median): {:.3} ms = {:.2}x floor ({:.2} GB/s); best {:.3} ms",
        gemv * 1e3,
        gemv / floor,
        bytes / gemv / 1e9,
        gemv_best * 1e3
    );
    let floor_bf16 = floor / 2.0;
    println!(
        "gemv bf16 weights (median): {:.3} ms = {:.2}x its floor of {:.3} ms ({:.2} GB/s); {:.2}x faster than f32",
        gemv_bf16 * 1e3,
        gemv_bf16 / floor_bf16,
        floor_bf16 * 1e3,
        bytes / 2.0 / gemv_bf16 / 1e9,
        gemv / gemv_bf16
    );
    println!(
        "candle matmul (median): {:.3} ms = {:.2}x floor",
        candle * 1e3,
        candle / floor
    );
}
