//! Wire shapes: usage chunk, `[DONE]`, chat deltas, limits, models, health, tokenizer, stats,
//! errors.

mod common;

use std::time::Duration;

use common::{get, post, start, stream_body};
use dyno_mock::MockConfig;
use serde_json::{Value, json};

fn fast() -> MockConfig {
    MockConfig {
        ttft: Duration::from_millis(5),
        itl: Duration::from_millis(1),
        output_len: 8,
        ..MockConfig::new()
    }
}

const LIMIT: Duration = Duration::from_secs(5);

#[tokio::test]
async fn completions_stream_ends_with_usage_chunk_then_done() {
    let mock = start(fast()).await;
    let x = post(mock.addr(), "/v1/completions", &stream_body(100), LIMIT).await;
    assert_eq!(x.status, 200);
    assert!(
        x.headers.contains("content-type: text/event-stream"),
        "{}",
        x.headers
    );
    assert!(x.complete);
    let n = x.events.len();
    assert_eq!(n, 8 + 2);
    let chunks = x.chunks();
    assert_eq!(chunks.len(), 8);
    for c in &chunks[..7] {
        let v = c.json().unwrap();
        assert!(v["choices"][0]["finish_reason"].is_null());
        assert_eq!(v["object"], "text_completion");
        assert_eq!(v["model"], "mock");
        assert!(v["usage"].is_null());
    }
    assert_eq!(
        chunks[7].json().unwrap()["choices"][0]["finish_reason"],
        "length"
    );
    let text: String = chunks
        .iter()
        .map(|c| {
            c.json().unwrap()["choices"][0]["text"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(text.split_whitespace().count(), 8);
    let usage = x.events[n - 2].json().unwrap();
    assert_eq!(usage["choices"], json!([]));
    assert_eq!(
        usage["usage"],
        json!({"prompt_tokens": 3, "completion_tokens": 8, "total_tokens": 11})
    );
    assert_eq!(x.events[n - 1].text, "data: [DONE]");
    // one id per response
    let ids: Vec<Value> = x.events[..n - 1]
        .iter()
        .map(|e| e.json().unwrap()["id"].clone())
        .collect();
    assert!(ids.windows(2).all(|w| w[0] == w[1]));
    mock.stop().await;
}

#[tokio::test]
async fn no_usage_chunk_unless_asked() {
    let mock = start(fast()).await;
    let body = r#"{"model":"mock","prompt":"x","stream":true}"#;
    let x = post(mock.addr(), "/v1/completions", body, LIMIT).await;
    assert_eq!(x.events.len(), 9);
    assert!(
        x.events
            .iter()
            .all(|e| e.json().is_none_or(|v| v["usage"].is_null()))
    );
    mock.stop().await;
}

#[tokio::test]
async fn chat_stream_has_role_on_the_first_chunk_and_respects_max_completion_tokens() {
    let mock = start(fast()).await;
    let body = r#"{"model":"mock","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"say hi"}],
        "max_tokens":7,"max_completion_tokens":3,"stream":true,"stream_options":{"include_usage":true}}"#;
    let x = post(mock.addr(), "/v1/chat/completions", body, LIMIT).await;
    let chunks = x.chunks();
    assert_eq!(chunks.len(), 3);
    let first = chunks[0].json().unwrap();
    assert_eq!(first["object"], "chat.completion.chunk");
    assert_eq!(first["choices"][0]["delta"]["role"], "assistant");
    assert!(first["choices"][0]["delta"]["content"].is_string());
    assert!(
        chunks[1].json().unwrap()["choices"][0]["delta"]
            .get("role")
            .is_none()
    );
    let usage = x.events[3].json().unwrap();
    assert_eq!(usage["usage"]["prompt_tokens"], 4);
    assert_eq!(usage["usage"]["completion_tokens"], 3);
    mock.stop().await;
}

#[tokio::test]
async fn max_tokens_lowers_but_never_raises_the_output_length() {
    let mock = start(fast()).await;
    for (asked, got) in [(3, 3), (8, 8), (1000, 8)] {
        let x = post(mock.addr(), "/v1/completions", &stream_body(asked), LIMIT).await;
        assert_eq!(x.chunks().len(), got, "max_tokens {asked}");
    }
    mock.stop().await;
}

#[tokio::test]
async fn non_streaming_chat_body() {
    let mock = start(fast()).await;
    let body = r#"{"model":"mock","messages":[{"role":"user","content":"a b c d"}]}"#;
    let x = post(mock.addr(), "/v1/chat/completions", body, LIMIT).await;
    let v: Value = serde_json::from_slice(&x.body).unwrap();
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["choices"][0]["message"]["role"], "assistant");
    let content = v["choices"][0]["message"]["content"].as_str().unwrap();
    assert_eq!(content.split_whitespace().count(), 8);
    assert_eq!(v["usage"]["prompt_tokens"], 4);
    assert_eq!(v["usage"]["total_tokens"], 12);
    mock.stop().await;
}

#[tokio::test]
async fn bad_requests_get_openai_errors() {
    let mock = start(fast()).await;
    let addr = mock.addr();
    let x = post(
        addr,
        "/v1/completions",
        r#"{"model":"other","prompt":"x"}"#,
        LIMIT,
    )
    .await;
    assert_eq!(x.status, 404);
    let v: Value = serde_json::from_slice(&x.body).unwrap();
    assert_eq!(v["error"]["param"], "model");
    assert!(v["error"]["message"].as_str().unwrap().contains("other"));
    let x = post(
        addr,
        "/v1/completions",
        r#"{"prompt":"x","max_tokens":0}"#,
        LIMIT,
    )
    .await;
    assert_eq!(x.status, 400);
    let v: Value = serde_json::from_slice(&x.body).unwrap();
    assert_eq!(v["error"]["param"], "max_tokens");
    let x = post(addr, "/v1/completions", "{not json", LIMIT).await;
    assert_eq!(x.status, 400);
    let x = get(addr, "/nope").await;
    assert_eq!(x.status, 404);
    mock.stop().await;
}

#[tokio::test]
async fn models_health_tokenizer_and_stats() {
    let mock = start(fast()).await;
    let addr = mock.addr();
    let x = get(addr, "/health").await;
    assert_eq!(x.status, 200);
    let v: Value = serde_json::from_slice(&get(addr, "/v1/models").await.body).unwrap();
    assert_eq!(v["object"], "list");
    assert_eq!(v["data"][0]["id"], "mock");

    let ids = [5u32, 17, 50_000, 5];
    let body = json!({"tokens": ids}).to_string();
    let d: Value =
        serde_json::from_slice(&post(addr, "/detokenize", &body, LIMIT).await.body).unwrap();
    let text = d["prompt"].as_str().unwrap().to_owned();
    let body = json!({"prompt": text, "return_token_strs": true}).to_string();
    let t: Value =
        serde_json::from_slice(&post(addr, "/tokenize", &body, LIMIT).await.body).unwrap();
    assert_eq!(t["tokens"], json!(ids));
    assert_eq!(t["count"], 4);
    assert_eq!(t["token_strs"].as_array().unwrap().len(), 4);

    post(addr, "/v1/completions", &stream_body(4), LIMIT).await;
    let s: Value = serde_json::from_slice(&get(addr, "/mock/stats").await.body).unwrap();
    assert_eq!(s["requests"], 1);
    assert_eq!(s["first_chunk"]["count"], 1);
    assert_eq!(s["later_chunks"]["count"], 3);
    let r: Value =
        serde_json::from_slice(&post(addr, "/mock/stats/reset", "", LIMIT).await.body).unwrap();
    assert_eq!(r["requests"], 0);
    mock.stop().await;
}

#[tokio::test]
async fn keep_alive_serves_several_requests_on_one_connection() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mock = start(fast()).await;
    let mut s = tokio::net::TcpStream::connect(mock.addr()).await.unwrap();
    let body = stream_body(2);
    let req = format!(
        "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    for _ in 0..3 {
        s.write_all(req.as_bytes()).await.unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while !got.ends_with(b"\r\n0\r\n\r\n") {
            let n = tokio::time::timeout(LIMIT, s.read(&mut buf))
                .await
                .unwrap()
                .unwrap();
            assert!(n > 0, "the server closed a keep-alive connection");
            got.extend_from_slice(&buf[..n]);
        }
        assert!(String::from_utf8_lossy(&got).contains("data: [DONE]"));
    }
    assert_eq!(mock.stop().await.requests, 3);
}
