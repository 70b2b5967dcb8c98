//! Paged attention: the fast CPU paths (every ISA level this CPU has) equal the reference on
//! random shapes, block tables, context lengths and query lengths; `reshape_and_cache` equals its
//! reference bit for bit; validation names bad arguments; long contexts stay finite.
//!
//! Tolerances (`|a - b| ≤ tol · max(1, |a|, |b|)`, see `dyno_kernels::testing::close`): the
//! reference runs on the *same* rounded KV values as the fast path, so the only difference is
//! f32 arithmetic (accumulation order, the polynomial exp, the online softmax) against the
//! reference's f64: [`TOL_F32`] = 1e-5 for f32 KV and [`TOL_HALF`] = 1e-2 for f16/bf16 KV (the
//! issue's bound; in practice the half types match to ~1e-6 as well).

use dyno_kernels::paged_attention::{
    PagedAttentionArgs, ReshapeAndCacheArgs, cpu_paged_attention, cpu_reshape_and_cache, reference,
};
use dyno_kernels::testing::{assert_close, cases};
use dyno_kernels::{Backend, CpuBackend, FloatElem, Isa, KernelError, PagedAttentionOp};
use half::{bf16, f16};
use proptest::prelude::*;

const TOL_F32: f32 = 1e-5;
const TOL_HALF: f32 = 1e-2;

fn isas() -> Vec<Isa> {
    [Isa::Portable, Isa::Avx2, Isa::Avx512]
        .into_iter()
        .filter(|&i| i <= Isa::detect())
        .collect()
}

/// Runs `f` on a 4-thread rayon pool, so the planner splits long contexts (and the merge of
/// split softmax states is exercised) independently of the test machine's core count.
fn on_four_threads<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    rayon::ThreadPoolBuilder::new()
        .num_threads(4)
        .build()
        .expect("thread pool")
        .install(f)
}

/// A small xorshift generator: the case's seed drives every value and the block layout.
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
    fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            v.swap(i, self.below(i + 1));
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Mode {
    /// One query token per sequence.
    Decode,
    /// A few query tokens over a longer cached prefix (chunked prefill, prefix-cache hit).
    Extend,
    /// The whole (short) sequence is the query.
    Prefill,
}

/// Everything one call needs, owned.
#[derive(Debug)]
struct Case {
    num_heads: usize,
    num_kv_heads: usize,
    head_size: usize,
    block_size: usize,
    num_blocks: usize,
    query_start_loc: Vec<u32>,
    context_lens: Vec<u32>,
    block_tables: Vec<i32>,
    max_blocks_per_seq: usize,
    scale: f32,
    sliding_window: Option<usize>,
    query: Vec<f32>,
    keys: Vec<f32>,
    values: Vec<f32>,
}

impl Case {
    #[allow(clippy::too_many_arguments)]
    fn new(
        head_size: usize,
        block_size: usize,
        num_kv_heads: usize,
        group: usize,
        ctx_lens: &[usize],
        mode: Mode,
        window: Option<usize>,
        logit_scale: f32,
        seed: u64,
    ) -> Self {
        let mut rng = Rng(seed | 1);
        let q_lens: Vec<usize> = ctx_lens
            .iter()
            .map(|&c| match mode {
                Mode::Decode => 1,
                Mode::Extend => 1 + rng.below(c.min(6)),
                Mode::Prefill => c,
            })
            .collect();
        let blocks: Vec<usize> = ctx_lens.iter().map(|c| c.div_ceil(block_size)).collect();
        let max_blocks_per_seq = blocks.iter().max().copied().unwrap_or(0) + rng.below(3);
        let num_blocks = blocks.iter().sum::<usize>() + 1 + rng.below(4);
        // Shuffled, non-contiguous block ids; unused table entries are -1.
        let mut ids: Vec<i32> = (0..num_blocks as i32).collect();
        rng.shuffle(&mut ids);
        let mut block_tables = vec![-1; ctx_lens.len() * max_blocks_per_seq];
        let mut next = ids.into_iter();
        for (s, &nb) in blocks.iter().enumerate() {
            for b in 0..nb {
                block_tables[s * max_blocks_per_seq + b] = next.next().expect("enough blocks");
            }
        }
        let mut query_start_loc = vec![0u32];
        for &q in &q_lens {
            query_start_loc.push(query_start_loc.last().unwrap() + q as u32);
        }
        let num_heads = num_kv_heads * group;
        let tokens = *query_start_loc.last().unwrap() as usize;
        let cache = num_blocks * num_kv_heads * block_size * head_size;
        let mut fill = |n: usize| (0..n).map(|_| rng.uniform()).collect::<Vec<f32>>();
        Case {
            num_heads,
            num_kv_heads,
            head_size,
            block_size,
            num_blocks,
            query_start_loc,
            context_lens: ctx_lens.iter().map(|&c| c as u32).collect(),
            block_tables,
            max_blocks_per_seq,
            scale: logit_scale / (head_size as f32).sqrt(),
            sliding_window: window,
            query: fill(tokens * num_heads * head_size),
            keys: fill(cache),
            values: fill(cache),
        }
    }

    fn args(&self) -> PagedAttentionArgs<'_> {
        PagedAttentionArgs {
            num_heads: self.num_heads,
            num_kv_heads: self.num_kv_heads,
            head_size: self.head_size,
            block_size: self.block_size,
            num_blocks: self.num_blocks,
            query_start_loc: &self.query_start_loc,
            context_lens: &self.context_lens,
            block_tables: &self.block_tables,
            max_blocks_per_seq: self.max_blocks_per_seq,
            scale: self.scale,
            sliding_window: self.sliding_window,
        }
    }

    /// Fast path (each ISA) against the reference, with KV stored as `T`.
    fn check<T: FloatElem>(&self, tol: f32) {
        let k: Vec<T> = self.keys.iter().map(|&x| T::from_f32(x)).collect();
        let v: Vec<T> = self.values.iter().map(|&x| T::from_f32(x)).collect();
        let args = self.args();
        let mut expected = vec![0f32; self.query.len()];
        reference::paged_attention(&mut expected, &self.query, &k, &v, &args).unwrap();
        assert!(expected.iter().all(|x| x.is_finite()));
        for isa in isas() {
            let mut got = vec![f32::NAN; self.query.len()];
            on_four_threads(|| cpu_paged_attention(isa, &mut got, &self.query, &k, &v, &args))
                .unwrap();
            assert_close(&got, &expected, tol, &format!("{isa:?} {:?}", T::DTYPE));
        }
    }
}

fn ctx_lens(n: usize, max: usize, seed: u64) -> Vec<usize> {
    let mut rng = Rng(seed.rotate_left(17) | 1);
    (0..n).map(|_| 1 + rng.below(max)).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(48)))]
    #[test]
    fn fast_matches_reference(
        head_size in prop::sample::select(vec![8usize, 32, 64, 80, 96, 128, 256, 5, 40]),
        block_size in prop::sample::select(vec![8usize, 16, 32, 64, 128, 1, 3]),
        num_kv_heads in 1usize..=2,
        group in prop::sample::select(vec![1usize, 2, 4, 7, 8]),
        num_seqs in 1usize..=3,
        mode in prop::sample::select(vec![Mode::Decode, Mode::Extend, Mode::Prefill]),
        window in prop::option::weighted(0.3, 1usize..40),
        logit_scale in prop::sample::select(vec![1.0f32, 4.0]),
        seed in any::<u64>(),
    ) {
        // Keep the debug-mode reference cheap: long contexts for decode, short for prefill.
        let max_ctx = match mode { Mode::Decode => 300, Mode::Extend => 120, Mode::Prefill => 24 };
        let max_ctx = if head_size >= 128 { max_ctx / 2 } else { max_ctx };
        let case = Case::new(
            head_size, block_size, num_kv_heads, group, &ctx_lens(num_seqs, max_ctx, seed),
            mode, window, logit_scale, seed,
        );
        case.check::<f32>(TOL_F32);
        case.check::<f16>(TOL_HALF);
        case.check::<bf16>(TOL_HALF);
    }

    #[test]
    fn reshape_and_cache_matches_reference(
        head_size in prop::sample::select(vec![8usize, 64, 80, 128, 7]),
        block_size in prop::sample::select(vec![8usize, 16, 128, 1]),
        num_kv_heads in 1usize..=3,
        num_tokens in 0usize..40,
        seed in any::<u64>(),
    ) {
        let mut rng = Rng(seed | 1);
        let num_blocks = num_tokens.div_ceil(block_size) + 2;
        let mut slots: Vec<i64> = (0..(num_blocks * block_size) as i64).collect();
        rng.shuffle(&mut slots);
        slots.truncate(num_tokens);
        // Roughly one token in five is padding.
        for s in slots.iter_mut() {
            if rng.below(5) == 0 { *s = -1; }
        }
        let n = num_tokens * num_kv_heads * head_size;
        let key: Vec<f32> = (0..n).map(|_| rng.uniform() * 10.0).collect();
        let value: Vec<f32> = (0..n).map(|_| rng.uniform() * 10.0).collect();
        let args = ReshapeAndCacheArgs {
            num_tokens, num_kv_heads, head_size, block_size, num_blocks, slot_mapping: &slots,
        };
        check_reshape::<f32>(&key, &value, &args);
        check_reshape::<f16>(&key, &value, &args);
        check_reshape::<bf16>(&key, &value, &args);
    }
}

fn check_reshape<T: FloatElem>(key: &[f32], value: &[f32], args: &ReshapeAndCacheArgs<'_>) {
    let len = args.num_blocks * args.num_kv_heads * args.block_size * args.head_size;
    // Start from a recognisable cache so untouched slots (padding tokens) can be checked.
    let init = vec![T::from_f32(0.5); len];
    let (mut ek, mut ev) = (init.clone(), init.clone());
    reference::reshape_and_cache(key, value, &mut ek, &mut ev, args).unwrap();
    let (mut gk, mut gv) = (init.clone(), init.clone());
    cpu_reshape_and_cache(key, value, &mut gk, &mut gv, args).unwrap();
    assert!(
        gk == ek && gv == ev,
        "{:?}: fast reshape_and_cache differs from the reference",
        T::DTYPE
    );
    let written = args.slot_mapping.iter().filter(|&&s| s >= 0).count();
    let changed = ek.iter().filter(|&&x| x != T::from_f32(0.5)).count();
    assert!(
        changed <= written * args.num_kv_heads * args.head_size,
        "padding tokens were written"
    );
}

#[test]
fn context_length_one() {
    for &(d, bs) in &[(128, 16), (8, 8), (80, 1)] {
        let case = Case::new(d, bs, 2, 4, &[1, 1, 1], Mode::Decode, None, 1.0, 7);
        case.check::<f32>(TOL_F32);
        case.check::<bf16>(TOL_HALF);
        // With a single key the output is that key's value row (of the matching KV head).
        let args = case.args();
        let mut out = vec![0f32; case.query.len()];
        cpu_paged_attention(
            Isa::detect(),
            &mut out,
            &case.query,
            &case.keys,
            &case.values,
            &args,
        )
        .unwrap();
        let block = case.block_tables[0] as usize;
        let v0 = &case.values[block * 2 * bs * d..][..d];
        assert_close(&out[..d], v0, 1e-6, "single key");
    }
}

#[test]
fn long_context_with_large_logits_stays_finite_and_exact() {
    // 8k keys, logits up to ~±200: a naive softmax overflows, the online one must not.
    let case = Case::new(64, 16, 1, 2, &[8192, 5000], Mode::Decode, None, 200.0, 11);
    let args = case.args();
    let mut expected = vec![0f32; case.query.len()];
    reference::paged_attention(&mut expected, &case.query, &case.keys, &case.values, &args)
        .unwrap();
    for isa in isas() {
        let mut got = vec![0f32; case.query.len()];
        cpu_paged_attention(isa, &mut got, &case.query, &case.keys, &case.values, &args).unwrap();
        assert!(
            got.iter().all(|x| x.is_finite()),
            "{isa:?}: non-finite output"
        );
        assert_close(&got, &expected, TOL_F32, &format!("{isa:?} long context"));
    }
    // The same with a sliding window, on bf16.
    let mut case = case;
    case.sliding_window = Some(1000);
    case.check::<bf16>(TOL_HALF);
}

#[test]
fn backend_trait_runs_the_fast_path() {
    let case = Case::new(64, 16, 2, 4, &[40, 17], Mode::Extend, Some(9), 1.0, 3);
    let cpu = CpuBackend::new();
    let args = case.args();
    let q = cpu.upload(&case.query).unwrap();
    let (k, v) = (
        cpu.upload(&case.keys).unwrap(),
        cpu.upload(&case.values).unwrap(),
    );
    let mut out = cpu.alloc_zeros::<f32>(case.query.len()).unwrap();
    cpu.paged_attention(&mut out, &q, &k, &v, &args).unwrap();
    let mut expected = vec![0f32; case.query.len()];
    reference::paged_attention(&mut expected, &case.query, &case.keys, &case.values, &args)
        .unwrap();
    assert_close(&cpu.download(&out).unwrap(), &expected, TOL_F32, "backend");
}

#[test]
fn written_cache_is_what_attention_reads() {
    // reshape_and_cache then decode: the new token's own key/value take part in its attention.
    let cpu = CpuBackend::new();
    let (kvh, d, bs) = (2, 32, 8);
    let case = Case::new(d, bs, kvh, 2, &[9], Mode::Decode, None, 1.0, 5);
    let args = case.args();
    let mut k = cpu
        .upload(
            &case
                .keys
                .iter()
                .map(|&x| bf16::from_f32(x))
                .collect::<Vec<_>>(),
        )
        .unwrap();
    let mut v = cpu
        .upload(
            &case
                .values
                .iter()
                .map(|&x| bf16::from_f32(x))
                .collect::<Vec<_>>(),
        )
        .unwrap();
    // Position 8 is the first slot of the sequence's second block.
    let slot = i64::from(case.block_tables[1]) * bs as i64;
    let new_k: Vec<f32> = (0..kvh * d).map(|i| (i as f32 * 0.37).sin()).collect();
    let new_v: Vec<f32> = (0..kvh * d).map(|i| (i as f32 * 0.11).cos()).collect();
    let cache_args = ReshapeAndCacheArgs {
        num_tokens: 1,
        num_kv_heads: kvh,
        head_size: d,
        block_size: bs,
        num_blocks: case.num_blocks,
        slot_mapping: &[slot],
    };
    cpu.reshape_and_cache(&new_k, &new_v, &mut k, &mut v, &cache_args)
        .unwrap();
    let mut out = vec![0f32; case.query.len()];
    cpu.paged_attention(&mut out, &case.query, &k, &v, &args)
        .unwrap();
    let mut expected = vec![0f32; case.query.len()];
    reference::paged_attention(&mut expected, &case.query, &k, &v, &args).unwrap();
    assert_close(&out, &expected, TOL_HALF, "after reshape_and_cache");
    assert_eq!(
        k[case.block_tables[1] as usize * kvh * bs * d + 3],
        bf16::from_f32(new_k[3])
    );
}

#[test]
fn validation_names_the_bad_argument() {
    let case = Case::new(16, 8, 1, 2, &[20, 3], Mode::Extend, None, 1.0, 9);
    let run = |args: &PagedAttentionArgs<'_>| {
        let mut out = vec![0f32; case.query.len()];
        cpu_paged_attention(
            Isa::detect(),
            &mut out,
            &case.query,
            &case.keys,
            &case.values,
            args,
        )
    };
    run(&case.args()).unwrap();
    // An out-of-range block id in a used table entry.
    let mut bad_tables = case.block_tables.clone();
    bad_tables[1] = case.num_blocks as i32;
    let err = run(&PagedAttentionArgs {
        block_tables: &bad_tables,
        ..case.args()
    })
    .unwrap_err();
    assert!(
        matches!(
            err,
            KernelError::IndexOutOfRange {
                arg: "block_tables",
                position: 1,
                ..
            }
        ),
        "{err}"
    );
    bad_tables[1] = -1;
    assert!(
        run(&PagedAttentionArgs {
            block_tables: &bad_tables,
            ..case.args()
        })
        .is_err()
    );
    // Context longer than the block table can address.
    let long = [case.max_blocks_per_seq as u32 * 8 + 1, 3];
    let err = run(&PagedAttentionArgs {
        context_lens: &long,
        ..case.args()
    })
    .unwrap_err();
    assert!(err.to_string().contains("context_lens[0]"), "{err}");
    // More query tokens than context.
    let short = [20, 2];
    let err = run(&PagedAttentionArgs {
        context_lens: &short,
        ..case.args()
    })
    .unwrap_err();
    assert!(err.to_string().contains("context_lens[1]"), "{err}");
    // Heads that do not group, a zero window, a bad query_start_loc, wrong buffer sizes.
    let err = run(&PagedAttentionArgs {
        num_kv_heads: 3,
        ..case.args()
    })
    .unwrap_err();
    assert!(err.to_string().contains("num_heads"), "{err}");
    let err = run(&PagedAttentionArgs {
        sliding_window: Some(0),
        ..case.args()
    })
    .unwrap_err();
    assert!(err.to_string().contains("sliding_window"), "{err}");
    let qsl = [0u32, 5, 4];
    let err = run(&PagedAttentionArgs {
        query_start_loc: &qsl,
        ..case.args()
    })
    .unwrap_err();
    assert!(err.to_string().contains("query_start_loc"), "{err}");
    let err = run(&PagedAttentionArgs {
        num_blocks: case.num_blocks + 1,
        ..case.args()
    })
    .unwrap_err();
    assert!(err.to_string().contains("key_cache"), "{err}");
    let err = run(&PagedAttentionArgs {
        head_size: 0,
        ..case.args()
    })
    .unwrap_err();
    assert!(err.to_string().contains("head_size"), "{err}");

    // reshape_and_cache: slot out of range, duplicated slot, wrong key length.
    let (key, value) = (vec![0f32; 2 * 16], vec![0f32; 2 * 16]);
    let (mut kc, mut vc) = (vec![0f32; 4 * 8 * 16], vec![0f32; 4 * 8 * 16]);
    let cache = |slots: &[i64], kc: &mut Vec<f32>, vc: &mut Vec<f32>| {
        let args = ReshapeAndCacheArgs {
            num_tokens: 2,
            num_kv_heads: 1,
            head_size: 16,
            block_size: 8,
            num_blocks: 4,
            slot_mapping: slots,
        };
        cpu_reshape_and_cache(&key, &value, kc, vc, &args)
    };
    let err = cache(&[0, 32], &mut kc, &mut vc).unwrap_err();
    assert!(
        matches!(
            err,
            KernelError::IndexOutOfRange {
                arg: "slot_mapping",
                position: 1,
                value: 32,
                bound: 32,
                ..
            }
        ),
        "{err}"
    );
    let err = cache(&[5, 5], &mut kc, &mut vc).unwrap_err();
    assert!(err.to_string().contains("twice"), "{err}");
    cache(&[-1, 31], &mut kc, &mut vc).unwrap();
    let err = cpu_reshape_and_cache(
        &key[..16],
        &value,
        &mut kc,
        &mut vc,
        &ReshapeAndCacheArgs {
            num_tokens: 2,
            num_kv_heads: 1,
            head_size: 16,
            block_size: 8,
            num_blocks: 4,
            slot_mapping: &[0, 1],
        },
    )
    .unwrap_err();
    assert!(err.to_string().contains("`key`"), "{err}");
}

#[test]
fn empty_and_zero_query_sequences() {
    // A sequence with cached tokens but no new query tokens contributes nothing.
    let mut case = Case::new(32, 8, 1, 2, &[10, 5], Mode::Decode, None, 1.0, 13);
    case.query_start_loc = vec![0, 0, 1];
    case.query.truncate(2 * 32);
    case.check::<f32>(TOL_F32);
    let empty = PagedAttentionArgs {
        query_start_loc: &[0],
        context_lens: &[],
        block_tables: &[],
        ..case.args()
    };
    cpu_paged_attention(
        Isa::detect(),
        &mut [],
        &[],
        &case.keys,
        &case.values,
        &empty,
    )
    .unwrap();
}
