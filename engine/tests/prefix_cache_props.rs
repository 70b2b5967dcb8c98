//! State-machine property tests for the prefix cache, through the public `KvCacheManager` API.
//!
//! Sequences with random prompts that share prefixes are admitted, grown, forked, dropped before
//! their KV was written ("preempted"), freed and dropped. A fake KV store records, for every slot
//! of every block, a fingerprint of the exact token prefix whose KV it holds. Invariants after
//! every operation:
//!
//! - every prefix hit covers whole blocks only and never the last token;
//! - every block a sequence reuses (hit or fork) holds the KV of *its* prefix — the cache never
//!   serves another prefix's or an unwritten block;
//! - block tables are append-only;
//! - the pool is consistent and its total reference count equals the blocks held by live tables;
//! - once everything is released, every block is free (no leak);
//! - the run is deterministic: replaying the same operations gives the same hits and counters.

use dyno_engine::kv_cache::{
    BlockId, ExtraKeys, KvBlocks, KvCacheConfig, KvCacheManager, PrefixCacheStats, PrefixCaching,
    SeqTokens, TokenId,
};
use proptest::prelude::*;

/// Cases per property: well under a second in a debug build.
const CASES: u32 = 512;

#[derive(Clone, Debug)]
struct Prompt {
    base: usize,
    suffix: Vec<u32>,
}

impl Prompt {
    /// Four fixed bases (lengths 0, 6, 13, 21) so prompts share prefixes of many lengths.
    fn tokens(&self) -> Vec<TokenId> {
        const LENS: [usize; 4] = [0, 6, 13, 21];
        let base = (0..LENS[self.base]).map(|j| TokenId(((j * 7 + 3) % 11) as u32));
        base.chain(self.suffix.iter().map(|&t| TokenId(t)))
            .collect()
    }
}

fn prompt() -> impl Strategy<Value = Prompt> {
    (0usize..4, prop::collection::vec(0u32..3, 1..8))
        .prop_map(|(base, suffix)| Prompt { base, suffix })
}

#[derive(Clone, Debug)]
enum Op {
    /// Admit a prompt, computing `chunk` of its uncached tokens now (at least one).
    Admit { prompt: Prompt, chunk: usize },
    /// Admit, then drop before the step ran (a preemption right after scheduling).
    AdmitThenPreempt { prompt: Prompt },
    /// Compute the rest of a sequence's tokens, then append `new` sampled tokens.
    Grow { seq: usize, new: Vec<u32> },
    /// Fork a sequence's prompt blocks into a new sequence with the same prompt.
    Fork { seq: usize },
    /// Release explicitly.
    Free { seq: usize },
    /// Release by dropping the guard.
    Drop { seq: usize },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (prompt(), 1usize..30).prop_map(|(prompt, chunk)| Op::Admit { prompt, chunk }),
        1 => prompt().prop_map(|prompt| Op::AdmitThenPreempt { prompt }),
        3 => (0usize..8, prop::collection::vec(0u32..3, 0..6)).prop_map(|(seq, new)| Op::Grow { seq, new }),
        1 => (0usize..8).prop_map(|seq| Op::Fork { seq }),
        1 => (0usize..8).prop_map(|seq| Op::Free { seq }),
        1 => (0usize..8).prop_map(|seq| Op::Drop { seq }),
    ]
}

/// Fingerprint of a token prefix: what the KV at its last position depends on.
fn fingerprint(tokens: &[TokenId]) -> u64 {
    tokens.iter().fold(0xcbf2_9ce4_8422_2325, |h, t| {
        (h ^ u64::from(t.0) ^ 0x100).wrapping_mul(0x0100_0000_01b3)
    })
}

struct FakeKv {
    block_size: usize,
    slots: Vec<Option<u64>>,
}

impl FakeKv {
    fn write(&mut self, table: &[BlockId], tokens: &[TokenId], from: usize, to: usize) {
        for p in from..to {
            let slot = table[p / self.block_size].index() * self.block_size + p % self.block_size;
            self.slots[slot] = Some(fingerprint(&tokens[..=p]));
        }
    }

    /// Whether positions `0..upto` of the table hold this sequence's KV.
    fn holds(&self, table: &[BlockId], tokens: &[TokenId], upto: usize) -> bool {
        (0..upto).all(|p| {
            let slot = table[p / self.block_size].index() * self.block_size + p % self.block_size;
            self.slots[slot] == Some(fingerprint(&tokens[..=p]))
        })
    }
}

struct Live {
    tokens: Vec<TokenId>,
    blocks: KvBlocks,
    computed: usize,
    table_before: Vec<BlockId>,
}

static NO_EXTRA: ExtraKeys = ExtraKeys {
    cache_salt: None,
    adapter: None,
    multimodal: Vec::new(),
};

fn view(tokens: &[TokenId]) -> SeqTokens<'_> {
    SeqTokens {
        tokens,
        extra: &NO_EXTRA,
    }
}

/// Runs `ops`; returns the trace of hit lengths (None = admission refused) and final counters.
fn run(
    block_size: usize,
    num_blocks: usize,
    caching: bool,
    ops: &[Op],
) -> Result<(Vec<Option<usize>>, PrefixCacheStats), TestCaseError> {
    let config = KvCacheConfig::with_num_blocks(num_blocks, block_size)
        .unwrap()
        .with_prefix_caching(if caching {
            PrefixCaching::default()
        } else {
            PrefixCaching::Disabled
        });
    let mut kv = KvCacheManager::new(&config);
    let mut fake = FakeKv {
        block_size,
        slots: vec![None; num_blocks * block_size],
    };
    let mut live: Vec<Live> = Vec::new();
    let mut trace = Vec::new();
    for op in ops {
        match op {
            Op::Admit { prompt, chunk } => {
                let tokens = prompt.tokens();
                let hit = kv.lookup_prefix(view(&tokens));
                let cached = hit.num_tokens();
                prop_assert_eq!(cached % block_size, 0, "hits are whole blocks");
                prop_assert!(cached < tokens.len(), "a hit never covers the last token");
                prop_assert!(caching || cached == 0);
                prop_assert!(
                    fake.holds(hit.blocks(), &tokens, cached),
                    "hit blocks hold another prefix's KV"
                );
                let target = (cached + chunk).min(tokens.len());
                let free_before = kv.num_free_blocks();
                match kv.allocate_new(hit, view(&tokens), target) {
                    Some(mut blocks) => {
                        fake.write(blocks.block_ids(), &tokens, cached, target);
                        blocks.set_num_computed_tokens(target);
                        trace.push(Some(cached));
                        let table_before = blocks.block_ids().to_vec();
                        live.push(Live {
                            tokens,
                            blocks,
                            computed: target,
                            table_before,
                        });
                    }
                    None => {
                        // Refused only when the pool could not hold the whole table.
                        prop_assert!(free_before < target.div_ceil(block_size));
                        trace.push(None);
                    }
                }
            }
            Op::AdmitThenPreempt { prompt } => {
                let tokens = prompt.tokens();
                let hit = kv.lookup_prefix(view(&tokens));
                let len = tokens.len();
                if let Some(blocks) = kv.allocate_new(hit, view(&tokens), len) {
                    kv.free(blocks); // its KV was never written
                }
            }
            Op::Grow { seq, new } => {
                let index = *seq % live.len().max(1);
                if let Some(s) = live.get_mut(index) {
                    // Finish computing what is known, then sample `new` tokens one at a time.
                    let mut steps = vec![s.tokens.len()];
                    let mut tokens = s.tokens.clone();
                    for &t in new {
                        tokens.push(TokenId(t));
                        steps.push(tokens.len());
                    }
                    for target in steps {
                        if target <= s.computed {
                            continue;
                        }
                        if kv
                            .allocate_slots(&mut s.blocks, view(&tokens[..target]), target)
                            .is_none()
                        {
                            break;
                        }
                        fake.write(s.blocks.block_ids(), &tokens, s.computed, target);
                        s.computed = target;
                        s.blocks.set_num_computed_tokens(target);
                    }
                    s.tokens = tokens;
                }
            }
            Op::Fork { seq } => {
                if let Some(parent) = live.get(*seq % live.len().max(1)) {
                    let tokens = parent.tokens[..parent.computed.max(1)].to_vec();
                    let mut child = kv.fork(&parent.blocks, parent.computed.saturating_sub(1));
                    let shared = kv.num_shared_tokens(&child);
                    prop_assert!(shared < tokens.len().max(1) || tokens.is_empty());
                    prop_assert!(
                        fake.holds(child.block_ids(), &tokens, shared),
                        "fork shares wrong KV"
                    );
                    child.set_num_computed_tokens(shared);
                    let table_before = child.block_ids().to_vec();
                    live.push(Live {
                        tokens,
                        blocks: child,
                        computed: shared,
                        table_before,
                    });
                }
            }
            Op::Free { seq } => {
                if !live.is_empty() {
                    let s = live.swap_remove(*seq % live.len());
                    kv.free(s.blocks);
                }
            }
            Op::Drop { seq } => {
                if !live.is_empty() {
                    drop(live.swap_remove(*seq % live.len()));
                }
            }
        }
        kv.reclaim();
        kv.assert_invariants();
        let held: usize = live.iter().map(|s| s.blocks.len()).sum();
        prop_assert_eq!(
            kv.pool().total_refs(),
            held as u64,
            "refs == blocks held by live tables"
        );
        for s in &mut live {
            let table = s.blocks.block_ids();
            prop_assert!(
                table.starts_with(&s.table_before),
                "block table is append-only"
            );
            prop_assert!(
                fake.holds(table, &s.tokens, s.computed),
                "live KV was overwritten"
            );
            s.table_before = table.to_vec();
        }
        let stats = kv.stats();
        prop_assert!(stats.hits <= stats.queries);
        prop_assert_eq!(stats.hits % block_size as u64, 0);
    }
    live.clear();
    kv.reclaim();
    kv.assert_invariants();
    prop_assert_eq!(kv.num_free_blocks(), num_blocks, "a block leaked");
    prop_assert_eq!(kv.pool().total_refs(), 0);
    Ok((trace, kv.stats()))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn prefix_cache_serves_only_matching_kv_and_never_leaks(
        block_size in prop::sample::select(vec![1usize, 2, 4, 8]),
        num_blocks in 4usize..40,
        caching in prop::bool::weighted(0.8),
        ops in prop::collection::vec(op(), 0..60),
    ) {
        let first = run(block_size, num_blocks, caching, &ops)?;
        let again = run(block_size, num_blocks, caching, &ops)?;
        prop_assert_eq!(first, again, "same operations, same hits");
    }
}

#[test]
fn shared_prompts_hit() {
    // A sanity anchor for the property: the same prompt twice hits its full blocks.
    let prompt = Prompt {
        base: 3,
        suffix: vec![1, 2],
    };
    let ops = [
        Op::Admit {
            prompt: prompt.clone(),
            chunk: 100,
        },
        Op::Admit { prompt, chunk: 100 },
    ];
    let (trace, stats) = run(4, 32, true, &ops).unwrap();
    assert_eq!(trace, [Some(0), Some(20)]);
    assert_eq!((stats.lookups, stats.hits), (2, 20));
}
