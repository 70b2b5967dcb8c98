//! Engine-component microbenchmarks: block pool, prefix-cache hashing and lookup, one
//! scheduler step with 256 running requests, the packed matmul of the linear layers, and one
//! model forward step (decode and prefill, f32 and bf16 weights), followed by the batch-1 decode
//! bandwidth table.

use criterion::criterion_group;

#[path = "engine/block_pool.rs"]
mod block_pool;
#[path = "engine/matmul.rs"]
mod matmul;
#[path = "engine/model_forward.rs"]
mod model_forward;
#[path = "engine/prefix_cache.rs"]
mod prefix_cache;
#[path = "engine/scheduler_step.rs"]
mod scheduler_step;

criterion_group! {
    name = engine;
    config = dyno_benches::criterion_config();
    targets = block_pool::bench, prefix_cache::bench, scheduler_step::bench, matmul::bench, model_forward::bench
}

fn main() {
    let started = std::time::SystemTime::now();
    engine();
    criterion::Criterion::default()
        .configure_from_args()
        .final_summary();
    if !dyno_benches::smoke_only() {
        model_forward::report(started);
    }
}
