//! [`BatchInput`]: one engine step flattened for the varlen forward, and its [`Logits`].

use crate::kv_cache::BlockId;

/// The tokens of one step, all sequences flattened (the kernels' varlen layout).
///
/// Sequence `s` owns rows `query_start_loc[s]..query_start_loc[s + 1]` of `tokens`,
/// `positions` and `slot_mapping`; `context_lens[s]` counts its cached tokens including these.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BatchInput {
    /// `[num_tokens]` token ids.
    pub tokens: Vec<u32>,
    /// `[num_tokens]` absolute positions (RoPE).
    pub positions: Vec<u32>,
    /// `[num_seqs + 1]` cumulative token counts, from 0.
    pub query_start_loc: Vec<u32>,
    /// `[num_seqs]` cached tokens per sequence after this step.
    pub context_lens: Vec<u32>,
    /// `[num_seqs × max_blocks_per_seq]` block ids, `-1` padded.
    pub block_tables: Vec<i32>,
    /// Row length of `block_tables`.
    pub max_blocks_per_seq: usize,
    /// `[num_tokens]` KV slot (`block × block_size + offset`) of each token.
    pub slot_mapping: Vec<i64>,
    /// Rows (indices into `tokens`) whose logits are returned, in order.
    pub logits_rows: Vec<u32>,
    block_size: usize,
}

impl BatchInput {
    /// An empty step for a cache of `block_size`-token blocks.
    pub fn new(block_size: usize) -> Self {
        Self {
            query_start_loc: vec![0],
            block_size,
            ..Self::default()
        }
    }

    /// Appends a sequence: `new_tokens` at positions `start_pos..`, its block table `blocks`
    /// (covering at least `start_pos + new_tokens.len()` tokens) and whether its last token's
    /// logits are wanted.
    ///
    /// # Panics
    /// If `blocks` is too short for the tokens.
    pub fn push_seq(
        &mut self,
        new_tokens: &[u32],
        start_pos: usize,
        blocks: &[BlockId],
        emit: bool,
    ) {
        let bs = self.block_size;
        let end = start_pos + new_tokens.len();
        assert!(
            blocks.len() * bs >= end,
            "block table of {} blocks cannot hold {end} tokens",
            blocks.len()
        );
        for (i, &t) in new_tokens.iter().enumerate() {
            let p = start_pos + i;
            self.tokens.push(t);
            self.positions.push(p as u32);
            self.slot_mapping
                .push(i64::from(blocks[p / bs].0) * bs as i64 + (p % bs) as i64);
        }
        if emit && !new_tokens.is_empty() {
            self.logits_rows.push(self.tokens.len() as u32 - 1);
        }
        self.query_start_loc.push(self.tokens.len() as u32);
        self.context_lens.push(end as u32);
        let needed = end.div_ceil(bs);
        if needed > self.max_blocks_per_seq {
            let old = self.max_blocks_per_seq;
            let mut table = Vec::with_capacity(self.context_lens.len() * needed);
            for row in self
                .block_tables
                .chunks(old.max(1))
                .take(self.context_lens.len() - 1)
            {
                table.extend_from_slice(row);
                table.extend(std::iter::repeat_n(-1, needed - old));
            }
            self.block_tables = table;
            self.max_blocks_per_seq = needed;
        }
        let row_start = self.block_tables.len();
        self.block_tables
            .extend(blocks.iter().take(needed).map(|b| b.0 as i32));
        self.block_tables
            .resize(row_start + self.max_blocks_per_seq, -1);
    }

    /// Tokens in the step.
    pub fn num_tokens(&self) -> usize {
        self.tokens.len()
    }

    /// Sequences in the step.
    pub fn num_seqs(&self) -> usize {
        self.context_lens.len()
    }

    /// Tokens per KV block.
    pub fn block_size(&self) -> usize {
        self.block_size
    }
}

/// Logits of the sampled rows: `[num_rows, vocab_size]`, row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct Logits {
    /// The values.
    pub data: Vec<f32>,
    /// Columns per row.
    pub vocab_size: usize,
}

impl Logits {
    /// Number of rows.
    pub fn num_rows(&self) -> usize {
        self.data.len().checked_div(self.vocab_size).unwrap_or(0)
    }

    /// Row `i`.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.vocab_size..(i + 1) * self.vocab_size]
    }

    /// Index of the largest value of row `i` (the first one on ties).
    pub fn argmax(&self, i: usize) -> u32 {
        let mut best = 0;
        for (j, &v) in self.row(i).iter().enumerate() {
            if v > self.row(i)[best] {
                best = j;
            }
        }
        best as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_padded_when_a_longer_seq_arrives() {
        let mut b = BatchInput::new(4);
        b.push_seq(&[1, 2], 0, &[BlockId(5)], true);
        b.push_seq(&[3], 8, &[BlockId(1), BlockId(2), BlockId(7)], true);
        assert_eq!(b.max_blocks_per_seq, 3);
        assert_eq!(b.block_tables, vec![5, -1, -1, 1, 2, 7]);
        assert_eq!(b.slot_mapping, vec![20, 21, 28]);
        assert_eq!(b.context_lens, vec![2, 9]);
        assert_eq!(b.logits_rows, vec![1, 2]);
    }
}
