//! `dyno serve`: binds the port, prints the address, loads the model while `/health` says 503,
//! then serves until SIGTERM or Ctrl-C and drains (exit 0). Thin over `dyno_server`.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use dyno_server::{BoundServer, ChatTemplate, ServerConfig, shutdown};

use crate::args::serve::ServeArgs;
use crate::engine_endpoint::build_engine;

/// Runs the command; returns the exit code.
pub fn run(args: ServeArgs) -> Result<i32> {
    let config = server_config(&args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("dyno-http")
        .build()
        .context("starting the async runtime")?;
    let engine_args = args.engine;
    runtime.block_on(async move {
        let server = BoundServer::bind(config).await?;
        let addr = server.local_addr()?;
        let mut out = std::io::stdout().lock();
        writeln!(out, "dyno serve: listening on http://{addr}")?;
        out.flush()?;
        drop(out);
        let loader = move || build_engine(&engine_args).map_err(|e| format!("{e:#}").into());
        let outcome = server.serve(loader, shutdown::signal()).await?;
        tracing::info!(?outcome, "stopped");
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(0)
}

fn server_config(args: &ServeArgs) -> Result<ServerConfig> {
    if !(args.drain_timeout_sec.is_finite() && args.drain_timeout_sec >= 0.0) {
        bail!(
            "--drain-timeout-sec {} is invalid; give a number of seconds >= 0",
            args.drain_timeout_sec
        );
    }
    let model = Path::new(&args.engine.model);
    let mut dirs: Vec<&Path> = Vec::new();
    if let Some(t) = &args.engine.tokenizer {
        dirs.push(if t.is_dir() {
            t.as_path()
        } else {
            t.parent().unwrap_or(t)
        });
    }
    if model.is_dir() {
        dirs.push(model);
    }
    let template = ChatTemplate::resolve(args.chat_template.as_deref(), &dirs)?;
    tracing::info!(origin = template.origin(), "chat template");
    let mut config = ServerConfig::new(args.served_model_name(), template);
    config.host = args.host.clone();
    config.port = args.port;
    config.model_root = args.engine.model.clone();
    config.api_key = args
        .api_key
        .clone()
        .or_else(|| std::env::var("DYNO_API_KEY").ok())
        .or_else(|| std::env::var("VLLM_API_KEY").ok())
        .filter(|k| !k.is_empty());
    config.max_waiting_requests = args.max_waiting_requests;
    config.max_request_body_bytes = usize::try_from(args.max_request_body_bytes)
        .context("--max-request-body-bytes is too large for this machine")?;
    config.drain_timeout = Duration::from_secs_f64(args.drain_timeout_sec);
    Ok(config)
}
