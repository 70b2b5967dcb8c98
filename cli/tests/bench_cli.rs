//! `dyno generate` and `dyno bench throughput|latency` end to end: the built binary on the
//! built-in model and the real checkpoints of `../shared/data`.

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::Value;

/// `$DYNO_SHARED_DATA`, else `../shared/data` beside the workspace root.
fn shared_data() -> PathBuf {
    let dir = std::env::var_os("DYNO_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data"))
        });
    assert!(
        dir.is_dir(),
        "shared test data not found at {}",
        dir.display()
    );
    dir
}

fn dyno(args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_dyno"))
        .args(args)
        .env("DYNO_LOG", "error")
        .output()
        .expect("the dyno binary runs");
    assert!(
        out.status.success(),
        "dyno {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn read_json(path: &std::path::Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn generate_tells_the_stories260k_story() {
    let model = shared_data().join("models/stories260K/stories260K.bin");
    let out = dyno(&["generate", "--model", model.to_str().unwrap()]);
    let text = stdout(&out);
    assert!(
        text.starts_with(
            "Once upon a time, there was a little girl named Lily. She loved to play outside in the park."
        ),
        "{text}"
    );
    // The sample ends where llama2.c's run.c ends it: at the next BOS, after one story.
    assert_eq!(text.matches("Once upon a time").count(), 1, "{text}");
}

#[test]
fn generate_stops_at_a_stop_string() {
    let model = shared_data().join("models/stories260K/stories260K.bin");
    let out = dyno(&[
        "generate",
        "--model",
        model.to_str().unwrap(),
        "--stop",
        "Lily",
    ]);
    assert_eq!(
        stdout(&out).trim_end(),
        "Once upon a time, there was a little girl named"
    );
}

#[test]
fn latency_writes_vllm_keys() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("latency.json");
    let out = dyno(&[
        "bench",
        "latency",
        "--input-len",
        "16",
        "--output-len",
        "8",
        "--batch-size",
        "4",
        "--num-iters-warmup",
        "1",
        "--num-iters",
        "3",
        "--kv-cache-memory",
        "64MiB",
        "--output-json",
        json.to_str().unwrap(),
    ]);
    assert!(stdout(&out).contains("Avg latency:"));
    let v = read_json(&json);
    assert_eq!(v["latencies"].as_array().unwrap().len(), 3);
    assert!(v["avg_latency"].as_f64().unwrap() > 0.0);
    for p in ["10", "25", "50", "75", "90", "99"] {
        assert!(
            v["percentiles"][p].as_f64().unwrap() > 0.0,
            "percentile {p}"
        );
    }
    assert!(v["std_latency"].as_f64().unwrap() >= 0.0);
}

#[test]
fn throughput_on_the_builtin_model_counts_every_token() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("throughput.json");
    let out = dyno(&[
        "bench",
        "throughput",
        "--num-prompts",
        "20",
        "--input-len",
        "24",
        "--output-len",
        "10",
        "--kv-cache-memory",
        "256MiB",
        "--output-json",
        json.to_str().unwrap(),
    ]);
    assert!(stdout(&out).contains("Throughput:"), "{}", stdout(&out));
    let v = read_json(&json);
    assert_eq!(v["num_requests"], 20);
    assert_eq!(
        v["total_output_tokens"], 200,
        "ignore_eos: every request runs to 10 tokens"
    );
    assert_eq!(v["total_prompt_tokens"], 20 * 24);
    assert_eq!(v["total_num_tokens"], 20 * 34);
    for key in ["elapsed_time", "requests_per_second", "tokens_per_second"] {
        assert!(v[key].as_f64().unwrap() > 0.0, "{key}");
    }
    assert!(v["mean_ttft_ms"].as_f64().unwrap() > 0.0);
    assert!(v["p99_tpot_ms"].as_f64().unwrap() > 0.0);
    assert!(v["peak_kv_usage"].as_f64().unwrap() > 0.0);
}

#[test]
fn throughput_with_prefix_repetition_hits_the_prefix_cache() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("throughput.json");
    dyno(&[
        "bench",
        "throughput",
        "--dataset-name",
        "prefix_repetition",
        "--num-prompts",
        "16",
        "--prefix-repetition-prefix-len",
        "64",
        "--prefix-repetition-suffix-len",
        "8",
        "--prefix-repetition-num-prefixes",
        "2",
        "--prefix-repetition-output-len",
        "4",
        "--max-num-seqs",
        "2",
        "--kv-cache-memory",
        "64MiB",
        "--output-json",
        json.to_str().unwrap(),
    ]);
    let v = read_json(&json);
    assert_eq!(v["total_output_tokens"], 16 * 4);
    assert!(
        v["prefix_cache_hit_rate"].as_f64().unwrap() > 0.5,
        "16 prompts over 2 shared 64-token prefixes: {v}"
    );
}
