//! The CUDA backend: one context and stream per device, kernels compiled by NVRTC on first use.
//!
//! Everything here compiles without a GPU or a CUDA toolkit (cudarc loads `libcuda` and
//! `libnvrtc` at run time). [`CudaBackend::new`] checks that both libraries can be loaded before
//! touching them, because cudarc panics on a missing library; absence becomes
//! [`KernelError::CudaUnavailable`].
#![allow(unsafe_code)]

mod module_cache;

use std::sync::Arc;

use cudarc::driver::{CudaContext, CudaFunction, CudaSlice, CudaStream};

use module_cache::ModuleCache;
pub use module_cache::{KernelSource, SOURCES, compile_ptx};

use crate::device::{Backend, Elem};
use crate::{KernelError, Result};

/// A CUDA device: context, default stream and the per-device module cache.
pub struct CudaBackend {
    ctx: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    modules: ModuleCache,
    arch: &'static str,
    device_name: String,
}

impl std::fmt::Debug for CudaBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CudaBackend")
            .field("device", &self.device_name)
            .field("arch", &self.arch)
            .finish()
    }
}

pub(crate) fn driver_err(
    context: &'static str,
) -> impl FnOnce(cudarc::driver::DriverError) -> KernelError {
    move |e| KernelError::Cuda {
        context,
        message: e.to_string(),
    }
}

/// Whether the CUDA driver library (`libcuda`) can be loaded on this machine.
pub fn driver_present() -> bool {
    // SAFETY: only tries to dlopen the library by its candidate names; no symbol is called.
    unsafe { cudarc::driver::sys::is_culib_present() }
}

/// Whether the NVRTC library (`libnvrtc`) can be loaded on this machine.
pub fn nvrtc_present() -> bool {
    // SAFETY: only tries to dlopen the library by its candidate names; no symbol is called.
    unsafe { cudarc::nvrtc::sys::is_culib_present() }
}

impl CudaBackend {
    /// Opens device `ordinal`. Errors (never panics) when the driver, NVRTC or the device is missing.
    pub fn new(ordinal: usize) -> Result<Self> {
        if !driver_present() {
            return Err(KernelError::CudaUnavailable {
                reason: "the NVIDIA driver library libcuda.so could not be loaded".into(),
            });
        }
        if !nvrtc_present() {
            return Err(KernelError::CudaUnavailable {
                reason: "libnvrtc could not be loaded (install CUDA's NVRTC, e.g. PyPI \
                         `nvidia-cuda-nvrtc`, and put its lib folder on LD_LIBRARY_PATH)"
                    .into(),
            });
        }
        let count = CudaContext::device_count().map_err(|e| KernelError::CudaUnavailable {
            reason: format!("cuInit/cuDeviceGetCount failed: {e}"),
        })?;
        if ordinal >= count.max(0) as usize {
            return Err(KernelError::CudaUnavailable {
                reason: format!("device {ordinal} requested but {count} CUDA device(s) found"),
            });
        }
        let ctx = CudaContext::new(ordinal).map_err(driver_err("creating the context"))?;
        let (major, minor) = ctx
            .compute_capability()
            .map_err(driver_err("reading the compute capability"))?;
        let device_name = ctx.name().map_err(driver_err("reading the device name"))?;
        let stream = ctx.default_stream();
        Ok(Self {
            ctx,
            stream,
            modules: ModuleCache::default(),
            // NVRTC takes a `&'static str`; one short string per opened device.
            arch: Box::leak(format!("compute_{major}{minor}").into_boxed_str()),
            device_name,
        })
    }

    /// The device's marketing name, e.g. `NVIDIA H100 80GB HBM3`.
    pub fn device_name(&self) -> &str {
        &self.device_name
    }

    /// The stream every op is queued on.
    pub fn stream(&self) -> &Arc<CudaStream> {
        &self.stream
    }

    /// A kernel function from one of the embedded sources, compiling the source on first use.
    pub(crate) fn function(
        &self,
        source: &'static KernelSource,
        name: &str,
    ) -> Result<CudaFunction> {
        let module = self.modules.get_or_compile(&self.ctx, source, self.arch)?;
        module
            .load_function(name)
            .map_err(driver_err("loading a kernel function"))
    }

    /// Copies `src` into the beginning of `dst` (device to device), e.g. for bandwidth references.
    pub fn copy(&self, src: &CudaSlice<f32>, dst: &mut CudaSlice<f32>) -> Result<()> {
        self.stream
            .memcpy_dtod(src, dst)
            .map_err(driver_err("device-to-device copy"))
    }
}

impl Backend for CudaBackend {
    type Buf<T: Elem> = CudaSlice<T>;

    fn name(&self) -> &'static str {
        "cuda"
    }
    fn alloc_zeros<T: Elem>(&self, n: usize) -> Result<CudaSlice<T>> {
        self.stream
            .alloc_zeros::<T>(n.max(1))
            .map_err(driver_err("allocating device memory"))
    }
    fn upload<T: Elem>(&self, data: &[T]) -> Result<CudaSlice<T>> {
        if data.is_empty() {
            return self.alloc_zeros(1);
        }
        self.stream
            .clone_htod(data)
            .map_err(driver_err("copying host to device"))
    }
    fn download<T: Elem>(&self, buf: &CudaSlice<T>) -> Result<Vec<T>> {
        self.stream
            .clone_dtoh(buf)
            .map_err(driver_err("copying device to host"))
    }
    fn buf_len<T: Elem>(&self, buf: &CudaSlice<T>) -> usize {
        buf.len()
    }
    fn synchronize(&self) -> Result<()> {
        self.stream
            .synchronize()
            .map_err(driver_err("synchronizing the stream"))
    }
}

/// Grid size for `n` items handled `per_block` at a time.
pub(crate) fn blocks_for(n: usize, per_block: usize) -> u32 {
    n.div_ceil(per_block).max(1) as u32
}
