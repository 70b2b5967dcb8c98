//! [`BoundServer`]: bind first, then load the model and serve. The port is open (and `/health`
//! answers 503) while the model loads, so a supervisor sees the process alive; once the loader
//! returns, the engine starts and requests are served until the shutdown future resolves, then
//! the server drains (see [`crate::shutdown`]).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use dyno_engine::{EngineCore, EngineError, EngineHandle};
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::oneshot;

use crate::config::ServerConfig;
use crate::routes::router;
use crate::shutdown::{Drain, DrainOutcome};
use crate::state::AppState;

/// What a model loader may fail with.
pub type LoadError = Box<dyn std::error::Error + Send + Sync>;

/// Why the server could not run.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The address is taken or not ours.
    #[error(
        "cannot listen on {addr}: {source}; pick another --host or --port, or stop what uses it"
    )]
    Bind {
        /// `host:port` asked for.
        addr: String,
        /// The OS's reason.
        source: std::io::Error,
    },
    /// The model loader failed.
    #[error("loading the model failed: {0}")]
    Load(String),
    /// The engine thread could not start.
    #[error("the engine could not start: {0}")]
    Engine(#[from] EngineError),
    /// The HTTP server itself failed.
    #[error("the http server failed: {0}; restart it")]
    Io(#[from] std::io::Error),
}

/// How a server run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServeOutcome {
    /// Shut down before the model finished loading.
    StoppedWhileLoading,
    /// Served, then drained.
    Drained(DrainOutcome),
}

/// A server with its port bound, not yet serving. See the [module docs](self).
#[derive(Debug)]
pub struct BoundServer {
    listener: TcpListener,
    state: Arc<AppState>,
}

/// Pending-connection queue of the listening socket (uvicorn, which vLLM serves with, uses
/// 2048). std's and mio's 128 overflows when a benchmark opens 1000 connections at once, and each
/// dropped SYN costs its request the kernel's 1 s retransmit. The kernel clips it to
/// `net.core.somaxconn`.
const LISTEN_BACKLOG: u32 = 4096;

/// Binds the first address `host` resolves to (with `SO_REUSEADDR`, as `TcpListener::bind`
/// does) and listens with [`LISTEN_BACKLOG`].
async fn listen(host: &str, port: u16) -> std::io::Result<TcpListener> {
    let mut last = None;
    for addr in tokio::net::lookup_host((host, port)).await? {
        let socket = if addr.is_ipv4() {
            TcpSocket::new_v4()
        } else {
            TcpSocket::new_v6()
        }?;
        socket.set_reuseaddr(true)?;
        match socket
            .bind(addr)
            .and_then(|()| socket.listen(LISTEN_BACKLOG))
        {
            Ok(listener) => return Ok(listener),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("{host} resolves to no address"),
        )
    }))
}

impl BoundServer {
    /// Binds `config.host:config.port` (port 0 = any free port).
    ///
    /// # Errors
    /// [`ServerError::Bind`].
    pub async fn bind(config: ServerConfig) -> Result<Self, ServerError> {
        let addr = format!("{}:{}", config.host, config.port);
        let listener =
            listen(&config.host, config.port)
                .await
                .map_err(|source| ServerError::Bind {
                    addr: addr.clone(),
                    source,
                })?;
        Ok(Self {
            listener,
            state: Arc::new(AppState::new(config)),
        })
    }

    /// The bound address (with the port the OS chose for port 0).
    ///
    /// # Errors
    /// The OS's, when the socket has no address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The shared state (metrics, readiness), e.g. for tests.
    pub fn state(&self) -> &Arc<AppState> {
        &self.state
    }

    /// Serves: runs `loader` on a blocking thread while answering 503, then serves the engine
    /// it built until `shutdown` resolves, then drains within `--drain-timeout-sec` and stops
    /// the engine.
    ///
    /// # Errors
    /// The loader's failure, an engine that cannot start, or an HTTP server failure.
    pub async fn serve<L, S>(self, loader: L, shutdown: S) -> Result<ServeOutcome, ServerError>
    where
        L: FnOnce() -> Result<EngineCore, LoadError> + Send + 'static,
        S: Future<Output = ()> + Send + 'static,
    {
        let Self { listener, state } = self;
        let (trigger, stop) = oneshot::channel::<()>();
        let app = router(Arc::clone(&state));
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stop.await;
                })
                .await
        });
        let drain = Drain::new(trigger, task);
        let mut shutdown = std::pin::pin!(shutdown);
        let load = tokio::task::spawn_blocking(loader);
        let core = tokio::select! {
            loaded = load => loaded,
            () = &mut shutdown => {
                state.start_draining();
                drain.run(state.config.drain_timeout).await?;
                return Ok(ServeOutcome::StoppedWhileLoading);
            }
        };
        let core = match core {
            Ok(Ok(core)) => core,
            Ok(Err(e)) => {
                drain.run(state.config.drain_timeout).await?;
                return Err(ServerError::Load(e.to_string()));
            }
            Err(join) => {
                drain.run(state.config.drain_timeout).await?;
                return Err(ServerError::Load(format!("the loader panicked: {join}")));
            }
        };
        let engine = EngineHandle::spawn(core)?;
        state.set_ready(engine.clone());
        tracing::info!(model = %state.config.served_model_name, "model loaded; serving");
        shutdown.await;
        state.start_draining();
        let outcome = drain.run(state.config.drain_timeout).await;
        let _ = tokio::task::spawn_blocking(move || engine.shutdown()).await;
        Ok(ServeOutcome::Drained(outcome?))
    }
}

#[cfg(test)]
mod tests {
    use std::net::TcpStream;
    use std::time::Duration;

    use super::*;
    use crate::chat_template::ChatTemplate;

    /// Four hundred clients connect before the server accepts any (as a benchmark's burst
    /// does while the accept loop is busy): every handshake completes at once, none waits for
    /// a SYN retransmit as it would past std's queue of 128.
    #[tokio::test]
    async fn a_burst_of_connects_fits_the_listen_queue() {
        let mut config = ServerConfig::new("tiny", ChatTemplate::resolve(None, &[]).unwrap());
        config.port = 0;
        let bound = BoundServer::bind(config).await.unwrap();
        let addr = bound.local_addr().unwrap();
        let mut held = Vec::new();
        while held.len() < 400 {
            match TcpStream::connect_timeout(&addr, Duration::from_millis(500)) {
                Ok(stream) => held.push(stream),
                Err(e) => panic!("connection {} was not queued: {e}", held.len() + 1),
            }
        }
    }
}
