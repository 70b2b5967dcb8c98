//! `timed_trace`: Mooncake-style traces; shared hash ids give shared token prefixes, lengths
//! are exact, timestamps are scaled and only set when self-timed.

mod dataset_support;

use std::path::{Path, PathBuf};

use dataset_support::{ByteTokenizer, assert_sequential_ids, shared_file, write};
use dyno_bench::dataset::{
    BenchTokenizer, DatasetArgs, DatasetError, DatasetName, Location, Prompt, SampleRequest, sample,
};

fn args(path: &Path, num_prompts: usize) -> DatasetArgs {
    let mut args = DatasetArgs::new(DatasetName::TimedTrace);
    args.path = Some(path.to_owned());
    args.num_prompts = num_prompts;
    args
}

fn tokens(request: &SampleRequest) -> &[u32] {
    match &request.prompt {
        Prompt::Tokens(ids) => ids,
        Prompt::Text(_) => panic!("{}: expected token ids", request.request_id),
    }
}

/// Three requests: 0 and 2 share blocks 7 and 11; 1 shares only block 7.
const TRACE: &str = r#"{"timestamp": 0, "input_length": 12, "output_length": 3, "hash_ids": [7, 11]}
{"timestamp": 1500, "input_length": 16, "output_length": 4, "hash_ids": [7, 19]}

{"timestamp": 2250.5, "input_length": 20, "output_length": 5, "hash_ids": [7, 11, 23]}
"#;

fn trace(dir: &Path) -> PathBuf {
    write(dir, "trace.jsonl", TRACE)
}

fn small_chunks(path: &Path) -> DatasetArgs {
    let mut a = args(path, 10);
    a.timed_trace.chunk_hash_size = 8;
    a
}

#[test]
fn shared_hash_ids_share_their_tokens_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let tok = ByteTokenizer::default();
    let requests = sample(&small_chunks(&trace(dir.path())), &tok).unwrap();
    assert_sequential_ids(&requests, "timed_trace-");
    let [a, b, c] = [0, 1, 2].map(|i| tokens(&requests[i]));
    assert_eq!(
        [a.len(), b.len(), c.len()],
        [12, 16, 20],
        "prompt = input_length tokens"
    );
    assert_eq!(a[..8], b[..8], "block 7 is shared");
    assert_ne!(a[8..12], b[8..12], "blocks 11 and 19 differ");
    assert_eq!(
        a[..],
        c[..12],
        "a's partial block 11 is a prefix of c's full one"
    );
    let special = tok.special_token_ids();
    for r in &requests {
        assert_eq!(r.prompt_len, tokens(r).len());
        assert!(
            tokens(r)
                .iter()
                .all(|t| !special.contains(t) && (*t as usize) < tok.vocab_size())
        );
    }
    let outputs: Vec<usize> = requests.iter().map(|r| r.expected_output_len).collect();
    assert_eq!(outputs, [3, 4, 5]);
}

#[test]
fn blocks_are_the_same_across_runs_and_follow_the_seed() {
    let dir = tempfile::tempdir().unwrap();
    let tok = ByteTokenizer::default();
    let mut a = small_chunks(&trace(dir.path()));
    let one = sample(&a, &tok).unwrap();
    assert_eq!(one, sample(&a, &tok).unwrap());
    a.seed = 1;
    let other = sample(&a, &tok).unwrap();
    assert_ne!(tokens(&one[0]), tokens(&other[0]));
    assert_eq!(tokens(&other[0])[..8], tokens(&other[1])[..8]);
}

#[test]
fn timestamps_are_scaled_and_only_set_when_self_timed() {
    let dir = tempfile::tempdir().unwrap();
    let tok = ByteTokenizer::default();
    let mut a = small_chunks(&trace(dir.path()));
    let times = |a: &DatasetArgs| -> Vec<Option<f64>> {
        sample(a, &tok)
            .unwrap()
            .iter()
            .map(|r| r.timestamp)
            .collect()
    };
    let close = |got: Vec<Option<f64>>, want: [f64; 3]| {
        assert_eq!(got.len(), 3);
        for (g, w) in got.iter().zip(want) {
            let g = g.expect("self-timed requests carry timestamps");
            assert!((g - w).abs() < 1e-12, "{g} != {w}");
        }
    };
    // Self-timed by default, timestamps in the trace's unit times the multiplier (1).
    close(times(&a), [0.0, 1500.0, 2250.5]);
    a.timed_trace.sec_multiplier = 0.001;
    close(times(&a), [0.0, 1.5, 2.2505]);
    a.replay.time_scale = 2.0;
    close(times(&a), [0.0, 3.0, 4.501]);
    a.replay.time_scale = 1.0;
    a.replay.self_timed = Some(false);
    assert_eq!(times(&a), [None, None, None]);
}

#[test]
fn column_labels_follow_the_flags() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "labels.jsonl",
        r#"{"ts": 4, "in": 5, "out": 6, "blocks": ["sys-prompt", 9]}"#,
    );
    let mut a = args(&path, 1);
    a.timed_trace.label_timestamp = "ts".to_owned();
    a.timed_trace.label_input_length = "in".to_owned();
    a.timed_trace.label_output_length = "out".to_owned();
    a.timed_trace.label_hash_ids = "blocks".to_owned();
    let requests = sample(&a, &ByteTokenizer::default()).unwrap();
    assert_eq!(tokens(&requests[0]).len(), 5);
    assert_eq!(requests[0].expected_output_len, 6);
    assert_eq!(requests[0].timestamp, Some(4.0));
}

#[test]
fn mooncake_blocks_of_512_reproduce_the_traces_prefix_reuse() {
    let path = shared_file("traces/mooncake/conversation_trace.jsonl");
    let mut a = args(&path, 200);
    a.timed_trace.chunk_hash_size = 512;
    a.timed_trace.sec_multiplier = 0.001;
    let requests = sample(&a, &ByteTokenizer::default()).unwrap();
    assert_eq!(requests.len(), 200);
    let rows: Vec<serde_json::Value> = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .take(200)
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    for (r, row) in requests.iter().zip(&rows) {
        assert_eq!(r.prompt_len, row["input_length"].as_u64().unwrap() as usize);
        assert_eq!(tokens(r).len(), r.prompt_len);
        assert_eq!(
            r.expected_output_len,
            row["output_length"].as_u64().unwrap() as usize
        );
        let ms = row["timestamp"].as_f64().unwrap();
        assert!((r.timestamp.unwrap() - ms * 0.001).abs() < 1e-9);
    }
    // The first rows all start with hash id 0 and then diverge.
    let ids = |i: usize| rows[i]["hash_ids"].as_array().unwrap().clone();
    assert_eq!((ids(0)[0].as_u64(), ids(1)[0].as_u64()), (Some(0), Some(0)));
    assert_ne!(ids(0)[1], ids(1)[1]);
    let (first, second) = (tokens(&requests[0]), tokens(&requests[1]));
    assert_eq!(first[..512], second[..512]);
    assert_ne!(first[512..1024], second[512..1024]);
    // Every pair of requests shares exactly as many leading tokens as their common hash ids cover.
    for i in 0..20 {
        for j in i + 1..20 {
            let common = ids(i)
                .iter()
                .zip(ids(j))
                .take_while(|(x, y)| *x == y)
                .count();
            let shared = tokens(&requests[i])
                .iter()
                .zip(tokens(&requests[j]))
                .take_while(|(x, y)| x == y)
                .count();
            let bound = (common * 512).min(requests[i].prompt_len.min(requests[j].prompt_len));
            assert!(shared >= bound, "{i}, {j}: {shared} < {bound}");
            // A random 256-token vocabulary matches by chance for a token or two, not more.
            assert!(
                shared < bound + 4,
                "{i}, {j}: {shared} shared, {common} blocks"
            );
        }
    }
}

#[test]
fn malformed_rows_name_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let good = r#"{"timestamp": 0, "input_length": 4, "output_length": 1, "hash_ids": [1]}"#;
    let cases = [
        (
            r#"{"timestamp": 1, "input_length": 4, "output_length": 1}"#,
            "no `hash_ids` field",
        ),
        (
            r#"{"timestamp": -5, "input_length": 4, "output_length": 1, "hash_ids": []}"#,
            "`timestamp` is -5, not a non-negative time",
        ),
        (
            r#"{"timestamp": 1, "input_length": 0, "output_length": 1, "hash_ids": []}"#,
            "`input_length` is 0, not a positive token count",
        ),
        (
            r#"{"timestamp": 1, "input_length": 4, "output_length": 2.5, "hash_ids": []}"#,
            "`output_length` is 2.5",
        ),
        (
            r#"{"timestamp": 1, "input_length": 4, "output_length": 1, "hash_ids": [1, -2]}"#,
            "`hash_ids[1]` is -2",
        ),
        (
            r#"{"timestamp": 1, "input_length": 4, "output_length": 1, "hash_ids": 3}"#,
            "`hash_ids` is a number, not a list",
        ),
    ];
    for (i, (row, needle)) in cases.iter().enumerate() {
        let path = write(
            dir.path(),
            &format!("case{i}.jsonl"),
            &format!("{good}\n{row}\n"),
        );
        let err = sample(&args(&path, 5), &ByteTokenizer::default()).unwrap_err();
        let DatasetError::Malformed { at, .. } = &err else {
            panic!("case {i}: expected Malformed, got {err}");
        };
        assert_eq!(*at, Location::Line(2), "case {i}: {err}");
        let message = err.to_string();
        assert!(message.contains(needle), "case {i}: {message}");
        assert!(
            message.contains(&format!("case{i}.jsonl line 2")),
            "case {i}: {message}"
        );
    }
}

#[test]
fn bad_options_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let tok = ByteTokenizer::default();
    let mut a = args(&trace(dir.path()), 3);
    a.timed_trace.chunk_hash_size = 0;
    assert!(matches!(
        sample(&a, &tok),
        Err(DatasetError::InvalidArgument {
            flag: "--timed-trace-chunk-hash-size",
            ..
        })
    ));
    let mut a = args(&trace(dir.path()), 3);
    a.timed_trace.sec_multiplier = 0.0;
    assert!(matches!(
        sample(&a, &tok),
        Err(DatasetError::InvalidArgument {
            flag: "--timed-trace-sec-multiplier",
            ..
        })
    ));
}
