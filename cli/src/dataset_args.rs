//! `--dataset-*` flags into `dyno-bench`'s [`DatasetArgs`].

use anyhow::{Context, Result};
use dyno_bench::dataset::{
    BenchTokenizer, CustomOutputLen, DatasetArgs, PrefixRepetitionArgs, RandomArgs, SampleRequest,
    SonnetArgs,
};

use crate::args::bench::DatasetFlags;

/// The reader options the flags describe.
pub fn dataset_args(flags: &DatasetFlags, seed: u64) -> Result<DatasetArgs> {
    let mut args = DatasetArgs {
        name: flags.dataset_name.parse()?,
        path: flags.dataset_path.clone(),
        num_prompts: flags.num_prompts,
        seed,
        disable_shuffle: flags.disable_shuffle,
        no_oversample: flags.no_oversample,
        skip_chat_template: flags.skip_chat_template,
        random: RandomArgs {
            range_ratio: flags.random_range_ratio.parse()?,
            prefix_len: flags.prefix_len,
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
        ..DatasetArgs::default()
    };
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
