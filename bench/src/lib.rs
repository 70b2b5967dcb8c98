//! dyno-bench: dyno's load-generator library.
//!
//! It turns a dataset into [`SampleRequest`](dataset::SampleRequest)s exactly as vLLM's benchmark
//! suite samples them, sends them to an [`Endpoint`](endpoint::Endpoint) and computes the
//! metrics from what came back. It never depends on the engine: the `dyno` binary implements
//! [`Endpoint`](endpoint::Endpoint) for the in-process engine (offline `bench throughput` and
//! `bench latency`), and HTTP endpoints implement it for `bench serve`.
//!
//! | module | holds |
//! |---|---|
//! | [`dataset`] | the dataset readers (random, sharegpt, sonnet, burstgpt, prefix_repetition, custom) and [`BenchTokenizer`](dataset::BenchTokenizer) |
//! | [`endpoint`] | [`Endpoint`](endpoint::Endpoint): one request in, a raw [`RequestOutcome`](endpoint::RequestOutcome) out; [`HttpEndpoint`](endpoint::HttpEndpoint) and its backends (openai, openai-chat, tgi, llama.cpp, sglang) |
//! | [`arrival`] | the arrival [`Schedule`](arrival::Schedule): Gamma/Poisson rates, ramp-up, trace timestamps |
//! | [`runner`] | the `bench serve` runner: absolute send times, concurrency slots, duration, cancellation |
//! | [`metrics`] | pure functions from outcomes to throughput, TTFT and per-token figures; `bench serve`'s metrics and steady state |
//! | [`report`] | the printed table, result JSON (vLLM's keys and file names), per-request JSONL, `--num-runs` summary |
//! | [`compare`] | which differences between two `bench serve` result files are statistically significant |
//! | [`modes`] | offline `throughput` and `latency` runs and their vLLM-compatible JSON; the `serve` steps |

pub mod arrival;
pub mod compare;
pub mod dataset;
pub mod endpoint;
pub mod metrics;
pub mod modes;
pub mod report;
pub mod runner;
