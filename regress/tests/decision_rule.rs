//! The decision rule's error rates (seeded simulations) and its invariants (proptest).
//!
//! Block noise model: ln(head/base) per block is normal with σ = 0.8 % (the paired A/A spread
//! in gate-statistics.md §5.6), with 5 % of blocks disturbed (σ × 4): heavy-tailed, as measured.

use dyno_regress::{
    BenchmarkData, Comparison, EffectRule, JudgeConfig, Outcome, ScreenConfig, Verdict, confirm,
    judge, screen,
};
use dyno_stats::record::HealthRecord;
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const SIGMA: f64 = 0.008;

fn normal(rng: &mut StdRng) -> f64 {
    let u1: f64 = 1.0 - rng.random::<f64>();
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

fn block(rng: &mut StdRng) -> f64 {
    let scale = if rng.random::<f64>() < 0.05 { 4.0 } else { 1.0 };
    SIGMA * scale * normal(rng)
}

/// One simulated PR: `m` benchmarks of `k` blocks, `shifts[i]` the true slowdown of benchmark i
/// (as a fraction), plus an unshifted sentinel.
fn pr(rng: &mut StdRng, m: usize, k: usize, shifts: &[(usize, f64)]) -> Comparison {
    let benchmarks = (0..m)
        .map(|i| {
            let shift = shifts
                .iter()
                .find(|(j, _)| *j == i)
                .map_or(0.0, |(_, s)| (1.0 + s).ln());
            BenchmarkData::paired(
                format!("b{i:03}"),
                (0..k).map(|_| shift + block(rng)).collect(),
            )
        })
        .collect();
    let sentinel = BenchmarkData::paired("sentinel/noop", (0..k).map(|_| block(rng)).collect());
    Comparison {
        benchmarks,
        sentinels: vec![sentinel],
        health: HealthRecord::default(),
    }
}

#[test]
fn identical_distributions_pass_at_about_one_minus_q_per_benchmark() {
    // Significance alone (τ = 0) in single-benchmark families: rejections at about q (exact
    // Wilcoxon is discrete, so at most q). With the default τ = 1 % they all but vanish.
    let mut rng = StdRng::seed_from_u64(11);
    let trials = 3000;
    let significance_only = JudgeConfig {
        tau_floor: 0.0,
        ..JudgeConfig::default()
    };
    let (mut sig, mut default) = (0, 0);
    for _ in 0..trials {
        let mut cmp = pr(&mut rng, 1, 24, &[]);
        cmp.sentinels.clear();
        sig += usize::from(judge(&cmp, &significance_only).unwrap().outcome == Outcome::Regression);
        default += usize::from(
            judge(&cmp, &JudgeConfig::default()).unwrap().outcome == Outcome::Regression,
        );
    }
    let rate = sig as f64 / trials as f64;
    eprintln!(
        "single benchmark A/A, K = 24: false-fail {rate} with τ = 0, {default}/{trials} with τ = 1 %"
    );
    assert!(
        (0.003..=0.016).contains(&rate),
        "per-benchmark false-fail rate with τ = 0: {rate}"
    );
    assert!(
        default as f64 / trials as f64 <= 0.002,
        "with τ = 1 %: {default} of {trials}"
    );
}

#[test]
fn family_of_50_identical_benchmarks_rarely_fails_a_pr() {
    let mut rng = StdRng::seed_from_u64(12);
    let prs = 150;
    let (mut failed, mut inconclusive, mut flagged) = (0, 0, 0);
    for _ in 0..prs {
        let j = judge(&pr(&mut rng, 50, 24, &[]), &JudgeConfig::default()).unwrap();
        failed += usize::from(j.outcome == Outcome::Regression);
        inconclusive += usize::from(j.outcome == Outcome::Inconclusive);
        flagged += j.ids_with(Verdict::Regression).len();
    }
    eprintln!(
        "50 benchmarks A/A, K = 24: {failed}/{prs} PRs failed, {inconclusive}/{prs} inconclusive"
    );
    // BH at q = 0.01 bounds the PR false-fail at 1 % (0 or 1 of 150 expected)
    assert!(
        failed <= 2,
        "{failed} of {prs} A/A PRs failed ({flagged} benchmarks flagged)"
    );
    // the sentinel (alpha 0.01, band 0.5 %) makes a healthy run inconclusive rarely
    assert!(
        inconclusive <= 6,
        "{inconclusive} of {prs} A/A PRs inconclusive"
    );
}

#[test]
fn a_10_percent_shift_is_caught_with_enough_blocks_and_2_percent_mostly() {
    let mut rng = StdRng::seed_from_u64(13);
    let prs = 60;
    let (mut caught10, mut caught2, mut others) = (0, 0, 0);
    for _ in 0..prs {
        let j = judge(
            &pr(&mut rng, 50, 24, &[(7, 0.10), (30, 0.02)]),
            &JudgeConfig::default(),
        )
        .unwrap();
        caught10 += usize::from(j.benchmark("b007").unwrap().verdict == Verdict::Regression);
        caught2 += usize::from(j.benchmark("b030").unwrap().verdict == Verdict::Regression);
        others += j
            .ids_with(Verdict::Regression)
            .iter()
            .filter(|id| !["b007", "b030"].contains(id))
            .count();
    }
    eprintln!(
        "50 benchmarks, K = 24: 10 % caught {caught10}/{prs}, 2 % caught {caught2}/{prs}, others flagged {others}"
    );
    assert_eq!(
        caught10,
        prs,
        "10 % slowdown missed in {} of {prs}",
        prs - caught10
    );
    assert!(
        caught2 as f64 / prs as f64 >= 0.8,
        "2 % slowdown caught in {caught2} of {prs}"
    );
    assert!(others <= 1, "{others} unchanged benchmarks flagged");
}

#[test]
fn two_stage_gate_confirms_a_real_slowdown_and_clears_noise() {
    let mut rng = StdRng::seed_from_u64(14);
    let config = JudgeConfig::default();
    let (mut confirmed, mut false_fails, mut suspects) = (0, 0, 0);
    let prs = 40;
    for _ in 0..prs {
        let s = screen(
            &pr(&mut rng, 50, 12, &[(3, 0.05)]),
            &config,
            &ScreenConfig::default(),
        )
        .unwrap();
        suspects += s.suspects.len();
        let fresh = pr(&mut rng, 50, 16, &[(3, 0.05)]);
        let j = confirm(&s, &fresh, &config).unwrap();
        confirmed += usize::from(j.benchmark("b003").unwrap().verdict == Verdict::Regression);
        false_fails += j
            .ids_with(Verdict::Regression)
            .iter()
            .filter(|id| **id != "b003")
            .count();
    }
    eprintln!(
        "two-stage 12 + 16 blocks: 5 % confirmed {confirmed}/{prs}, {suspects} suspects, {false_fails} false fails"
    );
    assert!(
        confirmed >= prs - 1,
        "5 % slowdown confirmed in {confirmed} of {prs}"
    );
    assert_eq!(false_fails, 0);
    // the screen narrows re-measurement to a few benchmarks per PR
    assert!(
        suspects as f64 / (prs as f64) < 8.0,
        "{suspects} suspects over {prs} PRs"
    );
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 48,
        ..ProptestConfig::default()
    }
}

fn family() -> impl Strategy<Value = Vec<Vec<f64>>> {
    (1usize..6, 8usize..30).prop_flat_map(|(m, k)| {
        prop::collection::vec(
            (-0.06f64..0.06).prop_flat_map(move |shift| {
                prop::collection::vec((-0.02f64..0.02).prop_map(move |e| shift + e), k)
            }),
            m,
        )
    })
}

fn cmp_of(family: &[Vec<f64>]) -> Comparison {
    Comparison {
        benchmarks: family
            .iter()
            .enumerate()
            .map(|(i, lr)| BenchmarkData::paired(format!("b{i}"), lr.clone()))
            .collect(),
        sentinels: Vec::new(),
        health: HealthRecord::default(),
    }
}

fn verdicts(cmp: &Comparison, config: &JudgeConfig) -> Vec<Verdict> {
    judge(cmp, config)
        .unwrap()
        .benchmarks
        .iter()
        .map(|b| b.verdict)
        .collect()
}

proptest! {
    #![proptest_config(config())]

    /// Negating every log-ratio swaps regressions and improvements and nothing else.
    #[test]
    fn mirror_symmetry(f in family()) {
        let flipped: Vec<Vec<f64>> = f.iter().map(|lr| lr.iter().map(|x| -x).collect()).collect();
        let swap = |v: Verdict| match v {
            Verdict::Regression => Verdict::Improvement,
            Verdict::Improvement => Verdict::Regression,
            other => other,
        };
        let a: Vec<Verdict> = verdicts(&cmp_of(&f), &JudgeConfig::default()).into_iter().map(swap).collect();
        prop_assert_eq!(a, verdicts(&cmp_of(&flipped), &JudgeConfig::default()));
    }

    /// Block order does not matter.
    #[test]
    fn block_order_is_irrelevant(f in family()) {
        let reversed: Vec<Vec<f64>> = f.iter().map(|lr| lr.iter().rev().copied().collect()).collect();
        prop_assert_eq!(verdicts(&cmp_of(&f), &JudgeConfig::default()), verdicts(&cmp_of(&reversed), &JudgeConfig::default()));
    }

    /// A regression is always significant after BH and beyond τ; the lower-bound rule flags a
    /// subset of what the point-estimate rule flags.
    #[test]
    fn regressions_satisfy_the_rule(f in family()) {
        let config = JudgeConfig::default();
        let j = judge(&cmp_of(&f), &config).unwrap();
        for b in &j.benchmarks {
            let t = b.timing.as_ref().unwrap();
            if b.verdict == Verdict::Regression {
                prop_assert!(t.p_adjusted.unwrap() <= config.q);
                prop_assert!(t.effect.unwrap().change > t.threshold);
            }
            if t.min_p_value.unwrap() > config.q / j.family_size as f64 {
                prop_assert_eq!(b.verdict, Verdict::Inconclusive);
            }
        }
        let strict = JudgeConfig { effect_rule: EffectRule::LowerBound, ..JudgeConfig::default() };
        for (s, p) in verdicts(&cmp_of(&f), &strict).iter().zip(j.benchmarks.iter().map(|b| b.verdict)) {
            if *s == Verdict::Regression {
                prop_assert_eq!(p, Verdict::Regression);
            }
        }
    }

    /// Making one benchmark slower never clears a regression anywhere in the family.
    #[test]
    fn slowing_down_is_monotone(f in family(), which in any::<prop::sample::Index>(), bump in 0.0f64..0.05) {
        let before = verdicts(&cmp_of(&f), &JudgeConfig::default());
        let mut slower = f.clone();
        let i = which.index(slower.len());
        slower[i].iter_mut().for_each(|x| *x += bump);
        let after = verdicts(&cmp_of(&slower), &JudgeConfig::default());
        for (b, a) in before.iter().zip(&after) {
            if *b == Verdict::Regression {
                prop_assert_eq!(*a, Verdict::Regression);
            }
        }
    }
}
