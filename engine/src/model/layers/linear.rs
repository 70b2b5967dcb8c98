//! [`Linear`]: `y = x · Wᵀ (+ b)` with `W` stored as f32 or bf16 ([`WeightDtype`]).
//!
//! The weight is packed once into k-major column panels ([`crate::model::gemm`]) and every batch
//! size runs the same AVX-512 register-tile kernel: at one row it streams the panels like a GEMV
//! (the weights are read once per step, so bf16 halves the time of a memory-bound decode); from
//! a few rows up it is bound by the arithmetic ports instead, 1.7–1.9× faster than candle's
//! matmul in f32 (candle's `gemm` uses 256-bit kernels on stable Rust), and twice that again in
//! bf16 on CPUs with AVX512-BF16 dot products. One layout, one copy of the weight.

use super::for_rows;
use crate::error::{EngineError, Result};
use crate::model::dtype::WeightDtype;
use crate::model::gemm::{PackedWeight, matmul_packed};

/// A dense layer with a packed weight `[out_dim, in_dim]` and an optional f32 bias.
#[derive(Clone, Debug)]
pub struct Linear {
    weight: PackedWeight,
    dtype: WeightDtype,
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
        Ok(Self {
            weight: PackedWeight::pack(&weight, out_dim, in_dim, dtype),
            dtype,
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
        self.dtype
    }

    /// Bytes of the weight (what one small-batch forward streams).
    pub fn weight_bytes(&self) -> usize {
        self.out_dim * self.in_dim * self.dtype.size()
    }

    /// `x` is `[m, in_dim]`; `out` becomes `[m, out_dim]`.
    ///
    /// # Errors
    /// [`EngineError::Forward`] on a shape mismatch.
    pub fn forward(&self, x: &[f32], out: &mut Vec<f32>) -> Result<()> {
        let m = x.len() / self.in_dim;
        if m * self.in_dim != x.len() {
            return Err(EngineError::Forward(format!(
                "linear input of {} values is not a multiple of in_dim {}",
                x.len(),
                self.in_dim
            )));
        }
        let n = self.out_dim;
        // The matmul writes every element: only growth needs filling.
        out.resize(m * n, 0.0);
        matmul_packed(x, m, &self.weight, out);
        if let Some(b) = &self.bias {
            for_rows(out, n, |row| {
                row.iter_mut().zip(b).for_each(|(v, b)| *v += b)
            });
        }
        Ok(())
    }
}
