//! Every embedded CUDA source compiles to PTX for sm_90 (H100) with NVRTC. Needs only libnvrtc,
//! no GPU: `ci/test.sh` installs PyPI's `nvidia-cuda-nvrtc` and runs this with `--ignored`.

#![cfg(feature = "cuda")]

use dyno_kernels::cuda::{SOURCES, compile_ptx, nvrtc_present};

#[test]
#[ignore = "needs libnvrtc on LD_LIBRARY_PATH: run by ci/test.sh"]
fn every_kernel_source_compiles_for_sm90() {
    assert!(
        nvrtc_present(),
        "libnvrtc not found: install nvidia-cuda-nvrtc and put its lib folder on LD_LIBRARY_PATH"
    );
    let mut failures = Vec::new();
    for source in SOURCES {
        match compile_ptx(source, "compute_90") {
            Ok(ptx) => {
                let text = ptx.to_src();
                assert!(
                    text.contains(".target sm_90"),
                    "{}: unexpected PTX target",
                    source.name
                );
                println!("{}: {} bytes of PTX", source.name, text.len());
            }
            Err(e) => failures.push(e.to_string()),
        }
    }
    assert!(
        failures.is_empty(),
        "kernel sources failed to compile:\n{}",
        failures.join("\n")
    );
}

#[test]
fn asking_for_cuda_without_a_device_is_an_error_not_a_panic() {
    if dyno_kernels::cuda::driver_present() {
        return; // a machine with a driver is tested by ci/gpu-check.sh instead
    }
    let err = dyno_kernels::Device::cuda(0).unwrap_err();
    assert!(
        matches!(err, dyno_kernels::KernelError::CudaUnavailable { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("libcuda"), "{err}");
}
