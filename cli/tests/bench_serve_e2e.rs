//! End to end on loopback: `dyno serve --port 0` (the built-in model) measured by
//! `dyno bench serve` for completions and chat, streamed and whole (`--disable-stream`), each
//! saving its result with `--save-result --save-detailed`. The saved file must carry vLLM's keys
//! in vLLM's order, every request must complete with the length asked for, and the output
//! tokens must be the server's own count (`usage`). The model comes from `/v1/models` and the
//! tokenizer from the server's `/tokenize`, as a user without local files would run it.

#[path = "../../bench/tests/serve_support/vllm_keys.rs"]
mod vllm_keys;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use vllm_keys::{VLLM_KEYS, keys_in_order};

const PROMPTS: usize = 6;
const OUTPUT_LEN: u64 = 8;

/// `dyno serve` on 127.0.0.1:0, killed when dropped.
struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn start() -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_dyno"))
            .args(["serve", "--port", "0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting dyno serve");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(i) = line.find("http://") {
                    let _ = tx.send(line[i..].trim().to_owned());
                }
            }
        });
        let url = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(url) => url,
            Err(_) => {
                let _ = child.kill();
                panic!("dyno serve printed no address within a minute");
            }
        };
        Self { child, url }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `dyno bench serve` against `url` with `extra` flags, saving `name` in `dir`; returns the
/// saved file's text.
fn bench(url: &str, dir: &Path, name: &str, extra: &[&str]) -> String {
    let prompts = PROMPTS.to_string();
    let output_len = OUTPUT_LEN.to_string();
    let mut child = Command::new(env!("CARGO_BIN_EXE_dyno"))
        .args(["bench", "serve", "--base-url", url])
        .args(["--num-prompts", &prompts, "--input-len", "16"])
        .args(["--output-len", &output_len, "--max-concurrency", "3"])
        .args(["--ready-check-timeout-sec", "60", "--read-timeout", "60"])
        .args([
            "--save-result",
            "--save-detailed",
            "--result-filename",
            name,
        ])
        .args(extra)
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(180);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("dyno bench serve {extra:?} ran past three minutes");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{extra:?}\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("============ Serving Benchmark Result ============"),
        "{stdout}"
    );
    std::fs::read_to_string(dir.join(name)).unwrap()
}

#[test]
fn dyno_serve_measured_by_dyno_bench_serve() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    for (name, extra) in [
        ("completions.json", &[][..]),
        ("chat.json", &["--backend", "openai-chat"][..]),
        ("completions-whole.json", &["--disable-stream"][..]),
        (
            "chat-whole.json",
            &["--backend", "openai-chat", "--disable-stream"][..],
        ),
    ] {
        let text = bench(&server.url, dir.path(), name, extra);
        // vLLM's keys, in vLLM's order, before dyno's own (queue times come with
        // --max-concurrency, after vLLM's three default metrics).
        let keys = keys_in_order(&text);
        assert_eq!(&keys[..VLLM_KEYS.len()], VLLM_KEYS, "{name}");
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["completed"], PROMPTS, "{name}: {v}");
        assert_eq!(v["failed"], 0, "{name}");
        assert_eq!(v["model_id"], "tiny", "{name}: the model from /v1/models");
        assert_eq!(v["output_token_source"], "usage", "{name}");
        // Random data forces ignore_eos: every request generates the length asked for.
        assert_eq!(
            v["total_output_tokens"],
            PROMPTS as u64 * OUTPUT_LEN,
            "{name}"
        );
        let output_lens: Vec<u64> = v["output_lens"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap())
            .collect();
        assert_eq!(output_lens, vec![OUTPUT_LEN; PROMPTS], "{name}");
        // Prompt lengths are the server's count (usage), chat template included for chat.
        let input: u64 = v["total_input_tokens"].as_u64().unwrap();
        assert!(
            input >= PROMPTS as u64 * 16,
            "{name}: {input} prompt tokens"
        );
        let ttfts = v["ttfts"].as_array().unwrap();
        let latencies = v["latencies"].as_array().unwrap();
        let itls = v["itls"].as_array().unwrap();
        if extra.contains(&"--disable-stream") {
            assert_eq!(
                ttfts, latencies,
                "{name}: a whole answer's TTFT is its E2EL"
            );
            assert!(itls.iter().all(|l| l.as_array().unwrap().is_empty()));
        } else {
            // Streamed: one gap per chunk after the first (chat: the role chunk is one too).
            for (l, (t, e)) in itls.iter().zip(ttfts.iter().zip(latencies)) {
                assert!(
                    l.as_array().unwrap().len() as u64 >= OUTPUT_LEN - 1,
                    "{name}"
                );
                assert!(t.as_f64().unwrap() < e.as_f64().unwrap(), "{name}");
            }
        }
        assert_eq!(v["tokenizer_source"], "server /tokenize", "{name}");
    }
}
