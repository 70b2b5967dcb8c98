//! State-machine property tests for the free queue and the block pool: random operation sequences
//! run against the real structure and a naive reference model (plain vectors, linear scans), and
//! must agree after every step. Invariants: reference counts match the holders' blocks, the free
//! queue is exactly the unreferenced blocks in LRU order, the hash map and the blocks' hashes agree,
//! evictions are counted, and nothing leaks once every holder lets go.

use std::collections::{HashMap, VecDeque};

use dyno_engine::kv_cache::{BlockHash, BlockId, BlockPool, FreeQueue};
use proptest::prelude::*;

/// Cases per property: well under a second in a debug build.
const CASES: u32 = 512;

// ---------------------------------------------------------------------------------------------
// Free queue
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug)]
enum QueueOp {
    PopFront,
    Remove(u32),
    PushBack(u32),
}

fn queue_op(n: u32) -> impl Strategy<Value = QueueOp> {
    prop_oneof![
        Just(QueueOp::PopFront),
        (0..n).prop_map(QueueOp::Remove),
        (0..n).prop_map(QueueOp::PushBack),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn free_queue_matches_a_deque(
        (n, ops) in (1u32..12).prop_flat_map(|n| (Just(n), prop::collection::vec(queue_op(n), 0..80)))
    ) {
        let mut queue = FreeQueue::new_full(n as usize);
        let mut model: VecDeque<u32> = (0..n).collect();
        for op in ops {
            match op {
                QueueOp::PopFront => {
                    prop_assert_eq!(queue.pop_front().map(|b| b.0), model.pop_front());
                }
                QueueOp::Remove(id) => {
                    let pos = model.iter().position(|&x| x == id);
                    prop_assert_eq!(queue.remove(BlockId(id)), pos.is_some());
                    if let Some(pos) = pos {
                        model.remove(pos);
                    }
                }
                QueueOp::PushBack(id) => {
                    if !model.contains(&id) {
                        queue.push_back(BlockId(id));
                        model.push_back(id);
                    }
                }
            }
            prop_assert_eq!(queue.len(), model.len());
            prop_assert_eq!(queue.front().map(|b| b.0), model.front().copied());
            let order: Vec<u32> = queue.iter().map(|b| b.0).collect();
            prop_assert_eq!(&order, &Vec::from(model.clone()));
            for id in 0..n {
                prop_assert_eq!(queue.contains(BlockId(id)), model.contains(&id));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Block pool
// ---------------------------------------------------------------------------------------------

const HOLDERS: usize = 4;
const HASHES: u128 = 6;

#[derive(Clone, Debug)]
enum PoolOp {
    /// Holder takes `n` fresh blocks (all or nothing).
    Allocate { holder: usize, n: usize },
    /// Holder drops all its blocks, in reverse order.
    ReleaseAll { holder: usize },
    /// Holder `to` takes a reference on every block of `from`.
    Share { from: usize, to: usize },
    /// Holder registers its `idx`-th block under a hash.
    Cache {
        holder: usize,
        idx: usize,
        hash: u128,
    },
    /// Holder looks a hash up and, on a hit, takes a reference.
    Hit { holder: usize, hash: u128 },
    /// Holder withdraws its `idx`-th block from the cache.
    Uncache { holder: usize, idx: usize },
}

fn pool_op() -> impl Strategy<Value = PoolOp> {
    let h = 0..HOLDERS;
    prop_oneof![
        3 => (h.clone(), 0usize..4).prop_map(|(holder, n)| PoolOp::Allocate { holder, n }),
        2 => h.clone().prop_map(|holder| PoolOp::ReleaseAll { holder }),
        1 => (h.clone(), h.clone()).prop_map(|(from, to)| PoolOp::Share { from, to }),
        3 => (h.clone(), 0usize..4, 0..HASHES)
            .prop_map(|(holder, idx, hash)| PoolOp::Cache { holder, idx, hash }),
        2 => (h.clone(), 0..HASHES).prop_map(|(holder, hash)| PoolOp::Hit { holder, hash }),
        1 => (h, 0usize..4).prop_map(|(holder, idx)| PoolOp::Uncache { holder, idx }),
    ]
}

/// The obviously-correct model: LRU order as a vector, linear scans everywhere.
struct Model {
    refs: Vec<u32>,
    free: Vec<u32>,
    hash_of: Vec<Option<u128>>,
    map: HashMap<u128, u32>,
    evictions: u64,
}

impl Model {
    fn new(n: usize) -> Self {
        Self {
            refs: vec![0; n],
            free: (0..n as u32).collect(),
            hash_of: vec![None; n],
            map: HashMap::new(),
            evictions: 0,
        }
    }

    fn allocate(&mut self) -> u32 {
        let id = self.free.remove(0);
        if let Some(h) = self.hash_of[id as usize].take() {
            self.map.remove(&h);
            self.evictions += 1;
        }
        self.refs[id as usize] = 1;
        id
    }

    fn touch(&mut self, id: u32) {
        if self.refs[id as usize] == 0 {
            self.free.retain(|&b| b != id);
        }
        self.refs[id as usize] += 1;
    }

    fn release(&mut self, id: u32) {
        self.refs[id as usize] -= 1;
        if self.refs[id as usize] == 0 {
            self.free.push(id);
        }
    }

    fn cache(&mut self, id: u32, hash: u128) -> bool {
        if self.hash_of[id as usize].is_some() || self.map.contains_key(&hash) {
            return false;
        }
        self.map.insert(hash, id);
        self.hash_of[id as usize] = Some(hash);
        true
    }

    fn uncache(&mut self, id: u32) -> bool {
        match self.hash_of[id as usize].take() {
            Some(h) => {
                self.map.remove(&h);
                true
            }
            None => false,
        }
    }
}

fn check(pool: &BlockPool, model: &Model, holders: &[Vec<BlockId>]) -> Result<(), TestCaseError> {
    pool.assert_invariants();
    for (i, &r) in model.refs.iter().enumerate() {
        prop_assert_eq!(
            pool.ref_count(BlockId(i as u32)),
            r,
            "ref count of block {}",
            i
        );
        prop_assert_eq!(
            pool.hash_of(BlockId(i as u32)).map(|h| h.0),
            model.hash_of[i]
        );
    }
    let free: Vec<u32> = pool.free_blocks().map(|b| b.0).collect();
    prop_assert_eq!(&free, &model.free, "free queue order");
    for hash in 0..HASHES {
        prop_assert_eq!(
            pool.lookup(BlockHash(hash)).map(|b| b.0),
            model.map.get(&hash).copied()
        );
    }
    prop_assert_eq!(pool.evictions(), model.evictions);
    let held: usize = holders.iter().map(Vec::len).sum();
    prop_assert_eq!(pool.total_refs(), held as u64, "refs == blocks held");
    prop_assert_eq!(pool.num_free() + pool.num_used(), pool.num_blocks());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn block_pool_matches_model_and_never_leaks(
        num_blocks in 1usize..10,
        caching in any::<bool>(),
        ops in prop::collection::vec(pool_op(), 0..80),
    ) {
        let mut pool = BlockPool::new(num_blocks, caching);
        let mut model = Model::new(num_blocks);
        let mut holders: Vec<Vec<BlockId>> = vec![Vec::new(); HOLDERS];
        for op in ops {
            match op {
                PoolOp::Allocate { holder, n } => {
                    let mut got = Vec::new();
                    let ok = pool.allocate_into(n, &mut got);
                    prop_assert_eq!(ok, n <= model.free.len());
                    if ok {
                        let want: Vec<u32> = (0..n).map(|_| model.allocate()).collect();
                        prop_assert_eq!(got.iter().map(|b| b.0).collect::<Vec<_>>(), want);
                        holders[holder].extend(got);
                    } else {
                        prop_assert!(got.is_empty());
                    }
                }
                PoolOp::ReleaseAll { holder } => {
                    for b in std::mem::take(&mut holders[holder]).into_iter().rev() {
                        pool.release(b);
                        model.release(b.0);
                    }
                }
                PoolOp::Share { from, to } => {
                    let blocks = holders[from].clone();
                    for b in blocks {
                        pool.touch(b);
                        model.touch(b.0);
                        holders[to].push(b);
                    }
                }
                PoolOp::Cache { holder, idx, hash } => {
                    if let Some(&b) = holders[holder].get(idx) {
                        let want = caching && model.cache(b.0, hash);
                        prop_assert_eq!(pool.cache(b, BlockHash(hash)), want);
                    }
                }
                PoolOp::Hit { holder, hash } => {
                    let got = pool.lookup(BlockHash(hash));
                    prop_assert_eq!(got.map(|b| b.0), model.map.get(&hash).copied());
                    if let Some(b) = got {
                        pool.touch(b);
                        model.touch(b.0);
                        holders[holder].push(b);
                    }
                }
                PoolOp::Uncache { holder, idx } => {
                    if let Some(&b) = holders[holder].get(idx) {
                        prop_assert_eq!(pool.uncache(b), model.uncache(b.0));
                    }
                }
            }
            check(&pool, &model, &holders)?;
        }
        for holder in &mut holders {
            for b in std::mem::take(holder).into_iter().rev() {
                pool.release(b);
                model.release(b.0);
            }
        }
        check(&pool, &model, &holders)?;
        prop_assert_eq!(pool.num_free(), num_blocks, "no block leaked");
        prop_assert_eq!(pool.total_refs(), 0);
    }
}
