//! Trace replay: turning a trace's arrival times into [`SampleRequest::timestamp`]s, and the
//! requests of the length-only traces (BurstGPT, Azure).
//!
//! `--self-timed` (alias `--trace-replay`) / `--no-self-timed` choose whether the timestamps
//! drive the arrivals. It defaults to on for `timed_trace` (vLLM's rule) and off for `burstgpt`
//! and `azure`, whose timestamps vLLM ignores, so a plain `--dataset-name burstgpt` run samples
//! as vLLM does and follows `--request-rate`. Any other dataset refuses `--self-timed`.
//! `--trace-time-scale` (default 1) multiplies every replayed offset after the dataset's own unit
//! conversion (`--timed-trace-sec-multiplier` for timed_trace): 0.5 replays twice as fast.
//!
//! A length-only trace without replay is sampled as vLLM samples BurstGPT: `num_prompts` rows
//! drawn with the seed, without replacement while rows suffice, with replacement beyond that
//! (pandas `df.sample`), or every row once under `no_oversample`. With replay, a random draw
//! would thin the trace and spread a few requests over its whole span, so the requests are
//! instead the **first** `num_prompts` rows in file order: a contiguous window that keeps the
//! trace's rate and burstiness. Its timestamps are offsets from the window's earliest row (the
//! first row of a time-ordered trace), and the requests are sorted by them. A window is never
//! oversampled: repeating rows would repeat their arrival times.
//!
//! Request `i` sends the decoding of token ids `(i + j) % vocab_size` for `j < input tokens`
//! and declares `prompt_len` = the row's input tokens without re-counting, as vLLM's BurstGPT
//! reader does.

use rand::Rng;
use rand::seq::index;

use super::args::DatasetName;
use super::error::{DatasetError, Result};
use super::{Context, Prompt, SampleRequest};

/// `--self-timed` and `--trace-time-scale`.
#[derive(Clone, Debug, PartialEq)]
pub struct ReplayArgs {
    /// `--self-timed` (`Some(true)`, alias `--trace-replay`) or `--no-self-timed`
    /// (`Some(false)`); `None` takes the dataset's default (on for timed_trace only).
    pub self_timed: Option<bool>,
    /// `--trace-time-scale` (1): replayed offsets are multiplied by this.
    pub time_scale: f64,
}

impl Default for ReplayArgs {
    fn default() -> Self {
        Self {
            self_timed: None,
            time_scale: 1.0,
        }
    }
}

impl ReplayArgs {
    /// The time scale when `dataset`'s timestamps are to be replayed, `None` when they are not.
    ///
    /// Fails when replay is asked of a dataset without timestamps, on a scale that is not a
    /// positive finite number, or on a scale given without replay (it would do nothing).
    pub(crate) fn scale_for(&self, dataset: DatasetName) -> Result<Option<f64>> {
        if !(self.time_scale.is_finite() && self.time_scale > 0.0) {
            return Err(DatasetError::InvalidArgument {
                flag: "--trace-time-scale",
                value: self.time_scale.to_string(),
                expected: "expected a positive factor, e.g. 0.5 to replay twice as fast".to_owned(),
            });
        }
        if !dataset.has_timestamps() {
            if self.self_timed == Some(true) {
                return Err(DatasetError::InvalidArgument {
                    flag: "--self-timed",
                    value: dataset.as_str().to_owned(),
                    expected: "expected a dataset with arrival times (timed_trace, burstgpt or \
                               azure); drop --self-timed and set --request-rate instead"
                        .to_owned(),
                });
            }
            return self.unused_scale(dataset).map(|()| None);
        }
        let on = self
            .self_timed
            .unwrap_or(dataset == DatasetName::TimedTrace);
        if on {
            Ok(Some(self.time_scale))
        } else {
            self.unused_scale(dataset).map(|()| None)
        }
    }

    fn unused_scale(&self, dataset: DatasetName) -> Result<()> {
        if self.time_scale == 1.0 {
            return Ok(());
        }
        Err(DatasetError::InvalidArgument {
            flag: "--trace-time-scale",
            value: self.time_scale.to_string(),
            expected: format!(
                "it only scales replayed arrival times, and dataset `{dataset}` is not \
                 replayed; add --self-timed (timed_trace, burstgpt, azure) or drop it"
            ),
        })
    }
}

/// One row of a length-only trace.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TraceRow {
    /// Arrival time in seconds, from any origin.
    pub timestamp: f64,
    /// Prompt tokens.
    pub input_tokens: usize,
    /// Output tokens.
    pub output_tokens: usize,
}

/// The requests of a length-only trace: sampled as vLLM samples BurstGPT, or the first
/// `num_prompts` rows replayed at `replay_scale` (see the module docs).
pub(crate) fn length_trace_requests(
    ctx: &Context<'_>,
    rows: &[TraceRow],
    replay_scale: Option<f64>,
) -> Result<Vec<SampleRequest>> {
    let vocab = ctx.tokenizer.vocab_size();
    if vocab == 0 {
        return Err(DatasetError::InvalidTokenizer {
            problem: "its vocabulary is empty".to_owned(),
        });
    }
    let n = ctx.num_prompts;
    let picked: Vec<(TraceRow, Option<f64>)> = match replay_scale {
        Some(scale) => {
            let mut window = rows[..n.min(rows.len())].to_vec();
            window.sort_by(|a, b| a.timestamp.total_cmp(&b.timestamp));
            let t0 = window.first().map_or(0.0, |r| r.timestamp);
            window
                .into_iter()
                .map(|r| (r, Some((r.timestamp - t0) * scale)))
                .collect()
        }
        None => {
            let mut rng = ctx.rng();
            let picks: Vec<usize> = if n <= rows.len() {
                index::sample(&mut rng, rows.len(), n).into_vec()
            } else if ctx.no_oversample {
                index::sample(&mut rng, rows.len(), rows.len()).into_vec()
            } else {
                (0..n).map(|_| rng.random_range(0..rows.len())).collect()
            };
            picks.into_iter().map(|p| (rows[p], None)).collect()
        }
    };
    Ok(picked
        .into_iter()
        .enumerate()
        .map(|(i, (row, timestamp))| {
            let ids: Vec<u32> = (0..row.input_tokens)
                .map(|j| ((i + j) % vocab) as u32)
                .collect();
            SampleRequest {
                request_id: ctx.request_id(i),
                prompt: Prompt::Text(ctx.tokenizer.decode(&ids)),
                prompt_len: row.input_tokens,
                expected_output_len: row.output_tokens,
                timestamp,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replay(self_timed: Option<bool>, time_scale: f64) -> ReplayArgs {
        ReplayArgs {
            self_timed,
            time_scale,
        }
    }

    #[test]
    fn self_timed_defaults_on_for_timed_trace_only() {
        let default = ReplayArgs::default();
        assert_eq!(
            default.scale_for(DatasetName::TimedTrace).unwrap(),
            Some(1.0)
        );
        assert_eq!(default.scale_for(DatasetName::BurstGpt).unwrap(), None);
        assert_eq!(default.scale_for(DatasetName::Azure).unwrap(), None);
        assert_eq!(default.scale_for(DatasetName::Random).unwrap(), None);
        let on = replay(Some(true), 0.5);
        assert_eq!(on.scale_for(DatasetName::Azure).unwrap(), Some(0.5));
        let off = replay(Some(false), 1.0);
        assert_eq!(off.scale_for(DatasetName::TimedTrace).unwrap(), None);
    }

    #[test]
    fn replay_options_that_would_do_nothing_are_refused() {
        let err = replay(Some(true), 1.0)
            .scale_for(DatasetName::ShareGpt)
            .unwrap_err();
        assert!(err.to_string().contains("--self-timed sharegpt"), "{err}");
        let err = replay(None, 2.0)
            .scale_for(DatasetName::BurstGpt)
            .unwrap_err();
        assert!(err.to_string().contains("--trace-time-scale 2"), "{err}");
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(
                replay(Some(true), bad)
                    .scale_for(DatasetName::Azure)
                    .is_err()
            );
        }
    }
}
