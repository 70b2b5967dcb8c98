//! Fast CPU logits mask: skips all-allowed words without touching their logits; AVX-512 blends
//! `-inf` into the disallowed lanes of each 16-logit vector with the mask half-word as the blend mask.
#![allow(unsafe_code)]

use rayon::prelude::*;

use super::{LogitsMaskArgs, LogitsMaskOp, first_empty_row, words_per_row};
use crate::cpu::{CpuBackend, Isa};
use crate::{KernelError, Result};

/// Rows per rayon task; one row (e.g. 128k logits) is already ~µs of work.
const ROWS_PER_TASK: usize = 1;
/// Below this many masked rows the call stays on the calling thread.
const PARALLEL_MIN_ROWS: usize = 4;

impl LogitsMaskOp for CpuBackend {
    fn apply_logits_mask(
        &self,
        logits: &mut Vec<f32>,
        mask: &Vec<u32>,
        args: &LogitsMaskArgs<'_>,
    ) -> Result<()> {
        apply(self.isa(), logits, mask, args)
    }
}

/// Fast path over host slices with an explicit ISA (used by the backend and by tests).
pub fn apply(isa: Isa, logits: &mut [f32], mask: &[u32], args: &LogitsMaskArgs<'_>) -> Result<()> {
    args.validate(logits.len(), mask.len())?;
    if let Some(row) = first_empty_row(mask, args.vocab_size) {
        return Err(KernelError::NothingAllowed {
            op: super::OP,
            row: args.target_row(row),
        });
    }
    let vocab = args.vocab_size;
    let words = words_per_row(vocab);
    let row_fn = |out: &mut [f32], bits: &[u32]| apply_row(isa, out, bits);
    match args.rows {
        None if args.num_rows >= PARALLEL_MIN_ROWS => logits
            .par_chunks_mut(vocab * ROWS_PER_TASK)
            .zip(mask.par_chunks(words * ROWS_PER_TASK))
            .for_each(|(l, m)| {
                l.chunks_mut(vocab)
                    .zip(m.chunks(words))
                    .for_each(|(l, m)| row_fn(l, m))
            }),
        None => logits
            .chunks_mut(vocab)
            .zip(mask.chunks(words))
            .for_each(|(l, m)| row_fn(l, m)),
        Some(rows) => {
            // Pair each selected logits row with its mask row; rows are distinct (validated).
            let mut slots: Vec<Option<&[u32]>> = vec![None; args.num_rows];
            for (i, &r) in rows.iter().enumerate() {
                slots[r as usize] = Some(&mask[i * words..(i + 1) * words]);
            }
            let work = logits
                .chunks_mut(vocab)
                .zip(slots)
                .filter_map(|(l, m)| m.map(|m| (l, m)));
            if rows.len() >= PARALLEL_MIN_ROWS {
                work.collect::<Vec<_>>()
                    .into_par_iter()
                    .for_each(|(l, m)| row_fn(l, m));
            } else {
                work.for_each(|(l, m)| row_fn(l, m));
            }
        }
    }
    Ok(())
}

fn apply_row(isa: Isa, out: &mut [f32], bits: &[u32]) {
    #[cfg(target_arch = "x86_64")]
    if isa == Isa::Avx512 {
        // SAFETY: `Isa::Avx512` is only ever constructed after run-time detection of AVX-512F/BW.
        unsafe { apply_row_avx512(out, bits) };
        return;
    }
    let _ = isa;
    apply_row_portable(out, bits);
}

/// Portable path: untouched for all-ones words, bit loop over the cleared bits otherwise.
fn apply_row_portable(out: &mut [f32], bits: &[u32]) {
    for (chunk, &word) in out.chunks_mut(32).zip(bits) {
        if word == u32::MAX {
            continue;
        }
        let mut cleared = !word;
        if chunk.len() < 32 {
            cleared &= (1u32 << chunk.len()) - 1;
        }
        while cleared != 0 {
            let i = cleared.trailing_zeros() as usize;
            chunk[i] = f32::NEG_INFINITY;
            cleared &= cleared - 1;
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn apply_row_avx512(out: &mut [f32], bits: &[u32]) {
    use std::arch::x86_64::*;
    let neg_inf = _mm512_set1_ps(f32::NEG_INFINITY);
    let full_words = out.len() / 32;
    let ptr = out.as_mut_ptr();
    for (w, &word) in bits[..full_words].iter().enumerate() {
        if word == u32::MAX {
            continue;
        }
        let p = ptr.wrapping_add(32 * w);
        if word == 0 {
            // SAFETY: w < out.len() / 32, so both 16-float stores lie inside `out`.
            unsafe {
                _mm512_storeu_ps(p, neg_inf);
                _mm512_storeu_ps(p.add(16), neg_inf);
            }
            continue;
        }
        // Load, blend `-inf` into the disallowed lanes, store the whole vector: on Zen a full
        // store is several times cheaper than a masked store with a sparse mask.
        let keep_lo = word as u16;
        let keep_hi = (word >> 16) as u16;
        // SAFETY: as above, both 16-float loads and stores lie inside `out`.
        unsafe {
            let lo = _mm512_mask_mov_ps(neg_inf, keep_lo, _mm512_loadu_ps(p));
            let hi = _mm512_mask_mov_ps(neg_inf, keep_hi, _mm512_loadu_ps(p.add(16)));
            _mm512_storeu_ps(p, lo);
            _mm512_storeu_ps(p.add(16), hi);
        }
    }
    if full_words < bits.len() {
        apply_row_portable(&mut out[32 * full_words..], &bits[full_words..]);
    }
}
