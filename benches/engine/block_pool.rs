//! Block pool: allocate and free a request's worth of blocks (O(1) per block).

use criterion::{Criterion, Throughput};
use dyno_benches::bench_id;
use dyno_engine::kv_cache::BlockPool;

/// Registers the block-pool benchmarks.
pub fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("block_pool");
    for n in [16usize, 256] {
        let mut pool = BlockPool::new(4096, true);
        let mut ids = Vec::with_capacity(n);
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function(
            bench_id(
                "cpu",
                "block_pool",
                "na",
                &format!("alloc_free_{n}_of_4096"),
            ),
            |b| {
                b.iter(|| {
                    ids.clear();
                    assert!(pool.allocate_into(n, &mut ids));
                    for &id in ids.iter().rev() {
                        pool.release(id);
                    }
                })
            },
        );
    }
    g.finish();
}
