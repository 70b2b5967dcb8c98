//! Binding, accepting and serving connections (HTTP/1.1 keep-alive, `TCP_NODELAY`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::MockConfig;
use crate::error::MockError;
use crate::pacer::Timer;
use crate::routes::{self, State};
use crate::stats::{ServerStats, StatsSnapshot};

/// A bound mock server; [`MockServer::serve`] runs it.
pub struct MockServer {
    listener: TcpListener,
    addr: SocketAddr,
    state: Arc<State>,
    stop_tx: Arc<watch::Sender<bool>>,
}

/// Stops a running server (its accept loop and every open connection).
#[derive(Clone)]
pub struct ShutdownHandle(Arc<watch::Sender<bool>>);

impl ShutdownHandle {
    /// Asks the server to stop; [`MockServer::serve`] returns soon after.
    pub fn shutdown(&self) {
        self.0.send_replace(true);
    }
}

/// Pending-connection queue of the listening socket. std's and mio's 128 overflows when a
/// client opens 1000 connections at once (the client-accuracy benchmark at c = 1000): the
/// dropped SYNs come back after the kernel's 1 s retransmit and show up as TTFT error. The
/// kernel clips it to `net.core.somaxconn`.
const LISTEN_BACKLOG: u32 = 4096;

/// Binds `addr` (with `SO_REUSEADDR`, as `TcpListener::bind` does) and listens with
/// [`LISTEN_BACKLOG`].
fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()
    } else {
        TcpSocket::new_v6()
    }?;
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

impl MockServer {
    /// Validates `config` and binds its address (port 0: any free port, see
    /// [`MockServer::local_addr`]). Call inside a tokio runtime.
    ///
    /// # Errors
    /// [`MockError::Config`] for a bad value, [`MockError::Bind`] when the address is taken,
    /// [`MockError::Pacer`] when the pacing thread cannot start.
    pub async fn bind(config: MockConfig) -> Result<MockServer, MockError> {
        config.validate()?;
        let listener = listen(config.addr).map_err(|source| MockError::Bind {
            addr: config.addr,
            source,
        })?;
        let addr = listener.local_addr().map_err(|source| MockError::Bind {
            addr: config.addr,
            source,
        })?;
        let created = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let state = Arc::new(State {
            model_json: serde_json::to_string(&config.model).unwrap_or_else(|_| "\"mock\"".into()),
            timer: Timer::new(config.timer)?,
            config,
            created,
            stats: Arc::new(ServerStats::default()),
            serial: AtomicU64::new(0),
        });
        let (stop_tx, _) = watch::channel(false);
        Ok(MockServer {
            listener,
            addr,
            state,
            stop_tx: Arc::new(stop_tx),
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The server's counters (they stay readable after it stops).
    pub fn stats(&self) -> Arc<ServerStats> {
        Arc::clone(&self.state.stats)
    }

    /// A handle that stops [`MockServer::serve`].
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle(Arc::clone(&self.stop_tx))
    }

    /// Accepts and serves connections until the shutdown handle fires; open connections are
    /// closed then.
    ///
    /// # Errors
    /// Never for transient accept errors (too many open files and the like: it waits 10 ms and
    /// goes on); the signature leaves room for fatal ones.
    pub async fn serve(self) -> Result<(), MockError> {
        let mut stop = self.stop_tx.subscribe();
        loop {
            let accepted = tokio::select! {
                a = self.listener.accept() => a,
                _ = stop.wait_for(|s| *s) => return Ok(()),
            };
            let stream = match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing_free_warn(&e);
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let state = Arc::clone(&self.state);
            let mut stop = self.stop_tx.subscribe();
            tokio::spawn(async move {
                let service = service_fn(move |req| routes::handle(req, Arc::clone(&state)));
                let conn = http1::Builder::new()
                    .keep_alive(true)
                    .serve_connection(TokioIo::new(stream), service);
                tokio::select! {
                    _ = conn => {}
                    _ = stop.wait_for(|s| *s) => {}
                }
            });
        }
    }

    /// Spawns [`MockServer::serve`] on the current runtime.
    pub fn spawn(self) -> RunningMock {
        let addr = self.addr;
        let stats = self.stats();
        let handle = self.shutdown_handle();
        let task = tokio::spawn(self.serve());
        RunningMock {
            addr,
            stats,
            handle,
            task,
        }
    }
}

/// Accept errors are rare and transient (EMFILE); one line on stderr, no logging dependency.
fn tracing_free_warn(e: &std::io::Error) {
    eprintln!("dyno mock-server: accept failed: {e}; retrying in 10 ms (raise `ulimit -n`?)");
}

/// A server running on a tokio task (tests start one on port 0).
pub struct RunningMock {
    addr: SocketAddr,
    stats: Arc<ServerStats>,
    handle: ShutdownHandle,
    task: JoinHandle<Result<(), MockError>>,
}

impl RunningMock {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The counters now.
    pub fn stats(&self) -> StatsSnapshot {
        self.stats.snapshot()
    }

    /// Stops the server, waits for its accept loop, and returns the final counters.
    pub async fn stop(self) -> StatsSnapshot {
        self.handle.shutdown();
        let _ = self.task.await;
        self.stats.snapshot()
    }
}

/// Resolves on Ctrl-C (SIGINT) or SIGTERM, whichever comes first (for `dyno mock-server`).
pub async fn termination_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

#[cfg(test)]
mod tests {
    use std::net::TcpStream;

    use super::*;

    /// A burst of connections that nobody accepts yet all complete: the queue is not std's 128
    /// (past it, the kernel drops the SYN and the connect waits for its 1 s retransmit).
    #[tokio::test]
    async fn a_burst_of_connects_fits_the_listen_queue() {
        let listener = listen("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();
        let held: Vec<TcpStream> = (0..400)
            .map(|i| {
                TcpStream::connect_timeout(&addr, Duration::from_millis(500)).unwrap_or_else(|e| {
                    panic!("connect {i} of 400 not accepted into the queue: {e}")
                })
            })
            .collect();
        assert_eq!(held.len(), 400);
    }
}
