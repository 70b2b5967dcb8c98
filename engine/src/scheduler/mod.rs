//! Continuous batching: a pure, synchronous scheduler in the shape of vLLM v1's.
//!
//! There are no prefill and decode phases. Each sequence has `num_computed_tokens` out of its known
//! tokens, and every step hands out at most `--max-num-batched-tokens` tokens of work:
//!
//! 1. **Running sequences first**, in admission order. Each gets the rest of its tokens (1 when
//!    decoding), capped by `--long-prefill-token-threshold` and by what is left of the budget
//!    (chunked prefill). When the KV cache has no block for it, the policy's victim is preempted
//!    (blocks freed, computed tokens reset, back to the front of the waiting queue) until the
//!    allocation succeeds or the sequence itself was the victim. A victim already scheduled this
//!    step gives its tokens back.
//! 2. **Then waiting sequences**, in policy order, while fewer than `--max-num-seqs` run, and only
//!    if nothing was preempted this step. Each is looked up in the prefix cache, then given blocks
//!    for its first chunk; admission stops at the first one that does not fit.
//!
//! [`schedule`](Scheduler::schedule) returns the plan; the model runner computes it and samples
//! where `emits_token` is set; [`update`](Scheduler::update) appends the sampled tokens, checks
//! stop conditions and releases finished sequences. The core never blocks, locks or reads a
//! clock: the async `EngineHandle` (a later part of issue 3) drives it from one task.
//!
//! # `n > 1`
//!
//! A request with `n` samples becomes `n` sequences. Sample 0 is scheduled as usual; the others
//! wait while sample 0 is still computing its prompt, then start from a [fork](KvCacheManager::fork)
//! of its prompt blocks (shared by reference count, prefix caching on or off) and compute only the
//! tail of the prompt (the last partial block, or at least the last token) themselves. If sample
//! 0 is not running (finished, aborted or preempted), they fall back to a prefix-cache lookup.

mod budget;
mod output;
mod queue;
mod sequence;
mod stop;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

pub use budget::TokenBudget;
pub use output::{RequestOutput, SampledTokens, ScheduledSeq, SchedulerOutput};
pub use queue::{Fcfs, Priority, QueueKey, QueuePolicy, policy_for};
pub use stop::{NoStopStrings, StopChecker, StopView};

use crate::config::{ChunkedPrefill, SchedulerConfig};
use crate::error::{EngineError, Result};
use crate::kv_cache::block::{BlockId, TokenId};
use crate::kv_cache::manager::{KvBlocks, KvCacheManager};
use crate::request::{EngineRequest, RequestId, SeqId};
use sequence::{RequestShared, Sequence};
use stop::check_stop;

/// The continuous-batching scheduler. See the [module docs](self) for the algorithm.
#[derive(Debug)]
pub struct Scheduler {
    config: SchedulerConfig,
    policy: Box<dyn QueuePolicy>,
    seqs: HashMap<SeqId, Sequence>,
    /// Running sequences in admission order.
    running: Vec<QueueKey>,
    /// Live sequences of each request.
    requests: HashMap<RequestId, Vec<SeqId>>,
    next_seq: u64,
    next_arrival: u64,
    step: u64,
}

impl Scheduler {
    /// A scheduler with the policy `config` names.
    pub fn new(config: SchedulerConfig) -> Self {
        Self::with_policy(config, policy_for(config.policy()))
    }

    /// A scheduler with a caller-supplied queue policy.
    pub fn with_policy(config: SchedulerConfig, policy: Box<dyn QueuePolicy>) -> Self {
        Self {
            config,
            policy,
            seqs: HashMap::new(),
            running: Vec::new(),
            requests: HashMap::new(),
            next_seq: 0,
            next_arrival: 0,
            step: 0,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &SchedulerConfig {
        &self.config
    }

    /// Queues a request (all `n` of its samples).
    ///
    /// # Errors
    /// A duplicate id, an empty prompt, a prompt with no room left within `--max-model-len`, or
    /// `n` / `max_tokens` of 0.
    pub fn add_request(&mut self, request: EngineRequest) -> Result<()> {
        self.validate(&request)?;
        let EngineRequest {
            id,
            prompt,
            params,
            priority,
            eos_token_ids,
            extra,
        } = request;
        let arrival = self.next_arrival;
        self.next_arrival += 1;
        let n = params.n;
        let shared = Arc::new(RequestShared {
            params,
            eos_token_ids,
            extra,
        });
        let first = SeqId(self.next_seq);
        let mut ids = Vec::with_capacity(n as usize);
        for sample_index in 0..n {
            let seq = SeqId(self.next_seq);
            self.next_seq += 1;
            let key = QueueKey {
                priority,
                arrival,
                seq,
            };
            self.seqs.insert(
                seq,
                Sequence {
                    request_id: id,
                    sample_index,
                    key,
                    tokens: prompt.clone(),
                    prompt_len: prompt.len(),
                    num_computed: 0,
                    shared: Arc::clone(&shared),
                    blocks: None,
                    parent: (sample_index > 0).then_some(first),
                    num_preemptions: 0,
                },
            );
            self.policy.push(key);
            ids.push(seq);
        }
        self.requests.insert(id, ids);
        Ok(())
    }

    fn validate(&self, request: &EngineRequest) -> Result<()> {
        let id = request.id;
        if self.requests.contains_key(&id) {
            return Err(EngineError::DuplicateRequest(id));
        }
        if request.prompt.is_empty() {
            return Err(EngineError::EmptyPrompt(id));
        }
        if request.prompt.len() >= self.config.max_model_len() {
            return Err(EngineError::PromptTooLong {
                request: id,
                prompt_len: request.prompt.len(),
                max_model_len: self.config.max_model_len(),
            });
        }
        if request.params.n == 0 {
            return Err(EngineError::InvalidSamplingParam {
                request: id,
                param: "n",
                value: 0,
                fix: "ask for at least 1 sample",
            });
        }
        if request.params.max_tokens == Some(0) {
            return Err(EngineError::InvalidSamplingParam {
                request: id,
                param: "max_tokens",
                value: 0,
                fix: "ask for at least 1 token, or leave it unset",
            });
        }
        Ok(())
    }

    /// Plans one step. See the [module docs](self).
    pub fn schedule(&mut self, kv: &mut KvCacheManager) -> SchedulerOutput {
        kv.reclaim();
        let mut budget = TokenBudget::new(self.config.max_num_batched_tokens());
        let mut out = SchedulerOutput {
            step: self.step,
            ..SchedulerOutput::default()
        };
        self.step += 1;
        self.schedule_running(kv, &mut budget, &mut out);
        if out.preempted.is_empty() {
            self.schedule_waiting(kv, &mut budget, &mut out);
        }
        out.num_batched_tokens = self.config.max_num_batched_tokens() - budget.remaining();
        out
    }

    /// Tokens this sequence may run now, out of `remaining` unrun tokens.
    fn chunk(&self, remaining: usize, budget: &TokenBudget) -> usize {
        let capped = match self.config.chunked_prefill() {
            ChunkedPrefill::Enabled {
                long_prefill_token_threshold: Some(cap),
            } => remaining.min(cap),
            _ => remaining,
        };
        capped.min(budget.remaining())
    }

    fn schedule_running(
        &mut self,
        kv: &mut KvCacheManager,
        budget: &mut TokenBudget,
        out: &mut SchedulerOutput,
    ) {
        let mut i = 0;
        while i < self.running.len() && !budget.is_exhausted() {
            let key = self.running[i];
            let seq = &self.seqs[&key.seq];
            let n = self.chunk(seq.tokens.len() - seq.num_computed, budget);
            let scheduled = loop {
                let seq = self
                    .seqs
                    .get_mut(&key.seq)
                    .expect("running sequence exists");
                let target = seq.num_computed + n;
                let (view, blocks) = seq.kv_parts();
                let blocks = blocks.expect("a running sequence holds blocks");
                if kv.allocate_slots(blocks, view, target).is_some() {
                    break true;
                }
                let v = self
                    .policy
                    .victim(&self.running)
                    .expect("the current sequence is running");
                let victim = self.running.remove(v);
                self.preempt(victim.seq, kv);
                out.preempted.push(victim.seq);
                if v < i {
                    let pos = out
                        .scheduled
                        .iter()
                        .position(|s| s.seq == victim.seq)
                        .expect("an earlier running sequence was scheduled");
                    budget.refund(out.scheduled.remove(pos).num_new_tokens);
                    i -= 1;
                }
                if victim.seq == key.seq {
                    break false;
                }
            };
            if scheduled {
                let seq = &self.seqs[&key.seq];
                out.scheduled.push(scheduled_entry(seq, key.seq, n));
                budget.take(n);
                i += 1;
            }
        }
    }

    fn schedule_waiting(
        &mut self,
        kv: &mut KvCacheManager,
        budget: &mut TokenBudget,
        out: &mut SchedulerOutput,
    ) {
        let mut passed_over = Vec::new();
        while self.running.len() < self.config.max_num_seqs() && !budget.is_exhausted() {
            let Some(key) = self.policy.peek() else {
                break;
            };
            let seq = &self.seqs[&key.seq];
            let parent = seq
                .parent
                .and_then(|p| self.seqs.get(&p))
                .filter(|p| p.is_running());
            if let Some(parent) = parent
                && parent.num_computed < parent.prompt_len
            {
                // Wait for sample 0's prompt blocks rather than compute them again.
                passed_over.push(self.policy.pop().expect("peeked"));
                continue;
            }
            let forked = parent.map(|p| {
                let blocks = p.blocks.as_ref().expect("running parent holds blocks");
                kv.fork(blocks, seq.prompt_len - 1)
            });
            let Some((blocks, computed, n)) = self.admit(key.seq, forked, kv, budget) else {
                break;
            };
            self.policy.pop();
            let seq = self
                .seqs
                .get_mut(&key.seq)
                .expect("waiting sequence exists");
            seq.blocks = Some(blocks);
            seq.num_computed = computed;
            self.running.push(key);
            out.scheduled.push(scheduled_entry(seq, key.seq, n));
            budget.take(n);
        }
        for key in passed_over.into_iter().rev() {
            self.policy.push_front(key);
        }
    }

    /// Blocks for a waiting sequence's first chunk: `(blocks, computed tokens, tokens to run)`,
    /// or `None` (nothing taken) when it does not fit this step.
    fn admit(
        &self,
        id: SeqId,
        forked: Option<KvBlocks>,
        kv: &mut KvCacheManager,
        budget: &TokenBudget,
    ) -> Option<(KvBlocks, usize, usize)> {
        let seq = &self.seqs[&id];
        let view = seq.kv_view();
        match forked {
            Some(mut blocks) => {
                let computed = kv.num_shared_tokens(&blocks);
                let n = self.first_chunk(seq.tokens.len() - computed, budget);
                let fits =
                    n.is_some_and(|n| kv.allocate_slots(&mut blocks, view, computed + n).is_some());
                if !fits {
                    kv.free(blocks);
                    return None;
                }
                Some((blocks, computed, n?))
            }
            None => {
                let hit = kv.lookup_prefix(view);
                let computed = hit.num_tokens();
                let n = self.first_chunk(seq.tokens.len() - computed, budget)?;
                let blocks = kv.allocate_new(hit, view, computed + n)?;
                Some((blocks, computed, n))
            }
        }
    }

    /// Tokens of a newly admitted sequence's first step, or `None` if, without chunked prefill,
    /// the rest of its prompt does not fit the budget.
    fn first_chunk(&self, remaining: usize, budget: &TokenBudget) -> Option<usize> {
        if self.config.chunked_prefill() == ChunkedPrefill::Disabled
            && remaining > budget.remaining()
        {
            return None;
        }
        Some(self.chunk(remaining, budget))
    }

    /// Recompute-style preemption: free the blocks, forget computed tokens, requeue at the front.
    fn preempt(&mut self, id: SeqId, kv: &mut KvCacheManager) {
        let seq = self.seqs.get_mut(&id).expect("preempted sequence exists");
        if let Some(blocks) = seq.blocks.take() {
            kv.free(blocks);
        }
        seq.num_computed = 0;
        seq.num_preemptions += 1;
        self.policy.push_front(seq.key);
    }

    /// Applies a step's sampled tokens, without stop strings. See [`update_with`](Self::update_with).
    ///
    /// # Errors
    /// As [`update_with`](Self::update_with).
    pub fn update(
        &mut self,
        out: &SchedulerOutput,
        sampled: &SampledTokens,
    ) -> Result<Vec<RequestOutput>> {
        self.update_with(out, sampled, &mut NoStopStrings)
    }

    /// Applies a step's sampled tokens: advances computed tokens, appends each sampled token,
    /// checks stop conditions (`stop` for stop strings) and releases finished sequences. Entries
    /// for sequences aborted since `schedule` are skipped. Returns one output per appended token.
    ///
    /// # Errors
    /// `sampled` does not line up with `out.scheduled`, or lacks a token where `emits_token` is
    /// set. Nothing changes then.
    pub fn update_with(
        &mut self,
        out: &SchedulerOutput,
        sampled: &SampledTokens,
        stop: &mut dyn StopChecker,
    ) -> Result<Vec<RequestOutput>> {
        if sampled.len() != out.scheduled.len() {
            return Err(EngineError::SampledTokensMismatch {
                expected: out.scheduled.len(),
                got: sampled.len(),
            });
        }
        let entries = || out.scheduled.iter().zip(sampled.as_slice());
        for (entry, token) in entries() {
            if entry.emits_token && token.is_none() && self.is_current(entry) {
                return Err(EngineError::MissingSampledToken {
                    request: entry.request_id,
                    sample_index: entry.sample_index,
                });
            }
        }
        let max_model_len = self.config.max_model_len();
        let mut outputs = Vec::new();
        let mut finished = Vec::new();
        for (entry, token) in entries() {
            if !self.is_current(entry) {
                continue;
            }
            let seq = self.seqs.get_mut(&entry.seq).expect("checked above");
            seq.num_computed += entry.num_new_tokens;
            let computed = seq.num_computed;
            if let Some(blocks) = seq.blocks.as_mut() {
                blocks.set_num_computed_tokens(computed);
            }
            let (true, Some(token)) = (entry.emits_token, *token) else {
                continue;
            };
            seq.tokens.push(token);
            let view = StopView {
                request_id: seq.request_id,
                sample_index: seq.sample_index,
                output_tokens: seq.output_tokens(),
            };
            let shared = &seq.shared;
            let reason = check_stop(
                view,
                seq.tokens.len(),
                max_model_len,
                &shared.params,
                &shared.eos_token_ids,
                stop,
            );
            outputs.push(RequestOutput {
                request_id: seq.request_id,
                sample_index: seq.sample_index,
                seq: entry.seq,
                token,
                num_output_tokens: seq.tokens.len() - seq.prompt_len,
                finished: reason,
            });
            if reason.is_some() {
                finished.push(entry.seq);
            }
        }
        self.remove_seqs(&finished);
        Ok(outputs)
    }

    /// Whether `entry` still describes its sequence (not aborted or reset since `schedule`).
    fn is_current(&self, entry: &ScheduledSeq) -> bool {
        self.seqs
            .get(&entry.seq)
            .is_some_and(|s| s.is_running() && s.num_computed == entry.num_computed_tokens)
    }

    /// Aborts every sample of `request`, waiting or running; their blocks return to the pool
    /// (on drop). Returns whether the request was live. Call between `update` and the next
    /// `schedule`; a step already planned may still run its entries (its outputs are skipped).
    pub fn abort(&mut self, request: RequestId) -> bool {
        let Some(ids) = self.requests.get(&request).cloned() else {
            return false;
        };
        for &id in &ids {
            if !self.seqs[&id].is_running() {
                self.policy.remove(id);
            }
        }
        self.remove_seqs(&ids);
        true
    }

    fn remove_seqs(&mut self, ids: &[SeqId]) {
        if ids.is_empty() {
            return;
        }
        let gone: HashSet<SeqId> = ids.iter().copied().collect();
        self.running.retain(|k| !gone.contains(&k.seq));
        for id in ids {
            if let Some(seq) = self.seqs.remove(id) {
                // Dropping `seq.blocks` hands them back to the KV cache manager.
                if let Some(live) = self.requests.get_mut(&seq.request_id) {
                    live.retain(|s| s != id);
                    if live.is_empty() {
                        self.requests.remove(&seq.request_id);
                    }
                }
            }
        }
    }

    /// Whether any sequence is waiting or running.
    pub fn has_unfinished(&self) -> bool {
        !self.seqs.is_empty()
    }

    /// Whether `request` still has a live sample.
    pub fn has_request(&self, request: RequestId) -> bool {
        self.requests.contains_key(&request)
    }

    /// Sequences running.
    pub fn num_running(&self) -> usize {
        self.running.len()
    }

    /// Sequences waiting (new, preempted or passed over).
    pub fn num_waiting(&self) -> usize {
        self.policy.len()
    }

    /// Running sequences in admission order.
    pub fn running(&self) -> impl Iterator<Item = SeqId> + '_ {
        self.running.iter().map(|k| k.seq)
    }

    /// Every live sequence, waiting or running (unordered).
    pub fn seq_ids(&self) -> impl Iterator<Item = SeqId> + '_ {
        self.seqs.keys().copied()
    }

    /// A live sequence's known tokens: prompt, then outputs.
    pub fn tokens(&self, seq: SeqId) -> Option<&[TokenId]> {
        self.seqs.get(&seq).map(|s| s.tokens.as_slice())
    }

    /// A live sequence's prompt length.
    pub fn prompt_len(&self, seq: SeqId) -> Option<usize> {
        self.seqs.get(&seq).map(|s| s.prompt_len)
    }

    /// Tokens of a live sequence whose KV is computed (0 while waiting).
    pub fn num_computed_tokens(&self, seq: SeqId) -> Option<usize> {
        self.seqs.get(&seq).map(|s| s.num_computed)
    }

    /// A running sequence's block table (`None` while waiting).
    pub fn block_table(&self, seq: SeqId) -> Option<&[BlockId]> {
        self.seqs.get(&seq)?.blocks.as_ref().map(|b| b.block_ids())
    }

    /// How often a live sequence was preempted.
    pub fn num_preemptions(&self, seq: SeqId) -> Option<u32> {
        self.seqs.get(&seq).map(|s| s.num_preemptions)
    }

    /// Total blocks held by live block tables (with multiplicity: a shared block counts once per
    /// table). Equals the pool's total reference count once dropped tables are reclaimed.
    pub fn num_held_blocks(&self) -> usize {
        self.seqs
            .values()
            .filter_map(|s| s.blocks.as_ref())
            .map(KvBlocks::len)
            .sum()
    }
}

fn scheduled_entry(seq: &Sequence, id: SeqId, n: usize) -> ScheduledSeq {
    ScheduledSeq {
        seq: id,
        request_id: seq.request_id,
        sample_index: seq.sample_index,
        num_computed_tokens: seq.num_computed,
        num_new_tokens: n,
        emits_token: seq.num_computed + n == seq.tokens.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{SchedulerOptions, SchedulingPolicy};
    use crate::kv_cache::config::KvCacheConfig;
    use crate::request::{FinishReason, SamplingParams};

    fn setup(num_blocks: usize, options: SchedulerOptions) -> (Scheduler, KvCacheManager) {
        let kv = KvCacheManager::new(&KvCacheConfig::with_num_blocks(num_blocks, 4).unwrap());
        (
            Scheduler::new(SchedulerConfig::try_new(options).unwrap()),
            kv,
        )
    }

    fn options(budget: usize, max_seqs: usize) -> SchedulerOptions {
        SchedulerOptions {
            max_num_batched_tokens: budget,
            max_num_seqs: max_seqs,
            max_model_len: 64,
            ..SchedulerOptions::default()
        }
    }

    fn request(id: u64, prompt_len: u32, max_tokens: u32) -> EngineRequest {
        let mut r = EngineRequest::new(RequestId(id), (0..prompt_len).map(TokenId).collect());
        r.params.max_tokens = Some(max_tokens);
        r
    }

    /// Runs one step with every sample = 1; returns the plan and the outputs.
    fn step(s: &mut Scheduler, kv: &mut KvCacheManager) -> (SchedulerOutput, Vec<RequestOutput>) {
        let out = s.schedule(kv);
        let sampled = SampledTokens::from_fn(&out, |_| TokenId(1));
        let outputs = s.update(&out, &sampled).unwrap();
        (out, outputs)
    }

    fn tokens_per_seq(out: &SchedulerOutput) -> Vec<(u64, usize)> {
        out.scheduled
            .iter()
            .map(|s| (s.seq.0, s.num_new_tokens))
            .collect()
    }

    #[test]
    fn chunked_prefill_then_decode() {
        let (mut s, mut kv) = setup(16, options(8, 4));
        s.add_request(request(0, 20, 2)).unwrap();
        let chunks: Vec<_> = (0..5)
            .map(|_| {
                let (out, outputs) = step(&mut s, &mut kv);
                (tokens_per_seq(&out), outputs.len())
            })
            .collect();
        assert_eq!(
            chunks,
            [
                (vec![(0, 8)], 0),
                (vec![(0, 8)], 0),
                (vec![(0, 4)], 1),
                (vec![(0, 1)], 1),
                (vec![], 0)
            ]
        );
        assert!(!s.has_unfinished());
        kv.reclaim();
        assert_eq!(kv.pool().total_refs(), 0);
    }

    #[test]
    fn running_first_and_max_num_seqs() {
        let (mut s, mut kv) = setup(32, options(100, 2));
        for id in 0..3 {
            s.add_request(request(id, 5, 3)).unwrap();
        }
        let (out, _) = step(&mut s, &mut kv);
        // Same prompt: seq 1 hits the block seq 0 fills in this very step (offered when
        // scheduled), so it runs only its last token.
        assert_eq!(tokens_per_seq(&out), [(0, 5), (1, 1)]);
        let (out, _) = step(&mut s, &mut kv);
        assert_eq!(tokens_per_seq(&out), [(0, 1), (1, 1)]);
        assert_eq!(s.num_waiting(), 1);
    }

    #[test]
    fn preemption_frees_blocks_and_blocks_admission() {
        // 4 blocks of 4 tokens: two 7-token prompts fit (2 blocks each) until one decodes past 8.
        let (mut s, mut kv) = setup(4, options(64, 8));
        s.add_request(request(0, 7, 6)).unwrap();
        s.add_request(request(1, 7, 6)).unwrap();
        s.add_request(request(2, 3, 1)).unwrap();
        step(&mut s, &mut kv); // both prefill, 2 blocks each; request 2 does not fit
        let (out, _) = step(&mut s, &mut kv); // both decode position 7: still 2 blocks each
        assert!(out.preempted.is_empty());
        let (out, _) = step(&mut s, &mut kv); // seq 0 needs a 3rd block: FCFS preempts seq 1
        assert_eq!(out.preempted, [SeqId(1)]);
        assert_eq!(
            tokens_per_seq(&out),
            [(0, 1)],
            "no admissions in a preempting step"
        );
        assert_eq!(s.num_computed_tokens(SeqId(1)), Some(0));
        let mut steps = 0;
        while s.has_unfinished() {
            step(&mut s, &mut kv);
            steps += 1;
            assert!(steps < 100, "scheduler stalled");
        }
        kv.reclaim();
        assert_eq!(kv.pool().total_refs(), 0);
        kv.assert_invariants();
    }

    #[test]
    fn priority_preempts_the_worst_and_refunds_its_tokens() {
        let opts = SchedulerOptions {
            policy: SchedulingPolicy::Priority,
            ..options(64, 8)
        };
        let (mut s, mut kv) = setup(4, opts);
        let mut urgent = request(0, 7, 6);
        urgent.priority = -1;
        let mut lazy = request(1, 7, 6);
        lazy.priority = 5;
        // `lazy` arrives first and runs first; `urgent` is admitted behind it.
        s.add_request(lazy).unwrap();
        s.add_request(urgent).unwrap();
        step(&mut s, &mut kv);
        step(&mut s, &mut kv);
        let (out, _) = step(&mut s, &mut kv);
        // `lazy` (seq 0) was scheduled first, then `urgent` found no block: `lazy` is the victim,
        // its token is refunded and `urgent` runs.
        assert_eq!(out.preempted, [SeqId(0)]);
        assert_eq!(tokens_per_seq(&out), [(1, 1)]);
        assert_eq!(out.num_batched_tokens, 1);
    }

    #[test]
    fn samples_fork_the_prompt_blocks() {
        let (mut s, mut kv) = setup(32, options(64, 8));
        let mut r = request(0, 10, 3);
        r.params.n = 3;
        s.add_request(r).unwrap();
        let (out, _) = step(&mut s, &mut kv);
        assert_eq!(
            tokens_per_seq(&out),
            [(0, 10)],
            "samples 1, 2 wait for the prompt"
        );
        let (out, outputs) = step(&mut s, &mut kv);
        // Samples 1 and 2 share blocks 0..2 (8 tokens) and compute the last 2 prompt tokens.
        assert_eq!(tokens_per_seq(&out), [(0, 1), (1, 2), (2, 2)]);
        assert_eq!(outputs.len(), 3);
        let parent = s.block_table(SeqId(0)).unwrap();
        for child in [SeqId(1), SeqId(2)] {
            assert_eq!(s.block_table(child).unwrap()[..2], parent[..2]);
        }
        assert_eq!(kv.pool().ref_count(parent[0]), 3);
        while s.has_unfinished() {
            step(&mut s, &mut kv);
        }
        kv.reclaim();
        assert_eq!(kv.pool().total_refs(), 0);
    }

    #[test]
    fn finished_prompt_is_a_prefix_hit_for_the_next_request() {
        let (mut s, mut kv) = setup(32, options(64, 8));
        s.add_request(request(0, 10, 1)).unwrap();
        step(&mut s, &mut kv);
        assert!(!s.has_request(RequestId(0)));
        s.add_request(request(1, 10, 1)).unwrap();
        let (out, outputs) = step(&mut s, &mut kv);
        assert_eq!(out.scheduled[0].num_computed_tokens, 8);
        assert_eq!(out.scheduled[0].num_new_tokens, 2);
        assert_eq!(outputs[0].finished, Some(FinishReason::MaxTokens));
        assert_eq!(kv.stats().hits, 8);
    }

    #[test]
    fn abort_releases_blocks_and_skips_stale_entries() {
        let (mut s, mut kv) = setup(32, options(64, 8));
        s.add_request(request(0, 10, 5)).unwrap();
        s.add_request(request(1, 10, 5)).unwrap();
        let out = s.schedule(&mut kv);
        assert!(s.abort(RequestId(0)));
        assert!(!s.abort(RequestId(0)));
        let sampled = SampledTokens::new(vec![None, Some(TokenId(1))]);
        let outputs = s.update(&out, &sampled).unwrap();
        assert_eq!(outputs.len(), 1);
        assert_eq!(outputs[0].request_id, RequestId(1));
        kv.reclaim();
        assert_eq!(kv.pool().total_refs() as usize, s.num_held_blocks());
    }

    #[test]
    fn eos_and_ignore_eos() {
        let (mut s, mut kv) = setup(32, options(64, 8));
        let mut stops = request(0, 4, 10);
        stops.eos_token_ids = vec![TokenId(1)];
        let mut ignores = stops.clone();
        ignores.id = RequestId(1);
        ignores.params.ignore_eos = true;
        s.add_request(stops).unwrap();
        s.add_request(ignores).unwrap();
        let (_, outputs) = step(&mut s, &mut kv);
        assert_eq!(outputs[0].finished, Some(FinishReason::Eos));
        assert_eq!(outputs[1].finished, None);
    }

    #[test]
    fn rejects_bad_requests_and_bad_samples() {
        let (mut s, mut kv) = setup(32, options(64, 8));
        assert_eq!(
            s.add_request(request(0, 0, 1)),
            Err(EngineError::EmptyPrompt(RequestId(0)))
        );
        assert!(matches!(
            s.add_request(request(0, 64, 1)),
            Err(EngineError::PromptTooLong { .. })
        ));
        let mut zero_n = request(0, 3, 1);
        zero_n.params = SamplingParams {
            n: 0,
            ..SamplingParams::default()
        };
        assert!(s.add_request(zero_n).is_err());
        s.add_request(request(0, 3, 1)).unwrap();
        assert_eq!(
            s.add_request(request(0, 3, 1)),
            Err(EngineError::DuplicateRequest(RequestId(0)))
        );
        let out = s.schedule(&mut kv);
        assert!(matches!(
            s.update(&out, &SampledTokens::default()),
            Err(EngineError::SampledTokensMismatch { .. })
        ));
        assert!(matches!(
            s.update(&out, &SampledTokens::new(vec![None])),
            Err(EngineError::MissingSampledToken { .. })
        ));
        assert_eq!(
            s.num_computed_tokens(SeqId(0)),
            Some(0),
            "errors change nothing"
        );
    }
}
