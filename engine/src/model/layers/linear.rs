//! [`Linear`]: `y = x · Wᵀ (+ b)`. Large batches go through candle-core's matmul; up to
//! [`SMALL_BATCH_ROWS`] rows use [`crate::model::gemv`], which streams each weight row once for
//! all rows (decode is memory-bound).

use candle_core::{Device, Storage, Tensor};

use crate::error::{EngineError, Result};
use crate::model::gemv;

/// Row counts up to this use the weight-streaming GEMV.
pub const SMALL_BATCH_ROWS: usize = 16;

/// A dense layer with an f32 weight `[out_dim, in_dim]` held as a candle tensor.
#[derive(Clone, Debug)]
pub struct Linear {
    weight: Tensor,
    bias: Option<Vec<f32>>,
    out_dim: usize,
    in_dim: usize,
}

impl Linear {
    /// From a row-major `[out_dim, in_dim]` weight and an optional `[out_dim]` bias.
    ///
    /// # Errors
    /// [`EngineError::Forward`] when the lengths do not match the dimensions.
    pub fn new(
        weight: Vec<f32>,
        out_dim: usize,
        in_dim: usize,
        bias: Option<Vec<f32>>,
    ) -> Result<Self> {
        if bias.as_ref().is_some_and(|b| b.len() != out_dim) {
            return Err(EngineError::Forward(format!(
                "bias length differs from out_dim {out_dim}"
            )));
        }
        let weight = Tensor::from_vec(weight, (out_dim, in_dim), &Device::Cpu)?;
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
        if m <= SMALL_BATCH_ROWS {
            out.clear();
            out.resize(m * self.out_dim, 0.0);
            self.with_weight(|w| gemv::matmul_small(x, m, w, self.out_dim, self.in_dim, out))?;
        } else {
            let xt = Tensor::from_slice(x, (m, self.in_dim), &Device::Cpu)?;
            let y = xt.matmul(&self.weight.t()?)?;
            *out = y.flatten_all()?.to_vec1::<f32>()?;
        }
        if let Some(b) = &self.bias {
            for row in out.chunks_exact_mut(self.out_dim) {
                row.iter_mut().zip(b).for_each(|(v, b)| *v += b);
            }
        }
        Ok(())
    }

    /// Runs `f` on the weight's row-major values.
    pub fn with_weight<R>(&self, f: impl FnOnce(&[f32]) -> R) -> Result<R> {
        let (storage, layout) = self.weight.storage_and_layout();
        let Storage::Cpu(cpu) = &*storage else {
            return Err(EngineError::Forward(
                "linear weight is not on the CPU".into(),
            ));
        };
        let all = cpu.as_slice::<f32>()?;
        let start = layout.start_offset();
        Ok(f(&all[start..start + self.out_dim * self.in_dim]))
    }
}
