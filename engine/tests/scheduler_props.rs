//! State-machine property tests for the scheduler over a real `KvCacheManager`, with a fake model
//! runner.
//!
//! The fake runner keeps a fake KV store: each slot holds a fingerprint of the exact token prefix
//! whose KV it is. Like a real forward pass, it first writes the KV of every scheduled token, then
//! "attends": it checks that each sequence's whole context is in its blocks, and samples the next
//! token as a function of what it *read* from the store. So a wrong prefix hit, a bad fork or a
//! lost block changes the output.
//!
//! Invariants, on random operation sequences (add requests with random prompts sharing prefixes,
//! `n` samples, priorities, EOS; step; abort) under random configurations:
//!
//! - every step respects `--max-num-batched-tokens` and `--max-num-seqs`, schedules each sequence
//!   at most once and at least one token;
//! - a step that preempted admits nobody;
//! - a newly admitted sequence starts at a whole-block prefix hit that never covers its last token;
//! - block tables are append-only while a sequence runs;
//! - the pool is consistent and its reference count equals the blocks held by live sequences;
//! - every request ends (finished or aborted), no output follows a finish, and then no block is
//!   held;
//! - the same operations give the same schedule (determinism), and — without aborts — every
//!   request's tokens are the same whatever the configuration: prefix caching on or off, chunked
//!   prefill or not, tight pools that force preemption, FCFS or priority.

use std::collections::{HashMap, HashSet};

use dyno_engine::{
    BlockId, ChunkedPrefill, EngineRequest, FinishReason, KvCacheConfig, KvCacheManager,
    PrefixCaching, RequestId, SampledTokens, Scheduler, SchedulerConfig, SchedulerOptions,
    SchedulerOutput, SchedulingPolicy, SeqId, TokenId,
};
use proptest::prelude::*;

const MAX_MODEL_LEN: usize = 40;
const VOCAB: u32 = 8;
const EOS: TokenId = TokenId(0);
const MAX_STEPS: usize = 20_000;
/// Cases per property: ~1 s in a debug build on 2 cores.
const CASES: u32 = 256;

#[derive(Clone, Debug)]
struct Config {
    block_size: usize,
    num_blocks: usize,
    caching: bool,
    budget: usize,
    chunked: ChunkedPrefill,
    max_num_seqs: usize,
    policy: SchedulingPolicy,
}

fn config() -> impl Strategy<Value = Config> {
    (
        prop::sample::select(vec![1usize, 2, 4, 8]),
        // Extra blocks beyond one max-length sequence: small, so preemption is common.
        0usize..12,
        prop::bool::weighted(0.7),
        4usize..64,
        prop::option::of(1usize..16),
        prop::bool::weighted(0.8),
        1usize..8,
        any::<bool>(),
    )
        .prop_map(
            |(block_size, extra, caching, budget, threshold, chunked, max_num_seqs, prio)| {
                let chunked = if chunked {
                    ChunkedPrefill::Enabled {
                        long_prefill_token_threshold: threshold,
                    }
                } else {
                    ChunkedPrefill::Disabled
                };
                Config {
                    block_size,
                    num_blocks: MAX_MODEL_LEN.div_ceil(block_size) + extra,
                    caching,
                    budget: if chunked == ChunkedPrefill::Disabled {
                        budget.max(MAX_MODEL_LEN)
                    } else {
                        budget
                    },
                    chunked,
                    max_num_seqs,
                    policy: if prio {
                        SchedulingPolicy::Priority
                    } else {
                        SchedulingPolicy::Fcfs
                    },
                }
            },
        )
}

#[derive(Clone, Debug)]
struct Add {
    base: usize,
    suffix: Vec<u32>,
    max_tokens: u32,
    n: u32,
    priority: i32,
    eos: bool,
    ignore_eos: bool,
    stop_token: Option<u32>,
}

impl Add {
    fn prompt(&self) -> Vec<TokenId> {
        const LENS: [usize; 4] = [0, 5, 12, 23];
        let base = (0..LENS[self.base]).map(|j| TokenId(((j * 5 + 1) % 9) as u32));
        base.chain(self.suffix.iter().map(|&t| TokenId(t)))
            .collect()
    }
}

#[derive(Clone, Debug)]
enum Op {
    Add(Add),
    Step,
    Abort(usize),
}

fn add() -> impl Strategy<Value = Add> {
    (
        0usize..4,
        prop::collection::vec(0u32..3, 1..8),
        1u32..12,
        prop::sample::select(vec![1u32, 1, 1, 2, 3]),
        -1i32..2,
        any::<bool>(),
        prop::bool::weighted(0.3),
        prop::option::weighted(0.2, 1u32..VOCAB),
    )
        .prop_map(
            |(base, suffix, max_tokens, n, priority, eos, ignore_eos, stop_token)| Add {
                base,
                suffix,
                max_tokens,
                n,
                priority,
                eos,
                ignore_eos,
                stop_token,
            },
        )
}

fn ops(with_abort: bool) -> impl Strategy<Value = Vec<Op>> {
    let abort_weight = if with_abort { 1 } else { 0 };
    prop::collection::vec(
        prop_oneof![
            3 => add().prop_map(Op::Add),
            4 => Just(Op::Step),
            abort_weight => (0usize..16).prop_map(Op::Abort),
        ],
        0..40,
    )
}

/// Fingerprint of a token prefix: what the KV at its last position depends on.
fn fingerprint(tokens: &[TokenId]) -> u64 {
    tokens.iter().fold(0xcbf2_9ce4_8422_2325, |h, t| {
        (h ^ u64::from(t.0) ^ 0x100).wrapping_mul(0x0100_0000_01b3)
    })
}

struct Harness {
    cfg: Config,
    scheduler: Scheduler,
    kv: KvCacheManager,
    slots: Vec<Option<u64>>,
    tables: HashMap<SeqId, Vec<BlockId>>,
    added: Vec<(RequestId, u32)>,
    aborted: HashSet<RequestId>,
    /// Per (request, sample): tokens received and how it finished.
    results: HashMap<(RequestId, u32), (Vec<TokenId>, Option<FinishReason>)>,
    trace: Vec<SchedulerOutput>,
}

impl Harness {
    fn new(cfg: Config) -> Self {
        let kv_config = KvCacheConfig::with_num_blocks(cfg.num_blocks, cfg.block_size)
            .unwrap()
            .with_prefix_caching(if cfg.caching {
                PrefixCaching::default()
            } else {
                PrefixCaching::Disabled
            });
        let config = SchedulerConfig::try_new(SchedulerOptions {
            max_num_batched_tokens: cfg.budget,
            max_num_seqs: cfg.max_num_seqs,
            max_model_len: MAX_MODEL_LEN,
            chunked_prefill: cfg.chunked,
            policy: cfg.policy,
        })
        .unwrap();
        config.check_fits(&kv_config).unwrap();
        Self {
            slots: vec![None; cfg.num_blocks * cfg.block_size],
            cfg,
            scheduler: Scheduler::new(config),
            kv: KvCacheManager::new(&kv_config),
            tables: HashMap::new(),
            added: Vec::new(),
            aborted: HashSet::new(),
            results: HashMap::new(),
            trace: Vec::new(),
        }
    }

    fn slot(&self, table: &[BlockId], p: usize) -> usize {
        table[p / self.cfg.block_size].index() * self.cfg.block_size + p % self.cfg.block_size
    }

    fn apply(&mut self, op: &Op) -> Result<(), TestCaseError> {
        match op {
            Op::Add(a) => {
                let id = RequestId(self.added.len() as u64);
                let mut request = EngineRequest::new(id, a.prompt());
                request.params.max_tokens = Some(a.max_tokens);
                request.params.n = a.n;
                request.params.ignore_eos = a.ignore_eos;
                request.params.stop_token_ids = a.stop_token.map(TokenId).into_iter().collect();
                request.priority = a.priority;
                if a.eos {
                    request.eos_token_ids = vec![EOS];
                }
                self.scheduler.add_request(request).unwrap();
                self.added.push((id, a.n));
            }
            Op::Step => self.step()?,
            Op::Abort(i) => {
                if let Some(&(id, _)) = self.added.get(*i % self.added.len().max(1)) {
                    let live = self.scheduler.has_request(id);
                    prop_assert_eq!(self.scheduler.abort(id), live);
                    if live {
                        self.aborted.insert(id);
                    }
                    self.check_pool()?;
                }
            }
        }
        Ok(())
    }

    fn step(&mut self) -> Result<(), TestCaseError> {
        let was_running: HashSet<SeqId> = self.scheduler.running().collect();
        let out = self.scheduler.schedule(&mut self.kv);
        let bs = self.cfg.block_size;

        // Budget, max_num_seqs, one entry per sequence, no admissions after a preemption.
        let total: usize = out.scheduled.iter().map(|s| s.num_new_tokens).sum();
        prop_assert_eq!(total, out.num_batched_tokens);
        prop_assert!(total <= self.cfg.budget, "token budget exceeded");
        prop_assert!(out.scheduled.len() <= self.cfg.max_num_seqs);
        prop_assert!(self.scheduler.num_running() <= self.cfg.max_num_seqs);
        let unique: HashSet<SeqId> = out.scheduled.iter().map(|s| s.seq).collect();
        prop_assert_eq!(
            unique.len(),
            out.scheduled.len(),
            "a sequence scheduled twice"
        );
        if self.scheduler.has_unfinished() && self.scheduler.num_running() > 0 {
            prop_assert!(!out.is_empty(), "running sequences but an empty step");
        }
        for s in &out.scheduled {
            prop_assert!(s.num_new_tokens >= 1);
            let tokens = self.scheduler.tokens(s.seq).unwrap();
            let end = s.num_computed_tokens + s.num_new_tokens;
            prop_assert!(end <= tokens.len());
            prop_assert_eq!(s.emits_token, end == tokens.len());
            if !was_running.contains(&s.seq) {
                prop_assert!(
                    out.preempted.is_empty(),
                    "admitted in a step that preempted"
                );
                prop_assert_eq!(s.num_computed_tokens % bs, 0, "hit is not whole blocks");
                prop_assert!(
                    s.num_computed_tokens < tokens.len(),
                    "hit covers the last token"
                );
            }
            let table = self.scheduler.block_table(s.seq).unwrap();
            prop_assert!(table.len() * bs >= end, "table too short for the step");
        }
        // Append-only tables while running.
        for seq in self.scheduler.running() {
            let table = self.scheduler.block_table(seq).unwrap();
            if let Some(before) = self.tables.get(&seq) {
                prop_assert!(table.starts_with(before), "block table is not append-only");
            }
        }
        self.tables = self
            .scheduler
            .running()
            .map(|seq| (seq, self.scheduler.block_table(seq).unwrap().to_vec()))
            .collect();

        // The fake forward: write every scheduled token's KV, then read each context back.
        for s in &out.scheduled {
            let tokens = self.scheduler.tokens(s.seq).unwrap();
            let table = self.scheduler.block_table(s.seq).unwrap();
            for p in s.num_computed_tokens..s.num_computed_tokens + s.num_new_tokens {
                let slot = self.slot(table, p);
                self.slots[slot] = Some(fingerprint(&tokens[..=p]));
            }
        }
        let mut read = Vec::with_capacity(out.scheduled.len());
        for s in &out.scheduled {
            let tokens = self.scheduler.tokens(s.seq).unwrap();
            let table = self.scheduler.block_table(s.seq).unwrap();
            let end = s.num_computed_tokens + s.num_new_tokens;
            let mut acc = 0u64;
            for p in 0..end {
                let kv = self.slots[self.slot(table, p)];
                prop_assert_eq!(
                    kv,
                    Some(fingerprint(&tokens[..=p])),
                    "context KV is wrong at {}",
                    p
                );
                acc = acc.rotate_left(5) ^ kv.unwrap_or(0);
            }
            read.push(acc);
        }
        let mut next = read.into_iter();
        let sampled = SampledTokens::new(
            out.scheduled
                .iter()
                .map(|s| {
                    let acc = next.next().unwrap();
                    s.emits_token
                        .then_some(TokenId((acc % u64::from(VOCAB)) as u32))
                })
                .collect(),
        );
        let outputs = self.scheduler.update(&out, &sampled).unwrap();
        for o in outputs {
            let entry = self
                .results
                .entry((o.request_id, o.sample_index))
                .or_default();
            prop_assert!(entry.1.is_none(), "output after finish");
            entry.0.push(o.token);
            prop_assert_eq!(entry.0.len(), o.num_output_tokens);
            entry.1 = o.finished;
        }
        self.trace.push(out);
        self.check_pool()
    }

    fn check_pool(&mut self) -> Result<(), TestCaseError> {
        self.kv.reclaim();
        self.kv.assert_invariants();
        prop_assert_eq!(
            self.kv.pool().total_refs(),
            self.scheduler.num_held_blocks() as u64,
            "reference counts != blocks held by live sequences"
        );
        Ok(())
    }

    /// Steps until everything finished; checks every request ended and nothing leaked.
    fn drain(&mut self) -> Result<(), TestCaseError> {
        let mut steps = 0;
        while self.scheduler.has_unfinished() {
            self.step()?;
            steps += 1;
            prop_assert!(steps < MAX_STEPS, "scheduler made no progress");
        }
        for &(id, n) in &self.added {
            for sample in 0..n {
                let done = self.results.get(&(id, sample)).and_then(|r| r.1);
                prop_assert!(
                    done.is_some() || self.aborted.contains(&id),
                    "request {} sample {} never ended",
                    id,
                    sample
                );
            }
        }
        prop_assert_eq!(self.kv.pool().total_refs(), 0);
        prop_assert_eq!(
            self.kv.num_free_blocks(),
            self.cfg.num_blocks,
            "a block leaked"
        );
        Ok(())
    }
}

fn run(cfg: &Config, ops: &[Op]) -> Result<Harness, TestCaseError> {
    let mut h = Harness::new(cfg.clone());
    for op in ops {
        h.apply(op)?;
    }
    h.drain()?;
    Ok(h)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn scheduler_keeps_invariants_and_is_deterministic(cfg in config(), ops in ops(true)) {
        let first = run(&cfg, &ops)?;
        let again = run(&cfg, &ops)?;
        prop_assert_eq!(&first.trace, &again.trace, "same operations, different schedule");
        prop_assert_eq!(first.kv.stats(), again.kv.stats());
    }

    #[test]
    fn outputs_do_not_depend_on_caching_chunking_or_preemption(cfg in config(), ops in ops(false)) {
        let reference = Config {
            block_size: 4,
            num_blocks: 200,
            caching: false,
            budget: 4096,
            chunked: ChunkedPrefill::Disabled,
            max_num_seqs: 64,
            policy: SchedulingPolicy::Fcfs,
        };
        let expected = run(&reference, &ops)?;
        let got = run(&cfg, &ops)?;
        prop_assert_eq!(&got.results, &expected.results);
    }
}

#[test]
fn tight_pool_preempts_and_still_matches() {
    // A deterministic anchor: 12 requests through a pool that holds barely one full sequence.
    let cfg = Config {
        block_size: 4,
        num_blocks: 10,
        caching: true,
        budget: 16,
        chunked: ChunkedPrefill::Enabled {
            long_prefill_token_threshold: Some(8),
        },
        max_num_seqs: 4,
        policy: SchedulingPolicy::Fcfs,
    };
    let mut ops = Vec::new();
    for i in 0..12u32 {
        ops.push(Op::Add(Add {
            base: (i % 4) as usize,
            suffix: vec![i % 3, 1],
            max_tokens: 8,
            n: 1 + i % 2,
            priority: 0,
            eos: false,
            ignore_eos: false,
            stop_token: None,
        }));
        ops.push(Op::Step);
    }
    let h = run(&cfg, &ops).unwrap();
    assert!(
        h.trace.iter().any(|s| !s.preempted.is_empty()),
        "the pool should force preemption"
    );
    assert!(h.kv.stats().hits > 0, "shared bases should hit");
}
