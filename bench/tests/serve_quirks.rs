//! Streams as real servers send them, quirks included (peers.md): SSE comments, no `[DONE]`,
//! usage in the last choice chunk or none at all, in-band errors, error statuses, a server
//! that dies mid-stream, a stalled stream under `--read-timeout`.

mod serve_support;

use std::time::{Duration, Instant};

use dyno_bench::dataset::BenchTokenizer;
use dyno_bench::endpoint::{Backend, Endpoint, RequestOptions, RequestOutcome, TokenSource};
use dyno_bench::modes::serve::recount_tokens;
use dyno_bench::runner::RunConfig;
use serve_support::*;

async fn one(reply: Reply, read_timeout: Option<Duration>) -> RequestOutcome {
    let server = ScriptServer::start(move |_, _| reply.clone()).await;
    let ep = endpoint(&server, Backend::OpenAi, read_timeout).await;
    ep.send(&requests(1)[0], &RequestOptions::default(), Instant::now())
        .await
}

const MS: fn(u64) -> Duration = Duration::from_millis;

#[tokio::test]
async fn comments_no_done_and_usage_in_the_last_choice_chunk() {
    let o = one(
        sse(vec![
            Step::Write(b": ping\n\n".to_vec()),
            Step::Write(text_chunk("a")),
            Step::Sleep(MS(10)),
            Step::Write(b": keep-alive\r\n\r\n".to_vec()),
            // llama-server style: usage in the last choice chunk, then no [DONE], and the last
            // event without its blank line.
            Step::Write(br#"data: {"choices":[{"index":0,"text":"b","finish_reason":"length"}],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}"#.to_vec()),
        ]),
        None,
    )
    .await;
    assert!(o.success, "{:?}", o.error);
    assert_eq!(
        (o.output_tokens, o.output_token_source, o.prompt_len),
        (2, TokenSource::Usage, 3)
    );
    assert_eq!(o.generated_text, "ab");
    assert_eq!(o.chunks.len(), 2);
}

struct Chars;

impl BenchTokenizer for Chars {
    fn encode(&self, text: &str, _: bool) -> Vec<u32> {
        text.chars().map(|c| c as u32).collect()
    }
    fn decode(&self, _: &[u32]) -> String {
        String::new()
    }
    fn vocab_size(&self) -> usize {
        256
    }
    fn special_token_ids(&self) -> Vec<u32> {
        Vec::new()
    }
    fn num_special_tokens_to_add(&self) -> usize {
        0
    }
}

#[tokio::test]
async fn no_usage_counts_with_the_tokenizer_and_says_so() {
    let o = one(
        sse(vec![
            Step::Write(text_chunk("abc")),
            Step::Write(text_chunk("de")),
            Step::Write(b"data: [DONE]\n\n".to_vec()),
        ]),
        None,
    )
    .await;
    assert!(o.success);
    assert_eq!(
        (o.output_tokens, o.output_token_source),
        (2, TokenSource::Chunks)
    );
    let mut v = vec![o];
    recount_tokens(&mut v, Some(&Chars));
    assert_eq!(
        (v[0].output_tokens, v[0].output_token_source),
        (5, TokenSource::Tokenizer)
    );
    assert_eq!(
        v[0].prompt_len, 8,
        "no usage: the dataset's prompt length stays"
    );
}

#[tokio::test]
async fn an_in_band_error_event_is_a_failure() {
    let o = one(
        sse(vec![
            Step::Write(text_chunk("a")),
            Step::Write(event(r#"{"error":{"object":"error","message":"the engine died","type":"InternalServerError","code":500}}"#)),
            Step::Write(b"data: [DONE]\n\n".to_vec()),
        ]),
        None,
    )
    .await;
    assert!(!o.success);
    let e = o.error.unwrap();
    assert!(
        e.contains("in-band error") && e.contains("the engine died"),
        "{e}"
    );
}

#[tokio::test]
async fn error_status_is_a_failure_with_the_body_message() {
    let o = one(
        Reply {
            status: 400,
            content_type: "application/json",
            steps: vec![Step::Write(br#"{"error":{"message":"max_tokens must be at least 1, got -1","type":"invalid_request_error","param":"max_tokens","code":400}}"#.to_vec())],
        },
        None,
    )
    .await;
    assert!(!o.success);
    assert_eq!(
        o.error.as_deref(),
        Some("HTTP 400: max_tokens must be at least 1, got -1")
    );
}

#[tokio::test]
async fn an_empty_stream_is_a_failure() {
    let o = one(sse(vec![Step::Write(b"data: [DONE]\n\n".to_vec())]), None).await;
    assert!(!o.success);
    assert!(o.error.unwrap().contains("without any output chunk"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_dying_mid_stream_fails_that_request_and_the_run_goes_on() {
    // Request 1 of 3 dies after one chunk (a panic and restart); the others succeed.
    let server = ScriptServer::start(|_, i| {
        if i == 1 {
            sse(vec![
                Step::Write(text_chunk("a")),
                Step::Sleep(MS(5)),
                Step::Close,
            ])
        } else {
            completion_stream(MS(5), MS(5), 3, 8)
        }
    })
    .await;
    let ep = endpoint(&server, Backend::OpenAi, Some(Duration::from_secs(5))).await;
    let config = RunConfig {
        max_concurrency: Some(1),
        num_requests: 3,
        ..RunConfig::default()
    };
    let out = run_requests(&ep, &at_once(3), &config).await;
    let ok: Vec<bool> = out.outcomes.iter().map(|o| o.success).collect();
    assert_eq!(ok, [true, false, true]);
    let e = out.outcomes[1].error.as_deref().unwrap();
    assert!(e.contains("closed the connection mid-response"), "{e}");
    assert_eq!(
        out.outcomes[1].chunks.len(),
        1,
        "what arrived before the reset is kept"
    );
}

#[tokio::test]
async fn read_timeout_fails_a_stalled_stream_in_time() {
    let start = Instant::now();
    let o = one(
        sse(vec![Step::Write(text_chunk("a")), Step::Stall]),
        Some(MS(300)),
    )
    .await;
    let took = start.elapsed();
    assert!(!o.success);
    assert!(
        o.error.as_deref().unwrap().contains("stalled"),
        "{:?}",
        o.error
    );
    assert!(took >= MS(300) && took < MS(1500), "failed after {took:?}");
}

#[tokio::test]
async fn a_server_that_never_answers_also_times_out() {
    let o = one(sse(vec![Step::Stall]), Some(MS(200))).await;
    // The head was sent, then nothing: the first read after the head stalls.
    assert!(!o.success && o.error.unwrap().contains("stalled"));
}

#[tokio::test]
async fn connection_refused_is_a_failure_not_a_panic() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let config = dyno_bench::endpoint::HttpEndpointConfig {
        backend: Backend::OpenAi,
        base_url: format!("http://{addr}"),
        route: "/v1/completions".into(),
        headers: Vec::new(),
        api_key: None,
        read_timeout: Some(MS(500)),
        payload: Default::default(),
    };
    let ep = dyno_bench::endpoint::HttpEndpoint::new(config)
        .await
        .unwrap();
    let o = ep
        .send(&requests(1)[0], &RequestOptions::default(), Instant::now())
        .await;
    assert!(!o.success);
    assert!(o.error.unwrap().contains("cannot connect"));
}
