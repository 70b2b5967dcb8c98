//! The mock at 1000 concurrent streams (100 tokens, 10 ms apart: 100 000 events/s) with a raw
//! client in the same process, both on 2 worker threads. Ignored by default (a debug build on a
//! shared machine is not the setting it claims anything about); run it as
//! `cargo test --release -p dyno-mock --test load -- --ignored --nocapture`.

mod common;

use std::time::Duration;

use common::{concurrent_streams, ms, start};
use dyno_mock::MockConfig;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "load test: run with --release -- --ignored"]
async fn a_thousand_concurrent_streams_stay_on_schedule() {
    let mock = start(MockConfig::new()).await;
    let addr = mock.addr();
    let raws = concurrent_streams(addr, 1000, 100, Duration::from_secs(20)).await;
    let stats = mock.stop().await;
    let mut spans = Vec::new();
    for raw in &raws {
        let x = raw.decode();
        let chunks = x.chunks();
        assert_eq!(chunks.len(), 100);
        spans.push(ms(chunks[0].at, chunks[99].at));
    }
    let mean_span = spans.iter().sum::<f64>() / spans.len() as f64;
    println!("server: {stats}");
    println!("client: mean first-to-last chunk {mean_span:.3} ms (due 990)");
    assert_eq!(stats.later_chunks.count, 1000 * 99);
    assert!(stats.later_chunks.mean_ms < 1.0, "{stats}");
    assert!((989.0..1000.0).contains(&mean_span), "{mean_span}");
}
