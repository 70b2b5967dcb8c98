//! The `bench serve` runner: sends prepared requests to an [`HttpEndpoint`] on an absolute
//! [`Schedule`], under an optional concurrency limit, until the requests, the `--duration` or
//! the caller's cancellation (Ctrl-C) run out, and returns every outcome.
//!
//! # How sends are timed
//! - One dispatcher walks the schedule in due order. It spawns each request's task a little
//!   ahead of its due time ([`SPAWN_LEAD`]); the task builds its bytes and sleeps until the
//!   absolute due instant, so lateness never accumulates (vLLM#21104).
//! - With `--max-concurrency C` the dispatcher takes a slot (FIFO) for each request in due
//!   order. A request that gets its slot before its due time still waits for that time; one
//!   that gets it later is sent at once, and the wait is its client queue time. Freed slots
//!   never pull later requests forward: the schedule is what it was (vLLM PR #45502).
//! - Each outcome records its due time, its queue time and its real send time, so the send lag
//!   (how late the client itself was) is measurable.
//!
//! # Ending
//! Without `--duration` the run ends when every request has finished. With it, no request is
//! sent after the duration, the ones in flight finish, and the schedule repeats (cycling the
//! requests) until then. When `cancel` resolves, nothing more is sent, requests in flight are
//! abandoned as failed ("cancelled"), and what was gathered is returned, so the caller can
//! still write its result.
//!
//! [`probe`] sends `--probe-request-rate` probes beside a run, outside its concurrency limit.

pub mod probe;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinHandle;

use crate::arrival::Schedule;
use crate::endpoint::{HttpEndpoint, PreparedRequest, RequestOutcome};

/// How far ahead of its due time a request's task is spawned.
pub const SPAWN_LEAD: Duration = Duration::from_millis(5);

/// Error text of a request abandoned by cancellation.
pub const CANCELLED: &str = "cancelled: the run was interrupted before this request finished";

/// How a run is bounded.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RunConfig {
    /// Most requests in flight (`--max-concurrency`).
    pub max_concurrency: Option<usize>,
    /// Stop sending after this long and cycle the requests until then (`--duration`).
    pub duration: Option<Duration>,
    /// Requests of a count-bounded run (`--num-prompts`; the prepared ones are cycled).
    pub num_requests: usize,
    /// `x-request-id` of request i is this prefix plus i (`--request-id-prefix`).
    pub request_id_prefix: String,
}

/// What a run gathered.
#[derive(Debug)]
pub struct RunOutput {
    /// One outcome per request sent, in due order.
    pub outcomes: Vec<RequestOutcome>,
    /// First dispatch to the last completion (vLLM's benchmark duration).
    pub duration: Duration,
    /// The wall clock at the start.
    pub started_at: SystemTime,
    /// The run was cancelled.
    pub interrupted: bool,
    /// Requests of a count-bounded run that were never sent (cancelled before their turn).
    pub not_sent: usize,
    /// `--probe-request-rate` probes sent beside the run, in send order (not in `outcomes`).
    pub probes: Vec<RequestOutcome>,
}

/// Runs `prepared` against `endpoint` on `schedule`. See the [module docs](self).
pub async fn run(
    endpoint: Arc<HttpEndpoint>,
    prepared: Arc<[PreparedRequest]>,
    schedule: &Schedule,
    config: &RunConfig,
    cancel: impl Future<Output = ()>,
    on_done: &(dyn Fn(&RequestOutcome) + Sync),
) -> RunOutput {
    let started_at = SystemTime::now();
    let run_start = Instant::now();
    let n = prepared.len();
    let total = if config.duration.is_some() {
        usize::MAX
    } else {
        config.num_requests
    };
    // Due order: the schedule sorted (traces may be unsorted), positions cycled for --duration.
    let mut order: Vec<usize> = (0..schedule.offsets.len().max(1)).collect();
    order.sort_by(|&a, &b| schedule.offsets[a].total_cmp(&schedule.offsets[b]));
    let due_of = |i: usize| -> (usize, f64) {
        let m = order.len();
        let pos = order[i % m];
        let base = schedule.offsets.get(pos).copied().unwrap_or(0.0);
        (pos, base + (i / m) as f64 * schedule.period)
    };
    let semaphore = config
        .max_concurrency
        .map(|c| Arc::new(Semaphore::new(c.max(1))));
    let (cancel_tx, cancel_rx) = watch::channel(false);
    let mut tasks: FuturesUnordered<JoinHandle<(usize, RequestOutcome)>> = FuturesUnordered::new();
    let mut results: Vec<(usize, RequestOutcome)> = Vec::new();
    let mut interrupted = false;
    let mut dispatched = 0usize;
    let end = config.duration.map(|d| run_start + d);
    tokio::pin!(cancel);

    macro_rules! collect {
        ($r:expr) => {
            if let Ok((i, o)) = $r {
                on_done(&o);
                results.push((i, o));
            }
        };
    }

    'dispatch: while dispatched < total && n > 0 {
        let (pos, offset) = due_of(dispatched);
        let due = run_start + Duration::from_secs_f64(offset.max(0.0));
        if end.is_some_and(|e| due >= e) {
            break;
        }
        // Wait until just before the due time, collecting finished requests meanwhile.
        let wake = due.checked_sub(SPAWN_LEAD).unwrap_or(due);
        loop {
            tokio::select! {
                biased;
                () = &mut cancel => { interrupted = true; break 'dispatch; }
                Some(r) = tasks.next(), if !tasks.is_empty() => collect!(r),
                () = tokio::time::sleep_until(wake.into()) => break,
            }
        }
        // A concurrency slot, in due order. Only a wait for one is queue time: a dispatcher
        // that is late by itself (a busy machine) shows as send lag instead.
        let (permit, slot_at): (Option<OwnedSemaphorePermit>, Option<Instant>) = match &semaphore {
            None => (None, None),
            Some(s) => match s.clone().try_acquire_owned() {
                Ok(p) => (Some(p), None),
                Err(_) => loop {
                    tokio::select! {
                        biased;
                        () = &mut cancel => { interrupted = true; break 'dispatch; }
                        Some(r) = tasks.next(), if !tasks.is_empty() => collect!(r),
                        p = s.clone().acquire_owned() => break (p.ok(), Some(Instant::now())),
                    }
                },
            },
        };
        if end.is_some_and(|e| Instant::now() >= e) {
            break;
        }
        let endpoint = endpoint.clone();
        let prepared = prepared.clone();
        let mut cancel_rx = cancel_rx.clone();
        let id = format!("{}{dispatched}", config.request_id_prefix);
        let index = dispatched;
        tasks.push(tokio::spawn(async move {
            let request = &prepared[pos % n];
            let bytes = endpoint.request_bytes(request, &id);
            tokio::time::sleep_until(due.into()).await;
            let queue_time = slot_at.map_or(Duration::ZERO, |t| t.saturating_duration_since(due));
            let mut outcome = tokio::select! {
                o = endpoint.execute(request, &bytes, run_start) => o,
                _ = cancel_rx.wait_for(|c| *c) => RequestOutcome {
                    request_id: request.request_id.to_string(),
                    error: Some(CANCELLED.to_owned()),
                    prompt_len: request.prompt_len,
                    send_offset: Instant::now().saturating_duration_since(run_start),
                    ..RequestOutcome::default()
                },
            };
            drop(permit);
            outcome.scheduled_offset = Some(due.saturating_duration_since(run_start));
            outcome.queue_time = queue_time;
            (index, outcome)
        }));
        dispatched += 1;
    }
    // Let the requests in flight finish, unless cancelled.
    if interrupted {
        let _ = cancel_tx.send(true);
    }
    while !tasks.is_empty() {
        tokio::select! {
            biased;
            () = &mut cancel, if !interrupted => {
                interrupted = true;
                let _ = cancel_tx.send(true);
            }
            Some(r) = tasks.next() => collect!(r),
        }
    }
    let duration = run_start.elapsed();
    results.sort_by_key(|r| r.0);
    let not_sent = if config.duration.is_some() {
        0
    } else {
        config.num_requests.saturating_sub(dispatched)
    };
    RunOutput {
        outcomes: results.into_iter().map(|r| r.1).collect(),
        duration,
        started_at,
        interrupted,
        not_sent,
        probes: Vec::new(),
    }
}

/// Sends `count` copies of `request` at once and waits for them (warm-ups: they open the
/// connections and fill the server's batch). Returns the outcomes, which are not measured.
pub async fn warm_up(
    endpoint: &Arc<HttpEndpoint>,
    request: &PreparedRequest,
    count: usize,
    id_prefix: &str,
) -> Vec<RequestOutcome> {
    let start = Instant::now();
    let tasks: Vec<_> = (0..count)
        .map(|i| {
            let endpoint = endpoint.clone();
            let request = request.clone();
            let id = format!("{id_prefix}warmup-{i}");
            tokio::spawn(async move {
                let bytes = endpoint.request_bytes(&request, &id);
                endpoint.execute(&request, &bytes, start).await
            })
        })
        .collect();
    let mut out = Vec::with_capacity(count);
    for t in tasks {
        if let Ok(o) = t.await {
            out.push(o);
        }
    }
    out
}

/// vLLM's ready check: sends `request` until one succeeds, every 5 s, for up to `timeout`.
///
/// # Errors
/// The last failure's message when none succeeded in time.
pub async fn ready_check(
    endpoint: &HttpEndpoint,
    request: &PreparedRequest,
    timeout: Duration,
) -> Result<RequestOutcome, String> {
    let deadline = Instant::now() + timeout;
    loop {
        let start = Instant::now();
        let bytes = endpoint.request_bytes(request, "ready-check");
        let o = endpoint.execute(request, &bytes, start).await;
        if o.success {
            return Ok(o);
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(o.error.unwrap_or_default());
        }
        let next = (start + Duration::from_secs(5)).min(deadline);
        tokio::time::sleep_until(next.into()).await;
    }
}
