//! Graceful shutdown: once the shutdown future resolves, new connections are refused while an
//! in-flight stream runs to its end; a drain timeout cuts what is still running (its stream
//! ends with an in-band 503 error event).

mod common;

use std::time::Duration;

use common::{TestServer, sse_payloads, tiny_config};
use dyno_engine::EngineConfig;
use dyno_server::ServeOutcome;
use dyno_server::shutdown::DrainOutcome;
use futures::StreamExt;
use serde_json::json;

async fn start_stream(s: &TestServer, max_tokens: u32) -> reqwest::Response {
    let r = s
        .post(
            "/v1/completions",
            &json!({"prompt": "drain", "max_tokens": max_tokens, "ignore_eos": true, "stream": true}),
        )
        .await;
    assert_eq!(r.status(), 200);
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_flight_stream_finishes_after_shutdown() {
    let s = TestServer::tiny().await;
    let addr = s.addr;
    let r = start_stream(&s, 200).await;
    let mut body = r.bytes_stream();
    let mut text = String::from_utf8(body.next().await.unwrap().unwrap().to_vec()).unwrap();
    let stopped = tokio::spawn(s.stop());
    // The listener closes: new connections are refused.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while tokio::net::TcpStream::connect(addr).await.is_ok() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "still accepting after shutdown"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    while let Some(chunk) = body.next().await {
        text.push_str(std::str::from_utf8(&chunk.unwrap()).unwrap());
    }
    let payloads = sse_payloads(&text);
    assert_eq!(payloads.len(), 201, "all 200 tokens then [DONE]");
    assert_eq!(payloads.last().unwrap(), "[DONE]");
    let outcome = stopped.await.unwrap().unwrap();
    assert_eq!(outcome, ServeOutcome::Drained(DrainOutcome::Complete));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_timeout_cuts_long_requests() {
    let mut config = tiny_config();
    config.drain_timeout = Duration::from_millis(200);
    let s = TestServer::tiny_with(config, EngineConfig::default()).await;
    let r = start_stream(&s, 2000).await;
    let mut body = r.bytes_stream();
    body.next().await.unwrap().unwrap();
    let outcome = tokio::time::timeout(Duration::from_secs(30), s.stop())
        .await
        .expect("drain bounded by its timeout")
        .unwrap();
    assert_eq!(outcome, ServeOutcome::Drained(DrainOutcome::TimedOut));
    // The cut stream ends early with an in-band error event (the engine stopped) and [DONE].
    let mut rest = Vec::new();
    while let Some(Ok(chunk)) = body.next().await {
        rest.extend_from_slice(&chunk);
    }
    let payloads = sse_payloads(std::str::from_utf8(&rest).unwrap());
    assert!(
        payloads.len() < 2000,
        "{} payloads: not cut",
        payloads.len()
    );
    let error: serde_json::Value = serde_json::from_str(&payloads[payloads.len() - 2]).unwrap();
    assert_eq!(error["error"]["code"], 503, "{error}");
    assert_eq!(payloads.last().unwrap(), "[DONE]");
}
