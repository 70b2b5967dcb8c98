//! Logit bias and penalties as a sparse list of per-token edits, built in O(history) with a
//! vocabulary-sized slot map that is reset after every row (so it is allocated once per thread).

use super::{Penalties, RowParams};

/// `Edit::flags`: the token has at least one logit-bias entry.
pub(crate) const HAS_BIAS: u32 = 1;
/// `Edit::flags`: the token occurs in the prompt or the output (repetition penalty applies).
pub(crate) const IN_HISTORY: u32 = 2;

/// What happens to one token's logit.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Edit {
    /// Token id.
    pub token: u32,
    /// Occurrences in the output tokens.
    pub count: u32,
    /// Sum of the bias entries, in list order, starting from 0.
    pub bias: f32,
    /// [`HAS_BIAS`] | [`IN_HISTORY`].
    pub flags: u32,
}

/// The processed logit of one token (module docs of `sampling`, step 2). `-inf` and non-finite
/// logits are returned unchanged.
#[inline]
pub(crate) fn apply(
    x: f32,
    bias: Option<f32>,
    in_history: bool,
    count: u32,
    p: &Penalties<'_>,
) -> f32 {
    if !x.is_finite() {
        return x;
    }
    let mut x = x;
    if let Some(b) = bias {
        x += b;
    }
    if in_history {
        x = if x > 0.0 {
            x / p.repetition
        } else {
            x * p.repetition
        };
    }
    if count > 0 {
        x -= p.frequency * count as f32;
        x -= p.presence;
    }
    x
}

/// Builds the edit lists of rows; keeps its slot map between rows and calls.
#[derive(Debug, Default)]
pub(crate) struct EditBuilder {
    /// `slots[token] = 1 + index into the edit list`, 0 = no edit; all 0 between rows.
    slots: Vec<u32>,
}

impl EditBuilder {
    /// Appends the edits of `row` to `out` (which it clears first). Empty when the row has no
    /// bias and no active penalty.
    pub(crate) fn build(&mut self, row: &RowParams<'_>, vocab: usize, out: &mut Vec<Edit>) {
        out.clear();
        let pen = &row.penalties;
        let repetition = pen.repetition != 1.0;
        let counted = pen.presence != 0.0 || pen.frequency != 0.0;
        if row.logit_bias.is_empty() && !repetition && !counted {
            return;
        }
        if self.slots.len() < vocab {
            self.slots.resize(vocab, 0);
        }
        let slots = &mut self.slots;
        let mut edit = |token: u32, out: &mut Vec<Edit>| -> usize {
            let slot = &mut slots[token as usize];
            if *slot == 0 {
                out.push(Edit {
                    token,
                    ..Edit::default()
                });
                *slot = out.len() as u32;
            }
            *slot as usize - 1
        };
        for &(token, b) in row.logit_bias {
            let i = edit(token, out);
            out[i].bias += b;
            out[i].flags |= HAS_BIAS;
        }
        if repetition {
            for &token in pen.prompt_tokens {
                let i = edit(token, out);
                out[i].flags |= IN_HISTORY;
            }
        }
        if repetition || counted {
            for &token in pen.output_tokens {
                let i = edit(token, out);
                if repetition {
                    out[i].flags |= IN_HISTORY;
                }
                if counted {
                    out[i].count += 1;
                }
            }
        }
        for e in out.iter() {
            self.slots[e.token as usize] = 0;
        }
    }
}

/// Applies `edits` to a copy of the row in `dst`.
pub(crate) fn apply_all(dst: &mut [f32], edits: &[Edit], p: &Penalties<'_>) {
    for e in edits {
        let x = &mut dst[e.token as usize];
        let bias = (e.flags & HAS_BIAS != 0).then_some(e.bias);
        *x = apply(*x, bias, e.flags & IN_HISTORY != 0, e.count, p);
    }
}
