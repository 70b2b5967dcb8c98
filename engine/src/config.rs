//! Scheduler configuration, with vLLM's flag names.

use crate::error::{EngineError, Result};
use crate::kv_cache::block::blocks_for_tokens;
use crate::kv_cache::config::KvCacheConfig;

/// Which waiting sequence runs next and which running one is preempted (`--scheduling-policy`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SchedulingPolicy {
    /// First come, first served; the most recently admitted sequence is preempted first.
    #[default]
    Fcfs,
    /// Lower `priority` value first, ties by arrival; the victim is the worst by
    /// `(priority, arrival)`.
    Priority,
}

/// Whether a prompt may be split across steps (`--enable-chunked-prefill`, on by default in
/// vLLM v1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChunkedPrefill {
    /// Prompts are split to fit the step's token budget.
    Enabled {
        /// `--long-prefill-token-threshold`: at most this many prompt tokens per sequence per
        /// step, so one long prompt cannot take the whole budget. `None` = no cap (vLLM's 0).
        long_prefill_token_threshold: Option<usize>,
    },
    /// A prompt is scheduled whole or not at all.
    Disabled,
}

impl Default for ChunkedPrefill {
    fn default() -> Self {
        Self::Enabled {
            long_prefill_token_threshold: None,
        }
    }
}

/// The scheduler's raw settings, each named for its vLLM flag. Validate with
/// [`SchedulerConfig::try_new`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SchedulerOptions {
    /// `--max-num-batched-tokens`: tokens computed per step, all sequences together.
    pub max_num_batched_tokens: usize,
    /// `--max-num-seqs`: sequences running at once.
    pub max_num_seqs: usize,
    /// `--max-model-len`: longest sequence, prompt plus output.
    pub max_model_len: usize,
    /// `--enable-chunked-prefill` / `--long-prefill-token-threshold`.
    pub chunked_prefill: ChunkedPrefill,
    /// `--scheduling-policy`.
    pub policy: SchedulingPolicy,
}

impl Default for SchedulerOptions {
    /// vLLM's defaults for a GPU under 70 GiB (`max_num_batched_tokens` 8192, `max_num_seqs` 256),
    /// chunked prefill on, FCFS. `max_model_len` should come from the model; 4096 stands in.
    fn default() -> Self {
        Self {
            max_num_batched_tokens: 8192,
            max_num_seqs: 256,
            max_model_len: 4096,
            chunked_prefill: ChunkedPrefill::default(),
            policy: SchedulingPolicy::Fcfs,
        }
    }
}

/// Validated scheduler settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SchedulerConfig {
    options: SchedulerOptions,
}

impl SchedulerConfig {
    /// Validates `options`.
    ///
    /// # Errors
    /// A zero limit, or (without chunked prefill) a token budget below `max_model_len`.
    pub fn try_new(options: SchedulerOptions) -> Result<Self> {
        for (flag, value) in [
            ("max-num-batched-tokens", options.max_num_batched_tokens),
            ("max-num-seqs", options.max_num_seqs),
            ("max-model-len", options.max_model_len),
        ] {
            if value == 0 {
                return Err(EngineError::ZeroLimit { flag });
            }
        }
        if let ChunkedPrefill::Enabled {
            long_prefill_token_threshold: Some(0),
        } = options.chunked_prefill
        {
            return Err(EngineError::ZeroLimit {
                flag: "long-prefill-token-threshold",
            });
        }
        if options.chunked_prefill == ChunkedPrefill::Disabled
            && options.max_num_batched_tokens < options.max_model_len
        {
            return Err(EngineError::BudgetBelowModelLen {
                max_num_batched_tokens: options.max_num_batched_tokens,
                max_model_len: options.max_model_len,
            });
        }
        Ok(Self { options })
    }

    /// Checks that the KV cache can hold one sequence of `max_model_len` tokens, which guarantees
    /// progress: the scheduler preempts everything else before it preempts the last sequence.
    ///
    /// # Errors
    /// [`EngineError::ModelLenExceedsKvCache`].
    pub fn check_fits(&self, kv: &KvCacheConfig) -> Result<()> {
        let needed_blocks = blocks_for_tokens(self.options.max_model_len, kv.block_size());
        if needed_blocks > kv.num_blocks() {
            return Err(EngineError::ModelLenExceedsKvCache {
                max_model_len: self.options.max_model_len,
                needed_blocks,
                num_blocks: kv.num_blocks(),
            });
        }
        Ok(())
    }

    /// The validated options.
    pub fn options(&self) -> &SchedulerOptions {
        &self.options
    }

    /// `--max-num-batched-tokens`.
    pub fn max_num_batched_tokens(&self) -> usize {
        self.options.max_num_batched_tokens
    }

    /// `--max-num-seqs`.
    pub fn max_num_seqs(&self) -> usize {
        self.options.max_num_seqs
    }

    /// `--max-model-len`.
    pub fn max_model_len(&self) -> usize {
        self.options.max_model_len
    }

    /// `--enable-chunked-prefill`.
    pub fn chunked_prefill(&self) -> ChunkedPrefill {
        self.options.chunked_prefill
    }

    /// `--scheduling-policy`.
    pub fn policy(&self) -> SchedulingPolicy {
        self.options.policy
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate() {
        let config = SchedulerConfig::try_new(SchedulerOptions::default()).unwrap();
        assert_eq!(config.max_num_seqs(), 256);
    }

    #[test]
    fn rejects_zero_and_short_budget() {
        let zero = SchedulerOptions {
            max_num_seqs: 0,
            ..SchedulerOptions::default()
        };
        assert_eq!(
            SchedulerConfig::try_new(zero).unwrap_err().to_string(),
            "--max-num-seqs is 0; set it to at least 1"
        );
        let short = SchedulerOptions {
            max_num_batched_tokens: 512,
            chunked_prefill: ChunkedPrefill::Disabled,
            ..SchedulerOptions::default()
        };
        assert!(matches!(
            SchedulerConfig::try_new(short),
            Err(EngineError::BudgetBelowModelLen { .. })
        ));
    }

    #[test]
    fn model_len_must_fit_the_cache() {
        let config = SchedulerConfig::try_new(SchedulerOptions::default()).unwrap();
        let small = KvCacheConfig::with_num_blocks(10, 16).unwrap();
        assert!(matches!(
            config.check_fits(&small),
            Err(EngineError::ModelLenExceedsKvCache {
                needed_blocks: 256,
                ..
            })
        ));
        let big = KvCacheConfig::with_num_blocks(256, 16).unwrap();
        assert!(config.check_fits(&big).is_ok());
    }
}
