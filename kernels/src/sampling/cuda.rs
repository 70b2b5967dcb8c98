//! CUDA sampling (`sampling.cu`): one CTA of 512 threads per row. The host resolves every row
//! once ([`RowPlan`], the same as the CPU), builds the sparse bias/penalty edits with the CPU's
//! builder, uploads both as u32 words, launches one kernel for the batch and maps each row's
//! status word back to a result or to the error the CPU would report.
#![allow(unsafe_code)]

use cudarc::driver::{CudaSlice, LaunchConfig, PushKernelArg};

use super::edits::EditBuilder;
use super::{
    Logprobs, OP, RowPlan, SampledToken, SamplingArgs, SamplingOp, TopLogprob, bad_logit_at,
};
use crate::cuda::{CudaBackend, KernelSource, driver_err};
use crate::{KernelError, Result};

/// The embedded kernel source.
pub static SOURCE: KernelSource = KernelSource {
    name: "sampling.cu",
    code: include_str!("sampling.cu"),
};

/// Threads per CTA (`THREADS` in the kernel).
const THREADS: u32 = 512;
/// u32 words per row plan (`PLAN_WORDS`), see the `P_*` indices in the kernel.
const PLAN_WORDS: usize = 12;
/// i32 words per row result (`OUT_WORDS`): token, status, error token, raw and processed
/// logit bits of the error token, sampled logprob bits.
const OUT_WORDS: usize = 6;
const NONE: u32 = u32::MAX;
const S_OK: i32 = 0;
const S_NAN: i32 = 1;
const S_BAD: i32 = 2;

/// Host-side inputs of one launch.
struct Launch {
    plans: Vec<u32>,
    edits: Vec<u32>,
    penalties: Vec<f32>,
    scratch_rows: usize,
    max_top: usize,
}

fn plan_batch(args: &SamplingArgs<'_>) -> Launch {
    let v = args.vocab_size;
    let mut builder = EditBuilder::default();
    let mut row_edits = Vec::new();
    let mut l = Launch {
        plans: Vec::with_capacity(args.num_rows * PLAN_WORDS),
        edits: Vec::new(),
        penalties: Vec::with_capacity(args.num_rows * 3),
        scratch_rows: 0,
        max_top: 0,
    };
    for row in args.rows {
        builder.build(row, v, &mut row_edits);
        let mut w = [0u32; PLAN_WORDS];
        if let RowPlan::Random(p) = RowPlan::new(&row.mode, v) {
            w[0] = 1;
            w[1] = p.scale.to_bits();
            w[2] = p.top_k.unwrap_or(0);
            w[3] = p.top_p.map_or(0, f32::to_bits);
            w[4] = p.min_t.to_bits();
            w[5] = p.draw as u32;
            w[6] = (p.draw >> 32) as u32;
        }
        w[7] = (l.edits.len() / 4) as u32;
        w[8] = row_edits.len() as u32;
        w[9] = if row_edits.is_empty() {
            NONE
        } else {
            l.scratch_rows += 1;
            (l.scratch_rows - 1) as u32
        };
        w[10] = row.logprobs.unwrap_or(NONE);
        l.plans.extend(w);
        for e in &row_edits {
            l.edits
                .extend([e.token, e.count, e.bias.to_bits(), e.flags]);
        }
        let pen = &row.penalties;
        l.penalties
            .extend([pen.repetition, pen.presence, pen.frequency]);
        l.max_top = l.max_top.max(row.logprobs.unwrap_or(0) as usize);
    }
    l
}

impl SamplingOp for CudaBackend {
    fn sample(
        &self,
        logits: &CudaSlice<f32>,
        args: &SamplingArgs<'_>,
    ) -> Result<Vec<SampledToken>> {
        args.validate(logits.len())?;
        let rows = args.num_rows;
        if rows == 0 {
            return Ok(Vec::new());
        }
        let v = args.vocab_size;
        let l = plan_batch(args);
        let stream = self.stream();
        let plans = stream
            .clone_htod(&l.plans)
            .map_err(driver_err("uploading plans"))?;
        let edits = if l.edits.is_empty() {
            stream.alloc_zeros::<u32>(4)
        } else {
            stream.clone_htod(&l.edits)
        }
        .map_err(driver_err("uploading edits"))?;
        let penalties = stream
            .clone_htod(&l.penalties)
            .map_err(driver_err("uploading penalties"))?;
        let mut scratch = stream
            .alloc_zeros::<f32>((l.scratch_rows * v).max(1))
            .map_err(driver_err("allocating scratch rows"))?;
        let mut out = stream
            .alloc_zeros::<i32>(rows * OUT_WORDS)
            .map_err(driver_err("allocating results"))?;
        let mut top = stream
            .alloc_zeros::<i32>((rows * l.max_top * 2).max(1))
            .map_err(driver_err("allocating top logprobs"))?;
        let func = self.function(&SOURCE, "sample_rows")?;
        let cfg = LaunchConfig {
            grid_dim: (rows as u32, 1, 1),
            block_dim: (THREADS, 1, 1),
            shared_mem_bytes: 0,
        };
        let (vocab, max_top) = (v as i32, l.max_top as i32);
        let mut launch = stream.launch_builder(&func);
        launch
            .arg(logits)
            .arg(&plans)
            .arg(&edits)
            .arg(&mut scratch)
            .arg(&penalties)
            .arg(&vocab)
            .arg(&mut out)
            .arg(&mut top)
            .arg(&max_top);
        // SAFETY: the argument types match `sample_rows` (const float*, const uint*, const uint*,
        // float*, const float*, int, int*, int*, int). validate() checked logits = rows × vocab
        // and every token id < vocab; plans hold PLAN_WORDS words per row whose edit ranges and
        // scratch-row indices were built here against `edits` (4 words per edit) and `scratch`
        // (scratch_rows × vocab); `out` has OUT_WORDS per row and `top` max_top × 2 per row, and
        // no row asks for more than max_top (≤ MAX_TOP_LOGPROBS = the kernel's MAX_TOP).
        unsafe { launch.launch(cfg) }.map_err(driver_err("launching sample_rows"))?;
        let out = stream
            .clone_dtoh(&out)
            .map_err(driver_err("copying results"))?;
        let top = stream
            .clone_dtoh(&top)
            .map_err(driver_err("copying top logprobs"))?;
        (0..rows)
            .map(|r| row_result(r, &out[r * OUT_WORDS..], &top, l.max_top, args))
            .collect()
    }
}

/// One row's result from its output words.
fn row_result(
    r: usize,
    o: &[i32],
    top: &[i32],
    max_top: usize,
    args: &SamplingArgs<'_>,
) -> Result<SampledToken> {
    let f = |w: i32| f32::from_bits(w as u32);
    match o[1] {
        S_OK => {}
        S_NAN => {
            return Err(KernelError::NanLogits {
                row: r,
                token: o[2] as usize,
            });
        }
        S_BAD => return Err(bad_logit_at(r, o[2] as usize, f(o[3]), f(o[4]))),
        _ => return Err(KernelError::NothingAllowed { op: OP, row: r }),
    }
    let logprobs = args.rows[r].logprobs.map(|n| {
        let t = &top[r * max_top * 2..];
        Logprobs {
            sampled: f(o[5]),
            top: (0..n as usize)
                .map(|j| TopLogprob {
                    token: t[2 * j] as u32,
                    logprob: f(t[2 * j + 1]),
                })
                .collect(),
        }
    });
    Ok(SampledToken {
        token: o[0] as u32,
        logprobs,
    })
}
