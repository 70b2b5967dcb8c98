//! The result file: vLLM's keys in vLLM's order (the list of the reference §4.1), vLLM's file
//! name, `--save-detailed`, `--append-result` (JSONL), atomic writes, and a run cancelled by
//! Ctrl-C that still writes its result (the library path, with a cancellation future).

mod serve_support;

use std::time::Duration;

use dyno_bench::endpoint::Backend;
use dyno_bench::modes::serve;
use dyno_bench::report::json::{file_name, result_json, result_path, save};
use dyno_bench::report::{RunHeader, ServeRun, table};
use serve_support::vllm_keys::{VLLM_KEYS, keys_in_order};
use serve_support::*;

fn header(max_concurrency: Option<usize>, rate: f64) -> RunHeader {
    RunHeader {
        date: "20261103-101112".into(),
        backend: "openai".into(),
        label: "openai".into(),
        model_id: "org/tiny-llama".into(),
        tokenizer_id: "org/tiny-llama".into(),
        num_prompts: 4,
        metadata: vec![("gpu".into(), "none".into())],
        request_rate: rate,
        burstiness: 1.0,
        max_concurrency,
        ramp_up: None,
        tokenizer_source: "none".into(),
        duration_limit: None,
        warmups: 0,
    }
}

async fn a_run(cancel_after: Option<Duration>) -> ServeRun {
    let slow = cancel_after.is_some();
    let server = ScriptServer::start(move |_, i| {
        let itl = if i < 2 || !slow { 5 } else { 2000 };
        completion_stream(Duration::from_millis(10), Duration::from_millis(itl), 3, 8)
    })
    .await;
    let ep = endpoint(&server, Backend::OpenAi, None).await;
    let options = serve_options(4, Some(2));
    let cancel = async move {
        match cancel_after {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    let (schedule, output) = serve_run(&ep, &options, cancel).await;
    serve::finish(output, schedule, &options, None)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn result_keys_are_vllms_in_vllms_order() {
    let run = a_run(None).await;
    let h = header(Some(2), f64::INFINITY);
    let text = result_json(&h, &run, true).to_json();
    let keys = keys_in_order(&text);
    // The metadata key sits between num_prompts and request_rate, as in vLLM.
    let mut want: Vec<&str> = VLLM_KEYS.to_vec();
    want.insert(7, "gpu");
    // queue times are added whenever --max-concurrency is set.
    let vllm_part: Vec<&str> = keys
        .iter()
        .map(String::as_str)
        .filter(|k| want.contains(k))
        .collect();
    assert_eq!(vllm_part, want);
    assert_eq!(
        &keys[..want.len()],
        &want[..],
        "vLLM's keys come first, dyno's after"
    );
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        v["request_rate"], "inf",
        "an infinite rate is the string \"inf\""
    );
    assert_eq!(v["max_concurrency"], 2);
    assert_eq!(v["completed"], 4);
    assert_eq!(
        v["itls"][0].as_array().unwrap().len(),
        2,
        "itls are per-request lists"
    );
    assert!(
        v["ttfts"][0].as_f64().unwrap() < 1.0,
        "arrays are in seconds"
    );
    for dyno_key in [
        "mean_itl_per_token_ms",
        "max_output_tokens_per_s_counted_in_tokens",
        "output_token_source",
        "mean_client_queue_time_ms",
        "steady_state",
        "achieved_request_rate",
        "mean_http_first_byte_ms",
    ] {
        assert!(v.get(dyno_key).is_some(), "{dyno_key} missing in {text}");
    }
    assert_eq!(v["output_token_source"], "usage");
    // Without --save-detailed vLLM drops these arrays but keeps latencies and queue_times.
    let brief = result_json(&h, &run, false);
    for k in [
        "input_lens",
        "output_lens",
        "start_times",
        "ttfts",
        "itls",
        "generated_texts",
        "errors",
    ] {
        assert!(brief.get(k).is_none(), "{k}");
    }
    assert!(brief.get("latencies").is_some() && brief.get("queue_times").is_some());
    let printed = table::render(&h, &run);
    assert!(printed.starts_with("============ Serving Benchmark Result ============\n"));
    assert!(printed.contains(&format!("{:<40} {:<10}\n", "Successful requests:", 4)));
    assert!(printed.contains("---------------Time to First Token----------------\n"));
}

#[test]
fn file_names_are_vllms() {
    let mut h = header(None, 10.0);
    assert_eq!(
        file_name(&h),
        "openai-10.0qps-tiny-llama-20261103-101112.json"
    );
    h.max_concurrency = Some(8);
    h.request_rate = f64::INFINITY;
    assert_eq!(
        file_name(&h),
        "openai-infqps-concurrency8-tiny-llama-20261103-101112.json"
    );
    h.ramp_up = Some(("linear".into(), 1, 20));
    assert_eq!(
        file_name(&h),
        "openai-ramp-up-linear-1qps-20qps-concurrency8-tiny-llama-20261103-101112.json"
    );
    let dir = std::path::Path::new("/tmp/x");
    assert!(result_path(&h, Some(dir), None).starts_with(dir));
    assert_eq!(
        result_path(&h, Some(dir), Some(std::path::Path::new("r.json"))),
        dir.join("r.json")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_run_still_writes_its_result_atomically_and_appends() {
    let run = a_run(Some(Duration::from_millis(300))).await;
    assert!(run.output.interrupted);
    assert_eq!(run.metrics.completed, 2, "the two quick requests finished");
    assert_eq!(run.metrics.failed, 2, "the two long ones were cancelled");
    let dir = tempfile::tempdir().unwrap();
    let h = header(Some(2), f64::INFINITY);
    let path = result_path(&h, Some(&dir.path().join("new")), None);
    let result = result_json(&h, &run, false);
    save(&path, &result, false).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["interrupted"], true);
    assert_eq!(v["completed"], 2);
    // --append-result: one JSON document per line.
    save(&path, &result, true).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2);
    assert!(
        lines
            .iter()
            .all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok())
    );
    // Nothing but the result is left in the directory (no temporary files).
    let names: Vec<_> = std::fs::read_dir(path.parent().unwrap()).unwrap().collect();
    assert_eq!(names.len(), 1);
}
