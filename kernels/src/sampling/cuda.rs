//! CUDA sampling.
use crate::cuda::KernelSource;
/// The embedded kernel source.
pub static SOURCE: KernelSource = KernelSource {
    name: "sampling.cu",
    code: include_str!("sampling.cu"),
};
