//! `bench serve` metrics against a scripted server whose timings are known: TTFT, ITL, TPOT
//! and E2EL must come out as scripted (within a few ms on loopback), for every backend.

mod serve_support;

use std::time::Duration;

use dyno_bench::endpoint::{Backend, Endpoint, RequestOptions, TokenSource};
use dyno_bench::metrics::serve::{
    PercentileMetric, ServeMetricsConfig, parse_percentile_metrics, serve_metrics,
};
use dyno_bench::runner::RunConfig;
use serve_support::*;

/// How late a measured time may be: the scripted server sleeps between writes and, on a loaded
/// two-core CI machine, wakes up to ~10 ms late (seen: 51.9 ms for a scripted 40 ms). A client
/// can only add time, never remove it, so the lower bound stays tight (−1 ms).
const SLACK_MS: f64 = 20.0;

fn near(got: f64, want: f64, what: &str) {
    assert!(
        got >= want - 1.0 && got <= want + SLACK_MS,
        "{what}: got {got:.2} ms, scripted {want:.2} ms"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn formulas_match_the_scripted_timings() {
    let server = ScriptServer::start(|_, _| {
        completion_stream(Duration::from_millis(60), Duration::from_millis(25), 6, 11)
    })
    .await;
    let ep = endpoint(&server, Backend::OpenAi, Some(Duration::from_secs(5))).await;
    let config = RunConfig {
        max_concurrency: Some(1),
        num_requests: 4,
        request_id_prefix: "t-".into(),
        ..RunConfig::default()
    };
    let out = run_requests(&ep, &at_once(4), &config).await;
    assert_eq!(out.outcomes.len(), 4);
    for o in &out.outcomes {
        assert!(o.success, "{:?}", o.error);
        assert_eq!(
            (o.output_tokens, o.output_token_source),
            (6, TokenSource::Usage)
        );
        assert_eq!(o.prompt_len, 11, "prompt_len comes from usage");
        assert_eq!(
            o.chunks.len(),
            6,
            "the usage chunk and [DONE] are no token arrivals"
        );
        near(ms(o.ttft().unwrap()), 60.0, "ttft");
        near(
            ms(o.latency),
            60.0 + 5.0 * 25.0,
            "e2el ends at the last token chunk",
        );
    }
    let cfg = ServeMetricsConfig {
        percentile_metrics: parse_percentile_metrics("ttft,tpot,itl,e2el").unwrap(),
        percentiles: vec![50.0, 99.0],
        goodput: Vec::new(),
    };
    let m = serve_metrics(&out.outcomes, out.duration, &cfg);
    let get = |k| m.selected.iter().find(|s| s.0 == k).unwrap().1.clone();
    near(get(PercentileMetric::Ttft).mean, 60.0, "mean ttft");
    near(get(PercentileMetric::Tpot).mean, 25.0, "mean tpot");
    let itl = get(PercentileMetric::Itl);
    assert_eq!(
        itl.count,
        4 * 5,
        "ITL flattened over requests, one gap per chunk"
    );
    near(itl.mean, 25.0, "mean itl");
    near(get(PercentileMetric::E2el).mean, 185.0, "mean e2el");
    assert_eq!((m.completed, m.total_output, m.total_input), (4, 24, 44));
    assert_eq!(m.max_concurrent_requests, 1);
    // Requests were sequential: the run lasts about 4 E2ELs.
    assert!(m.duration > 0.70 && m.duration < 1.2, "{}", m.duration);
    // Every request went over one kept-alive connection, with the headers we set.
    assert_eq!(
        server
            .connections
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    let head = server.seen.lock().unwrap()[0].head.to_ascii_lowercase();
    assert!(head.starts_with("post /v1/completions http/1.1"), "{head}");
    assert!(
        head.contains("x-request-id: t-0")
            && head.contains("authorization: bearer sk-test")
            && head.contains("x-test: 1")
    );
    let body = body(&server, 0);
    assert_eq!(
        (
            body["model"].as_str(),
            body["max_tokens"].as_u64(),
            body["stream"].as_bool()
        ),
        (Some("m"), Some(4), Some(true))
    );
}

fn backend_reply(backend: Backend) -> Reply {
    let d = Duration::from_millis;
    let events: Vec<Vec<u8>> = match backend {
        Backend::OpenAiChat => vec![
            event(r#"{"choices":[{"index":0,"delta":{"role":"assistant"}}]}"#),
            event(r#"{"choices":[{"index":0,"delta":{"content":"a"}}]}"#),
            event(r#"{"choices":[{"index":0,"delta":{"content":"b"},"finish_reason":"length"}]}"#),
            event(
                r#"{"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":3,"total_tokens":8}}"#,
            ),
            b"data: [DONE]\n\n".to_vec(),
        ],
        Backend::Tgi => vec![
            event(
                r#"{"index":1,"token":{"id":1,"text":"a","logprob":0,"special":false},"generated_text":null,"details":null}"#,
            ),
            event(
                r#"{"index":2,"token":{"id":2,"text":"b","logprob":0,"special":false},"generated_text":null,"details":null}"#,
            ),
            event(
                r#"{"index":3,"token":{"id":3,"text":"c","logprob":0,"special":false},"generated_text":"abc","details":{"finish_reason":"length","generated_tokens":3}}"#,
            ),
        ],
        Backend::LlamaCpp => vec![
            event(r#"{"content":"a","stop":false}"#),
            event(r#"{"content":"b","stop":false}"#),
            event(r#"{"content":"c","stop":false}"#),
            event(r#"{"content":"","stop":true,"tokens_predicted":3,"tokens_evaluated":5}"#),
        ],
        _ => vec![
            event(r#"{"text":"a","meta_info":{"prompt_tokens":5,"completion_tokens":1}}"#),
            event(r#"{"text":"ab","meta_info":{"prompt_tokens":5,"completion_tokens":2}}"#),
            event(r#"{"text":"abc","meta_info":{"prompt_tokens":5,"completion_tokens":3}}"#),
            b"data: [DONE]\n\n".to_vec(),
        ],
    };
    let mut steps = vec![Step::Sleep(d(40))];
    let last = events.len() - 1;
    for (i, e) in events.into_iter().enumerate() {
        steps.push(Step::Write(e));
        if i < last {
            steps.push(Step::Sleep(d(20)));
        }
    }
    sse(steps)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_backend_measures_its_own_stream() {
    for backend in [
        Backend::OpenAiChat,
        Backend::Tgi,
        Backend::LlamaCpp,
        Backend::Sglang,
    ] {
        let server = ScriptServer::start(move |_, _| backend_reply(backend)).await;
        let ep = endpoint(&server, backend, Some(Duration::from_secs(5))).await;
        let o = ep
            .send(
                &requests(1)[0],
                &RequestOptions::default(),
                std::time::Instant::now(),
            )
            .await;
        assert!(o.success, "{backend}: {:?}", o.error);
        assert_eq!(o.output_tokens, 3, "{backend}");
        assert_eq!(o.output_token_source, TokenSource::Usage, "{backend}");
        near(ms(o.ttft().unwrap()), 40.0, &format!("{backend} ttft"));
        // Chat: the role chunk counts as a token arrival, as vLLM counts it.
        assert_eq!(o.chunks.len(), 3, "{backend}");
        let text = if backend == Backend::OpenAiChat {
            "ab"
        } else {
            "abc"
        };
        assert_eq!(o.generated_text, text, "{backend}");
        let route = server.seen.lock().unwrap()[0]
            .head
            .split_whitespace()
            .nth(1)
            .unwrap()
            .to_owned();
        assert_eq!(route, backend.default_route());
    }
}
