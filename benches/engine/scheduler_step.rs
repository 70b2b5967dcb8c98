//! One scheduler step (`schedule` + `update`) with 256 running decode requests.

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use dyno_benches::bench_id;
use dyno_engine::{
    EngineRequest, KvCacheConfig, KvCacheManager, RequestId, SampledTokens, Scheduler,
    SchedulerConfig, SchedulerOptions, TokenId,
};

const RUNNING: usize = 256;
const WARMUP_STEPS: usize = 6;
/// Steps timed on one warmed-up state before it is rebuilt (keeps sequences well inside their KV).
const STEPS_PER_STATE: u64 = 200;

fn warmed_up() -> (Scheduler, KvCacheManager) {
    let kv_config = KvCacheConfig::with_num_blocks(RUNNING * 40, 16).expect("valid kv config");
    let config = SchedulerConfig::try_new(SchedulerOptions {
        max_num_seqs: RUNNING,
        max_num_batched_tokens: 8192,
        max_model_len: 4096,
        ..SchedulerOptions::default()
    })
    .expect("valid scheduler config");
    let mut kv = KvCacheManager::new(&kv_config);
    let mut scheduler = Scheduler::new(config);
    for i in 0..RUNNING {
        let prompt: Vec<TokenId> = (0..100)
            .map(|t| TokenId((t * 7 + i as u32 * 13) % 32_000))
            .collect();
        let mut req = EngineRequest::new(RequestId(i as u64), prompt);
        req.params.max_tokens = None;
        scheduler.add_request(req).expect("valid request");
    }
    // Prefill everything (25,600 prompt tokens at 8,192 per step) so every request is decoding.
    for _ in 0..WARMUP_STEPS {
        let out = scheduler.schedule(&mut kv);
        let sampled = SampledTokens::from_fn(&out, |_| TokenId(1));
        scheduler.update(&out, &sampled).expect("update");
    }
    (scheduler, kv)
}

/// Registers the scheduler-step benchmark.
pub fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("scheduler_step");
    g.throughput(Throughput::Elements(RUNNING as u64));
    g.bench_function(
        bench_id("cpu", "scheduler_step", "na", "decode_running256"),
        |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                let mut left = iters;
                while left > 0 {
                    let (mut scheduler, mut kv) = warmed_up();
                    assert_eq!(
                        scheduler.num_running(),
                        RUNNING,
                        "warm-up must leave every request decoding"
                    );
                    let n = left.min(STEPS_PER_STATE);
                    let start = Instant::now();
                    for _ in 0..n {
                        let out = scheduler.schedule(&mut kv);
                        let sampled = SampledTokens::from_fn(&out, |_| TokenId(1));
                        std::hint::black_box(scheduler.update(&out, &sampled).expect("update"));
                    }
                    total += start.elapsed();
                    left -= n;
                }
                total
            })
        },
    );
    g.finish();
}
