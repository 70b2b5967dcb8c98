//! Golden outputs of real checkpoints in `../shared/data` (greedy, through the paged forward and
//! the real KV cache manager). The data directory is required: a missing one fails the test.

mod common;

use common::shared_data;
use std::path::PathBuf;

use dyno_engine::{
    GenerateOptions, LoadOptions, Model, generate_greedy, generate_greedy_tokens, load_model,
};

fn path_str(p: PathBuf) -> String {
    assert!(p.exists(), "missing test data file {}", p.display());
    p.to_string_lossy().into_owned()
}

/// The start of the story in llama2.c's `doc/stories260K.md` (its first line, then the second's
/// opening words).
const STORY_START: &str =
    "Once upon a time, there was a little girl named Lily. She loved to play outside in the park.";
const STORY_FIRST_LINE_REST: &str =
    " One day, she saw a big, red ball. She wanted to play with it, but it was too high.";
const STORY_SECOND_LINE_START: &str = "Lily's mom said, \"Lily, let's go to the park.\"";

#[test]
fn stories260k_greedy_tells_the_documented_story() {
    let model = path_str(shared_data().join("models/stories260K/stories260K.bin"));
    let mut loaded = load_model(&model, &LoadOptions::default()).unwrap();
    let bos = loaded.tokenizer.bos_id().unwrap();
    let tokens =
        generate_greedy_tokens(&mut loaded.model, &[bos], 256, GenerateOptions::default()).unwrap();
    let text = loaded
        .tokenizer
        .decode(&[&[bos][..], &tokens].concat())
        .unwrap();
    let mut lines = text.split('\n');
    let first = lines.next().unwrap();
    assert!(first.starts_with(STORY_START), "full text:\n{text}");
    assert_eq!(
        first,
        format!("{STORY_START}{STORY_FIRST_LINE_REST}"),
        "full text:\n{text}"
    );
    assert!(
        lines.next().unwrap().starts_with(STORY_SECOND_LINE_START),
        "full text:\n{text}"
    );
}

#[test]
fn stories260k_chunked_prefill_agrees_with_whole_prefill() {
    let model = path_str(shared_data().join("models/stories260K/stories260K.bin"));
    let mut loaded = load_model(&model, &LoadOptions::default()).unwrap();
    let prompt = loaded
        .tokenizer
        .encode("Once upon a time, there was a", true)
        .unwrap();
    let whole =
        generate_greedy_tokens(&mut loaded.model, &prompt, 24, GenerateOptions::default()).unwrap();
    let chunked = GenerateOptions {
        prefill_chunk: Some(3),
        block_size: 4,
        ..GenerateOptions::default()
    };
    let split = generate_greedy_tokens(&mut loaded.model, &prompt, 24, chunked).unwrap();
    assert_eq!(whole, split);
    assert_eq!(loaded.model.config().vocab_size, 512);
}

#[test]
fn tiny_llama_hf_matches_vllm_and_llama_cpp() {
    let dir = path_str(shared_data().join("models/tiny-llama/hf"));
    let mut loaded = load_model(&dir, &LoadOptions::default()).unwrap();
    let prompt = "Shall I compare thee to a summer's day?";
    let generation =
        generate_greedy(&mut loaded.model, loaded.tokenizer.as_ref(), prompt, 32).unwrap();
    assert_eq!(
        generation.prompt_tokens.len(),
        11,
        "prompt tokens {:?}",
        generation.prompt_tokens
    );
    assert_eq!(generation.tokens.len(), 32);
    assert_eq!(
        generation.text,
        " remokill Natureame1 wom growenseount pines she treasure ga beautlt buriedIsJ selfKE youthenseends theureour po lovely r blood"
    );
}
