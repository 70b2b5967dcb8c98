//! The one error type of the kernels crate.

/// Everything a kernel call can reject or fail on.
///
/// Validation errors name the offending argument and its value, so a caller can fix the input
/// without reading the kernel source.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KernelError {
    /// A shape, length or scalar parameter is inconsistent with the rest of the call.
    #[error("{op}: invalid argument `{arg}`: {reason}")]
    InvalidArgument {
        /// Which op rejected the call (e.g. `paged_attention`).
        op: &'static str,
        /// The argument's name.
        arg: &'static str,
        /// What was wrong, with the value and what was expected.
        reason: String,
    },
    /// An index (block id, slot, token id, row) points outside the buffer it addresses.
    #[error("{op}: `{arg}[{position}]` = {value} is out of range (must be < {bound})")]
    IndexOutOfRange {
        /// Which op rejected the call.
        op: &'static str,
        /// The index array's name.
        arg: &'static str,
        /// Position of the bad entry inside that array.
        position: usize,
        /// The bad value.
        value: i64,
        /// The exclusive upper bound it had to respect.
        bound: usize,
    },
    /// A logits row contains NaN: sampling from it is undefined.
    #[error("sampling: row {row} has a NaN logit at token {token}; check the model output")]
    NanLogits {
        /// Row of the batch.
        row: usize,
        /// First token id whose logit is NaN.
        token: usize,
    },
    /// Every token of a row is disallowed (by the logits mask or by -inf logits).
    #[error(
        "{op}: row {row} allows no token (its mask or logits exclude the whole vocabulary); \
         the grammar is finished or the mask is wrong"
    )]
    NothingAllowed {
        /// Which op found it.
        op: &'static str,
        /// Row of the batch.
        row: usize,
    },
    /// A CUDA device was asked for but cannot be used here.
    #[error(
        "CUDA is unavailable: {reason}; use the CPU backend or run on a machine with an NVIDIA driver"
    )]
    CudaUnavailable {
        /// Why (no driver library, no device, build without the `cuda` feature, ...).
        reason: String,
    },
    /// A CUDA driver call failed.
    #[error("CUDA driver error in {context}: {message}")]
    Cuda {
        /// What we were doing.
        context: &'static str,
        /// The driver's message.
        message: String,
    },
    /// NVRTC could not compile one of the embedded kernel sources.
    #[error("NVRTC failed to compile `{source_name}`: {log}")]
    Compile {
        /// Name of the embedded `.cu` source.
        source_name: &'static str,
        /// The compiler log.
        log: String,
    },
}

/// Result alias of this crate.
pub type Result<T, E = KernelError> = std::result::Result<T, E>;

impl KernelError {
    /// Shorthand for [`KernelError::InvalidArgument`].
    pub fn invalid(op: &'static str, arg: &'static str, reason: impl Into<String>) -> Self {
        Self::InvalidArgument {
            op,
            arg,
            reason: reason.into(),
        }
    }
}

/// Checks that every entry of `values` lies in `0..bound`, naming the first one that does not.
pub(crate) fn check_indices<I>(
    op: &'static str,
    arg: &'static str,
    values: &[I],
    bound: usize,
) -> Result<()>
where
    I: Copy + Into<i64>,
{
    for (position, &v) in values.iter().enumerate() {
        let value: i64 = v.into();
        if value < 0 || value as u64 >= bound as u64 {
            return Err(KernelError::IndexOutOfRange {
                op,
                arg,
                position,
                value,
                bound,
            });
        }
    }
    Ok(())
}

/// Checks `actual == expected` for a buffer length, naming the argument otherwise.
pub(crate) fn check_len(
    op: &'static str,
    arg: &'static str,
    actual: usize,
    expected: usize,
    layout: &str,
) -> Result<()> {
    if actual != expected {
        return Err(KernelError::invalid(
            op,
            arg,
            format!("has {actual} elements, expected {expected} ({layout})"),
        ));
    }
    Ok(())
}
