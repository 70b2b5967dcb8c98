//! `dyno generate`: one prompt through the engine, the completion streamed to stdout.

use std::io::Write;

use anyhow::{Result, bail};
use dyno_engine::{EngineRequest, RequestId, SamplingParams, TokenId};

use crate::args::GenerateArgs;
use crate::engine_endpoint::build_engine;

/// Runs `dyno generate`; returns the exit code.
pub fn run(args: GenerateArgs) -> Result<i32> {
    let mut core = build_engine(&args.engine)?;
    let prompt: Vec<TokenId> = core
        .tokenizer()
        .encode(&args.prompt, true)?
        .into_iter()
        .map(TokenId)
        .collect();
    if prompt.is_empty() {
        bail!(
            "the prompt encodes to no tokens and the tokenizer has no BOS token; pass --prompt with some text"
        );
    }
    let max_tokens = args
        .max_tokens
        .unwrap_or_else(|| (core.max_model_len() - prompt.len().min(core.max_model_len())) as u32);
    let params = SamplingParams {
        max_tokens: Some(max_tokens.max(1)),
        temperature: args.temperature,
        top_p: args.top_p,
        top_k: args.top_k,
        stop: args.stop.clone(),
        ignore_eos: args.ignore_eos,
        ..SamplingParams::default()
    };
    core.add_request(EngineRequest {
        params,
        ..EngineRequest::new(RequestId(0), prompt)
    })?;
    let mut out = std::io::stdout().lock();
    if args.echo {
        write!(out, "{}", args.prompt)?;
    }
    let mut finish = None;
    let mut tokens = 0;
    while core.has_unfinished() {
        for event in core.step()? {
            write!(out, "{}", event.text)?;
            tokens += 1;
            finish = event.finished.or(finish);
        }
        out.flush()?;
    }
    writeln!(out)?;
    if let Some(reason) = finish {
        tracing::info!(tokens, reason = ?reason, "finished");
    }
    Ok(0)
}
