//! `dyno bench throughput` and `dyno bench latency`: the in-process engine behind
//! `dyno-bench`'s offline modes.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use dyno_bench::dataset::BenchTokenizer;
use dyno_bench::dataset::{Prompt, SampleRequest};
use dyno_bench::endpoint::RequestOptions;
use dyno_bench::metrics::DEFAULT_PERCENTILES;
use dyno_bench::modes::{latency, throughput};
use dyno_engine::{EngineCore, EngineHandle, EngineStats};
use indicatif::{ProgressBar, ProgressStyle};
use rand::{Rng, SeedableRng, rngs::StdRng};
use serde_json::{Value, json};

use crate::args::bench::{LatencyArgs, ThroughputArgs};
use crate::args::engine::EngineArgs;
use crate::engine_endpoint::{EngineEndpoint, EngineTokenizer, build_engine};

/// A current-thread runtime: the engine has its own thread, and the client side must not take
/// a core from it.
fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

fn progress(len: u64, disabled: bool, what: &str) -> ProgressBar {
    if disabled || !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template(&format!(
            "{what} {{bar:40}} {{pos}}/{{len}} [{{elapsed_precise}}<{{eta_precise}}]"
        ))
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

/// Starts the engine's loop and the endpoint over it, with the offline benches' request options
/// (vLLM's: temperature 1, `ignore_eos`, `max_tokens` from the dataset).
fn start(
    core: EngineCore,
    n: u32,
    disable_detokenize: bool,
) -> Result<(EngineHandle, EngineEndpoint, RequestOptions)> {
    let handle = EngineHandle::spawn(core)?;
    let endpoint = EngineEndpoint::new(handle.clone());
    let options = RequestOptions {
        n,
        detokenize: !disable_detokenize,
        ..RequestOptions::default()
    };
    Ok((handle, endpoint, options))
}

/// Runs `dyno bench throughput`.
pub fn throughput(args: ThroughputArgs) -> Result<i32> {
    let core = build_engine(&args.engine)?;
    let tokenizer = EngineTokenizer(core.tokenizer().clone());
    let requests = crate::dataset_args::sample(&args.dataset, args.engine.seed, &tokenizer)?;
    let (handle, endpoint, options) = start(core, args.run.n, args.run.disable_detokenize)?;
    let bar = progress(requests.len() as u64, args.run.disable_tqdm, "requests");
    let bandwidth_before = read_bandwidth_gbs(&args.engine);
    // Resident memory after every tenth of the requests: it must stay flat after warm-up.
    let rss = std::sync::Mutex::new(vec![resident_mib()]);
    let done = std::sync::atomic::AtomicUsize::new(0);
    let step = requests.len().div_ceil(10).max(1);
    let (report, _outcomes) = runtime()?.block_on(throughput::run(
        &endpoint,
        &requests,
        &options,
        &DEFAULT_PERCENTILES,
        &|_| {
            bar.inc(1);
            let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            if n.is_multiple_of(step) || n == requests.len() {
                rss.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(resident_mib());
            }
        },
    ));
    bar.finish_and_clear();
    let rss: Vec<f64> = rss
        .into_inner()
        .unwrap_or_else(|p| p.into_inner())
        .into_iter()
        .flatten()
        .collect();
    let stats = handle.stats();
    handle.shutdown();
    print!("{}", report.render());
    println!(
        "Prefix cache hit rate: {:.2} %  Peak KV usage: {:.2} %  Preemptions: {}",
        stats.prefix_cache.hit_rate() * 100.0,
        stats.peak_kv_usage * 100.0,
        stats.num_preemptions
    );
    if let Some(bw) = bandwidth_before {
        println!("Memory read bandwidth (probe, same run): {bw:.1} GB/s");
    }
    if let (Some(first), Some(last)) = (rss.first(), rss.last()) {
        let peak = rss.iter().copied().fold(0.0, f64::max);
        println!(
            "Resident memory: {first:.0} MiB at start, {last:.0} MiB at end, peak {peak:.0} MiB"
        );
    }
    if let Some(path) = &args.run.output_json {
        let mut value = serde_json::to_value(&report)?;
        extend(
            &mut value,
            engine_json(&args.engine, &stats, bandwidth_before),
        );
        extend(&mut value, json!({ "resident_mib": rss }));
        write_json(path, &value)?;
    }
    Ok(if report.failed > 0 { 1 } else { 0 })
}

/// Runs `dyno bench latency`.
pub fn latency(args: LatencyArgs) -> Result<i32> {
    let mut engine_args = args.engine.clone();
    // vLLM's latency bench turns prefix caching off: every iteration sends the same prompts.
    engine_args.no_enable_prefix_caching = true;
    let core = build_engine(&engine_args)?;
    let vocab = core.model_config().vocab_size;
    let specials = EngineTokenizer(core.tokenizer().clone()).special_token_ids();
    let batch = latency_batch(&args, vocab, &specials);
    let (handle, endpoint, options) = start(core, args.run.n, args.run.disable_detokenize)?;
    let bandwidth = read_bandwidth_gbs(&engine_args);
    let bar = progress(
        (args.num_iters_warmup + args.num_iters) as u64,
        args.run.disable_tqdm,
        "iterations",
    );
    let report = runtime()?.block_on(latency::run(
        &endpoint,
        &batch,
        &options,
        args.num_iters_warmup,
        args.num_iters,
        &|_, _| bar.inc(1),
    ));
    bar.finish_and_clear();
    handle.shutdown();
    let report = report.context("--num-iters must be at least 1")?;
    print!("{}", report.render());
    if let Some(bw) = bandwidth {
        println!("Memory read bandwidth (probe, same run): {bw:.1} GB/s");
    }
    if let Some(path) = &args.run.output_json {
        let mut value = serde_json::to_value(&report)?;
        extend(
            &mut value,
            json!({ "model": engine_args.model, "dtype": engine_args.dtype,
                    "memory_read_bandwidth_gbs": bandwidth }),
        );
        write_json(path, &value)?;
    }
    Ok(if report.failed > 0 { 1 } else { 0 })
}

/// `batch_size` prompts of `input_len` random token ids (below 10,000 as in vLLM, and below the
/// vocabulary, never a special token).
fn latency_batch(args: &LatencyArgs, vocab: usize, specials: &[u32]) -> Vec<SampleRequest> {
    let mut rng = StdRng::seed_from_u64(args.engine.seed);
    let limit = vocab.min(10_000) as u32;
    (0..args.batch_size)
        .map(|i| {
            let ids: Vec<u32> = (0..args.input_len.max(1))
                .map(|_| {
                    loop {
                        let t = rng.random_range(0..limit);
                        if !specials.contains(&t) {
                            break t;
                        }
                    }
                })
                .collect();
            SampleRequest {
                request_id: format!("latency-{i}"),
                prompt_len: ids.len(),
                prompt: Prompt::Tokens(ids),
                expected_output_len: args.output_len,
                timestamp: None,
            }
        })
        .collect()
}

/// Median of 5 reads of a 512 MiB buffer (far beyond the last-level cache) with the model's
/// thread count, in GB/s; `None` if the buffer cannot be allocated.
fn read_bandwidth_gbs(args: &EngineArgs) -> Option<f64> {
    let len = 128 << 20;
    let mut data = Vec::new();
    data.try_reserve_exact(len).ok()?;
    data.resize(len, 1.0f32);
    let threads = args.threads.unwrap_or_else(rayon::current_num_threads);
    let isa = dyno_kernels::Isa::detect();
    let mut times: Vec<f64> = (0..5)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(dyno_kernels::bandwidth::read(&data, threads, isa));
            t.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(f64::total_cmp);
    Some((len * 4) as f64 / times[2] / 1e9)
}

/// This process's resident memory in MiB (Linux `/proc/self/statm`; `None` elsewhere).
fn resident_mib() -> Option<f64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: f64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096.0 / (1024.0 * 1024.0))
}

fn engine_json(args: &EngineArgs, stats: &EngineStats, bandwidth: Option<f64>) -> Value {
    json!({
        "model": args.model,
        "load_format": format!("{:?}", args.load_format).to_lowercase(),
        "dtype": args.dtype,
        "prefix_cache_hit_rate": stats.prefix_cache.hit_rate(),
        "prefix_cache_queries": stats.prefix_cache.queries,
        "prefix_cache_hits": stats.prefix_cache.hits,
        "peak_kv_usage": stats.peak_kv_usage,
        "kv_cache_bytes": stats.kv_cache_bytes,
        "num_preemptions": stats.num_preemptions,
        "engine_steps": stats.steps,
        "memory_read_bandwidth_gbs": bandwidth,
    })
}

fn extend(target: &mut Value, extra: Value) {
    if let (Value::Object(t), Value::Object(e)) = (target, extra) {
        t.extend(e);
    }
}

fn write_json(path: &Path, value: &Value) -> Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    dyno_stats::record::write_atomic(path, text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}
