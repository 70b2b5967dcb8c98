//! `spec_bench`: Spec-Bench's real `question.jsonl`, category filter, chat template, errors.

mod dataset_support;

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use dataset_support::{ByteTokenizer, assert_sequential_ids, shared_file, text, write};
use dyno_bench::dataset::{
    BenchTokenizer, DatasetArgs, DatasetError, DatasetName, Location, SampleRequest, sample,
};

fn questions() -> PathBuf {
    shared_file("datasets/spec_bench/question.jsonl")
}

fn args(path: &Path, num_prompts: usize) -> DatasetArgs {
    let mut args = DatasetArgs::new(DatasetName::SpecBench);
    args.path = Some(path.to_owned());
    args.num_prompts = num_prompts;
    args
}

/// `turns[0]` of every question of `category` (all when `None`), read independently.
fn first_turns(category: Option<&str>) -> Vec<String> {
    std::fs::read_to_string(questions())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|q| category.is_none_or(|c| q["category"] == c))
        .map(|q| q["turns"][0].as_str().unwrap().to_owned())
        .collect()
}

fn prompts(requests: &[SampleRequest]) -> Vec<String> {
    requests.iter().map(|r| text(r).to_owned()).collect()
}

#[test]
fn zero_prompts_takes_every_question_in_file_order() {
    let mut a = args(&questions(), 0);
    a.disable_shuffle = true;
    a.skip_chat_template = true;
    let tok = ByteTokenizer::default();
    let requests = sample(&a, &tok).unwrap();
    assert_eq!(requests.len(), 480);
    assert_sequential_ids(&requests, "spec_bench-");
    assert_eq!(prompts(&requests), first_turns(None));
    for r in &requests {
        assert_eq!(r.expected_output_len, 256);
        assert_eq!(r.prompt_len, tok.encode(text(r), true).len());
        assert_eq!(r.timestamp, None);
    }
}

#[test]
fn the_category_filter_keeps_only_that_category() {
    let mut a = args(&questions(), 10);
    a.spec_bench.category = Some("coding".to_owned());
    a.skip_chat_template = true;
    let requests = sample(&a, &ByteTokenizer::default()).unwrap();
    let got: HashSet<String> = prompts(&requests).into_iter().collect();
    let coding: HashSet<String> = first_turns(Some("coding")).into_iter().collect();
    assert_eq!(coding.len(), 10);
    assert_eq!(got, coding, "all ten coding questions, shuffled");

    // More than the category holds: oversampled under new ids.
    a.num_prompts = 25;
    let requests = sample(&a, &ByteTokenizer::default()).unwrap();
    assert_eq!(requests.len(), 25);
    assert_sequential_ids(&requests, "spec_bench-");
    assert!(requests.iter().all(|r| coding.contains(text(r))));
    a.no_oversample = true;
    assert_eq!(sample(&a, &ByteTokenizer::default()).unwrap().len(), 10);
}

#[test]
fn an_unknown_category_lists_the_files_categories() {
    let mut a = args(&questions(), 5);
    a.spec_bench.category = Some("poetry".to_owned());
    let err = sample(&a, &ByteTokenizer::default()).unwrap_err();
    assert!(matches!(err, DatasetError::NoUsableRows { .. }), "{err}");
    let message = err.to_string();
    assert!(message.contains("`poetry`"), "{message}");
    assert!(message.contains("math_reasoning"), "{message}");
}

#[test]
fn chat_template_and_output_len_follow_the_flags() {
    let tok = ByteTokenizer::with_template();
    let mut a = args(&questions(), 3);
    a.disable_shuffle = true;
    a.spec_bench.output_len = 64;
    let rendered = sample(&a, &tok).unwrap();
    let first = &first_turns(None)[0];
    assert_eq!(
        text(&rendered[0]),
        format!("<|user|>\n{first}\n<|assistant|>\n")
    );
    assert_eq!(
        rendered[0].prompt_len,
        tok.encode(text(&rendered[0]), true).len()
    );
    assert!(rendered.iter().all(|r| r.expected_output_len == 64));

    a.apply_length_overrides(None, Some(7));
    a.skip_chat_template = true;
    let raw = sample(&a, &tok).unwrap();
    assert_eq!(text(&raw[0]), first);
    assert!(raw.iter().all(|r| r.expected_output_len == 7));
}

#[test]
fn the_seed_shuffles() {
    let a = args(&questions(), 20);
    let tok = ByteTokenizer::default();
    let first = sample(&a, &tok).unwrap();
    assert_eq!(first, sample(&a, &tok).unwrap());
    let mut b = a.clone();
    b.seed = 9;
    assert_ne!(prompts(&first), prompts(&sample(&b, &tok).unwrap()));
}

#[test]
fn malformed_lines_name_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let good = r#"{"question_id": 1, "category": "qa", "turns": ["Why?"]}"#;
    let cases = [
        (
            format!("{good}\n{{\"category\": \"qa\"}}\n"),
            2,
            "no `turns` field",
        ),
        (
            format!("{good}\n\n{{\"category\": \"qa\", \"turns\": []}}\n"),
            3,
            "`turns` is empty",
        ),
        (
            format!("{{\"category\": 3, \"turns\": [\"x\"]}}\n{good}\n"),
            1,
            "`category` is a number",
        ),
        (format!("{good}\n{{\"turns\": [1]}}\n"), 2, "no `category`"),
        (format!("{good}\n{{not json\n"), 2, "invalid JSON"),
    ];
    for (i, (contents, line, needle)) in cases.iter().enumerate() {
        let path = write(dir.path(), &format!("case{i}.jsonl"), contents);
        let err = sample(&args(&path, 1), &ByteTokenizer::default()).unwrap_err();
        let DatasetError::Malformed { at, .. } = &err else {
            panic!("case {i}: expected Malformed, got {err}");
        };
        let at_line = match at {
            Location::Line(l) | Location::LineColumn { line: l, .. } => *l,
            other => panic!("case {i}: {other}"),
        };
        assert_eq!(at_line, *line, "case {i}: {err}");
        let message = err.to_string();
        assert!(message.contains(needle), "case {i}: {message}");
        assert!(
            message.contains(&format!("case{i}.jsonl line {line}")),
            "case {i}: {message}"
        );
        assert!(
            message.contains("expected Spec-Bench JSONL"),
            "case {i}: {message}"
        );
    }
}
