//! [`ServerTokenizer`]: the served model's tokenizer through the server's `POST /tokenize` and
//! `POST /detokenize` (vLLM's routes), for runs without a local `--tokenizer`.
//!
//! It is a [`BenchTokenizer`] (synchronous, as the dataset readers need). Each call is one
//! exchange on a kept-alive blocking connection, made by the calling thread itself
//! ([`BlockingClient`]): no runtime, no helper thread and no channel, so a call costs a write
//! and a read instead of two cross-thread wake-ups on top of them. Calls from several threads
//! take turns on the one connection. It works outside and inside an async runtime (inside, the
//! call blocks its worker for the round trip, as any synchronous tokenizer does).
//!
//! The vocabulary size is found once, when first asked, by probing `/detokenize` (the largest
//! id the server accepts, by doubling then bisection), up to [`MAX_PROBED_VOCAB`]: a server that
//! accepts every id (the mock does) gets that many, not the 16.8 million of a 2^24 cap, whose
//! list of allowed ids alone took 64 MB and about 40 ms to build for the random dataset. The
//! special ids are those `/tokenize` adds around empty text.

use std::sync::{Mutex, OnceLock};

use serde_json::{Value, json};

use super::client::{EndpointError, HttpEndpoint, HttpEndpointConfig};
use super::http::BlockingClient;
use crate::dataset::BenchTokenizer;

/// The largest vocabulary the `/detokenize` probe reports: 2^20, above every published
/// tokenizer's (the largest are around 262 000 ids).
pub const MAX_PROBED_VOCAB: usize = 1 << 20;

/// The server's tokenizer through `/tokenize` and `/detokenize`, one exchange per call on a
/// kept-alive blocking connection; the vocabulary size is probed once, when first asked.
#[derive(Debug)]
pub struct ServerTokenizer {
    endpoint: HttpEndpoint,
    conn: Mutex<BlockingClient>,
    model: String,
    vocab: OnceLock<usize>,
    specials: OnceLock<Vec<u32>>,
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

/// A `/tokenize` body that vLLM (`prompt`, `add_special_tokens`) and llama-server (`content`,
/// `add_special`) both read; each ignores the other's fields.
fn tokenize_body(model: &str, text: &str, special: bool) -> Value {
    json!({
        "model": model,
        "prompt": text,
        "content": text,
        "add_special_tokens": special,
        "add_special": special,
    })
}

impl ServerTokenizer {
    /// Connects to the server of `config` and checks that `/tokenize` answers for `model`.
    ///
    /// # Errors
    /// [`EndpointError`] when the server cannot be reached or has no `/tokenize`.
    pub fn start(config: HttpEndpointConfig, model: String) -> Result<Self, EndpointError> {
        let endpoint = HttpEndpoint::new_blocking(config)?;
        let mut conn = endpoint.blocking_client();
        let probe = endpoint.post_json_blocking(
            &mut conn,
            "/tokenize",
            &tokenize_body(&model, "hi", true),
        )?;
        let ids = tokens_of(&probe).map_err(|why| EndpointError::Body {
            path: "/tokenize".into(),
            why,
        })?;
        if ids.is_empty() {
            return Err(EndpointError::Body {
                path: "/tokenize".into(),
                why: "the server returned no tokens for \"hi\" (it does not read vLLM's `prompt` \
                      nor llama-server's `content`); pass --tokenizer DIR"
                    .into(),
            });
        }
        Ok(Self {
            endpoint,
            conn: Mutex::new(conn),
            model,
            vocab: OnceLock::new(),
            specials: OnceLock::new(),
        })
    }

    fn call(&self, path: &str, body: &Value) -> Result<Value, String> {
        let mut conn = self
            .conn
            .lock()
            .map_err(|_| "the tokenizer connection is poisoned (a call panicked)".to_owned())?;
        self.endpoint
            .post_json_blocking(&mut conn, path, body)
            .map_err(|e| e.to_string())
    }

    fn try_encode(&self, text: &str, special: bool) -> Result<Vec<u32>, String> {
        tokens_of(&self.call("/tokenize", &tokenize_body(&self.model, text, special))?)
    }

    fn try_decode(&self, ids: &[u32]) -> Result<String, String> {
        let body = json!({"model": self.model, "tokens": ids});
        let v = self.call("/detokenize", &body)?;
        Ok(v.get("prompt")
            .or_else(|| v.get("content"))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned())
    }

    fn probe_vocab(&self) -> usize {
        // An id exists when `/detokenize` answers with text: vLLM answers 200 with "" for any
        // id past the vocabulary, llama-server and dyno answer an error. Special tokens also
        // decode to "", so the search starts from an id the tokenizer itself produced.
        let ok = |id: u32| self.try_decode(&[id]).is_ok_and(|text| !text.is_empty());
        let known = self
            .try_encode("hello world", false)
            .ok()
            .and_then(|ids| ids.into_iter().max())
            .unwrap_or(0);
        let cap = MAX_PROBED_VOCAB as u32;
        if known >= cap - 1 || ok(cap - 1) {
            tracing::warn!(
                "the server's /detokenize accepts ids up to {cap}; random prompts use that many \
                 ids (pass --tokenizer DIR for the real vocabulary)"
            );
            return MAX_PROBED_VOCAB;
        }
        let mut lo = known;
        let mut hi = known.saturating_mul(2).max(known + 1);
        while hi < cap && ok(hi) {
            lo = hi;
            hi = hi.saturating_mul(2).min(cap);
        }
        // ok(lo) (or lo came from /tokenize) and !ok(hi) (or hi = cap, and cap - 1 failed above).
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::Ordering;

    use super::super::http::test_server::{Request, Then, json, serve};
    use super::*;
    use crate::endpoint::Backend;

    /// A byte tokenizer behind vLLM's routes: ids 0–299 exist, `add_special_tokens` puts BOS
    /// (id 1) in front, `/detokenize` answers 400 for an id out of range.
    fn byte_server(r: &Request, s: &mut std::net::TcpStream) -> Then {
        let v: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
        match r.path.as_str() {
            "/tokenize" => {
                let text = v["prompt"].as_str().unwrap_or("");
                let mut ids: Vec<u32> = Vec::new();
                if v["add_special_tokens"].as_bool().unwrap_or(true) {
                    ids.push(1);
                }
                ids.extend(text.bytes().map(u32::from));
                json(
                    s,
                    200,
                    &json!({ "tokens": ids, "count": ids.len() }).to_string(),
                );
            }
            "/detokenize" => {
                let ids: Vec<u64> = v["tokens"]
                    .as_array()
                    .map(|a| a.iter().filter_map(Value::as_u64).collect())
                    .unwrap_or_default();
                if ids.iter().any(|&id| id >= 300) {
                    json(s, 400, r#"{"error":{"message":"token id out of range"}}"#);
                } else {
                    let text: String = ids
                        .iter()
                        .filter(|&&id| id != 1)
                        .map(|&id| char::from(id.min(255) as u8))
                        .collect();
                    json(s, 200, &json!({ "prompt": text }).to_string());
                }
            }
            _ => json(s, 404, r#"{"error":"no such route"}"#),
        }
        Then::KeepAlive
    }

    fn config(addr: std::net::SocketAddr) -> HttpEndpointConfig {
        HttpEndpointConfig {
            backend: Backend::OpenAi,
            base_url: format!("http://{addr}"),
            route: "/v1/completions".into(),
            headers: Vec::new(),
            api_key: None,
            read_timeout: Some(std::time::Duration::from_secs(5)),
            payload: Default::default(),
        }
    }

    #[test]
    fn encodes_decodes_and_probes_over_one_kept_alive_connection() {
        let (addr, accepted) = serve(byte_server);
        let tok = ServerTokenizer::start(config(addr), "m".into()).unwrap();
        assert_eq!(tok.encode("hi", false), vec![104, 105]);
        assert_eq!(tok.encode("hi", true), vec![1, 104, 105]);
        assert_eq!(tok.decode(&[104, 105]), "hi");
        assert_eq!(tok.special_token_ids(), vec![1]);
        assert_eq!(tok.num_special_tokens_to_add(), 1);
        // The largest id /detokenize accepts is 299.
        assert_eq!(tok.vocab_size(), 300);
        assert_eq!(
            accepted.load(Ordering::SeqCst),
            1,
            "every call (the probe, dozens of /detokenize) went over one connection"
        );
    }

    #[test]
    fn calls_from_several_threads_and_from_inside_a_runtime_take_turns() {
        let (addr, _) = serve(byte_server);
        let tok = Arc::new(ServerTokenizer::start(config(addr), "m".into()).unwrap());
        let threads: Vec<_> = (0..4u8)
            .map(|t| {
                let tok = tok.clone();
                std::thread::spawn(move || {
                    for i in 0..20u8 {
                        let text = format!("{}{}", char::from(b'a' + t), char::from(b'a' + i));
                        let ids = tok.encode(&text, false);
                        assert_eq!(tok.decode(&ids), text);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .build()
            .unwrap();
        let inside = rt.block_on(async move {
            tokio::spawn(async move { tok.encode("ok", false) })
                .await
                .unwrap()
        });
        assert_eq!(inside, vec![111, 107]);
    }

    #[test]
    fn a_server_that_accepts_every_id_gets_the_probe_cap() {
        // A /detokenize that writes a word for any id: the probe stops at the cap after one
        // call instead of doubling to it and bisecting.
        let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = calls.clone();
        let (addr, _) = serve(move |r, s| {
            if r.path == "/detokenize" {
                counted.fetch_add(1, Ordering::SeqCst);
                json(s, 200, r#"{"prompt":"t7"}"#);
            } else {
                json(s, 200, r#"{"tokens":[7],"count":1}"#);
            }
            Then::KeepAlive
        });
        let tok = ServerTokenizer::start(config(addr), "m".into()).unwrap();
        assert_eq!(tok.vocab_size(), MAX_PROBED_VOCAB);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(tok.vocab_size(), MAX_PROBED_VOCAB, "probed once");
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    /// vLLM's shape of a tokenizer server that answers 200 with "" for ids past its vocabulary
    /// (1024 ids, BOS 0 decodes to ""), reading only `prompt`; or llama-server's, reading only
    /// `content` and answering `content`.
    fn words_server(llama: bool) -> std::net::SocketAddr {
        let (addr, _) = serve(move |r, s| {
            let v: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
            let field = if llama { "content" } else { "prompt" };
            if r.path == "/tokenize" {
                let text = v[field].as_str().unwrap_or("");
                let ids: Vec<u32> = text.bytes().map(|b| u32::from(b) + 500).collect();
                json(s, 200, &json!({ "tokens": ids }).to_string());
            } else {
                let id = v["tokens"][0].as_u64().unwrap_or(0);
                let text = if (1..1024).contains(&id) { "w" } else { "" };
                json(s, 200, &json!({ field: text }).to_string());
            }
            Then::KeepAlive
        });
        addr
    }

    #[test]
    fn empty_text_past_the_vocabulary_ends_the_probe_and_both_spellings_are_read() {
        for llama in [false, true] {
            let tok = ServerTokenizer::start(config(words_server(llama)), "m".into()).unwrap();
            assert_eq!(tok.vocab_size(), 1024, "llama-server shape: {llama}");
            assert_eq!(
                tok.encode("a", false),
                vec![97 + 500],
                "llama-server shape: {llama}"
            );
            assert_eq!(tok.decode(&[3]), "w", "llama-server shape: {llama}");
        }
    }

    #[test]
    fn a_tokenize_that_returns_nothing_is_refused() {
        let (addr, _) = serve(|_, s| {
            json(s, 200, r#"{"tokens":[]}"#);
            Then::KeepAlive
        });
        let err = ServerTokenizer::start(config(addr), "m".into()).unwrap_err();
        assert!(err.to_string().contains("--tokenizer"), "{err}");
    }

    #[test]
    fn a_server_without_tokenize_is_an_error_naming_the_route() {
        let (addr, _) = serve(|_, s| {
            json(s, 404, r#"{"detail":"Not Found"}"#);
            Then::KeepAlive
        });
        let err = ServerTokenizer::start(config(addr), "m".into()).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("/tokenize") && text.contains("404"), "{text}");
    }
}
