//! `dyno mock-server`: runs [`dyno_mock::MockServer`] until Ctrl-C or SIGTERM, then prints
//! what it did (its lateness counters) on stderr.

use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use dyno_mock::{Fault, MockConfig, MockServer, TimerKind, UsageMode};

use crate::args::mock::{MockServerArgs, TimerArg};

fn millis(name: &str, ms: f64) -> Result<Duration> {
    if !ms.is_finite() || ms < 0.0 {
        bail!("--{name} {ms}: give a number of milliseconds ≥ 0");
    }
    Ok(Duration::from_secs_f64(ms / 1e3))
}

/// The validated configuration of the flags.
fn config(args: &MockServerArgs) -> Result<MockConfig> {
    let ip: IpAddr = args
        .host
        .parse()
        .with_context(|| format!("--host {}: give an IP address such as 127.0.0.1", args.host))?;
    let fault = match (args.error_after, args.stall_after, args.drop_after) {
        (Some(n), _, _) => Some(Fault::ErrorAfter(n)),
        (_, Some(n), _) => Some(Fault::StallAfter(n)),
        (_, _, Some(n)) => Some(Fault::DropAfter(n)),
        _ => None,
    };
    let config = MockConfig {
        addr: SocketAddr::new(ip, args.port),
        ttft: millis("ttft-ms", args.ttft_ms)?,
        itl: millis("itl-ms", args.itl_ms)?,
        output_len: args.output_len,
        model: args.model.clone(),
        tokens_per_chunk: args.tokens_per_chunk,
        usage: if args.no_usage {
            UsageMode::Never
        } else if args.usage_in_last_chunk {
            UsageMode::InLastChunk
        } else {
            UsageMode::WhenRequested
        },
        sse_comments: args.sse_comments,
        done: !args.no_done,
        fault,
        jitter: millis("jitter-ms", args.jitter_ms)?,
        timer: match args.timer {
            TimerArg::Precise => TimerKind::Precise,
            TimerArg::Tokio => TimerKind::Tokio,
        },
    };
    config.validate()?;
    Ok(config)
}

/// Runs the command; returns the exit code.
pub fn run(args: MockServerArgs) -> Result<i32> {
    let config = config(&args)?;
    if args.workers == 0 {
        bail!("--workers 0: give at least 1 worker thread");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.workers)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let server = MockServer::bind(config).await?;
        let stats = server.stats();
        let handle = server.shutdown_handle();
        println!(
            "dyno mock-server: listening on http://{}",
            server.local_addr()
        );
        std::io::stdout().flush().ok();
        let serve = tokio::spawn(server.serve());
        dyno_mock::termination_signal().await;
        handle.shutdown();
        let _ = serve.await;
        eprintln!("dyno mock-server: {}", stats.snapshot());
        Ok(0)
    })
}
