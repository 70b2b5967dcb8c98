//! `hf`: local copies of MT-Bench (the real sample), InstructCoder, AIMO and Blazedit in their
//! published column layouts.

mod dataset_support;

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use dataset_support::{
    ByteTokenizer, CountingTokenizer, assert_sequential_ids, shared_file, text, write,
};
use dyno_bench::dataset::{
    BenchTokenizer, DatasetArgs, DatasetError, DatasetName, Location, SampleRequest, sample,
};

fn args(path: &Path, name: Option<&str>, num_prompts: usize) -> DatasetArgs {
    let mut args = DatasetArgs::new(DatasetName::Hf);
    args.path = Some(path.to_owned());
    args.hf.name = name.map(str::to_owned);
    args.num_prompts = num_prompts;
    args
}

fn mt_bench() -> PathBuf {
    shared_file("datasets/mt_bench/question.jsonl")
}

fn texts(requests: &[SampleRequest]) -> Vec<&str> {
    requests.iter().map(text).collect()
}

#[test]
fn mt_bench_sends_the_first_turn_through_the_chat_template() {
    // The folder name `mt_bench` says which layout it is; no --hf-name needed.
    let mut a = args(&mt_bench(), None, 80);
    a.disable_shuffle = true;
    let tok = ByteTokenizer::with_template();
    let requests = sample(&a, &tok).unwrap();
    assert_eq!(requests.len(), 80);
    assert_sequential_ids(&requests, "hf-");
    let first_turns: Vec<String> = std::fs::read_to_string(mt_bench())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .map(|q| q["turns"][0].as_str().unwrap().to_owned())
        .collect();
    for (r, turn) in requests.iter().zip(&first_turns) {
        assert_eq!(text(r), format!("<|user|>\n{turn}\n<|assistant|>\n"));
        assert_eq!(r.prompt_len, tok.encode(text(r), true).len());
        assert_eq!(r.expected_output_len, 256);
        assert_eq!(r.timestamp, None);
    }

    a.skip_chat_template = true;
    a.hf.output_len = Some(9);
    a.num_prompts = 100;
    let raw = sample(&a, &tok).unwrap();
    assert_eq!(raw.len(), 100, "oversampled past the 80 questions");
    assert_eq!(texts(&raw[..80]), first_turns);
    assert!(raw.iter().all(|r| r.expected_output_len == 9));
}

#[test]
fn rows_are_shuffled_with_the_seed() {
    let tok = ByteTokenizer::default();
    let mut a = args(&mt_bench(), Some("philschmid/mt-bench"), 80);
    let one = sample(&a, &tok).unwrap();
    assert_eq!(one, sample(&a, &tok).unwrap());
    a.disable_shuffle = true;
    let ordered = sample(&a, &tok).unwrap();
    assert_ne!(texts(&one), texts(&ordered));
    let set = |r: &[SampleRequest]| {
        texts(r)
            .into_iter()
            .map(str::to_owned)
            .collect::<HashSet<_>>()
    };
    assert_eq!(set(&one), set(&ordered));
}

#[test]
fn instructcoder_builds_its_prompt_from_input_and_instruction() {
    let dir = tempfile::tempdir().unwrap();
    // A JSON list, as the hub's JSON export writes it.
    let path = write(
        dir.path(),
        "train.json",
        r#"[{"instruction": "Add type hints.", "input": "def f(x):\n    return x", "output": "..."}]"#,
    );
    let mut a = args(&path, Some("likaixin/InstructCoder"), 1);
    let tok = ByteTokenizer::with_template();
    let rendered = sample(&a, &tok).unwrap();
    let prompt = "def f(x):\n    return x\n\nAdd type hints. Just output the code, do not include \
                  any explanation.";
    assert_eq!(
        text(&rendered[0]),
        format!("<|user|>\n{prompt}\n<|assistant|>\n")
    );
    assert_eq!(rendered[0].expected_output_len, 200);
    a.skip_chat_template = true;
    assert_eq!(text(&sample(&a, &tok).unwrap()[0]), prompt);
}

#[test]
fn aimo_outputs_are_solution_lengths_within_vllms_limits() {
    let dir = tempfile::tempdir().unwrap();
    // One token per byte plus BOS: prompt lengths 1 + len(problem).
    let long_problem = "p".repeat(2100);
    let long_solution = "s".repeat(31_000);
    let too_long = "s".repeat(32_000);
    let rows = [
        ("What is 2+2?", "It is 4, since 2+2=4."),  // kept
        ("Hi", "A long enough solution."),          // prompt of 3 tokens: too short
        ("Compute 3*3.", "9"),                      // solution of 2 tokens: too short
        (long_problem.as_str(), "fine solution"),   // prompt over 2048
        ("Sum 1..n?", long_solution.as_str()),      // total of 31,011 tokens: kept
        ("What is 5*5?", &long_solution[..29_000]), // kept
        ("Total too long?", too_long.as_str()),     // total over 32000
    ];
    let lines: String = rows
        .iter()
        .map(|(p, s)| format!("{}\n", serde_json::json!({"problem": p, "solution": s})))
        .collect();
    let path = write(dir.path(), "aimo.jsonl", &lines);
    let tok = ByteTokenizer::default();
    let mut a = args(&path, Some("AI-MO/aimo-validation-aime"), 10);
    a.disable_shuffle = true;
    a.no_oversample = true;
    let requests = sample(&a, &tok).unwrap();
    let got: Vec<(&str, usize, usize)> = requests
        .iter()
        .map(|r| (text(r), r.prompt_len, r.expected_output_len))
        .collect();
    assert_eq!(
        got,
        [
            ("What is 2+2?", 13, 22),
            ("Sum 1..n?", 10, 31_001),
            ("What is 5*5?", 13, 29_001),
        ]
    );
    assert_sequential_ids(&requests, "hf-");

    // A fixed output length skips the filter (vLLM checks only solution-derived lengths).
    a.hf.output_len = Some(50);
    assert_eq!(sample(&a, &tok).unwrap().len(), rows.len());

    // Nothing passing is an error that says which filter and what to do.
    let short = write(
        dir.path(),
        "short.jsonl",
        r#"{"problem": "x", "solution": "y"}"#,
    );
    let err = sample(&args(&short, Some("AI-MO/NuminaMath-CoT"), 1), &tok).unwrap_err();
    assert!(matches!(err, DatasetError::NoUsableRows { .. }), "{err}");
    assert!(err.to_string().contains("--hf-output-len"), "{err}");
}

#[test]
fn blazedit_keeps_rows_within_the_distance_bounds() {
    let dir = tempfile::tempdir().unwrap();
    let lines: String = [0.05, 0.2, 0.5, 0.9]
        .iter()
        .enumerate()
        .map(|(i, d)| {
            format!(
                "{}\n",
                serde_json::json!({
                    "code": format!("x = {i}"),
                    "change_request": "Use y.",
                    "norm_distance": d,
                })
            )
        })
        .collect();
    // The file name says which dataset it is.
    let path = write(dir.path(), "edit_5k_char.jsonl", &lines);
    let tok = CountingTokenizer { bytes_per_token: 4 };
    let mut a = args(&path, None, 10);
    a.no_oversample = true;
    a.skip_chat_template = true;
    a.hf.blazedit_min_distance = 0.1;
    a.hf.blazedit_max_distance = 0.5;
    let requests = sample(&a, &tok).unwrap();
    let mut codes: Vec<&str> = requests
        .iter()
        .map(|r| {
            let t = text(r);
            assert!(t.starts_with("Given a code file, please apply the change requests"));
            assert!(t.ends_with("section below."));
            assert_eq!(r.prompt_len, tok.count(t));
            assert_eq!(r.expected_output_len, 4000);
            if t.contains("x = 1") {
                "x = 1"
            } else {
                "x = 2"
            }
        })
        .collect();
    codes.sort_unstable();
    assert_eq!(codes, ["x = 1", "x = 2"]);
    assert_sequential_ids(&requests, "hf-");
    let t = text(&requests[0]);
    assert!(t.contains("Original file:\n```python\nx = "), "{t}");
    assert!(t.contains("```\n\nChange request:\nUse y.\n\n"), "{t}");

    a.hf.blazedit_min_distance = 0.95;
    a.hf.blazedit_max_distance = 1.0;
    let err = sample(&a, &tok).unwrap_err();
    assert!(
        err.to_string().contains("norm_distance in [0.95, 1]"),
        "{err}"
    );
    a.hf.blazedit_min_distance = 0.6;
    a.hf.blazedit_max_distance = 0.4;
    assert!(matches!(
        sample(&a, &tok),
        Err(DatasetError::InvalidArgument {
            flag: "--blazedit-min-distance",
            ..
        })
    ));
}

#[test]
fn malformed_records_name_the_file_and_place() {
    let dir = tempfile::tempdir().unwrap();
    let tok = ByteTokenizer::default();
    let cases = [
        (
            "a.jsonl",
            "likaixin/InstructCoder",
            "{\"instruction\": \"i\", \"input\": \"x\"}\n{\"instruction\": \"i\"}\n",
            Location::Line(2),
            "no `input` field",
        ),
        (
            "b.json",
            "vdaita/edit_10k_char",
            r#"[{"code": "c", "change_request": "r", "norm_distance": 0.1},
                {"code": "c", "change_request": "r", "norm_distance": "far"}]"#,
            Location::Entry(1),
            "`norm_distance` is a string",
        ),
        (
            "c.jsonl",
            "AI-MO/NuminaMath-1.5",
            "{\"problem\": \"p\", \"solution\": 5}\n",
            Location::Line(1),
            "`solution` is a number",
        ),
        (
            "d.jsonl",
            "philschmid/mt-bench",
            "{\"turns\": [\"q\"]}\n\n7\n",
            Location::Line(3),
            "found a number, not an object",
        ),
    ];
    for (file, name, contents, location, needle) in cases {
        let path = write(dir.path(), file, contents);
        let err = sample(&args(&path, Some(name), 1), &tok).unwrap_err();
        let DatasetError::Malformed { at, .. } = &err else {
            panic!("{file}: expected Malformed, got {err}");
        };
        assert_eq!(*at, location, "{file}: {err}");
        let message = err.to_string();
        assert!(message.contains(needle), "{file}: {message}");
        assert!(
            message.contains(&format!("{file} {location}")),
            "{file}: {message}"
        );
    }
}

#[test]
fn the_layout_must_be_known_and_parquet_is_converted_first() {
    let dir = tempfile::tempdir().unwrap();
    let tok = ByteTokenizer::default();
    let anonymous = write(dir.path(), "train.jsonl", "{\"turns\": [\"q\"]}\n");
    let err = sample(&args(&anonymous, None, 1), &tok).unwrap_err();
    assert!(
        matches!(
            err,
            DatasetError::InvalidArgument {
                flag: "--hf-name",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("philschmid/mt-bench"), "{err}");
    assert_eq!(
        sample(&args(&anonymous, Some("philschmid/mt-bench"), 1), &tok)
            .unwrap()
            .len(),
        1
    );

    let parquet = dir.path().join("train-00000-of-00001.parquet");
    std::fs::write(&parquet, b"PAR1\x15\x00").unwrap();
    let err = sample(&args(&parquet, Some("likaixin/InstructCoder"), 1), &tok).unwrap_err();
    assert!(
        matches!(err, DatasetError::UnsupportedFormat { .. }),
        "{err}"
    );
    let message = err.to_string();
    assert!(message.contains("pandas.read_parquet"), "{message}");
    assert!(message.contains("lines=True"), "{message}");
}
