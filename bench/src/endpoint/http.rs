//! A minimal HTTP/1.1 client built for measuring: it owns its sockets so that each network read
//! is stamped with [`Instant::now`] the moment it returns, before the response is parsed, and
//! that one stamp applies to every byte (and so every SSE event) of that read.
//!
//! - `TCP_NODELAY` on every connection; a pool of kept-alive connections (as many as requests
//!   in flight: warm-ups open them, the run reuses them); a reused connection that the server
//!   had closed is retried once on a fresh one, before any response byte, so a stale keep-alive
//!   never shows up as a failure.
//! - Bodies framed by `Content-Length`, `Transfer-Encoding: chunked` or the connection closing.
//! - `read_timeout` bounds the wait for every read (and the connect): a stalled stream fails
//!   with [`HttpError::Timeout`] instead of hanging the run.
//!
//! Only `http://` is spoken (no TLS): benchmark targets are on the local network.

use std::net::SocketAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use thiserror::Error;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Why an HTTP exchange failed.
#[derive(Debug, Error)]
pub enum HttpError {
    /// The TCP connection could not be opened.
    #[error("cannot connect to {addr}: {source}; is the server running there?")]
    Connect {
        /// The address tried.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// Reading or writing the socket failed (reset, broken pipe, …).
    #[error("connection error {during}: {source}")]
    Io {
        /// `"sending the request"`, `"reading the response"`, …
        during: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
    /// The server closed the connection before the response was complete.
    #[error("the server closed the connection {during} (after {received} response bytes)")]
    Closed {
        /// Where in the exchange.
        during: &'static str,
        /// Response bytes read before the close.
        received: usize,
    },
    /// No byte arrived within the read timeout.
    #[error("no data from the server for {0:?} (--read-timeout); the stream stalled")]
    Timeout(Duration),
    /// The response was not valid HTTP/1.1.
    #[error("malformed HTTP response: {0}")]
    Malformed(String),
}

/// The status line and the headers a caller needs, and when they arrived.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResponseHead {
    /// HTTP status code.
    pub status: u16,
    /// The `Content-Type` header, lower-cased.
    pub content_type: String,
    /// The `Retry-After` header, when sent.
    pub retry_after: Option<String>,
}

/// What a caller does with a response as it arrives.
pub trait ResponseSink {
    /// The head arrived at `at`. Return `false` to stop reading (the connection is dropped).
    fn head(&mut self, head: &ResponseHead, at: Instant) -> bool;
    /// Decoded body bytes of one network read that returned at `at`. Return `false` to stop.
    fn body(&mut self, bytes: &[u8], at: Instant) -> bool;
}

/// When the phases of one exchange happened.
#[derive(Clone, Copy, Debug)]
pub struct Exchange {
    /// When the request's bytes were handed to the socket.
    pub sent: Instant,
    /// Connect time, when a new connection was opened for this exchange.
    pub connect: Option<Duration>,
    /// First response byte.
    pub first_byte: Option<Instant>,
    /// End of the response head.
    pub head: Option<Instant>,
    /// Last response byte.
    pub end: Instant,
}

/// A failed exchange, with the phases it got through.
#[derive(Debug)]
pub struct Failure {
    /// What went wrong.
    pub error: HttpError,
    /// The phases before the failure (`sent` is when it was written, or tried).
    pub exchange: Exchange,
}

/// Keep-alive connections to one server. See the [module docs](self).
#[derive(Debug)]
pub struct HttpClient {
    addr: SocketAddr,
    idle: Mutex<Vec<TcpStream>>,
    read_timeout: Option<Duration>,
    opened: AtomicUsize,
}

enum Framing {
    Length(u64),
    Chunked(ChunkedDecoder),
    UntilClose,
}

impl HttpClient {
    /// A client for the server at `addr`; `read_timeout` bounds each read and the connect.
    pub fn new(addr: SocketAddr, read_timeout: Option<Duration>) -> Self {
        Self {
            addr,
            idle: Mutex::new(Vec::new()),
            read_timeout,
            opened: AtomicUsize::new(0),
        }
    }

    /// The server's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Connections opened so far.
    pub fn connections_opened(&self) -> usize {
        self.opened.load(Ordering::Relaxed)
    }

    /// Idle connections in the pool now.
    pub fn idle_connections(&self) -> usize {
        self.idle.lock().map(|v| v.len()).unwrap_or(0)
    }

    /// Sends `request` (a complete HTTP/1.1 request: head and body) and feeds the response to
    /// `sink`. A reused connection that turns out closed is retried once on a new one.
    pub async fn exchange(
        &self,
        request: &[u8],
        sink: &mut impl ResponseSink,
    ) -> Result<Exchange, Failure> {
        let pooled = self.idle.lock().ok().and_then(|mut v| v.pop());
        if let Some(stream) = pooled {
            match self.exchange_on(stream, None, request, sink).await {
                Err(f) if f.exchange.first_byte.is_none() && is_stale(&f.error) => {}
                other => return other,
            }
        }
        let t = Instant::now();
        let stream = match self.connect().await {
            Ok(s) => s,
            Err(error) => {
                let now = Instant::now();
                return Err(Failure {
                    error,
                    exchange: Exchange {
                        sent: t,
                        connect: None,
                        first_byte: None,
                        head: None,
                        end: now,
                    },
                });
            }
        };
        self.exchange_on(stream, Some(t.elapsed()), request, sink)
            .await
    }

    async fn connect(&self) -> Result<TcpStream, HttpError> {
        let connect = TcpStream::connect(self.addr);
        let stream = match self.read_timeout {
            Some(limit) => tokio::time::timeout(limit, connect)
                .await
                .map_err(|_| HttpError::Timeout(limit))?,
            None => connect.await,
        }
        .map_err(|source| HttpError::Connect {
            addr: self.addr,
            source,
        })?;
        stream.set_nodelay(true).map_err(|source| HttpError::Io {
            during: "setting TCP_NODELAY",
            source,
        })?;
        self.opened.fetch_add(1, Ordering::Relaxed);
        Ok(stream)
    }

    async fn read(
        &self,
        stream: &mut TcpStream,
        buf: &mut [u8],
    ) -> Result<(usize, Instant), HttpError> {
        let read = stream.read(buf);
        let n = match self.read_timeout {
            Some(limit) => tokio::time::timeout(limit, read)
                .await
                .map_err(|_| HttpError::Timeout(limit))?,
            None => read.await,
        }
        .map_err(|source| HttpError::Io {
            during: "reading the response",
            source,
        })?;
        Ok((n, Instant::now()))
    }

    async fn exchange_on(
        &self,
        mut stream: TcpStream,
        connect: Option<Duration>,
        request: &[u8],
        sink: &mut impl ResponseSink,
    ) -> Result<Exchange, Failure> {
        let mut ex = Exchange {
            sent: Instant::now(),
            connect,
            first_byte: None,
            head: None,
            end: Instant::now(),
        };
        let fail = |error, mut ex: Exchange| {
            ex.end = Instant::now();
            Err(Failure {
                error,
                exchange: ex,
            })
        };
        if let Err(source) = stream.write_all(request).await {
            return fail(
                HttpError::Io {
                    during: "sending the request",
                    source,
                },
                ex,
            );
        }
        let mut buf = vec![0u8; 16 * 1024];
        let mut filled = 0;
        let mut received = 0;
        // The head.
        let (mut framing, keep_alive, body_start) = loop {
            if filled == buf.len() {
                buf.resize(buf.len() * 2, 0);
            }
            let (n, at) = match self.read(&mut stream, &mut buf[filled..]).await {
                Ok(r) => r,
                Err(e) => return fail(e, ex),
            };
            if n == 0 {
                return fail(
                    HttpError::Closed {
                        during: "before the response head",
                        received,
                    },
                    ex,
                );
            }
            ex.first_byte.get_or_insert(at);
            filled += n;
            received += n;
            match parse_head(&buf[..filled]) {
                Ok(None) => continue,
                Ok(Some((head, framing, keep_alive, len))) => {
                    ex.head = Some(at);
                    if !sink.head(&head, at) {
                        ex.end = at;
                        return Ok(ex);
                    }
                    break (framing, keep_alive, (len, at));
                }
                Err(e) => return fail(e, ex),
            }
        };
        // The body: first what came with the head, then read by read.
        let (mut start, mut at) = body_start;
        loop {
            let (done, go_on) = match feed(&mut framing, &buf[start..filled], at, sink) {
                Ok(r) => r,
                Err(e) => return fail(e, ex),
            };
            if done || !go_on {
                ex.end = at;
                if done
                    && keep_alive
                    && go_on
                    && let Ok(mut idle) = self.idle.lock()
                {
                    idle.push(stream);
                }
                return Ok(ex);
            }
            let (n, now) = match self.read(&mut stream, &mut buf).await {
                Ok(r) => r,
                Err(e) => return fail(e, ex),
            };
            received += n;
            if n == 0 {
                if matches!(framing, Framing::UntilClose) {
                    ex.end = now;
                    return Ok(ex);
                }
                return fail(
                    HttpError::Closed {
                        during: "mid-response",
                        received,
                    },
                    ex,
                );
            }
            (start, filled, at) = (0, n, now);
        }
    }
}

/// Whether a failure on a reused connection means the server had closed it while idle.
fn is_stale(error: &HttpError) -> bool {
    match error {
        HttpError::Closed { received: 0, .. } => true,
        HttpError::Io { source, .. } => matches!(
            source.kind(),
            std::io::ErrorKind::ConnectionReset
                | std::io::ErrorKind::BrokenPipe
                | std::io::ErrorKind::ConnectionAborted
        ),
        _ => false,
    }
}

/// Feeds body bytes of one read to the sink; returns (body complete, sink wants more).
fn feed(
    framing: &mut Framing,
    bytes: &[u8],
    at: Instant,
    sink: &mut impl ResponseSink,
) -> Result<(bool, bool), HttpError> {
    match framing {
        Framing::Length(remaining) => {
            let take = (*remaining).min(bytes.len() as u64) as usize;
            *remaining -= take as u64;
            let go_on = take == 0 || sink.body(&bytes[..take], at);
            Ok((*remaining == 0, go_on))
        }
        Framing::UntilClose => Ok((false, bytes.is_empty() || sink.body(bytes, at))),
        Framing::Chunked(decoder) => {
            let mut go_on = true;
            decoder.feed(bytes, |data| {
                if go_on {
                    go_on = sink.body(data, at);
                }
            })?;
            Ok((decoder.is_done(), go_on))
        }
    }
}

type Head = (ResponseHead, Framing, bool, usize);

/// Parses a complete response head from `bytes` (`None` while incomplete). Skips `1xx`
/// interim responses.
fn parse_head(bytes: &[u8]) -> Result<Option<Head>, HttpError> {
    let mut offset = 0;
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut response = httparse::Response::new(&mut headers);
        let len = match response.parse(&bytes[offset..]) {
            Ok(httparse::Status::Partial) => return Ok(None),
            Ok(httparse::Status::Complete(len)) => len,
            Err(e) => return Err(HttpError::Malformed(e.to_string())),
        };
        let status = response.code.unwrap_or(0);
        if (100..200).contains(&status) {
            offset += len;
            continue;
        }
        let mut head = ResponseHead {
            status,
            content_type: String::new(),
            retry_after: None,
        };
        let mut length = None;
        let mut chunked = false;
        let mut keep_alive = response.version == Some(1);
        for h in response.headers.iter() {
            let value = String::from_utf8_lossy(h.value);
            if h.name.eq_ignore_ascii_case("content-length") {
                length = Some(value.trim().parse::<u64>().map_err(|_| {
                    HttpError::Malformed(format!("content-length `{value}` is not a number"))
                })?);
            } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = value.to_ascii_lowercase().contains("chunked");
            } else if h.name.eq_ignore_ascii_case("content-type") {
                head.content_type = value.to_ascii_lowercase();
            } else if h.name.eq_ignore_ascii_case("connection") {
                let v = value.to_ascii_lowercase();
                if v.contains("close") {
                    keep_alive = false;
                } else if v.contains("keep-alive") {
                    keep_alive = true;
                }
            } else if h.name.eq_ignore_ascii_case("retry-after") {
                head.retry_after = Some(value.into_owned());
            }
        }
        let framing = if chunked {
            Framing::Chunked(ChunkedDecoder::default())
        } else if let Some(n) = length {
            Framing::Length(n)
        } else if status == 204 || status == 304 {
            Framing::Length(0)
        } else {
            keep_alive = false;
            Framing::UntilClose
        };
        return Ok(Some((head, framing, keep_alive, offset + len)));
    }
}

/// `Transfer-Encoding: chunked`, decoded as bytes arrive.
#[derive(Debug, Default)]
pub struct ChunkedDecoder {
    state: ChunkState,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    /// Reading the hex size (`ext` once a `;` extension started).
    #[default]
    Size,
    SizeDigits {
        size: u64,
        ext: bool,
    },
    Data(u64),
    /// After a chunk's data: `\r\n`.
    DataEnd,
    /// After the last (empty) chunk: trailer lines up to a blank one.
    Trailer {
        line_empty: bool,
    },
    Done,
}

impl ChunkedDecoder {
    /// Whether the terminating chunk and trailer were read.
    pub fn is_done(&self) -> bool {
        self.state == ChunkState::Done
    }

    /// Decodes `input`, handing each piece of chunk data to `out`. Bytes after the end are
    /// ignored.
    pub fn feed(&mut self, mut input: &[u8], mut out: impl FnMut(&[u8])) -> Result<(), HttpError> {
        while !input.is_empty() {
            match self.state {
                ChunkState::Done => return Ok(()),
                ChunkState::Data(remaining) => {
                    let take = remaining.min(input.len() as u64) as usize;
                    out(&input[..take]);
                    input = &input[take..];
                    self.state = if remaining == take as u64 {
                        ChunkState::DataEnd
                    } else {
                        ChunkState::Data(remaining - take as u64)
                    };
                }
                ChunkState::DataEnd => {
                    let b = input[0];
                    input = &input[1..];
                    match b {
                        b'\r' => {}
                        b'\n' => self.state = ChunkState::Size,
                        _ => {
                            return Err(HttpError::Malformed(
                                "chunk data not followed by CRLF".into(),
                            ));
                        }
                    }
                }
                ChunkState::Size | ChunkState::SizeDigits { .. } => {
                    let b = input[0];
                    input = &input[1..];
                    let (size, ext) = match self.state {
                        ChunkState::SizeDigits { size, ext } => (size, ext),
                        _ => (0, false),
                    };
                    self.state = match b {
                        b'\n' => {
                            if size == 0 {
                                ChunkState::Trailer { line_empty: true }
                            } else {
                                ChunkState::Data(size)
                            }
                        }
                        _ if ext => ChunkState::SizeDigits { size, ext },
                        b';' | b'\r' | b' ' | b'\t' => ChunkState::SizeDigits { size, ext: true },
                        _ => {
                            let digit = (b as char).to_digit(16).ok_or_else(|| {
                                HttpError::Malformed(format!("bad chunk size byte {b:#04x}"))
                            })?;
                            let size = size
                                .checked_mul(16)
                                .and_then(|s| s.checked_add(u64::from(digit)))
                                .ok_or_else(|| {
                                    HttpError::Malformed("chunk size overflow".into())
                                })?;
                            ChunkState::SizeDigits { size, ext }
                        }
                    };
                }
                ChunkState::Trailer { line_empty } => {
                    let b = input[0];
                    input = &input[1..];
                    self.state = match b {
                        b'\n' if line_empty => ChunkState::Done,
                        b'\n' => ChunkState::Trailer { line_empty: true },
                        b'\r' => ChunkState::Trailer { line_empty },
                        _ => ChunkState::Trailer { line_empty: false },
                    };
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(pieces: &[&[u8]]) -> (Vec<u8>, bool) {
        let mut d = ChunkedDecoder::default();
        let mut out = Vec::new();
        for p in pieces {
            d.feed(p, |b| out.extend_from_slice(b)).unwrap();
        }
        (out, d.is_done())
    }

    #[test]
    fn chunked_bodies_in_any_split() {
        let body = b"5\r\nhello\r\nb;ext=1\r\n, world\r\n!!\r\n0\r\n\r\n";
        assert_eq!(decode(&[body]), (b"hello, world\r\n!!".to_vec(), true));
        let bytes: Vec<&[u8]> = body.chunks(1).collect();
        assert_eq!(decode(&bytes), (b"hello, world\r\n!!".to_vec(), true));
        assert_eq!(decode(&[b"5\r\nhel"]), (b"hel".to_vec(), false));
        let mut d = ChunkedDecoder::default();
        assert!(d.feed(b"zz\r\n", |_| {}).is_err());
    }

    #[test]
    fn heads_and_framing() {
        let input: &[u8] =
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\
              Transfer-Encoding: chunked\r\n\r\nrest";
        let (head, framing, keep_alive, len) = parse_head(input).unwrap().unwrap();
        assert_eq!(head.status, 200);
        assert_eq!(head.content_type, "text/event-stream");
        assert!(matches!(framing, Framing::Chunked(_)) && keep_alive);
        assert_eq!(&input[len..], b"rest");
        let (head, framing, keep_alive, _) = parse_head(
            b"HTTP/1.1 429 Too Many\r\nRetry-After: 2\r\nConnection: close\r\nContent-Length: 3\r\n\r\n",
        )
        .unwrap()
        .unwrap();
        assert_eq!((head.status, head.retry_after.as_deref()), (429, Some("2")));
        assert!(matches!(framing, Framing::Length(3)) && !keep_alive);
        assert!(
            parse_head(b"HTTP/1.1 200 OK\r\nContent-")
                .unwrap()
                .is_none()
        );
        assert!(parse_head(b"garbage\r\n\r\n").is_err());
    }
}
