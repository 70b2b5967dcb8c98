//! Greedy output through the server equals the engine's: the tiny-llama golden completion of
//! `engine/tests/golden.rs` (which vLLM and llama.cpp also produce), served from the real
//! checkpoint, streamed and not.

mod common;

use common::{TestServer, engine, shared_data, sse_payloads};
use dyno_engine::{EngineConfig, LoadOptions, generate_greedy, load_model};
use dyno_server::{ChatTemplate, ServerConfig};
use serde_json::{Value, json};

const PROMPT: &str = "Shall I compare thee to a summer's day?";
const GOLDEN: &str = " remokill Natureame1 wom growenseount pines she treasure ga beautlt buriedIsJ selfKE youthenseends theureour po lovely r blood";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiny_llama_greedy_through_the_server_matches_the_engine() {
    let dir = shared_data().join("models/tiny-llama/hf");
    let model = dir.to_string_lossy().into_owned();
    let mut loaded = load_model(&model, &LoadOptions::default()).unwrap();
    let direct = generate_greedy(&mut loaded.model, loaded.tokenizer.as_ref(), PROMPT, 32).unwrap();
    assert_eq!(direct.text, GOLDEN);

    let template = ChatTemplate::resolve(None, &[dir.as_path()]).unwrap();
    assert!(
        template.origin().contains("tokenizer_config.json"),
        "{}",
        template.origin()
    );
    let config = ServerConfig::new("tiny-llama", template);
    let path = model.clone();
    let s = TestServer::spawn(config, move || engine(&path, &EngineConfig::default())).await;
    s.wait_ready().await;
    let body = json!({"model": "tiny-llama", "prompt": PROMPT, "max_tokens": 32,
                      "temperature": 0, "ignore_eos": true});
    let (status, answer) = s.post_json("/v1/completions", &body).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["choices"][0]["text"], GOLDEN);
    assert_eq!(answer["usage"]["prompt_tokens"], 11);
    assert_eq!(answer["usage"]["completion_tokens"], 32);

    let mut streamed_body = body.clone();
    streamed_body["stream"] = json!(true);
    let text = s
        .post("/v1/completions", &streamed_body)
        .await
        .text()
        .await
        .unwrap();
    let streamed: String = sse_payloads(&text)
        .iter()
        .filter(|p| *p != "[DONE]")
        .map(|p| {
            serde_json::from_str::<Value>(p).unwrap()["choices"][0]["text"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(streamed, GOLDEN);

    // The model's own template (tokenizer_config.json) shapes the chat prompt.
    let (_, tok) = s
        .post_json(
            "/tokenize",
            &json!({"messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    let (_, detok) = s
        .post_json("/detokenize", &json!({"tokens": tok["tokens"]}))
        .await;
    assert_eq!(detok["prompt"], "<|user|>\nhi\n<|assistant|>\n");
}
