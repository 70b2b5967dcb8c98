//! What the HTTP layer costs: one streamed request at a time to the built-in `tiny` model, once
//! through the engine handle alone and once through `dyno serve`'s `/v1/completions` on
//! loopback (reqwest, SSE). Prints the medians of time to first token, mean inter-token gap and
//! end-to-end time of each path.
//!
//! `cargo run --release -p dyno-server --example latency [-- REQUESTS TOKENS]`

use std::time::{Duration, Instant};

use dyno_engine::{
    EngineConfig, EngineCore, EngineHandle, EngineRequest, LoadOptions, RequestId, SamplingParams,
    TokenId, load_model,
};
use dyno_server::{BoundServer, ChatTemplate, ServerConfig};
use futures::StreamExt;

const PROMPT: &str = "The quick brown fox jumps over the lazy dog.";

fn core() -> EngineCore {
    let loaded = load_model("tiny", &LoadOptions::default()).expect("tiny loads");
    EngineCore::new(
        Box::new(loaded.model),
        loaded.tokenizer.into(),
        &EngineConfig::default(),
    )
    .expect("engine")
}

/// (ttft, mean gap, e2e) of one request, from the send to each token's arrival.
type Sample = (Duration, Duration, Duration);

fn summarize(samples: &mut [Sample]) -> (f64, f64, f64) {
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let mut t: Vec<f64> = samples.iter().map(|s| ms(s.0)).collect();
    let mut g: Vec<f64> = samples.iter().map(|s| ms(s.1)).collect();
    let mut e: Vec<f64> = samples.iter().map(|s| ms(s.2)).collect();
    (median(&mut t), median(&mut g), median(&mut e))
}

fn timings(start: Instant, arrivals: &[Instant]) -> Sample {
    let ttft = arrivals[0] - start;
    let e2e = *arrivals.last().unwrap() - start;
    let gap = (e2e - ttft) / (arrivals.len().max(2) as u32 - 1);
    (ttft, gap, e2e)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let requests = args.first().copied().unwrap_or(30);
    let tokens = args.get(1).copied().unwrap_or(64);

    // Engine alone.
    let handle = EngineHandle::spawn(core()).unwrap();
    let prompt: Vec<TokenId> = handle
        .tokenizer()
        .encode(PROMPT, true)
        .unwrap()
        .into_iter()
        .map(TokenId)
        .collect();
    let mut direct = Vec::new();
    for i in 0..requests + 3 {
        let start = Instant::now();
        let mut stream = handle
            .generate(EngineRequest {
                params: SamplingParams {
                    ignore_eos: true,
                    ..SamplingParams::greedy(tokens as u32)
                },
                ..EngineRequest::new(RequestId(i as u64), prompt.clone())
            })
            .unwrap();
        let mut arrivals = Vec::with_capacity(tokens);
        while let Some(ev) = stream.next().await {
            ev.unwrap();
            arrivals.push(Instant::now());
        }
        if i >= 3 {
            direct.push(timings(start, &arrivals));
        }
    }
    handle.shutdown();

    // Through the server.
    let mut config = ServerConfig::new("tiny", ChatTemplate::resolve(None, &[]).unwrap());
    config.port = 0;
    let server = BoundServer::bind(config).await.unwrap();
    let url = format!("http://{}/v1/completions", server.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server.serve(|| Ok(core()), async move {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::new();
    let health = url.replace("/v1/completions", "/health");
    while !client
        .get(&health)
        .send()
        .await
        .is_ok_and(|r| r.status() == reqwest::StatusCode::OK)
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let body = serde_json::json!({"prompt": PROMPT, "max_tokens": tokens, "temperature": 0,
                                  "ignore_eos": true, "stream": true});
    let mut served = Vec::new();
    for i in 0..requests + 3 {
        let start = Instant::now();
        let r = client.post(&url).json(&body).send().await.unwrap();
        let mut stream = r.bytes_stream();
        let mut arrivals = Vec::with_capacity(tokens);
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.unwrap();
            let now = Instant::now();
            let events = chunk.windows(7).filter(|w| w == b"data: {").count();
            arrivals.extend(std::iter::repeat_n(now, events));
        }
        assert_eq!(arrivals.len(), tokens, "one event per token");
        if i >= 3 {
            served.push(timings(start, &arrivals));
        }
    }
    drop(stop);
    task.await.unwrap().unwrap();

    let (dt, dg, de) = summarize(&mut direct);
    let (st, sg, se) = summarize(&mut served);
    println!("{requests} requests of {tokens} tokens, one at a time (medians, ms)");
    println!("path            ttft    gap     e2e");
    println!("engine handle   {dt:<7.3} {dg:<7.4} {de:<7.2}");
    println!("http + sse      {st:<7.3} {sg:<7.4} {se:<7.2}");
    println!(
        "server overhead {:<7.3} {:<7.4} {:<7.2}",
        st - dt,
        sg - dg,
        se - de
    );
}
