//! Reading and sampling the `hf` layouts (see the parent module for the rules).

use std::path::Path;

use rand::seq::SliceRandom;
use serde_json::Value;

use super::super::error::{DatasetError, Result};
use super::super::records::{Record, read_records};
use super::super::sharegpt::is_valid_sequence_within;
use super::super::source::{first_turn, kind, malformed, str_field};
use super::super::{Context, Prompt, SampleRequest};
use super::{HfArgs, Layout, layout_for};

/// vLLM's AIMO limits for `is_valid_sequence`.
const AIMO_MAX_PROMPT_LEN: usize = 2048;
const AIMO_MAX_TOTAL_LEN: usize = 32000;

impl Layout {
    /// What each record must hold.
    fn expected(self) -> &'static str {
        match self {
            Self::MtBench => "MT-Bench records {\"turns\": [\"...\", ...]} (philschmid/mt-bench)",
            Self::InstructCoder => {
                "InstructCoder records {\"instruction\": \"...\", \"input\": \"...\"} \
                 (likaixin/InstructCoder)"
            }
            Self::Aimo => "AIMO records {\"problem\": \"...\", \"solution\": \"...\"} (AI-MO/...)",
            Self::Blazedit => {
                "Blazedit records {\"code\": \"...\", \"change_request\": \"...\", \
                 \"norm_distance\": <number>} (vdaita/edit_*_char)"
            }
        }
    }

    /// vLLM's output length when neither `--hf-output-len` nor the row gives one.
    fn default_output_len(self) -> Option<usize> {
        match self {
            Self::MtBench => Some(256),
            Self::InstructCoder => Some(200),
            Self::Blazedit => Some(4000),
            Self::Aimo => None,
        }
    }

    fn uses_chat_template(self) -> bool {
        self != Self::Aimo
    }
}

/// One row, read.
struct Item {
    /// The prompt before any chat template.
    prompt: String,
    /// AIMO's reference solution.
    solution: Option<String>,
    /// Blazedit's normalized edit distance.
    norm_distance: f64,
}

/// Requests from the `hf`-layout file at `path`.
pub(crate) fn sample(
    ctx: &Context<'_>,
    path: &Path,
    args: &HfArgs,
    skip_chat_template: bool,
) -> Result<Vec<SampleRequest>> {
    let (id, layout) = layout_for(args.name.as_deref(), path)?;
    check_args(args, layout)?;
    let expected = layout.expected();
    let mut items = read_records(path, expected)?
        .iter()
        .map(|record| read_item(path, record, layout))
        .collect::<Result<Vec<_>>>()?;
    let rows = items.len();
    if !ctx.disable_shuffle {
        items.shuffle(&mut ctx.rng());
    }

    let tok = ctx.tokenizer;
    let fixed_output = args.output_len.or(layout.default_output_len());
    let (min_distance, max_distance) = (args.blazedit_min_distance, args.blazedit_max_distance);
    let mut requests = Vec::new();
    for item in items {
        if requests.len() >= ctx.num_prompts {
            break;
        }
        if layout == Layout::Blazedit
            && !(min_distance..=max_distance).contains(&item.norm_distance)
        {
            continue;
        }
        let prompt = if layout.uses_chat_template() && !skip_chat_template {
            tok.apply_chat_template(&item.prompt).unwrap_or(item.prompt)
        } else {
            item.prompt
        };
        let prompt_len = tok.encode(&prompt, true).len();
        let expected_output_len = match fixed_output {
            Some(len) => len,
            None => {
                let solution = item.solution.as_deref().unwrap_or_default();
                let len = tok.encode(solution, true).len();
                let valid = is_valid_sequence_within(
                    prompt_len,
                    len,
                    false,
                    AIMO_MAX_PROMPT_LEN,
                    AIMO_MAX_TOTAL_LEN,
                );
                if !valid {
                    continue;
                }
                len
            }
        };
        requests.push(SampleRequest {
            request_id: ctx.request_id(requests.len()),
            prompt: Prompt::Text(prompt),
            prompt_len,
            expected_output_len,
            timestamp: None,
        });
    }
    if requests.is_empty() {
        return Err(DatasetError::NoUsableRows {
            path: path.to_owned(),
            reason: no_rows_reason(rows, layout, id, args),
        });
    }
    ctx.oversample(&mut requests);
    Ok(requests)
}

fn check_args(args: &HfArgs, layout: Layout) -> Result<()> {
    if args.output_len == Some(0) {
        return Err(DatasetError::InvalidArgument {
            flag: "--hf-output-len",
            value: "0".to_owned(),
            expected: "expected at least 1 output token".to_owned(),
        });
    }
    let (min, max) = (args.blazedit_min_distance, args.blazedit_max_distance);
    if layout == Layout::Blazedit && !(min.is_finite() && max.is_finite() && min <= max) {
        return Err(DatasetError::InvalidArgument {
            flag: "--blazedit-min-distance",
            value: format!("{min} (--blazedit-max-distance {max})"),
            expected: "expected finite distances with min <= max, e.g. 0.1 and 0.5".to_owned(),
        });
    }
    Ok(())
}

fn no_rows_reason(rows: usize, layout: Layout, id: &str, args: &HfArgs) -> String {
    if rows == 0 {
        return format!("the file has no records; expected {}", layout.expected());
    }
    match layout {
        Layout::Blazedit => format!(
            "none of its {rows} rows has norm_distance in [{}, {}]; widen \
             --blazedit-min-distance / --blazedit-max-distance",
            args.blazedit_min_distance, args.blazedit_max_distance
        ),
        Layout::Aimo => format!(
            "none of its {rows} {id} rows passes vLLM's AIMO length filter (prompt of 4 to \
             2048 tokens, solution of at least 4, at most 32000 together); set --hf-output-len \
             to skip the filter"
        ),
        Layout::MtBench | Layout::InstructCoder => format!("none of its {rows} rows is usable"),
    }
}

fn read_item(path: &Path, record: &Record, layout: Layout) -> Result<Item> {
    let (at, object, expected) = (record.at, &record.object, layout.expected());
    let field = |name| str_field(path, at, object, name, expected);
    let item = |prompt: String| Item {
        prompt,
        solution: None,
        norm_distance: 0.0,
    };
    Ok(match layout {
        Layout::MtBench => item(first_turn(path, at, object, "turns", expected)?.to_owned()),
        Layout::InstructCoder => item(format!(
            "{}\n\n{} Just output the code, do not include any explanation.",
            field("input")?,
            field("instruction")?
        )),
        Layout::Aimo => Item {
            prompt: field("problem")?.to_owned(),
            solution: Some(field("solution")?.to_owned()),
            norm_distance: 0.0,
        },
        Layout::Blazedit => {
            let norm_distance = match object.get("norm_distance") {
                Some(Value::Number(n)) => n.as_f64().unwrap_or(f64::NAN),
                Some(other) => {
                    return Err(malformed(
                        path,
                        at,
                        format!("`norm_distance` is {}, not a number", kind(other)),
                        expected,
                    ));
                }
                None => return Err(malformed(path, at, "no `norm_distance` field", expected)),
            };
            Item {
                prompt: blazedit_prompt(field("code")?, field("change_request")?),
                solution: None,
                norm_distance,
            }
        }
    })
}

/// Blazedit's change-request prompt (the wording of `ise-uiuc/blazedit`'s
/// `create_refined_dataset.py`, which vLLM sends).
fn blazedit_prompt(code: &str, change_request: &str) -> String {
    format!(
        "Given a code file, please apply the change requests and generate the new file.\n\n\
         Original file:\n```python\n{code}\n```\n\n\
         Change request:\n{change_request}\n\n\
         Please generate the new code file in the \"New file\" section below."
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_blazedit_prompt_keeps_blazedit_wording() {
        let prompt = blazedit_prompt("x = 1", "Rename x to y.");
        assert_eq!(
            prompt,
            "Given a code file, please apply the change requests and generate the new file.\n\
             \n\
             Original file:\n\
             ```python\n\
             x = 1\n\
             ```\n\
             \n\
             Change request:\n\
             Rename x to y.\n\
             \n\
             Please generate the new code file in the \"New file\" section below."
        );
    }
}
