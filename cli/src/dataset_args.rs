//! `--dataset-*` flags into `dyno-bench`'s [`DatasetArgs`].

use anyhow::{Context, Result};
use dyno_bench::dataset::{
    BenchTokenizer, CustomOutputLen, DatasetArgs, HfArgs, PrefixRepetitionArgs, RandomArgs,
    ReplayArgs, SampleRequest, SonnetArgs, SpecBenchArgs, TimedTraceArgs,
};

use crate::args::bench::DatasetFlags;

/// The reader options the flags describe.
pub fn dataset_args(flags: &DatasetFlags, seed: u64) -> Result<DatasetArgs> {
    if let Some(value) = flags
        .files
        .hf_subset
        .as_ref()
        .or(flags.files.hf_split.as_ref())
    {
        tracing::warn!(
            value,
            "--hf-subset/--hf-split select a part of a hub dataset; a local --dataset-path is read as it is"
        );
    }
    let mut args = DatasetArgs {
        name: flags.dataset_name.parse()?,
        path: flags.dataset_path.clone(),
        num_prompts: flags.num_prompts,
        seed,
        disable_shuffle: flags.disable_shuffle,
        no_oversample: flags.no_oversample,
        skip_chat_template: flags.skip_chat_template,
        random: RandomArgs {
            range_ratio: flags.random.random_range_ratio.parse()?,
            prefix_len: flags.random.prefix_len,
            ..RandomArgs::default()
        },
        sharegpt_output_len: flags.sharegpt_output_len,
        sonnet: SonnetArgs {
            input_len: flags.sonnet_input_len,
            output_len: flags.sonnet_output_len,
            prefix_len: flags.sonnet_prefix_len,
            ..SonnetArgs::default()
        },
        prefix_repetition: PrefixRepetitionArgs {
            prefix_len: flags.prefix_repetition_prefix_len,
            suffix_len: flags.prefix_repetition_suffix_len,
            num_prefixes: flags.prefix_repetition_num_prefixes,
            output_len: flags.prefix_repetition_output_len,
        },
        custom_output_len: CustomOutputLen::try_from(flags.custom_output_len)?,
        spec_bench: SpecBenchArgs {
            output_len: flags.files.spec_bench_output_len,
            category: flags.files.spec_bench_category.clone(),
        },
        hf: HfArgs {
            name: flags.files.hf_name.clone(),
            output_len: flags.files.hf_output_len,
            blazedit_min_distance: flags.files.blazedit_min_distance,
            blazedit_max_distance: flags.files.blazedit_max_distance,
        },
        timed_trace: TimedTraceArgs {
            chunk_hash_size: flags.trace.timed_trace_chunk_hash_size,
            sec_multiplier: flags.trace.timed_trace_sec_multiplier,
            label_timestamp: flags.trace.timed_trace_label_timestamp.clone(),
            label_input_length: flags.trace.timed_trace_label_input_length.clone(),
            label_output_length: flags.trace.timed_trace_label_output_length.clone(),
            label_hash_ids: flags.trace.timed_trace_label_hash_ids.clone(),
        },
        replay: ReplayArgs {
            self_timed: flags.trace.self_timed(),
            time_scale: flags.trace.trace_time_scale,
        },
        ..DatasetArgs::default()
    };
    if flags.random.random_batch_size != 1 {
        anyhow::bail!(
            "--random-batch-size {}: only 1 is supported (vLLM batches prompts into one request \
             for embedding backends, which dyno does not have)",
            flags.random.random_batch_size
        );
    }
    // vLLM's precedence: the dataset-specific spelling, then the general --input-len /
    // --output-len over it.
    args.apply_length_overrides(flags.random.random_input_len, None);
    if let Some(output) = flags.random.random_output_len {
        args.random.output_len = output;
    }
    args.apply_length_overrides(flags.input_len, flags.output_len);
    Ok(args)
}

/// Samples the requests the flags describe.
pub fn sample(
    flags: &DatasetFlags,
    seed: u64,
    tokenizer: &dyn BenchTokenizer,
) -> Result<Vec<SampleRequest>> {
    let args = dataset_args(flags, seed)?;
    dyno_bench::dataset::sample(&args, tokenizer)
        .with_context(|| format!("sampling the {} dataset", args.name))
}

#[cfg(test)]
mod tests {
    use clap::Parser;
    use dyno_bench::dataset::DatasetName;

    use super::*;

    #[derive(Parser)]
    struct Flags {
        #[command(flatten)]
        dataset: DatasetFlags,
    }

    fn parse(args: &[&str]) -> DatasetArgs {
        let flags = Flags::try_parse_from(std::iter::once("dyno").chain(args.iter().copied()))
            .unwrap_or_else(|e| panic!("{args:?}: {e}"));
        dataset_args(&flags.dataset, 0).unwrap()
    }

    #[test]
    fn random_spellings_and_vllms_precedence() {
        let args = parse(&[
            "--random-input-len",
            "77",
            "--random-output-len",
            "9",
            "--random-prefix-len",
            "5",
        ]);
        assert_eq!(
            (
                args.random.input_len,
                args.random.output_len,
                args.random.prefix_len
            ),
            (77, 9, 5)
        );
        assert_eq!(
            args.sharegpt_output_len, None,
            "--random-output-len is the random dataset's only"
        );
        let args = parse(&[
            "--random-input-len",
            "77",
            "--input-len",
            "12",
            "--random-output-len",
            "9",
            "--output-len",
            "3",
        ]);
        assert_eq!((args.random.input_len, args.random.output_len), (12, 3));
        assert_eq!(args.sharegpt_output_len, Some(3));
        let flags = Flags::try_parse_from(["dyno", "--random-batch-size", "4"]).unwrap();
        let e = dataset_args(&flags.dataset, 0).unwrap_err().to_string();
        assert!(
            e.contains("--random-batch-size 4") && e.contains("embedding"),
            "{e}"
        );
        assert!(parse(&["--random-batch-size", "1"]).random.input_len > 0);
    }

    #[test]
    fn timed_trace_flags_reach_the_reader_options() {
        let args = parse(&[
            "--dataset-name",
            "timed_trace",
            "--timed-trace-chunk-hash-size",
            "512",
            "--timed-trace-sec-multiplier",
            "0.001",
            "--timed-trace-label-hash-ids",
            "blocks",
            "--trace-time-scale",
            "0.5",
        ]);
        assert_eq!(args.name, DatasetName::TimedTrace);
        assert_eq!(args.timed_trace.chunk_hash_size, 512);
        assert_eq!(args.timed_trace.sec_multiplier, 0.001);
        assert_eq!(args.timed_trace.label_hash_ids, "blocks");
        assert_eq!(args.timed_trace.label_timestamp, "timestamp");
        assert_eq!(args.replay.time_scale, 0.5);
        assert_eq!(args.replay.self_timed, None);
    }

    #[test]
    fn the_last_self_timed_flag_wins_and_trace_replay_is_an_alias() {
        let timed = |flags: &[&str]| parse(flags).replay.self_timed;
        assert_eq!(timed(&["--self-timed"]), Some(true));
        assert_eq!(timed(&["--trace-replay"]), Some(true));
        assert_eq!(timed(&["--no-self-timed"]), Some(false));
        assert_eq!(timed(&["--self-timed", "--no-self-timed"]), Some(false));
        assert_eq!(timed(&["--no-self-timed", "--trace-replay"]), Some(true));
    }

    #[test]
    fn spec_bench_and_hf_flags_reach_the_reader_options() {
        let args = parse(&[
            "--dataset-name",
            "hf",
            "--hf-name",
            "vdaita/edit_5k_char",
            "--hf-output-len",
            "123",
            "--blazedit-min-distance",
            "0.1",
            "--blazedit-max-distance",
            "0.4",
            "--spec-bench-category",
            "coding",
            "--spec-bench-output-len",
            "64",
        ]);
        assert_eq!(args.name, DatasetName::Hf);
        assert_eq!(args.hf.name.as_deref(), Some("vdaita/edit_5k_char"));
        assert_eq!(args.hf.output_len, Some(123));
        assert_eq!(
            (args.hf.blazedit_min_distance, args.hf.blazedit_max_distance),
            (0.1, 0.4)
        );
        assert_eq!(args.spec_bench.category.as_deref(), Some("coding"));
        assert_eq!(args.spec_bench.output_len, 64);
        // --output-len overrides both, as in vLLM.
        let args = parse(&["--dataset-name", "spec_bench", "--output-len", "9"]);
        assert_eq!(
            (args.spec_bench.output_len, args.hf.output_len),
            (9, Some(9))
        );
    }
}
