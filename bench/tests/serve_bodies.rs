//! What goes on the wire and how whole answers are timed: `--lora-modules` rewrites each
//! request's `model` (random or round-robin), `--disable-stream` sends `stream: false` and times
//! the whole response (TTFT = E2EL, tokens from `usage`), `--chat-template-kwargs` reaches chat
//! requests.

mod serve_support;

use std::time::{Duration, Instant};

use dyno_bench::endpoint::{
    Backend, Endpoint, PayloadOptions, RequestOptions, ResponseMode, TokenSource,
};
use dyno_bench::modes::serve::{self, LoraAssignment, LoraModules};
use serde_json::json;
use serve_support::*;

const MS: fn(u64) -> Duration = Duration::from_millis;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lora_modules_name_each_request_model() {
    let server = ScriptServer::start(|_, _| completion_stream(MS(1), MS(1), 2, 8)).await;
    let ep = endpoint(&server, Backend::OpenAi, Some(Duration::from_secs(5))).await;
    let mut options = serve_options(6, Some(1));
    options.lora = Some(LoraModules {
        names: vec!["sql-lora".into(), "chat-lora".into()],
        assignment: LoraAssignment::RoundRobin,
    });
    let (_, output) = serve_run(&ep, &options, std::future::pending()).await;
    assert!(output.outcomes.iter().all(|o| o.success));
    let models: Vec<String> = (0..6)
        .map(|i| body(&server, i)["model"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        models,
        [
            "sql-lora",
            "chat-lora",
            "sql-lora",
            "chat-lora",
            "sql-lora",
            "chat-lora"
        ]
    );
    // Random assignment: seeded, and only the given names.
    options.lora = Some(LoraModules {
        names: vec!["a".into(), "b".into()],
        assignment: LoraAssignment::Random,
    });
    let (_, prepared) = serve::prepare(&ep, &requests(40), &options).unwrap();
    let model_of = |p: &dyno_bench::endpoint::PreparedRequest| -> String {
        let v: serde_json::Value = serde_json::from_slice(&p.body).unwrap();
        v["model"].as_str().unwrap().to_owned()
    };
    let drawn: Vec<String> = prepared.iter().map(model_of).collect();
    assert!(drawn.iter().all(|m| m == "a" || m == "b"));
    assert!(drawn.iter().any(|m| m == "a") && drawn.iter().any(|m| m == "b"));
    let (_, again) = serve::prepare(&ep, &requests(40), &options).unwrap();
    assert_eq!(drawn, again.iter().map(model_of).collect::<Vec<_>>());
    // No names is a mistake, said before the run.
    options.lora = Some(LoraModules {
        names: Vec::new(),
        assignment: LoraAssignment::Random,
    });
    let e = serve::prepare(&ep, &requests(2), &options).unwrap_err();
    assert!(e.to_string().contains("--lora-modules"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warmups_send_the_first_request_with_warmup_output_len() {
    let server = ScriptServer::start(|_, _| completion_stream(MS(1), MS(1), 2, 8)).await;
    let ep = endpoint(&server, Backend::OpenAi, Some(Duration::from_secs(5))).await;
    let mut options = serve_options(3, Some(1));
    let reqs = requests(3);
    let field = |p: &dyno_bench::endpoint::PreparedRequest, key: &str| -> serde_json::Value {
        let v: serde_json::Value = serde_json::from_slice(&p.body).unwrap();
        v[key].clone()
    };
    // By default a copy of the first request, as vLLM sends.
    let (_, prepared) = serve::prepare(&ep, &reqs, &options).unwrap();
    let warm = serve::warmup_request(&ep, &reqs, &options).unwrap();
    assert_eq!(warm.body, prepared[0].body);
    // --warmup-output-len changes only max_tokens.
    options.warmup_output_len = Some(1);
    let short = serve::warmup_request(&ep, &reqs, &options).unwrap();
    assert_eq!(field(&short, "max_tokens"), json!(1));
    assert_eq!(field(&prepared[0], "max_tokens"), json!(4));
    assert_eq!(field(&short, "prompt"), field(&prepared[0], "prompt"));
    // Under --lora-modules it names the first request's adapter.
    options.lora = Some(LoraModules {
        names: vec!["a".into(), "b".into(), "c".into()],
        assignment: LoraAssignment::Random,
    });
    let (_, prepared) = serve::prepare(&ep, &reqs, &options).unwrap();
    let short = serve::warmup_request(&ep, &reqs, &options).unwrap();
    assert_eq!(field(&short, "model"), field(&prepared[0], "model"));
    // The run's warm-ups send it: 3 warm-ups of 1 token, then the 3 requests of 4.
    options.lora = None;
    options.num_warmups = 3;
    let (schedule, prepared) = serve::prepare(&ep, &reqs, &options).unwrap();
    let (output, warmups) = serve::run(
        &ep,
        &prepared,
        &schedule,
        &options,
        Some(&short),
        std::future::pending(),
        &|_| {},
    )
    .await
    .unwrap();
    assert_eq!(warmups.len(), 3);
    assert!(output.outcomes.iter().all(|o| o.success));
    let sent: Vec<serde_json::Value> = (0..6)
        .map(|i| body(&server, i)["max_tokens"].clone())
        .collect();
    assert_eq!(
        sent,
        [json!(1), json!(1), json!(1), json!(4), json!(4), json!(4)]
    );
}

fn whole(json: &str, after: Duration) -> Reply {
    Reply {
        status: 200,
        content_type: "application/json",
        steps: vec![Step::Sleep(after), Step::Write(json.as_bytes().to_vec())],
    }
}

fn whole_payload() -> PayloadOptions {
    PayloadOptions {
        model: "m".into(),
        response: ResponseMode::Whole,
        ..PayloadOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whole_responses_are_one_arrival_with_usage_counts() {
    let cases: [(Backend, &str); 3] = [
        (
            Backend::OpenAi,
            r#"{"id":"c","object":"text_completion","choices":[{"index":0,"text":"a b c","finish_reason":"length"}],"usage":{"prompt_tokens":5,"completion_tokens":3,"total_tokens":8}}"#,
        ),
        (
            Backend::OpenAiChat,
            r#"{"id":"c","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"a b c"},"finish_reason":"length"}],"usage":{"prompt_tokens":5,"completion_tokens":3,"total_tokens":8}}"#,
        ),
        (
            Backend::Tgi,
            r#"{"generated_text":"a b c","details":{"finish_reason":"length","generated_tokens":3}}"#,
        ),
    ];
    for (backend, answer) in cases {
        let server = ScriptServer::start(move |_, _| whole(answer, MS(80))).await;
        let ep = endpoint_with(
            &server,
            backend,
            Some(Duration::from_secs(5)),
            whole_payload(),
        )
        .await;
        let o = ep
            .send(&requests(1)[0], &RequestOptions::default(), Instant::now())
            .await;
        assert!(o.success, "{backend}: {:?}", o.error);
        assert_eq!(o.generated_text, "a b c", "{backend}");
        assert_eq!(
            (o.output_tokens, o.output_token_source),
            (3, TokenSource::Usage),
            "{backend}"
        );
        assert_eq!(
            o.chunks.len(),
            1,
            "{backend}: the whole answer is one arrival"
        );
        let ttft = o.ttft().unwrap();
        assert_eq!(ttft, o.latency, "{backend}: TTFT = E2EL without a stream");
        assert!(ttft >= MS(80) && ttft < MS(200), "{backend}: {ttft:?}");
        let seen = server.seen.lock().unwrap()[0].clone();
        let body: serde_json::Value = serde_json::from_str(&seen.body).unwrap();
        assert_eq!(body["stream"], false, "{backend}");
        assert!(body.get("stream_options").is_none(), "{backend}");
        let route = seen.head.split_whitespace().nth(1).unwrap().to_owned();
        assert_eq!(route, backend.route_for(ResponseMode::Whole), "{backend}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_template_kwargs_reach_the_chat_body() {
    let server = ScriptServer::start(|_, _| {
        sse(vec![
            Step::Write(event(r#"{"choices":[{"delta":{"content":"a"}}]}"#)),
            Step::Write(b"data: [DONE]\n\n".to_vec()),
        ])
    })
    .await;
    let kwargs = json!({"enable_thinking": false}).as_object().cloned();
    let payload = PayloadOptions {
        model: "m".into(),
        chat_template_kwargs: kwargs,
        ..PayloadOptions::default()
    };
    let ep = endpoint_with(&server, Backend::OpenAiChat, None, payload).await;
    let o = ep
        .send(&requests(1)[0], &RequestOptions::default(), Instant::now())
        .await;
    assert!(o.success, "{:?}", o.error);
    let b = body(&server, 0);
    assert_eq!(b["chat_template_kwargs"], json!({"enable_thinking": false}));
    assert_eq!(b["stream"], true);
    assert_eq!(b["stream_options"]["include_usage"], true);
}
