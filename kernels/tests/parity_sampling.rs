//! Sampling: the fast CPU paths (every ISA level this CPU has) return exactly the reference's
//! tokens and errors, and logprobs within `1e-5` (relative, or absolute below 1); plus the edge
//! cases of the parameters, determinism and batch independence.
//!
//! Exactness of top-p: the kept set is decided on exact integer masses (see the `sampling`
//! module docs), so the fast path's different summation order cannot move a boundary; parity
//! is therefore asserted token for token, also when a boundary falls on a tie.

use dyno_kernels::sampling::{
    Penalties, RandomSampling, RowParams, SampledToken, SamplingArgs, cpu_sample, reference,
};
use dyno_kernels::testing::TestRng as Gen;
use dyno_kernels::testing::{cases, close};
use dyno_kernels::{Backend, CpuBackend, Isa, KernelError, SamplingOp};
use proptest::prelude::*;

fn isas() -> Vec<Isa> {
    [Isa::Portable, Isa::Avx2, Isa::Avx512]
        .into_iter()
        .filter(|&i| i <= Isa::detect())
        .collect()
}

/// Logits of one of several shapes: normal with a random σ, few distinct values (many ties),
/// flat, or peaked; some tokens banned (`-inf`).
fn logits(g: &mut Gen, n: usize) -> Vec<f32> {
    let style = g.below(5);
    let sigma = 0.5 + 4.0 * g.unit();
    let banned = [0.0, 0.0, 0.05, 0.5][g.below(4)];
    (0..n)
        .map(|_| {
            if g.unit() < banned {
                return f32::NEG_INFINITY;
            }
            match style {
                0 | 1 => sigma * g.normal(),
                2 => g.below(4) as f32 - 2.0,
                3 => 0.25,
                _ => -20.0 * g.unit() + if g.below(50) == 0 { 15.0 } else { 0.0 },
            }
        })
        .collect()
}

/// Owned per-row data the borrowed `RowParams` point into.
struct RowData {
    prompt: Vec<u32>,
    output: Vec<u32>,
    bias: Vec<(u32, f32)>,
}

fn row_data(g: &mut Gen, vocab: usize) -> RowData {
    let hist = |g: &mut Gen, n: usize| (0..n).map(|_| g.below(vocab) as u32).collect();
    let np = g.below(8);
    let no = g.below(12);
    let nb = g.below(4);
    RowData {
        prompt: hist(g, np),
        output: hist(g, no),
        bias: (0..nb)
            .map(|_| (g.below(vocab) as u32, 10.0 * g.unit() - 5.0))
            .collect(),
    }
}

fn row_params<'a>(g: &mut Gen, d: &'a RowData, vocab: usize) -> RowParams<'a> {
    let mode = g.below(6);
    let mut row = if mode == 0 {
        RowParams::greedy()
    } else {
        let temperature = [0.0, 0.3, 0.7, 1.0, 1.5, 1e-6][g.below(6)];
        let mut p = RandomSampling::new(temperature, g.next(), g.next() % 100);
        if g.below(2) == 0 {
            p = p.with_top_k(g.below(vocab + 3) as u32);
        }
        if g.below(2) == 0 {
            p = p.with_top_p([1.0, 0.9, 0.5, 0.1, 1e-3, 0.999][g.below(6)]);
        }
        if g.below(3) == 0 {
            p = p.with_min_p([0.0, 0.05, 0.3, 1.0][g.below(4)]);
        }
        RowParams::random(p)
    };
    if g.below(3) == 0 {
        row = row.with_penalties(Penalties {
            repetition: [1.0, 1.3, 0.8][g.below(3)],
            presence: [0.0, 0.5, -0.5][g.below(3)],
            frequency: [0.0, 0.3][g.below(2)],
            prompt_tokens: &d.prompt,
            output_tokens: &d.output,
        });
    }
    if g.below(3) == 0 {
        row = row.with_logit_bias(&d.bias);
    }
    if g.below(3) == 0 {
        row = row.with_logprobs(g.below(vocab.min(6) + 1) as u32);
    }
    row
}

fn assert_same(got: &[SampledToken], want: &[SampledToken], what: &str) {
    assert_eq!(got.len(), want.len());
    for (r, (a, b)) in got.iter().zip(want).enumerate() {
        assert_eq!(a.token, b.token, "{what}: row {r}: token");
        match (&a.logprobs, &b.logprobs) {
            (None, None) => {}
            (Some(a), Some(b)) => {
                assert!(
                    close(a.sampled, b.sampled, 1e-5),
                    "{what}: row {r}: sampled logprob {} vs {}",
                    a.sampled,
                    b.sampled
                );
                assert_eq!(a.top.len(), b.top.len(), "{what}: row {r}: top length");
                for (x, y) in a.top.iter().zip(&b.top) {
                    assert_eq!(x.token, y.token, "{what}: row {r}: top token");
                    assert!(
                        close(x.logprob, y.logprob, 1e-5),
                        "{what}: row {r}: top logprob {} vs {}",
                        x.logprob,
                        y.logprob
                    );
                }
            }
            _ => panic!("{what}: row {r}: logprobs presence differs"),
        }
    }
}

fn check_case(seed: u64, max_vocab: usize, max_rows: usize) {
    let mut g = Gen(seed | 1);
    let vocab = 1 + g.below(max_vocab);
    let rows = 1 + g.below(max_rows);
    let logits: Vec<f32> = (0..rows).flat_map(|_| logits(&mut g, vocab)).collect();
    let data: Vec<RowData> = (0..rows).map(|_| row_data(&mut g, vocab)).collect();
    let params: Vec<RowParams<'_>> = data.iter().map(|d| row_params(&mut g, d, vocab)).collect();
    let args = SamplingArgs {
        num_rows: rows,
        vocab_size: vocab,
        rows: &params,
    };
    let want = reference::sample(&logits, &args);
    for isa in isas() {
        let got = cpu_sample(isa, &logits, &args);
        match (&got, &want) {
            (Ok(got), Ok(want)) => assert_same(got, want, &format!("{isa:?}, seed {seed}")),
            (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "{isa:?}"),
            _ => panic!("{isa:?}, seed {seed}: {got:?} vs {want:?}"),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(256)))]
    #[test]
    fn fast_matches_reference_small_vocab(seed in any::<u64>()) {
        check_case(seed, 300, 5);
    }

    #[test]
    fn fast_matches_reference_large_vocab(seed in any::<u64>()) {
        // Past the top-pass buffer (64) and one kernel chunk (4096): the threshold paths.
        check_case(seed, 12_000, 2);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(24)))]
    #[test]
    fn fast_matches_reference_sampled_thresholds(seed in any::<u64>()) {
        // 16k+ tokens: the top pass starts from a sampled threshold.
        check_case(seed | (1 << 63), 40_000, 1);
    }
}

#[test]
fn top_pass_redoes_a_pass_when_the_sampled_threshold_is_too_high() {
    // Almost every logit ties at 0: the sampled threshold is 0 and only 10 tokens exceed it,
    // fewer than k, so the pass runs again from -inf.
    let mut l = vec![0.0f32; 20_000];
    for i in 0..10 {
        l[i * 1999 + 7] = 1.0 + i as f32;
    }
    for seed in 0..5 {
        let p = RandomSampling::new(0.5, seed, 0).with_top_k(50);
        one_row(&l, RowParams::random(p).with_logprobs(60)).unwrap();
        one_row(&l, RowParams::random(p.with_top_k(0).with_top_p(0.999))).unwrap();
    }
}

fn one_row(logits: &[f32], row: RowParams<'_>) -> Result<SampledToken, KernelError> {
    let rows = [row];
    let args = SamplingArgs {
        num_rows: 1,
        vocab_size: logits.len(),
        rows: &rows,
    };
    let want = reference::sample(logits, &args);
    for isa in isas() {
        let got = cpu_sample(isa, logits, &args);
        match (&got, &want) {
            (Ok(a), Ok(b)) => assert_same(a, b, &format!("{isa:?}")),
            (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
            _ => panic!("{isa:?}: {got:?} vs {want:?}"),
        }
    }
    want.map(|mut v| v.remove(0))
}

fn normal_row(n: usize, sigma: f32, seed: u64) -> Vec<f32> {
    let mut g = Gen(seed | 1);
    (0..n).map(|_| sigma * g.normal()).collect()
}

fn token(logits: &[f32], p: RandomSampling) -> u32 {
    one_row(logits, RowParams::random(p)).unwrap().token
}

#[test]
fn top_k_zero_one_and_vocab() {
    let l = normal_row(500, 2.0, 3);
    let greedy = one_row(&l, RowParams::greedy()).unwrap().token;
    for seed in 0..20 {
        let p = RandomSampling::new(1.0, seed, 0);
        assert_eq!(token(&l, p.with_top_k(0)), token(&l, p), "top_k 0 is off");
        assert_eq!(
            token(&l, p.with_top_k(500)),
            token(&l, p),
            "top_k = vocab is off"
        );
        assert_eq!(
            token(&l, p.with_top_k(9999)),
            token(&l, p),
            "top_k > vocab is off"
        );
        assert_eq!(token(&l, p.with_top_k(1)), greedy, "top_k 1 is greedy");
    }
}

#[test]
fn top_p_zero_is_rejected_and_one_is_off() {
    let l = normal_row(100, 2.0, 4);
    let err = one_row(
        &l,
        RowParams::random(RandomSampling::new(1.0, 1, 0).with_top_p(0.0)),
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("top_p") && err.to_string().contains("is 0"),
        "{err}"
    );
    for seed in 0..20 {
        let p = RandomSampling::new(0.8, seed, 7);
        assert_eq!(token(&l, p.with_top_p(1.0)), token(&l, p));
    }
    // A tiny top_p keeps only the most likely token.
    let greedy = one_row(&l, RowParams::greedy()).unwrap().token;
    assert_eq!(
        token(&l, RandomSampling::new(1.0, 5, 0).with_top_p(1e-6)),
        greedy
    );
}

#[test]
fn min_p_one_keeps_only_the_tied_maxima() {
    let l = vec![1.0, 3.0, 3.0, 2.0, 3.0];
    let mut seen = [0; 5];
    for seed in 0..200 {
        seen[token(&l, RandomSampling::new(1.0, seed, 0).with_min_p(1.0)) as usize] += 1;
    }
    assert_eq!(seen[0] + seen[3], 0);
    assert!(seen[1] > 0 && seen[2] > 0 && seen[4] > 0, "{seen:?}");
}

#[test]
fn bad_rows_are_errors() {
    let err = one_row(&[f32::NEG_INFINITY; 7], RowParams::greedy()).unwrap_err();
    assert!(
        matches!(err, KernelError::NothingAllowed { row: 0, .. }),
        "{err}"
    );
    let err = one_row(
        &[f32::NEG_INFINITY; 7],
        RowParams::random(RandomSampling::new(1.0, 0, 0).with_top_p(0.5)),
    )
    .unwrap_err();
    assert!(matches!(err, KernelError::NothingAllowed { .. }), "{err}");
    let mut l = normal_row(300, 1.0, 5);
    l[17] = f32::NAN;
    l[40] = f32::NAN;
    for row in [
        RowParams::greedy(),
        RowParams::random(RandomSampling::new(1.0, 0, 0)),
    ] {
        let err = one_row(&l, row).unwrap_err();
        assert!(
            matches!(err, KernelError::NanLogits { row: 0, token: 17 }),
            "{err}"
        );
    }
    let mut l = normal_row(300, 1.0, 5);
    l[250] = f32::INFINITY;
    let err = one_row(&l, RowParams::greedy()).unwrap_err();
    assert!(err.to_string().contains("token 250"), "{err}");
    // A bias that overflows a logit to +inf is named too.
    let mut l = normal_row(300, 1.0, 5);
    l[9] = f32::MAX;
    let bias = [(9, f32::MAX)];
    let err = one_row(&l, RowParams::greedy().with_logit_bias(&bias)).unwrap_err();
    assert!(err.to_string().contains("token 9"), "{err}");
    // The error names the row of the batch.
    let mut l = normal_row(600, 1.0, 6);
    l[300 + 5] = f32::NAN;
    let rows = [RowParams::greedy(); 2];
    let args = SamplingArgs {
        num_rows: 2,
        vocab_size: 300,
        rows: &rows,
    };
    let err = CpuBackend::new().sample(&l, &args).unwrap_err();
    assert!(
        matches!(err, KernelError::NanLogits { row: 1, token: 5 }),
        "{err}"
    );
}

#[test]
fn vocab_of_one() {
    for row in [
        RowParams::greedy(),
        RowParams::random(
            RandomSampling::new(2.0, 9, 1)
                .with_top_p(0.3)
                .with_min_p(0.5),
        ),
    ] {
        let got = one_row(&[0.5], row.with_logprobs(1)).unwrap();
        assert_eq!(got.token, 0);
        let lp = got.logprobs.unwrap();
        assert_eq!((lp.sampled, lp.top[0].token), (0.0, 0));
    }
}

#[test]
fn seeded_runs_reproduce_and_steps_differ() {
    let l = normal_row(32_000, 1.0, 8);
    let cpu = CpuBackend::new();
    let run = |step: u64| {
        let p = RandomSampling::new(1.0, 1234, step).with_top_p(0.95);
        let rows = [RowParams::random(p)];
        let args = SamplingArgs {
            num_rows: 1,
            vocab_size: l.len(),
            rows: &rows,
        };
        cpu.sample(&l, &args).unwrap()[0].token
    };
    let first: Vec<u32> = (0..16).map(run).collect();
    let again: Vec<u32> = (0..16).map(run).collect();
    assert_eq!(first, again);
    let distinct: std::collections::HashSet<_> = first.iter().collect();
    assert!(
        distinct.len() > 8,
        "steps must draw different tokens: {first:?}"
    );
}

#[test]
fn batch_composition_does_not_change_a_row() {
    let vocab = 5000;
    let mut g = Gen(77);
    let rows_n = 9;
    let logits: Vec<f32> = (0..rows_n).flat_map(|_| logits(&mut g, vocab)).collect();
    let data: Vec<RowData> = (0..rows_n).map(|_| row_data(&mut g, vocab)).collect();
    let params: Vec<RowParams<'_>> = data.iter().map(|d| row_params(&mut g, d, vocab)).collect();
    let cpu = CpuBackend::new();
    let all = cpu
        .sample(
            &logits,
            &SamplingArgs {
                num_rows: rows_n,
                vocab_size: vocab,
                rows: &params,
            },
        )
        .unwrap();
    // Each row alone, and the rows in reverse order, give the same results.
    for r in 0..rows_n {
        let alone = cpu
            .sample(
                &logits[r * vocab..(r + 1) * vocab].to_vec(),
                &SamplingArgs {
                    num_rows: 1,
                    vocab_size: vocab,
                    rows: &params[r..r + 1],
                },
            )
            .unwrap();
        assert_same(&alone, &all[r..r + 1], "alone");
    }
    let rev_logits: Vec<f32> = (0..rows_n)
        .rev()
        .flat_map(|r| logits[r * vocab..(r + 1) * vocab].to_vec())
        .collect();
    let rev_params: Vec<RowParams<'_>> = params.iter().rev().copied().collect();
    let mut rev = cpu
        .sample(
            &rev_logits,
            &SamplingArgs {
                num_rows: rows_n,
                vocab_size: vocab,
                rows: &rev_params,
            },
        )
        .unwrap();
    rev.reverse();
    assert_same(&rev, &all, "reversed");
}

#[test]
fn logits_are_not_modified() {
    let l = normal_row(2000, 2.0, 10);
    let before = l.clone();
    let prompt = [1, 2, 3];
    let bias = [(5, 3.0)];
    let row = RowParams::random(RandomSampling::new(1.0, 1, 1).with_top_k(20))
        .with_penalties(Penalties {
            repetition: 1.5,
            presence: 0.5,
            frequency: 0.5,
            prompt_tokens: &prompt,
            output_tokens: &prompt,
        })
        .with_logit_bias(&bias)
        .with_logprobs(3);
    one_row(&l, row).unwrap();
    assert_eq!(l, before);
}

#[test]
fn penalties_follow_vllm_semantics() {
    let raw = [2.0f32, -2.0, 1.0, 0.0, 3.0];
    let prompt = [0, 1];
    let output = [2, 2, 4];
    let bias = [(3, 1.0), (3, 0.5)];
    let row = RowParams::greedy()
        .with_penalties(Penalties {
            repetition: 2.0,
            presence: 0.25,
            frequency: 0.5,
            prompt_tokens: &prompt,
            output_tokens: &output,
        })
        .with_logit_bias(&bias);
    let x = reference::processed_logits(&raw, &row);
    // 0: 2/2; 1: -2*2; 2: 1/2 - 0.5*2 - 0.25; 3: 0 + 1.5 (no history); 4: 3/2 - 0.5 - 0.25.
    assert_eq!(x, vec![1.0, -4.0, -0.75, 1.5, 0.75]);
    assert_eq!(one_row(&raw, row).unwrap().token, 3);
}

#[test]
fn validation_names_the_value() {
    let l = [0.0f32; 10];
    let check = |row: RowParams<'_>, needle: &str| {
        let err = one_row(&l, row).unwrap_err().to_string();
        assert!(err.contains(needle), "{err} should mention {needle}");
    };
    check(
        RowParams::random(RandomSampling::new(-1.0, 0, 0)),
        "temperature",
    );
    check(
        RowParams::random(RandomSampling::new(f32::INFINITY, 0, 0)),
        "inf",
    );
    check(
        RowParams::random(RandomSampling::new(1.0, 0, 0).with_top_p(1.5)),
        "1.5",
    );
    check(
        RowParams::random(RandomSampling::new(1.0, 0, 0).with_min_p(-0.1)),
        "min_p",
    );
    let bad_hist = [3, 10];
    check(
        RowParams::greedy().with_penalties(Penalties {
            output_tokens: &bad_hist,
            ..Penalties::NONE
        }),
        "token 10",
    );
    check(
        RowParams::greedy().with_penalties(Penalties {
            repetition: 0.0,
            ..Penalties::NONE
        }),
        "repetition",
    );
    check(
        RowParams::greedy().with_logit_bias(&[(11, 1.0)]),
        "token 11",
    );
    check(RowParams::greedy().with_logit_bias(&[(1, f32::NAN)]), "NaN");
    check(RowParams::greedy().with_logprobs(11), "11");
    let cpu = CpuBackend::new();
    let rows = [RowParams::greedy()];
    let err = cpu
        .sample(
            &cpu.upload(&[0.0f32; 9]).unwrap(),
            &SamplingArgs {
                num_rows: 1,
                vocab_size: 10,
                rows: &rows,
            },
        )
        .unwrap_err();
    assert!(err.to_string().contains("`logits`"), "{err}");
}
