//! A minimal HTTP/1.1 client built for measuring: it owns its sockets so that each network read
//! is stamped with [`Instant::now`] the moment it returns, before the response is parsed, and
//! that one stamp applies to every byte (and so every SSE event) of that read.
//!
//! - `TCP_NODELAY` on every connection; a pool of kept-alive connections (as many as requests
//!   in flight: warm-ups open them, the run reuses them); a reused connection that the server
//!   had closed is retried once on a fresh one, before any response byte, so a stale keep-alive
//!   never shows up as a failure.
//! - Each pooled connection keeps its read buffer ([`READ_BUF`] bytes, enough for dozens of SSE
//!   events per `recv`), so the read path allocates nothing per request or per event.
//! - Bodies framed by `Content-Length`, `Transfer-Encoding: chunked` or the connection closing.
//! - `read_timeout` bounds the quiet time of a stream (and the connect): a stream that receives
//!   no byte for that long fails with [`HttpError::Timeout`] instead of hanging the run. It is
//!   one watchdog timer per exchange, not a timer per read: the watchdog sleeps until the last
//!   byte's time plus the limit and, when it wakes and bytes came meanwhile, moves its deadline
//!   on. A stream that flows costs one timer registration per `read_timeout` period instead of
//!   one per read.
//! - [`BlockingClient`]: the same exchange over a blocking socket, for set-up calls made from a
//!   plain thread (the server tokenizer): no runtime, no thread hop per call.
//!
//! Only `http://` is spoken (no TLS): benchmark targets are on the local network.

use std::future::Future;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use thiserror::Error;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Sleep;

/// Size of a connection's read buffer; it grows only for a response head larger than this.
pub const READ_BUF: usize = 16 * 1024;

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

impl Exchange {
    fn not_sent(t: Instant) -> Self {
        Self {
            sent: t,
            connect: None,
            first_byte: None,
            head: None,
            end: Instant::now(),
        }
    }
}

/// A failed exchange, with the phases it got through.
#[derive(Debug)]
pub struct Failure {
    /// What went wrong.
    pub error: HttpError,
    /// The phases before the failure (`sent` is when it was written, or tried).
    pub exchange: Exchange,
}

/// A kept-alive connection and its read buffer.
#[derive(Debug)]
struct Conn<S> {
    stream: S,
    buf: Vec<u8>,
}

impl<S> Conn<S> {
    fn new(stream: S) -> Self {
        Self {
            stream,
            buf: vec![0; READ_BUF],
        }
    }
}

/// Keep-alive connections to one server. See the [module docs](self).
#[derive(Debug)]
pub struct HttpClient {
    addr: SocketAddr,
    idle: Mutex<Vec<Conn<TcpStream>>>,
    read_timeout: Option<Duration>,
    opened: AtomicUsize,
}

enum Framing {
    Length(u64),
    Chunked(ChunkedDecoder),
    UntilClose,
}

impl HttpClient {
    /// A client for the server at `addr`; `read_timeout` bounds a stream's quiet time and the
    /// connect.
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
        if let Some(conn) = pooled {
            match self.exchange_on(conn, None, request, sink).await {
                Err(f) if f.exchange.first_byte.is_none() && is_stale(&f.error) => {}
                other => return other,
            }
        }
        let t = Instant::now();
        let stream = match self.connect().await {
            Ok(s) => s,
            Err(error) => {
                return Err(Failure {
                    error,
                    exchange: Exchange::not_sent(t),
                });
            }
        };
        self.exchange_on(Conn::new(stream), Some(t.elapsed()), request, sink)
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

    async fn exchange_on(
        &self,
        mut conn: Conn<TcpStream>,
        connect: Option<Duration>,
        request: &[u8],
        sink: &mut impl ResponseSink,
    ) -> Result<Exchange, Failure> {
        // The watchdog's timer is created here but registered only if a read has to wait.
        let sleep = self.read_timeout.map(tokio::time::sleep);
        tokio::pin!(sleep);
        let mut transport = Watched {
            stream: &mut conn.stream,
            watchdog: self
                .read_timeout
                .zip(sleep.as_mut().as_pin_mut())
                .map(|(limit, sleep)| Watchdog {
                    limit,
                    last: Instant::now(),
                    sleep,
                }),
        };
        let (result, reusable) =
            run_exchange(&mut transport, &mut conn.buf, connect, request, sink).await;
        if reusable && let Ok(mut idle) = self.idle.lock() {
            idle.push(conn);
        }
        result
    }
}

/// [`HttpClient`]'s exchange over one blocking socket, for a plain thread (set-up calls such as
/// the server tokenizer's): the calling thread writes and reads itself, so a call costs two
/// syscalls and no wake-up of another thread. Keeps its connection alive between calls.
#[derive(Debug)]
pub struct BlockingClient {
    addr: SocketAddr,
    read_timeout: Option<Duration>,
    conn: Option<Conn<std::net::TcpStream>>,
}

impl BlockingClient {
    /// A client for the server at `addr`; `read_timeout` bounds each read and the connect.
    pub fn new(addr: SocketAddr, read_timeout: Option<Duration>) -> Self {
        Self {
            addr,
            read_timeout,
            conn: None,
        }
    }

    /// As [`HttpClient::exchange`], blocking the calling thread.
    pub fn exchange(
        &mut self,
        request: &[u8],
        sink: &mut impl ResponseSink,
    ) -> Result<Exchange, Failure> {
        if let Some(conn) = self.conn.take() {
            match self.exchange_on(conn, None, request, sink) {
                Err(f) if f.exchange.first_byte.is_none() && is_stale(&f.error) => {}
                other => return other,
            }
        }
        let t = Instant::now();
        let stream = self.connect().map_err(|error| Failure {
            error,
            exchange: Exchange::not_sent(t),
        })?;
        self.exchange_on(Conn::new(stream), Some(t.elapsed()), request, sink)
    }

    fn connect(&self) -> Result<std::net::TcpStream, HttpError> {
        let stream = match self.read_timeout {
            Some(limit) => std::net::TcpStream::connect_timeout(&self.addr, limit),
            None => std::net::TcpStream::connect(self.addr),
        }
        .map_err(|source| match source.kind() {
            std::io::ErrorKind::TimedOut => {
                HttpError::Timeout(self.read_timeout.unwrap_or_default())
            }
            _ => HttpError::Connect {
                addr: self.addr,
                source,
            },
        })?;
        let during = "setting socket options";
        stream
            .set_nodelay(true)
            .and_then(|()| stream.set_read_timeout(self.read_timeout))
            .and_then(|()| stream.set_write_timeout(self.read_timeout))
            .map_err(|source| HttpError::Io { during, source })?;
        Ok(stream)
    }

    fn exchange_on(
        &mut self,
        mut conn: Conn<std::net::TcpStream>,
        connect: Option<Duration>,
        request: &[u8],
        sink: &mut impl ResponseSink,
    ) -> Result<Exchange, Failure> {
        let mut transport = Blocking {
            stream: &mut conn.stream,
            limit: self.read_timeout,
        };
        // Every await inside is ready at once (the socket blocks), so this never parks.
        let (result, reusable) = futures::executor::block_on(run_exchange(
            &mut transport,
            &mut conn.buf,
            connect,
            request,
            sink,
        ));
        if reusable {
            self.conn = Some(conn);
        }
        result
    }
}

/// A socket as [`run_exchange`] uses it: write the request, read what comes, with the time of
/// each read's return.
trait Transport {
    /// Writes all of `bytes`.
    fn send(&mut self, bytes: &[u8]) -> impl Future<Output = std::io::Result<()>>;
    /// One read into `buf`: its length (0 at the end of the stream) and when it returned.
    fn recv(&mut self, buf: &mut [u8])
    -> impl Future<Output = Result<(usize, Instant), HttpError>>;
}

/// The stream-quiet watchdog of one exchange. See the [module docs](self).
struct Watchdog<'a> {
    limit: Duration,
    /// When the last byte came (or the request was sent).
    last: Instant,
    sleep: Pin<&'a mut Sleep>,
}

/// An async socket under an optional [`Watchdog`].
struct Watched<'a, 'w> {
    stream: &'a mut TcpStream,
    watchdog: Option<Watchdog<'w>>,
}

impl Transport for Watched<'_, '_> {
    async fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes).await?;
        if let Some(w) = &mut self.watchdog {
            // The quiet time starts now; the sleep, due earlier, moves on when it wakes.
            w.last = Instant::now();
        }
        Ok(())
    }

    async fn recv(&mut self, buf: &mut [u8]) -> Result<(usize, Instant), HttpError> {
        let read = match &mut self.watchdog {
            None => self.stream.read(buf).await,
            Some(w) => loop {
                tokio::select! {
                    biased;
                    r = self.stream.read(&mut *buf) => break r,
                    () = w.sleep.as_mut() => {
                        let deadline = w.last + w.limit;
                        // Tokio's timer counts whole milliseconds: allow for its rounding.
                        if Instant::now() + Duration::from_millis(1) >= deadline {
                            return Err(HttpError::Timeout(w.limit));
                        }
                        w.sleep.as_mut().reset(deadline.into());
                    }
                }
            },
        };
        let at = Instant::now();
        let n = read.map_err(|source| HttpError::Io {
            during: "reading the response",
            source,
        })?;
        if let Some(w) = &mut self.watchdog {
            // The deadline moves lazily: only when the sleep wakes (see the module docs).
            w.last = at;
        }
        Ok((n, at))
    }
}

/// A blocking socket whose read timeout is set on the socket itself.
struct Blocking<'a> {
    stream: &'a mut std::net::TcpStream,
    limit: Option<Duration>,
}

impl Transport for Blocking<'_> {
    async fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes)
    }

    async fn recv(&mut self, buf: &mut [u8]) -> Result<(usize, Instant), HttpError> {
        let n = self
            .stream
            .read(buf)
            .map_err(|source| match source.kind() {
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
                    HttpError::Timeout(self.limit.unwrap_or_default())
                }
                _ => HttpError::Io {
                    during: "reading the response",
                    source,
                },
            })?;
        Ok((n, Instant::now()))
    }
}

/// One request and its response on `transport`, reading into `buf`. Returns the result and
/// whether the connection can be kept for another request (a complete keep-alive response the
/// sink read to the end).
async fn run_exchange<T: Transport>(
    transport: &mut T,
    buf: &mut Vec<u8>,
    connect: Option<Duration>,
    request: &[u8],
    sink: &mut impl ResponseSink,
) -> (Result<Exchange, Failure>, bool) {
    let mut ex = Exchange {
        sent: Instant::now(),
        connect,
        first_byte: None,
        head: None,
        end: Instant::now(),
    };
    let fail = |error, mut ex: Exchange| {
        ex.end = Instant::now();
        (
            Err(Failure {
                error,
                exchange: ex,
            }),
            false,
        )
    };
    if let Err(source) = transport.send(request).await {
        return fail(
            HttpError::Io {
                during: "sending the request",
                source,
            },
            ex,
        );
    }
    if buf.len() < READ_BUF {
        buf.resize(READ_BUF, 0);
    }
    let mut filled = 0;
    let mut received = 0;
    // The head.
    let (mut framing, keep_alive, body_start) = loop {
        if filled == buf.len() {
            buf.resize(buf.len() * 2, 0);
        }
        let (n, at) = match transport.recv(&mut buf[filled..]).await {
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
                    return (Ok(ex), false);
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
            return (Ok(ex), done && keep_alive && go_on);
        }
        let (n, now) = match transport.recv(buf).await {
            Ok(r) => r,
            Err(e) => return fail(e, ex),
        };
        received += n;
        if n == 0 {
            if matches!(framing, Framing::UntilClose) {
                ex.end = now;
                return (Ok(ex), false);
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

/// A loopback HTTP/1.1 server on a port the OS picks, for this module's and the server
/// tokenizer's tests: each connection is served on a thread of its own, request after request
/// (keep-alive), by a handler that writes the whole response itself. It stops accepting after
/// ten seconds, so a test never leaves it behind for long.
#[cfg(test)]
pub(crate) mod test_server {
    use std::io::{Read, Write};
    use std::net::{SocketAddr, TcpListener, TcpStream};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::{Duration, Instant};

    /// One request as the handler sees it.
    pub struct Request {
        /// `POST /tokenize` → `"/tokenize"`.
        pub path: String,
        /// The body (by `Content-Length`).
        pub body: Vec<u8>,
        /// 0 for a connection's first request, then 1, 2, …
        pub index_on_connection: usize,
    }

    /// What the handler wants next.
    pub enum Then {
        /// Wait for another request on this connection.
        KeepAlive,
        /// Close this connection.
        Close,
    }

    /// The address and the number of connections accepted so far.
    pub fn serve(
        handler: impl Fn(&Request, &mut TcpStream) -> Then + Send + Sync + 'static,
    ) -> (SocketAddr, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let (count, handler) = (accepted.clone(), Arc::new(handler));
        std::thread::spawn(move || {
            let stop = Instant::now() + Duration::from_secs(10);
            while Instant::now() < stop {
                let Ok((stream, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(2));
                    continue;
                };
                count.fetch_add(1, Ordering::SeqCst);
                let handler = handler.clone();
                std::thread::spawn(move || connection(stream, &*handler));
            }
        });
        (addr, accepted)
    }

    fn connection(mut stream: TcpStream, handler: &dyn Fn(&Request, &mut TcpStream) -> Then) {
        stream.set_nonblocking(false).unwrap();
        stream.set_nodelay(true).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut buf = Vec::new();
        for index_on_connection in 0.. {
            let Some(head_end) = read_until_head(&mut stream, &mut buf) else {
                return;
            };
            let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
            let path = head.split(' ').nth(1).unwrap_or("").to_owned();
            let length: usize = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().ok())?
                })
                .unwrap_or(0);
            while buf.len() < head_end + length {
                let mut more = [0u8; 4096];
                match stream.read(&mut more) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buf.extend_from_slice(&more[..n]),
                }
            }
            let body = buf[head_end..head_end + length].to_vec();
            buf.drain(..head_end + length);
            let request = Request {
                path,
                body,
                index_on_connection,
            };
            if let Then::Close = handler(&request, &mut stream) {
                return;
            }
        }
    }

    fn read_until_head(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<usize> {
        loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                return Some(i + 4);
            }
            let mut more = [0u8; 4096];
            match stream.read(&mut more) {
                Ok(0) | Err(_) => return None,
                Ok(n) => buf.extend_from_slice(&more[..n]),
            }
        }
    }

    /// Writes a complete response with a JSON body, in one write.
    pub fn json(stream: &mut TcpStream, status: u16, body: &str) {
        let response = format!(
            "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let _ = stream.write_all(response.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::test_server::{Then, json, serve};
    use super::*;

    /// Collects what a response delivered, with the time of each body read.
    #[derive(Default)]
    struct Seen {
        status: u16,
        body: Vec<u8>,
        reads: Vec<Instant>,
    }

    impl ResponseSink for Seen {
        fn head(&mut self, head: &ResponseHead, _: Instant) -> bool {
            self.status = head.status;
            true
        }
        fn body(&mut self, bytes: &[u8], at: Instant) -> bool {
            self.body.extend_from_slice(bytes);
            self.reads.push(at);
            true
        }
    }

    const GET: &[u8] = b"GET /x HTTP/1.1\r\nHost: t\r\n\r\n";

    /// A chunked stream of `pieces` pieces `gap` apart; with `stall`, the server then goes
    /// quiet (without closing) instead of ending the body.
    fn trickle(pieces: usize, gap: Duration, stall: bool) -> (SocketAddr, Arc<AtomicUsize>) {
        serve(move |_, s| {
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
            for i in 0..pieces {
                std::thread::sleep(gap);
                let _ = write!(s, "2\r\n{:02}\r\n", i % 100);
            }
            if stall {
                std::thread::sleep(Duration::from_secs(3));
                return Then::Close;
            }
            let _ = s.write_all(b"0\r\n\r\n");
            Then::KeepAlive
        })
    }

    use std::sync::Arc;

    #[tokio::test]
    async fn a_stream_that_keeps_flowing_outlives_its_read_timeout() {
        // 8 pieces 60 ms apart: 480 ms in all, twice the 240 ms limit, but never 240 ms quiet.
        let (addr, _) = trickle(8, Duration::from_millis(60), false);
        let client = HttpClient::new(addr, Some(Duration::from_millis(240)));
        let start = Instant::now();
        let mut seen = Seen::default();
        let ex = client.exchange(GET, &mut seen).await.expect("no stall");
        assert!(start.elapsed() >= Duration::from_millis(480));
        assert_eq!(seen.body, b"0001020304050607");
        assert_eq!(seen.status, 200);
        assert!(ex.end >= *seen.reads.last().unwrap());
        assert_eq!(
            client.idle_connections(),
            1,
            "the connection went back to the pool"
        );
    }

    #[tokio::test]
    async fn a_stream_that_goes_quiet_fails_one_limit_after_its_last_byte() {
        let (addr, _) = trickle(3, Duration::from_millis(100), true);
        let limit = Duration::from_millis(250);
        let client = HttpClient::new(addr, Some(limit));
        let mut seen = Seen::default();
        let failure = client.exchange(GET, &mut seen).await.unwrap_err();
        assert!(matches!(failure.error, HttpError::Timeout(l) if l == limit));
        let last = *seen.reads.last().expect("three pieces came first");
        let quiet = failure.exchange.end.duration_since(last);
        // Not a deadline from the start (300 ms of pieces + 250 ms), not a limit per read
        // counted from somewhere else: one limit of quiet after the last byte.
        assert!(
            quiet >= limit - Duration::from_millis(2) && quiet < limit + Duration::from_millis(150),
            "failed {quiet:?} after the last byte"
        );
        assert_eq!(seen.body, b"000102");
        assert_eq!(
            client.idle_connections(),
            0,
            "a stalled connection is not kept"
        );
    }

    #[tokio::test]
    async fn pooled_connections_are_reused_and_a_stale_one_is_replaced() {
        // The server closes every connection after its second response.
        let (addr, accepted) = serve(|r, s| {
            json(s, 200, &format!("{{\"n\":{}}}", r.index_on_connection));
            if r.index_on_connection == 1 {
                Then::Close
            } else {
                Then::KeepAlive
            }
        });
        let client = HttpClient::new(addr, Some(Duration::from_secs(2)));
        for expect in [r#"{"n":0}"#, r#"{"n":1}"#, r#"{"n":0}"#] {
            let mut seen = Seen::default();
            client.exchange(GET, &mut seen).await.unwrap();
            assert_eq!(String::from_utf8_lossy(&seen.body), expect);
        }
        // Third exchange: the pooled connection was closed by the server, so one retry on a
        // fresh connection, invisible to the caller.
        assert_eq!(client.connections_opened(), 2);
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn the_blocking_client_keeps_its_connection_and_times_out() {
        let (addr, accepted) = serve(|r, s| {
            if r.path == "/stall" {
                std::thread::sleep(Duration::from_secs(2));
                return Then::Close;
            }
            json(s, 200, &format!("{{\"n\":{}}}", r.index_on_connection));
            Then::KeepAlive
        });
        let mut client = BlockingClient::new(addr, Some(Duration::from_millis(200)));
        for n in 0..3 {
            let mut seen = Seen::default();
            client.exchange(GET, &mut seen).unwrap();
            assert_eq!(
                String::from_utf8_lossy(&seen.body),
                format!("{{\"n\":{n}}}")
            );
        }
        assert_eq!(
            accepted.load(Ordering::SeqCst),
            1,
            "one kept-alive connection"
        );
        let start = Instant::now();
        let failure = client
            .exchange(b"GET /stall HTTP/1.1\r\n\r\n", &mut Seen::default())
            .unwrap_err();
        let took = start.elapsed();
        assert!(
            matches!(failure.error, HttpError::Timeout(_)),
            "{}",
            failure.error
        );
        assert!(
            took >= Duration::from_millis(190) && took < Duration::from_millis(1500),
            "{took:?}"
        );
        // The stalled connection was dropped: the next call opens a new one and succeeds.
        let mut seen = Seen::default();
        client.exchange(GET, &mut seen).unwrap();
        assert_eq!(seen.body, br#"{"n":0}"#);
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
    }

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
