//! The engine loop end to end: [`EngineCore`] (schedule → forward → sample → update → text) and
//! the async [`EngineHandle`]. Greedy outputs must not depend on how the work was scheduled:
//! prefix caching, chunked prefill, preemption and the other requests of the batch.

mod common;

use common::shared_data;
use std::collections::BTreeMap;
use std::sync::Arc;

use dyno_engine::{
    ChunkedPrefill, EngineConfig, EngineCore, EngineError, EngineHandle, EngineRequest,
    FinishReason, LoadOptions, RequestId, SamplingParams, SchedulerOptions, TokenEvent, TokenId,
    load_model,
};
use futures::StreamExt;

fn engine(model: &str, config: &EngineConfig) -> EngineCore {
    let loaded = load_model(model, &LoadOptions::default()).expect("model loads");
    EngineCore::new(Box::new(loaded.model), Arc::from(loaded.tokenizer), config)
        .expect("engine starts")
}

fn stories() -> String {
    shared_data()
        .join("models/stories260K/stories260K.bin")
        .to_string_lossy()
        .into_owned()
}

/// Output of each sample: tokens, text, finish reason.
type Outputs = BTreeMap<(u64, u32), (Vec<u32>, String, Option<FinishReason>)>;

fn run_to_end(core: &mut EngineCore) -> Outputs {
    let mut out = Outputs::new();
    let mut steps = 0;
    while core.has_unfinished() {
        for e in core.step().expect("step") {
            collect(&mut out, e);
        }
        steps += 1;
        assert!(steps < 100_000, "engine did not finish");
    }
    out
}

fn collect(out: &mut Outputs, e: TokenEvent) {
    let entry = out
        .entry((e.request_id.0, e.sample_index))
        .or_insert_with(|| (Vec::new(), String::new(), None));
    assert!(entry.2.is_none(), "event after the finishing one");
    entry.0.push(e.token);
    entry.1.push_str(&e.text);
    entry.2 = e.finished;
}

fn prompts(core: &EngineCore) -> Vec<Vec<TokenId>> {
    let tok = core.tokenizer();
    [
        "Once upon a time",
        "Lily saw a big dog",
        "Once upon a time, there was a boy",
        "The sun was hot and",
        "Once upon a time",
    ]
    .iter()
    .map(|p| {
        tok.encode(p, true)
            .unwrap()
            .into_iter()
            .map(TokenId)
            .collect()
    })
    .collect()
}

fn greedy_request(id: u64, prompt: Vec<TokenId>, max_tokens: u32) -> EngineRequest {
    EngineRequest {
        params: SamplingParams {
            ignore_eos: true,
            ..SamplingParams::greedy(max_tokens)
        },
        ..EngineRequest::new(RequestId(id), prompt)
    }
}

fn run_all(config: &EngineConfig, max_tokens: u32) -> (Outputs, dyno_engine::EngineStats) {
    let mut core = engine(&stories(), config);
    for (i, p) in prompts(&core).into_iter().enumerate() {
        core.add_request(greedy_request(i as u64, p, max_tokens))
            .unwrap();
    }
    let out = run_to_end(&mut core);
    (out, core.stats())
}

#[test]
fn greedy_outputs_do_not_depend_on_scheduling() {
    let base = EngineConfig::default();
    let (reference, stats) = run_all(&base, 40);
    assert_eq!(reference.len(), 5);
    for (tokens, _, finish) in reference.values() {
        assert_eq!(tokens.len(), 40);
        assert_eq!(*finish, Some(FinishReason::MaxTokens));
    }
    // Prompts 0 and 4 are equal: the second one reuses the first one's blocks or runs beside it.
    assert_eq!(reference[&(0, 0)].0, reference[&(4, 0)].0);
    assert!(stats.generation_tokens >= 200);

    // Each request alone.
    for (i, p) in prompts(&engine(&stories(), &base)).into_iter().enumerate() {
        let mut core = engine(&stories(), &base);
        core.add_request(greedy_request(i as u64, p, 40)).unwrap();
        let alone = run_to_end(&mut core);
        assert_eq!(
            alone[&(i as u64, 0)],
            reference[&(i as u64, 0)],
            "request {i} alone"
        );
    }

    let no_prefix = EngineConfig {
        prefix_caching: false,
        ..base.clone()
    };
    assert_eq!(run_all(&no_prefix, 40).0, reference, "prefix caching off");

    let chunked = EngineConfig {
        scheduler: SchedulerOptions {
            max_num_batched_tokens: 8,
            ..base.scheduler
        },
        max_model_len: Some(256),
        ..base.clone()
    };
    assert_eq!(
        run_all(&chunked, 40).0,
        reference,
        "8-token chunked prefill"
    );

    let no_chunking = EngineConfig {
        scheduler: SchedulerOptions {
            chunked_prefill: ChunkedPrefill::Disabled,
            ..base.scheduler
        },
        ..base.clone()
    };
    assert_eq!(
        run_all(&no_chunking, 40).0,
        reference,
        "chunked prefill off"
    );

    // A KV cache of 8 blocks of 4 tokens cannot hold five 45-token sequences: preemption.
    let loaded = load_model(&stories(), &LoadOptions::default()).unwrap();
    let bytes_per_token = dyno_engine::model::kv_shape(
        dyno_engine::Model::config(&loaded.model),
        dyno_engine::KvDtype::F32,
    )
    .bytes_per_token();
    let tight = EngineConfig {
        block_size: 4,
        kv_cache_memory: Some(bytes_per_token * 4 * 16),
        max_model_len: Some(64),
        ..base.clone()
    };
    let (preempted, stats) = run_all(&tight, 40);
    assert!(stats.num_preemptions > 0, "expected preemptions: {stats:?}");
    assert_eq!(preempted, reference, "after preemption and recompute");
}

#[test]
fn stop_strings_end_the_text_before_the_match() {
    let base = EngineConfig::default();
    let mut core = engine(&stories(), &base);
    let prompt: Vec<TokenId> = core
        .tokenizer()
        .encode("", true)
        .unwrap()
        .into_iter()
        .map(TokenId)
        .collect();
    core.add_request(greedy_request(0, prompt.clone(), 60))
        .unwrap();
    let free = run_to_end(&mut core);
    let full_text = &free[&(0, 0)].1;
    assert!(full_text.contains("Lily"), "{full_text}");

    let params = SamplingParams {
        stop: vec!["girl".into(), "zzz".into()],
        ..SamplingParams::greedy(60)
    };
    core.add_request(EngineRequest {
        params,
        ..EngineRequest::new(RequestId(1), prompt)
    })
    .unwrap();
    let stopped = run_to_end(&mut core);
    let (tokens, text, finish) = &stopped[&(1, 0)];
    assert_eq!(*finish, Some(FinishReason::StopString(0)));
    let cut = full_text.find("girl").expect("the story mentions a girl");
    assert_eq!(text, &full_text[..cut]);
    assert!(tokens.len() < 60);
}

#[test]
fn seeded_sampling_is_reproducible_and_n_samples_differ() {
    let base = EngineConfig::default();
    let request = |id, n| EngineRequest {
        params: SamplingParams {
            n,
            seed: Some(1234),
            temperature: 1.0,
            top_p: 0.95,
            max_tokens: Some(30),
            ignore_eos: true,
            ..SamplingParams::default()
        },
        ..EngineRequest::new(RequestId(id), vec![TokenId(1), TokenId(300), TokenId(301)])
    };
    let mut a = engine(&stories(), &base);
    a.add_request(request(0, 1)).unwrap();
    let alone = run_to_end(&mut a);

    let mut b = engine(&stories(), &base);
    b.add_request(greedy_request(9, vec![TokenId(1), TokenId(400)], 50))
        .unwrap();
    b.add_request(request(0, 3)).unwrap();
    let batched = run_to_end(&mut b);
    assert_eq!(
        alone[&(0, 0)].0,
        batched[&(0, 0)].0,
        "seeded sample 0 in a batch"
    );
    assert_ne!(batched[&(0, 0)].0, batched[&(0, 1)].0, "n samples differ");
    assert_ne!(batched[&(0, 1)].0, batched[&(0, 2)].0, "n samples differ");
}

#[test]
fn bad_requests_are_refused_with_the_parameter_named() {
    let mut core = engine("tiny", &EngineConfig::default());
    let vocab = core.model_config().vocab_size as u32;
    let err = core
        .add_request(EngineRequest::new(RequestId(1), vec![TokenId(vocab)]))
        .unwrap_err();
    assert!(
        matches!(
            err,
            EngineError::InvalidParam {
                param: "prompt",
                ..
            }
        ),
        "{err}"
    );
    let err = core
        .add_request(EngineRequest {
            params: SamplingParams {
                temperature: -1.0,
                ..SamplingParams::default()
            },
            ..EngineRequest::new(RequestId(2), vec![TokenId(1)])
        })
        .unwrap_err();
    assert!(err.to_string().contains("temperature"), "{err}");
    let long = vec![TokenId(5); core.max_model_len()];
    let err = core
        .add_request(EngineRequest::new(RequestId(3), long))
        .unwrap_err();
    assert!(matches!(err, EngineError::PromptTooLong { .. }), "{err}");
    assert!(!core.has_unfinished());
}

#[test]
fn logprobs_come_with_the_tokens_that_asked() {
    let mut core = engine("tiny", &EngineConfig::default());
    core.add_request(EngineRequest {
        params: SamplingParams {
            logprobs: Some(3),
            ..SamplingParams::greedy(4)
        },
        ..EngineRequest::new(RequestId(1), vec![TokenId(1), TokenId(70)])
    })
    .unwrap();
    core.add_request(greedy_request(2, vec![TokenId(1), TokenId(71)], 4))
        .unwrap();
    while core.has_unfinished() {
        for e in core.step().unwrap() {
            match e.request_id.0 {
                1 => {
                    let lp = e.logprobs.expect("asked for logprobs");
                    assert_eq!(lp.top.len(), 3);
                    assert_eq!(lp.top[0].token, e.token, "greedy takes the top token");
                    assert!(lp.sampled <= 0.0);
                }
                _ => assert!(e.logprobs.is_none()),
            }
        }
    }
}

#[tokio::test(flavor = "current_thread")]
async fn handle_streams_tokens_and_frees_blocks_of_dropped_streams() {
    let handle = EngineHandle::spawn(engine("tiny", &EngineConfig::default())).unwrap();
    let mut a = handle
        .generate(greedy_request(
            1,
            vec![TokenId(1), TokenId(72), TokenId(73)],
            12,
        ))
        .unwrap();
    let long = handle
        .generate(greedy_request(2, vec![TokenId(1), TokenId(74)], 2000))
        .unwrap();
    let mut n = 0;
    while let Some(event) = a.next().await {
        let event = event.unwrap();
        n += 1;
        assert_eq!(event.num_output_tokens, n);
        if n == 12 {
            assert_eq!(event.finished, Some(FinishReason::MaxTokens));
        }
    }
    assert_eq!(n, 12);
    // Dropping the long request's stream aborts it; the engine goes idle with no block in use.
    drop(long);
    let mut idle = false;
    for _ in 0..500 {
        let stats = handle.stats();
        if stats.num_running == 0 && stats.num_waiting == 0 && stats.kv_usage == 0.0 {
            idle = true;
            break;
        }
        tokio::task::yield_now().await;
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert!(
        idle,
        "engine still busy after the stream was dropped: {:?}",
        handle.stats()
    );

    // A refused request yields one error item.
    let mut bad = handle
        .generate(EngineRequest::new(RequestId(3), Vec::new()))
        .unwrap();
    assert!(matches!(
        bad.next().await,
        Some(Err(EngineError::EmptyPrompt(_)))
    ));
    assert!(bad.next().await.is_none());
    handle.shutdown();
    assert!(
        handle
            .generate(EngineRequest::new(RequestId(4), vec![TokenId(1)]))
            .is_err()
    );
}

#[tokio::test]
async fn shutdown_while_busy_stops_the_loop_and_ends_streams() {
    let handle = EngineHandle::spawn(engine("tiny", &EngineConfig::default())).unwrap();
    let mut stream = handle
        .generate(EngineRequest {
            params: SamplingParams {
                ignore_eos: true,
                ..SamplingParams::greedy(2000)
            },
            ..EngineRequest::new(RequestId(1), vec![TokenId(1), TokenId(2)])
        })
        .unwrap();
    // The request is running: its first token arrived.
    assert!(stream.next().await.unwrap().is_ok());
    // A clone keeps the command channel open, so only the Shutdown command can end the loop.
    let keep = handle.clone();
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        handle.shutdown();
        let _ = done_tx.send(());
    });
    done_rx
        .recv_timeout(std::time::Duration::from_secs(30))
        .expect("shutdown returned while a request was running");
    let mut ended_with_error = false;
    while let Some(item) = stream.next().await {
        if let Err(e) = item {
            assert!(matches!(e, EngineError::EngineStopped { .. }), "{e}");
            ended_with_error = true;
        }
    }
    assert!(ended_with_error, "the running request was not told");
    drop(keep);
}
