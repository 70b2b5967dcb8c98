//! CUDA paged_attention.
use crate::cuda::KernelSource;
/// The embedded kernel source.
pub static SOURCE: KernelSource = KernelSource {
    name: "paged_attention.cu",
    code: include_str!("paged_attention.cu"),
};
