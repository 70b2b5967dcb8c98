//! CUDA paged attention and `reshape_and_cache` equal the reference. Run by `ci/gpu-check.sh`
//! on a lent GPU: these tests fail, never skip, when no CUDA device is usable.
//!
//! Tolerances as in `parity_paged_attention.rs` (the reference runs on the same rounded KV
//! values): 1e-5 for f32 KV, 1e-2 for f16/bf16 KV; `reshape_and_cache` is exact.

#![cfg(feature = "cuda")]

use dyno_kernels::cuda::CudaBackend;
use dyno_kernels::paged_attention::{PagedAttentionArgs, ReshapeAndCacheArgs, reference};
use dyno_kernels::testing::{assert_close, cases};
use dyno_kernels::{Backend, FloatElem, KernelError, PagedAttentionOp};
use half::{bf16, f16};
use proptest::prelude::*;

const TOL_F32: f32 = 1e-5;
const TOL_HALF: f32 = 1e-2;

fn device() -> CudaBackend {
    CudaBackend::new(0).unwrap_or_else(|e| panic!("CUDA parity test needs a device: {e}"))
}

/// xorshift: the case's seed drives every value and the block layout.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn uniform(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
    }
}

/// One call's owned inputs: shuffled block ids, `q_lens[s] ≤ ctx[s]`.
struct Case {
    heads: usize,
    kv_heads: usize,
    head_size: usize,
    block_size: usize,
    num_blocks: usize,
    qsl: Vec<u32>,
    ctx: Vec<u32>,
    tables: Vec<i32>,
    max_blocks: usize,
    window: Option<usize>,
    scale: f32,
    query: Vec<f32>,
    keys: Vec<f32>,
    values: Vec<f32>,
}

impl Case {
    #[allow(clippy::too_many_arguments)]
    fn new(
        head_size: usize,
        block_size: usize,
        kv_heads: usize,
        group: usize,
        ctx: &[usize],
        q_lens: &[usize],
        window: Option<usize>,
        seed: u64,
    ) -> Self {
        let mut rng = Rng(seed | 1);
        let blocks: Vec<usize> = ctx.iter().map(|c| c.div_ceil(block_size)).collect();
        let max_blocks = blocks.iter().max().copied().unwrap_or(0) + 1;
        let num_blocks = blocks.iter().sum::<usize>() + 3;
        let mut ids: Vec<i32> = (0..num_blocks as i32).collect();
        for i in (1..ids.len()).rev() {
            ids.swap(i, rng.below(i + 1));
        }
        let mut tables = vec![-1; ctx.len() * max_blocks];
        let mut next = ids.into_iter();
        for (s, &nb) in blocks.iter().enumerate() {
            for b in 0..nb {
                tables[s * max_blocks + b] = next.next().unwrap();
            }
        }
        let mut qsl = vec![0u32];
        for &q in q_lens {
            qsl.push(qsl.last().unwrap() + q as u32);
        }
        let heads = kv_heads * group;
        let tokens = *qsl.last().unwrap() as usize;
        let cache = num_blocks * kv_heads * block_size * head_size;
        let mut fill =
            |n: usize, amp: f32| (0..n).map(|_| amp * rng.uniform()).collect::<Vec<f32>>();
        Case {
            heads,
            kv_heads,
            head_size,
            block_size,
            num_blocks,
            qsl,
            ctx: ctx.iter().map(|&c| c as u32).collect(),
            tables,
            max_blocks,
            window,
            scale: 1.0 / (head_size as f32).sqrt(),
            query: fill(tokens * heads * head_size, 2.0),
            keys: fill(cache, 1.0),
            values: fill(cache, 1.0),
        }
    }

    fn args(&self) -> PagedAttentionArgs<'_> {
        PagedAttentionArgs {
            num_heads: self.heads,
            num_kv_heads: self.kv_heads,
            head_size: self.head_size,
            block_size: self.block_size,
            num_blocks: self.num_blocks,
            query_start_loc: &self.qsl,
            context_lens: &self.ctx,
            block_tables: &self.tables,
            max_blocks_per_seq: self.max_blocks,
            scale: self.scale,
            sliding_window: self.window,
        }
    }

    fn check<T: FloatElem>(&self, cuda: &CudaBackend, tol: f32) {
        let k: Vec<T> = self.keys.iter().map(|&x| T::from_f32(x)).collect();
        let v: Vec<T> = self.values.iter().map(|&x| T::from_f32(x)).collect();
        let args = self.args();
        let mut expected = vec![0f32; self.query.len()];
        reference::paged_attention(&mut expected, &self.query, &k, &v, &args).unwrap();
        let q = cuda.upload(&self.query).unwrap();
        let (dk, dv) = (cuda.upload(&k).unwrap(), cuda.upload(&v).unwrap());
        let mut out = cuda.upload(&vec![f32::NAN; self.query.len()]).unwrap();
        cuda.paged_attention(&mut out, &q, &dk, &dv, &args).unwrap();
        let got = cuda.download(&out).unwrap();
        assert_close(
            &got[..self.query.len()],
            &expected,
            tol,
            &format!("cuda {:?}", T::DTYPE),
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(32)))]
    #[test]
    #[ignore = "needs CUDA: run ci/gpu-check.sh"]
    fn cuda_matches_reference(
        head_size in prop::sample::select(vec![8usize, 32, 64, 80, 96, 128, 256, 5, 40, 200]),
        block_size in prop::sample::select(vec![8usize, 16, 32, 64, 128, 1, 3]),
        kv_heads in 1usize..=3,
        group in prop::sample::select(vec![1usize, 2, 4, 7, 8, 16]),
        num_seqs in 1usize..=4,
        extend in any::<bool>(),
        window in prop::option::weighted(0.3, 1usize..100),
        seed in any::<u64>(),
    ) {
        let cuda = device();
        let mut rng = Rng(seed.rotate_left(7) | 1);
        let ctx: Vec<usize> = (0..num_seqs).map(|_| 1 + rng.below(700)).collect();
        let q_lens: Vec<usize> = ctx.iter().map(|&c| if extend { 1 + rng.below(c.min(9)) } else { 1 }).collect();
        let case = Case::new(head_size, block_size, kv_heads, group, &ctx, &q_lens, window, seed);
        case.check::<f32>(&cuda, TOL_F32);
        case.check::<f16>(&cuda, TOL_HALF);
        case.check::<bf16>(&cuda, TOL_HALF);
    }

    #[test]
    #[ignore = "needs CUDA: run ci/gpu-check.sh"]
    fn cuda_reshape_and_cache_matches_reference(
        head_size in prop::sample::select(vec![8usize, 64, 128, 7]),
        block_size in prop::sample::select(vec![8usize, 16, 128]),
        kv_heads in 1usize..=4,
        num_tokens in 1usize..200,
        seed in any::<u64>(),
    ) {
        let cuda = device();
        let mut rng = Rng(seed | 1);
        let num_blocks = num_tokens.div_ceil(block_size) + 2;
        let mut slots: Vec<i64> = (0..(num_blocks * block_size) as i64).collect();
        for i in (1..slots.len()).rev() {
            slots.swap(i, rng.below(i + 1));
        }
        slots.truncate(num_tokens);
        for s in slots.iter_mut() {
            if rng.below(5) == 0 { *s = -1; }
        }
        let n = num_tokens * kv_heads * head_size;
        let key: Vec<f32> = (0..n).map(|_| 100.0 * rng.uniform()).collect();
        let value: Vec<f32> = (0..n).map(|_| 100.0 * rng.uniform()).collect();
        let args = ReshapeAndCacheArgs {
            num_tokens, num_kv_heads: kv_heads, head_size, block_size, num_blocks, slot_mapping: &slots,
        };
        reshape_exact::<f32>(&cuda, &key, &value, &args);
        reshape_exact::<f16>(&cuda, &key, &value, &args);
        reshape_exact::<bf16>(&cuda, &key, &value, &args);
    }
}

fn reshape_exact<T: FloatElem>(
    cuda: &CudaBackend,
    key: &[f32],
    value: &[f32],
    args: &ReshapeAndCacheArgs<'_>,
) {
    let len = args.num_blocks * args.num_kv_heads * args.block_size * args.head_size;
    let init = vec![T::from_f32(0.25); len];
    let (mut ek, mut ev) = (init.clone(), init.clone());
    reference::reshape_and_cache(key, value, &mut ek, &mut ev, args).unwrap();
    let (mut dk, mut dv) = (cuda.upload(&init).unwrap(), cuda.upload(&init).unwrap());
    let (k, v) = (cuda.upload(key).unwrap(), cuda.upload(value).unwrap());
    cuda.reshape_and_cache(&k, &v, &mut dk, &mut dv, args)
        .unwrap();
    assert!(
        cuda.download(&dk).unwrap() == ek,
        "{:?}: key cache differs",
        T::DTYPE
    );
    assert!(
        cuda.download(&dv).unwrap() == ev,
        "{:?}: value cache differs",
        T::DTYPE
    );
}

#[test]
#[ignore = "needs CUDA: run ci/gpu-check.sh"]
fn cuda_long_contexts_are_split_and_merged() {
    // One sequence, few KV heads: far fewer tiles than SMs, so the context is split into
    // partial softmax states that the merge kernel combines.
    let cuda = device();
    for (d, group, window) in [(128, 4, None), (64, 7, Some(3000)), (256, 1, None)] {
        let case = Case::new(d, 16, 2, group, &[8192, 3000], &[1, 3], window, 17);
        case.check::<bf16>(&cuda, TOL_HALF);
        case.check::<f32>(&cuda, TOL_F32);
    }
}

#[test]
#[ignore = "needs CUDA: run ci/gpu-check.sh"]
fn cuda_prefill_and_context_length_one() {
    let cuda = device();
    let case = Case::new(128, 16, 8, 4, &[300, 1, 17], &[300, 1, 17], None, 5);
    case.check::<bf16>(&cuda, TOL_HALF);
    case.check::<f16>(&cuda, TOL_HALF);
}

#[test]
#[ignore = "needs CUDA: run ci/gpu-check.sh"]
fn cuda_validates_like_the_cpu() {
    let cuda = device();
    let case = Case::new(64, 16, 1, 2, &[40], &[1], None, 3);
    let q = cuda.upload(&case.query).unwrap();
    let k = cuda.upload(&case.keys).unwrap();
    let mut out = cuda.alloc_zeros::<f32>(case.query.len()).unwrap();
    let mut tables = case.tables.clone();
    tables[0] = case.num_blocks as i32;
    let args = PagedAttentionArgs {
        block_tables: &tables,
        ..case.args()
    };
    let err = cuda
        .paged_attention(&mut out, &q, &k, &k, &args)
        .unwrap_err();
    assert!(
        matches!(
            err,
            KernelError::IndexOutOfRange {
                arg: "block_tables",
                ..
            }
        ),
        "{err}"
    );
}
