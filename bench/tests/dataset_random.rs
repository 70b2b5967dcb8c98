//! The generated datasets, `random` and `prefix_repetition`: exact lengths, length bounds,
//! shared prefixes, determinism.

mod dataset_support;

use std::collections::HashMap;

use dataset_support::{ByteTokenizer, assert_sequential_ids, text};
use dyno_bench::dataset::{
    BenchTokenizer, DatasetArgs, DatasetError, DatasetName, LengthBounds, RandomArgs, RangeRatio,
    SampleRequest, sample,
};
use proptest::prelude::*;

fn random_args(num_prompts: usize, input_len: usize, output_len: usize) -> DatasetArgs {
    let mut args = DatasetArgs::new(DatasetName::Random);
    args.num_prompts = num_prompts;
    args.random.input_len = input_len;
    args.random.output_len = output_len;
    args
}

/// Every prompt re-encodes (without special tokens) to exactly its `prompt_len`.
fn assert_counts_exact(tok: &dyn BenchTokenizer, requests: &[SampleRequest]) {
    for r in requests {
        assert_eq!(
            tok.encode(text(r), false).len(),
            r.prompt_len,
            "{}: prompt_len is not the prompt's token count",
            r.request_id
        );
    }
}

#[test]
fn random_prompts_have_the_exact_requested_length() {
    let tok = ByteTokenizer::default();
    let requests = sample(&random_args(50, 64, 16), &tok).unwrap();
    assert_eq!(requests.len(), 50);
    assert_sequential_ids(&requests, "random-");
    assert_counts_exact(&tok, &requests);
    for r in &requests {
        // 64 minus the BOS the server adds.
        assert_eq!(r.prompt_len, 63, "{}", r.request_id);
        assert_eq!(r.expected_output_len, 16);
        assert_eq!(r.timestamp, None);
    }
}

#[test]
fn random_prompts_avoid_special_tokens_and_differ() {
    let tok = ByteTokenizer::default();
    let requests = sample(&random_args(20, 40, 8), &tok).unwrap();
    for r in &requests {
        let ids = tok.encode(text(r), false);
        assert!(
            ids.iter().all(|&id| id >= 3),
            "{}: special id in prompt",
            r.request_id
        );
    }
    // Runs that start among the bytes >= 0x80 all decode to U+FFFD and collapse into the same
    // prompt with this tokenizer (and in vLLM); the ASCII ones differ by their offset.
    let distinct: std::collections::HashSet<&str> = requests.iter().map(text).collect();
    assert!(
        distinct.len() >= 5,
        "random offsets should give distinct prompts: {}",
        distinct.len()
    );
}

#[test]
fn random_same_seed_same_requests_other_seed_other_requests() {
    let tok = ByteTokenizer::default();
    let mut args = random_args(30, 50, 20);
    args.random.range_ratio = RangeRatio::uniform(0.5).unwrap();
    args.seed = 7;
    let a = sample(&args, &tok).unwrap();
    let b = sample(&args, &tok).unwrap();
    assert_eq!(a, b);
    args.seed = 8;
    let c = sample(&args, &tok).unwrap();
    assert_ne!(a, c);
}

#[test]
fn random_lengths_stay_within_the_range_ratio_and_use_it() {
    let tok = ByteTokenizer::default();
    let mut args = random_args(200, 101, 20);
    args.random.range_ratio = RangeRatio::uniform(0.5).unwrap();
    let requests = sample(&args, &tok).unwrap();
    assert_counts_exact(&tok, &requests);
    // real input 100: [50, 150]; output [10, 30].
    let inputs: Vec<usize> = requests.iter().map(|r| r.prompt_len).collect();
    let outputs: Vec<usize> = requests.iter().map(|r| r.expected_output_len).collect();
    assert!(inputs.iter().all(|l| (50..=150).contains(l)), "{inputs:?}");
    assert!(outputs.iter().all(|l| (10..=30).contains(l)), "{outputs:?}");
    let spread = |v: &[usize]| v.iter().max().unwrap() - v.iter().min().unwrap();
    assert!(
        spread(&inputs) > 50,
        "inputs should spread over the range: {inputs:?}"
    );
    assert!(
        spread(&outputs) > 10,
        "outputs should spread over the range: {outputs:?}"
    );
}

#[test]
fn random_separate_input_and_output_ratios() {
    let tok = ByteTokenizer::default();
    let mut args = random_args(100, 41, 20);
    args.random.range_ratio = r#"{"input": 0.0, "output": 0.5}"#.parse().unwrap();
    let requests = sample(&args, &tok).unwrap();
    assert!(requests.iter().all(|r| r.prompt_len == 40));
    assert!(requests.iter().any(|r| r.expected_output_len != 20));
}

#[test]
fn random_range_ratio_outside_zero_one_is_refused() {
    for bad in ["1.0", "-0.1", r#"{"input": 1.5}"#, "wide"] {
        let err = bad.parse::<RangeRatio>().unwrap_err();
        assert!(
            err.to_string().contains("--random-range-ratio"),
            "{bad}: {err}"
        );
    }
}

#[test]
fn random_prefix_is_shared_exactly_and_counted_on_top() {
    let tok = ByteTokenizer::default();
    let mut args = random_args(25, 33, 4);
    args.random.prefix_len = 16;
    let requests = sample(&args, &tok).unwrap();
    assert_counts_exact(&tok, &requests);
    let first = tok.encode(text(&requests[0]), false)[..16].to_vec();
    for r in &requests {
        assert_eq!(r.prompt_len, 16 + 32, "{}", r.request_id);
        assert_eq!(
            tok.encode(text(r), false)[..16],
            first[..],
            "{}",
            r.request_id
        );
    }
}

#[test]
fn random_input_len_of_one_is_not_an_empty_prompt() {
    // vllm#24591: input_len 1 minus one BOS gave an empty prompt.
    let tok = ByteTokenizer::default();
    let requests = sample(&random_args(10, 1, 4), &tok).unwrap();
    for r in &requests {
        assert_eq!(r.prompt_len, 1, "{}", r.request_id);
        assert!(!text(r).is_empty());
    }
}

#[test]
fn random_refuses_a_dataset_path_and_zero_output() {
    let tok = ByteTokenizer::default();
    let mut args = random_args(1, 10, 10);
    args.path = Some("prompts.json".into());
    let err = sample(&args, &tok).unwrap_err();
    assert!(matches!(err, DatasetError::UnexpectedPath { .. }), "{err}");
    assert!(
        err.to_string().contains("drop --dataset-path prompts.json"),
        "{err}"
    );

    let err = sample(&random_args(1, 10, 0), &tok).unwrap_err();
    assert!(err.to_string().contains("--random-output-len"), "{err}");

    let err = sample(&random_args(0, 10, 10), &tok).unwrap_err();
    assert!(err.to_string().contains("--num-prompts"), "{err}");
}

#[test]
fn random_request_id_prefix_is_configurable() {
    let tok = ByteTokenizer::default();
    let mut args = random_args(3, 10, 10);
    args.request_id_prefix = Some("bench-".to_owned());
    let requests = sample(&args, &tok).unwrap();
    assert_sequential_ids(&requests, "bench-");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn random_lengths_respect_their_bounds(
        input_len in 1usize..300,
        output_len in 1usize..200,
        ratio in 0.0f64..0.99,
        prefix_len in 0usize..24,
        seed in any::<u64>(),
        num_prompts in 1usize..6,
    ) {
        let tok = ByteTokenizer::default();
        let mut args = random_args(num_prompts, input_len, output_len);
        args.seed = seed;
        args.random.prefix_len = prefix_len;
        args.random.range_ratio = RangeRatio::uniform(ratio).unwrap();
        let random = RandomArgs { ..args.random.clone() };
        let bounds = LengthBounds::new(&random, tok.num_special_tokens_to_add()).unwrap();
        let requests = sample(&args, &tok).unwrap();
        prop_assert_eq!(requests.len(), num_prompts);
        let real = (input_len - 1) as f64;
        prop_assert!(bounds.input_min <= bounds.input_max);
        prop_assert!(bounds.input_min as f64 >= (real * (1.0 - ratio)).floor());
        prop_assert!(bounds.input_max as f64 <= (real * (1.0 + ratio)).ceil().max(1.0));
        prop_assert!(prefix_len > 0 || bounds.input_min >= 1);
        for r in &requests {
            prop_assert_eq!(tok.encode(text(r), false).len(), r.prompt_len);
            prop_assert!(r.prompt_len >= prefix_len + bounds.input_min, "{} < {}", r.prompt_len, prefix_len + bounds.input_min);
            prop_assert!(r.prompt_len <= prefix_len + bounds.input_max, "{} > {}", r.prompt_len, prefix_len + bounds.input_max);
            prop_assert!(r.expected_output_len >= bounds.output_min.max(1));
            prop_assert!(r.expected_output_len <= bounds.output_max);
            prop_assert!(r.prompt_len > 0);
        }
    }
}

fn prefix_args(num_prompts: usize, num_prefixes: usize) -> DatasetArgs {
    let mut args = DatasetArgs::new(DatasetName::PrefixRepetition);
    args.num_prompts = num_prompts;
    args.prefix_repetition.num_prefixes = num_prefixes;
    args.prefix_repetition.prefix_len = 12;
    args.prefix_repetition.suffix_len = 7;
    args.prefix_repetition.output_len = 9;
    args
}

#[test]
fn prefix_repetition_groups_share_their_exact_prefix_tokens() {
    let tok = ByteTokenizer::default();
    let requests = sample(&prefix_args(23, 5), &tok).unwrap();
    assert_eq!(requests.len(), 23);
    assert_sequential_ids(&requests, "prefix_repetition-");
    assert_counts_exact(&tok, &requests);
    let mut groups: HashMap<Vec<u32>, usize> = HashMap::new();
    for r in &requests {
        assert_eq!(r.prompt_len, 19, "{}", r.request_id);
        assert_eq!(r.expected_output_len, 9);
        let ids = tok.encode(text(r), false);
        *groups.entry(ids[..12].to_vec()).or_default() += 1;
    }
    // 23 = 5 × 4 + 3: three prefixes get one extra prompt.
    let mut sizes: Vec<usize> = groups.into_values().collect();
    sizes.sort_unstable();
    assert_eq!(sizes, [4, 4, 5, 5, 5]);
}

#[test]
fn prefix_repetition_suffixes_are_fresh() {
    let tok = ByteTokenizer::default();
    let requests = sample(&prefix_args(20, 2), &tok).unwrap();
    let distinct: std::collections::HashSet<&str> = requests.iter().map(text).collect();
    assert_eq!(distinct.len(), 20);
}

#[test]
fn prefix_repetition_is_shuffled_unless_disabled_and_deterministic() {
    let tok = ByteTokenizer::default();
    let group_of = |requests: &[SampleRequest]| -> Vec<Vec<u32>> {
        requests
            .iter()
            .map(|r| tok.encode(text(r), false)[..12].to_vec())
            .collect()
    };
    let mut args = prefix_args(12, 3);
    args.disable_shuffle = true;
    let ordered = group_of(&sample(&args, &tok).unwrap());
    // Unshuffled: each group's prompts are contiguous.
    let changes = ordered.windows(2).filter(|w| w[0] != w[1]).count();
    assert_eq!(changes, 2);

    args.disable_shuffle = false;
    let a = sample(&args, &tok).unwrap();
    assert_eq!(a, sample(&args, &tok).unwrap());
    let shuffled = group_of(&a);
    assert!(shuffled.windows(2).filter(|w| w[0] != w[1]).count() > 2);
}

#[test]
fn prefix_repetition_needs_a_prompt_per_prefix() {
    let tok = ByteTokenizer::default();
    let err = sample(&prefix_args(4, 5), &tok).unwrap_err();
    assert!(
        matches!(
            err,
            DatasetError::InvalidArgument {
                flag: "--num-prompts",
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string().contains("raise --num-prompts to 5"),
        "{err}"
    );
    let err = sample(&prefix_args(4, 0), &tok).unwrap_err();
    assert!(
        err.to_string().contains("--prefix-repetition-num-prefixes"),
        "{err}"
    );
}
