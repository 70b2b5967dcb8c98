//! [`ServerTokenizer`]: the served model's tokenizer through the server's `POST /tokenize` and
//! `POST /detokenize` (vLLM's routes), for runs without a local `--tokenizer`.
//!
//! It is a [`BenchTokenizer`] (synchronous, as the dataset readers need): calls go to a
//! thread of its own with its own connection, so it works outside and inside an async runtime.
//! The vocabulary size is found once, when first asked, by probing `/detokenize` (the largest
//! id the server accepts, by doubling then bisection); the special ids are those `/tokenize`
//! adds around empty text.

use std::sync::OnceLock;
use std::sync::mpsc as std_mpsc;

use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::client::{EndpointError, HttpEndpoint, HttpEndpointConfig};
use crate::dataset::BenchTokenizer;

enum Job {
    Encode(String, bool, std_mpsc::Sender<Result<Vec<u32>, String>>),
    Decode(Vec<u32>, std_mpsc::Sender<Result<String, String>>),
}

/// The server's tokenizer through `/tokenize` and `/detokenize`, behind a thread of its own.
#[derive(Debug)]
pub struct ServerTokenizer {
    jobs: mpsc::UnboundedSender<Job>,
    vocab: OnceLock<usize>,
    specials: OnceLock<Vec<u32>>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Job")
    }
}

fn tokens_of(v: &Value) -> Result<Vec<u32>, String> {
    v.get("tokens")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|t| t.as_u64().map(|t| t as u32))
                .collect()
        })
        .ok_or_else(|| format!("/tokenize answered without `tokens`: {v}"))
}

impl ServerTokenizer {
    /// Connects to the server of `config` and checks that `/tokenize` answers for `model`.
    ///
    /// # Errors
    /// [`EndpointError`] when the server cannot be reached or has no `/tokenize`.
    pub fn start(config: HttpEndpointConfig, model: String) -> Result<Self, EndpointError> {
        let (tx, mut rx) = mpsc::unbounded_channel::<Job>();
        let (ready_tx, ready_rx) = std_mpsc::channel::<Result<(), EndpointError>>();
        std::thread::Builder::new()
            .name("server-tokenizer".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(EndpointError::Body {
                            path: "/tokenize".into(),
                            why: format!("cannot start a runtime: {e}"),
                        }));
                        return;
                    }
                };
                rt.block_on(async move {
                    let endpoint = match HttpEndpoint::new(config).await {
                        Ok(e) => e,
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                            return;
                        }
                    };
                    let probe = endpoint
                        .post_json("/tokenize", &json!({"model": model, "prompt": "hi"}))
                        .await
                        .and_then(|v| {
                            tokens_of(&v)
                                .map(|_| ())
                                .map_err(|why| EndpointError::Body {
                                    path: "/tokenize".into(),
                                    why,
                                })
                        });
                    let failed = probe.is_err();
                    let _ = ready_tx.send(probe);
                    if failed {
                        return;
                    }
                    while let Some(job) = rx.recv().await {
                        match job {
                            Job::Encode(text, special, reply) => {
                                let body = json!({"model": model, "prompt": text,
                                                  "add_special_tokens": special});
                                let r = endpoint
                                    .post_json("/tokenize", &body)
                                    .await
                                    .map_err(|e| e.to_string())
                                    .and_then(|v| tokens_of(&v));
                                let _ = reply.send(r);
                            }
                            Job::Decode(ids, reply) => {
                                let body = json!({"model": model, "tokens": ids});
                                let r = endpoint
                                    .post_json("/detokenize", &body)
                                    .await
                                    .map_err(|e| e.to_string())
                                    .map(|v| {
                                        v.get("prompt")
                                            .and_then(Value::as_str)
                                            .unwrap_or("")
                                            .to_owned()
                                    });
                                let _ = reply.send(r);
                            }
                        }
                    }
                });
            })
            .map_err(|e| EndpointError::Body {
                path: "/tokenize".into(),
                why: format!("cannot start the tokenizer thread: {e}"),
            })?;
        ready_rx.recv().map_err(|_| EndpointError::Body {
            path: "/tokenize".into(),
            why: "the tokenizer thread stopped".into(),
        })??;
        Ok(Self {
            jobs: tx,
            vocab: OnceLock::new(),
            specials: OnceLock::new(),
        })
    }

    fn try_encode(&self, text: &str, special: bool) -> Result<Vec<u32>, String> {
        let (tx, rx) = std_mpsc::channel();
        self.jobs
            .send(Job::Encode(text.to_owned(), special, tx))
            .map_err(|_| "the tokenizer thread stopped".to_owned())?;
        rx.recv()
            .map_err(|_| "the tokenizer thread stopped".to_owned())?
    }

    fn try_decode(&self, ids: &[u32]) -> Result<String, String> {
        let (tx, rx) = std_mpsc::channel();
        self.jobs
            .send(Job::Decode(ids.to_vec(), tx))
            .map_err(|_| "the tokenizer thread stopped".to_owned())?;
        rx.recv()
            .map_err(|_| "the tokenizer thread stopped".to_owned())?
    }

    fn probe_vocab(&self) -> usize {
        let ok = |id: u32| self.try_decode(&[id]).is_ok();
        if !ok(0) {
            return 0;
        }
        let mut hi = 1u32;
        while hi < (1 << 24) && ok(hi) {
            hi *= 2;
        }
        let mut lo = hi / 2; // ok(lo), !ok(hi) (or the cap)
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if ok(mid) { lo = mid } else { hi = mid }
        }
        lo as usize + 1
    }
}

impl BenchTokenizer for ServerTokenizer {
    fn encode(&self, text: &str, add_special_tokens: bool) -> Vec<u32> {
        self.try_encode(text, add_special_tokens)
            .unwrap_or_default()
    }

    fn decode(&self, ids: &[u32]) -> String {
        self.try_decode(ids).unwrap_or_default()
    }

    fn vocab_size(&self) -> usize {
        *self.vocab.get_or_init(|| self.probe_vocab())
    }

    fn special_token_ids(&self) -> Vec<u32> {
        self.specials
            .get_or_init(|| self.try_encode("", true).unwrap_or_default())
            .clone()
    }

    fn num_special_tokens_to_add(&self) -> usize {
        self.special_token_ids().len()
    }
}
