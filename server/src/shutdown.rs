//! Shutdown: [`signal`] resolves on SIGTERM or Ctrl-C (SIGINT); [`Drain`] is how the server
//! stops — stop accepting connections, let in-flight requests finish within the drain timeout,
//! then cut what is left (the server then stops the engine, so a stream still running ends with
//! an in-band 503 error event and `[DONE]`).

use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Resolves when the process gets SIGTERM or Ctrl-C.
pub async fn signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("ctrl-c: draining"),
        () = terminate => tracing::info!("SIGTERM: draining"),
    }
}

/// How a drain ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DrainOutcome {
    /// Every in-flight request finished.
    Complete,
    /// The drain timeout cut the requests still running.
    TimedOut,
}

/// The running HTTP server task and its graceful-shutdown trigger.
#[derive(Debug)]
pub struct Drain {
    trigger: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Drain {
    /// Wraps `task`, which shuts down gracefully once `trigger` fires (or is dropped).
    pub fn new(trigger: oneshot::Sender<()>, task: JoinHandle<std::io::Result<()>>) -> Self {
        Self {
            trigger: Some(trigger),
            task,
        }
    }

    /// Stops accepting, waits up to `timeout` for in-flight requests, then stops waiting
    /// (returns [`DrainOutcome::TimedOut`]; the caller stops the engine, which ends the rest).
    ///
    /// # Errors
    /// The HTTP server's own failure (e.g. accepting failed).
    pub async fn run(mut self, timeout: Duration) -> std::io::Result<DrainOutcome> {
        if let Some(trigger) = self.trigger.take() {
            let _ = trigger.send(());
        }
        match tokio::time::timeout(timeout, &mut self.task).await {
            Ok(Ok(result)) => result.map(|()| DrainOutcome::Complete),
            Ok(Err(join)) => Err(std::io::Error::other(join.to_string())),
            Err(_) => {
                tracing::warn!(
                    ?timeout,
                    "drain timeout: cutting the requests still running"
                );
                self.task.abort();
                let _ = (&mut self.task).await;
                Ok(DrainOutcome::TimedOut)
            }
        }
    }
}
