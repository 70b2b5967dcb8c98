//! `burstgpt`: a CSV in BurstGPT's column layout (the real trace is not available offline).

mod dataset_support;

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use dataset_support::{ByteTokenizer, assert_sequential_ids, text, write};
use dyno_bench::dataset::{
    BenchTokenizer, DatasetArgs, DatasetError, DatasetName, Location, sample,
};

const HEADER: &str = "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n";

/// Three GPT-4 rows survive: (7 s, 30 → 10), (12 s, 8 → 4), (20.5 s, 50 → 25).
const ROWS: &str = "\
5,ChatGPT,100,20,120,Conversation log
7,GPT-4,30,10,40,Conversation log
9,GPT-4,12,0,12,Conversation log
12,GPT-4,8,4,12,API log
20.5,GPT-4,50,25,75,Conversation log
";

fn trace(dir: &Path, rows: &str) -> PathBuf {
    write(dir, "burstgpt.csv", &format!("{HEADER}{rows}"))
}

fn args(path: &Path, num_prompts: usize) -> DatasetArgs {
    let mut args = DatasetArgs::new(DatasetName::BurstGpt);
    args.path = Some(path.to_owned());
    args.num_prompts = num_prompts;
    args
}

/// (prompt_len, output, timestamp) of each request.
fn shapes(requests: &[dyno_bench::dataset::SampleRequest]) -> Vec<(usize, usize, Option<f64>)> {
    requests
        .iter()
        .map(|r| (r.prompt_len, r.expected_output_len, r.timestamp))
        .collect()
}

#[test]
fn keeps_gpt4_rows_with_responses_without_timestamps_unless_replayed() {
    let dir = tempfile::tempdir().unwrap();
    let tok = ByteTokenizer::default();
    let path = trace(dir.path(), ROWS);
    let requests = sample(&args(&path, 3), &tok).unwrap();
    assert_sequential_ids(&requests, "burstgpt-");
    let mut got = shapes(&requests);
    got.sort_by_key(|s| s.0);
    assert_eq!(got, [(8, 4, None), (30, 10, None), (50, 25, None)]);

    let mut replayed = args(&path, 3);
    replayed.replay.self_timed = Some(true);
    let requests = sample(&replayed, &tok).unwrap();
    assert_sequential_ids(&requests, "burstgpt-");
    assert_eq!(
        shapes(&requests),
        [(30, 10, Some(0.0)), (8, 4, Some(5.0)), (50, 25, Some(13.5))],
        "in time order, relative to the first kept row"
    );
}

#[test]
fn replay_takes_the_first_rows_and_scales_their_times() {
    let dir = tempfile::tempdir().unwrap();
    let rows: String = (0..40)
        .map(|i| format!("{},GPT-4,{},1,0,Conversation log\n", 100 + 2 * i, 10 + i))
        .collect();
    let path = trace(dir.path(), &rows);
    let mut a = args(&path, 4);
    a.replay.self_timed = Some(true);
    a.replay.time_scale = 0.25;
    let got = shapes(&sample(&a, &ByteTokenizer::default()).unwrap());
    assert_eq!(
        got,
        [
            (10, 1, Some(0.0)),
            (11, 1, Some(0.5)),
            (12, 1, Some(1.0)),
            (13, 1, Some(1.5))
        ]
    );
    // More than the trace holds: every row once, never repeated arrival times.
    a.num_prompts = 100;
    assert_eq!(sample(&a, &ByteTokenizer::default()).unwrap().len(), 40);
}

#[test]
fn prompts_are_the_decoded_id_runs_vllm_sends() {
    let dir = tempfile::tempdir().unwrap();
    let tok = ByteTokenizer::default();
    let requests = sample(&args(&trace(dir.path(), ROWS), 3), &tok).unwrap();
    for (i, r) in requests.iter().enumerate() {
        let ids: Vec<u32> = (0..r.prompt_len).map(|j| ((i + j) % 259) as u32).collect();
        assert_eq!(text(r), tok.decode(&ids), "{}", r.request_id);
    }
}

#[test]
fn more_requests_than_rows_draws_with_replacement_unless_no_oversample() {
    let dir = tempfile::tempdir().unwrap();
    let path = trace(dir.path(), ROWS);
    let tok = ByteTokenizer::default();
    let requests = sample(&args(&path, 12), &tok).unwrap();
    assert_eq!(requests.len(), 12);
    let ids: HashSet<&str> = requests.iter().map(|r| r.request_id.as_str()).collect();
    assert_eq!(ids.len(), 12);
    let kept = [(30, 10), (8, 4), (50, 25)];
    assert!(
        shapes(&requests)
            .iter()
            .all(|&(p, o, _)| kept.contains(&(p, o)))
    );

    let mut a = args(&path, 12);
    a.no_oversample = true;
    let mut all: Vec<usize> = sample(&a, &tok)
        .unwrap()
        .iter()
        .map(|r| r.prompt_len)
        .collect();
    all.sort_unstable();
    assert_eq!(all, [8, 30, 50]);
}

#[test]
fn sampling_follows_the_seed() {
    let dir = tempfile::tempdir().unwrap();
    let rows: String = (0..40)
        .map(|i| format!("{i},GPT-4,{},{},0,Conversation log\n", 10 + i, 1 + i))
        .collect();
    let path = trace(dir.path(), &rows);
    let tok = ByteTokenizer::default();
    let mut a = args(&path, 10);
    let first = sample(&a, &tok).unwrap();
    assert_eq!(first, sample(&a, &tok).unwrap());
    let lens: HashSet<usize> = first.iter().map(|r| r.prompt_len).collect();
    assert_eq!(lens.len(), 10, "without replacement while rows suffice");
    a.seed = 3;
    assert_ne!(first, sample(&a, &tok).unwrap());
}

#[test]
fn columns_are_found_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let csv = "Log Type,Response tokens,Model,Timestamp,Request tokens,Total tokens\n\
               API log,6,GPT-4,3.5,11,17\n";
    let path = write(dir.path(), "reordered.csv", csv);
    let requests = sample(&args(&path, 1), &ByteTokenizer::default()).unwrap();
    assert_eq!(shapes(&requests), [(11, 6, None)]);
}

#[test]
fn malformed_csv_names_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let tok = ByteTokenizer::default();
    let cases = [
        (
            format!("{HEADER}7,GPT-4,30,10,40,x\n9,GPT-4,lots,10,40,x\n"),
            Location::Line(3),
            "`Request tokens` is `lots`",
        ),
        (
            format!("{HEADER}7,GPT-4,30,10,40,x\n9,GPT-4,30\n"),
            Location::Line(3),
            "invalid CSV",
        ),
        (
            format!("{HEADER}7,GPT-4,3.5,10,40,x\n"),
            Location::Line(2),
            "not a token count",
        ),
        (
            "Timestamp,Request tokens,Response tokens\n1,2,3\n".to_owned(),
            Location::Header,
            "no `Model` column",
        ),
    ];
    for (i, (contents, location, needle)) in cases.iter().enumerate() {
        let path = write(dir.path(), &format!("case{i}.csv"), contents);
        let err = sample(&args(&path, 1), &tok).unwrap_err();
        let DatasetError::Malformed { at, .. } = &err else {
            panic!("case {i}: expected Malformed, got {err}");
        };
        assert_eq!(at, location, "case {i}: {err}");
        let message = err.to_string();
        assert!(message.contains(needle), "case {i}: {message}");
        assert!(
            message.contains(&format!("case{i}.csv {location}")),
            "case {i}: {message}"
        );
        assert!(
            message.contains("expected BurstGPT CSV columns"),
            "case {i}: {message}"
        );
    }
}

#[test]
fn a_trace_without_usable_rows_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = trace(dir.path(), "1,ChatGPT,10,10,20,x\n2,GPT-4,10,0,10,x\n");
    let err = sample(&args(&path, 1), &ByteTokenizer::default()).unwrap_err();
    assert!(matches!(err, DatasetError::NoUsableRows { .. }), "{err}");
    assert!(err.to_string().contains("GPT-4"), "{err}");
}
