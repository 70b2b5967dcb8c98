//! A raw HTTP/1.1 client for the mock's tests: it timestamps every read as it returns, before
//! any parsing, and decodes the chunked body afterwards, so each SSE event gets the arrival time
//! of its last byte.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use dyno_mock::{MockConfig, MockServer, RunningMock};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One received SSE event.
#[derive(Debug, Clone)]
pub struct Arrival {
    /// When its last byte arrived.
    pub at: Instant,
    /// The event's text without the trailing blank line.
    pub text: String,
}

impl Arrival {
    /// The JSON payload of a `data:` event that is not `[DONE]`.
    pub fn json(&self) -> Option<serde_json::Value> {
        let payload = self.text.strip_prefix("data: ")?;
        serde_json::from_str(payload).ok()
    }

    /// Whether the event is a token chunk (a `data:` event with non-empty `choices`).
    pub fn is_chunk(&self) -> bool {
        self.json()
            .and_then(|v| v["choices"].as_array().map(|c| !c.is_empty()))
            .unwrap_or(false)
    }
}

/// What a raw exchange returned.
#[derive(Debug)]
pub struct Exchange {
    /// When the request's last byte was written.
    pub sent: Instant,
    /// Status code.
    pub status: u16,
    /// Header block (lower-cased).
    pub headers: String,
    /// The decoded body.
    pub body: Vec<u8>,
    /// SSE events, in order.
    pub events: Vec<Arrival>,
    /// When the last body byte arrived.
    pub finished: Option<Instant>,
    /// The body ended with the terminating chunk (`0\r\n\r\n`).
    pub complete: bool,
    /// The connection was closed by the server.
    pub closed: bool,
    /// When reading stopped (body complete, connection closed, or time limit).
    pub ended: Instant,
}

impl Exchange {
    /// Token chunks only.
    pub fn chunks(&self) -> Vec<&Arrival> {
        self.events.iter().filter(|e| e.is_chunk()).collect()
    }
}

/// Starts a mock in-process on 127.0.0.1, any port.
pub async fn start(config: MockConfig) -> RunningMock {
    MockServer::bind(config.loopback_any_port())
        .await
        .expect("bind the mock")
        .spawn()
}

/// POSTs `body` (JSON) to `path` on a fresh connection and reads until the body ends, the
/// server closes, or `limit` passes.
pub async fn post(addr: SocketAddr, path: &str, body: &str, limit: Duration) -> Exchange {
    post_raw(addr, path, body, limit).await.decode()
}

/// What arrived, read by read, not yet decoded (decoding in debug builds is slow enough to
/// delay other streams' reads when many finish at once: decode after they all finished).
pub struct Raw {
    sent: Instant,
    reads: Vec<(Instant, Vec<u8>)>,
    closed: bool,
    ended: Instant,
}

impl Raw {
    /// Decodes the exchange.
    pub fn decode(&self) -> Exchange {
        decode(self.sent, &self.reads, self.closed, self.ended)
    }
}

/// [`post`] without decoding.
pub async fn post_raw(addr: SocketAddr, path: &str, body: &str, limit: Duration) -> Raw {
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    exchange(addr, &request, limit).await
}

/// GETs `path`.
pub async fn get(addr: SocketAddr, path: &str) -> Exchange {
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    exchange(addr, &request, Duration::from_secs(5))
        .await
        .decode()
}

async fn exchange(addr: SocketAddr, request: &str, limit: Duration) -> Raw {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    stream
        .write_all(request.as_bytes())
        .await
        .expect("send the request");
    let sent = Instant::now();
    let deadline = tokio::time::Instant::from_std(sent + limit);
    let mut reads: Vec<(Instant, Vec<u8>)> = Vec::new();
    let mut seen = Seen::default();
    let mut buf = vec![0u8; 64 * 1024];
    let mut closed = false;
    loop {
        let n = match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => break,
            Ok(Ok(0)) | Ok(Err(_)) => {
                closed = true;
                break;
            }
            Ok(Ok(n)) => n,
        };
        reads.push((Instant::now(), buf[..n].to_vec()));
        if seen.complete_after(&buf[..n]) {
            break;
        }
    }
    Raw {
        sent,
        reads,
        closed,
        ended: Instant::now(),
    }
}

fn joined(reads: &[(Instant, Vec<u8>)]) -> (Vec<u8>, Vec<Instant>) {
    let mut bytes = Vec::new();
    let mut times = Vec::new();
    for (t, r) in reads {
        bytes.extend_from_slice(r);
        times.extend(std::iter::repeat_n(*t, r.len()));
    }
    (bytes, times)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Tracks, read by read, whether the response (headers plus a chunked or sized body) has fully
/// arrived; cheap per read, so the test client never competes with the server for the CPU.
#[derive(Default)]
struct Seen {
    raw: Vec<u8>,
    body_start: Option<usize>,
    chunked: bool,
    length: usize,
}

impl Seen {
    fn complete_after(&mut self, read: &[u8]) -> bool {
        let from = self.raw.len().saturating_sub(3);
        self.raw.extend_from_slice(read);
        if self.body_start.is_none() {
            let Some(h) = find(&self.raw[from..], b"\r\n\r\n").map(|i| from + i) else {
                return false;
            };
            let headers = String::from_utf8_lossy(&self.raw[..h]).to_ascii_lowercase();
            self.chunked = headers.contains("transfer-encoding: chunked");
            self.length = headers
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            self.body_start = Some(h + 4);
        }
        let start = self.body_start.unwrap_or(0);
        let body = &self.raw[start..];
        if self.chunked {
            body == b"0\r\n\r\n" || body.ends_with(b"\r\n0\r\n\r\n")
        } else {
            body.len() >= self.length
        }
    }
}

/// Decodes a chunked body: `(data, index in the raw body of each data byte, complete)`.
fn dechunk(raw: &[u8]) -> (Vec<u8>, Vec<usize>, bool) {
    let mut data = Vec::new();
    let mut index = Vec::new();
    let mut pos = 0;
    loop {
        let Some(eol) = find(&raw[pos..], b"\r\n") else {
            return (data, index, false);
        };
        let size_text = String::from_utf8_lossy(&raw[pos..pos + eol]).to_string();
        let Ok(size) = usize::from_str_radix(size_text.trim(), 16) else {
            return (data, index, false);
        };
        let start = pos + eol + 2;
        if size == 0 {
            return (data, index, raw.len() >= start + 2);
        }
        if raw.len() < start + size + 2 {
            return (data, index, false);
        }
        data.extend_from_slice(&raw[start..start + size]);
        index.extend(start..start + size);
        pos = start + size + 2;
    }
}

fn decode(sent: Instant, reads: &[(Instant, Vec<u8>)], closed: bool, ended: Instant) -> Exchange {
    let (bytes, times) = joined(reads);
    let h = find(&bytes, b"\r\n\r\n").unwrap_or(bytes.len());
    let headers = String::from_utf8_lossy(&bytes[..h]).to_ascii_lowercase();
    let status = headers
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let raw_body = bytes.get(h + 4..).unwrap_or(&[]);
    let body_time = |i: usize| times[h + 4 + i];
    let (body, at, complete) = if headers.contains("transfer-encoding: chunked") {
        let (d, idx, c) = dechunk(raw_body);
        let at: Vec<Instant> = idx.iter().map(|&i| body_time(i)).collect();
        (d, at, c)
    } else {
        let at = (0..raw_body.len()).map(body_time).collect();
        (raw_body.to_vec(), at, !raw_body.is_empty())
    };
    let mut events = Vec::new();
    let mut start = 0;
    while let Some(e) = find(&body[start..], b"\n\n") {
        let end = start + e;
        events.push(Arrival {
            at: at[end + 1],
            text: String::from_utf8_lossy(&body[start..end]).to_string(),
        });
        start = end + 2;
    }
    Exchange {
        sent,
        status,
        headers,
        finished: at.last().copied(),
        body,
        events,
        complete,
        closed,
        ended,
    }
}

/// A streaming completions request body asking for usage.
pub fn stream_body(max_tokens: u32) -> String {
    format!(
        r#"{{"model":"mock","prompt":"one two three","max_tokens":{max_tokens},"stream":true,"stream_options":{{"include_usage":true}}}}"#
    )
}

/// Milliseconds between two instants.
pub fn ms(from: Instant, to: Instant) -> f64 {
    to.duration_since(from).as_secs_f64() * 1e3
}

/// The median of some values.
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// `n` streamed completions of `tokens` tokens sent at once to `addr`, each given `limit`; their
/// raw exchanges in send order.
pub async fn concurrent_streams(
    addr: SocketAddr,
    n: usize,
    tokens: u32,
    limit: Duration,
) -> Vec<Raw> {
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            tokio::spawn(async move {
                post_raw(addr, "/v1/completions", &stream_body(tokens), limit).await
            })
        })
        .collect();
    let mut raws = Vec::new();
    for t in tasks {
        raws.push(t.await.expect("a stream task panicked"));
    }
    raws
}
