//! [`Linear`]: `y = x · Wᵀ (+ b)` with `W` stored as f32 or bf16 ([`WeightDtype`]).
//!
//! Up to [`SMALL_BATCH_ROWS`] rows (f32 weights) or [`SMALL_BATCH_ROWS_BF16`] rows (bf16) use
//! [`crate::model::gemv`], which streams each weight row once for all rows (decode is
//! memory-bound, so bf16 weights cut its time). Larger batches go through candle-core's f32
//! matmul; a bf16 weight is widened to f32 there in row tiles of about 8 MiB, which measured as
//! fast as the f32 matmul at 512 rows, where candle's own bf16 matmul was 20–40 % slower and
//! rounds activations and outputs to bf16.

use candle_core::{Device, Storage, Tensor};
use half::bf16;
use rayon::prelude::*;

use crate::error::{EngineError, Result};
use crate::model::dtype::WeightDtype;
use crate::model::gemv::{self, WeightElem};

/// Row counts up to this use the weight-streaming GEMV when the weight is f32.
pub const SMALL_BATCH_ROWS: usize = 16;

/// Row counts up to this use the weight-streaming GEMV when the weight is bf16. Higher than for
/// f32 because the large-batch path must first widen the weight: on a 2-core AVX-512 Xeon the
/// GEMV beat widening + candle's matmul by 1.5–3× at 32 and 64 rows (0.5B-model shapes), and
/// they were even at 128.
pub const SMALL_BATCH_ROWS_BF16: usize = 64;

/// Bytes of f32 weight one bf16 tile is widened to on the large-batch path (small enough to be
/// reused by the allocator rather than mapped afresh, large enough for the matmul to parallelise).
const BF16_TILE_BYTES: usize = 8 << 20;

#[derive(Clone, Debug)]
enum Weight {
    /// Held as a candle tensor so the large-batch matmul uses it without a copy.
    F32(Tensor),
    Bf16(Vec<bf16>),
}

/// A weight matrix's row-major values, borrowed.
#[derive(Clone, Copy, Debug)]
pub enum WeightView<'a> {
    /// f32 values.
    F32(&'a [f32]),
    /// bfloat16 values.
    Bf16(&'a [bf16]),
}

/// A dense layer with a weight `[out_dim, in_dim]` and an optional f32 bias.
#[derive(Clone, Debug)]
pub struct Linear {
    weight: Weight,
    bias: Option<Vec<f32>>,
    out_dim: usize,
    in_dim: usize,
}

impl Linear {
    /// From a row-major f32 `[out_dim, in_dim]` weight and an optional `[out_dim]` bias, stored as
    /// f32.
    ///
    /// # Errors
    /// [`EngineError::Forward`] when the lengths do not match the dimensions.
    pub fn new(
        weight: Vec<f32>,
        out_dim: usize,
        in_dim: usize,
        bias: Option<Vec<f32>>,
    ) -> Result<Self> {
        Self::with_dtype(weight, out_dim, in_dim, bias, WeightDtype::F32)
    }

    /// As [`Linear::new`], storing the weight as `dtype` (bf16: rounded to nearest-even once).
    ///
    /// # Errors
    /// [`EngineError::Forward`] when the lengths do not match the dimensions.
    pub fn with_dtype(
        weight: Vec<f32>,
        out_dim: usize,
        in_dim: usize,
        bias: Option<Vec<f32>>,
        dtype: WeightDtype,
    ) -> Result<Self> {
        if bias.as_ref().is_some_and(|b| b.len() != out_dim) {
            return Err(EngineError::Forward(format!(
                "bias length differs from out_dim {out_dim}"
            )));
        }
        if weight.len() != out_dim * in_dim {
            return Err(EngineError::Forward(format!(
                "weight of {} values is not [{out_dim}, {in_dim}]",
                weight.len()
            )));
        }
        let weight = match dtype {
            WeightDtype::F32 => {
                Weight::F32(Tensor::from_vec(weight, (out_dim, in_dim), &Device::Cpu)?)
            }
            WeightDtype::Bf16 => Weight::Bf16(to_bf16(&weight)),
        };
        Ok(Self {
            weight,
            bias,
            out_dim,
            in_dim,
        })
    }

    /// Output features.
    pub fn out_dim(&self) -> usize {
        self.out_dim
    }

    /// Input features.
    pub fn in_dim(&self) -> usize {
        self.in_dim
    }

    /// How the weight is stored.
    pub fn dtype(&self) -> WeightDtype {
        match self.weight {
            Weight::F32(_) => WeightDtype::F32,
            Weight::Bf16(_) => WeightDtype::Bf16,
        }
    }

    /// Bytes of the weight (what one small-batch forward streams).
    pub fn weight_bytes(&self) -> usize {
        self.out_dim * self.in_dim * self.dtype().size()
    }

    /// `x` is `[m, in_dim]`; `out` becomes `[m, out_dim]`.
    ///
    /// # Errors
    /// [`EngineError::Forward`] on a shape mismatch or a candle failure.
    pub fn forward(&self, x: &[f32], out: &mut Vec<f32>) -> Result<()> {
        let m = x.len() / self.in_dim;
        if m * self.in_dim != x.len() {
            return Err(EngineError::Forward(format!(
                "linear input of {} values is not a multiple of in_dim {}",
                x.len(),
                self.in_dim
            )));
        }
        let (n, k) = (self.out_dim, self.in_dim);
        let gemv_rows = match self.weight {
            Weight::F32(_) => SMALL_BATCH_ROWS,
            Weight::Bf16(_) => SMALL_BATCH_ROWS_BF16,
        };
        if m <= gemv_rows {
            out.clear();
            out.resize(m * n, 0.0);
            self.with_weight(|w| match w {
                WeightView::F32(w) => gemv::matmul_small(x, m, w, n, k, out),
                WeightView::Bf16(w) => gemv::matmul_small(x, m, w, n, k, out),
            })?;
        } else {
            let xt = Tensor::from_slice(x, (m, k), &Device::Cpu)?;
            match &self.weight {
                Weight::F32(w) => *out = xt.matmul(&w.t()?)?.flatten_all()?.to_vec1::<f32>()?,
                Weight::Bf16(w) => matmul_bf16_tiled(&xt, m, w, n, k, out)?,
            }
        }
        if let Some(b) = &self.bias {
            for row in out.chunks_exact_mut(n) {
                row.iter_mut().zip(b).for_each(|(v, b)| *v += b);
            }
        }
        Ok(())
    }

    /// Runs `f` on the weight's row-major values.
    ///
    /// # Errors
    /// [`EngineError::Forward`] when candle cannot give the f32 storage as a CPU slice.
    pub fn with_weight<R>(&self, f: impl FnOnce(WeightView<'_>) -> R) -> Result<R> {
        let tensor = match &self.weight {
            Weight::Bf16(w) => return Ok(f(WeightView::Bf16(w))),
            Weight::F32(t) => t,
        };
        let (storage, layout) = tensor.storage_and_layout();
        let Storage::Cpu(cpu) = &*storage else {
            return Err(EngineError::Forward(
                "linear weight is not on the CPU".into(),
            ));
        };
        let all = cpu.as_slice::<f32>()?;
        let start = layout.start_offset();
        Ok(f(WeightView::F32(
            &all[start..start + self.out_dim * self.in_dim],
        )))
    }
}

/// Rounds to bf16 (nearest-even), in parallel.
fn to_bf16(w: &[f32]) -> Vec<bf16> {
    let mut out = vec![bf16::ZERO; w.len()];
    out.par_chunks_mut(1 << 16)
        .zip(w.par_chunks(1 << 16))
        .for_each(|(d, s)| {
            d.iter_mut()
                .zip(s)
                .for_each(|(d, &s)| *d = bf16::from_f32(s))
        });
    out
}

/// `out = x · wᵀ` for a bf16 `w`: row tiles widened to f32, multiplied by candle, scattered into
/// the `[m, n]` output.
fn matmul_bf16_tiled(
    xt: &Tensor,
    m: usize,
    w: &[bf16],
    n: usize,
    k: usize,
    out: &mut Vec<f32>,
) -> Result<()> {
    out.clear();
    out.resize(m * n, 0.0);
    let tile_rows = (BF16_TILE_BYTES / (4 * k)).clamp(1, n);
    for j0 in (0..n).step_by(tile_rows) {
        let rows = (n - j0).min(tile_rows);
        let mut wide = vec![0.0f32; rows * k];
        wide.par_chunks_mut(1 << 14)
            .zip(w[j0 * k..(j0 + rows) * k].par_chunks(1 << 14))
            .for_each(|(d, s)| {
                d.iter_mut()
                    .zip(s)
                    .for_each(|(d, &s)| *d = WeightElem::to_f32(s))
            });
        let wt = Tensor::from_vec(wide, (rows, k), &Device::Cpu)?;
        let y = xt.matmul(&wt.t()?)?.flatten_all()?.to_vec1::<f32>()?;
        for (dst, src) in out.chunks_exact_mut(n).zip(y.chunks_exact(rows)) {
            dst[j0..j0 + rows].copy_from_slice(src);
        }
    }
    Ok(())
}
