//! Waiting-queue policies: which waiting sequence is admitted next and which running one is
//! preempted when blocks run out. The variation point is the small [`QueuePolicy`] trait; the
//! scheduler does the rest.

use std::collections::{BTreeSet, VecDeque};
use std::fmt::Debug;

use crate::config::SchedulingPolicy;
use crate::request::SeqId;

/// A sequence's place in line: `(priority, arrival, seq)`, compared in that order. Lower is
/// better: lower priority value, then earlier arrival.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct QueueKey {
    /// The request's priority (lower runs first under [`Priority`]).
    pub priority: i32,
    /// Arrival order, assigned by the scheduler (samples of one request share it).
    pub arrival: u64,
    /// The sequence.
    pub seq: SeqId,
}

/// The waiting queue and the preemption choice of one scheduling policy.
pub trait QueuePolicy: Debug + Send {
    /// The policy's name, as `--scheduling-policy` spells it.
    fn name(&self) -> &'static str;
    /// Adds a newly arrived sequence.
    fn push(&mut self, key: QueueKey);
    /// Puts back a sequence that was preempted or passed over, ahead of new arrivals where the
    /// policy allows (FCFS: at the very front).
    fn push_front(&mut self, key: QueueKey);
    /// The sequence to admit next, without removing it.
    fn peek(&self) -> Option<QueueKey>;
    /// Removes and returns the sequence to admit next.
    fn pop(&mut self) -> Option<QueueKey>;
    /// Removes `seq` (an abort); whether it was queued.
    fn remove(&mut self, seq: SeqId) -> bool;
    /// Sequences waiting.
    fn len(&self) -> usize;
    /// Whether nothing waits.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Index in `running` (admission order) of the sequence to preempt; `None` if it is empty.
    fn victim(&self, running: &[QueueKey]) -> Option<usize>;
}

/// The policy object for a configured [`SchedulingPolicy`].
pub fn policy_for(policy: SchedulingPolicy) -> Box<dyn QueuePolicy> {
    match policy {
        SchedulingPolicy::Fcfs => Box::<Fcfs>::default(),
        SchedulingPolicy::Priority => Box::<Priority>::default(),
    }
}

/// First come, first served: a deque; the latest admitted running sequence is the victim.
#[derive(Clone, Debug, Default)]
pub struct Fcfs {
    queue: VecDeque<QueueKey>,
}

impl QueuePolicy for Fcfs {
    fn name(&self) -> &'static str {
        "fcfs"
    }

    fn push(&mut self, key: QueueKey) {
        self.queue.push_back(key);
    }

    fn push_front(&mut self, key: QueueKey) {
        self.queue.push_front(key);
    }

    fn peek(&self) -> Option<QueueKey> {
        self.queue.front().copied()
    }

    fn pop(&mut self) -> Option<QueueKey> {
        self.queue.pop_front()
    }

    fn remove(&mut self, seq: SeqId) -> bool {
        match self.queue.iter().position(|k| k.seq == seq) {
            Some(i) => {
                self.queue.remove(i);
                true
            }
            None => false,
        }
    }

    fn len(&self) -> usize {
        self.queue.len()
    }

    fn victim(&self, running: &[QueueKey]) -> Option<usize> {
        running.len().checked_sub(1)
    }
}

/// Lowest `(priority, arrival)` first (an ordered set, O(log n)); the victim is the running
/// sequence with the highest `(priority, arrival)`.
#[derive(Clone, Debug, Default)]
pub struct Priority {
    queue: BTreeSet<QueueKey>,
}

impl QueuePolicy for Priority {
    fn name(&self) -> &'static str {
        "priority"
    }

    fn push(&mut self, key: QueueKey) {
        self.queue.insert(key);
    }

    fn push_front(&mut self, key: QueueKey) {
        self.queue.insert(key);
    }

    fn peek(&self) -> Option<QueueKey> {
        self.queue.first().copied()
    }

    fn pop(&mut self) -> Option<QueueKey> {
        self.queue.pop_first()
    }

    fn remove(&mut self, seq: SeqId) -> bool {
        let found = self.queue.iter().find(|k| k.seq == seq).copied();
        found.is_some_and(|key| self.queue.remove(&key))
    }

    fn len(&self) -> usize {
        self.queue.len()
    }

    fn victim(&self, running: &[QueueKey]) -> Option<usize> {
        (0..running.len()).max_by_key(|&i| running[i])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(priority: i32, arrival: u64) -> QueueKey {
        QueueKey {
            priority,
            arrival,
            seq: SeqId(arrival),
        }
    }

    #[test]
    fn fcfs_order_and_victim() {
        let mut q = policy_for(SchedulingPolicy::Fcfs);
        q.push(key(5, 0));
        q.push(key(-5, 1));
        q.push_front(key(0, 2));
        assert_eq!(q.pop().map(|k| k.arrival), Some(2));
        assert_eq!(q.pop().map(|k| k.arrival), Some(0));
        assert!(q.remove(SeqId(1)));
        assert!(q.is_empty());
        assert_eq!(q.victim(&[key(0, 0), key(9, 1), key(0, 2)]), Some(2));
        assert_eq!(q.victim(&[]), None);
    }

    #[test]
    fn priority_order_ties_by_arrival_and_victim() {
        let mut q = policy_for(SchedulingPolicy::Priority);
        q.push(key(1, 0));
        q.push(key(0, 2));
        q.push(key(0, 1));
        assert_eq!(q.name(), "priority");
        let order: Vec<_> = std::iter::from_fn(|| q.pop()).map(|k| k.arrival).collect();
        assert_eq!(order, [1, 2, 0]);
        let running = [key(0, 0), key(3, 1), key(3, 2), key(1, 3)];
        assert_eq!(q.victim(&running), Some(2));
    }
}
