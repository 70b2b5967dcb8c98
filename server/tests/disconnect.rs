//! Clients that go away mid-stream abort their requests: after 200 streamed requests of which a
//! third disconnect after their first chunk, the engine holds no KV blocks and runs nothing.

mod common;

use std::time::{Duration, Instant};

use common::{TestServer, metric};
use futures::StreamExt;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disconnects_free_their_kv_blocks() {
    let s = TestServer::tiny().await;
    let total = 200;
    let wave = 25;
    let mut disconnected = 0;
    for start in (0..total).step_by(wave) {
        let mut tasks = Vec::new();
        for i in start..(start + wave).min(total) {
            let leave = i % 3 == 0;
            disconnected += usize::from(leave);
            let client = s.client.clone();
            let url = s.url("/v1/completions");
            // Leavers ask for many tokens, so their stream is surely still running.
            let max_tokens = if leave { 400 } else { 8 };
            tasks.push(tokio::spawn(async move {
                let r = client
                    .post(url)
                    .json(
                        &json!({"prompt": format!("request {i}"), "max_tokens": max_tokens,
                                  "ignore_eos": true, "stream": true}),
                    )
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200);
                let mut body = r.bytes_stream();
                if leave {
                    let first = body.next().await.unwrap().unwrap();
                    assert!(first.starts_with(b"data: {"));
                    drop(body); // hang up mid-stream
                } else {
                    let mut all = Vec::new();
                    while let Some(chunk) = body.next().await {
                        all.extend_from_slice(&chunk.unwrap());
                    }
                    assert!(all.ends_with(b"data: [DONE]\n\n"));
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let m = s.metrics().await;
        let in_use = metric(&m, "dyno:kv_blocks_in_use", "tiny");
        let running = metric(&m, "vllm:num_requests_running", "tiny");
        let waiting = metric(&m, "vllm:num_requests_waiting", "tiny");
        let aborted = metric(&m, "dyno:requests_total", "outcome=\"aborted\"");
        let success = metric(&m, "dyno:requests_total", "outcome=\"success\"");
        if in_use == 0.0 && running == 0.0 && waiting == 0.0 && aborted == disconnected as f64 {
            assert_eq!(success, (total - disconnected) as f64);
            assert_eq!(
                metric(
                    &m,
                    "vllm:request_success_total",
                    "finished_reason=\"abort\""
                ),
                disconnected as f64
            );
            assert_eq!(metric(&m, "vllm:kv_cache_usage_perc", "tiny"), 0.0);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "after 20 s: {in_use} blocks in use, {running} running, {waiting} waiting, {aborted} of {disconnected} aborted"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
