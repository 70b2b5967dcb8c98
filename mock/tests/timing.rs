//! The schedule, as a raw loopback client sees it: first chunk at TTFT, chunks ITL apart, no
//! drift, also with 100 concurrent streams.
//!
//! Bounds allow for a shared 2-core machine (other builds run beside the tests), but each would
//! fail for a server that paces with relative sleeps, rounds to coarse ticks, or serializes late.

mod common;

use std::time::Duration;

use common::{concurrent_streams, median, ms, post, start, stream_body};
use dyno_mock::{MockConfig, TimerKind};

fn config(ttft: u64, itl: u64, len: u32) -> MockConfig {
    MockConfig {
        ttft: Duration::from_millis(ttft),
        itl: Duration::from_millis(itl),
        output_len: len,
        ..MockConfig::new()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_stream_of_200_tokens_keeps_the_schedule() {
    let mock = start(config(50, 10, 200)).await;
    let x = post(
        mock.addr(),
        "/v1/completions",
        &stream_body(500),
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(x.status, 200);
    let chunks = x.chunks();
    assert_eq!(chunks.len(), 200);
    let ttft = ms(x.sent, chunks[0].at);
    assert!((49.5..56.0).contains(&ttft), "ttft {ttft:.3} ms");
    let itls: Vec<f64> = chunks.windows(2).map(|w| ms(w[0].at, w[1].at)).collect();
    let med = median(itls.clone());
    assert!((9.7..10.3).contains(&med), "median itl {med:.3} ms");
    let mean = itls.iter().sum::<f64>() / itls.len() as f64;
    assert!((9.9..10.1).contains(&mean), "mean itl {mean:.4} ms");
    // absolute deadlines: the last chunk is on time, whatever happened in between
    let end = ms(x.sent, chunks[199].at);
    assert!(
        (2039.5..2046.0).contains(&end),
        "last chunk at {end:.3} ms (due 2040)"
    );
    let stats = mock.stop().await;
    assert_eq!(stats.first_chunk.count, 1);
    assert_eq!(stats.later_chunks.count, 199);
    assert!(stats.later_chunks.mean_ms < 1.0, "{stats}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_streams_keep_the_schedule() {
    let mock = start(config(30, 5, 40)).await;
    let body = r#"{"model":"mock","messages":[{"role":"user","content":"hi there"}],"max_completion_tokens":40,"stream":true}"#;
    let x = post(
        mock.addr(),
        "/v1/chat/completions",
        body,
        Duration::from_secs(5),
    )
    .await;
    let chunks = x.chunks();
    assert_eq!(chunks.len(), 40);
    let ttft = ms(x.sent, chunks[0].at);
    assert!((29.5..36.0).contains(&ttft), "ttft {ttft:.3} ms");
    let end = ms(x.sent, chunks[39].at);
    assert!(
        (224.5..231.0).contains(&end),
        "last chunk at {end:.3} ms (due 225)"
    );
    mock.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokio_timer_is_on_time_to_its_millisecond_tick() {
    let mock = start(MockConfig {
        timer: TimerKind::Tokio,
        ..config(20, 10, 30)
    })
    .await;
    let x = post(
        mock.addr(),
        "/v1/completions",
        &stream_body(30),
        Duration::from_secs(5),
    )
    .await;
    let chunks = x.chunks();
    assert_eq!(chunks.len(), 30);
    let end = ms(x.sent, chunks[29].at);
    assert!(
        (309.5..318.0).contains(&end),
        "last chunk at {end:.3} ms (due 310)"
    );
    mock.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_streaming_answer_comes_at_the_last_chunk_deadline() {
    let mock = start(config(40, 10, 11)).await;
    let body = r#"{"model":"mock","prompt":"a b","max_tokens":20}"#;
    let x = post(mock.addr(), "/v1/completions", body, Duration::from_secs(5)).await;
    assert_eq!(x.status, 200);
    let at = ms(x.sent, x.finished.expect("a body"));
    assert!(
        (139.5..146.0).contains(&at),
        "answer at {at:.3} ms (due 140)"
    );
    let v: serde_json::Value = serde_json::from_slice(&x.body).unwrap();
    assert_eq!(v["usage"]["completion_tokens"], 11);
    assert_eq!(v["usage"]["prompt_tokens"], 2);
    assert_eq!(v["choices"][0]["finish_reason"], "length");
    mock.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_concurrent_streams_keep_the_schedule() {
    let mock = start(config(50, 10, 100)).await;
    let addr = mock.addr();
    let raws = concurrent_streams(addr, 100, 100, Duration::from_secs(10)).await;
    let mut ttfts = Vec::new();
    let mut ends = Vec::new();
    let mut itls = Vec::new();
    for raw in raws {
        let x = raw.decode();
        let chunks = x.chunks();
        assert_eq!(chunks.len(), 100);
        ttfts.push(ms(x.sent, chunks[0].at));
        ends.push(ms(chunks[0].at, chunks[99].at));
        itls.extend(chunks.windows(2).map(|w| ms(w[0].at, w[1].at)));
    }
    let stats = mock.stop().await;
    let mean_ttft = ttfts.iter().sum::<f64>() / 100.0;
    let mean_itl = itls.iter().sum::<f64>() / itls.len() as f64;
    let med_end = median(ends);
    // 100 requests parsed at once by a debug build on a shared 2-core machine, beside the
    // other tests of this file: the server reads some of them several ms after they were sent
    // (CI saw a mean of 69 ms). That is before t0, so its own lateness counters cannot see it,
    // and it is the accept path's speed, not the schedule's; the upper bound only catches a
    // server that stalls. Never early, and the chunks' spacing is exact whatever the start.
    assert!(
        ttfts.iter().all(|&t| t >= 49.5),
        "a first chunk came before its TTFT; {stats}"
    );
    assert!(
        (49.5..150.0).contains(&mean_ttft),
        "mean ttft {mean_ttft:.3} ms; {stats}"
    );
    assert!(stats.first_chunk.mean_ms < 3.0, "{stats}");
    assert!(
        (9.9..10.1).contains(&mean_itl),
        "mean itl {mean_itl:.4} ms; {stats}"
    );
    assert!(
        (989.5..994.0).contains(&med_end),
        "median first-to-last {med_end:.3} ms; {stats}"
    );
    assert_eq!(stats.requests, 100);
    assert_eq!(stats.later_chunks.count, 100 * 99);
    assert!(stats.later_chunks.mean_ms < 2.0, "{stats}");
}
