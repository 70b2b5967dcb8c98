//! CUDA logits mask equals the reference (exactly). Run by `ci/gpu-check.sh` on a lent GPU:
//! these tests fail, never skip, when no CUDA device is usable.

#![cfg(feature = "cuda")]

use dyno_kernels::cuda::CudaBackend;
use dyno_kernels::logits_mask::{LogitsMaskArgs, reference, words_per_row};
use dyno_kernels::testing::cases;
use dyno_kernels::{Backend, LogitsMaskOp};
use proptest::prelude::*;

fn device() -> CudaBackend {
    CudaBackend::new(0).unwrap_or_else(|e| panic!("CUDA parity test needs a device: {e}"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(64)))]
    #[test]
    #[ignore = "needs CUDA: run ci/gpu-check.sh"]
    fn cuda_matches_reference(
        rows in 1usize..5,
        vocab in 1usize..2000,
        seed in any::<u64>(),
        subset in any::<bool>(),
    ) {
        let cuda = device();
        let words = words_per_row(vocab);
        let mut state = seed | 1;
        let mut next = || { state ^= state << 13; state ^= state >> 7; state ^= state << 17; state };
        let logits: Vec<f32> = (0..rows * vocab).map(|_| (next() % 1000) as f32 / 10.0 - 50.0).collect();
        let sel: Option<Vec<u32>> = subset.then(|| (0..rows as u32).rev().step_by(2).collect());
        let mask_rows = sel.as_ref().map_or(rows, Vec::len);
        let mut mask: Vec<u32> = (0..mask_rows * words).map(|_| next() as u32).collect();
        for r in mask.chunks_mut(words) { r[0] |= 1; }
        let args = LogitsMaskArgs { num_rows: rows, vocab_size: vocab, rows: sel.as_deref() };
        let mut expected = logits.clone();
        reference::apply_logits_mask(&mut expected, &mask, &args).unwrap();
        let mut d_logits = cuda.upload(&logits).unwrap();
        let d_mask = cuda.upload(&mask).unwrap();
        cuda.apply_logits_mask(&mut d_logits, &d_mask, &args).unwrap();
        let got = cuda.download(&d_logits).unwrap();
        prop_assert_eq!(
            got.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            expected.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        );
    }
}
