//! The endpoints over HTTP on 127.0.0.1 with the built-in `tiny` model: completions and chat,
//! streamed and not, the exact SSE framing with the usage chunk, tokenize/detokenize, models,
//! version, health and the metrics page.

mod common;

use common::{TestServer, metric, sse_payloads};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completion_non_streaming_has_text_and_usage() {
    let s = TestServer::tiny().await;
    let (status, body) = s
        .post_json(
            "/v1/completions",
            &json!({"model": "tiny", "prompt": "Hello", "max_tokens": 7, "temperature": 0, "ignore_eos": true}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["object"], "text_completion");
    assert_eq!(body["model"], "tiny");
    assert!(body["id"].as_str().unwrap().starts_with("cmpl-"));
    let choices = body["choices"].as_array().unwrap();
    assert_eq!(choices.len(), 1);
    assert_eq!(choices[0]["index"], 0);
    assert_eq!(choices[0]["finish_reason"], "length");
    // BOS + 5 bytes of the byte tokenizer.
    assert_eq!(
        body["usage"],
        json!({"prompt_tokens": 6, "completion_tokens": 7, "total_tokens": 13})
    );

    // Greedy is deterministic: the same request gives the same text, and the stream gives it too.
    let (_, again) = s
        .post_json(
            "/v1/completions",
            &json!({"prompt": "Hello", "max_tokens": 7, "temperature": 0, "ignore_eos": true}),
        )
        .await;
    assert_eq!(again["choices"][0]["text"], choices[0]["text"]);
    let streamed = s
        .post(
            "/v1/completions",
            &json!({"prompt": "Hello", "max_tokens": 7, "temperature": 0, "ignore_eos": true, "stream": true}),
        )
        .await
        .text()
        .await
        .unwrap();
    let text: String = sse_payloads(&streamed)
        .iter()
        .filter(|p| *p != "[DONE]")
        .map(|p| {
            serde_json::from_str::<Value>(p).unwrap()["choices"][0]["text"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(text, choices[0]["text"].as_str().unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_usage_chunk_shape_is_exact() {
    let s = TestServer::tiny().await;
    for (path, body) in [
        (
            "/v1/completions",
            json!({"prompt": "Hi", "max_tokens": 5, "ignore_eos": true, "stream": true,
                   "stream_options": {"include_usage": true}}),
        ),
        (
            "/v1/chat/completions",
            json!({"messages": [{"role": "user", "content": "Hi"}], "max_completion_tokens": 5,
                   "ignore_eos": true, "stream": true, "stream_options": {"include_usage": true}}),
        ),
    ] {
        let r = s.post(path, &body).await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], "text/event-stream");
        let payloads = sse_payloads(&r.text().await.unwrap());
        // 5 token chunks, the usage chunk, [DONE].
        assert_eq!(payloads.len(), 7, "{path}: {payloads:?}");
        assert_eq!(payloads.last().unwrap(), "[DONE]");
        let chunks: Vec<Value> = payloads[..6]
            .iter()
            .map(|p| serde_json::from_str(p).unwrap())
            .collect();
        for (i, c) in chunks[..5].iter().enumerate() {
            assert_eq!(c["choices"].as_array().unwrap().len(), 1, "{path}: {c}");
            assert!(
                c["usage"].is_null(),
                "{path}: usage must be null before the end: {c}"
            );
            assert!(c.as_object().unwrap().contains_key("usage"), "{path}: {c}");
            let finish = &c["choices"][0]["finish_reason"];
            if i < 4 {
                assert!(finish.is_null(), "{path}: {c}");
            } else {
                assert_eq!(finish, "length", "{path}: {c}");
            }
        }
        let usage_chunk = &chunks[5];
        assert_eq!(usage_chunk["choices"], json!([]), "{path}");
        assert_eq!(usage_chunk["usage"]["completion_tokens"], 5, "{path}");
        let u = &usage_chunk["usage"];
        assert_eq!(
            u["total_tokens"].as_u64().unwrap(),
            u["prompt_tokens"].as_u64().unwrap() + 5
        );
        assert_eq!(chunks[0]["id"], usage_chunk["id"]);
        if path.contains("chat") {
            assert_eq!(chunks[0]["object"], "chat.completion.chunk");
            assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
            assert!(chunks[1]["choices"][0]["delta"].get("role").is_none());
        } else {
            assert_eq!(chunks[0]["object"], "text_completion");
        }
    }
    // Without include_usage: no usage chunk at all.
    let r = s
        .post(
            "/v1/completions",
            &json!({"prompt": "Hi", "max_tokens": 3, "ignore_eos": true, "stream": true}),
        )
        .await;
    let payloads = sse_payloads(&r.text().await.unwrap());
    assert_eq!(payloads.len(), 4);
    assert!(payloads[..3].iter().all(|p| !p.contains("\"choices\":[]")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_non_streaming_and_n_with_list_prompts() {
    let s = TestServer::tiny().await;
    let (status, body) = s
        .post_json(
            "/v1/chat/completions",
            &json!({"model": "tiny", "messages": [
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": [{"type": "text", "text": "Hi"}]}],
                "max_tokens": 4, "ignore_eos": true, "logprobs": true, "top_logprobs": 2}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["object"], "chat.completion");
    let choice = &body["choices"][0];
    assert_eq!(choice["message"]["role"], "assistant");
    assert_eq!(choice["logprobs"]["content"].as_array().unwrap().len(), 4);
    assert_eq!(
        choice["logprobs"]["content"][0]["top_logprobs"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    // The built-in template: "<|system|>\nbe brief\n<|user|>\nHi\n<|assistant|>\n", one token a byte.
    let rendered = "<|system|>\nbe brief\n<|user|>\nHi\n<|assistant|>\n".len() as u64;
    assert_eq!(body["usage"]["prompt_tokens"], rendered);
    assert_eq!(body["usage"]["completion_tokens"], 4);

    // Two prompts × n = 2: choices indexed prompt_index * n + sample_index.
    let (status, body) = s
        .post_json(
            "/v1/completions",
            &json!({"prompt": ["ab", "cde"], "n": 2, "max_tokens": 3, "ignore_eos": true, "seed": 7}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let indices: Vec<u64> = body["choices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["index"].as_u64().unwrap())
        .collect();
    assert_eq!(indices, vec![0, 1, 2, 3]);
    assert_eq!(body["usage"]["prompt_tokens"], 3 + 4);
    assert_eq!(body["usage"]["completion_tokens"], 12);

    // Streamed, the same four choices each end once.
    let r = s
        .post(
            "/v1/completions",
            &json!({"prompt": [[1, 2], [3, 4, 5]], "n": 2, "max_tokens": 3, "ignore_eos": true, "stream": true}),
        )
        .await;
    let payloads = sse_payloads(&r.text().await.unwrap());
    let mut finished = vec![0; 4];
    for p in &payloads[..payloads.len() - 1] {
        let c: Value = serde_json::from_str(p).unwrap();
        if !c["choices"][0]["finish_reason"].is_null() {
            finished[c["choices"][0]["index"].as_u64().unwrap() as usize] += 1;
        }
    }
    assert_eq!(finished, vec![1, 1, 1, 1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo_stop_and_logprobs_in_completions() {
    let s = TestServer::tiny().await;
    let (_, body) = s
        .post_json(
            "/v1/completions",
            &json!({"prompt": "abc", "echo": true, "max_tokens": 3, "ignore_eos": true, "logprobs": 1}),
        )
        .await;
    let choice = &body["choices"][0];
    assert!(
        choice["text"].as_str().unwrap().starts_with("abc"),
        "{body}"
    );
    assert_eq!(choice["logprobs"]["tokens"].as_array().unwrap().len(), 3);
    assert_eq!(choice["logprobs"]["text_offset"][0], 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokenize_detokenize_models_version_health() {
    let s = TestServer::tiny().await;
    let (status, t) = s
        .post_json(
            "/tokenize",
            &json!({"model": "tiny", "prompt": "héllo", "return_token_strs": true}),
        )
        .await;
    assert_eq!(status, 200, "{t}");
    // BOS + 6 bytes ("é" is two).
    assert_eq!(t["count"], 7);
    assert_eq!(t["max_model_len"], 2048);
    assert_eq!(t["token_strs"].as_array().unwrap().len(), 7);
    let tokens = t["tokens"].clone();
    let (status, d) = s.post_json("/detokenize", &json!({"tokens": tokens})).await;
    assert_eq!(status, 200);
    assert_eq!(d["prompt"], "héllo");
    let (_, plain) = s
        .post_json(
            "/tokenize",
            &json!({"prompt": "hi", "add_special_tokens": false}),
        )
        .await;
    assert_eq!(plain["tokens"], json!([104, 105]));
    let (_, chat) = s
        .post_json(
            "/tokenize",
            &json!({"messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    assert_eq!(chat["count"], "<|user|>\nhi\n<|assistant|>\n".len());

    let models: Value = s
        .client
        .get(s.url("/v1/models"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(models["object"], "list");
    assert_eq!(models["data"][0]["id"], "tiny");
    assert_eq!(models["data"][0]["max_model_len"], 2048);
    let version: Value = s
        .client
        .get(s.url("/version"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(version["version"], env!("CARGO_PKG_VERSION"));
    let health = s.client.get(s.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(health.text().await.unwrap(), "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_page_parses_and_counts_requests() {
    let s = TestServer::tiny().await;
    for _ in 0..3 {
        let (status, _) = s
            .post_json(
                "/v1/completions",
                &json!({"prompt": "x", "max_tokens": 4, "ignore_eos": true}),
            )
            .await;
        assert_eq!(status, 200);
    }
    let (status, _) = s
        .post_json("/v1/completions", &json!({"prompt": "x", "top_p": 2}))
        .await;
    assert_eq!(status, 400);
    let m = s.metrics().await;
    let l = "model_name=\"tiny\"";
    assert_eq!(
        metric(&m, "dyno:requests_total", "outcome=\"success\""),
        3.0
    );
    assert_eq!(
        metric(&m, "dyno:requests_total", "outcome=\"invalid\""),
        1.0
    );
    assert_eq!(
        metric(
            &m,
            "vllm:request_success_total",
            "finished_reason=\"length\""
        ),
        3.0
    );
    assert_eq!(metric(&m, "vllm:generation_tokens_total", l), 12.0);
    assert_eq!(metric(&m, "vllm:prompt_tokens_total", l), 6.0);
    assert_eq!(metric(&m, "vllm:time_to_first_token_seconds_count", l), 3.0);
    assert_eq!(metric(&m, "vllm:inter_token_latency_seconds_count", l), 9.0);
    assert_eq!(metric(&m, "vllm:e2e_request_latency_seconds_count", l), 3.0);
    assert_eq!(
        metric(&m, "vllm:time_to_first_token_seconds_bucket", "le=\"+Inf\""),
        3.0
    );
    assert_eq!(metric(&m, "dyno:model_ready", l), 1.0);
    assert!(metric(&m, "dyno:kv_blocks_total", l) > 0.0);
    assert!(metric(&m, "vllm:prefix_cache_queries_total", l) > 0.0);
    for name in [
        "vllm:num_requests_running",
        "vllm:num_requests_waiting",
        "vllm:kv_cache_usage_perc",
        "vllm:prefix_cache_hits_total",
        "dyno:kv_blocks_in_use",
    ] {
        metric(&m, name, l);
    }
}
