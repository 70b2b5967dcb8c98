//! [`EngineHandle`]: the engine as an async actor.
//!
//! The [`EngineCore`] runs on its own OS thread (the model forward is long, blocking CPU work
//! that must not sit on an async runtime's workers). Callers talk to it through a channel:
//! [`EngineHandle::generate`] queues a request and returns a [`RequestStream`] of its
//! [`TokenEvent`]s. Between steps the loop takes every queued command, so requests that arrive
//! while a step runs join the next one (continuous batching). Dropping a stream before its
//! request finished aborts the request and frees its KV blocks, which is how a disconnected
//! HTTP client releases its work.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::thread::JoinHandle;

use futures::Stream;
use tokio::sync::mpsc::{
    UnboundedReceiver, UnboundedSender, error::TryRecvError, unbounded_channel,
};

use crate::error::{EngineError, Result};
use crate::model::ModelConfig;
use crate::request::{EngineRequest, RequestId};
use crate::step::{EngineCore, EngineStats, TokenEvent};
use crate::tokenizer::Tokenizer;

type EventSender = UnboundedSender<Result<TokenEvent>>;

enum Command {
    Add(Box<EngineRequest>, EventSender),
    Abort(RequestId),
    Shutdown,
}

/// What the handle reads without asking the loop.
#[derive(Debug)]
struct Shared {
    stats: Mutex<EngineStats>,
    stopped: Mutex<Option<String>>,
}

/// A cloneable handle to an engine running on its own thread. See the [module docs](self).
#[derive(Clone, Debug)]
pub struct EngineHandle {
    tx: UnboundedSender<Command>,
    shared: Arc<Shared>,
    tokenizer: Arc<dyn Tokenizer>,
    model_config: Arc<ModelConfig>,
    max_model_len: usize,
    thread: Arc<Mutex<Option<JoinHandle<()>>>>,
}

impl EngineHandle {
    /// Starts `core`'s loop on a new thread.
    ///
    /// # Errors
    /// [`EngineError::EngineStopped`] if the OS refuses a thread.
    pub fn spawn(core: EngineCore) -> Result<Self> {
        let (tx, rx) = unbounded_channel();
        let shared = Arc::new(Shared {
            stats: Mutex::new(core.stats()),
            stopped: Mutex::new(None),
        });
        let tokenizer = Arc::clone(core.tokenizer());
        let model_config = Arc::new(core.model_config().clone());
        let max_model_len = core.max_model_len();
        let loop_shared = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("dyno-engine".into())
            .spawn(move || run_loop(core, rx, &loop_shared))
            .map_err(|e| EngineError::EngineStopped {
                reason: format!(": could not start its thread: {e}"),
            })?;
        Ok(Self {
            tx,
            shared,
            tokenizer,
            model_config,
            max_model_len,
            thread: Arc::new(Mutex::new(Some(thread))),
        })
    }

    /// Queues `request`; its tokens arrive on the returned stream. A request the engine refuses
    /// (bad parameters, prompt too long) yields one `Err` item.
    ///
    /// # Errors
    /// [`EngineError::EngineStopped`] when the loop is gone.
    pub fn generate(&self, request: EngineRequest) -> Result<RequestStream> {
        let (events_tx, events_rx) = unbounded_channel();
        let id = request.id;
        let samples_left = request.params.n;
        self.tx
            .send(Command::Add(Box::new(request), events_tx))
            .map_err(|_| self.stopped())?;
        Ok(RequestStream {
            id,
            rx: events_rx,
            commands: self.tx.clone(),
            samples_left,
            done: false,
        })
    }

    /// Aborts `request` (all its samples). Unknown or finished ids are ignored.
    pub fn abort(&self, request: RequestId) {
        let _ = self.tx.send(Command::Abort(request));
    }

    /// Counters and gauges as of the last step.
    pub fn stats(&self) -> EngineStats {
        *self.shared.stats.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The model's tokenizer.
    pub fn tokenizer(&self) -> &Arc<dyn Tokenizer> {
        &self.tokenizer
    }

    /// The model's configuration.
    pub fn model_config(&self) -> &ModelConfig {
        &self.model_config
    }

    /// The longest sequence (prompt plus output) a request may reach.
    pub fn max_model_len(&self) -> usize {
        self.max_model_len
    }

    /// Aborts everything in flight, stops the loop and waits for its thread.
    pub fn shutdown(&self) {
        let _ = self.tx.send(Command::Shutdown);
        let thread = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }

    fn stopped(&self) -> EngineError {
        let reason = self
            .shared
            .stopped
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .map(|r| format!(": {r}"))
            .unwrap_or_default();
        EngineError::EngineStopped { reason }
    }
}

/// The events of one request, in order; ends after the last sample's finishing event. Dropping
/// it early aborts the request.
#[derive(Debug)]
pub struct RequestStream {
    id: RequestId,
    rx: UnboundedReceiver<Result<TokenEvent>>,
    commands: UnboundedSender<Command>,
    samples_left: u32,
    done: bool,
}

impl RequestStream {
    /// The request's id.
    pub fn request_id(&self) -> RequestId {
        self.id
    }
}

impl Stream for RequestStream {
    type Item = Result<TokenEvent>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        match self.rx.poll_recv(cx) {
            Poll::Ready(None) => {
                self.done = true;
                Poll::Ready(Some(Err(EngineError::EngineStopped {
                    reason: format!(": request {} got no final token", self.id),
                })))
            }
            Poll::Ready(Some(item)) => {
                match &item {
                    Err(_) => self.done = true,
                    Ok(event) if event.finished.is_some() => {
                        self.samples_left = self.samples_left.saturating_sub(1);
                        self.done = self.samples_left == 0;
                    }
                    Ok(_) => {}
                }
                Poll::Ready(Some(item))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Drop for RequestStream {
    fn drop(&mut self) {
        if !self.done && !self.rx.is_closed() {
            let _ = self.commands.send(Command::Abort(self.id));
        }
    }
}

struct Live {
    events: EventSender,
    samples_left: u32,
}

fn run_loop(mut core: EngineCore, mut rx: UnboundedReceiver<Command>, shared: &Shared) {
    let mut live: HashMap<RequestId, Live> = HashMap::new();
    let mut closing = false;
    loop {
        if !core.has_unfinished() {
            if closing {
                break;
            }
            match rx.blocking_recv() {
                Some(cmd) => {
                    if apply(&mut core, &mut live, cmd) {
                        abort_all(&mut core, &mut live, "the engine shut down");
                        break;
                    }
                }
                None => break,
            }
        }
        loop {
            match rx.try_recv() {
                Ok(cmd) => {
                    if apply(&mut core, &mut live, cmd) {
                        abort_all(&mut core, &mut live, "the engine shut down");
                        // Everything is aborted, so the loop ends at its top.
                        closing = true;
                        break;
                    }
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    closing = true;
                    break;
                }
            }
        }
        if !core.has_unfinished() {
            *shared.stats.lock().unwrap_or_else(|p| p.into_inner()) = core.stats();
            continue;
        }
        match core.step() {
            Ok(events) => route(&mut core, &mut live, events),
            Err(e) => {
                let reason = e.to_string();
                *shared.stopped.lock().unwrap_or_else(|p| p.into_inner()) = Some(reason.clone());
                abort_all(&mut core, &mut live, &reason);
                return;
            }
        }
        *shared.stats.lock().unwrap_or_else(|p| p.into_inner()) = core.stats();
    }
    *shared.stats.lock().unwrap_or_else(|p| p.into_inner()) = core.stats();
}

/// Applies one command; returns whether the loop must stop.
fn apply(core: &mut EngineCore, live: &mut HashMap<RequestId, Live>, cmd: Command) -> bool {
    match cmd {
        Command::Add(request, events) => {
            let id = request.id;
            let samples_left = request.params.n;
            match core.add_request(*request) {
                Ok(()) => {
                    live.insert(
                        id,
                        Live {
                            events,
                            samples_left,
                        },
                    );
                }
                Err(e) => {
                    let _ = events.send(Err(e));
                }
            }
            false
        }
        Command::Abort(id) => {
            core.abort(id);
            live.remove(&id);
            false
        }
        Command::Shutdown => true,
    }
}

fn route(core: &mut EngineCore, live: &mut HashMap<RequestId, Live>, events: Vec<TokenEvent>) {
    for event in events {
        let id = event.request_id;
        let Some(entry) = live.get_mut(&id) else {
            continue;
        };
        let finished = event.finished.is_some();
        if entry.events.send(Ok(event)).is_err() {
            // The caller dropped its stream: free the request's blocks now.
            core.abort(id);
            live.remove(&id);
            continue;
        }
        if finished {
            entry.samples_left -= 1;
            if entry.samples_left == 0 {
                live.remove(&id);
            }
        }
    }
}

fn abort_all(core: &mut EngineCore, live: &mut HashMap<RequestId, Live>, reason: &str) {
    for (id, entry) in live.drain() {
        core.abort(id);
        let _ = entry.events.send(Err(EngineError::EngineStopped {
            reason: format!(": {reason}"),
        }));
    }
}
