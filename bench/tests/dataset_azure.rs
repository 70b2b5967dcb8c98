//! `azure`: the real Azure LLM inference trace 2023 CSVs, replayed or sampled.

mod dataset_support;

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use dataset_support::{ByteTokenizer, assert_sequential_ids, shared_file, text, write};
use dyno_bench::dataset::{
    BenchTokenizer, DatasetArgs, DatasetError, DatasetName, Location, sample,
};

fn code_trace() -> PathBuf {
    shared_file("traces/azure_llm_2023/AzureLLMInferenceTrace_code.csv")
}

fn args(path: &Path, num_prompts: usize) -> DatasetArgs {
    let mut args = DatasetArgs::new(DatasetName::Azure);
    args.path = Some(path.to_owned());
    args.num_prompts = num_prompts;
    args
}

#[test]
fn replay_follows_the_first_rows_relative_to_the_first_row() {
    let mut a = args(&code_trace(), 100);
    a.replay.self_timed = Some(true);
    let tok = ByteTokenizer::default();
    let requests = sample(&a, &tok).unwrap();
    assert_eq!(requests.len(), 100);
    assert_sequential_ids(&requests, "azure-");
    // The file's first rows: 18:17:03.9799600 (4808 → 10), 18:17:04.0319600 (3180 → 8),
    // 18:17:04.0781490 (110 → 27).
    let head: Vec<(usize, usize, f64)> = requests[..3]
        .iter()
        .map(|r| (r.prompt_len, r.expected_output_len, r.timestamp.unwrap()))
        .collect();
    let expected = [(4808, 10, 0.0), (3180, 8, 0.052), (110, 27, 0.098_189)];
    for ((len, out, t), (want_len, want_out, want_t)) in head.iter().zip(expected) {
        assert_eq!((*len, *out), (want_len, want_out));
        assert!((t - want_t).abs() < 1e-6, "{t} != {want_t}");
    }
    let times: Vec<f64> = requests.iter().map(|r| r.timestamp.unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "in time order");
    // Row 100 is at 18:20:16.1421010: the window spans about 3 minutes of the hour-long trace.
    assert!((times[99] - 192.162_141).abs() < 1e-6, "{}", times[99]);

    // Prompts are the vocabulary-cycling decodings, as burstgpt's.
    let ids: Vec<u32> = (0..110).map(|j| ((2 + j) % 259) as u32).collect();
    assert_eq!(text(&requests[2]), tok.decode(&ids));

    a.replay.time_scale = 0.5;
    let faster = sample(&a, &tok).unwrap();
    for (slow, fast) in requests.iter().zip(&faster) {
        assert!((slow.timestamp.unwrap() * 0.5 - fast.timestamp.unwrap()).abs() < 1e-9);
    }
}

#[test]
fn without_replay_rows_are_sampled_and_carry_no_timestamps() {
    let shared = shared_file("traces/azure_llm_2023/AzureLLMInferenceTrace_conv.csv");
    let tok = ByteTokenizer::default();
    let a = args(&shared, 50);
    let requests = sample(&a, &tok).unwrap();
    assert_eq!(requests.len(), 50);
    assert!(requests.iter().all(|r| r.timestamp.is_none()));
    assert_eq!(requests, sample(&a, &tok).unwrap(), "seeded");
    // A random draw from 19,000 rows, not the first 50.
    let mut b = a.clone();
    b.replay.self_timed = Some(true);
    let window: Vec<usize> = sample(&b, &tok)
        .unwrap()
        .iter()
        .map(|r| r.prompt_len)
        .collect();
    let drawn: Vec<usize> = requests.iter().map(|r| r.prompt_len).collect();
    assert_ne!(window, drawn);
}

#[test]
fn rows_without_tokens_are_dropped_and_columns_found_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "trace.csv",
        "GeneratedTokens,TIMESTAMP,ContextTokens\n\
         5,2023-11-16 18:00:00.5,7\n\
         0,2023-11-16 18:00:01,9\n\
         6,2023-11-16 18:00:02.25,0\n\
         3,2023-11-16 18:00:03,4\n",
    );
    let mut a = args(&path, 5);
    a.replay.self_timed = Some(true);
    let requests = sample(&a, &ByteTokenizer::default()).unwrap();
    let got: Vec<(usize, usize, f64)> = requests
        .iter()
        .map(|r| (r.prompt_len, r.expected_output_len, r.timestamp.unwrap()))
        .collect();
    assert_eq!(got, [(7, 5, 0.0), (4, 3, 2.5)]);

    a.replay.self_timed = None;
    a.no_oversample = true;
    let lens: HashSet<usize> = sample(&a, &ByteTokenizer::default())
        .unwrap()
        .iter()
        .map(|r| r.prompt_len)
        .collect();
    assert_eq!(lens, HashSet::from([7, 4]));
}

#[test]
fn malformed_csv_names_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let header = "TIMESTAMP,ContextTokens,GeneratedTokens\n";
    let good = "2023-11-16 18:17:03.9799600,4808,10\n";
    let cases = [
        (
            format!("{header}{good}16/11/2023 18:17,3180,8\n"),
            Location::Line(3),
            "`TIMESTAMP` is `16/11/2023 18:17`, not a date-time",
        ),
        (
            format!("{header}{good}{good}2023-11-16 18:17:04,many,8\n"),
            Location::Line(4),
            "`ContextTokens` is `many`",
        ),
        (
            format!("{header}{good}2023-11-16 18:17:04,5\n"),
            Location::Line(3),
            "invalid CSV",
        ),
        (
            "Timestamp,Model,Request tokens\n1,GPT-4,3\n".to_owned(),
            Location::Header,
            "no `TIMESTAMP` column",
        ),
    ];
    for (i, (contents, location, needle)) in cases.iter().enumerate() {
        let path = write(dir.path(), &format!("case{i}.csv"), contents);
        let err = sample(&args(&path, 1), &ByteTokenizer::default()).unwrap_err();
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
            message.contains("expected Azure LLM inference trace CSV"),
            "case {i}"
        );
    }
}

#[test]
fn replay_is_refused_for_datasets_without_timestamps() {
    let mut a = DatasetArgs::new(DatasetName::Random);
    a.num_prompts = 2;
    a.replay.self_timed = Some(true);
    let err = sample(&a, &ByteTokenizer::default()).unwrap_err();
    assert!(
        matches!(
            err,
            DatasetError::InvalidArgument {
                flag: "--self-timed",
                ..
            }
        ),
        "{err}"
    );
}
