//! Benchmark modes: offline `throughput` (every request at once, as `vllm bench throughput`)
//! and `latency` (one batch at a time, as `vllm bench latency`) over any [`Endpoint`], and
//! online `serve` (an arrival schedule against a server over HTTP, as `vllm bench serve`).

pub mod latency;
pub mod serve;
pub mod throughput;

use std::time::Instant;

use futures::StreamExt;
use futures::stream::FuturesUnordered;

use crate::dataset::SampleRequest;
use crate::endpoint::{Endpoint, RequestOptions, RequestOutcome};

/// Sends every request at once and collects the outcomes in request order; `on_done` is called
/// as each one completes (progress bars).
pub(crate) async fn send_all<E: Endpoint>(
    endpoint: &E,
    requests: &[SampleRequest],
    options: &RequestOptions,
    run_start: Instant,
    on_done: &(dyn Fn(&RequestOutcome) + Sync),
) -> Vec<RequestOutcome> {
    let mut pending: FuturesUnordered<_> = requests
        .iter()
        .enumerate()
        .map(|(i, r)| async move { (i, endpoint.send(r, options, run_start).await) })
        .collect();
    let mut outcomes: Vec<Option<RequestOutcome>> = vec![None; requests.len()];
    while let Some((i, outcome)) = pending.next().await {
        on_done(&outcome);
        outcomes[i] = Some(outcome);
    }
    outcomes.into_iter().flatten().collect()
}
