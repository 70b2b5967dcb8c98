//! Waiting for absolute deadlines, precisely.
//!
//! Tokio's timer wheel has 1 ms ticks and rounds every deadline up to the next tick, so a
//! `sleep_until` fires on average about 1 ms late: too coarse for a ground truth that checks
//! clients to the millisecond. The [`Pacer`] is one thread holding a min-heap of
//! `(deadline, waker)`; it sleeps on a condition variable with a nanosecond timeout until the
//! earliest deadline and wakes the due tasks. A [`Delay`] registers its waker once; when woken it
//! checks the clock itself, so a spurious wake costs one poll. Both waits go through [`Delay`],
//! so the body code does not care which timer runs.
//!
//! Waking costs a context switch on each side, so deadlines are served in batches: when the
//! earliest is due, every entry due within [`BATCH_WINDOW`] of it is taken, the thread sleeps
//! until the last of them, and wakes them all. No task is ever woken early; the batch adds at
//! most the window to a write's lateness and, at 1000 streams of 100 tokens/s, cuts the
//! thread's wake-ups about tenfold.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::{Duration, Instant};

/// Entries due within this of the earliest are woken together, at the last one's deadline.
pub const BATCH_WINDOW: Duration = Duration::from_micros(100);

use crate::config::TimerKind;
use crate::error::MockError;

struct Entry {
    deadline: Instant,
    seq: u64,
    waker: Waker,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        (self.deadline, self.seq) == (other.deadline, other.seq)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.deadline, self.seq).cmp(&(other.deadline, other.seq))
    }
}

#[derive(Default)]
struct Queue {
    heap: BinaryHeap<Reverse<Entry>>,
    seq: u64,
    stop: bool,
}

struct Shared {
    queue: Mutex<Queue>,
    wake: Condvar,
}

/// The pacing thread; it stops when the last handle is dropped.
#[derive(Clone)]
pub struct Pacer {
    shared: Arc<Shared>,
    _guard: Arc<StopGuard>,
}

struct StopGuard(Arc<Shared>);

impl Drop for StopGuard {
    fn drop(&mut self) {
        self.0
            .queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .stop = true;
        self.0.wake.notify_all();
    }
}

impl Pacer {
    /// Starts the thread.
    ///
    /// # Errors
    /// [`MockError::Pacer`] when the thread cannot be spawned.
    pub fn start() -> Result<Pacer, MockError> {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
            wake: Condvar::new(),
        });
        let worker = Arc::clone(&shared);
        thread::Builder::new()
            .name("dyno-mock-pacer".to_owned())
            .spawn(move || run(&worker))
            .map_err(MockError::Pacer)?;
        Ok(Pacer {
            _guard: Arc::new(StopGuard(Arc::clone(&shared))),
            shared,
        })
    }

    fn register(&self, deadline: Instant, waker: Waker) {
        let mut q = self
            .shared
            .queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let earliest = q.heap.peek().is_none_or(|Reverse(e)| deadline < e.deadline);
        q.seq += 1;
        let seq = q.seq;
        q.heap.push(Reverse(Entry {
            deadline,
            seq,
            waker,
        }));
        drop(q);
        if earliest {
            self.shared.wake.notify_one();
        }
    }
}

fn run(shared: &Shared) {
    let mut due: Vec<Waker> = Vec::with_capacity(256);
    let mut q = shared.queue.lock().unwrap_or_else(PoisonError::into_inner);
    loop {
        if q.stop {
            return;
        }
        let now = Instant::now();
        let first = q.heap.peek().map(|Reverse(e)| e.deadline);
        if let Some(first) = first
            && first <= now + BATCH_WINDOW
        {
            let horizon = first + BATCH_WINDOW;
            let mut last = first;
            while let Some(Reverse(e)) = q.heap.peek() {
                if e.deadline > horizon {
                    break;
                }
                if let Some(Reverse(e)) = q.heap.pop() {
                    last = last.max(e.deadline);
                    due.push(e.waker);
                }
            }
            drop(q);
            let now = Instant::now();
            if last > now {
                thread::sleep(last - now);
            }
            for w in due.drain(..) {
                w.wake();
            }
            q = shared.queue.lock().unwrap_or_else(PoisonError::into_inner);
            continue;
        }
        q = match first {
            Some(deadline) => {
                shared
                    .wake
                    .wait_timeout(q, deadline.saturating_duration_since(now))
                    .unwrap_or_else(PoisonError::into_inner)
                    .0
            }
            None => shared.wake.wait(q).unwrap_or_else(PoisonError::into_inner),
        };
    }
}

/// Which clock a [`Delay`] uses.
#[derive(Clone)]
pub enum Timer {
    /// The pacing thread.
    Precise(Pacer),
    /// Tokio's timer wheel.
    Tokio,
}

impl Timer {
    /// A timer of `kind` (starts the pacing thread for [`TimerKind::Precise`]).
    ///
    /// # Errors
    /// [`MockError::Pacer`] when the thread cannot be spawned.
    pub fn new(kind: TimerKind) -> Result<Timer, MockError> {
        Ok(match kind {
            TimerKind::Precise => Timer::Precise(Pacer::start()?),
            TimerKind::Tokio => Timer::Tokio,
        })
    }

    /// A delay that is ready at `deadline`.
    pub fn delay(&self, deadline: Instant) -> Delay {
        match self {
            Timer::Precise(p) => Delay::Precise {
                pacer: p.clone(),
                deadline,
                registered: None,
            },
            Timer::Tokio => Delay::Tokio(Box::pin(tokio::time::sleep_until(deadline.into()))),
        }
    }
}

/// A future ready at a deadline; [`Delay::reset`] moves it without allocating.
pub enum Delay {
    /// Woken by the pacing thread.
    Precise {
        /// The thread.
        pacer: Pacer,
        /// When to be ready.
        deadline: Instant,
        /// The waker registered for this deadline.
        registered: Option<Waker>,
    },
    /// A tokio sleep.
    Tokio(Pin<Box<tokio::time::Sleep>>),
}

impl Delay {
    /// Waits for `deadline` next.
    pub fn reset(&mut self, new: Instant) {
        match self {
            Delay::Precise {
                deadline,
                registered,
                ..
            } => {
                *deadline = new;
                *registered = None;
            }
            Delay::Tokio(sleep) => sleep.as_mut().reset(new.into()),
        }
    }

    /// Polls for the current deadline.
    pub fn poll_due(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        match self {
            Delay::Precise {
                pacer,
                deadline,
                registered,
            } => {
                if Instant::now() >= *deadline {
                    return Poll::Ready(());
                }
                if !registered.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                    pacer.register(*deadline, cx.waker().clone());
                    *registered = Some(cx.waker().clone());
                }
                Poll::Pending
            }
            Delay::Tokio(sleep) => sleep.as_mut().poll(cx),
        }
    }
}

impl Future for Delay {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.get_mut().poll_due(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn precise_delays_fire_in_order_and_close_to_their_deadlines() {
        let timer = Timer::new(TimerKind::Precise).unwrap();
        let start = Instant::now();
        let mut worst = Duration::ZERO;
        for i in 1..=20u32 {
            let deadline = start + Duration::from_millis(3) * i;
            timer.delay(deadline).await;
            let now = Instant::now();
            assert!(now >= deadline);
            worst = worst.max(now - deadline);
        }
        // generous: the test machine is shared; a typical wake is well under 0.3 ms late
        assert!(
            worst < Duration::from_millis(20),
            "worst lateness {worst:?}"
        );
    }
}
