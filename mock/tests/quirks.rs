//! Each quirk knob reproduces the behaviour of a real server from `peers.md`.

mod common;

use std::time::Duration;

use common::{ms, post, start, stream_body};
use dyno_mock::{Fault, MockConfig, UsageMode};

fn fast() -> MockConfig {
    MockConfig {
        ttft: Duration::from_millis(10),
        itl: Duration::from_millis(2),
        output_len: 10,
        ..MockConfig::new()
    }
}

const LIMIT: Duration = Duration::from_secs(5);

#[tokio::test]
async fn tokens_per_chunk_bundles_tokens_and_spaces_chunks_by_k_itl() {
    let mock = start(MockConfig {
        tokens_per_chunk: 4,
        itl: Duration::from_millis(5),
        ..fast()
    })
    .await;
    let x = post(mock.addr(), "/v1/completions", &stream_body(10), LIMIT).await;
    let chunks = x.chunks();
    // 4 + 4 + 2 tokens, 20 ms apart
    assert_eq!(chunks.len(), 3);
    let words: Vec<usize> = chunks
        .iter()
        .map(|c| {
            c.json().unwrap()["choices"][0]["text"]
                .as_str()
                .unwrap()
                .split_whitespace()
                .count()
        })
        .collect();
    assert_eq!(words, [4, 4, 2]);
    let gap = ms(chunks[0].at, chunks[2].at);
    assert!(
        (39.0..44.0).contains(&gap),
        "two chunk gaps took {gap:.3} ms (due 40)"
    );
    let usage = x.events[3].json().unwrap();
    assert_eq!(usage["usage"]["completion_tokens"], 10);
    mock.stop().await;
}

#[tokio::test]
async fn no_usage_sends_none_even_when_asked() {
    let mock = start(MockConfig {
        usage: UsageMode::Never,
        ..fast()
    })
    .await;
    let x = post(mock.addr(), "/v1/completions", &stream_body(10), LIMIT).await;
    assert_eq!(x.events.len(), 11);
    assert!(
        x.events
            .iter()
            .all(|e| e.json().is_none_or(|v| v["usage"].is_null()))
    );
    let x = post(mock.addr(), "/v1/completions", r#"{"prompt":"x"}"#, LIMIT).await;
    let v: serde_json::Value = serde_json::from_slice(&x.body).unwrap();
    assert!(v["usage"].is_null());
    mock.stop().await;
}

#[tokio::test]
async fn usage_in_last_chunk_like_llama_server() {
    let mock = start(MockConfig {
        usage: UsageMode::InLastChunk,
        ..fast()
    })
    .await;
    let x = post(mock.addr(), "/v1/completions", &stream_body(10), LIMIT).await;
    // no separate usage chunk: 10 chunks + [DONE]
    assert_eq!(x.events.len(), 11);
    let last = x.chunks()[9].json().unwrap();
    assert_eq!(last["choices"][0]["finish_reason"], "length");
    assert_eq!(last["usage"]["completion_tokens"], 10);
    mock.stop().await;
}

#[tokio::test]
async fn sse_comments_open_the_stream_and_sit_between_chunks() {
    let mock = start(MockConfig {
        sse_comments: true,
        ..fast()
    })
    .await;
    let x = post(mock.addr(), "/v1/completions", &stream_body(10), LIMIT).await;
    let pings: Vec<_> = x.events.iter().filter(|e| e.text == ": ping").collect();
    assert_eq!(pings.len(), 10);
    // the first ping arrives at once, well before the first token
    assert!(ms(x.sent, pings[0].at) < 8.0);
    assert_eq!(x.events[0].text, ": ping");
    assert_eq!(x.chunks().len(), 10);
    mock.stop().await;
}

#[tokio::test]
async fn no_done_ends_the_body_without_the_sentinel() {
    let mock = start(MockConfig {
        done: false,
        ..fast()
    })
    .await;
    let x = post(mock.addr(), "/v1/completions", &stream_body(10), LIMIT).await;
    assert!(x.complete);
    assert!(x.events.iter().all(|e| e.text != "data: [DONE]"));
    assert_eq!(x.events.len(), 11);
    mock.stop().await;
}

#[tokio::test]
async fn error_after_sends_an_in_band_error_event() {
    let mock = start(MockConfig {
        fault: Some(Fault::ErrorAfter(3)),
        ..fast()
    })
    .await;
    let x = post(mock.addr(), "/v1/completions", &stream_body(10), LIMIT).await;
    assert_eq!(x.status, 200);
    assert_eq!(x.chunks().len(), 3);
    let err = x.events[3].json().unwrap();
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("--error-after")
    );
    assert_eq!(x.events[4].text, "data: [DONE]");
    assert!(x.complete);
    mock.stop().await;
}

#[tokio::test]
async fn stall_after_keeps_the_connection_open_without_writing() {
    let mock = start(MockConfig {
        fault: Some(Fault::StallAfter(2)),
        ..fast()
    })
    .await;
    let x = post(
        mock.addr(),
        "/v1/completions",
        &stream_body(10),
        Duration::from_millis(300),
    )
    .await;
    assert_eq!(x.chunks().len(), 2);
    assert!(
        !x.complete && !x.closed,
        "complete {} closed {}",
        x.complete,
        x.closed
    );
    mock.stop().await;
}

#[tokio::test]
async fn drop_after_closes_mid_stream() {
    let mock = start(MockConfig {
        fault: Some(Fault::DropAfter(4)),
        ..fast()
    })
    .await;
    let x = post(mock.addr(), "/v1/completions", &stream_body(10), LIMIT).await;
    assert_eq!(x.chunks().len(), 4);
    assert!(x.closed && !x.complete);
    // the close comes at the fifth chunk's deadline, not at once
    let closed_at = ms(x.sent, x.ended);
    assert!(
        closed_at >= 17.5,
        "closed {closed_at:.3} ms after sending (due 18)"
    );
    mock.stop().await;
}

#[tokio::test]
async fn jitter_moves_chunks_but_keeps_the_mean() {
    let mock = start(MockConfig {
        jitter: Duration::from_millis(2),
        itl: Duration::from_millis(5),
        output_len: 60,
        ..fast()
    })
    .await;
    let x = post(mock.addr(), "/v1/completions", &stream_body(60), LIMIT).await;
    let chunks = x.chunks();
    let itls: Vec<f64> = chunks.windows(2).map(|w| ms(w[0].at, w[1].at)).collect();
    let mean = itls.iter().sum::<f64>() / itls.len() as f64;
    let sd = (itls.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / itls.len() as f64).sqrt();
    assert!((4.8..5.2).contains(&mean), "mean {mean:.3}");
    assert!(sd > 0.5, "sd {sd:.3}: jitter had no effect");
    mock.stop().await;
}
