//! Property tests (proptest) of the statistics' algebraic guarantees.

use dyno_stats::{
    Alternative, BootstrapConfig, SignedRank, WalshAverages, benjamini_hochberg, bootstrap_ci,
};
use proptest::prelude::*;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 96,
        ..ProptestConfig::default()
    }
}

/// Brute-force one-sided tail probabilities of the signed-rank statistic with zeros dropped and
/// mid-ranks for ties: enumerate every sign pattern.
fn enumerated_p(diffs: &[f64]) -> (f64, f64) {
    let nz: Vec<f64> = diffs.iter().copied().filter(|&d| d != 0.0).collect();
    if nz.is_empty() {
        return (1.0, 1.0);
    }
    let abs: Vec<f64> = nz.iter().map(|d| d.abs()).collect();
    let midrank = |a: f64| {
        let below = abs.iter().filter(|&&b| b < a).count() as f64;
        let equal = abs.iter().filter(|&&b| b == a).count() as f64;
        below + (equal + 1.0) / 2.0
    };
    let ranks: Vec<f64> = abs.iter().map(|&a| midrank(a)).collect();
    let observed: f64 = ranks
        .iter()
        .zip(&nz)
        .filter(|(_, d)| **d > 0.0)
        .map(|(r, _)| r)
        .sum();
    let n = nz.len();
    let (mut ge, mut le) = (0u32, 0u32);
    for mask in 0u32..(1 << n) {
        let s: f64 = (0..n)
            .filter(|i| mask >> i & 1 == 1)
            .map(|i| ranks[i])
            .sum();
        ge += u32::from(s >= observed - 1e-9);
        le += u32::from(s <= observed + 1e-9);
    }
    let total = f64::from(1u32 << n);
    (f64::from(ge) / total, f64::from(le) / total)
}

proptest! {
    #![proptest_config(config())]

    /// Exact signed-rank p-values equal brute-force enumeration for tiny n, ties and zeros
    /// included (values drawn from a small integer grid so ties are common).
    #[test]
    fn exact_signed_rank_equals_enumeration(diffs in prop::collection::vec(-4i32..=4, 1..=11)) {
        let d: Vec<f64> = diffs.iter().map(|&x| f64::from(x)).collect();
        let t = SignedRank::test(&d).unwrap();
        let (ge, le) = enumerated_p(&d);
        prop_assert!((t.p_value(Alternative::Greater) - ge).abs() < 1e-12);
        prop_assert!((t.p_value(Alternative::Less) - le).abs() < 1e-12);
        prop_assert!(t.p_value(Alternative::Greater) >= t.min_p_value(Alternative::Greater) - 1e-15);
    }

    /// For data symmetric about 0, shifted by `delta`, the HL estimate is exactly `delta` and
    /// every interval contains it.
    #[test]
    fn hodges_lehmann_recovers_the_shift_of_symmetric_data(
        half in prop::collection::vec(0.001f64..10.0, 1..20),
        delta in -5.0f64..5.0,
        with_center in any::<bool>(),
    ) {
        let mut d: Vec<f64> = half.iter().flat_map(|&a| [delta + a, delta - a]).collect();
        if with_center {
            d.push(delta);
        }
        let w = WalshAverages::new(&d).unwrap();
        prop_assert!((w.estimate() - delta).abs() < 1e-9, "estimate {} vs {}", w.estimate(), delta);
        let hl = w.interval(0.9).unwrap();
        prop_assert!(hl.ci.lower <= hl.estimate && hl.estimate <= hl.ci.upper);
    }

    /// A shift moves the HL estimate and bounds by exactly that shift (equivariance).
    #[test]
    fn hodges_lehmann_is_shift_equivariant(d in prop::collection::vec(-1.0f64..1.0, 2..30), shift in -1.0f64..1.0) {
        let a = WalshAverages::new(&d).unwrap().interval(0.95).unwrap();
        let moved: Vec<f64> = d.iter().map(|x| x + shift).collect();
        let b = WalshAverages::new(&moved).unwrap().interval(0.95).unwrap();
        prop_assert!((b.estimate - a.estimate - shift).abs() < 1e-9);
        prop_assert!((b.ci.lower - a.ci.lower - shift).abs() < 1e-9);
        prop_assert!((b.ci.upper - a.ci.upper - shift).abs() < 1e-9);
    }

    /// Adding the same constant to every difference in the positive direction never raises
    /// the one-sided "greater" p-value (monotonicity in the effect).
    #[test]
    fn signed_rank_is_monotone_in_the_shift(d in prop::collection::vec(-1.0f64..1.0, 3..40), bump in 0.0f64..0.5) {
        let base = SignedRank::test(&d).unwrap().p_value(Alternative::Greater);
        let moved: Vec<f64> = d.iter().map(|x| x + bump).collect();
        let p = SignedRank::test(&moved).unwrap().p_value(Alternative::Greater);
        prop_assert!(p <= base + 1e-12, "{p} > {base}");
    }

    /// BH adjusted values are in [0, 1], at least the raw p, and monotone in the raw p.
    #[test]
    fn benjamini_hochberg_is_monotone(p in prop::collection::vec(0.0f64..=1.0, 1..60)) {
        let adj = benjamini_hochberg(&p).unwrap();
        for i in 0..p.len() {
            prop_assert!(adj[i] >= p[i] - 1e-15 && adj[i] <= 1.0);
            for j in 0..p.len() {
                if p[i] <= p[j] {
                    prop_assert!(adj[i] <= adj[j] + 1e-15);
                }
            }
        }
    }

    /// The bootstrap is a pure function of data and seed, and its interval lies within the
    /// range of the statistic's possible values.
    #[test]
    fn bootstrap_is_deterministic(data in prop::collection::vec(-100.0f64..100.0, 1..25), seed in any::<u64>()) {
        let config = BootstrapConfig { resamples: 200, level: 0.9, seed };
        let mean = |x: &[f64]| x.iter().sum::<f64>() / x.len() as f64;
        let a = bootstrap_ci(&data, mean, &config).unwrap();
        prop_assert_eq!(a, bootstrap_ci(&data, mean, &config).unwrap());
        let (lo, hi) = data.iter().fold((f64::MAX, f64::MIN), |(l, h), &x| (l.min(x), h.max(x)));
        prop_assert!(a.ci.lower >= lo - 1e-9 && a.ci.upper <= hi + 1e-9 && a.ci.lower <= a.ci.upper);
    }
}
