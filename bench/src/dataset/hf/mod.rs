//! `hf`: local copies of the Hugging Face datasets vLLM's `--dataset-name hf` reads, in their
//! published column layouts (there is no hub access: `--dataset-path` is a JSON or JSONL file).
//!
//! | `--hf-name` | layout | prompt | output tokens (default) |
//! |---|---|---|---|
//! | `philschmid/mt-bench` | `turns` | `turns[0]`, chat template | 256 |
//! | `likaixin/InstructCoder` | `instruction`, `input` | `"{input}\n\n{instruction} Just output the code, do not include any explanation."`, chat template | 200 |
//! | `AI-MO/aimo-validation-aime`, `AI-MO/NuminaMath-1.5`, `AI-MO/NuminaMath-CoT` | `problem`, `solution` | `problem` | tokens of `solution` |
//! | `vdaita/edit_5k_char`, `vdaita/edit_10k_char` | `code`, `change_request`, `norm_distance` | Blazedit's change-request template, chat template | 4000 |
//!
//! Which layout a file has comes from `--hf-name`, else from the path: an id spelled in it
//! (`philschmid/mt-bench`, or the hub cache's `philschmid--mt-bench` / `philschmid___mt-bench`),
//! or a folder or file named after the dataset (`mt_bench/question.jsonl`, `InstructCoder.jsonl`;
//! `-` and `_` alike, any case).
//!
//! Sampling follows vLLM's readers: the rows are shuffled with the seed (unless
//! `disable_shuffle`), taken in order until `num_prompts` requests are made, then oversampled.
//! `--hf-output-len` (or `--output-len`) fixes every output length. The chat template is applied
//! unless `skip_chat_template`; `prompt_len` counts the prompt sent, with special tokens.
//! Blazedit keeps rows with `norm_distance` in [`--blazedit-min-distance`,
//! `--blazedit-max-distance`]. AIMO, when its output length is the solution's, keeps rows with a
//! prompt of 4 to 2048 tokens, an output of at least 4 and at most 32000 together (vLLM's
//! `is_valid_sequence` with AIMO's limits).
//!
//! Differences from vLLM: every row is checked up front, so a malformed one anywhere is named
//! by its line (JSONL) or list index (JSON); a tokenizer without a chat template sends the
//! prompt as it is; request ids are always consecutive (vLLM's Blazedit reader skips the ids of
//! filtered rows). Parquet files are refused with the command that converts them.

mod sample;

pub(crate) use sample::sample;

use std::path::Path;

use super::error::{DatasetError, Result};

/// The `hf` dataset's options (`--hf-*`, `--blazedit-*`).
#[derive(Clone, Debug, PartialEq)]
pub struct HfArgs {
    /// `--hf-name`: which dataset's layout the file has, when the path does not say it.
    pub name: Option<String>,
    /// `--hf-output-len`: output tokens of every request instead of the dataset's default.
    pub output_len: Option<usize>,
    /// `--blazedit-min-distance` (0.0).
    pub blazedit_min_distance: f64,
    /// `--blazedit-max-distance` (1.0).
    pub blazedit_max_distance: f64,
}

impl Default for HfArgs {
    fn default() -> Self {
        Self {
            name: None,
            output_len: None,
            blazedit_min_distance: 0.0,
            blazedit_max_distance: 1.0,
        }
    }
}

/// A column layout, shared by the datasets of one vLLM reader.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Layout {
    MtBench,
    InstructCoder,
    Aimo,
    Blazedit,
}

/// The Hugging Face ids dyno reads, with their layouts.
const SUPPORTED: [(&str, Layout); 7] = [
    ("philschmid/mt-bench", Layout::MtBench),
    ("likaixin/InstructCoder", Layout::InstructCoder),
    ("AI-MO/aimo-validation-aime", Layout::Aimo),
    ("AI-MO/NuminaMath-1.5", Layout::Aimo),
    ("AI-MO/NuminaMath-CoT", Layout::Aimo),
    ("vdaita/edit_5k_char", Layout::Blazedit),
    ("vdaita/edit_10k_char", Layout::Blazedit),
];

fn supported_ids() -> String {
    SUPPORTED.map(|(id, _)| id).join(", ")
}

/// `-` and `_` alike, any case.
fn normalize(text: &str) -> String {
    text.to_lowercase().replace('-', "_")
}

/// The layout `name` (when given) or `path` names.
fn layout_for(name: Option<&str>, path: &Path) -> Result<(&'static str, Layout)> {
    if let Some(name) = name {
        return SUPPORTED
            .into_iter()
            .find(|(id, _)| id.eq_ignore_ascii_case(name.trim()))
            .ok_or_else(|| DatasetError::InvalidArgument {
                flag: "--hf-name",
                value: name.to_owned(),
                expected: format!(
                    "expected one of the datasets dyno reads locally: {}",
                    supported_ids()
                ),
            });
    }
    let full = normalize(&path.to_string_lossy())
        .replace("___", "/")
        .replace("__", "/");
    let components: Vec<String> = path
        .iter()
        .map(|c| normalize(&c.to_string_lossy()))
        .chain(path.file_stem().map(|s| normalize(&s.to_string_lossy())))
        .collect();
    let mut found: Vec<(&'static str, Layout)> = SUPPORTED
        .into_iter()
        .filter(|(id, _)| {
            let id = normalize(id);
            let base = id.rsplit('/').next().unwrap_or(&id);
            full.contains(&id) || components.iter().any(|c| c == base)
        })
        .collect();
    found.dedup_by_key(|(_, layout)| *layout);
    match found.as_slice() {
        [one] => Ok(*one),
        _ => Err(DatasetError::InvalidArgument {
            flag: "--hf-name",
            value: "(not given)".to_owned(),
            expected: format!(
                "the path {} does not say which dataset it holds; pass --hf-name with one of: {}",
                path.display(),
                supported_ids()
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(name: Option<&str>, path: &str) -> Option<Layout> {
        layout_for(name, Path::new(path)).ok().map(|(_, l)| l)
    }

    #[test]
    fn the_path_names_the_layout() {
        let mt = Some(Layout::MtBench);
        assert_eq!(layout(None, "/data/mt_bench/question.jsonl"), mt);
        assert_eq!(
            layout(None, "/cache/datasets--philschmid--mt-bench/x.jsonl"),
            mt
        );
        assert_eq!(layout(None, "/cache/philschmid___mt-bench/train.json"), mt);
        assert_eq!(
            layout(None, "InstructCoder.jsonl"),
            Some(Layout::InstructCoder)
        );
        assert_eq!(
            layout(None, "/d/AI-MO/NuminaMath-CoT/train.jsonl"),
            Some(Layout::Aimo)
        );
        assert_eq!(layout(None, "edit_10k_char.json"), Some(Layout::Blazedit));
        assert_eq!(layout(None, "/data/train.jsonl"), None);
        // Two datasets of different layouts named in one path: ambiguous.
        assert_eq!(layout(None, "/mt-bench/InstructCoder.jsonl"), None);
    }

    #[test]
    fn hf_name_wins_and_must_be_supported() {
        assert_eq!(
            layout(Some("AI-MO/aimo-validation-aime"), "/data/mt_bench/q.jsonl"),
            Some(Layout::Aimo)
        );
        assert_eq!(
            layout(Some("likaixin/instructcoder"), "x.jsonl"),
            Some(Layout::InstructCoder)
        );
        let err = layout_for(Some("openai/gsm8k"), Path::new("x.jsonl")).unwrap_err();
        assert!(err.to_string().contains("--hf-name openai/gsm8k"), "{err}");
        assert!(err.to_string().contains("philschmid/mt-bench"), "{err}");
    }
}
