//! CUDA logits mask (`logits_mask.cu`).
#![allow(unsafe_code)]

use cudarc::driver::{CudaSlice, LaunchConfig, PushKernelArg};

use super::{LogitsMaskArgs, LogitsMaskOp, words_per_row};
use crate::Result;
use crate::cuda::{CudaBackend, KernelSource, blocks_for, driver_err};

/// The embedded kernel source.
pub static SOURCE: KernelSource = KernelSource {
    name: "logits_mask.cu",
    code: include_str!("logits_mask.cu"),
};

const THREADS: usize = 256;

impl LogitsMaskOp for CudaBackend {
    fn apply_logits_mask(
        &self,
        logits: &mut CudaSlice<f32>,
        mask: &CudaSlice<u32>,
        args: &LogitsMaskArgs<'_>,
    ) -> Result<()> {
        args.validate(logits.len(), mask.len())?;
        let words = words_per_row(args.vocab_size);
        let mask_rows = args.num_mask_rows();
        if mask_rows == 0 {
            return Ok(());
        }
        let func = self.function(&SOURCE, "apply_logits_mask_f32")?;
        let rows_dev = args
            .rows
            .map(|r| self.stream().clone_htod(r))
            .transpose()
            .map_err(driver_err("uploading rows"))?;
        let cfg = LaunchConfig {
            grid_dim: (blocks_for(words, THREADS), mask_rows as u32, 1),
            block_dim: (THREADS as u32, 1, 1),
            shared_mem_bytes: 0,
        };
        let vocab = args.vocab_size as i32;
        let words = words as i32;
        let null: u64 = 0;
        let mut launch = self.stream().launch_builder(&func);
        launch.arg(logits).arg(mask);
        match &rows_dev {
            Some(r) => launch.arg(r),
            None => launch.arg(&null),
        };
        launch.arg(&vocab).arg(&words);
        // SAFETY: argument types match the kernel signature (float*, const uint*, const uint* or
        // null, int, int); validate() checked logits = rows × vocab and mask = mask_rows × words,
        // and every entry of `rows` < num_rows, so all accesses stay in bounds.
        unsafe { launch.launch(cfg) }.map_err(driver_err("launching apply_logits_mask_f32"))?;
        Ok(())
    }
}
