//! `dyno bench compare` end to end on small result files written here: a real shift is flagged,
//! a copy is not, JSONL runs are compared run by run, and bad input exits 2 naming the file.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::{Value, json};

fn dyno(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dyno"))
        .args(args)
        .env("DYNO_LOG", "error")
        .output()
        .expect("the dyno binary runs")
}

/// A detailed `bench serve` result: `n` requests with TTFTs spread evenly over
/// `ttft_ms · [0.95, 1.05]` and 10 tokens 10 ms apart.
fn result(n: usize, ttft_ms: f64) -> Value {
    let ttfts: Vec<f64> = (0..n)
        .map(|i| ttft_ms * (0.95 + 0.1 * (i * 37 % n) as f64 / n as f64) / 1e3)
        .collect();
    let itls: Vec<Vec<f64>> = (0..n)
        .map(|i| {
            (0..9)
                .map(|k| 0.010 + 1e-4 * ((i + k) % 5) as f64)
                .collect()
        })
        .collect();
    let latencies: Vec<f64> = ttfts
        .iter()
        .zip(&itls)
        .map(|(t, g)| t + g.iter().sum::<f64>())
        .collect();
    json!({
        "date": "20261101-120000", "backend": "openai", "model_id": "mock", "num_prompts": n,
        "request_rate": "inf", "max_concurrency": 10, "duration": 2.0, "completed": n, "failed": 0,
        "request_throughput": n as f64 / 2.0, "output_throughput": n as f64 * 5.0,
        "mean_ttft_ms": ttft_ms, "median_ttft_ms": ttft_ms, "p99_ttft_ms": ttft_ms * 1.05,
        "median_itl_ms": 10.0, "median_tpot_ms": 10.0, "median_e2el_ms": ttft_ms + 90.0,
        "ttfts": ttfts, "itls": itls, "latencies": latencies,
        "output_lens": vec![10; n], "input_lens": vec![32; n], "errors": vec![""; n],
    })
}

fn write(dir: &Path, name: &str, v: &Value) -> String {
    let p = dir.join(name);
    std::fs::write(&p, v.to_string()).unwrap();
    p.to_string_lossy().into_owned()
}

#[test]
fn a_ten_percent_ttft_shift_is_worse_and_the_json_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let a = write(dir.path(), "a.json", &result(100, 50.0));
    let b = write(dir.path(), "b.json", &result(100, 55.0));
    let out_json = dir.path().join("cmp.json");
    let out = dyno(&[
        "bench",
        "compare",
        &a,
        &b,
        "--json",
        out_json.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ttft_line = stdout.lines().find(|l| l.starts_with("| TTFT")).unwrap();
    assert!(
        ttft_line.contains("per request") && ttft_line.ends_with("| worse |"),
        "{ttft_line}"
    );
    let itl_line = stdout.lines().find(|l| l.starts_with("| ITL")).unwrap();
    assert!(itl_line.contains("no significant difference"), "{itl_line}");
    let v: Value = serde_json::from_slice(&std::fs::read(&out_json).unwrap()).unwrap();
    let ttft = &v["metrics"][0];
    assert_eq!(ttft["metric"], "ttft");
    assert_eq!(ttft["verdict"], "worse");
    let shift = ttft["shift"].as_f64().unwrap();
    assert!((4.0..6.0).contains(&shift), "{shift}");
    assert!(ttft["p_adjusted"].as_f64().unwrap() < 0.001);
    assert_eq!(
        v["metrics"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["metric"] == "request_throughput")
            .unwrap()["verdict"],
        "not_tested"
    );
}

#[test]
fn a_copy_shows_no_significant_difference() {
    let dir = tempfile::tempdir().unwrap();
    let a = write(dir.path(), "a.json", &result(60, 50.0));
    let b = write(dir.path(), "b.json", &result(60, 50.0));
    let out = dyno(&["bench", "compare", &a, &b]);
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        !stdout.contains("| worse |") && !stdout.contains("| better |"),
        "{stdout}"
    );
    assert!(stdout.contains("no significant difference"));
}

#[test]
fn jsonl_of_several_runs_compares_run_level_values() {
    let dir = tempfile::tempdir().unwrap();
    let lines = |base: f64| -> String {
        (0..5)
            .map(|i| {
                let mut r = result(10, base + f64::from(i));
                r["request_throughput"] = json!(20.0 - base / 10.0 + f64::from(i) * 0.1);
                r.to_string()
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    let a = dir.path().join("a.jsonl");
    let b = dir.path().join("b.jsonl");
    std::fs::write(&a, lines(50.0)).unwrap();
    std::fs::write(&b, lines(70.0)).unwrap();
    let out = dyno(&["bench", "compare", a.to_str().unwrap(), b.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("(5 run(s))"), "{stdout}");
    let ttft_line = stdout.lines().find(|l| l.starts_with("| TTFT")).unwrap();
    assert!(
        ttft_line.contains("per run") && ttft_line.ends_with("| worse |"),
        "{ttft_line}"
    );
    let thr = stdout
        .lines()
        .find(|l| l.starts_with("| request throughput"))
        .unwrap();
    assert!(thr.ends_with("| worse |"), "{thr}");
}

#[test]
fn bad_input_exits_2_and_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let good = write(dir.path(), "good.json", &result(10, 50.0));
    let missing = dir.path().join("missing.json");
    let out = dyno(&["bench", "compare", &good, missing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.json"));

    let other = write(dir.path(), "other.json", &json!({"elapsed_time": 1.0}));
    let out = dyno(&["bench", "compare", &other, &good]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("other.json") && err.contains("`completed`"),
        "{err}"
    );
}
