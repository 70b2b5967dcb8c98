//! Plain reference: test every bit, one token at a time.

use super::{LogitsMaskArgs, first_empty_row, words_per_row};
use crate::{KernelError, Result};

/// Reference logits mask over host slices (validates first).
pub fn apply_logits_mask(
    logits: &mut [f32],
    mask: &[u32],
    args: &LogitsMaskArgs<'_>,
) -> Result<()> {
    args.validate(logits.len(), mask.len())?;
    if let Some(row) = first_empty_row(mask, args.vocab_size) {
        return Err(KernelError::NothingAllowed {
            op: super::OP,
            row: args.target_row(row),
        });
    }
    let words = words_per_row(args.vocab_size);
    for i in 0..args.num_mask_rows() {
        let row = args.target_row(i);
        let out = &mut logits[row * args.vocab_size..(row + 1) * args.vocab_size];
        let bits = &mask[i * words..(i + 1) * words];
        for (token, logit) in out.iter_mut().enumerate() {
            let allowed = (bits[token / 32] >> (token % 32)) & 1 == 1;
            if !allowed {
                *logit = f32::NEG_INFINITY;
            }
        }
    }
    Ok(())
}
