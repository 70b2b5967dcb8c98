//! [`DatasetArgs`]: the dataset options of `vllm bench serve` and `vllm bench throughput`, with
//! vLLM's names and defaults, and [`DatasetName`], the datasets dyno reads.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use super::error::DatasetError;
use super::hf::HfArgs;
use super::replay::ReplayArgs;
use super::spec_bench::SpecBenchArgs;
use super::timed_trace::TimedTraceArgs;

/// A dataset dyno reads, spelled as vLLM's `--dataset-name`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DatasetName {
    /// `random`: synthetic prompts of exact token lengths.
    Random,
    /// `sharegpt`: the first human turn of ShareGPT conversations (JSON list).
    ShareGpt,
    /// `sonnet`: lines of Shakespeare's sonnets (text file), with a shared prefix.
    Sonnet,
    /// `burstgpt`: request/response lengths of BurstGPT's GPT-4 rows (CSV).
    BurstGpt,
    /// `prefix_repetition`: groups of prompts sharing an exact-length random prefix.
    PrefixRepetition,
    /// `custom`: one `{"prompt": …}` object per line (JSONL).
    Custom,
    /// `spec_bench`: the first turn of Spec-Bench questions (JSONL), by category.
    SpecBench,
    /// `hf`: a local copy of a Hugging Face dataset (MT-Bench, InstructCoder, AIMO, Blazedit) in
    /// its published columns (JSON or JSONL).
    Hf,
    /// `timed_trace`: a Mooncake-style JSONL trace; `hash_ids` become shared token blocks and
    /// the timestamps drive the arrivals.
    TimedTrace,
    /// `azure` (dyno's own): request/response lengths and arrival times of the Azure LLM
    /// inference trace 2023 (CSV).
    Azure,
}

impl DatasetName {
    /// Every dataset dyno reads.
    pub const ALL: [Self; 10] = [
        Self::Random,
        Self::ShareGpt,
        Self::Sonnet,
        Self::BurstGpt,
        Self::PrefixRepetition,
        Self::Custom,
        Self::SpecBench,
        Self::Hf,
        Self::TimedTrace,
        Self::Azure,
    ];

    /// vLLM's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Random => "random",
            Self::ShareGpt => "sharegpt",
            Self::Sonnet => "sonnet",
            Self::BurstGpt => "burstgpt",
            Self::PrefixRepetition => "prefix_repetition",
            Self::Custom => "custom",
            Self::SpecBench => "spec_bench",
            Self::Hf => "hf",
            Self::TimedTrace => "timed_trace",
            Self::Azure => "azure",
        }
    }

    /// What its `--dataset-path` must be; `None` for the generated datasets, which take none.
    pub fn expected_file(self) -> Option<&'static str> {
        match self {
            Self::Random | Self::PrefixRepetition => None,
            Self::ShareGpt => Some("a ShareGPT JSON list of {\"conversations\": [...]} objects"),
            Self::Sonnet => Some("a text file of poem lines, e.g. vLLM's benchmarks/sonnet.txt"),
            Self::BurstGpt => Some(
                "a BurstGPT CSV with columns Timestamp, Model, Request tokens, Response tokens, \
                 Total tokens, Log Type",
            ),
            Self::Custom => Some("a JSONL file with one {\"prompt\": ...} object per line"),
            Self::SpecBench => Some(
                "Spec-Bench's question.jsonl, one {\"category\": ..., \"turns\": [...]} object per line",
            ),
            Self::Hf => Some(
                "a local JSON or JSONL copy of philschmid/mt-bench, likaixin/InstructCoder, \
                 AI-MO/aimo-validation-aime, AI-MO/NuminaMath-1.5, AI-MO/NuminaMath-CoT, \
                 vdaita/edit_5k_char or vdaita/edit_10k_char (name it with --hf-name)",
            ),
            Self::TimedTrace => Some(
                "a Mooncake-style JSONL trace, one {\"timestamp\", \"input_length\", \
                 \"output_length\", \"hash_ids\"} object per line",
            ),
            Self::Azure => Some(
                "an Azure LLM inference trace CSV with columns TIMESTAMP, ContextTokens, \
                 GeneratedTokens",
            ),
        }
    }

    /// Whether its rows carry arrival times that `--self-timed` can replay.
    pub fn has_timestamps(self) -> bool {
        matches!(self, Self::TimedTrace | Self::BurstGpt | Self::Azure)
    }
}

impl fmt::Display for DatasetName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// vLLM dataset names that dyno does not read yet; they get a clearer error than a typo.
const VLLM_ONLY: [&str; 5] = [
    "random-mm",
    "random-rerank",
    "custom_audio",
    "custom_image",
    "speed_bench",
];

impl FromStr for DatasetName {
    type Err = DatasetError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(name) = Self::ALL.into_iter().find(|n| n.as_str() == s) {
            return Ok(name);
        }
        if VLLM_ONLY.contains(&s) {
            Err(DatasetError::UnsupportedDataset { name: s.to_owned() })
        } else {
            Err(DatasetError::UnknownDataset { name: s.to_owned() })
        }
    }
}

/// `--random-range-ratio`: prompt and output lengths vary uniformly within ± this fraction.
///
/// vLLM takes one number for both, or `{"input": r1, "output": r2}`; each must lie in [0, 1).
/// The fields are private so that every value in use has been checked.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct RangeRatio {
    input: f64,
    output: f64,
}

impl RangeRatio {
    /// Separate ratios for prompt and output lengths, each in [0, 1).
    pub fn new(input: f64, output: f64) -> Result<Self, DatasetError> {
        for r in [input, output] {
            if !(0.0..1.0).contains(&r) {
                return Err(DatasetError::InvalidArgument {
                    flag: "--random-range-ratio",
                    value: r.to_string(),
                    expected: "expected a fraction in [0, 1), e.g. 0.1 for lengths within ±10%"
                        .to_owned(),
                });
            }
        }
        Ok(Self { input, output })
    }

    /// One ratio for both lengths.
    pub fn uniform(ratio: f64) -> Result<Self, DatasetError> {
        Self::new(ratio, ratio)
    }

    /// The ratio of prompt lengths.
    pub fn input(&self) -> f64 {
        self.input
    }

    /// The ratio of output lengths.
    pub fn output(&self) -> f64 {
        self.output
    }
}

impl FromStr for RangeRatio {
    type Err = DatasetError;

    /// `"0.3"`, or `{"input": 0.3, "output": 0.5}` (a missing key means 0), as vLLM parses it.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Ok(r) = s.trim().parse::<f64>() {
            return Self::uniform(r);
        }
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Split {
            #[serde(default)]
            input: f64,
            #[serde(default)]
            output: f64,
        }
        let split: Split = serde_json::from_str(s).map_err(|e| DatasetError::InvalidArgument {
            flag: "--random-range-ratio",
            value: s.to_owned(),
            expected: format!(
                "expected a number in [0, 1) or {{\"input\": r1, \"output\": r2}} ({e})"
            ),
        })?;
        Self::new(split.input, split.output)
    }
}

/// The `random` dataset's options (`--random-*`).
#[derive(Clone, Debug, PartialEq)]
pub struct RandomArgs {
    /// `--random-input-len` (1024): prompt tokens, special tokens included.
    pub input_len: usize,
    /// `--random-output-len` (128).
    pub output_len: usize,
    /// `--random-range-ratio` (0).
    pub range_ratio: RangeRatio,
    /// `--random-prefix-len` (0): tokens of one random prefix shared by every prompt, on top of
    /// `input_len`.
    pub prefix_len: usize,
}

impl Default for RandomArgs {
    fn default() -> Self {
        Self {
            input_len: 1024,
            output_len: 128,
            range_ratio: RangeRatio::default(),
            prefix_len: 0,
        }
    }
}

/// What a sonnet request sends.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SonnetPrompt {
    /// The prompt rendered through the chat template (vLLM's choice for completion backends).
    #[default]
    ChatFormatted,
    /// The bare prompt, for chat endpoints that apply the template themselves (vLLM's choice
    /// for `openai-chat`). `prompt_len` still counts the rendered prompt.
    Raw,
}

/// The `sonnet` dataset's options (`--sonnet-*`).
#[derive(Clone, Debug, PartialEq)]
pub struct SonnetArgs {
    /// `--sonnet-input-len` (550): the most tokens a rendered prompt may have.
    pub input_len: usize,
    /// `--sonnet-output-len` (150).
    pub output_len: usize,
    /// `--sonnet-prefix-len` (200): tokens of the shared prefix (base prompt + first lines).
    pub prefix_len: usize,
    /// Rendered or bare prompt.
    pub prompt: SonnetPrompt,
}

impl Default for SonnetArgs {
    fn default() -> Self {
        Self {
            input_len: 550,
            output_len: 150,
            prefix_len: 200,
            prompt: SonnetPrompt::default(),
        }
    }
}

/// The `prefix_repetition` dataset's options (`--prefix-repetition-*`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrefixRepetitionArgs {
    /// `--prefix-repetition-prefix-len` (256).
    pub prefix_len: usize,
    /// `--prefix-repetition-suffix-len` (256).
    pub suffix_len: usize,
    /// `--prefix-repetition-num-prefixes` (10).
    pub num_prefixes: usize,
    /// `--prefix-repetition-output-len` (128).
    pub output_len: usize,
}

impl Default for PrefixRepetitionArgs {
    fn default() -> Self {
        Self {
            prefix_len: 256,
            suffix_len: 256,
            num_prefixes: 10,
            output_len: 128,
        }
    }
}

/// `--custom-output-len`: one length for every request, or each line's `output_tokens`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CustomOutputLen {
    /// Every request asks for this many tokens (vLLM's default is 256).
    Fixed(usize),
    /// Each line's `output_tokens` (vLLM's `--custom-output-len -1`); then it is required.
    PerLine,
}

impl Default for CustomOutputLen {
    fn default() -> Self {
        Self::Fixed(256)
    }
}

impl TryFrom<i64> for CustomOutputLen {
    type Error = DatasetError;

    /// vLLM's flag value: `-1` means per line, a positive count is fixed.
    fn try_from(value: i64) -> Result<Self, Self::Error> {
        match value {
            -1 => Ok(Self::PerLine),
            v if v > 0 => usize::try_from(v)
                .map(Self::Fixed)
                .map_err(|_| invalid_custom(v)),
            v => Err(invalid_custom(v)),
        }
    }
}

fn invalid_custom(value: i64) -> DatasetError {
    DatasetError::InvalidArgument {
        flag: "--custom-output-len",
        value: value.to_string(),
        expected: "expected a positive token count, or -1 to use each line's `output_tokens`"
            .to_owned(),
    }
}

/// Everything the dataset readers take: vLLM's dataset flags, with vLLM's defaults
/// ([`Default`]). Each dataset reads only its own options.
#[derive(Clone, Debug, PartialEq)]
pub struct DatasetArgs {
    /// `--dataset-name` (random).
    pub name: DatasetName,
    /// `--dataset-path`: required by the file-backed datasets, refused by the generated ones.
    pub path: Option<PathBuf>,
    /// `--num-prompts` (1000). For `custom` and `spec_bench`, 0 means every row (vLLM: ≤ 0).
    pub num_prompts: usize,
    /// `--seed` (0).
    pub seed: u64,
    /// Request ids are this prefix plus a number; `None` means `"<dataset name>-"`.
    pub request_id_prefix: Option<String>,
    /// `--disable-shuffle`: keep the file's order (sharegpt, custom, spec_bench, hf,
    /// prefix_repetition).
    pub disable_shuffle: bool,
    /// `--no-oversample`: when the file has fewer usable rows than `num_prompts`, send fewer
    /// requests instead of repeating rows.
    pub no_oversample: bool,
    /// `--skip-chat-template`: send custom, spec_bench and hf prompts as they are.
    pub skip_chat_template: bool,
    /// The `random` dataset's options.
    pub random: RandomArgs,
    /// `--sharegpt-output-len`: output tokens of every ShareGPT request instead of the length of
    /// its reference answer.
    pub sharegpt_output_len: Option<usize>,
    /// The `sonnet` dataset's options.
    pub sonnet: SonnetArgs,
    /// The `prefix_repetition` dataset's options.
    pub prefix_repetition: PrefixRepetitionArgs,
    /// `--custom-output-len` (256).
    pub custom_output_len: CustomOutputLen,
    /// The `spec_bench` dataset's options.
    pub spec_bench: SpecBenchArgs,
    /// The `hf` dataset's options.
    pub hf: HfArgs,
    /// The `timed_trace` dataset's options.
    pub timed_trace: TimedTraceArgs,
    /// Trace replay (`--self-timed`) for timed_trace, burstgpt and azure.
    pub replay: ReplayArgs,
}

impl Default for DatasetArgs {
    fn default() -> Self {
        Self {
            name: DatasetName::Random,
            path: None,
            num_prompts: 1000,
            seed: 0,
            request_id_prefix: None,
            disable_shuffle: false,
            no_oversample: false,
            skip_chat_template: false,
            random: RandomArgs::default(),
            sharegpt_output_len: None,
            sonnet: SonnetArgs::default(),
            prefix_repetition: PrefixRepetitionArgs::default(),
            custom_output_len: CustomOutputLen::default(),
            spec_bench: SpecBenchArgs::default(),
            hf: HfArgs::default(),
            timed_trace: TimedTraceArgs::default(),
            replay: ReplayArgs::default(),
        }
    }
}

impl DatasetArgs {
    /// Defaults for `name`.
    pub fn new(name: DatasetName) -> Self {
        Self {
            name,
            ..Self::default()
        }
    }

    /// Applies vLLM's general `--input-len` / `--output-len`, which override the per-dataset
    /// lengths: the input length sets `random.input_len`; the output length sets the random,
    /// sharegpt, custom and prefix_repetition output lengths (vLLM's mapping; sonnet keeps
    /// `--sonnet-output-len`).
    pub fn apply_length_overrides(&mut self, input_len: Option<usize>, output_len: Option<usize>) {
        if let Some(input) = input_len {
            self.random.input_len = input;
        }
        if let Some(output) = output_len {
            self.random.output_len = output;
            self.sharegpt_output_len = Some(output);
            self.custom_output_len = CustomOutputLen::Fixed(output);
            self.prefix_repetition.output_len = output;
            self.spec_bench.output_len = output;
            self.hf.output_len = Some(output);
        }
    }

    /// The prefix of request ids: [`Self::request_id_prefix`], else `"<dataset name>-"`.
    pub fn id_prefix(&self) -> String {
        self.request_id_prefix
            .clone()
            .unwrap_or_else(|| format!("{}-", self.name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_vllm_spelling() {
        for name in DatasetName::ALL {
            assert_eq!(name.to_string().parse::<DatasetName>().unwrap(), name);
        }
        assert_eq!(
            "prefix_repetition".parse::<DatasetName>().unwrap(),
            DatasetName::PrefixRepetition
        );
    }

    #[test]
    fn unknown_and_unsupported_names_are_told_apart() {
        assert!(matches!(
            "speed_bench".parse::<DatasetName>(),
            Err(DatasetError::UnsupportedDataset { .. })
        ));
        assert!(matches!(
            "ShareGPT".parse::<DatasetName>(),
            Err(DatasetError::UnknownDataset { .. })
        ));
    }

    #[test]
    fn range_ratio_parses_both_vllm_forms() {
        let uniform: RangeRatio = "0.25".parse().unwrap();
        assert_eq!((uniform.input(), uniform.output()), (0.25, 0.25));
        let split: RangeRatio = r#"{"output": 0.5}"#.parse().unwrap();
        assert_eq!((split.input(), split.output()), (0.0, 0.5));
        assert!("1".parse::<RangeRatio>().is_err());
        assert!(RangeRatio::new(0.1, f64::NAN).is_err());
    }

    #[test]
    fn custom_output_len_follows_the_flag() {
        assert_eq!(
            CustomOutputLen::try_from(-1).unwrap(),
            CustomOutputLen::PerLine
        );
        assert_eq!(
            CustomOutputLen::try_from(7).unwrap(),
            CustomOutputLen::Fixed(7)
        );
        assert!(CustomOutputLen::try_from(0).is_err());
        assert!(CustomOutputLen::try_from(-2).is_err());
    }

    #[test]
    fn length_overrides_follow_vllm_mapping() {
        let mut args = DatasetArgs::default();
        args.apply_length_overrides(Some(64), Some(32));
        assert_eq!(args.random.input_len, 64);
        assert_eq!(args.random.output_len, 32);
        assert_eq!(args.sharegpt_output_len, Some(32));
        assert_eq!(args.custom_output_len, CustomOutputLen::Fixed(32));
        assert_eq!(args.prefix_repetition.output_len, 32);
        assert_eq!(args.spec_bench.output_len, 32);
        assert_eq!(args.hf.output_len, Some(32));
        assert_eq!(args.sonnet, SonnetArgs::default());
        assert_eq!(args.timed_trace, TimedTraceArgs::default());
        assert_eq!(args.id_prefix(), "random-");
    }
}
