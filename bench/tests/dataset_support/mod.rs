//! Shared by the dataset tests: test tokenizers, the shared-data path and file helpers.

#![allow(dead_code)] // each test file uses a different part

use std::path::{Path, PathBuf};

use dyno_bench::dataset::{BenchTokenizer, Prompt, SampleRequest};

/// The one path to `../shared/data`: `$DYNO_SHARED_DATA`, else `../shared/data` beside the
/// workspace root. The directory is required: a missing one fails the test.
pub fn shared_data() -> PathBuf {
    let dir = std::env::var("DYNO_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data"))
        });
    assert!(
        dir.is_dir(),
        "shared test data not found at {}: check out ../shared beside the workspace or set DYNO_SHARED_DATA",
        dir.display()
    );
    dir
}

/// A file of the shared data, which must exist.
pub fn shared_file(relative: &str) -> PathBuf {
    let path = shared_data().join(relative);
    assert!(path.is_file(), "missing test data file {}", path.display());
    path
}

/// Byte-level tokenizer: id = byte + 3; 0 = pad, 1 = BOS (added by `encode(_, true)`),
/// 2 = EOS; 259 ids. Decoding invalid UTF-8 gives U+FFFD (three bytes), so decode → encode
/// does not always keep the length: the case exact-length prompts must handle.
#[derive(Clone, Copy, Debug, Default)]
pub struct ByteTokenizer {
    /// Render chat prompts as `<|user|>\n{message}\n<|assistant|>\n`.
    pub chat_template: bool,
}

pub const BOS: u32 = 1;

impl ByteTokenizer {
    pub fn with_template() -> Self {
        Self {
            chat_template: true,
        }
    }
}

impl BenchTokenizer for ByteTokenizer {
    fn encode(&self, text: &str, add_special_tokens: bool) -> Vec<u32> {
        let bos = add_special_tokens.then_some(BOS);
        bos.into_iter()
            .chain(text.bytes().map(|b| u32::from(b) + 3))
            .collect()
    }

    fn decode(&self, ids: &[u32]) -> String {
        let bytes: Vec<u8> = ids
            .iter()
            .filter(|&&id| (3..259).contains(&id))
            .map(|&id| (id - 3) as u8)
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    fn vocab_size(&self) -> usize {
        259
    }

    fn special_token_ids(&self) -> Vec<u32> {
        vec![0, 1, 2]
    }

    fn num_special_tokens_to_add(&self) -> usize {
        1
    }

    fn apply_chat_template(&self, message: &str) -> Option<String> {
        self.chat_template
            .then(|| format!("<|user|>\n{message}\n<|assistant|>\n"))
    }
}

/// Counts one token per `bytes_per_token` bytes (rounded up) plus BOS, like a real subword
/// tokenizer roughly does on English. For datasets that only count tokens: `decode` is lossy.
#[derive(Clone, Copy, Debug)]
pub struct CountingTokenizer {
    pub bytes_per_token: usize,
}

impl CountingTokenizer {
    /// Tokens `encode(text, true)` gives.
    pub fn count(&self, text: &str) -> usize {
        1 + text.len().div_ceil(self.bytes_per_token)
    }
}

impl BenchTokenizer for CountingTokenizer {
    fn encode(&self, text: &str, add_special_tokens: bool) -> Vec<u32> {
        let bos = add_special_tokens.then_some(BOS);
        bos.into_iter()
            .chain(
                text.as_bytes()
                    .chunks(self.bytes_per_token)
                    .map(|c| u32::from(c[0]) + 3),
            )
            .collect()
    }

    fn decode(&self, ids: &[u32]) -> String {
        ByteTokenizer::default().decode(ids)
    }

    fn vocab_size(&self) -> usize {
        259
    }

    fn special_token_ids(&self) -> Vec<u32> {
        vec![0, 1, 2]
    }

    fn num_special_tokens_to_add(&self) -> usize {
        1
    }
}

/// The text of a request's prompt.
pub fn text(request: &SampleRequest) -> &str {
    match &request.prompt {
        Prompt::Text(text) => text,
        Prompt::Tokens(_) => panic!("{}: expected a text prompt", request.request_id),
    }
}

/// Writes `contents` to `name` in `dir`.
pub fn write(dir: &Path, name: &str, contents: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).expect("write test file");
    path
}

/// The request ids are `prefix0`, `prefix1`, … in order.
pub fn assert_sequential_ids(requests: &[SampleRequest], prefix: &str) {
    for (i, request) in requests.iter().enumerate() {
        assert_eq!(request.request_id, format!("{prefix}{i}"));
    }
}
