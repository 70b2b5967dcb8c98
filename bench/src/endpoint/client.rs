//! [`HttpEndpoint`]: a server over HTTP as an [`Endpoint`]. Bodies are built once per request
//! ahead of the run ([`HttpEndpoint::prepare`]); sending writes prebuilt bytes and reads the
//! stream through the [`http`](super::http) client and the [`sse`](super::sse) splitter into
//! the backend's [`StreamState`], then turns it into a [`RequestOutcome`]. The state's chunk
//! list and text are sized for the request's expected output up front, so a stream that ends
//! where it was asked to does not reallocate them while events arrive.
//!
//! Set-up calls (`/v1/models`, `/tokenize`) are plain JSON exchanges: [`HttpEndpoint::get_json`]
//! and [`HttpEndpoint::post_json`] inside the runtime, [`HttpEndpoint::post_json_blocking`] on a
//! [`BlockingClient`] from a plain thread.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use thiserror::Error;

use super::backend::{Backend, PayloadOptions, PrepareError};
use super::http::{
    BlockingClient, Exchange, Failure, HttpClient, HttpError, ResponseHead, ResponseSink,
};
use super::sse::SseSplitter;
use super::stream::StreamState;
use super::{Endpoint, HttpTimings, RequestOptions, RequestOutcome, TokenSource};
use crate::dataset::SampleRequest;

/// Where and how to send (the validated `--base-url`/`--host`/`--port`/`--endpoint`/`--header`
/// flags).
#[derive(Clone, Debug, PartialEq)]
pub struct HttpEndpointConfig {
    /// The wire format.
    pub backend: Backend,
    /// `http://host:port[/prefix]`.
    pub base_url: String,
    /// The route requests go to (the backend's default unless `--endpoint`).
    pub route: String,
    /// Extra headers (`--header K=V`); they override the built-in ones, except `x-request-id`.
    pub headers: Vec<(String, String)>,
    /// Sent as `Authorization: Bearer …` (`OPENAI_API_KEY`).
    pub api_key: Option<String>,
    /// Longest wait for any read (`--read-timeout`).
    pub read_timeout: Option<Duration>,
    /// What every body shares.
    pub payload: PayloadOptions,
}

/// Setup failures: the server cannot be reached or answered something unusable.
#[derive(Debug, Error)]
pub enum EndpointError {
    /// The URL is not `http://host[:port][/path]`.
    #[error("bad base url `{url}`: {why}; expected http://HOST[:PORT][/PATH]")]
    BadUrl {
        /// The URL given.
        url: String,
        /// What is wrong.
        why: &'static str,
    },
    /// The host name did not resolve.
    #[error("cannot resolve `{host}`: {source}")]
    Resolve {
        /// `host:port`.
        host: String,
        /// The resolver's error.
        source: std::io::Error,
    },
    /// The exchange failed.
    #[error("{path}: {source}")]
    Http {
        /// The route.
        path: String,
        /// What failed.
        source: HttpError,
    },
    /// The server answered with an error status.
    #[error("{path}: HTTP {status}: {message}")]
    Status {
        /// The route.
        path: String,
        /// The status.
        status: u16,
        /// The body's message.
        message: String,
    },
    /// The body was not the JSON expected.
    #[error("{path}: unexpected response ({why})")]
    Body {
        /// The route.
        path: String,
        /// What was wrong.
        why: String,
    },
}

/// A request body built ahead of the run.
#[derive(Clone, Debug)]
pub struct PreparedRequest {
    /// The dataset's request id.
    pub request_id: Arc<str>,
    /// The dataset's prompt length (used when the server reports none).
    pub prompt_len: usize,
    /// Output tokens asked for (sizes the stream's buffers; not a limit).
    pub expected_output_len: usize,
    /// The JSON body.
    pub body: Arc<[u8]>,
}

/// A server over HTTP: prebuilt bodies, the connection pool, the stream reader.
#[derive(Debug)]
pub struct HttpEndpoint {
    config: HttpEndpointConfig,
    client: HttpClient,
    /// `/prefix` of the base URL.
    prefix: String,
    /// Header lines shared by every request (`Host`, `Authorization`, `--header`s), CRLF-ended.
    header_block: String,
}

impl HttpEndpoint {
    /// Resolves the server's address; no request is sent yet.
    ///
    /// # Errors
    /// [`EndpointError::BadUrl`] or [`EndpointError::Resolve`].
    pub async fn new(config: HttpEndpointConfig) -> Result<Self, EndpointError> {
        let (host, port, prefix) = parse_url(&config.base_url)?;
        let host_port = format!("{host}:{port}");
        let addrs = tokio::net::lookup_host(&host_port).await;
        let addr = first_address(&host_port, addrs)?;
        Ok(Self::with_address(config, addr, host_port, prefix))
    }

    /// As [`new`](Self::new), resolving on the calling thread (no runtime needed).
    ///
    /// # Errors
    /// As [`new`](Self::new).
    pub fn new_blocking(config: HttpEndpointConfig) -> Result<Self, EndpointError> {
        let (host, port, prefix) = parse_url(&config.base_url)?;
        let host_port = format!("{host}:{port}");
        let addrs = std::net::ToSocketAddrs::to_socket_addrs(&host_port);
        let addr = first_address(&host_port, addrs)?;
        Ok(Self::with_address(config, addr, host_port, prefix))
    }

    fn with_address(
        config: HttpEndpointConfig,
        addr: std::net::SocketAddr,
        host_port: String,
        prefix: String,
    ) -> Self {
        let mut headers: Vec<(String, String)> = vec![
            ("Host".into(), host_port),
            (
                "User-Agent".into(),
                concat!("dyno-bench/", env!("CARGO_PKG_VERSION")).into(),
            ),
            ("Accept".into(), "*/*".into()),
        ];
        if let Some(key) = &config.api_key {
            headers.push(("Authorization".into(), format!("Bearer {key}")));
        }
        for (k, v) in &config.headers {
            if k.eq_ignore_ascii_case("x-request-id") {
                continue;
            }
            match headers.iter_mut().find(|(n, _)| n.eq_ignore_ascii_case(k)) {
                Some(slot) => slot.1 = v.clone(),
                None => headers.push((k.clone(), v.clone())),
            }
        }
        let header_block = headers
            .iter()
            .map(|(k, v)| format!("{k}: {v}\r\n"))
            .collect();
        Self {
            client: HttpClient::new(addr, config.read_timeout),
            config,
            prefix,
            header_block,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &HttpEndpointConfig {
        &self.config
    }

    /// The connection pool.
    pub fn client(&self) -> &HttpClient {
        &self.client
    }

    /// The backend.
    pub fn backend(&self) -> Backend {
        self.config.backend
    }

    /// Builds `request`'s body.
    ///
    /// # Errors
    /// [`PrepareError`] when the backend cannot carry its prompt.
    pub fn prepare(&self, request: &SampleRequest) -> Result<PreparedRequest, PrepareError> {
        self.prepare_as(request, &self.config.payload.model)
    }

    /// Builds `request`'s body with `model` in its `model` field (`--lora-modules`).
    ///
    /// # Errors
    /// As [`prepare`](Self::prepare).
    pub fn prepare_as(
        &self,
        request: &SampleRequest,
        model: &str,
    ) -> Result<PreparedRequest, PrepareError> {
        let body = self
            .config
            .backend
            .payload_for_model(request, &self.config.payload, model)?;
        Ok(PreparedRequest {
            request_id: request.request_id.as_str().into(),
            prompt_len: request.prompt_len,
            expected_output_len: request.expected_output_len,
            body: serde_json::to_vec(&body).unwrap_or_default().into(),
        })
    }

    /// The whole HTTP request (head and body) for `prepared`, sent with `x-request-id`.
    pub fn request_bytes(&self, prepared: &PreparedRequest, x_request_id: &str) -> Vec<u8> {
        let path = format!("{}{}", self.prefix, self.config.route);
        let mut out = Vec::with_capacity(256 + self.header_block.len() + prepared.body.len());
        out.extend_from_slice(
            format!(
                "POST {path} HTTP/1.1\r\n{}Content-Type: application/json\r\nx-request-id: {x_request_id}\r\nContent-Length: {}\r\n\r\n",
                self.header_block,
                prepared.body.len()
            )
            .as_bytes(),
        );
        out.extend_from_slice(&prepared.body);
        out
    }

    /// Sends prebuilt `bytes` of `prepared` and observes the stream; times are taken from just
    /// before the exchange (so a new connection's connect time is inside TTFT, as in vLLM; warm-ups
    /// open the connections beforehand).
    pub async fn execute(
        &self,
        prepared: &PreparedRequest,
        bytes: &[u8],
        run_start: Instant,
    ) -> RequestOutcome {
        // Sized for the output asked for; a huge --output-len grows them as it comes instead.
        let expected = prepared.expected_output_len.min(4096);
        let state = StreamState {
            chunks: Vec::with_capacity(expected + 1),
            text: String::with_capacity(8 * expected),
            ..StreamState::default()
        };
        let origin = Instant::now();
        let mut sink = StreamSink {
            backend: self.config.backend,
            origin,
            sse: SseSplitter::new(),
            state,
            status: 0,
            is_sse: true,
            other_body: Vec::new(),
            retry_after: None,
        };
        let result = self.client.exchange(bytes, &mut sink).await;
        let (exchange, transport_error) = match result {
            Ok(ex) => (ex, None),
            Err(f) => (f.exchange, Some(f.error)),
        };
        let end = exchange.end.saturating_duration_since(origin);
        if transport_error.is_none() {
            sink.finish(end);
        }
        let rel = |t: Option<Instant>| t.map(|t| t.saturating_duration_since(exchange.sent));
        let state = std::mem::take(&mut sink.state);
        let error = if let Some(e) = transport_error {
            Some(e.to_string())
        } else if sink.status != 200 {
            Some(status_message(
                sink.status,
                &sink.other_body,
                sink.retry_after.as_deref(),
            ))
        } else if let Some(e) = &state.error {
            Some(format!("in-band error event: {e}"))
        } else if state.chunks.is_empty() {
            Some(if state.malformed > 0 {
                format!(
                    "no valid chunk: {} event(s) were not valid JSON",
                    state.malformed
                )
            } else {
                "the stream ended without any output chunk".to_owned()
            })
        } else {
            None
        };
        let (output_tokens, source) = match state.completion_tokens {
            Some(n) => (n as usize, TokenSource::Usage),
            None => (state.chunks.len(), TokenSource::Chunks),
        };
        RequestOutcome {
            request_id: prepared.request_id.to_string(),
            success: error.is_none(),
            error,
            prompt_len: state
                .prompt_tokens
                .map_or(prepared.prompt_len, |n| n as usize),
            output_tokens,
            output_token_source: source,
            send_offset: origin.saturating_duration_since(run_start),
            latency: state.chunks.last().map_or(end, |c| c.0),
            total_time: end,
            http: Some(HttpTimings {
                connect: exchange.connect,
                first_byte: rel(exchange.first_byte),
                headers: rel(exchange.head),
            }),
            chunks: state.chunks,
            generated_text: state.text,
            ..RequestOutcome::default()
        }
    }

    /// `GET path` (under the base URL's prefix), parsed as JSON.
    ///
    /// # Errors
    /// [`EndpointError`] on a failed exchange, an error status or a body that is not JSON.
    pub async fn get_json(&self, path: &str) -> Result<Value, EndpointError> {
        self.simple("GET", path, None).await
    }

    /// `POST path` with a JSON `body`, parsed as JSON.
    ///
    /// # Errors
    /// As [`get_json`](Self::get_json).
    pub async fn post_json(&self, path: &str, body: &Value) -> Result<Value, EndpointError> {
        let bytes = serde_json::to_vec(body).unwrap_or_default();
        self.simple("POST", path, Some(&bytes)).await
    }

    /// `POST path` with a JSON `body` on `conn`, blocking the calling thread; parsed as JSON.
    /// `conn` must be this endpoint's ([`blocking_client`](Self::blocking_client)).
    ///
    /// # Errors
    /// As [`get_json`](Self::get_json).
    pub fn post_json_blocking(
        &self,
        conn: &mut BlockingClient,
        path: &str,
        body: &Value,
    ) -> Result<Value, EndpointError> {
        let bytes = serde_json::to_vec(body).unwrap_or_default();
        let (full, request) = self.simple_request("POST", path, Some(&bytes));
        let mut sink = Collect::default();
        let result = conn.exchange(&request, &mut sink);
        simple_result(full, result, sink)
    }

    /// A blocking connection to this endpoint's server, for
    /// [`post_json_blocking`](Self::post_json_blocking).
    pub fn blocking_client(&self) -> BlockingClient {
        BlockingClient::new(self.client.addr(), self.config.read_timeout)
    }

    async fn simple(
        &self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
    ) -> Result<Value, EndpointError> {
        let (full, request) = self.simple_request(method, path, body);
        let mut sink = Collect::default();
        let result = self.client.exchange(&request, &mut sink).await;
        simple_result(full, result, sink)
    }

    /// The full path and the request bytes of a set-up call.
    fn simple_request(&self, method: &str, path: &str, body: Option<&[u8]>) -> (String, Vec<u8>) {
        let full = format!("{}{path}", self.prefix);
        let mut req = format!("{method} {full} HTTP/1.1\r\n{}", self.header_block);
        if let Some(b) = body {
            req.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                b.len()
            ));
        }
        req.push_str("\r\n");
        let mut bytes = req.into_bytes();
        bytes.extend_from_slice(body.unwrap_or_default());
        (full, bytes)
    }
}

/// A set-up call's answer: its JSON body, or why there is none.
fn simple_result(
    full: String,
    result: Result<Exchange, Failure>,
    sink: Collect,
) -> Result<Value, EndpointError> {
    result.map_err(|f| EndpointError::Http {
        path: full.clone(),
        source: f.error,
    })?;
    if sink.status != 200 {
        return Err(EndpointError::Status {
            path: full,
            status: sink.status,
            message: error_message(&sink.body),
        });
    }
    serde_json::from_slice(&sink.body).map_err(|e| EndpointError::Body {
        path: full,
        why: e.to_string(),
    })
}

/// The first address `host_port` resolved to.
fn first_address(
    host_port: &str,
    addrs: std::io::Result<impl Iterator<Item = std::net::SocketAddr>>,
) -> Result<std::net::SocketAddr, EndpointError> {
    addrs
        .map_err(|source| EndpointError::Resolve {
            host: host_port.to_owned(),
            source,
        })?
        .next()
        .ok_or_else(|| EndpointError::Resolve {
            host: host_port.to_owned(),
            source: std::io::Error::other("no address"),
        })
}

impl Endpoint for HttpEndpoint {
    fn name(&self) -> &str {
        self.config.backend.as_str()
    }

    async fn send(
        &self,
        request: &SampleRequest,
        _options: &RequestOptions,
        run_start: Instant,
    ) -> RequestOutcome {
        match self.prepare(request) {
            Ok(p) => {
                let bytes = self.request_bytes(&p, &p.request_id);
                self.execute(&p, &bytes, run_start).await
            }
            Err(e) => RequestOutcome::failed(request, run_start.elapsed(), e.to_string()),
        }
    }
}

/// Splits `http://host[:port][/prefix]`.
fn parse_url(url: &str) -> Result<(String, u16, String), EndpointError> {
    let bad = |why| EndpointError::BadUrl {
        url: url.to_owned(),
        why,
    };
    let rest = if let Some(r) = url.strip_prefix("http://") {
        r
    } else if url.starts_with("https://") {
        return Err(bad(
            "https is not supported (no TLS in the benchmark client)",
        ));
    } else {
        return Err(bad("the scheme must be http://"));
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
        None => (rest, ""),
    };
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let end = v6.find(']').ok_or_else(|| bad("unclosed [ in the host"))?;
        let port = v6[end + 1..].strip_prefix(':');
        (format!("[{}]", &v6[..end]), port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_owned(), Some(p)),
            None => (authority.to_owned(), None),
        }
    };
    if host.is_empty() || host == "[]" {
        return Err(bad("no host"));
    }
    let port = match port {
        Some(p) => p.parse().map_err(|_| bad("the port is not a number"))?,
        None => 80,
    };
    Ok((host, port, path.to_owned()))
}

/// The message of an error body: OpenAI's `error.message`, TGI's `error`, vLLM's `message`, or
/// the start of the text.
fn error_message(body: &[u8]) -> String {
    if let Ok(v) = serde_json::from_slice::<Value>(body) {
        let m = v
            .pointer("/error/message")
            .or_else(|| v.get("error"))
            .or_else(|| v.get("message"))
            .or_else(|| v.get("detail"));
        if let Some(m) = m {
            return m.as_str().map_or_else(|| m.to_string(), str::to_owned);
        }
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return "(empty body)".to_owned();
    }
    text.chars().take(300).collect()
}

fn status_message(status: u16, body: &[u8], retry_after: Option<&str>) -> String {
    let mut m = format!("HTTP {status}: {}", error_message(body));
    if let Some(r) = retry_after {
        m.push_str(&format!(" (retry-after {r})"));
    }
    m
}

struct StreamSink {
    backend: Backend,
    origin: Instant,
    sse: SseSplitter,
    state: StreamState,
    status: u16,
    is_sse: bool,
    other_body: Vec<u8>,
    retry_after: Option<String>,
}

impl StreamSink {
    /// The end of the body at `end`: a last unterminated event, or a non-streamed body.
    fn finish(&mut self, end: Duration) {
        if self.status != 200 {
            return;
        }
        let (backend, state) = (self.backend, &mut self.state);
        if self.is_sse {
            self.sse.finish(|e| backend.on_event(e, end, state));
        } else if !self.other_body.is_empty() {
            backend.on_event(&self.other_body, end, state);
        }
    }
}

impl ResponseSink for StreamSink {
    fn head(&mut self, head: &ResponseHead, _at: Instant) -> bool {
        self.status = head.status;
        self.is_sse = head.status == 200
            && (head.content_type.contains("event-stream") || head.content_type.is_empty());
        self.retry_after = head.retry_after.clone();
        true
    }

    fn body(&mut self, bytes: &[u8], at: Instant) -> bool {
        if self.status == 200 && self.is_sse {
            let rel = at.saturating_duration_since(self.origin);
            let (backend, state) = (self.backend, &mut self.state);
            self.sse.push(bytes, |e| backend.on_event(e, rel, state));
        } else if self.other_body.len() < 1 << 20 {
            self.other_body.extend_from_slice(bytes);
        }
        true
    }
}

#[derive(Default)]
struct Collect {
    status: u16,
    body: Vec<u8>,
}

impl ResponseSink for Collect {
    fn head(&mut self, head: &ResponseHead, _at: Instant) -> bool {
        self.status = head.status;
        true
    }

    fn body(&mut self, bytes: &[u8], _at: Instant) -> bool {
        self.body.extend_from_slice(bytes);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            parse_url("http://127.0.0.1:8000").unwrap(),
            ("127.0.0.1".into(), 8000, String::new())
        );
        assert_eq!(
            parse_url("http://h/api/").unwrap(),
            ("h".into(), 80, "/api".into())
        );
        assert_eq!(
            parse_url("http://[::1]:9/x").unwrap(),
            ("[::1]".into(), 9, "/x".into())
        );
        assert!(parse_url("https://x").is_err());
        assert!(parse_url("ftp://x").is_err());
        assert!(parse_url("http://x:port").is_err());
    }

    #[test]
    fn error_bodies() {
        assert_eq!(
            error_message(
                br#"{"error":{"message":"model `x` not found","type":"not_found_error"}}"#
            ),
            "model `x` not found"
        );
        assert_eq!(
            error_message(br#"{"error":"busy","error_type":"overloaded"}"#),
            "busy"
        );
        assert_eq!(error_message(b"  plain text "), "plain text");
        assert_eq!(error_message(b""), "(empty body)");
    }
}
