//! sampling (being written).

#[cfg(feature = "cuda")]
pub(crate) mod cuda;

/// The sampling op.
pub trait SamplingOp: crate::Backend {}
