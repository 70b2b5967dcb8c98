//! Element types, the [`Backend`] trait every backend implements, and the run-time [`Device`] choice.

use half::{bf16, f16};

use crate::Result;
use crate::cpu::CpuBackend;
#[cfg(feature = "cuda")]
use crate::cuda::CudaBackend;

/// Storage types a kernel can read: the KV-cache dtypes plus index types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DType {
    /// IEEE binary32.
    F32,
    /// IEEE binary16.
    F16,
    /// bfloat16.
    BF16,
    /// Unsigned 32-bit integers (mask words, token ids).
    U32,
    /// Signed 32-bit integers (block tables, slot mappings).
    I32,
}

impl DType {
    /// Lower-case name as used in bench IDs (`f32`, `bf16`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            DType::F32 => "f32",
            DType::F16 => "f16",
            DType::BF16 => "bf16",
            DType::U32 => "u32",
            DType::I32 => "i32",
        }
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            DType::F16 | DType::BF16 => 2,
            DType::F32 | DType::U32 | DType::I32 => 4,
        }
    }
}

impl std::fmt::Display for DType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(feature = "cuda")]
mod repr {
    /// Bound satisfied by everything cudarc can copy to and from a device.
    pub trait DeviceRepr: cudarc::driver::DeviceRepr + cudarc::driver::ValidAsZeroBits {}
    impl<T: cudarc::driver::DeviceRepr + cudarc::driver::ValidAsZeroBits> DeviceRepr for T {}
}
#[cfg(not(feature = "cuda"))]
mod repr {
    /// Without the `cuda` feature every element type qualifies.
    pub trait DeviceRepr {}
    impl<T> DeviceRepr for T {}
}
pub use repr::DeviceRepr;

/// A plain element type that can live in a backend buffer.
pub trait Elem: Copy + Default + Send + Sync + std::fmt::Debug + DeviceRepr + 'static {
    /// The matching [`DType`].
    const DTYPE: DType;
}

/// A floating-point storage type of the KV cache (f32, f16, bf16). Compute is always f32.
pub trait FloatElem: Elem + PartialEq {
    /// Widen to f32.
    fn to_f32(self) -> f32;
    /// Round from f32 (round-to-nearest-even).
    fn from_f32(v: f32) -> Self;
}

macro_rules! elem {
    ($t:ty, $d:expr) => {
        impl Elem for $t {
            const DTYPE: DType = $d;
        }
    };
}
elem!(f32, DType::F32);
elem!(f16, DType::F16);
elem!(bf16, DType::BF16);
elem!(u32, DType::U32);
elem!(i32, DType::I32);

impl FloatElem for f32 {
    #[inline(always)]
    fn to_f32(self) -> f32 {
        self
    }
    #[inline(always)]
    fn from_f32(v: f32) -> Self {
        v
    }
}
impl FloatElem for f16 {
    #[inline(always)]
    fn to_f32(self) -> f32 {
        f16::to_f32(self)
    }
    #[inline(always)]
    fn from_f32(v: f32) -> Self {
        f16::from_f32(v)
    }
}
impl FloatElem for bf16 {
    #[inline(always)]
    fn to_f32(self) -> f32 {
        bf16::to_f32(self)
    }
    #[inline(always)]
    fn from_f32(v: f32) -> Self {
        bf16::from_f32(v)
    }
}

/// Memory management common to every backend. Ops are separate traits
/// ([`crate::PagedAttentionOp`], [`crate::SamplingOp`], [`crate::LogitsMaskOp`]) so a backend can
/// grow one op at a time.
pub trait Backend: Send + Sync {
    /// A typed buffer owned by this backend (host `Vec` on CPU, device slice on CUDA).
    type Buf<T: Elem>: Send + Sync;

    /// Short name used in bench IDs: `cpu`, `cuda`.
    fn name(&self) -> &'static str;
    /// A zero-filled buffer of `n` elements.
    fn alloc_zeros<T: Elem>(&self, n: usize) -> Result<Self::Buf<T>>;
    /// Copies host data into a new buffer.
    fn upload<T: Elem>(&self, data: &[T]) -> Result<Self::Buf<T>>;
    /// Copies a buffer back to the host.
    fn download<T: Elem>(&self, buf: &Self::Buf<T>) -> Result<Vec<T>>;
    /// Number of elements of a buffer.
    fn buf_len<T: Elem>(&self, buf: &Self::Buf<T>) -> usize;
    /// Waits until all queued work is done (a no-op on CPU).
    fn synchronize(&self) -> Result<()>;
}

/// The backend picked at run time.
#[derive(Debug)]
pub enum Device {
    /// Host CPU (fast paths chosen by CPU feature detection).
    Cpu(CpuBackend),
    /// An NVIDIA GPU through cudarc.
    #[cfg(feature = "cuda")]
    Cuda(CudaBackend),
}

impl Device {
    /// The CPU backend.
    pub fn cpu() -> Self {
        Device::Cpu(CpuBackend::new())
    }

    /// CUDA device `ordinal`, or [`crate::KernelError::CudaUnavailable`] if there is none.
    pub fn cuda(ordinal: usize) -> Result<Self> {
        #[cfg(feature = "cuda")]
        {
            CudaBackend::new(ordinal).map(Device::Cuda)
        }
        #[cfg(not(feature = "cuda"))]
        {
            let _ = ordinal;
            Err(crate::KernelError::CudaUnavailable {
                reason: "dyno-kernels was built without the `cuda` feature".into(),
            })
        }
    }

    /// Short backend name.
    pub fn name(&self) -> &'static str {
        match self {
            Device::Cpu(b) => b.name(),
            #[cfg(feature = "cuda")]
            Device::Cuda(b) => b.name(),
        }
    }
}
