//! Newtypes for the KV cache's identifiers (house rule 6): a block index, a token id and a block hash
//! never travel as a bare integer, so a block id cannot be passed where a token id is expected.

use std::fmt;

/// Index of one KV cache block in the preallocated pool (`0..num_blocks`).
///
/// A block holds the keys and values of `block_size` consecutive token positions of one sequence
/// for every layer. Ids are dense, so tables indexed by `BlockId` are plain vectors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BlockId(pub u32);

impl BlockId {
    /// The id as a vector index.
    #[inline]
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Display for BlockId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "block {}", self.0)
    }
}

/// A token id from the model's vocabulary.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TokenId(pub u32);

impl fmt::Display for TokenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "token {}", self.0)
    }
}

/// Content hash of one *full* block, chained through its parent: `H(parent, tokens, extra keys)`.
///
/// 128 bits, so an accidental collision between two cached blocks is out of reach even for
/// billions of cached blocks (see [`crate::kv_cache::hash`] for the function and the reasoning).
/// Equal hashes mean "same tokens at the same positions after the same prefix", which is what lets
/// a block computed for one request be reused by another.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BlockHash(pub u128);

impl fmt::Display for BlockHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

/// Number of blocks needed to hold `num_tokens` token positions (rounded up to whole blocks).
#[inline]
pub fn blocks_for_tokens(num_tokens: usize, block_size: usize) -> usize {
    num_tokens.div_ceil(block_size)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_for_tokens_rounds_up() {
        assert_eq!(blocks_for_tokens(0, 16), 0);
        assert_eq!(blocks_for_tokens(1, 16), 1);
        assert_eq!(blocks_for_tokens(16, 16), 1);
        assert_eq!(blocks_for_tokens(17, 16), 2);
    }

    #[test]
    fn display_names_the_kind() {
        assert_eq!(BlockId(3).to_string(), "block 3");
        assert_eq!(TokenId(7).to_string(), "token 7");
        assert_eq!(BlockHash(1).to_string().len(), 32);
    }
}
