//! Every refusal of issue 4 §1 returns its status and OpenAI's error body
//! `{"error": {"message", "type", "param", "code"}}`: 400 naming the parameter, 401, 404, 413,
//! 429 with `Retry-After`, 503 while the model loads.

mod common;

use std::time::Duration;

use common::{TestServer, engine, metric, tiny_config};
use dyno_engine::{EngineConfig, SchedulerOptions};
use dyno_server::ChatTemplate;
use serde_json::{Value, json};

/// Checks the OpenAI error shape and returns the `error` object.
fn error_of(status: u16, body: &Value, want_status: u16) -> &Value {
    assert_eq!(status, want_status, "{body}");
    let e = &body["error"];
    assert!(
        e["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert!(e["type"].is_string(), "{body}");
    assert!(e.as_object().unwrap().contains_key("param"), "{body}");
    assert_eq!(e["code"], want_status, "{body}");
    e
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_parameters_are_400_naming_the_parameter() {
    let s = TestServer::tiny().await;
    let long_prompt = "x".repeat(3000);
    let cases = [
        (json!({"prompt": "a", "max_tokens": -1}), "max_tokens"),
        (
            json!({"prompt": "a", "max_tokens": 1_000_000_000}),
            "max_tokens",
        ),
        (json!({"prompt": "a", "temperature": -0.1}), "temperature"),
        (json!({"prompt": "a", "top_p": 0}), "top_p"),
        (json!({"prompt": "a", "top_p": 1.5}), "top_p"),
        (json!({"prompt": long_prompt}), "prompt"),
        (json!({"prompt": "a", "temperature": "hot"}), "temperature"),
        (json!({"prompt": "a", "max_tokens": "many"}), "max_tokens"),
        (json!({"prompt": "a", "n": "two"}), "n"),
        (json!({"prompt": 5}), "prompt"),
        (json!({"model": "tiny"}), "prompt"),
    ];
    for (body, param) in cases {
        let (status, answer) = s.post_json("/v1/completions", &body).await;
        let e = error_of(status, &answer, 400);
        assert_eq!(e["param"], param, "{body} → {answer}");
        assert_eq!(e["type"], "invalid_request_error");
    }
    // The context error states both lengths.
    let (status, answer) = s
        .post_json("/v1/completions", &json!({"prompt": "x".repeat(3000)}))
        .await;
    let msg = error_of(status, &answer, 400)["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(msg.contains("3001") && msg.contains("2048"), "{msg}");
    let (status, answer) = s
        .post_json(
            "/v1/completions",
            &json!({"prompt": "abc", "max_tokens": 5000}),
        )
        .await;
    let msg = error_of(status, &answer, 400)["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        msg.contains('4') && msg.contains("5000") && msg.contains("2048"),
        "{msg}"
    );
    // Chat names max_completion_tokens.
    let (status, answer) = s
        .post_json(
            "/v1/chat/completions",
            &json!({"messages": [{"role": "user", "content": "a"}], "max_completion_tokens": 0}),
        )
        .await;
    assert_eq!(
        error_of(status, &answer, 400)["param"],
        "max_completion_tokens"
    );
    // Malformed JSON.
    let r = s
        .client
        .post(s.url("/v1/completions"))
        .header("content-type", "application/json")
        .body("{\"prompt\": \"a\",")
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let answer: Value = r.json().await.unwrap();
    error_of(status, &answer, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_model_and_route_are_404() {
    let s = TestServer::tiny().await;
    let (status, answer) = s
        .post_json("/v1/completions", &json!({"model": "gpt-x", "prompt": "a"}))
        .await;
    let e = error_of(status, &answer, 404);
    assert_eq!(e["message"], "The model `gpt-x` does not exist.");
    assert_eq!(e["param"], "model");
    let (status, answer) = s
        .post_json(
            "/v1/chat/completions",
            &json!({"model": "gpt-x", "messages": [{"role": "user", "content": "a"}]}),
        )
        .await;
    error_of(status, &answer, 404);
    let (status, answer) = s.post_json("/v1/embeddings", &json!({"input": "a"})).await;
    error_of(status, &answer, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_body_is_413() {
    let mut config = tiny_config();
    config.max_request_body_bytes = 1024;
    let s = TestServer::tiny_with(config, EngineConfig::default()).await;
    let (status, answer) = s
        .post_json("/v1/completions", &json!({"prompt": "y".repeat(4096)}))
        .await;
    let e = error_of(status, &answer, 413);
    assert!(e["message"].as_str().unwrap().contains("1024"), "{answer}");
    // Under the limit is fine.
    let (status, _) = s
        .post_json("/v1/completions", &json!({"prompt": "y", "max_tokens": 1}))
        .await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_key_guards_v1_only() {
    let mut config = tiny_config();
    config.api_key = Some("sekrit".into());
    let s = TestServer::tiny_with(config, EngineConfig::default()).await;
    let body = json!({"prompt": "a", "max_tokens": 1});
    for auth in [None, Some("Bearer wrong"), Some("sekrit")] {
        let mut req = s.client.post(s.url("/v1/completions")).json(&body);
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let answer: Value = r.json().await.unwrap();
        assert_eq!(
            error_of(status, &answer, 401)["type"],
            "authentication_error"
        );
    }
    let r = s
        .client
        .post(s.url("/v1/completions"))
        .bearer_auth("sekrit")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let models = s.client.get(s.url("/v1/models")).send().await.unwrap();
    assert_eq!(models.status(), 401);
    let health = s.client.get(s.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_waiting_queue_is_429_with_retry_after() {
    let mut config = tiny_config();
    config.max_waiting_requests = Some(2);
    // One sequence at a time, so the others wait.
    let engine_config = EngineConfig {
        scheduler: SchedulerOptions {
            max_num_seqs: 1,
            ..SchedulerOptions::default()
        },
        ..EngineConfig::default()
    };
    let s = TestServer::tiny_with(config, engine_config).await;
    let body = json!({"prompt": "a", "max_tokens": 24, "ignore_eos": true});
    let mut tasks = Vec::new();
    for _ in 0..12 {
        let client = s.client.clone();
        let url = s.url("/v1/completions");
        let body = body.clone();
        tasks.push(tokio::spawn(async move {
            let r = client.post(url).json(&body).send().await.unwrap();
            let status = r.status().as_u16();
            let retry = r
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_owned());
            let answer: Value = r.json().await.unwrap();
            (status, retry, answer)
        }));
    }
    let mut ok = 0;
    let mut rejected = 0;
    for t in tasks {
        let (status, retry, answer) = t.await.unwrap();
        match status {
            200 => ok += 1,
            429 => {
                rejected += 1;
                assert_eq!(retry.as_deref(), Some("1"));
                assert_eq!(error_of(status, &answer, 429)["type"], "rate_limit_error");
            }
            other => panic!("unexpected status {other}: {answer}"),
        }
    }
    assert!(ok >= 1 && rejected >= 1, "ok {ok}, rejected {rejected}");
    let m = s.metrics().await;
    assert_eq!(
        metric(&m, "dyno:requests_total", "outcome=\"rejected\""),
        f64::from(rejected)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loading_is_503_then_ready() {
    let (release, wait) = std::sync::mpsc::channel::<()>();
    let s = TestServer::spawn(tiny_config(), move || {
        wait.recv().map_err(|e| e.to_string())?;
        engine("tiny", &EngineConfig::default())
    })
    .await;
    let health = s.client.get(s.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), 503);
    let (status, answer) = s
        .post_json("/v1/completions", &json!({"prompt": "a"}))
        .await;
    assert_eq!(
        error_of(status, &answer, 503)["type"],
        "service_unavailable_error"
    );
    let m = s.metrics().await;
    assert_eq!(metric(&m, "dyno:model_ready", "tiny"), 0.0);
    release.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(60), s.wait_ready())
        .await
        .unwrap();
    let (status, _) = s
        .post_json("/v1/completions", &json!({"prompt": "a", "max_tokens": 1}))
        .await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_loader_stops_the_server_with_its_error() {
    let s = TestServer::spawn(tiny_config(), || Err("no weights at /nowhere".into())).await;
    let err = s.join().await.unwrap_err();
    assert!(err.to_string().contains("/nowhere"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn template_refusal_is_400() {
    let mut config = tiny_config();
    config.chat_template = ChatTemplate::new(
        "{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}{{ messages[0]['content'] }}",
        "test",
        "",
        "",
    )
    .unwrap();
    let s = TestServer::tiny_with(config, EngineConfig::default()).await;
    let (status, answer) = s
        .post_json(
            "/v1/chat/completions",
            &json!({"messages": [{"role": "system", "content": "a"}, {"role": "user", "content": "b"}]}),
        )
        .await;
    let e = error_of(status, &answer, 400);
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("System role not supported"),
        "{answer}"
    );
    assert_eq!(e["param"], "messages");
}
