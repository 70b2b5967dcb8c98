//! Probe requests (`--probe-request-rate R`): single-token "Hi" requests sent beside the
//! measured run at R per second, outside `--max-concurrency`, to measure how the main load
//! delays an unrelated request (vLLM's `probe_loop`). Their outcomes are kept apart from the
//! run's and summarized by [`crate::metrics::probe`].
//!
//! vLLM sends a probe, waits for its answer, then sleeps 1/R, so its real probe rate is
//! R / (1 + R·E2EL) and falls as the server slows down. Here probe `i` is due at `i / R` from
//! the start of the run on an absolute clock, each in its own task, so the rate is R whatever
//! the latency; a slot the runtime could not meet is skipped, not sent late in a burst.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::stream::FuturesUnordered;

use crate::dataset::{Prompt, SampleRequest};
use crate::endpoint::{HttpEndpoint, PrepareError, PreparedRequest, RequestOutcome};

/// The probe's prompt, as vLLM sends it.
pub const PROBE_PROMPT: &str = "Hi";

/// How probing ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProbeStop {
    /// The run finished: probes in flight are awaited and counted (as vLLM awaits its last).
    Finish,
    /// The run was interrupted: probes in flight are dropped.
    Abandon,
}

/// The probe body for `endpoint`: `"Hi"`, one prompt token, one output token.
///
/// # Errors
/// [`PrepareError`] when the backend cannot carry it.
pub fn probe_request(endpoint: &HttpEndpoint) -> Result<PreparedRequest, PrepareError> {
    endpoint.prepare(&SampleRequest {
        request_id: "probe".to_owned(),
        prompt: Prompt::Text(PROBE_PROMPT.to_owned()),
        prompt_len: 1,
        expected_output_len: 1,
        timestamp: None,
    })
}

/// Sends `request` at `rate` per second from now until `stop` resolves; returns the probes'
/// outcomes in send order. `x-request-id` of probe i is `{id_prefix}probe-{i}`.
pub async fn run(
    endpoint: Arc<HttpEndpoint>,
    request: PreparedRequest,
    rate: f64,
    id_prefix: &str,
    stop: impl Future<Output = ProbeStop>,
) -> Vec<RequestOutcome> {
    let start = Instant::now();
    let period = Duration::from_secs_f64(1.0 / rate.max(f64::MIN_POSITIVE));
    let request = Arc::new(request);
    let mut tasks = FuturesUnordered::new();
    let mut done: Vec<(usize, RequestOutcome)> = Vec::new();
    let mut next = start;
    let mut sent = 0usize;
    tokio::pin!(stop);
    let how = loop {
        tokio::select! {
            biased;
            how = &mut stop => break how,
            Some(r) = tasks.next(), if !tasks.is_empty() => {
                if let Ok(r) = r {
                    done.push(r);
                }
            }
            () = tokio::time::sleep_until(next.into()) => {
                let endpoint = endpoint.clone();
                let request = request.clone();
                let id = format!("{id_prefix}probe-{sent}");
                let index = sent;
                tasks.push(tokio::spawn(async move {
                    let bytes = endpoint.request_bytes(&request, &id);
                    (index, endpoint.execute(&request, &bytes, start).await)
                }));
                sent += 1;
                let now = Instant::now();
                next += period;
                while next <= now {
                    next += period;
                }
            }
        }
    };
    match how {
        ProbeStop::Finish => {
            while let Some(r) = tasks.next().await {
                if let Ok(r) = r {
                    done.push(r);
                }
            }
        }
        ProbeStop::Abandon => {
            for t in tasks.iter() {
                t.abort();
            }
        }
    }
    done.sort_by_key(|r| r.0);
    done.into_iter().map(|r| r.1).collect()
}
