//! Sampled frequencies match the intended distribution: a chi-square goodness-of-fit test per
//! parameter set, against probabilities computed here from first principles in f64
//! (softmax of the processed logits / T, min-p, top-k, top-p by sorting), independently of the
//! kernels' integer masses and race. Each case draws 20,000 tokens — one row per seed, all in
//! one batch — and requires p-value > 1e-3; every seed is fixed, so a pass is reproducible, and
//! a biased sampler (a wrong filter boundary, temperature, penalty or a skewed generator)
//! fails by many orders of magnitude. Tokens outside the kept set must never appear.

use dyno_kernels::sampling::{
    Penalties, RandomSampling, RowParams, SamplingArgs, cpu_sample, reference,
};
use dyno_kernels::{CpuBackend, Isa, SamplingOp};
use statrs::distribution::{ChiSquared, ContinuousCDF};

const DRAWS: usize = 20_000;

fn normal_row(n: usize, sigma: f64, seed: u64) -> Vec<f32> {
    let mut s = seed | 1;
    let mut unit = || {
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        ((s.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    };
    (0..n)
        .map(|_| {
            (sigma * (-2.0 * unit().ln()).sqrt() * (std::f64::consts::TAU * unit()).cos()) as f32
        })
        .collect()
}

/// The intended distribution over tokens for processed logits `x`.
fn expected(x: &[f32], p: &RandomSampling) -> Vec<f64> {
    let mut order: Vec<usize> = (0..x.len()).filter(|&i| x[i].is_finite()).collect();
    order.sort_by(|&a, &b| x[b].partial_cmp(&x[a]).unwrap().then(a.cmp(&b)));
    let m = f64::from(x[order[0]]);
    let w = |i: usize| ((f64::from(x[i]) - m) / f64::from(p.temperature)).exp();
    order.retain(|&i| w(i) >= f64::from(p.min_p));
    if let Some(k) = p.top_k {
        order.truncate(k.get() as usize);
    }
    if p.top_p < 1.0 {
        let z: f64 = order.iter().map(|&i| w(i)).sum();
        let target = f64::from(p.top_p) * z;
        let mut cum = 0.0;
        let n = order
            .iter()
            .position(|&i| {
                cum += w(i);
                cum >= target
            })
            .unwrap();
        // The test data must not put the boundary on a knife edge (the kernels decide it on
        // exact integer masses, this test in f64).
        let margin = (cum - target).min(target - (cum - w(order[n]))) / z;
        assert!(margin > 1e-4, "top-p boundary too close to call: {margin}");
        order.truncate(n + 1);
    }
    let z: f64 = order.iter().map(|&i| w(i)).sum();
    let mut probs = vec![0.0; x.len()];
    for &i in &order {
        probs[i] = w(i) / z;
    }
    probs
}

/// Draws `DRAWS` tokens (seeds 0.., steps alternating) and checks the fit.
fn check(
    name: &str,
    raw: &[f32],
    template: RowParams<'_>,
    sampler: &dyn Fn(&[f32], &SamplingArgs<'_>) -> Vec<u32>,
) {
    let RowParams {
        mode: dyno_kernels::sampling::SamplingMode::Random(p),
        ..
    } = template
    else {
        panic!("random rows only");
    };
    let vocab = raw.len();
    let x = reference::processed_logits(raw, &template);
    let probs = expected(&x, &p);
    let rows: Vec<RowParams<'_>> = (0..DRAWS as u64)
        .map(|i| RowParams {
            mode: dyno_kernels::sampling::SamplingMode::Random(RandomSampling {
                seed: i / 2,
                step: i % 2,
                ..p
            }),
            ..template
        })
        .collect();
    let logits: Vec<f32> = (0..DRAWS).flat_map(|_| raw.iter().copied()).collect();
    let args = SamplingArgs {
        num_rows: DRAWS,
        vocab_size: vocab,
        rows: &rows,
    };
    let mut counts = vec![0u64; vocab];
    for t in sampler(&logits, &args) {
        counts[t as usize] += 1;
    }
    for (i, (&c, &q)) in counts.iter().zip(&probs).enumerate() {
        assert!(
            q > 0.0 || c == 0,
            "{name}: token {i} is filtered out but was drawn {c} times"
        );
    }
    // Pool tokens with expected count < 5 (in order of probability) so the test is valid.
    let mut bins: Vec<(f64, f64)> = Vec::new();
    let mut pool = (0.0, 0.0);
    let mut idx: Vec<usize> = (0..vocab).filter(|&i| probs[i] > 0.0).collect();
    idx.sort_by(|&a, &b| probs[b].partial_cmp(&probs[a]).unwrap());
    for i in idx {
        let e = probs[i] * DRAWS as f64;
        if e >= 5.0 {
            bins.push((counts[i] as f64, e));
        } else {
            pool = (pool.0 + counts[i] as f64, pool.1 + e);
        }
    }
    if pool.1 > 0.0 {
        bins.push(pool);
    }
    if bins.len() < 2 {
        return;
    }
    let stat: f64 = bins.iter().map(|(o, e)| (o - e) * (o - e) / e).sum();
    let dof = (bins.len() - 1) as f64;
    let p_value = ChiSquared::new(dof).unwrap().sf(stat);
    assert!(
        p_value > 1e-3,
        "{name}: chi-square {stat:.1} with {dof} dof, p = {p_value:.2e}"
    );
}

fn fast(isa: Isa) -> impl Fn(&[f32], &SamplingArgs<'_>) -> Vec<u32> {
    move |l, a| {
        cpu_sample(isa, l, a)
            .unwrap()
            .iter()
            .map(|s| s.token)
            .collect()
    }
}

#[test]
fn temperature_top_k_top_p_min_p() {
    let l16 = normal_row(16, 1.5, 1);
    let l32 = normal_row(32, 2.0, 2);
    let s = fast(Isa::detect());
    let r = |p: RandomSampling| RowParams::random(p);
    check(
        "temperature 0.7",
        &l16,
        r(RandomSampling::new(0.7, 0, 0)),
        &s,
    );
    check("temperature 2", &l32, r(RandomSampling::new(2.0, 0, 0)), &s);
    check(
        "top_k 5",
        &l16,
        r(RandomSampling::new(1.0, 0, 0).with_top_k(5)),
        &s,
    );
    check(
        "top_p 0.8",
        &l32,
        r(RandomSampling::new(1.2, 0, 0).with_top_p(0.8)),
        &s,
    );
    check(
        "min_p 0.2",
        &l32,
        r(RandomSampling::new(0.9, 0, 0).with_min_p(0.2)),
        &s,
    );
    check(
        "top_k 10 + top_p 0.9 + min_p 0.05",
        &l32,
        r(RandomSampling::new(1.0, 0, 0)
            .with_top_k(10)
            .with_top_p(0.9)
            .with_min_p(0.05)),
        &s,
    );
}

#[test]
fn penalties_and_bias() {
    let l = normal_row(24, 1.0, 3);
    let prompt = [0, 1, 2, 3];
    let output = [3, 3, 4, 5, 6, 6, 6];
    let bias = [(7, 1.5), (8, -2.0), (7, 0.5)];
    let row = RowParams::random(RandomSampling::new(1.0, 0, 0))
        .with_penalties(Penalties {
            repetition: 1.3,
            presence: 0.4,
            frequency: 0.2,
            prompt_tokens: &prompt,
            output_tokens: &output,
        })
        .with_logit_bias(&bias);
    check("penalties + bias", &l, row, &fast(Isa::detect()));
}

#[test]
fn past_the_top_buffer() {
    // 400 tokens: top-p and plain temperature run the threshold and whole-row paths.
    let l = normal_row(400, 2.0, 4);
    let s = fast(Isa::detect());
    let r = |p: RandomSampling| RowParams::random(p);
    check(
        "v400 top_p 0.9",
        &l,
        r(RandomSampling::new(1.0, 0, 0).with_top_p(0.9)),
        &s,
    );
    check(
        "v400 temperature 1",
        &l,
        r(RandomSampling::new(1.0, 0, 0)),
        &s,
    );
    check(
        "v400 min_p 0.01",
        &l,
        r(RandomSampling::new(1.0, 0, 0).with_min_p(0.01)),
        &s,
    );
}

#[test]
fn portable_path_and_reference() {
    let l = normal_row(20, 1.5, 5);
    let p = RandomSampling::new(1.0, 0, 0).with_top_p(0.85);
    check(
        "portable top_p",
        &l,
        RowParams::random(p),
        &fast(Isa::Portable),
    );
    let reference = |l: &[f32], a: &SamplingArgs<'_>| {
        reference::sample(l, a)
            .unwrap()
            .iter()
            .map(|s| s.token)
            .collect()
    };
    check("reference top_p", &l, RowParams::random(p), &reference);
    let cpu = CpuBackend::new();
    let backend = move |l: &[f32], a: &SamplingArgs<'_>| {
        cpu.sample(&l.to_vec(), a)
            .unwrap()
            .iter()
            .map(|s| s.token)
            .collect()
    };
    check(
        "backend min_p",
        &l,
        RowParams::random(p.with_top_p(1.0).with_min_p(0.1)),
        &backend,
    );
}
