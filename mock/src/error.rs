//! The mock server's error type.

use std::net::SocketAddr;

/// What can go wrong when configuring or starting the mock server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MockError {
    /// A configuration value is out of range.
    #[error("--{name}: {message}")]
    Config {
        /// The flag's name.
        name: &'static str,
        /// What is wrong and what to do.
        message: String,
    },
    /// The listening socket could not be opened.
    #[error("cannot listen on {addr}: {source}; pick another --host/--port (0 = any free port)")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The operating-system error.
        #[source]
        source: std::io::Error,
    },
    /// Accepting connections failed for good.
    #[error("accepting connections on {addr} failed: {source}")]
    Accept {
        /// The listening address.
        addr: SocketAddr,
        /// The operating-system error.
        #[source]
        source: std::io::Error,
    },
    /// The pacing thread could not be started.
    #[error("cannot start the pacing thread: {0}")]
    Pacer(#[source] std::io::Error),
}
