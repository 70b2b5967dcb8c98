//! `sharegpt`: the real 50-conversation sample, vLLM's length filter at its boundaries,
//! shuffling, oversampling and malformed files.

mod dataset_support;

use std::collections::HashSet;
use std::path::Path;

use dataset_support::{
    ByteTokenizer, CountingTokenizer, assert_sequential_ids, shared_file, text, write,
};
use dyno_bench::dataset::{DatasetArgs, DatasetError, DatasetName, Location, sample};
use serde_json::{Value, json};

const SAMPLE: &str = "datasets/sharegpt/sharegpt_sample_50.json";

fn args(path: &Path, num_prompts: usize) -> DatasetArgs {
    let mut args = DatasetArgs::new(DatasetName::ShareGpt);
    args.path = Some(path.to_owned());
    args.num_prompts = num_prompts;
    args
}

/// A ShareGPT entry with these two turns.
fn entry(prompt: &str, answer: &str) -> Value {
    json!({"id": "x", "conversations": [
        {"from": "human", "value": prompt},
        {"from": "gpt", "value": answer},
    ]})
}

/// `n` ASCII bytes: with [`ByteTokenizer`], `n + 1` tokens (BOS).
fn bytes(n: usize) -> String {
    "a".repeat(n)
}

#[test]
fn real_sample_keeps_exactly_the_conversations_vllm_keeps() {
    let tok = CountingTokenizer { bytes_per_token: 4 };
    let path = shared_file(SAMPLE);
    let data: Vec<Value> = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(data.len(), 50);
    // The filter, written out independently: prompt 4..=1024, output >= 4, sum <= 2048.
    let expected: HashSet<&str> = data
        .iter()
        .filter_map(|e| {
            let turns = e["conversations"].as_array()?;
            let prompt = turns[0]["value"].as_str()?;
            let (p, o) = (tok.count(prompt), tok.count(turns[1]["value"].as_str()?));
            (p >= 4 && o >= 4 && p <= 1024 && p + o <= 2048).then_some(prompt)
        })
        .collect();
    assert!(
        (5..45).contains(&expected.len()),
        "the sample should exercise both outcomes: {} kept",
        expected.len()
    );

    let mut a = args(&path, 50);
    a.no_oversample = true;
    let requests = sample(&a, &tok).unwrap();
    assert_eq!(requests.len(), expected.len());
    assert_sequential_ids(&requests, "sharegpt-");
    let got: HashSet<&str> = requests.iter().map(text).collect();
    assert_eq!(got, expected);
    for r in &requests {
        assert_eq!(r.prompt_len, tok.count(text(r)));
        assert!(r.expected_output_len >= 4);
    }
}

#[test]
fn length_filter_boundaries() {
    let dir = tempfile::tempdir().unwrap();
    // Token counts with ByteTokenizer are bytes + 1 (BOS).
    let entries = json!([
        entry(&bytes(2), &bytes(10)),        // prompt 3: too short
        entry(&bytes(3), &bytes(10)),        // prompt 4: kept
        entry(&bytes(20), &bytes(2)),        // output 3: too short
        entry(&bytes(20), &bytes(3)),        // output 4: kept
        entry(&bytes(1023), &bytes(10)),     // prompt 1024: kept
        entry(&bytes(1024), &bytes(10)),     // prompt 1025: too long
        entry(&bytes(1000), &bytes(1047)),   // 1001 + 1048 = 2049: too long
        entry(&bytes(1000), &bytes(1046)),   // 1001 + 1047 = 2048: kept
        {"id": "one-turn", "conversations": [{"from": "human", "value": "hello there"}]},
        {"id": "no-conversations"},
    ]);
    let path = write(dir.path(), "boundaries.json", &entries.to_string());
    let mut a = args(&path, 100);
    a.disable_shuffle = true;
    a.no_oversample = true;
    let requests = sample(&a, &ByteTokenizer::default()).unwrap();
    let lens: Vec<(usize, usize)> = requests
        .iter()
        .map(|r| (r.prompt_len, r.expected_output_len))
        .collect();
    assert_eq!(lens, [(4, 11), (21, 4), (1024, 11), (1001, 1047)]);
    assert_sequential_ids(&requests, "sharegpt-");
}

#[test]
fn fixed_output_len_skips_the_output_check_but_not_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let entries = json!([
        entry(&bytes(20), &bytes(1)), // reference answer too short, but output fixed
        entry(&bytes(2), &bytes(50)), // prompt 3: still too short
        entry(&bytes(1000), &bytes(1)), // 1001 + 1100 > 2048: still too long
    ]);
    let path = write(dir.path(), "fixed.json", &entries.to_string());
    let mut a = args(&path, 10);
    a.disable_shuffle = true;
    a.no_oversample = true;
    a.sharegpt_output_len = Some(2);
    let requests = sample(&a, &ByteTokenizer::default()).unwrap();
    assert_eq!(requests.len(), 2);
    assert!(requests.iter().all(|r| r.expected_output_len == 2));
    a.sharegpt_output_len = Some(1100);
    let requests = sample(&a, &ByteTokenizer::default()).unwrap();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].prompt_len, 21);
}

fn numbered(n: usize) -> String {
    let entries: Vec<Value> = (0..n)
        .map(|i| entry(&format!("question number {i}"), "an answer long enough"))
        .collect();
    Value::Array(entries).to_string()
}

#[test]
fn shuffle_follows_the_seed_and_disable_shuffle_keeps_file_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "numbered.json", &numbered(30));
    let tok = ByteTokenizer::default();
    let order = |seed: u64, disable_shuffle: bool| -> Vec<String> {
        let mut a = args(&path, 30);
        a.seed = seed;
        a.disable_shuffle = disable_shuffle;
        sample(&a, &tok)
            .unwrap()
            .iter()
            .map(|r| text(r).to_owned())
            .collect()
    };
    let file_order: Vec<String> = (0..30).map(|i| format!("question number {i}")).collect();
    assert_eq!(order(0, true), file_order);
    assert_eq!(order(1, false), order(1, false));
    assert_ne!(order(1, false), file_order);
    assert_ne!(order(1, false), order(2, false));
}

#[test]
fn oversampling_repeats_rows_under_new_unique_ids() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "three.json", &numbered(3));
    let tok = ByteTokenizer::default();
    let requests = sample(&args(&path, 10), &tok).unwrap();
    assert_eq!(requests.len(), 10);
    assert_sequential_ids(&requests, "sharegpt-");
    let ids: HashSet<&str> = requests.iter().map(|r| r.request_id.as_str()).collect();
    assert_eq!(ids.len(), 10);
    let originals: HashSet<&str> = requests[..3].iter().map(text).collect();
    assert_eq!(originals.len(), 3);
    assert!(requests[3..].iter().all(|r| originals.contains(text(r))));
    assert_eq!(requests, sample(&args(&path, 10), &tok).unwrap());

    let mut a = args(&path, 10);
    a.no_oversample = true;
    assert_eq!(sample(&a, &tok).unwrap().len(), 3);
}

#[test]
fn malformed_json_names_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "broken.json",
        "[\n  {\"conversations\": [\n    {\"from\": \"human\", \"value\": \"hi\"},,\n  ]}\n]\n",
    );
    let err = sample(&args(&path, 1), &ByteTokenizer::default()).unwrap_err();
    let DatasetError::Malformed { at, .. } = &err else {
        panic!("expected Malformed, got {err}");
    };
    assert!(matches!(at, Location::LineColumn { line: 3, .. }), "{err}");
    let message = err.to_string();
    assert!(message.contains("broken.json line 3"), "{message}");
    assert!(
        message.contains("expected a JSON list of ShareGPT objects"),
        "{message}"
    );
}

#[test]
fn malformed_entries_name_their_index() {
    let dir = tempfile::tempdir().unwrap();
    let tok = ByteTokenizer::default();
    let cases = [
        (
            json!([entry("hello", "world"), "not an object"]).to_string(),
            "entry [1]: found a string",
        ),
        (
            json!([{"conversations": "oops"}]).to_string(),
            "entry [0]: `conversations` is a string",
        ),
        (
            json!([entry("a", "b"), {"conversations": [{"from": "human"}, {"value": "x"}]}])
                .to_string(),
            "entry [1]: `conversations[0].value` is missing",
        ),
        (
            json!({"conversations": []}).to_string(),
            "line 1: the top level is an object",
        ),
    ];
    for (i, (contents, needle)) in cases.iter().enumerate() {
        let path = write(dir.path(), &format!("case{i}.json"), contents);
        let message = sample(&args(&path, 1), &tok).unwrap_err().to_string();
        assert!(message.contains(needle), "case {i}: {message}");
        assert!(
            message.contains(&format!("case{i}.json")),
            "case {i}: {message}"
        );
    }
}

#[test]
fn missing_file_path_and_unusable_files_say_what_to_do() {
    let tok = ByteTokenizer::default();
    let mut a = DatasetArgs::new(DatasetName::ShareGpt);
    let err = sample(&a, &tok).unwrap_err();
    assert!(matches!(err, DatasetError::MissingPath { .. }), "{err}");
    assert!(err.to_string().contains("--dataset-path"), "{err}");

    a.path = Some("/nonexistent/sharegpt.json".into());
    let err = sample(&a, &tok).unwrap_err();
    assert!(matches!(err, DatasetError::Io { .. }), "{err}");
    assert!(
        err.to_string().contains("/nonexistent/sharegpt.json"),
        "{err}"
    );

    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "short.json",
        &json!([entry("a", "b")]).to_string(),
    );
    let err = sample(&args(&path, 5), &tok).unwrap_err();
    assert!(matches!(err, DatasetError::NoUsableRows { .. }), "{err}");
    assert!(err.to_string().contains("length filter"), "{err}");
}
