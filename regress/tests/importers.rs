//! Importers against the fixture files in `tests/data/`, end to end through judge and report.

use std::path::{Path, PathBuf};

use dyno_regress::import::{criterion, csv, record};
use dyno_regress::{
    Comparison, CounterVerdict, JudgeConfig, Outcome, RegressError, Report, ReportContext, Timing,
    Verdict, judge,
};
use dyno_stats::record::{HealthRecord, RunRecord, Side};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

#[test]
fn criterion_tree_reads_raw_samples() {
    let new = criterion::read_tree(&data("criterion"), "new").unwrap();
    let ids: Vec<&str> = new.iter().map(|b| b.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "cpu/logits_mask/f32/v32000",
            "cpu/paged_attention/f32/b8_h32_d128_ctx2048",
            "cpu/sampling/top_k",
            "sentinel/noop"
        ]
    );
    let mask = &new[0];
    assert_eq!(mask.sampling_mode, "Linear");
    assert_eq!(mask.throughput, Some(criterion::Throughput::Bytes(132_000)));
    assert_eq!(mask.per_iteration_ns.len(), 10);
    // per-iteration times are times / iters, around 1234.5 * 1.03 ns
    assert!(
        (mask.block_time_ns() / (1234.5 * 1.03) - 1.0).abs() < 0.02,
        "{}",
        mask.block_time_ns()
    );
    assert!((mask.estimates.median.point_estimate / mask.block_time_ns() - 1.0).abs() < 1e-3);
    assert_eq!(
        new[2].throughput,
        Some(criterion::Throughput::Elements(32_000))
    );
    assert_eq!(new[2].sampling_mode, "Flat");
    assert!(new[2].estimates.slope.is_none());

    let base = criterion::read_tree(&data("criterion"), "base").unwrap();
    assert_eq!(base.len(), 3);
}

#[test]
fn one_criterion_run_per_side_is_one_block_and_cannot_decide() {
    let root = data("criterion");
    let mut obs =
        criterion::observations(&criterion::read_tree(&root, "base").unwrap(), Side::Base, 0);
    obs.extend(criterion::observations(
        &criterion::read_tree(&root, "new").unwrap(),
        Side::Head,
        0,
    ));
    let cmp = Comparison::from_observations(&obs, HealthRecord::default()).unwrap();
    assert_eq!(
        cmp.benchmark("cpu/paged_attention/f32/b8_h32_d128_ctx2048")
            .unwrap()
            .timing,
        Timing::MissingOn(Side::Base)
    );
    let j = judge(&cmp, &JudgeConfig::default()).unwrap();
    assert_eq!(j.outcome, Outcome::Inconclusive);
    assert_eq!(
        j.benchmark("cpu/logits_mask/f32/v32000").unwrap().verdict,
        Verdict::Inconclusive
    );
    assert_eq!(
        j.benchmark("cpu/paged_attention/f32/b8_h32_d128_ctx2048")
            .unwrap()
            .verdict,
        Verdict::Missing
    );
}

#[test]
fn criterion_blocks_from_repeated_runs_are_judged() {
    // the CLI imports one criterion run per block and side; emulate 16 blocks from the fixture
    let base = criterion::read_tree(&data("criterion"), "base").unwrap();
    let new = criterion::read_tree(&data("criterion"), "new").unwrap();
    let mut obs = Vec::new();
    for block in 0..16u32 {
        let wobble = 1.0 + 0.001 * f64::from(block % 7);
        for o in criterion::observations(&base, Side::Base, block)
            .into_iter()
            .chain(criterion::observations(&new, Side::Head, block))
        {
            obs.push(dyno_regress::Observation {
                value: o.value * wobble,
                ..o
            });
        }
    }
    let j = judge(
        &Comparison::from_observations(&obs, HealthRecord::default()).unwrap(),
        &JudgeConfig::default(),
    )
    .unwrap();
    // the sentinel's two fixture runs differ by chance, so only check the code benchmarks' direction
    let mask = j
        .benchmark("cpu/logits_mask/f32/v32000")
        .unwrap()
        .timing
        .clone()
        .unwrap();
    assert!(
        (mask.effect.unwrap().change - 0.03).abs() < 0.01,
        "{:?}",
        mask.effect
    );
}

#[test]
fn criterion_bad_inputs_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let err = criterion::read_tree(dir.path(), "new")
        .unwrap_err()
        .to_string();
    assert!(err.contains("no criterion results in */new/"), "{err}");
    assert!(
        criterion::read_tree(dir.path(), "report")
            .unwrap_err()
            .to_string()
            .contains("not a result slot")
    );

    let slot = dir.path().join("g/f/new");
    std::fs::create_dir_all(&slot).unwrap();
    let src = data("criterion/cpu_logits_mask/f32/v32000/new");
    for f in ["benchmark.json", "estimates.json", "sample.json"] {
        std::fs::copy(src.join(f), slot.join(f)).unwrap();
    }
    assert_eq!(criterion::read_tree(dir.path(), "new").unwrap().len(), 1);

    std::fs::write(slot.join("sample.json"), "[[1.0, 2.0], [10.0, 20.0]]").unwrap();
    let err = criterion::read_tree(dir.path(), "new")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("sample.json: an `[iters, times]` array is the pre-0.3 format"),
        "{err}"
    );

    std::fs::write(
        slot.join("sample.json"),
        r#"{"sampling_mode":"Flat","iters":[1.0,2.0],"times":[5.0]}"#,
    )
    .unwrap();
    let err = criterion::read_tree(dir.path(), "new")
        .unwrap_err()
        .to_string();
    assert!(err.contains("`iters` has 2 entries and `times` 1"), "{err}");

    std::fs::write(
        slot.join("sample.json"),
        r#"{"sampling_mode":"Flat","iters":[0.0],"times":[5.0]}"#,
    )
    .unwrap();
    let err = criterion::read_tree(dir.path(), "new")
        .unwrap_err()
        .to_string();
    assert!(err.contains("sample 0: iters = 0"), "{err}");

    std::fs::copy(src.join("sample.json"), slot.join("sample.json")).unwrap();
    std::fs::write(slot.join("estimates.json"), r#"{"Mean": {}}"#).unwrap();
    let err = criterion::read_tree(dir.path(), "new").unwrap_err();
    assert!(matches!(err, RegressError::Criterion { .. }));
    assert!(
        err.to_string().contains("missing field `mean`")
            && err.to_string().contains("criterion 0.3 or later"),
        "{err}"
    );

    // the same id twice in one tree
    std::fs::copy(src.join("estimates.json"), slot.join("estimates.json")).unwrap();
    let twin = dir.path().join("h/new");
    std::fs::create_dir_all(&twin).unwrap();
    for f in ["benchmark.json", "estimates.json", "sample.json"] {
        std::fs::copy(src.join(f), twin.join(f)).unwrap();
    }
    let err = criterion::read_tree(dir.path(), "new")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("benchmark id `cpu/logits_mask/f32/v32000` also appears in"),
        "{err}"
    );
}

#[test]
fn csv_fixture_judges_a_regression_and_a_counter() {
    let obs = csv::read(&data("blocks.csv")).unwrap();
    assert_eq!(obs.len(), 16 * 10); // per block: 3 benchmarks x 2 sides + 2 counters x 2 sides
    let cmp = Comparison::from_observations(
        &obs,
        HealthRecord {
            steal_time_fraction: Some(0.01),
            flags: vec![],
        },
    )
    .unwrap();
    assert_eq!(cmp.sentinels.len(), 1);
    let j = judge(&cmp, &JudgeConfig::default()).unwrap();
    assert!(j.environment.trusted, "{:?}", j.environment);
    let mask = j.benchmark("cpu/logits_mask/f32/v32000").unwrap();
    assert_eq!(mask.verdict, Verdict::Regression);
    let change = mask.timing.as_ref().unwrap().effect.unwrap();
    assert!(
        (change.change - 0.05).abs() < 0.005 && change.ci_lower < 0.05 && change.ci_upper > 0.05,
        "{change:?}"
    );
    let top_k = j.benchmark("cpu/sampling/top_k").unwrap();
    assert_eq!(
        top_k.timing.as_ref().unwrap().verdict,
        Verdict::NoRegression
    );
    assert_eq!(
        top_k.verdict,
        Verdict::Regression,
        "allocations rose from 3 to 5"
    );
    let allocs = top_k
        .counters
        .iter()
        .find(|c| c.name == "allocations")
        .unwrap();
    assert_eq!(
        (allocs.base, allocs.head, allocs.verdict),
        (Some(3), Some(5), CounterVerdict::Increased)
    );
    assert_eq!(j.exit_code(), 1);

    let report = Report::new(
        j,
        ReportContext {
            title: "dyno regress".into(),
            suite: Some("kernels".into()),
            base: Some("abc123".into()),
            head: Some("def456".into()),
            profile: None,
        },
    );
    let md = report.to_markdown();
    assert!(
        md.starts_with("### dyno regress: **regression** (exit 1)"),
        "{md}"
    );
    assert!(
        md.contains("base `abc123` → head `def456` · suite `kernels`"),
        "{md}"
    );
    assert!(
        md.contains("| `cpu/logits_mask/f32/v32000` | +4.82 % | [+4.52 %, +5.15 %] | ±1.00 % |"),
        "{md}"
    );
    assert!(md.contains("- sentinel `sentinel/noop`: "), "{md}");
    assert!(
        md.contains("`cpu/sampling/top_k` `allocations`: 3 → 5 (increased)"),
        "{md}"
    );
    assert!(md.contains("steal time 1.00 %"), "{md}");
    let json = report.to_json().unwrap();
    let back: Report = serde_json::from_str(&json).unwrap();
    assert_eq!(back, report);
    assert!(json.contains("\"verdict\": \"regression\""));
}

#[test]
fn run_record_fixture_passes_an_unchanged_run() {
    let rec = RunRecord::read(&data("run_ab.json")).unwrap();
    let cmp = record::comparison_from_record(&rec).unwrap();
    assert_eq!(cmp.health.steal_time_fraction, Some(0.004));
    let mask = cmp.benchmark("cpu/logits_mask/f32/v32000").unwrap();
    let Timing::Paired(lr) = &mask.timing else {
        panic!()
    };
    assert_eq!(lr.len(), 14);
    assert_eq!(mask.counters[0].name, "bytes_moved");
    let j = judge(&cmp, &JudgeConfig::default()).unwrap();
    assert_eq!(
        (j.outcome, j.exit_code()),
        (Outcome::NoRegression, 0),
        "{j:#?}"
    );
}

#[test]
fn two_single_revision_records_are_compared_and_must_match() {
    let mut base = RunRecord::read(&data("run_ab.json")).unwrap();
    base.samples.retain(|s| s.side == Some(Side::Base));
    let mut head = RunRecord::read(&data("run_ab.json")).unwrap();
    head.samples.retain(|s| s.side == Some(Side::Head));
    for s in base.samples.iter_mut().chain(head.samples.iter_mut()) {
        s.side = None;
    }
    let cmp = record::comparison_from_pair(&base, &head).unwrap();
    assert_eq!(cmp.benchmarks.len(), 1);
    // an A/B record needs sides
    let err = record::observations(&base).unwrap_err().to_string();
    assert!(err.contains("has no `side`"), "{err}");

    head.machine.logical_cores = 4;
    let err = record::comparison_from_pair(&base, &head)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("machine profiles differ") && err.contains("logical_cores: \"2\" vs \"4\""),
        "{err}"
    );
    head.machine.logical_cores = 2;
    head.suite = "engine".into();
    let err = record::comparison_from_pair(&base, &head)
        .unwrap_err()
        .to_string();
    assert!(err.contains("compare runs of the same suite"), "{err}");
}

#[test]
fn record_series_that_are_not_time_or_counters_are_rejected() {
    let mut rec = RunRecord::read(&data("run_ab.json")).unwrap();
    rec.samples[0].metric = "ttft".into();
    let err = record::observations(&rec).unwrap_err().to_string();
    assert!(
        err.contains("series `ttft` (unit `us`) is neither `time` nor a counter"),
        "{err}"
    );
    let mut rec = RunRecord::read(&data("run_ab.json")).unwrap();
    let counter = rec
        .samples
        .iter_mut()
        .find(|s| s.metric == "bytes_moved")
        .unwrap();
    counter.values = vec![1.0, 2.0];
    let err = record::observations(&rec).unwrap_err().to_string();
    assert!(
        err.contains("counter `bytes_moved` has values 1 and 2"),
        "{err}"
    );
}
