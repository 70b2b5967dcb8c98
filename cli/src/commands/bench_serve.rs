//! `dyno bench serve`: the flags become `dyno-bench`'s validated configs, then the library's
//! steps run (prepare → ready check and warm-ups → run → count and measure), the report is
//! printed in vLLM's layout and the result files are written, also after Ctrl-C.
//!
//! Exit codes: 0 when the run completed (failed requests included, as vLLM), 130 when it was
//! interrupted (results still written), 2 on a setup error.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use dyno_bench::arrival::{RampUpStrategy, Traffic};
use dyno_bench::dataset::BenchTokenizer;
use dyno_bench::endpoint::{
    Backend, HttpEndpoint, HttpEndpointConfig, PayloadOptions, ResponseMode, SamplingFlags,
    ServerTokenizer,
};
use dyno_bench::metrics::serve::{
    ServeMetricsConfig, parse_goodput, parse_percentile_metrics, parse_percentiles,
};
use dyno_bench::modes::serve::{self as serve_mode, LoraModules, ServeOptions};
use dyno_bench::report::json::{self, OrderedJson};
use dyno_bench::report::{RunHeader, format_date, python_float, requests, runs, table};
use dyno_bench::runner::RunConfig;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Map, Value};
use tokio::sync::watch;

use crate::args::bench_serve::BenchServeArgs;
use crate::engine_endpoint::EngineTokenizer;

/// Exit code of an interrupted run.
const EXIT_INTERRUPTED: i32 = 130;

fn key_values(items: &[String], flag: &str) -> Result<Vec<(String, String)>> {
    items
        .iter()
        .map(|item| {
            let (k, v) = item.split_once('=').ok_or_else(|| {
                anyhow!("{flag} `{item}` is not KEY=VALUE; write it as e.g. {flag} key=value")
            })?;
            Ok((k.trim().to_owned(), v.trim().to_owned()))
        })
        .collect()
}

fn traffic(args: &BenchServeArgs) -> Result<Traffic> {
    let t = &args.traffic;
    let rate: f64 = match t.request_rate.trim() {
        "inf" | "infinity" => f64::INFINITY,
        s => s.parse().map_err(|_| {
            anyhow!("--request-rate `{s}` is not a number; give requests per second or inf")
        })?,
    };
    match &t.ramp_up_strategy {
        None => Ok(Traffic::Rate {
            rate,
            burstiness: t.burstiness,
        }),
        Some(s) => {
            if rate.is_finite() {
                bail!("--ramp-up-strategy cannot be combined with --request-rate {rate}; drop one");
            }
            let strategy = match s.as_str() {
                "linear" => RampUpStrategy::Linear,
                "exponential" => RampUpStrategy::Exponential,
                other => bail!("--ramp-up-strategy `{other}`: expected linear or exponential"),
            };
            let (Some(start), Some(end)) = (t.ramp_up_start_rps, t.ramp_up_end_rps) else {
                bail!("--ramp-up-strategy needs --ramp-up-start-rps and --ramp-up-end-rps");
            };
            Ok(Traffic::RampUp {
                strategy,
                start_rps: start as f64,
                end_rps: end as f64,
                burstiness: t.burstiness,
            })
        }
    }
}

/// The local tokenizer of `--tokenizer`.
fn local_tokenizer(path: &Path) -> Result<Arc<dyn BenchTokenizer>> {
    let inner: Arc<dyn dyno_engine::Tokenizer> = if path.as_os_str() == "byte" {
        Arc::new(dyno_engine::tokenizer::ByteTokenizer::new())
    } else {
        Arc::new(
            dyno_engine::tokenizer::HfTokenizer::from_dir(path)
                .with_context(|| format!("loading --tokenizer {}", path.display()))?,
        )
    };
    Ok(Arc::new(EngineTokenizer(inner)))
}

/// The first model of `GET /v1/models`, asked every second for up to `wait` while it fails.
async fn first_model(config: HttpEndpointConfig, wait: Duration) -> Result<String> {
    let base_url = config.base_url.clone();
    let endpoint = HttpEndpoint::new(config).await?;
    let deadline = std::time::Instant::now() + wait;
    let models = loop {
        match endpoint.get_json("/v1/models").await {
            Ok(models) => break models,
            Err(e) if std::time::Instant::now() >= deadline => return Err(e.into()),
            Err(_) => tokio::time::sleep(Duration::from_secs(1)).await,
        }
    };
    models
        .pointer("/data/0/id")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| anyhow!("GET {base_url}/v1/models listed no model; pass --model"))
}

fn random_prefix() -> String {
    format!("bench-{:08x}-", rand::random::<u32>())
}

/// A JSON object flag (`--extra-body`, `--chat-template-kwargs`).
fn json_object(flag: &str, text: Option<&str>) -> Result<Option<Map<String, Value>>> {
    let Some(text) = text else { return Ok(None) };
    match serde_json::from_str(text) {
        Ok(Value::Object(m)) => Ok(Some(m)),
        _ => bail!("{flag} `{text}` is not a JSON object; write e.g. '{{\"key\": 5}}'"),
    }
}

/// The flags that only need checking before anything runs: unsupported vLLM flags,
/// `--tokenizer-mode`, and the no-ops that deserve a word.
fn check_flags(args: &BenchServeArgs) -> Result<()> {
    args.unsupported.check()?;
    match args.tokenizer_mode.as_str() {
        "auto" | "hf" => {}
        other => bail!(
            "--tokenizer-mode {other} is not supported: dyno reads tokenizer.json files (auto or \
             hf); convert the tokenizer or pass --tokenizer-mode hf"
        ),
    }
    if args.traffic.warmup_output_len == Some(0) {
        bail!("--warmup-output-len 0: a warm-up must ask for at least 1 output token");
    }
    if args.probe_request_rate < 0.0 || !args.probe_request_rate.is_finite() {
        bail!(
            "--probe-request-rate {}: expected a non-negative number of probes per second (0: none)",
            args.probe_request_rate
        );
    }
    Ok(())
}

/// Runs the command; returns the exit code.
pub fn run(args: BenchServeArgs) -> Result<i32> {
    check_flags(&args)?;
    let rt = if args.traffic.worker_threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(args.traffic.worker_threads)
            .enable_all()
            .build()
    }
    .context("starting the async runtime")?;
    let backend: Backend = args.backend.parse()?;
    let base_url = args
        .base_url
        .clone()
        .unwrap_or_else(|| format!("http://{}:{}", args.host, args.port));
    let extra_body = json_object("--extra-body", args.extra_body.as_deref())?.unwrap_or_default();
    let chat_template_kwargs = json_object(
        "--chat-template-kwargs",
        args.chat_template_kwargs.as_deref(),
    )?;
    if chat_template_kwargs.is_some() && backend != Backend::OpenAiChat {
        tracing::warn!(
            "--chat-template-kwargs only reaches openai-chat requests (the server renders the \
             template); the {backend} backend ignores it"
        );
    }
    let response = if args.disable_stream {
        ResponseMode::Whole
    } else {
        ResponseMode::Stream
    };
    let lora = if args.lora_modules.is_empty() {
        None
    } else {
        Some(LoraModules {
            names: args.lora_modules.clone(),
            assignment: args
                .lora_assignment
                .parse()
                .map_err(|e: String| anyhow!(e))?,
        })
    };
    let read_timeout =
        (args.read_timeout > 0.0).then(|| Duration::from_secs_f64(args.read_timeout));
    let mut config = HttpEndpointConfig {
        backend,
        base_url: base_url.clone(),
        route: args
            .endpoint
            .clone()
            .unwrap_or_else(|| backend.route_for(response).to_owned()),
        headers: key_values(&args.header, "--header")?,
        api_key: std::env::var("OPENAI_API_KEY")
            .ok()
            .filter(|k| !k.is_empty()),
        read_timeout,
        payload: PayloadOptions::default(),
    };
    // The model: --model, else the first of /v1/models. With a ready check the lookup waits
    // for the server too (dyno serve answers 503 while it loads; vLLM's does not listen yet).
    let ready_wait = Duration::from_secs_f64(args.ready_check_timeout_sec.max(0.0));
    let model = match &args.model {
        Some(m) => m.clone(),
        None => rt
            .block_on(first_model(config.clone(), ready_wait))
            .with_context(|| format!("asking {base_url} for its model (or pass --model)"))?,
    };
    let (tokenizer, tokenizer_source): (Option<Arc<dyn BenchTokenizer>>, String) = match &args
        .tokenizer
    {
        Some(path) => (
            Some(local_tokenizer(path)?),
            format!("local {}", path.display()),
        ),
        None => match ServerTokenizer::start(config.clone(), model.clone()) {
            Ok(t) => (Some(Arc::new(t)), "server /tokenize".to_owned()),
            Err(e) => {
                tracing::warn!(
                    "no --tokenizer and the server's /tokenize failed ({e}); output tokens without usage are counted per chunk"
                );
                (None, "none".to_owned())
            }
        },
    };
    let Some(dataset_tokenizer) = tokenizer.clone() else {
        bail!("the datasets need a tokenizer: pass --tokenizer DIR (the server has no /tokenize)");
    };
    let requests =
        crate::dataset_args::sample(&args.dataset, args.traffic.seed, dataset_tokenizer.as_ref())?;
    let random = args.dataset.dataset_name == "random";
    config.payload = PayloadOptions {
        model: args
            .served_model_name
            .clone()
            .unwrap_or_else(|| model.clone()),
        response,
        chat_template_kwargs,
        ignore_eos: args.ignore_eos || (random && backend.is_openai_compatible()),
        logprobs: args.logprobs,
        sampling: SamplingFlags {
            temperature: args.sampling.temperature,
            top_p: args.sampling.top_p,
            top_k: args.sampling.top_k,
            min_p: args.sampling.min_p,
            frequency_penalty: args.sampling.frequency_penalty,
            presence_penalty: args.sampling.presence_penalty,
            repetition_penalty: args.sampling.repetition_penalty,
        },
        extra_body,
    };
    let traffic = if requests.iter().any(|r| r.timestamp.is_some()) {
        Traffic::Trace
    } else {
        traffic(&args)?
    };
    let duration = match args.traffic.duration {
        Some(d) if d > 0.0 && d.is_finite() => Some(Duration::from_secs_f64(d)),
        Some(d) => bail!("--duration {d}: expected a positive number of seconds"),
        None => None,
    };
    if args.traffic.max_concurrency == Some(0) {
        bail!("--max-concurrency 0: expected at least 1");
    }
    if args.traffic.num_runs == 0 {
        bail!("--num-runs 0: expected at least 1");
    }
    let options = ServeOptions {
        traffic,
        seed: args.traffic.seed,
        run: RunConfig {
            max_concurrency: args.traffic.max_concurrency,
            duration,
            num_requests: requests.len(),
            request_id_prefix: args.request_id_prefix.clone().unwrap_or_else(random_prefix),
        },
        num_warmups: args.traffic.num_warmups,
        warmup_output_len: args.traffic.warmup_output_len,
        ready_check: (args.ready_check_timeout_sec > 0.0)
            .then(|| Duration::from_secs_f64(args.ready_check_timeout_sec)),
        metrics: ServeMetricsConfig {
            percentile_metrics: parse_percentile_metrics(&args.output.percentile_metrics)?,
            percentiles: parse_percentiles(&args.output.metric_percentiles)?,
            goodput: parse_goodput(&args.output.goodput)?,
        },
        steady_threshold: args.output.steady_state_threshold,
        probe_rate: (args.probe_request_rate > 0.0).then_some(args.probe_request_rate),
        lora,
    };
    let endpoint = Arc::new(rt.block_on(HttpEndpoint::new(config))?);
    let (schedule, prepared) = serve_mode::prepare(&endpoint, &requests, &options)?;
    let warmup_request = serve_mode::warmup_request(&endpoint, &requests, &options)?;
    let (ramp_up, request_rate) = match options.traffic {
        Traffic::RampUp {
            strategy,
            start_rps,
            end_rps,
            ..
        } => (
            Some((
                strategy.as_str().to_owned(),
                start_rps as u64,
                end_rps as u64,
            )),
            f64::INFINITY,
        ),
        Traffic::Rate { rate, .. } => (None, rate),
        Traffic::Trace => (None, schedule.target_rate()),
    };
    let mut header = RunHeader {
        date: format_date(std::time::SystemTime::now()),
        backend: backend.as_str().to_owned(),
        label: args
            .output
            .label
            .clone()
            .unwrap_or_else(|| backend.as_str().to_owned()),
        model_id: model.clone(),
        tokenizer_id: args
            .tokenizer
            .as_ref()
            .map_or_else(|| model.clone(), |p| p.display().to_string()),
        num_prompts: requests.len(),
        metadata: key_values(&args.output.metadata, "--metadata")?,
        request_rate,
        burstiness: args.traffic.burstiness,
        max_concurrency: args.traffic.max_concurrency,
        ramp_up,
        tokenizer_source,
        duration_limit: duration,
        warmups: serve_mode::warmup_count(&options),
    };
    print!("{}", table::preamble(&header));
    if let Some(rate) = options.probe_rate {
        println!("Probe request rate: {} req/s", python_float(rate));
    }
    // --skip-tokenizer-init: output tokens are never counted on the client.
    let counting_tokenizer = if args.skip_tokenizer_init {
        None
    } else {
        tokenizer.as_deref()
    };

    // Ctrl-C stops the run; what was gathered is still reported and written.
    let (stop_tx, stop_rx) = watch::channel(false);
    rt.spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            let _ = stop_tx.send(true);
        }
    });
    let mut results: Vec<OrderedJson> = Vec::new();
    let mut last = None;
    let mut interrupted = false;
    for run_index in 0..args.traffic.num_runs {
        let bar = progress(&args, duration.is_some(), requests.len() as u64);
        let mut rx = stop_rx.clone();
        let cancel = async move {
            let _ = rx.wait_for(|stop| *stop).await;
        };
        let (output, warmups) = rt.block_on(serve_mode::run(
            &endpoint,
            &prepared,
            &schedule,
            &options,
            (run_index == 0).then_some(&warmup_request),
            cancel,
            &|_| bar.inc(1),
        ))?;
        bar.finish_and_clear();
        let warm_failed = warmups.iter().filter(|o| !o.success).count();
        if warm_failed > 0 {
            eprintln!(
                "warning: {warm_failed} of {} warm-up requests failed: {}",
                warmups.len(),
                warmups
                    .iter()
                    .find_map(|o| o.error.as_deref())
                    .unwrap_or("")
            );
        }
        let run = serve_mode::finish(output, schedule.clone(), &options, counting_tokenizer);
        if args.traffic.num_runs > 1 {
            println!("Run {} of {}", run_index + 1, args.traffic.num_runs);
        }
        print!("{}", table::render(&header, &run));
        results.push(json::result_json(&header, &run, args.output.save_detailed));
        interrupted = run.output.interrupted;
        last = Some(run);
        if interrupted {
            break;
        }
        header.warmups = 0;
    }
    let Some(last_run) = last else {
        bail!("no run happened");
    };
    let mut result = results.last().cloned().unwrap_or_default();
    if results.len() > 1 {
        let spreads = runs::spreads(&results);
        print!("{}", runs::render(&spreads));
        result.put("num_runs", results.len());
        result.put("runs_summary", runs::summary_json(&spreads));
    }
    if args.output.save_result || args.output.append_result {
        let path = json::result_path(
            &header,
            args.output.result_dir.as_deref(),
            args.output.result_filename.as_deref(),
        );
        json::save(&path, &result, args.output.append_result)
            .with_context(|| format!("saving the result to {}", path.display()))?;
        eprintln!("result written to {}", path.display());
    }
    if let Some(path) = &args.output.save_requests {
        requests::save(path, &last_run.output.outcomes)
            .with_context(|| format!("saving the requests to {}", path.display()))?;
    }
    Ok(if interrupted { EXIT_INTERRUPTED } else { 0 })
}

fn progress(args: &BenchServeArgs, open_ended: bool, len: u64) -> ProgressBar {
    if args.output.disable_tqdm || !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        return ProgressBar::hidden();
    }
    let (bar, template) = if open_ended {
        (
            ProgressBar::no_length(),
            "requests {pos} [{elapsed_precise}] {per_sec}",
        )
    } else {
        (
            ProgressBar::new(len),
            "requests {bar:40} {pos}/{len} [{elapsed_precise}<{eta_precise}]",
        )
    };
    bar.set_style(
        ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}
