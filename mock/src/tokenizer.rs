//! A trivial deterministic word tokenizer, so `/tokenize`, `/detokenize` and `usage` agree.
//!
//! A token is a whitespace-separated word. The word `t<k>` (k < [`VOCAB_SIZE`]) is token `k`;
//! any other word is token `FNV-1a(word) mod VOCAB_SIZE`. Detokenizing writes `t<k>` for each id,
//! separated by single spaces, so `tokenize(detokenize(ids)) == ids` for every id below
//! [`VOCAB_SIZE`]: a benchmark client that shapes random prompts through the server's endpoints
//! gets exactly the lengths it asked for.

/// Token ids are below this (GPT-2's vocabulary size, a common default).
pub const VOCAB_SIZE: u32 = 50_257;

/// The context length reported by `/tokenize`.
pub const MAX_MODEL_LEN: usize = 1 << 20;

/// The token id of one word.
fn word_id(word: &str) -> u32 {
    if let Some(k) = word.strip_prefix('t').and_then(|d| d.parse::<u32>().ok())
        && k < VOCAB_SIZE
        && !word[1..].starts_with('+')
    {
        return k;
    }
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in word.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (h % u64::from(VOCAB_SIZE)) as u32
}

/// The token ids of `text`.
pub fn encode(text: &str) -> Vec<u32> {
    text.split_whitespace().map(word_id).collect()
}

/// How many tokens `text` has (without building the list).
pub fn count(text: &str) -> usize {
    text.split_whitespace().count()
}

/// The text of `ids` (ids at or above [`VOCAB_SIZE`] are written as they are and tokenize back
/// to a hash).
pub fn decode(ids: &[u32]) -> String {
    let mut out = String::with_capacity(ids.len() * 6);
    for (i, id) in ids.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push('t');
        out.push_str(&id.to_string());
    }
    out
}

/// The text of each token of `text` (for `return_token_strs`).
pub fn token_strs(text: &str) -> Vec<String> {
    text.split_whitespace().map(str::to_owned).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_ids_and_counts_words() {
        let ids = [0, 1, 42, 50_256, 7, 7];
        assert_eq!(encode(&decode(&ids)), ids);
        assert_eq!(count("  a b\tc\n"), 3);
        assert_eq!(encode("hello world").len(), 2);
        assert_eq!(encode("hello"), encode("hello"));
        assert!(encode("t99999 x t+5").iter().all(|&id| id < VOCAB_SIZE));
        assert_ne!(encode("t+5"), vec![5]);
    }
}
