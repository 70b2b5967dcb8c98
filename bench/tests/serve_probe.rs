//! `--probe-request-rate`: single-token "Hi" probes beside the run, outside `--max-concurrency`,
//! at the configured rate, reported apart from the run (vLLM's "Probe Requests" block and
//! `probe_*` keys), against a scripted server that answers probes quickly and the run slowly.

mod serve_support;

use std::time::{Duration, Instant};

use dyno_bench::endpoint::Backend;
use dyno_bench::modes::serve;
use dyno_bench::report::json::result_json;
use dyno_bench::report::{RunHeader, table};
use serve_support::*;

const MS: fn(u64) -> Duration = Duration::from_millis;

fn is_probe(seen: &Seen) -> bool {
    let body: serde_json::Value = serde_json::from_str(&seen.body).unwrap();
    body["prompt"] == "Hi"
}

fn header() -> RunHeader {
    RunHeader {
        date: "20261103-101112".into(),
        backend: "openai".into(),
        label: "openai".into(),
        model_id: "m".into(),
        tokenizer_id: "m".into(),
        num_prompts: 4,
        metadata: Vec::new(),
        request_rate: f64::INFINITY,
        burstiness: 1.0,
        max_concurrency: Some(1),
        ramp_up: None,
        tokenizer_source: "none".into(),
        duration_limit: None,
        warmups: 0,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_bypass_the_concurrency_limit_and_are_reported_apart() {
    // Run requests take 400 ms each, one at a time (1.6 s in all); a probe takes 10 ms.
    let server = ScriptServer::start(|seen, _| {
        if is_probe(seen) {
            completion_stream(MS(10), MS(0), 1, 1)
        } else {
            completion_stream(MS(100), MS(100), 4, 8)
        }
    })
    .await;
    let ep = endpoint(&server, Backend::OpenAi, Some(Duration::from_secs(5))).await;
    let mut options = serve_options(4, Some(1));
    options.probe_rate = Some(10.0);
    options.run.request_id_prefix = "t-".into();
    let (schedule, output) = serve_run(&ep, &options, std::future::pending()).await;
    assert_eq!(output.outcomes.len(), 4, "probes are not run requests");
    assert!(output.outcomes.iter().all(|o| o.success));
    let secs = output.duration.as_secs_f64();
    let probes = &output.probes;
    // Due at 0, 100, 200, … ms while the run lasts: about 10 per second of run.
    let due = (secs * 10.0).floor() as usize + 1;
    assert!(
        probes.len() + 1 >= due && probes.len() <= due + 1,
        "{} probes in a {secs:.2} s run at 10/s",
        probes.len()
    );
    for p in probes {
        assert!(p.success, "{:?}", p.error);
        // Behind the single slot a probe would wait for a 400 ms request.
        assert!(p.latency < MS(150), "probe took {:?}", p.latency);
        assert_eq!(p.output_tokens, 1);
    }
    // What the server saw: "Hi" for one token, with probe request ids.
    let seen = server.seen.lock().unwrap().clone();
    let probe_seen: Vec<&Seen> = seen.iter().filter(|s| is_probe(s)).collect();
    assert_eq!(probe_seen.len(), probes.len());
    let body: serde_json::Value = serde_json::from_str(&probe_seen[0].body).unwrap();
    assert_eq!(body["max_tokens"], 1);
    assert!(probe_seen[0].head.contains("x-request-id: t-probe-0"));
    // Probes keep their rate while run requests are in flight: consecutive gaps near 100 ms.
    for w in probe_seen.windows(2) {
        let gap = w[1].at.duration_since(w[0].at);
        assert!(gap > MS(60) && gap < MS(160), "probe gap {gap:?}");
    }

    let run = serve::finish(output, schedule, &options, None);
    let stats = run.metrics.probe.clone().unwrap();
    assert_eq!(
        (stats.completed, stats.failed),
        (run.output.probes.len(), 0)
    );
    assert!(stats.median_e2el_ms.unwrap() >= 10.0 && stats.max_e2el_ms.unwrap() < 150.0);
    // The run's own metrics do not see the probes.
    assert_eq!(run.metrics.completed, 4);
    let printed = table::render(&header(), &run);
    let block = printed
        .split("------------------Probe Requests------------------\n")
        .nth(1)
        .expect("a Probe Requests block");
    assert!(block.starts_with(&format!(
        "{:<40} {:<10}\n{:<40} {:<10}\nMedian probe E2EL (ms):",
        "Probe requests completed:", stats.completed, "Probe requests failed:", 0
    )));
    assert!(
        printed.find("Probe Requests").unwrap() < printed.find("Time to First Token").unwrap(),
        "the probe block comes before the latency blocks, as in vLLM"
    );
    let json = result_json(&header(), &run, true);
    let keys = json.keys();
    let at = |k: &str| keys.iter().position(|x| *x == k).unwrap();
    assert_eq!(
        at("probe_completed"),
        at("rtfx") + 1,
        "probe keys follow rtfx"
    );
    assert_eq!(
        &keys[at("probe_completed")..at("probe_completed") + 5],
        [
            "probe_completed",
            "probe_failed",
            "probe_median_e2el_ms",
            "probe_p99_e2el_ms",
            "probe_max_e2el_ms"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_probes_are_counted_and_an_interrupted_run_drops_those_in_flight() {
    // Probes fail with 503; the run streams for seconds and is cancelled after 350 ms.
    let server = ScriptServer::start(|seen, _| {
        if is_probe(seen) {
            Reply {
                status: 503,
                content_type: "application/json",
                steps: vec![Step::Write(br#"{"error":"overloaded"}"#.to_vec())],
            }
        } else {
            completion_stream(MS(10), MS(1000), 10, 8)
        }
    })
    .await;
    let ep = endpoint(&server, Backend::OpenAi, None).await;
    let mut options = serve_options(2, None);
    options.probe_rate = Some(20.0);
    let start = Instant::now();
    let (schedule, output) = serve_run(&ep, &options, tokio::time::sleep(MS(350))).await;
    assert!(start.elapsed() < MS(1000), "stopped promptly");
    assert!(output.interrupted);
    assert!(output.probes.len() >= 5, "{} probes", output.probes.len());
    let error = output.probes[0].error.as_deref().unwrap();
    assert!(
        error.contains("503") && error.contains("overloaded"),
        "{error}"
    );
    let run = serve::finish(output, schedule, &options, None);
    let stats = run.metrics.probe.clone().unwrap();
    assert_eq!(stats.completed, 0);
    assert_eq!(stats.failed, run.output.probes.len());
    assert_eq!(
        stats.median_e2el_ms, None,
        "no latency without a successful probe"
    );
    let json = result_json(&header(), &run, false);
    assert_eq!(json.get("probe_completed"), Some(&serde_json::json!(0)));
    assert_eq!(
        json.get("probe_p99_e2el_ms"),
        Some(&serde_json::Value::Null)
    );
}

#[test]
fn a_bad_probe_rate_is_refused_before_the_run() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let server = ScriptServer::start(|_, _| completion_stream(MS(1), MS(1), 1, 1)).await;
        let ep = endpoint(&server, Backend::OpenAi, None).await;
        let mut options = serve_options(1, None);
        options.probe_rate = Some(f64::INFINITY);
        let e = serve::prepare(&ep, &requests(1), &options)
            .unwrap_err()
            .to_string();
        assert!(e.contains("--probe-request-rate inf"), "{e}");
    });
}
