//! `timed_trace`: a Mooncake-style JSONL trace (vLLM's `TimedTrace`), the prefix-cache and
//! arrival-time workload.
//!
//! ```text
//! {"timestamp": 27482, "input_length": 6955, "output_length": 52, "hash_ids": [46, 47, 2353]}
//! ```
//!
//! Column names come from `--timed-trace-label-{timestamp,input-length,output-length,hash-ids}`.
//! Each hash id stands for a block of `--timed-trace-chunk-hash-size` tokens (16; Mooncake's
//! traces use 512): a deterministic run of random non-special token ids drawn from a stream
//! seeded by the id (and `--seed`), the same in every request and every run. A prompt is the
//! concatenation of its blocks cut to `input_length` — a partial last block is a prefix of the
//! full one — and, when the blocks fall short, continued with tokens of the request's own
//! stream. Two requests that share their first `k` hash ids therefore share their first
//! `k × chunk` tokens exactly, so the server's prefix cache sees the reuse the trace recorded.
//! Prompts are sent as token ids ([`Prompt::Tokens`]); `prompt_len` is `input_length` and
//! `expected_output_len` is `output_length`.
//!
//! The requests are the first `num_prompts` rows in file order (a trace is not shuffled or
//! oversampled: repeating rows would repeat their arrival times). When self-timed (the default
//! here; `--no-self-timed` turns it off), `timestamp` is the row's timestamp ×
//! `--timed-trace-sec-multiplier` (1; 0.001 for Mooncake's milliseconds) ×
//! `--trace-time-scale`, measured from the start of the run as vLLM measures it.
//!
//! Hash ids may be integers or strings (strings are hashed with FNV-1a, which is stable across
//! runs and platforms, unlike vLLM's Python `hash`, which changes with `PYTHONHASHSEED` on
//! strings).

use std::path::Path;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;

use super::error::{DatasetError, Location, Result};
use super::records::read_records;
use super::source::{kind, malformed, token_count};
use super::tokens::allowed_tokens;
use super::{Context, Prompt, SampleRequest};

const EXPECTED: &str = "timed-trace JSONL, one {\"timestamp\": <number>, \"input_length\": \
                        <tokens>, \"output_length\": <tokens>, \"hash_ids\": [...]} object per \
                        line (column names from --timed-trace-label-*)";

/// The `timed_trace` dataset's options (`--timed-trace-*`).
#[derive(Clone, Debug, PartialEq)]
pub struct TimedTraceArgs {
    /// `--timed-trace-chunk-hash-size` (16): tokens per hash id.
    pub chunk_hash_size: usize,
    /// `--timed-trace-sec-multiplier` (1): timestamps × this = seconds.
    pub sec_multiplier: f64,
    /// `--timed-trace-label-timestamp` (`timestamp`).
    pub label_timestamp: String,
    /// `--timed-trace-label-input-length` (`input_length`).
    pub label_input_length: String,
    /// `--timed-trace-label-output-length` (`output_length`).
    pub label_output_length: String,
    /// `--timed-trace-label-hash-ids` (`hash_ids`).
    pub label_hash_ids: String,
}

impl Default for TimedTraceArgs {
    fn default() -> Self {
        Self {
            chunk_hash_size: 16,
            sec_multiplier: 1.0,
            label_timestamp: "timestamp".to_owned(),
            label_input_length: "input_length".to_owned(),
            label_output_length: "output_length".to_owned(),
            label_hash_ids: "hash_ids".to_owned(),
        }
    }
}

/// One row of the trace.
struct Row {
    timestamp: f64,
    input_length: usize,
    output_length: usize,
    hash_ids: Vec<u64>,
}

/// Keeps the block streams apart from the per-request streams.
const BLOCK_TAG: u64 = 0x626C_6F63_6B5F_6964; // "block_id"
const TAIL_TAG: u64 = 0x7461_696C_5F72_6571; // "tail_req"

/// Requests from the trace at `path`; self-timed at `replay_scale` when given.
pub(crate) fn sample(
    ctx: &Context<'_>,
    path: &Path,
    args: &TimedTraceArgs,
    replay_scale: Option<f64>,
) -> Result<Vec<SampleRequest>> {
    check_args(args)?;
    let allowed = allowed_tokens(ctx.tokenizer)?;
    let records = read_records(path, EXPECTED)?;
    let mut requests = Vec::with_capacity(ctx.num_prompts.min(records.len()));
    for (i, record) in records.iter().take(ctx.num_prompts).enumerate() {
        let row = read_row(path, record.at, &record.object, args)?;
        let prompt = prompt_tokens(ctx.seed, i, &row, args.chunk_hash_size, &allowed);
        requests.push(SampleRequest {
            request_id: ctx.request_id(i),
            prompt_len: prompt.len(),
            prompt: Prompt::Tokens(prompt),
            expected_output_len: row.output_length,
            timestamp: replay_scale.map(|scale| row.timestamp * args.sec_multiplier * scale),
        });
    }
    if requests.is_empty() {
        return Err(DatasetError::NoUsableRows {
            path: path.to_owned(),
            reason: format!("the trace has no rows; expected {EXPECTED}"),
        });
    }
    Ok(requests)
}

fn check_args(args: &TimedTraceArgs) -> Result<()> {
    if args.chunk_hash_size == 0 {
        return Err(DatasetError::InvalidArgument {
            flag: "--timed-trace-chunk-hash-size",
            value: "0".to_owned(),
            expected: "expected the tokens per hash id, e.g. 512 for Mooncake traces".to_owned(),
        });
    }
    if !(args.sec_multiplier.is_finite() && args.sec_multiplier > 0.0) {
        return Err(DatasetError::InvalidArgument {
            flag: "--timed-trace-sec-multiplier",
            value: args.sec_multiplier.to_string(),
            expected: "expected a positive factor from trace units to seconds, e.g. 0.001 for \
                       milliseconds"
                .to_owned(),
        });
    }
    Ok(())
}

/// The prompt of request `index`: its blocks, cut to `input_length` or continued with its own
/// tokens.
fn prompt_tokens(seed: u64, index: usize, row: &Row, chunk: usize, allowed: &[u32]) -> Vec<u32> {
    let mut tokens = Vec::with_capacity(row.input_length);
    for &id in &row.hash_ids {
        let take = chunk.min(row.input_length - tokens.len());
        if take == 0 {
            break;
        }
        let mut rng = stream(seed, BLOCK_TAG, id);
        tokens.extend((0..take).map(|_| allowed[rng.random_range(0..allowed.len())]));
    }
    let missing = row.input_length - tokens.len();
    if missing > 0 {
        let mut rng = stream(seed, TAIL_TAG, index as u64);
        tokens.extend((0..missing).map(|_| allowed[rng.random_range(0..allowed.len())]));
    }
    tokens
}

/// A random stream for (`seed`, `tag`, `key`).
fn stream(seed: u64, tag: u64, key: u64) -> StdRng {
    StdRng::seed_from_u64(mix(mix(seed ^ tag) ^ key))
}

/// SplitMix64's finalizer: nearby inputs give unrelated outputs.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// FNV-1a, 64-bit.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xCBF2_9CE4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01B3)
    })
}

fn read_row(
    path: &Path,
    at: Location,
    object: &serde_json::Map<String, Value>,
    args: &TimedTraceArgs,
) -> Result<Row> {
    let get = |name: &str| {
        object
            .get(name)
            .ok_or_else(|| malformed(path, at, format!("no `{name}` field"), EXPECTED))
    };
    let raw_time = get(&args.label_timestamp)?;
    let timestamp = raw_time
        .as_f64()
        .filter(|t| t.is_finite() && *t >= 0.0)
        .ok_or_else(|| {
            malformed(
                path,
                at,
                format!(
                    "`{}` is {raw_time}, not a non-negative time",
                    args.label_timestamp
                ),
                EXPECTED,
            )
        })?;
    let count = |name: &str| {
        let value = get(name)?;
        match token_count(value) {
            Some(n) if n > 0 => Ok(n),
            _ => Err(malformed(
                path,
                at,
                format!("`{name}` is {value}, not a positive token count"),
                EXPECTED,
            )),
        }
    };
    let input_length = count(&args.label_input_length)?;
    let output_length = count(&args.label_output_length)?;
    let hash_field = &args.label_hash_ids;
    let raw_ids = get(hash_field)?;
    let Some(ids) = raw_ids.as_array() else {
        return Err(malformed(
            path,
            at,
            format!("`{hash_field}` is {}, not a list", kind(raw_ids)),
            EXPECTED,
        ));
    };
    let hash_ids = ids
        .iter()
        .enumerate()
        .map(|(k, id)| match id {
            Value::String(s) => Ok(fnv1a(s.as_bytes())),
            other => other.as_u64().ok_or_else(|| {
                malformed(
                    path,
                    at,
                    format!("`{hash_field}[{k}]` is {other}, not an integer or string id"),
                    EXPECTED,
                )
            }),
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Row {
        timestamp,
        input_length,
        output_length,
        hash_ids,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(input_length: usize, hash_ids: &[u64]) -> Row {
        Row {
            timestamp: 0.0,
            input_length,
            output_length: 1,
            hash_ids: hash_ids.to_vec(),
        }
    }

    #[test]
    fn a_partial_block_is_a_prefix_of_the_full_one() {
        let allowed: Vec<u32> = (10..1000).collect();
        let full = prompt_tokens(0, 0, &row(8, &[5]), 8, &allowed);
        let part = prompt_tokens(0, 1, &row(3, &[5]), 8, &allowed);
        assert_eq!(part, full[..3]);
    }

    #[test]
    fn blocks_depend_on_the_seed_and_the_id_only() {
        let allowed: Vec<u32> = (10..1000).collect();
        let a = prompt_tokens(1, 0, &row(8, &[5]), 8, &allowed);
        assert_eq!(a, prompt_tokens(1, 9, &row(8, &[5]), 8, &allowed));
        assert_ne!(a, prompt_tokens(2, 0, &row(8, &[5]), 8, &allowed));
        assert_ne!(a, prompt_tokens(1, 0, &row(8, &[6]), 8, &allowed));
    }

    #[test]
    fn tails_beyond_the_blocks_are_the_requests_own() {
        let allowed: Vec<u32> = (10..1000).collect();
        let a = prompt_tokens(0, 0, &row(20, &[5]), 8, &allowed);
        let b = prompt_tokens(0, 1, &row(20, &[5]), 8, &allowed);
        assert_eq!((a.len(), b.len()), (20, 20));
        assert_eq!(a[..8], b[..8]);
        assert_ne!(a[8..], b[8..]);
    }

    #[test]
    fn fnv1a_matches_its_reference_values() {
        assert_eq!(fnv1a(b""), 0xCBF2_9CE4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xAF63_DC4C_8601_EC8C);
    }
}
