//! A scripted HTTP/1.1 server for the `bench serve` tests: a raw `TcpListener` on 127.0.0.1:0
//! that answers each request with a script of writes, sleeps and closes, so that every quirk
//! (comments, missing `[DONE]`, usage placement, in-band errors, resets, stalls) and every
//! timing is exactly what the test says; plus the fixtures the tests share (an endpoint to it,
//! requests, schedules, a run with no cancellation, serve options).

#![allow(dead_code)] // each test file uses a different part

pub mod vllm_keys;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dyno_bench::arrival::{Schedule, Traffic, schedule};
use dyno_bench::dataset::{Prompt, SampleRequest};
use dyno_bench::endpoint::{
    Backend, HttpEndpoint, HttpEndpointConfig, PayloadOptions, PreparedRequest,
};
use dyno_bench::metrics::serve::ServeMetricsConfig;
use dyno_bench::modes::serve::{self, ServeOptions};
use dyno_bench::runner::{self, RunConfig, RunOutput};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One step of a response.
#[derive(Clone, Debug)]
pub enum Step {
    /// Write these bytes (as one chunk of a chunked body, after the head).
    Write(Vec<u8>),
    /// Sleep this long (the sleeps of a reply add up from the request's arrival).
    Sleep(Duration),
    /// Close the connection now (mid-response when the body is not finished).
    Close,
    /// Never answer again (a stall); the connection stays open.
    Stall,
}

/// A request as the server saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    /// Request line and headers.
    pub head: String,
    /// Body.
    pub body: String,
    /// When the head arrived.
    pub at: Instant,
}

/// How to answer.
#[derive(Clone, Debug)]
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// Content type.
    pub content_type: &'static str,
    /// Body steps (each `Write` is sent as a chunk).
    pub steps: Vec<Step>,
}

type Script = dyn Fn(&Seen, usize) -> Reply + Send + Sync;

/// The running server.
pub struct ScriptServer {
    /// Its address.
    pub addr: SocketAddr,
    /// Requests seen, in order.
    pub seen: Arc<Mutex<Vec<Seen>>>,
    /// Connections accepted.
    pub connections: Arc<AtomicUsize>,
}

impl ScriptServer {
    /// Starts a server answering request `i` with `script(&seen, i)`.
    pub async fn start(script: impl Fn(&Seen, usize) -> Reply + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(AtomicUsize::new(0));
        let script: Arc<Script> = Arc::new(script);
        let counter = Arc::new(AtomicUsize::new(0));
        let (s2, c2) = (seen.clone(), connections.clone());
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                stream.set_nodelay(true).unwrap();
                c2.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(serve(stream, script.clone(), s2.clone(), counter.clone()));
            }
        });
        Self {
            addr,
            seen,
            connections,
        }
    }

    /// `http://addr`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

async fn serve(
    mut stream: TcpStream,
    script: Arc<Script>,
    seen: Arc<Mutex<Vec<Seen>>>,
    counter: Arc<AtomicUsize>,
) {
    let mut buf = Vec::new();
    loop {
        // Read one request: head, then Content-Length bytes.
        let head_end = loop {
            if let Some(i) = find(&buf, b"\r\n\r\n") {
                break i + 4;
            }
            let mut tmp = [0u8; 4096];
            match stream.read(&mut tmp).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&tmp[..n]),
            }
        };
        let at = Instant::now();
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        let len: usize = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse().ok())?
            })
            .unwrap_or(0);
        while buf.len() < head_end + len {
            let mut tmp = [0u8; 4096];
            match stream.read(&mut tmp).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&tmp[..n]),
            }
        }
        let body = String::from_utf8_lossy(&buf[head_end..head_end + len]).into_owned();
        buf.drain(..head_end + len);
        let req = Seen { head, body, at };
        let i = counter.fetch_add(1, Ordering::Relaxed);
        let reply = script(&req, i);
        seen.lock().unwrap().push(req);
        let reason = if reply.status == 200 { "OK" } else { "Error" };
        let head = format!(
            "HTTP/1.1 {} {reason}\r\nContent-Type: {}\r\nTransfer-Encoding: chunked\r\n\r\n",
            reply.status, reply.content_type
        );
        if stream.write_all(head.as_bytes()).await.is_err() {
            return;
        }
        // Sleeps add up from the request's arrival (absolute deadlines: no drift).
        let mut deadline = at;
        for step in reply.steps {
            match step {
                Step::Write(b) => {
                    let mut chunk = format!("{:x}\r\n", b.len()).into_bytes();
                    chunk.extend_from_slice(&b);
                    chunk.extend_from_slice(b"\r\n");
                    if stream.write_all(&chunk).await.is_err() {
                        return;
                    }
                }
                Step::Sleep(d) => {
                    deadline += d;
                    tokio::time::sleep_until(deadline.into()).await;
                }
                Step::Close => return,
                Step::Stall => {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                    return;
                }
            }
        }
        if stream.write_all(b"0\r\n\r\n").await.is_err() {
            return;
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// `data: {json}\n\n`.
pub fn event(json: &str) -> Vec<u8> {
    format!("data: {json}\n\n").into_bytes()
}

/// A completions text chunk.
pub fn text_chunk(text: &str) -> Vec<u8> {
    event(&format!(
        r#"{{"id":"cmpl-1","object":"text_completion","created":1,"model":"m","choices":[{{"index":0,"text":"{text}","logprobs":null,"finish_reason":null}}],"usage":null}}"#
    ))
}

/// OpenAI's separate usage chunk.
pub fn usage_chunk(prompt: u64, completion: u64) -> Vec<u8> {
    event(&format!(
        r#"{{"id":"cmpl-1","object":"text_completion","created":1,"model":"m","choices":[],"usage":{{"prompt_tokens":{prompt},"completion_tokens":{completion},"total_tokens":{}}}}}"#,
        prompt + completion
    ))
}

/// A `200 text/event-stream` reply of `steps`.
pub fn sse(steps: Vec<Step>) -> Reply {
    Reply {
        status: 200,
        content_type: "text/event-stream",
        steps,
    }
}

/// A completions stream: first chunk after `ttft`, then `n - 1` chunks `itl` apart, the usage
/// chunk and `[DONE]`.
pub fn completion_stream(ttft: Duration, itl: Duration, n: usize, prompt_tokens: u64) -> Reply {
    let mut steps = vec![Step::Sleep(ttft), Step::Write(text_chunk("t0"))];
    for i in 1..n {
        steps.push(Step::Sleep(itl));
        steps.push(Step::Write(text_chunk(&format!(" t{i}"))));
    }
    steps.push(Step::Write(usage_chunk(prompt_tokens, n as u64)));
    steps.push(Step::Write(b"data: [DONE]\n\n".to_vec()));
    Reply {
        status: 200,
        content_type: "text/event-stream",
        steps,
    }
}

/// An endpoint to `server` for `backend`.
pub async fn endpoint(
    server: &ScriptServer,
    backend: Backend,
    read_timeout: Option<Duration>,
) -> Arc<HttpEndpoint> {
    let payload = PayloadOptions {
        model: "m".into(),
        ..PayloadOptions::default()
    };
    endpoint_with(server, backend, read_timeout, payload).await
}

/// An endpoint to `server` for `backend` whose bodies share `payload`.
pub async fn endpoint_with(
    server: &ScriptServer,
    backend: Backend,
    read_timeout: Option<Duration>,
    payload: PayloadOptions,
) -> Arc<HttpEndpoint> {
    let config = HttpEndpointConfig {
        backend,
        base_url: server.url(),
        route: backend.route_for(payload.response).to_owned(),
        headers: vec![("X-Test".into(), "1".into())],
        api_key: Some("sk-test".into()),
        read_timeout,
        payload,
    };
    Arc::new(HttpEndpoint::new(config).await.unwrap())
}

/// The bodies of [`requests`]`(n)` for `ep`.
pub fn prepare(ep: &HttpEndpoint, n: usize) -> Arc<[PreparedRequest]> {
    requests(n)
        .iter()
        .map(|r| ep.prepare(r).unwrap())
        .collect::<Vec<_>>()
        .into()
}

/// `n` requests all due at once (`--request-rate inf`).
pub fn at_once(n: usize) -> Schedule {
    paced(f64::INFINITY, n)
}

/// `n` requests `1/per_second` apart (`--request-rate R --burstiness inf`).
pub fn paced(per_second: f64, n: usize) -> Schedule {
    let traffic = Traffic::Rate {
        rate: per_second,
        burstiness: f64::INFINITY,
    };
    schedule(&traffic, n, 0, &[]).unwrap()
}

/// Runs [`requests`]`(config.num_requests)` against `ep` on `sched`, never cancelled.
pub async fn run_requests(
    ep: &Arc<HttpEndpoint>,
    sched: &Schedule,
    config: &RunConfig,
) -> RunOutput {
    let prepared = prepare(ep, config.num_requests);
    runner::run(
        ep.clone(),
        prepared,
        sched,
        config,
        std::future::pending(),
        &|_| {},
    )
    .await
}

/// Serve options: `n` requests all at once, `max_concurrency` slots, default metrics, no
/// warm-ups, probes or LoRA.
pub fn serve_options(n: usize, max_concurrency: Option<usize>) -> ServeOptions {
    ServeOptions {
        traffic: Traffic::Rate {
            rate: f64::INFINITY,
            burstiness: 1.0,
        },
        seed: 0,
        run: RunConfig {
            max_concurrency,
            num_requests: n,
            ..RunConfig::default()
        },
        num_warmups: 0,
        warmup_output_len: None,
        ready_check: None,
        metrics: ServeMetricsConfig::default(),
        steady_threshold: 0.95,
        probe_rate: None,
        lora: None,
    }
}

/// The serve mode's steps 1 and 2 (no ready check or warm-ups) for [`requests`]`(n)`, where
/// `n` is `options.run.num_requests`, ended early by `cancel`; returns the schedule (for
/// [`serve::finish`]) and the run.
pub async fn serve_run(
    ep: &Arc<HttpEndpoint>,
    options: &ServeOptions,
    cancel: impl Future<Output = ()>,
) -> (Schedule, RunOutput) {
    let reqs = requests(options.run.num_requests);
    let (schedule, prepared) = serve::prepare(ep, &reqs, options).unwrap();
    let (output, _) = serve::run(ep, &prepared, &schedule, options, None, cancel, &|_| {})
        .await
        .unwrap();
    (schedule, output)
}

/// The JSON body of request `i` the server saw.
pub fn body(server: &ScriptServer, i: usize) -> serde_json::Value {
    serde_json::from_str(&server.seen.lock().unwrap()[i].body).unwrap()
}

/// `n` text requests of 8 prompt tokens and 4 output tokens.
pub fn requests(n: usize) -> Vec<SampleRequest> {
    (0..n)
        .map(|i| SampleRequest {
            request_id: format!("r-{i}"),
            prompt: Prompt::Text(format!("prompt {i}")),
            prompt_len: 8,
            expected_output_len: 4,
            timestamp: None,
        })
        .collect()
}

/// Milliseconds of `d`.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
