//! Baseline files, their history, and the long-horizon check; corrupt and mismatched inputs.

use std::collections::BTreeMap;
use std::path::Path;

use dyno_regress::baseline::{self, Baseline, BaselineEntry};
use dyno_regress::{
    BenchmarkData, Comparison, CounterPair, HorizonConfig, JudgeConfig, Outcome, RegressError,
    Verdict, horizon, judge,
};
use dyno_stats::StatsError;
use dyno_stats::record::{HealthRecord, MachineFacts, MachineProfile, RunRecord};

fn profile(cores: u32) -> MachineProfile {
    MachineProfile::from_facts(&MachineFacts {
        arch: "x86_64".into(),
        cpu_model: "AMD EPYC 7763 64-Core Processor".into(),
        cpu_flags: vec!["avx2".into(), "fma".into()],
        logical_cores: cores,
        kernel_release: "6.8.0-45-generic".into(),
        toolchain: "rustc 1.95.0 (f2d3ce0bd 2026-03-21)".into(),
    })
}

fn sample_baseline() -> Baseline {
    let mut b = Baseline::new("kernels", profile(2), "0123abcd", 1_777_636_800);
    b.benchmarks.insert(
        "cpu/logits_mask/f32/v32000".into(),
        BaselineEntry {
            median_ns: Some(1234.5),
            mad_ns: Some(3.1),
            noise: Some(0.008),
            counters: BTreeMap::from([("bytes_moved".into(), 132_000)]),
        },
    );
    b.benchmarks.insert(
        "cpu/sampling/top_k".into(),
        BaselineEntry {
            median_ns: Some(48_210.0),
            ..BaselineEntry::default()
        },
    );
    b
}

#[test]
fn save_and_load_round_trip_under_the_profile_key() {
    let root = tempfile::tempdir().unwrap();
    let b = sample_baseline();
    let path = b.save(root.path()).unwrap();
    assert_eq!(
        path,
        root.path().join(profile(2).key()).join("kernels.json")
    );
    assert_eq!(
        Baseline::load(root.path(), &profile(2), "kernels").unwrap(),
        b
    );
    // the calibrated noise feeds the thresholds
    let config = JudgeConfig {
        noise: b.noise_model(),
        ..JudgeConfig::default()
    };
    assert_eq!(
        config.threshold("cpu/logits_mask/f32/v32000"),
        (0.016, Some(0.008))
    );
    assert_eq!(config.threshold("cpu/sampling/top_k"), (0.01, None));
}

#[test]
fn bad_baselines_are_errors_never_passes() {
    let root = tempfile::tempdir().unwrap();
    let path = sample_baseline().save(root.path()).unwrap();
    let load = || Baseline::load(root.path(), &profile(2), "kernels");

    // a different machine
    let err = Baseline::load(root.path(), &profile(4), "kernels").unwrap_err();
    assert!(
        matches!(err, RegressError::Stats(StatsError::Io { .. })),
        "{err}"
    );
    let mut foreign = sample_baseline();
    foreign.profile = profile(4);
    std::fs::write(&path, serde_json::to_string(&foreign).unwrap()).unwrap();
    let err = load().unwrap_err().to_string();
    assert!(
        err.contains("machine profiles differ") && err.contains("logical_cores: \"2\" vs \"4\""),
        "{err}"
    );

    // another suite copied over this one
    let mut other = sample_baseline();
    other.suite = "engine".into();
    std::fs::write(&path, serde_json::to_string(&other).unwrap()).unwrap();
    assert!(
        load()
            .unwrap_err()
            .to_string()
            .contains("holds suite `engine`, not `kernels`")
    );

    // corrupt JSON, wrong schema, unknown field, nonsense values
    std::fs::write(&path, "{\"schema_version\": 1, \"suite\": \"kern").unwrap();
    let err = load().unwrap_err().to_string();
    assert!(
        err.contains("kernels.json: not a valid baseline (line 1"),
        "{err}"
    );
    let mut json = serde_json::to_value(sample_baseline()).unwrap();
    json["schema_version"] = 2.into();
    std::fs::write(&path, json.to_string()).unwrap();
    assert!(
        load()
            .unwrap_err()
            .to_string()
            .contains("schema_version 2 is not supported (this build reads version 1)")
    );
    json["schema_version"] = 1.into();
    json["benchmarks"]["cpu/sampling/top_k"]["noize"] = 0.1.into();
    std::fs::write(&path, json.to_string()).unwrap();
    assert!(
        load()
            .unwrap_err()
            .to_string()
            .contains("unknown field `noize`")
    );
    json["benchmarks"]["cpu/sampling/top_k"]
        .as_object_mut()
        .unwrap()
        .remove("noize");
    json["benchmarks"]["cpu/sampling/top_k"]["noise"] = (-0.1).into();
    std::fs::write(&path, json.to_string()).unwrap();
    let err = load().unwrap_err().to_string();
    assert!(
        err.contains(
            "benchmark `cpu/sampling/top_k`: `noise` = -0.1 must be a finite non-negative number"
        ),
        "{err}"
    );

    assert!(
        Baseline::load(root.path(), &profile(2), "../etc")
            .unwrap_err()
            .to_string()
            .contains("invalid suite name")
    );
}

#[test]
fn update_records_releases_appends_history_and_keeps_noise() {
    let root = tempfile::tempdir().unwrap();
    baseline::update(root.path(), sample_baseline(), Some("v0.1.0")).unwrap();
    let mut next = sample_baseline();
    next.commit = "4567cdef".into();
    next.benchmarks
        .get_mut("cpu/logits_mask/f32/v32000")
        .unwrap()
        .noise = None;
    next.benchmarks
        .get_mut("cpu/logits_mask/f32/v32000")
        .unwrap()
        .median_ns = Some(1240.0);
    let path = baseline::update(root.path(), next, None).unwrap();

    let stored = Baseline::read(&path).unwrap();
    assert_eq!(stored.tag, None);
    assert_eq!(stored.commit, "4567cdef");
    assert_eq!(
        stored.benchmarks["cpu/logits_mask/f32/v32000"].noise,
        Some(0.008),
        "noise carried over"
    );

    let history = baseline::read_history(root.path(), &profile(2), "kernels").unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[0].tag.as_deref(), Some("v0.1.0"));
    assert_eq!(history[1].medians_ns["cpu/logits_mask/f32/v32000"], 1240.0);

    assert!(
        baseline::update(root.path(), sample_baseline(), Some("v 1"))
            .unwrap_err()
            .to_string()
            .contains("release tag")
    );
    std::fs::write(&path, "garbage").unwrap();
    let err = baseline::update(root.path(), sample_baseline(), Some("v0.2.0"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("not a valid baseline"),
        "a corrupt previous baseline is not overwritten silently: {err}"
    );
    let hist = Baseline::history_path(root.path(), &profile(2), "kernels");
    std::fs::write(&hist, "{\"nope\": 1}\n").unwrap();
    let err = baseline::read_history(root.path(), &profile(2), "kernels")
        .unwrap_err()
        .to_string();
    assert!(err.contains("history line 1"), "{err}");
}

#[test]
fn baseline_from_a_single_revision_record() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/run_ab.json");
    let rec = RunRecord::read(&path).unwrap();
    let b = Baseline::from_record(&rec).unwrap();
    let mask = &b.benchmarks["cpu/logits_mask/f32/v32000"];
    // values in µs around 1.2345 -> ns (head side only)
    assert!(
        (mask.median_ns.unwrap() / 1234.5 - 1.0).abs() < 0.03,
        "{mask:?}"
    );
    assert_eq!(mask.counters["bytes_moved"], 132_000);
    assert_eq!(b.profile, rec.machine);
    assert_eq!(b.tag, None);
}

fn jitter(k: usize) -> f64 {
    (k as f64 * 0.618_033_988_75).fract() - 0.5
}

#[test]
fn horizon_checks_cumulative_creep_against_the_release() {
    let mut release = sample_baseline();
    release.tag = Some("v0.1.0".into());
    let lr = |shift: f64, phase: usize| {
        (0..20)
            .map(|i| shift + 0.004 * jitter(i + phase))
            .collect::<Vec<_>>()
    };
    let mut mask = BenchmarkData::paired("cpu/logits_mask/f32/v32000", lr(0.02, 0));
    mask.counters.push(CounterPair {
        name: "bytes_moved".into(),
        base: None,
        head: Some(132_000),
    });
    let head = Comparison {
        benchmarks: vec![
            mask,
            BenchmarkData::paired("cpu/sampling/top_k", lr(0.045, 3)),
        ],
        sentinels: Vec::new(),
        health: HealthRecord::default(),
    };
    let j = horizon::check(&release, &head, &HorizonConfig::default()).unwrap();
    // +2 % is within the 3 % budget, +4.5 % is not
    let mask = j.benchmark("cpu/logits_mask/f32/v32000").unwrap();
    assert_eq!(mask.verdict, Verdict::NoRegression, "{mask:?}");
    assert_eq!(
        mask.counters[0].base,
        Some(132_000),
        "counters come from the baseline"
    );
    assert_eq!(
        j.benchmark("cpu/sampling/top_k").unwrap().verdict,
        Verdict::Regression
    );
    assert_eq!(
        j.benchmark("cpu/sampling/top_k")
            .unwrap()
            .timing
            .as_ref()
            .unwrap()
            .threshold,
        0.03
    );
    assert!(j.notes[0].contains("against release v0.1.0: cumulative budget 3.0 %"));

    // a benchmark of the release that HEAD no longer has is an explicit missing row
    let only_mask = Comparison {
        benchmarks: vec![head.benchmarks[0].clone()],
        ..head.clone()
    };
    let j = horizon::check(&release, &only_mask, &HorizonConfig::default()).unwrap();
    assert_eq!(
        j.benchmark("cpu/sampling/top_k").unwrap().verdict,
        Verdict::Missing
    );

    // a counter above the release value fails regardless of timing
    let mut grown = head.clone();
    grown.benchmarks[0].counters[0].head = Some(140_000);
    let j = horizon::check(
        &release,
        &grown,
        &HorizonConfig {
            budget: 0.5,
            ..HorizonConfig::default()
        },
    )
    .unwrap();
    assert_eq!(
        (
            j.outcome,
            j.benchmark("cpu/logits_mask/f32/v32000").unwrap().verdict
        ),
        (Outcome::Regression, Verdict::Regression)
    );

    release.tag = None;
    let err = horizon::check(&release, &head, &HorizonConfig::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("not a release (no `tag`)"), "{err}");
    // same data judged per-PR (τ = 1 %) would flag both
    assert_eq!(
        judge(&head, &JudgeConfig::default())
            .unwrap()
            .ids_with(Verdict::Regression)
            .len(),
        2
    );
}
