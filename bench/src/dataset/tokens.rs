//! Exact-length prompts from token ids: vLLM's `gen_prompt_decode_to_target_len`, made to
//! converge.
//!
//! `n` random token ids do not always decode to text that encodes back to `n` tokens (GPT-2:
//! `[6880, 6881]` → `"calls" "here"` → `"call" "sh" "ere"`; a byte-level tokenizer: a byte
//! that is not UTF-8 on its own decodes to U+FFFD, three bytes). vLLM decodes, re-encodes, and
//! pads or truncates, up to 10 times. [`fit_to_length`] does the same with two changes:
//!
//! * it pads with non-special tokens that survive decode → encode on their own, where vLLM pads
//!   with any id in `[0, vocab)` (special tokens included, which decoding drops again);
//! * after truncating it backs off past a cut that splits a character or a merge (the cut text
//!   must re-encode to itself), where vLLM can cut into the same split character on every retry.
//!
//! The returned count is always the exact token count of the returned text, so a request's
//! `prompt_len` never lies even when 10 retries do not reach the target.

use rand::Rng;
use rand::rngs::StdRng;

use super::BenchTokenizer;
use super::error::{DatasetError, Result};

/// vLLM's retry budget.
const MAX_RETRIES: usize = 10;
/// Draws per padding token before settling for one that is not stable on its own.
const PAD_DRAWS: usize = 32;
/// Tokens dropped at most after a truncation, looking for a clean cut.
const MAX_BACKOFF: usize = 8;

/// The token ids random prompts are made of: the vocabulary minus the special ids, ascending.
pub(crate) fn allowed_tokens(tokenizer: &dyn BenchTokenizer) -> Result<Vec<u32>> {
    let vocab = tokenizer.vocab_size();
    let mut special = tokenizer.special_token_ids();
    special.sort_unstable();
    let allowed: Vec<u32> = (0..vocab)
        .filter_map(|id| u32::try_from(id).ok())
        .filter(|id| special.binary_search(id).is_err())
        .collect();
    if allowed.is_empty() {
        return Err(DatasetError::InvalidTokenizer {
            problem: format!(
                "every one of its {vocab} token ids is special, so no random prompt can be \
                 made; use a tokenizer with ordinary tokens"
            ),
        });
    }
    Ok(allowed)
}

/// A prompt and its exact token count (`encode(text, false).len()`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Fitted {
    /// The prompt.
    pub text: String,
    /// Its tokens, without special tokens.
    pub len: usize,
}

/// Text that starts with `head` and continues with the decoding of `body`, adjusted so that
/// the whole encodes to `target` tokens (without special tokens) when the tokenizer allows it.
///
/// `head` is kept verbatim: prompts that share it share their prefix text exactly.
pub(crate) fn fit_to_length(
    tokenizer: &dyn BenchTokenizer,
    allowed: &[u32],
    head: &str,
    mut body: Vec<u32>,
    target: usize,
    rng: &mut StdRng,
) -> Fitted {
    let mut attempt = 0;
    loop {
        let body_text = tokenizer.decode(&body);
        let text = format!("{head}{body_text}");
        let len = tokenizer.encode(&text, false).len();
        if len == target || attempt == MAX_RETRIES {
            return Fitted { text, len };
        }
        attempt += 1;
        body = tokenizer.encode(&body_text, false);
        if len < target {
            body.extend((0..target - len).map(|_| pad_token(tokenizer, allowed, rng)));
        } else {
            let mut keep = body.len().saturating_sub(len - target);
            body.truncate(keep);
            for _ in 0..MAX_BACKOFF {
                if keep == 0 || is_stable(tokenizer, &body) {
                    break;
                }
                keep -= 1;
                body.truncate(keep);
            }
        }
    }
}

/// Whether `ids` decode to text that encodes back to exactly `ids`.
fn is_stable(tokenizer: &dyn BenchTokenizer, ids: &[u32]) -> bool {
    tokenizer.encode(&tokenizer.decode(ids), false) == ids
}

/// A random allowed token, preferring one that survives decode → encode on its own.
fn pad_token(tokenizer: &dyn BenchTokenizer, allowed: &[u32], rng: &mut StdRng) -> u32 {
    let mut token = allowed[rng.random_range(0..allowed.len())];
    for _ in 1..PAD_DRAWS {
        if is_stable(tokenizer, &[token]) {
            break;
        }
        token = allowed[rng.random_range(0..allowed.len())];
    }
    token
}

/// `len` random allowed tokens.
pub(crate) fn random_tokens(allowed: &[u32], len: usize, rng: &mut StdRng) -> Vec<u32> {
    (0..len)
        .map(|_| allowed[rng.random_range(0..allowed.len())])
        .collect()
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    /// Bytes (id = byte + 3, specials 0..3), except that "ab" is one token (259): a merge, as
    /// BPE makes them, so that decode → encode can shorten a sequence.
    struct MergingTokenizer;

    impl BenchTokenizer for MergingTokenizer {
        fn encode(&self, text: &str, add_special_tokens: bool) -> Vec<u32> {
            let mut ids = Vec::from_iter(add_special_tokens.then_some(1));
            let bytes = text.as_bytes();
            let mut i = 0;
            while i < bytes.len() {
                if bytes[i..].starts_with(b"ab") {
                    ids.push(259);
                    i += 2;
                } else {
                    ids.push(u32::from(bytes[i]) + 3);
                    i += 1;
                }
            }
            ids
        }

        fn decode(&self, ids: &[u32]) -> String {
            let mut bytes = Vec::new();
            for &id in ids {
                match id {
                    259 => bytes.extend_from_slice(b"ab"),
                    3..259 => bytes.push((id - 3) as u8),
                    _ => {}
                }
            }
            String::from_utf8_lossy(&bytes).into_owned()
        }

        fn vocab_size(&self) -> usize {
            260
        }

        fn special_token_ids(&self) -> Vec<u32> {
            vec![0, 1, 2]
        }

        fn num_special_tokens_to_add(&self) -> usize {
            1
        }
    }

    #[test]
    fn fitting_reaches_the_target_through_merges_and_split_characters() {
        let tok = MergingTokenizer;
        // Only 'a', 'b' and a two-byte character's halves: every sequence merges or splits.
        let allowed: Vec<u32> = [b'a', b'b', 0xC3, 0xA9].map(|b| u32::from(b) + 3).to_vec();
        let mut rng = StdRng::seed_from_u64(1);
        for target in 1..60 {
            let body = random_tokens(&allowed, target, &mut rng);
            let fitted = fit_to_length(&tok, &allowed, "", body, target, &mut rng);
            assert_eq!(fitted.len, tok.encode(&fitted.text, false).len());
            assert_eq!(fitted.len, target, "{:?}", fitted.text);
        }
    }

    #[test]
    fn the_head_is_kept_verbatim() {
        let tok = MergingTokenizer;
        let allowed: Vec<u32> = (3..259).collect();
        let mut rng = StdRng::seed_from_u64(2);
        let body = random_tokens(&allowed, 20, &mut rng);
        let fitted = fit_to_length(&tok, &allowed, "head: ", body, 26, &mut rng);
        assert!(fitted.text.starts_with("head: "));
        assert_eq!(fitted.len, 26);
    }

    #[test]
    fn a_vocabulary_of_only_special_tokens_is_refused() {
        struct OnlySpecial;
        impl BenchTokenizer for OnlySpecial {
            fn encode(&self, _: &str, _: bool) -> Vec<u32> {
                Vec::new()
            }
            fn decode(&self, _: &[u32]) -> String {
                String::new()
            }
            fn vocab_size(&self) -> usize {
                2
            }
            fn special_token_ids(&self) -> Vec<u32> {
                vec![0, 1]
            }
            fn num_special_tokens_to_add(&self) -> usize {
                0
            }
        }
        assert!(matches!(
            allowed_tokens(&OnlySpecial),
            Err(DatasetError::InvalidTokenizer { .. })
        ));
    }
}
