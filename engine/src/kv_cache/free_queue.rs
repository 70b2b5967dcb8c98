//! The free-block queue: an index-based intrusive doubly-linked list over block ids, kept in
//! eviction order.
//!
//! The front is the least recently used free block, the next one to hand out (and, if it still
//! holds a cached hash, to evict). Freed blocks are appended at the back. Links live in one flat
//! vector indexed by [`BlockId`] plus two sentinel nodes (head and tail), so every operation —
//! [`pop_front`](FreeQueue::pop_front), [`remove`](FreeQueue::remove) from the middle (a cache
//! hit revives a free block), [`push_back`](FreeQueue::push_back) — is O(1) with no allocation
//! after construction. A block that is not in the queue has both links set to `NIL`.

use crate::kv_cache::block::BlockId;

const NIL: u32 = u32::MAX;

#[derive(Clone, Copy, Debug)]
struct Link {
    prev: u32,
    next: u32,
}

const UNLINKED: Link = Link {
    prev: NIL,
    next: NIL,
};

/// Free blocks in least-recently-used-first order, with O(1) pop-front, remove and append.
#[derive(Clone, Debug)]
pub struct FreeQueue {
    /// `links[0..n]` are blocks; `links[n]` is the head sentinel, `links[n + 1]` the tail sentinel.
    links: Vec<Link>,
    len: usize,
}

impl FreeQueue {
    /// A queue over `num_blocks` blocks holding all of them, in id order (block 0 at the front).
    ///
    /// # Panics
    /// If `num_blocks` does not fit the `u32` id space (minus the two sentinels).
    pub fn new_full(num_blocks: usize) -> Self {
        let mut queue = Self::new_empty(num_blocks);
        for id in 0..num_blocks {
            queue.push_back(BlockId(id as u32));
        }
        queue
    }

    /// A queue over `num_blocks` blocks holding none of them.
    ///
    /// # Panics
    /// If `num_blocks` does not fit the `u32` id space (minus the two sentinels).
    pub fn new_empty(num_blocks: usize) -> Self {
        assert!(
            num_blocks < (NIL - 2) as usize,
            "{num_blocks} blocks exceed the u32 block id space"
        );
        let mut links = vec![UNLINKED; num_blocks + 2];
        let (head, tail) = (num_blocks as u32, num_blocks as u32 + 1);
        links[head as usize].next = tail;
        links[tail as usize].prev = head;
        Self { links, len: 0 }
    }

    /// Number of blocks in the queue.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the queue is empty.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of blocks the queue was built for (members or not).
    #[inline]
    pub fn capacity(&self) -> usize {
        self.links.len() - 2
    }

    #[inline]
    fn head(&self) -> u32 {
        (self.links.len() - 2) as u32
    }

    #[inline]
    fn tail(&self) -> u32 {
        (self.links.len() - 1) as u32
    }

    /// Whether `id` is in the queue. O(1).
    #[inline]
    pub fn contains(&self, id: BlockId) -> bool {
        id.index() < self.capacity() && self.links[id.index()].prev != NIL
    }

    /// The least recently freed block, without removing it.
    pub fn front(&self) -> Option<BlockId> {
        let first = self.links[self.head() as usize].next;
        (first != self.tail()).then_some(BlockId(first))
    }

    /// Removes and returns the front (least recently used) block. O(1).
    pub fn pop_front(&mut self) -> Option<BlockId> {
        let id = self.front()?;
        self.unlink(id.0);
        Some(id)
    }

    /// Removes `id` from wherever it is in the queue. O(1). Returns `false` (and changes nothing)
    /// when `id` was not in the queue.
    pub fn remove(&mut self, id: BlockId) -> bool {
        if !self.contains(id) {
            return false;
        }
        self.unlink(id.0);
        true
    }

    /// Appends `id` at the back (most recently used end). O(1).
    ///
    /// # Panics
    /// If `id` is already in the queue or out of range: either is a bookkeeping bug in the caller.
    pub fn push_back(&mut self, id: BlockId) {
        assert!(
            id.index() < self.capacity(),
            "{id} is out of range for a free queue of {} blocks",
            self.capacity()
        );
        assert!(!self.contains(id), "{id} is already in the free queue");
        let tail = self.tail();
        let last = self.links[tail as usize].prev;
        self.links[id.index()] = Link {
            prev: last,
            next: tail,
        };
        self.links[last as usize].next = id.0;
        self.links[tail as usize].prev = id.0;
        self.len += 1;
    }

    fn unlink(&mut self, node: u32) {
        let Link { prev, next } = self.links[node as usize];
        self.links[prev as usize].next = next;
        self.links[next as usize].prev = prev;
        self.links[node as usize] = UNLINKED;
        self.len -= 1;
    }

    /// The blocks from front (next to evict) to back. O(len).
    pub fn iter(&self) -> impl Iterator<Item = BlockId> + '_ {
        let tail = self.tail();
        let mut node = self.links[self.head() as usize].next;
        std::iter::from_fn(move || {
            (node != tail).then(|| {
                let id = BlockId(node);
                node = self.links[node as usize].next;
                id
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(q: &FreeQueue) -> Vec<u32> {
        q.iter().map(|b| b.0).collect()
    }

    #[test]
    fn full_queue_pops_in_id_order() {
        let mut q = FreeQueue::new_full(3);
        assert_eq!(q.len(), 3);
        assert_eq!(q.pop_front(), Some(BlockId(0)));
        assert_eq!(q.pop_front(), Some(BlockId(1)));
        assert_eq!(q.pop_front(), Some(BlockId(2)));
        assert_eq!(q.pop_front(), None);
        assert!(q.is_empty());
    }

    #[test]
    fn remove_from_middle_and_append() {
        let mut q = FreeQueue::new_full(4);
        assert!(q.remove(BlockId(2)));
        assert!(!q.remove(BlockId(2)));
        assert_eq!(ids(&q), [0, 1, 3]);
        q.push_back(BlockId(2));
        assert_eq!(ids(&q), [0, 1, 3, 2]);
        assert!(q.remove(BlockId(0)));
        assert!(q.remove(BlockId(2)));
        assert_eq!(ids(&q), [1, 3]);
        assert_eq!(q.front(), Some(BlockId(1)));
    }

    #[test]
    fn out_of_range_is_not_contained() {
        let q = FreeQueue::new_empty(2);
        assert!(!q.contains(BlockId(5)));
        assert_eq!(q.capacity(), 2);
    }

    #[test]
    #[should_panic(expected = "already in the free queue")]
    fn double_push_panics() {
        let mut q = FreeQueue::new_full(2);
        q.push_back(BlockId(1));
    }
}
