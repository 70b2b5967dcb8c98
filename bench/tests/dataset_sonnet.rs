//! `sonnet`: vLLM's sonnet.txt through a chat template and without one.

mod dataset_support;

use std::path::PathBuf;

use dataset_support::{ByteTokenizer, assert_sequential_ids, shared_file, text, write};
use dyno_bench::dataset::{
    BenchTokenizer, DatasetArgs, DatasetError, DatasetName, SonnetPrompt, sample,
};

const BASE: &str = "Pick as many lines as you can from these poem lines:\n";

fn sonnet_path() -> PathBuf {
    shared_file("datasets/sonnet/sonnet.txt")
}

fn args(num_prompts: usize) -> DatasetArgs {
    let mut args = DatasetArgs::new(DatasetName::Sonnet);
    args.path = Some(sonnet_path());
    args.num_prompts = num_prompts;
    args
}

/// The file's lines as Python's `readlines()` gives them (CRLF → LF).
fn poem_lines() -> Vec<String> {
    let text = std::fs::read_to_string(sonnet_path())
        .unwrap()
        .replace("\r\n", "\n");
    text.split_inclusive('\n').map(str::to_owned).collect()
}

#[test]
fn rendered_prompts_fit_input_len_and_share_the_prefix_lines() {
    let tok = ByteTokenizer::with_template();
    let lines = poem_lines();
    let avg = lines
        .iter()
        .map(|l| tok.encode(l, true).len())
        .sum::<usize>() as f64
        / lines.len() as f64;
    let render = |p: &str| tok.apply_chat_template(p).unwrap();
    let base_offset = tok.encode(&render(BASE), true).len();
    let a = args(40);
    let prefix_lines =
        ((a.sonnet.prefix_len - base_offset) as f64 / avg).round_ties_even() as usize;
    assert!(
        prefix_lines >= 1,
        "the default prefix should cover some lines"
    );
    let prefix = format!("{BASE}{}", lines[..prefix_lines].concat());
    let input_lines = ((a.sonnet.input_len - base_offset) as f64 / avg).round_ties_even() as usize;

    let requests = sample(&a, &tok).unwrap();
    assert_eq!(requests.len(), 40);
    assert_sequential_ids(&requests, "sonnet-");
    for r in &requests {
        let prompt = text(r);
        assert!(
            r.prompt_len <= 550,
            "{}: {} tokens",
            r.request_id,
            r.prompt_len
        );
        assert_eq!(r.prompt_len, tok.encode(prompt, true).len());
        assert_eq!(r.expected_output_len, 150);
        let body = prompt
            .strip_prefix("<|user|>\n")
            .and_then(|p| p.strip_suffix("\n<|assistant|>\n"))
            .expect("rendered through the template");
        assert!(
            body.starts_with(&prefix),
            "{}: the prefix lines come first",
            r.request_id
        );
        // The file's last line has no line end, so a prompt drawing it shows one `\n` fewer.
        let ends = body[BASE.len()..].matches('\n').count();
        assert!(
            ends == input_lines || ends + 1 == input_lines,
            "{ends} vs {input_lines}"
        );
    }
}

#[test]
fn raw_prompts_are_sent_bare_but_counted_rendered() {
    let tok = ByteTokenizer::with_template();
    let mut a = args(10);
    a.sonnet.prompt = SonnetPrompt::Raw;
    let raw = sample(&a, &tok).unwrap();
    a.sonnet.prompt = SonnetPrompt::ChatFormatted;
    let formatted = sample(&a, &tok).unwrap();
    for (r, f) in raw.iter().zip(&formatted) {
        assert!(text(r).starts_with(BASE));
        assert_eq!(tok.apply_chat_template(text(r)).as_deref(), Some(text(f)));
        assert_eq!(r.prompt_len, f.prompt_len);
    }
}

#[test]
fn without_a_chat_template_the_raw_prompt_is_used() {
    let tok = ByteTokenizer::default();
    let requests = sample(&args(10), &tok).unwrap();
    for r in &requests {
        assert!(text(r).starts_with(BASE));
        assert_eq!(r.prompt_len, tok.encode(text(r), true).len());
        assert!(r.prompt_len <= 550);
    }
}

#[test]
fn the_seed_decides_the_lines() {
    let tok = ByteTokenizer::with_template();
    let mut a = args(5);
    let first = sample(&a, &tok).unwrap();
    assert_eq!(first, sample(&a, &tok).unwrap());
    a.seed = 99;
    assert_ne!(first, sample(&a, &tok).unwrap());
}

#[test]
fn input_len_must_exceed_the_base_prompt() {
    let mut a = args(5);
    a.sonnet.input_len = 20;
    let err = sample(&a, &ByteTokenizer::with_template()).unwrap_err();
    assert!(
        matches!(
            err,
            DatasetError::InvalidArgument {
                flag: "--sonnet-input-len",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("rendered base prompt"), "{err}");
}

#[test]
fn a_prefix_that_cannot_fit_stops_with_an_error_instead_of_looping() {
    let mut a = args(5);
    a.sonnet.prefix_len = 2000;
    let err = sample(&a, &ByteTokenizer::with_template()).unwrap_err();
    assert!(
        matches!(
            err,
            DatasetError::TooFewRequests {
                got: 0,
                wanted: 5,
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string().contains("--sonnet-prefix-len 2000"),
        "{err}"
    );
}

#[test]
fn an_empty_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = args(1);
    a.path = Some(write(dir.path(), "empty.txt", ""));
    let err = sample(&a, &ByteTokenizer::default()).unwrap_err();
    assert!(matches!(err, DatasetError::NoUsableRows { .. }), "{err}");
    assert!(err.to_string().contains("empty.txt"), "{err}");
}
