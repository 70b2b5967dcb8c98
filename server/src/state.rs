//! [`AppState`]: what every handler shares — the configuration, the engine once it is loaded,
//! the metrics, admission control and id counters. Reads on the request path are lock-free
//! (`OnceLock`, atomics).

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use dyno_engine::{EngineHandle, RequestId};

use crate::config::ServerConfig;
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::validate::ModelLimits;

/// The loaded engine.
#[derive(Debug)]
pub struct Ready {
    /// The engine.
    pub engine: EngineHandle,
    /// Unix seconds when the model became ready (`created` of the model card).
    pub created: u64,
}

/// State shared by every handler. See the [module docs](self).
#[derive(Debug)]
pub struct AppState {
    /// The settings.
    pub config: ServerConfig,
    /// The metrics.
    pub metrics: Metrics,
    ready: OnceLock<Ready>,
    draining: AtomicBool,
    next_request: AtomicU64,
    /// Engine sequences admitted and not yet done.
    in_flight: AtomicUsize,
    id_prefix: String,
}

impl AppState {
    /// State for `config`, with the model not loaded yet.
    pub fn new(config: ServerConfig) -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        Self {
            metrics: Metrics::new(&config.served_model_name),
            config,
            ready: OnceLock::new(),
            draining: AtomicBool::new(false),
            next_request: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            id_prefix: format!("{:08x}", (nanos as u64) & 0xffff_ffff),
        }
    }

    /// Marks the model loaded. A second call is ignored.
    pub fn set_ready(&self, engine: EngineHandle) {
        let _ = self.ready.set(Ready {
            engine,
            created: unix_now(),
        });
    }

    /// The engine, or 503 while it loads or the server drains.
    ///
    /// # Errors
    /// [`ApiError::Loading`], [`ApiError::Draining`].
    pub fn ready(&self) -> Result<&Ready, ApiError> {
        if self.draining.load(Ordering::Relaxed) {
            return Err(ApiError::Draining);
        }
        self.ready.get().ok_or(ApiError::Loading)
    }

    /// The engine if it is loaded, draining or not.
    pub fn engine(&self) -> Option<&EngineHandle> {
        self.ready.get().map(|r| &r.engine)
    }

    /// From now on, new work gets 503.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    /// Whether the server is draining.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// What validation needs to know about the model of `ready`.
    pub fn limits<'a>(&'a self, ready: &'a Ready) -> ModelLimits<'a> {
        ModelLimits {
            served_model_name: &self.config.served_model_name,
            tokenizer: ready.engine.tokenizer().as_ref(),
            max_model_len: ready.engine.max_model_len(),
            vocab_size: ready.engine.model_config().vocab_size,
        }
    }

    /// A fresh engine request id.
    pub fn request_id(&self) -> RequestId {
        RequestId(self.next_request.fetch_add(1, Ordering::Relaxed))
    }

    /// A response id such as `cmpl-1a2b3c4d-17`.
    pub fn response_id(&self, prefix: &str, request: RequestId) -> String {
        format!("{prefix}-{}-{}", self.id_prefix, request.0)
    }

    /// Admission control: admits `seqs` more sequences unless more than
    /// `--max-waiting-requests` already wait. Waiting = admitted sequences not yet done minus
    /// those the engine ran in its last step, so a burst that arrives between two steps counts
    /// as waiting, as it is.
    ///
    /// # Errors
    /// [`ApiError::Overloaded`] (429).
    pub fn admit(
        self: &Arc<Self>,
        engine: &EngineHandle,
        seqs: usize,
    ) -> Result<Admission, ApiError> {
        let in_flight = self.in_flight.fetch_add(seqs, Ordering::AcqRel);
        let admission = Admission {
            state: Arc::clone(self),
            seqs,
        };
        if let Some(limit) = self.config.max_waiting_requests {
            let stats = engine.stats();
            let waiting = in_flight
                .saturating_sub(stats.num_running)
                .max(stats.num_waiting);
            // A queue at its limit takes no more; an empty one always takes a request.
            if waiting >= limit.max(1) {
                drop(admission);
                return Err(ApiError::Overloaded { waiting, limit });
            }
        }
        Ok(admission)
    }
}

/// Sequences counted as in flight until this is dropped.
#[derive(Debug)]
pub struct Admission {
    state: Arc<AppState>,
    seqs: usize,
}

impl Drop for Admission {
    fn drop(&mut self) {
        self.state.in_flight.fetch_sub(self.seqs, Ordering::AcqRel);
    }
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
