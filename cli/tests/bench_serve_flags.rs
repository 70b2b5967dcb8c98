//! Flag parity with `vllm bench serve`: every long flag of vLLM's parser is either accepted by
//! `dyno bench serve` (it is in `--help`) or refused with a message that names it and says why
//! (not clap's generic "unexpected argument"); and the flags that do something here do it,
//! checked against a small loopback server that records what it was sent.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The long flags of `vllm bench serve`, from vLLM's own parity list
/// `rust/src/bench/tests/python_serve_flags.txt` (vllm-project/vllm @1597854e), which is
/// generated from `vllm.benchmarks.serve.add_cli_args` (`--help` excluded).
const VLLM_SERVE_FLAGS: &[&str] = &[
    "--append-result",
    "--asr-max-audio-len-sec",
    "--asr-min-audio-len-sec",
    "--backend",
    "--base-url",
    "--bfcl-categories",
    "--blazedit-max-distance",
    "--blazedit-min-distance",
    "--burstiness",
    "--chat-template-kwargs",
    "--custom-ensure-client-side-data",
    "--custom-output-len",
    "--dataset-name",
    "--dataset-path",
    "--disable-shuffle",
    "--disable-tqdm",
    "--enable-multimodal-chat",
    "--endpoint",
    "--extra-body",
    "--frequency-penalty",
    "--goodput",
    "--header",
    "--hf-name",
    "--hf-output-len",
    "--hf-split",
    "--hf-subset",
    "--host",
    "--ignore-eos",
    "--input-len",
    "--insecure",
    "--label",
    "--logprobs",
    "--lora-assignment",
    "--lora-modules",
    "--max-concurrency",
    "--metadata",
    "--metric-percentiles",
    "--min-p",
    "--model",
    "--no-oversample",
    "--no-reranker",
    "--no-self-timed",
    "--no-stream",
    "--num-prompts",
    "--num-warmups",
    "--output-len",
    "--percentile-metrics",
    "--plot-dataset-stats",
    "--plot-timeline",
    "--port",
    "--prefix-repetition-num-prefixes",
    "--prefix-repetition-output-len",
    "--prefix-repetition-prefix-len",
    "--prefix-repetition-suffix-len",
    "--presence-penalty",
    "--probe-request-rate",
    "--profile",
    "--ramp-up-end-rps",
    "--ramp-up-start-rps",
    "--ramp-up-strategy",
    "--random-batch-size",
    "--random-input-len",
    "--random-mm-base-items-per-request",
    "--random-mm-bucket-config",
    "--random-mm-limit-mm-per-prompt",
    "--random-mm-num-mm-items-range-ratio",
    "--random-output-len",
    "--random-prefix-len",
    "--random-range-ratio",
    "--ready-check-timeout-sec",
    "--repetition-penalty",
    "--request-id-prefix",
    "--request-rate",
    "--result-dir",
    "--result-filename",
    "--save-detailed",
    "--save-result",
    "--seed",
    "--self-timed",
    "--served-model-name",
    "--sharegpt-output-len",
    "--skip-chat-template",
    "--skip-tokenizer-init",
    "--sonnet-input-len",
    "--sonnet-output-len",
    "--sonnet-prefix-len",
    "--spec-bench-category",
    "--spec-bench-output-len",
    "--speed-bench-category",
    "--speed-bench-dataset-subset",
    "--speed-bench-output-len",
    "--temperature",
    "--timed-trace-chunk-hash-size",
    "--timed-trace-label-hash-ids",
    "--timed-trace-label-input-length",
    "--timed-trace-label-output-length",
    "--timed-trace-label-timestamp",
    "--timed-trace-sec-multiplier",
    "--timeline-itl-thresholds",
    "--tokenizer",
    "--tokenizer-mode",
    "--top-k",
    "--top-p",
    "--trust-remote-code",
    "--use-beam-search",
];

fn dyno() -> Command {
    Command::new(env!("CARGO_BIN_EXE_dyno"))
}

fn bench_serve(args: &[&str]) -> Output {
    dyno()
        .args(["bench", "serve"])
        .args(args)
        .output()
        .expect("running dyno")
}

/// The long flags (and their aliases) of the option lines of `dyno bench serve --help`.
fn accepted_flags() -> (Vec<String>, String) {
    let help = String::from_utf8(bench_serve(&["--help"]).stdout).unwrap();
    let mut flags = Vec::new();
    for line in help.lines() {
        let t = line.trim_start();
        let t = t.strip_prefix("-v, ").unwrap_or(t);
        if line.starts_with("  ")
            && let Some(rest) = t.strip_prefix("--")
        {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect();
            flags.push(format!("--{name}"));
        }
        for marker in ["[alias: ", "[aliases: "] {
            if let Some(i) = line.find(marker) {
                let list = &line[i + marker.len()..];
                let list = &list[..list.find(']').unwrap_or(list.len())];
                flags.extend(list.split(',').map(|a| a.trim().to_owned()));
            }
        }
    }
    (flags, help)
}

#[test]
fn every_vllm_flag_is_accepted_or_refused_with_its_reason() {
    let (accepted, help) = accepted_flags();
    assert!(accepted.contains(&"--base-url".to_owned()), "{help}");
    let refused: Vec<&str> = VLLM_SERVE_FLAGS
        .iter()
        .copied()
        .filter(|f| !accepted.iter().any(|a| a == f))
        .collect();
    assert!(
        refused.len() <= 20,
        "{} of {} vLLM flags refused: {refused:?}",
        refused.len(),
        VLLM_SERVE_FLAGS.len()
    );
    for flag in &refused {
        // Without a value and with one: either way the reason, never clap's generic error.
        for args in [vec![*flag], vec![*flag, "1"]] {
            let out = bench_serve(&args);
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
            assert!(!err.contains("unexpected argument"), "{args:?}: {err}");
            let prefix =
                format!("{flag} (a vllm bench serve flag) is not supported by dyno bench serve: ");
            let why = err
                .split(&prefix)
                .nth(1)
                .unwrap_or_else(|| panic!("{args:?}: no reason in {err}"));
            assert!(why.trim().len() >= 30, "{flag}: reason too thin: {why}");
        }
    }
    // The help names exactly the refused ones, so a user sees them without trying.
    let listed = help
        .lines()
        .find_map(|l| l.strip_prefix("Not supported (vLLM flags that fail with the reason): "))
        .expect("the not-supported line in --help");
    let listed: Vec<&str> = listed.split(", ").collect();
    assert_eq!(listed, refused);
    // A flag vLLM does not have stays clap's error.
    let out = bench_serve(&["--no-such-flag"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("unexpected argument"));
}

#[test]
fn bad_values_of_accepted_vllm_flags_name_the_value() {
    for (args, want) in [
        (
            &["--tokenizer-mode", "mistral"][..],
            "--tokenizer-mode mistral",
        ),
        (&["--random-batch-size", "4"], "--random-batch-size 4"),
        (
            &["--lora-modules", "a", "--lora-assignment", "sticky"],
            "`sticky`",
        ),
        (
            &["--chat-template-kwargs", "[1]"],
            "--chat-template-kwargs `[1]`",
        ),
        (&["--probe-request-rate", "-1"], "--probe-request-rate -1"),
    ] {
        let mut all = vec![
            "--model",
            "m",
            "--tokenizer",
            "byte",
            "--base-url",
            "http://127.0.0.1:9",
        ];
        all.extend_from_slice(args);
        let out = bench_serve(&all);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
    }
}

/// A loopback OpenAI completions server: records every body, answers a stream of three one-token
/// chunks and a usage chunk that gives only the completion count (so prompt lengths stay the
/// dataset's), or one whole JSON answer when asked for `stream: false`.
struct Recorder {
    url: String,
    bodies: Arc<Mutex<Vec<serde_json::Value>>>,
    heads: Arc<Mutex<Vec<String>>>,
}

impl Recorder {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let heads = Arc::new(Mutex::new(Vec::new()));
        let (b, h) = (bodies.clone(), heads.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (b, h) = (b.clone(), h.clone());
                std::thread::spawn(move || serve_connection(stream, &b, &h));
            }
        });
        Self { url, bodies, heads }
    }
}

fn serve_connection(
    stream: TcpStream,
    bodies: &Mutex<Vec<serde_json::Value>>,
    heads: &Mutex<Vec<String>>,
) {
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    loop {
        let mut head = String::new();
        loop {
            let mut line = String::new();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            if line == "\r\n" {
                break;
            }
            head.push_str(&line);
        }
        let len: usize = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse().ok())?
            })
            .unwrap_or(0);
        let mut body = vec![0; len];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        let streamed = body["stream"] != false;
        bodies.lock().unwrap().push(body);
        heads.lock().unwrap().push(head);
        let (content_type, payload) = if streamed {
            let chunk = r#"data: {"choices":[{"index":0,"text":"x"}]}"#;
            (
                "text/event-stream",
                format!(
                    "{chunk}\n\n{chunk}\n\n{chunk}\n\ndata: {}\n\ndata: [DONE]\n\n",
                    r#"{"choices":[],"usage":{"completion_tokens":3}}"#
                ),
            )
        } else {
            (
                "application/json",
                r#"{"choices":[{"index":0,"text":"xxx"}],"usage":{"completion_tokens":3}}"#
                    .to_owned(),
            )
        };
        let reply = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{payload}",
            payload.len()
        );
        if writer.write_all(reply.as_bytes()).is_err() {
            return;
        }
    }
}

/// Runs `dyno bench serve` against `server` (model `m`, the byte tokenizer) with `args` in
/// `dir`, failing the test after a minute.
fn run_in(dir: &Path, server: &Recorder, args: &[&str]) -> (String, String) {
    let mut child = dyno()
        .args(["bench", "serve", "--base-url", &server.url, "--model", "m"])
        .args(["--tokenizer", "byte"])
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("dyno bench serve {args:?} did not finish within a minute");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(out.status.success(), "{args:?}\n{stdout}\n{stderr}");
    (stdout, stderr)
}

#[test]
fn vllm_flags_do_what_they_say_on_the_wire() {
    let server = Recorder::start();
    let dir = tempfile::tempdir().unwrap();
    let (stdout, _) = run_in(
        dir.path(),
        &server,
        &[
            "--num-prompts",
            "4",
            "--random-input-len",
            "16",
            "--input-len",
            "8",
            "--random-output-len",
            "3",
            "--random-prefix-len",
            "2",
            "--lora-modules",
            "x",
            "y",
            "--lora-assignment",
            "round-robin",
            "--max-concurrency",
            "1",
            "--request-id-prefix",
            "flags-",
            "--probe-request-rate",
            "5",
            // Accepted no-ops.
            "--insecure",
            "--trust-remote-code",
            "--tokenizer-mode",
            "hf",
            "--skip-tokenizer-init",
            "--no-stream",
            "--custom-ensure-client-side-data",
            "--random-batch-size",
            "1",
            "--disable-tqdm",
            "--save-result",
            "--result-filename",
            "r.json",
        ],
    );
    assert!(stdout.contains("Probe request rate: 5.0 req/s"), "{stdout}");
    assert!(stdout.contains("Probe Requests"), "{stdout}");
    let bodies = server.bodies.lock().unwrap().clone();
    let heads = server.heads.lock().unwrap().clone();
    let runs: Vec<(usize, &serde_json::Value)> = bodies
        .iter()
        .enumerate()
        .filter(|(_, b)| b["prompt"] != "Hi")
        .collect();
    assert_eq!(runs.len(), 4, "four run requests, the rest probes");
    let models: Vec<&str> = runs
        .iter()
        .map(|(_, b)| b["model"].as_str().unwrap())
        .collect();
    assert_eq!(models, ["x", "y", "x", "y"], "--lora-modules round-robin");
    for (i, b) in &runs {
        assert_eq!(b["max_tokens"], 3, "--random-output-len");
        assert_eq!(b["ignore_eos"], true, "random data forces ignore_eos");
        assert!(heads[*i].contains("x-request-id: flags-"), "{}", heads[*i]);
    }
    let probe = bodies
        .iter()
        .find(|b| b["prompt"] == "Hi")
        .expect("a probe");
    assert_eq!(
        (probe["max_tokens"].clone(), probe["model"].clone()),
        (1.into(), "m".into()),
        "a probe names the base model, not an adapter"
    );
    let result: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("r.json")).unwrap()).unwrap();
    assert_eq!(result["completed"], 4);
    // --input-len 8 wins over --random-input-len 16: at most 2 + 8 tokens per prompt.
    let input = result["total_input_tokens"].as_u64().unwrap();
    assert!(
        input > 4 * 5 && input <= 4 * (2 + 8),
        "{input} prompt tokens"
    );
    assert_eq!(result["total_output_tokens"], 12);
    assert!(result["probe_completed"].as_u64().unwrap() >= 1, "{result}");
    assert_eq!(result["model_id"], "m");
}

#[test]
fn disable_stream_sends_whole_requests() {
    let server = Recorder::start();
    let dir = tempfile::tempdir().unwrap();
    let (stdout, _) = run_in(
        dir.path(),
        &server,
        &[
            "--num-prompts",
            "3",
            "--input-len",
            "8",
            "--output-len",
            "3",
            "--disable-stream",
        ],
    );
    assert!(
        stdout.contains(&format!("{:<40} {:<10}", "Successful requests:", 3)),
        "{stdout}"
    );
    let bodies = server.bodies.lock().unwrap().clone();
    assert_eq!(bodies.len(), 3);
    for b in &bodies {
        assert_eq!(b["stream"], false);
        assert!(b.get("stream_options").is_none());
    }
}
