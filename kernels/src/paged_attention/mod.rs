//! paged_attention (being written).

#[cfg(feature = "cuda")]
pub(crate) mod cuda;

/// The paged_attention op.
pub trait PagedAttentionOp: crate::Backend {}
