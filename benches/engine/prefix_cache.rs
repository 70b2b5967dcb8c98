//! Prefix cache: chained block hashing (target ≤ 100 ns per token) and lookup of a cached chain
//! (target ≥ 10 M blocks per second).

use criterion::{Criterion, Throughput};
use dyno_benches::bench_id;
use dyno_engine::kv_cache::prefix::longest_cached_prefix;
use dyno_engine::kv_cache::{BlockHasher, BlockPool, HashSeed};
use dyno_engine::{ExtraKeys, TokenId};

/// Registers the prefix-cache benchmarks.
pub fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("prefix_cache");
    let block_size = 16;
    let tokens: Vec<TokenId> = (0..50_000u32)
        .map(|i| TokenId(i.wrapping_mul(2_654_435_761) % 128_256))
        .collect();
    let extra = ExtraKeys::default();
    let mut hasher = BlockHasher::new(HashSeed(0));
    g.throughput(Throughput::Elements(tokens.len() as u64));
    g.bench_function(
        bench_id("cpu", "prefix_hash", "xxh3_128", "tokens50000_block16"),
        |b| {
            let mut hashes = Vec::with_capacity(tokens.len() / block_size);
            b.iter(|| {
                hashes.clear();
                hasher.extend_chain(&tokens, block_size, &extra, &mut hashes);
                hashes.len()
            })
        },
    );

    let mut hashes = Vec::new();
    hasher.extend_chain(&tokens, block_size, &extra, &mut hashes);
    let mut pool = BlockPool::new(hashes.len() + 16, true);
    for &h in &hashes {
        let id = pool.allocate().expect("pool sized for the chain");
        pool.cache(id, h);
        pool.release(id);
    }
    let mut out = Vec::with_capacity(hashes.len());
    g.throughput(Throughput::Elements(hashes.len() as u64));
    g.bench_function(
        bench_id(
            "cpu",
            "prefix_lookup",
            "xxh3_128",
            &format!("chain{}", hashes.len()),
        ),
        |b| {
            b.iter(|| {
                out.clear();
                longest_cached_prefix(&pool, &hashes, hashes.len(), &mut out);
                assert_eq!(out.len(), hashes.len());
            })
        },
    );
    g.finish();
}
