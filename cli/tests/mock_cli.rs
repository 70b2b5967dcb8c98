//! `dyno mock-server` end to end: port 0 prints the address, a stream follows the flags, the
//! stats endpoint counts it, SIGTERM prints the lateness line and exits 0, bad flags exit 2.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn request(addr: &str, method: &str, path: &str, body: &str) -> String {
    let mut s = TcpStream::connect(addr).expect("connect to the mock");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read the answer");
    out
}

#[test]
fn serves_on_an_os_port_and_reports_on_sigterm() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dyno"))
        .args([
            "mock-server",
            "--port",
            "0",
            "--ttft-ms",
            "20",
            "--itl-ms",
            "5",
            "--output-len",
            "12",
            "--tokens-per-chunk",
            "3",
            "--model",
            "m1",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start dyno mock-server");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("dyno mock-server: listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    assert!(!addr.ends_with(":0"));

    let body =
        r#"{"model":"m1","prompt":"a b","stream":true,"stream_options":{"include_usage":true}}"#;
    let start = Instant::now();
    let answer = request(&addr, "POST", "/v1/completions", body);
    let took = start.elapsed();
    let chunks = answer.matches(r#""choices":[{"#).count();
    assert_eq!(chunks, 4, "{answer}");
    assert!(answer.contains(r#""completion_tokens":12"#), "{answer}");
    assert!(answer.contains("data: [DONE]"));
    // first chunk at 20 ms, then 3 more 15 ms apart: 65 ms
    assert!(took >= Duration::from_millis(65), "{took:?}");
    let models = request(&addr, "GET", "/v1/models", "");
    assert!(models.contains(r#""id":"m1""#), "{models}");
    let stats = request(&addr, "GET", "/mock/stats", "");
    assert!(stats.contains(r#""requests":1"#), "{stats}");

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert_eq!(status.code(), Some(0), "{err}");
    assert!(
        err.contains("dyno mock-server: 1 requests; first-chunk lateness"),
        "{err}"
    );
}

#[test]
fn bad_flags_exit_2_and_name_the_flag() {
    for (args, needle) in [
        (vec!["--output-len", "0"], "--output-len"),
        (vec!["--ttft-ms=-3"], "--ttft-ms"),
        (vec!["--host", "nowhere"], "--host"),
        (vec!["--itl-ms", "10", "--jitter-ms", "6"], "--jitter"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_dyno"))
            .arg("mock-server")
            .args(["--port", "0"])
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{args:?}: {err}");
    }
}
