//! CUDA sampling equals the reference: identical tokens and errors, logprobs within `1e-5`
//! (relative, or absolute below 1). Run by `ci/gpu-check.sh` on a lent GPU: these tests fail,
//! never skip, when no CUDA device is usable.

#![cfg(feature = "cuda")]

use dyno_kernels::cuda::CudaBackend;
use dyno_kernels::sampling::{
    Penalties, RandomSampling, RowParams, SampledToken, SamplingArgs, reference,
};
use dyno_kernels::testing::TestRng as Gen;
use dyno_kernels::testing::{cases, close};
use dyno_kernels::{Backend, SamplingOp};
use proptest::prelude::*;

fn device() -> CudaBackend {
    CudaBackend::new(0).unwrap_or_else(|e| panic!("CUDA parity test needs a device: {e}"))
}

struct Case {
    vocab: usize,
    logits: Vec<f32>,
    prompt: Vec<Vec<u32>>,
    output: Vec<Vec<u32>>,
    bias: Vec<Vec<(u32, f32)>>,
    seeds: Vec<u64>,
}

fn case(seed: u64, max_vocab: usize, rows: usize) -> Case {
    let mut g = Gen(seed | 1);
    let vocab = 1 + g.below(max_vocab);
    let sigma = 0.5 + 4.0 * g.unit();
    let ties = g.below(3) == 0;
    let logits = (0..rows * vocab)
        .map(|_| match g.below(40) {
            0 => f32::NEG_INFINITY,
            _ if ties => g.below(5) as f32,
            _ => sigma * (g.unit() + g.unit() + g.unit() - 1.5) * 2.0,
        })
        .collect();
    let hist = |g: &mut Gen, n: usize| (0..n).map(|_| g.below(vocab) as u32).collect();
    Case {
        vocab,
        logits,
        prompt: (0..rows).map(|_| hist(&mut g, 6)).collect(),
        output: (0..rows).map(|_| hist(&mut g, 9)).collect(),
        bias: (0..rows)
            .map(|_| vec![(g.below(vocab) as u32, 3.0 * g.unit() - 1.0)])
            .collect(),
        seeds: (0..rows * 8).map(|_| g.next()).collect(),
    }
}

fn params(c: &Case, r: usize) -> RowParams<'_> {
    let s = &c.seeds[r * 8..];
    let mut p = RandomSampling::new([0.0, 0.5, 1.0, 1.7][s[0] as usize % 4], s[1], s[2] % 50);
    if s[3].is_multiple_of(2) {
        p = p.with_top_k((s[3] >> 8) as u32 % (c.vocab as u32 + 2));
    }
    if s[4].is_multiple_of(2) {
        p = p.with_top_p([0.9, 0.5, 0.05, 0.999][(s[4] >> 8) as usize % 4]);
    }
    if s[5].is_multiple_of(3) {
        p = p.with_min_p([0.05, 0.3, 1.0][(s[5] >> 8) as usize % 3]);
    }
    let mut row = if s[6].is_multiple_of(5) {
        RowParams::greedy()
    } else {
        RowParams::random(p)
    };
    if s[6] % 3 == 1 {
        row = row
            .with_penalties(Penalties {
                repetition: 1.2,
                presence: 0.3,
                frequency: 0.2,
                prompt_tokens: &c.prompt[r],
                output_tokens: &c.output[r],
            })
            .with_logit_bias(&c.bias[r]);
    }
    if s[7].is_multiple_of(2) {
        row = row.with_logprobs((s[7] >> 8) as u32 % (c.vocab.min(8) as u32 + 1));
    }
    row
}

fn assert_same(got: &[SampledToken], want: &[SampledToken]) {
    assert_eq!(got.len(), want.len());
    for (r, (a, b)) in got.iter().zip(want).enumerate() {
        assert_eq!(a.token, b.token, "row {r}: token");
        match (&a.logprobs, &b.logprobs) {
            (None, None) => {}
            (Some(a), Some(b)) => {
                assert!(close(a.sampled, b.sampled, 1e-5), "row {r}: {a:?} vs {b:?}");
                assert_eq!(a.top.len(), b.top.len());
                for (x, y) in a.top.iter().zip(&b.top) {
                    assert_eq!(x.token, y.token, "row {r}: top token");
                    assert!(close(x.logprob, y.logprob, 1e-5), "row {r}: {x:?} vs {y:?}");
                }
            }
            _ => panic!("row {r}: logprobs presence differs"),
        }
    }
}

fn check(cuda: &CudaBackend, c: &Case, rows: usize) {
    let params: Vec<RowParams<'_>> = (0..rows).map(|r| params(c, r)).collect();
    let args = SamplingArgs {
        num_rows: rows,
        vocab_size: c.vocab,
        rows: &params,
    };
    let want = reference::sample(&c.logits, &args);
    let d_logits = cuda.upload(&c.logits).unwrap();
    let got = cuda.sample(&d_logits, &args);
    match (&got, &want) {
        (Ok(a), Ok(b)) => assert_same(a, b),
        (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
        _ => panic!("{got:?} vs {want:?}"),
    }
    assert_eq!(
        cuda.download(&d_logits).unwrap(),
        c.logits,
        "logits must not change"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(64)))]
    #[test]
    #[ignore = "needs CUDA: run ci/gpu-check.sh"]
    fn cuda_matches_reference(seed in any::<u64>(), rows in 1usize..6) {
        let cuda = device();
        check(&cuda, &case(seed, 3000, rows), rows);
    }
}

#[test]
#[ignore = "needs CUDA: run ci/gpu-check.sh"]
fn cuda_matches_reference_on_a_128k_vocabulary() {
    let cuda = device();
    for seed in 0..8 {
        check(&cuda, &case(seed, 128_256, 3), 3);
    }
}

#[test]
#[ignore = "needs CUDA: run ci/gpu-check.sh"]
fn cuda_reports_the_reference_errors() {
    let cuda = device();
    let mut l = vec![0.5f32; 300];
    l[7] = f32::NAN;
    l[100 + 3] = f32::NAN;
    let rows = [
        RowParams::greedy(),
        RowParams::greedy(),
        RowParams::greedy(),
    ];
    let args = SamplingArgs {
        num_rows: 3,
        vocab_size: 100,
        rows: &rows,
    };
    let want = reference::sample(&l, &args).unwrap_err().to_string();
    let got = cuda
        .sample(&cuda.upload(&l).unwrap(), &args)
        .unwrap_err()
        .to_string();
    assert_eq!(got, want);
    let banned = vec![f32::NEG_INFINITY; 50];
    let rows = [RowParams::random(RandomSampling::new(1.0, 1, 0))];
    let args = SamplingArgs {
        num_rows: 1,
        vocab_size: 50,
        rows: &rows,
    };
    let err = cuda
        .sample(&cuda.upload(&banned).unwrap(), &args)
        .unwrap_err();
    assert!(
        matches!(
            err,
            dyno_kernels::KernelError::NothingAllowed { row: 0, .. }
        ),
        "{err}"
    );
}
