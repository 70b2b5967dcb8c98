//! Engine-component microbenchmarks: block pool, prefix-cache hashing and lookup, and one
//! scheduler step with 256 running requests.

use criterion::criterion_group;

#[path = "engine/block_pool.rs"]
mod block_pool;
#[path = "engine/prefix_cache.rs"]
mod prefix_cache;
#[path = "engine/scheduler_step.rs"]
mod scheduler_step;

criterion_group! {
    name = engine;
    config = dyno_benches::criterion_config();
    targets = block_pool::bench, prefix_cache::bench, scheduler_step::bench
}

fn main() {
    engine();
    criterion::Criterion::default()
        .configure_from_args()
        .final_summary();
}
