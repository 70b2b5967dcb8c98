//! `custom`: JSONL prompts, per-line output lengths, chat template, oversampling.

mod dataset_support;

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use dataset_support::{ByteTokenizer, assert_sequential_ids, text, write};
use dyno_bench::dataset::{
    BenchTokenizer, CustomOutputLen, DatasetArgs, DatasetError, DatasetName, Location, sample,
};

const LINES: &str = r#"{"prompt": "What is the capital of India?", "output_tokens": 10}
{"prompt": "What is the capital of Iran?", "output_tokens": 1520}

{"prompt": "What is the capital of China?", "output_tokens": 819.0, "extra": true}
"#;

fn file(dir: &Path, contents: &str) -> PathBuf {
    write(dir, "custom.jsonl", contents)
}

fn args(path: &Path, num_prompts: usize) -> DatasetArgs {
    let mut args = DatasetArgs::new(DatasetName::Custom);
    args.path = Some(path.to_owned());
    args.num_prompts = num_prompts;
    args.disable_shuffle = true;
    args
}

#[test]
fn per_line_output_tokens_and_prompts_in_file_order() {
    let dir = tempfile::tempdir().unwrap();
    let tok = ByteTokenizer::default();
    let mut a = args(&file(dir.path(), LINES), 0);
    a.custom_output_len = CustomOutputLen::PerLine;
    let requests = sample(&a, &tok).unwrap();
    assert_sequential_ids(&requests, "custom-");
    let got: Vec<(&str, usize)> = requests
        .iter()
        .map(|r| (text(r), r.expected_output_len))
        .collect();
    assert_eq!(
        got,
        [
            ("What is the capital of India?", 10),
            ("What is the capital of Iran?", 1520),
            ("What is the capital of China?", 819),
        ]
    );
    for r in &requests {
        assert_eq!(r.prompt_len, tok.encode(text(r), true).len());
    }
}

#[test]
fn fixed_output_len_overrides_the_lines() {
    let dir = tempfile::tempdir().unwrap();
    let requests = sample(
        &args(&file(dir.path(), LINES), 0),
        &ByteTokenizer::default(),
    )
    .unwrap();
    assert!(requests.iter().all(|r| r.expected_output_len == 256));
}

#[test]
fn the_chat_template_is_applied_unless_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let tok = ByteTokenizer::with_template();
    let mut a = args(&file(dir.path(), LINES), 1);
    let rendered = sample(&a, &tok).unwrap();
    assert_eq!(
        text(&rendered[0]),
        "<|user|>\nWhat is the capital of India?\n<|assistant|>\n"
    );
    assert_eq!(
        rendered[0].prompt_len,
        tok.encode(text(&rendered[0]), true).len()
    );
    a.skip_chat_template = true;
    let bare = sample(&a, &tok).unwrap();
    assert_eq!(text(&bare[0]), "What is the capital of India?");
}

#[test]
fn shuffled_with_the_seed_and_oversampled_with_unique_ids() {
    let dir = tempfile::tempdir().unwrap();
    let path = file(dir.path(), LINES);
    let tok = ByteTokenizer::default();
    let mut a = args(&path, 8);
    a.disable_shuffle = false;
    let requests = sample(&a, &tok).unwrap();
    assert_eq!(requests.len(), 8);
    assert_sequential_ids(&requests, "custom-");
    let ids: HashSet<&str> = requests.iter().map(|r| r.request_id.as_str()).collect();
    assert_eq!(ids.len(), 8);
    let prompts: HashSet<&str> = requests.iter().map(text).collect();
    assert_eq!(prompts.len(), 3);
    assert_eq!(requests, sample(&a, &tok).unwrap());

    a.no_oversample = true;
    assert_eq!(sample(&a, &tok).unwrap().len(), 3);
}

#[test]
fn malformed_lines_name_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let tok = ByteTokenizer::default();
    let good = r#"{"prompt": "hi", "output_tokens": 3}"#;
    let cases = [
        (
            format!("{good}\n\n{{\"prompt\": \"unterminated}}\n"),
            3,
            "invalid JSON",
        ),
        (format!("{good}\n[1, 2]\n"), 2, "found a list"),
        (
            format!("{good}\n{{\"text\": \"hi\"}}\n"),
            2,
            "no `prompt` field",
        ),
        (
            format!("{good}\n{{\"prompt\": 7}}\n"),
            2,
            "`prompt` is a number",
        ),
        (
            format!("{good}\n{{\"prompt\": \"x\", \"output_tokens\": -4}}\n"),
            2,
            "not a token count",
        ),
        (
            format!("{good}\n{{\"prompt\": \"x\"}}\n"),
            2,
            "--custom-output-len -1 requires",
        ),
    ];
    for (i, (contents, line, needle)) in cases.iter().enumerate() {
        let path = write(dir.path(), &format!("case{i}.jsonl"), contents);
        let mut a = args(&path, 0);
        a.custom_output_len = CustomOutputLen::PerLine;
        let err = sample(&a, &tok).unwrap_err();
        let DatasetError::Malformed { at, .. } = &err else {
            panic!("case {i}: expected Malformed, got {err}");
        };
        let at_line = match at {
            Location::Line(l) | Location::LineColumn { line: l, .. } => *l,
            other => panic!("case {i}: expected a line, got {other}"),
        };
        assert_eq!(at_line, *line, "case {i}: {err}");
        let message = err.to_string();
        assert!(message.contains(needle), "case {i}: {message}");
        assert!(
            message.contains(&format!("case{i}.jsonl line {line}")),
            "case {i}: {message}"
        );
    }
}

#[test]
fn an_empty_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let err = sample(
        &args(&file(dir.path(), "\n\n"), 0),
        &ByteTokenizer::default(),
    )
    .unwrap_err();
    assert!(matches!(err, DatasetError::NoUsableRows { .. }), "{err}");
}
