//! dyno-kernels: the three kernels the dyno engine stands on — paged attention, sampling and
//! structured-output logits masks — each with a plain reference, a fast CPU path and a CUDA path.
//!
//! # Key types
//! - [`Backend`]: buffers of one device ([`CpuBackend`], [`cuda::CudaBackend`]); [`Device`] picks one
//!   at run time. CUDA code is always compiled (cudarc with dynamic loading, NVRTC at run time); a
//!   machine without a GPU gets [`KernelError::CudaUnavailable`] from [`Device::cuda`], never a panic.
//! - One trait per op, implemented by every backend: [`PagedAttentionOp`], [`SamplingOp`],
//!   [`LogitsMaskOp`]. Each op's module owns its args type, whose `validate()` checks shapes and
//!   indices once for all backends, and a `reference` module of obviously correct code that the
//!   fast paths are property-tested against.
//!
//! # Op × backend matrix
//! | op | reference | CPU fast (AVX-512 / AVX2 / portable, chosen at run time) | CUDA (NVRTC) |
//! |---|---|---|---|
//! | [`paged_attention`] (+ `reshape_and_cache`) | yes | yes | yes |
//! | [`sampling`] | yes | yes | yes |
//! | [`logits_mask`] | yes | yes | yes |
//!
//! # Usage
//! ```
//! use dyno_kernels::{Backend, CpuBackend, LogitsMaskOp, logits_mask::LogitsMaskArgs};
//! let cpu = CpuBackend::new();
//! let mut logits = cpu.upload(&[0.5f32, 1.0, 2.0, 3.0])?;
//! let mask = cpu.upload(&[0b0101u32])?; // allow tokens 0 and 2
//! cpu.apply_logits_mask(&mut logits, &mask, &LogitsMaskArgs { num_rows: 1, vocab_size: 4, rows: None })?;
//! assert_eq!(logits[1], f32::NEG_INFINITY);
//! # Ok::<(), dyno_kernels::KernelError>(())
//! ```
//!
//! # Adding an op
//! Copy the layout of [`logits_mask`]: `mod.rs` (args, `validate`, layout docs, the op trait),
//! `reference.rs`, `cpu.rs`, `cuda.rs` + a `.cu` file registered in [`cuda::SOURCES`], a parity
//! property test in `tests/`, and a criterion bench in `benches/kernels/`.

pub mod bandwidth;
pub mod cpu;
#[cfg(feature = "cuda")]
pub mod cuda;
pub mod device;
mod error;
pub mod logits_mask;
pub mod paged_attention;
pub mod sampling;
#[cfg(feature = "testing")]
pub mod testing;

pub use cpu::{CpuBackend, Isa};
pub use device::{Backend, DType, Device, Elem, FloatElem};
pub use error::{KernelError, Result};
pub use logits_mask::LogitsMaskOp;
pub use paged_attention::PagedAttentionOp;
pub use sampling::SamplingOp;
