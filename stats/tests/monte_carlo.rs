//! Seeded Monte Carlo checks of error rates and coverage: each test draws many data sets from a
//! fixed seed, so the observed rates are deterministic; the tolerances are about 3 binomial
//! standard errors around the nominal rate.

use dyno_stats::{
    Alternative, BootstrapConfig, MannWhitney, SignedRank, WalshAverages, bh_reject, bootstrap_ci,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Standard normal by Box–Muller (rand 0.9 has no normal distribution without rand_distr).
fn normal(rng: &mut StdRng) -> f64 {
    let u1: f64 = 1.0 - rng.random::<f64>();
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

/// A heavy-tailed symmetric draw: Student t with 3 degrees of freedom.
fn student3(rng: &mut StdRng) -> f64 {
    let z = normal(rng);
    let chi2: f64 = (0..3).map(|_| normal(rng).powi(2)).sum();
    z / (chi2 / 3.0).sqrt()
}

fn rate(hits: usize, trials: usize) -> f64 {
    hits as f64 / trials as f64
}

#[test]
fn signed_rank_rejects_at_about_alpha_under_the_null() {
    let mut rng = StdRng::seed_from_u64(1);
    for (n, draw) in [
        (12usize, normal as fn(&mut StdRng) -> f64),
        (20, student3),
        (64, normal),
    ] {
        let trials = 3000;
        let (mut at5, mut at1, mut two5) = (0, 0, 0);
        for _ in 0..trials {
            let d: Vec<f64> = (0..n).map(|_| draw(&mut rng)).collect();
            let t = SignedRank::test(&d).unwrap();
            at5 += usize::from(t.p_value(Alternative::Greater) <= 0.05);
            at1 += usize::from(t.p_value(Alternative::Greater) <= 0.01);
            two5 += usize::from(t.p_value(Alternative::TwoSided) <= 0.05);
        }
        // exact tests are slightly conservative (discrete); 3 SE at 0.05 over 3000 is 0.012
        let (r5, r1, rt) = (rate(at5, trials), rate(at1, trials), rate(two5, trials));
        assert!(
            (0.035..=0.062).contains(&r5),
            "n = {n}: rejection rate at 0.05 is {r5}"
        );
        assert!(
            (0.003..=0.017).contains(&r1),
            "n = {n}: rejection rate at 0.01 is {r1}"
        );
        assert!(
            (0.035..=0.062).contains(&rt),
            "n = {n}: two-sided rejection rate at 0.05 is {rt}"
        );
    }
}

#[test]
fn signed_rank_p_values_are_uniform_under_the_null() {
    // Deciles of p-values for n = 25: each should hold about 10 % (exact p is discrete but fine-grained).
    let mut rng = StdRng::seed_from_u64(2);
    let trials = 4000;
    let mut bins = [0usize; 10];
    for _ in 0..trials {
        let d: Vec<f64> = (0..25).map(|_| normal(&mut rng)).collect();
        let p = SignedRank::test(&d).unwrap().p_value(Alternative::Greater);
        bins[((p * 10.0) as usize).min(9)] += 1;
    }
    for (i, &b) in bins.iter().enumerate() {
        let r = rate(b, trials);
        assert!(
            (0.08..=0.12).contains(&r),
            "decile {i} holds {r} of p-values: {bins:?}"
        );
    }
}

#[test]
fn signed_rank_detects_a_clear_shift() {
    let mut rng = StdRng::seed_from_u64(3);
    let trials = 500;
    let mut hits = 0;
    for _ in 0..trials {
        // 16 blocks, shift of one noise standard deviation
        let d: Vec<f64> = (0..16).map(|_| 1.0 + normal(&mut rng)).collect();
        hits += usize::from(SignedRank::test(&d).unwrap().p_value(Alternative::Greater) <= 0.01);
    }
    assert!(rate(hits, trials) > 0.85, "power {}", rate(hits, trials));
}

#[test]
fn hodges_lehmann_interval_covers_at_least_nominal() {
    let mut rng = StdRng::seed_from_u64(4);
    let trials = 2000;
    let (mut two, mut lower) = (0, 0);
    for _ in 0..trials {
        let d: Vec<f64> = (0..15).map(|_| 0.3 + student3(&mut rng)).collect();
        let w = WalshAverages::new(&d).unwrap();
        two += usize::from(w.interval(0.9).unwrap().ci.contains(0.3));
        lower += usize::from(w.lower_bound(0.95).unwrap().value <= 0.3);
    }
    // exact distribution-free bounds: coverage >= nominal, and not much above (discreteness)
    let (r2, rl) = (rate(two, trials), rate(lower, trials));
    assert!((0.88..=0.94).contains(&r2), "90 % interval covered {r2}");
    assert!(
        (0.935..=0.97).contains(&rl),
        "95 % lower bound covered {rl}"
    );
}

#[test]
fn bootstrap_interval_covers_at_about_the_nominal_rate() {
    let mut rng = StdRng::seed_from_u64(5);
    let trials = 300;
    let mut covered = 0;
    for i in 0..trials {
        let data: Vec<f64> = (0..30).map(|_| 3.0 + normal(&mut rng)).collect();
        let config = BootstrapConfig {
            resamples: 500,
            level: 0.9,
            seed: i as u64,
        };
        let mean = |x: &[f64]| x.iter().sum::<f64>() / x.len() as f64;
        covered += usize::from(bootstrap_ci(&data, mean, &config).unwrap().ci.contains(3.0));
    }
    // percentile bootstrap of a mean at n = 30 under-covers slightly (about 0.88)
    let r = rate(covered, trials);
    assert!(
        (0.83..=0.95).contains(&r),
        "90 % bootstrap interval covered {r}"
    );
}

#[test]
fn mann_whitney_rejects_at_about_alpha_under_the_null() {
    let mut rng = StdRng::seed_from_u64(6);
    for (nx, ny) in [(8usize, 10usize), (40, 35)] {
        let trials = 1500;
        let mut hits = 0;
        for _ in 0..trials {
            let x: Vec<f64> = (0..nx).map(|_| normal(&mut rng)).collect();
            let y: Vec<f64> = (0..ny).map(|_| normal(&mut rng)).collect();
            hits += usize::from(
                MannWhitney::test(&x, &y)
                    .unwrap()
                    .p_value(Alternative::TwoSided)
                    <= 0.05,
            );
        }
        let r = rate(hits, trials);
        assert!((0.03..=0.067).contains(&r), "{nx}+{ny}: rejection rate {r}");
    }
}

#[test]
fn benjamini_hochberg_controls_family_error_under_the_complete_null() {
    // 50 true nulls per family: P(any rejection at q) must stay <= q.
    let mut rng = StdRng::seed_from_u64(7);
    let trials = 4000;
    let mut any = 0;
    for _ in 0..trials {
        let p: Vec<f64> = (0..50).map(|_| rng.random::<f64>()).collect();
        any += usize::from(bh_reject(&p, 0.05).unwrap().rejections() > 0);
    }
    let r = rate(any, trials);
    assert!((0.035..=0.062).contains(&r), "family-wise error {r}");
}
