//! Logits mask: apply a packed allow-bitmask to logits in place (structured output).
//!
//! # Layout
//! - `logits`: `f32`, row-major `[num_rows, vocab_size]`.
//! - `mask`: `u32` words, row-major `[num_mask_rows, ceil(vocab_size / 32)]`. Bit `i` (LSB = 0) of
//!   word `w` set means token `32 * w + i` is **allowed**. This is exactly llguidance's
//!   `toktrie::SimpleVob` layout (`SimpleVob::as_slice()`), so masks pass through unconverted; an
//!   all-ones word (`u32::MAX`, `-1` as `i32`) allows 32 tokens. Bits past `vocab_size` in the last
//!   word are ignored.
//! - `rows`: `None` applies mask row `i` to logits row `i` (`num_mask_rows == num_rows`);
//!   `Some(rows)` applies mask row `i` to logits row `rows[i]` and leaves every other row untouched.
//!
//! Disallowed logits become `-inf`; allowed ones are not modified (not even read on the fast paths).
//!
//! # Errors
//! Shapes and `rows` are checked by [`LogitsMaskArgs::validate`]. A mask row that allows no token
//! at all is an error ([`KernelError::NothingAllowed`]) on the CPU backends, reported before any
//! logit is written; the CUDA backend cannot see it without a device round trip, so there the row
//! becomes all `-inf` and the sampler reports the same error.

mod cpu;
#[cfg(feature = "cuda")]
pub(crate) mod cuda;
pub mod reference;

pub use cpu::apply as cpu_apply;

use crate::device::Backend;
use crate::error::{check_indices, check_len};
use crate::{KernelError, Result};

const OP: &str = "logits_mask";

/// Number of `u32` words per mask row for a vocabulary of `vocab_size` tokens.
pub fn words_per_row(vocab_size: usize) -> usize {
    vocab_size.div_ceil(32)
}

/// Shapes and row selection of one logits-mask call (host metadata; the data are backend buffers).
#[derive(Debug, Clone, Copy)]
pub struct LogitsMaskArgs<'a> {
    /// Rows of the logits buffer.
    pub num_rows: usize,
    /// Vocabulary size (length of a logits row).
    pub vocab_size: usize,
    /// Which logits row each mask row applies to; `None` = mask row `i` → logits row `i`.
    pub rows: Option<&'a [u32]>,
}

impl LogitsMaskArgs<'_> {
    /// Number of mask rows the call expects.
    pub fn num_mask_rows(&self) -> usize {
        self.rows.map_or(self.num_rows, <[u32]>::len)
    }

    /// Checks the shapes of the buffers (given as lengths) and the row indices.
    pub fn validate(&self, logits_len: usize, mask_len: usize) -> Result<()> {
        if self.vocab_size == 0 {
            return Err(KernelError::invalid(OP, "vocab_size", "is 0; expected ≥ 1"));
        }
        check_len(
            OP,
            "logits",
            logits_len,
            self.num_rows * self.vocab_size,
            "num_rows × vocab_size",
        )?;
        check_len(
            OP,
            "mask",
            mask_len,
            self.num_mask_rows() * words_per_row(self.vocab_size),
            "num_mask_rows × ceil(vocab_size / 32)",
        )?;
        if let Some(rows) = self.rows {
            check_indices(OP, "rows", rows, self.num_rows)?;
            let mut seen = vec![false; self.num_rows];
            for (i, &r) in rows.iter().enumerate() {
                if std::mem::replace(&mut seen[r as usize], true) {
                    return Err(KernelError::invalid(
                        OP,
                        "rows",
                        format!(
                            "row {r} appears twice (again at position {i}); each logits row takes at most one mask"
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// The logits row that mask row `i` applies to.
    pub(crate) fn target_row(&self, i: usize) -> usize {
        self.rows.map_or(i, |r| r[i] as usize)
    }
}

/// Returns the first mask row that allows no token of the vocabulary, if any.
pub(crate) fn first_empty_row(mask: &[u32], vocab_size: usize) -> Option<usize> {
    let words = words_per_row(vocab_size);
    let tail_bits = vocab_size % 32;
    let last_mask = if tail_bits == 0 {
        u32::MAX
    } else {
        (1u32 << tail_bits) - 1
    };
    mask.chunks_exact(words).position(|row| {
        let (last, body) = row.split_last().expect("words ≥ 1");
        body.iter().all(|&w| w == 0) && last & last_mask == 0
    })
}

/// The logits-mask op, implemented by every backend.
pub trait LogitsMaskOp: Backend {
    /// Sets every disallowed logit to `-inf` in place. See the [module docs](self) for the layout.
    fn apply_logits_mask(
        &self,
        logits: &mut Self::Buf<f32>,
        mask: &Self::Buf<u32>,
        args: &LogitsMaskArgs<'_>,
    ) -> Result<()>;
}
