//! Embedded `.cu` sources and the per-device NVRTC compile-once cache.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use cudarc::driver::{CudaContext, CudaModule};
use cudarc::nvrtc::{CompileOptions, Ptx};

use crate::{KernelError, Result};

/// One embedded CUDA source file.
#[derive(Debug)]
pub struct KernelSource {
    /// File name, used as the cache key and in compile errors.
    pub name: &'static str,
    /// The CUDA C++ text.
    pub code: &'static str,
}

/// Every kernel source of the crate, so CI can compile them all to PTX without a GPU.
pub static SOURCES: &[&KernelSource] = &[
    &crate::logits_mask::cuda::SOURCE,
    &crate::paged_attention::cuda::SOURCE,
    &crate::sampling::cuda::SOURCE,
];

/// Compiles one source to PTX for `arch` (e.g. `compute_90`). Needs only `libnvrtc`, no GPU.
pub fn compile_ptx(source: &KernelSource, arch: &'static str) -> Result<Ptx> {
    if !super::nvrtc_present() {
        return Err(KernelError::CudaUnavailable {
            reason: "libnvrtc could not be loaded".into(),
        });
    }
    let opts = CompileOptions {
        arch: Some(arch),
        options: vec!["--std=c++17".into()],
        name: Some(source.name.into()),
        ..Default::default()
    };
    cudarc::nvrtc::compile_ptx_with_opts(source.code, opts).map_err(|e| KernelError::Compile {
        source_name: source.name,
        log: e.to_string(),
    })
}

/// Loaded modules of one device, keyed by source name.
#[derive(Default)]
pub(super) struct ModuleCache {
    modules: Mutex<HashMap<&'static str, Arc<CudaModule>>>,
}

impl ModuleCache {
    pub(super) fn get_or_compile(
        &self,
        ctx: &Arc<CudaContext>,
        source: &'static KernelSource,
        arch: &'static str,
    ) -> Result<Arc<CudaModule>> {
        let mut map = self.modules.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(m) = map.get(source.name) {
            return Ok(m.clone());
        }
        let ptx = compile_ptx(source, arch)?;
        let module = ctx
            .load_module(ptx)
            .map_err(super::driver_err("loading a PTX module"))?;
        map.insert(source.name, module.clone());
        Ok(module)
    }
}
