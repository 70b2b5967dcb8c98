//! The CPU backend: buffers are `Vec`s; fast paths are picked once by run-time ISA detection.

use crate::Result;
use crate::device::{Backend, Elem};

/// Instruction-set level the CPU fast paths run at, detected once at construction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Isa {
    /// Plain Rust, auto-vectorised for the baseline target.
    Portable,
    /// AVX2 + FMA (+ F16C).
    Avx2,
    /// AVX-512 F/BW/VL (+ DQ).
    Avx512,
}

impl Isa {
    /// The best level this CPU supports.
    pub fn detect() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            if std::is_x86_feature_detected!("avx512f")
                && std::is_x86_feature_detected!("avx512bw")
                && std::is_x86_feature_detected!("avx512vl")
                && std::is_x86_feature_detected!("avx512dq")
            {
                return Isa::Avx512;
            }
            if std::is_x86_feature_detected!("avx2")
                && std::is_x86_feature_detected!("fma")
                && std::is_x86_feature_detected!("f16c")
            {
                return Isa::Avx2;
            }
        }
        Isa::Portable
    }

    /// Name used in bench IDs and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Isa::Portable => "portable",
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512",
        }
    }
}

/// The CPU backend. Cheap to construct and to clone.
#[derive(Debug, Clone, Copy)]
pub struct CpuBackend {
    isa: Isa,
}

impl Default for CpuBackend {
    fn default() -> Self {
        Self::new()
    }
}

impl CpuBackend {
    /// Uses the best instruction set this CPU has.
    pub fn new() -> Self {
        Self { isa: Isa::detect() }
    }

    /// Forces an instruction-set level (clamped to what the CPU supports), e.g. to test or bench
    /// the portable path on an AVX-512 machine.
    pub fn with_isa(isa: Isa) -> Self {
        Self {
            isa: isa.min(Isa::detect()),
        }
    }

    /// The level the fast paths use.
    pub fn isa(&self) -> Isa {
        self.isa
    }
}

impl Backend for CpuBackend {
    type Buf<T: Elem> = Vec<T>;

    fn name(&self) -> &'static str {
        "cpu"
    }
    fn alloc_zeros<T: Elem>(&self, n: usize) -> Result<Vec<T>> {
        Ok(vec![T::default(); n])
    }
    fn upload<T: Elem>(&self, data: &[T]) -> Result<Vec<T>> {
        Ok(data.to_vec())
    }
    fn download<T: Elem>(&self, buf: &Vec<T>) -> Result<Vec<T>> {
        Ok(buf.clone())
    }
    fn buf_len<T: Elem>(&self, buf: &Vec<T>) -> usize {
        buf.len()
    }
    fn synchronize(&self) -> Result<()> {
        Ok(())
    }
}
