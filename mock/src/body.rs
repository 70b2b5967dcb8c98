//! The response bodies: a prepared plan played on its deadlines, or one complete buffer.
//!
//! [`PlannedBody`] hands hyper one frame per event at the event's absolute deadline
//! (`t0 + offset`, so lateness never accumulates) and records how late each token chunk was.
//! At run time it only waits and moves prepared [`Bytes`] out: no serialization, no allocation.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};

use crate::pacer::{Delay, Timer};
use crate::schedule::{Event, EventKind, Plan, Tail};
use crate::stats::ServerStats;

/// The error a body returns to make hyper close the connection mid-stream (`--drop-after`).
#[derive(Debug, thiserror::Error)]
#[error("mock: connection dropped mid-stream on purpose (--drop-after)")]
pub struct Dropped;

/// A streamed answer following its [`Plan`].
pub struct PlannedBody {
    t0: Instant,
    events: std::vec::IntoIter<Event>,
    current: Option<Event>,
    tail: Tail,
    tail_armed: bool,
    delay: Delay,
    stats: Arc<ServerStats>,
}

impl PlannedBody {
    /// A body that plays `plan` for a request received at `t0`.
    pub fn new(plan: Plan, t0: Instant, timer: &Timer, stats: Arc<ServerStats>) -> Self {
        Self {
            t0,
            events: plan.events.into_iter(),
            current: None,
            tail: plan.tail,
            tail_armed: false,
            delay: timer.delay(t0),
            stats,
        }
    }
}

impl Body for PlannedBody {
    type Data = Bytes;
    type Error = Dropped;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Dropped>>> {
        let this = self.get_mut();
        if this.current.is_none() {
            match this.events.next() {
                Some(event) => {
                    this.delay.reset(this.t0 + event.offset);
                    this.current = Some(event);
                }
                None => {
                    return match this.tail {
                        Tail::End => Poll::Ready(None),
                        // never woken: the connection stays open until the client gives up
                        Tail::Stall => Poll::Pending,
                        Tail::Drop(offset) => {
                            if !this.tail_armed {
                                this.delay.reset(this.t0 + offset);
                                this.tail_armed = true;
                            }
                            ready!(this.delay.poll_due(cx));
                            Poll::Ready(Some(Err(Dropped)))
                        }
                    };
                }
            }
        }
        ready!(this.delay.poll_due(cx));
        let Some(event) = this.current.take() else {
            return Poll::Ready(None);
        };
        let late = Instant::now().saturating_duration_since(this.t0 + event.offset);
        match event.kind {
            EventKind::FirstChunk => this.stats.first_chunk.record(late),
            EventKind::Chunk => this.stats.later_chunks.record(late),
            EventKind::Other => {}
        }
        Poll::Ready(Some(Ok(Frame::data(event.bytes))))
    }
}

/// Every body the server sends.
pub enum MockBody {
    /// A complete body (JSON answers, errors, non-streaming completions).
    Full(Option<Bytes>),
    /// A streamed answer.
    Stream(PlannedBody),
}

impl MockBody {
    /// A complete body.
    pub fn full(bytes: impl Into<Bytes>) -> Self {
        Self::Full(Some(bytes.into()))
    }

    /// An empty body.
    pub fn empty() -> Self {
        Self::Full(None)
    }
}

impl Body for MockBody {
    type Data = Bytes;
    type Error = Dropped;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Dropped>>> {
        match self.get_mut() {
            MockBody::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            MockBody::Stream(body) => Pin::new(body).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, MockBody::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            MockBody::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            MockBody::Full(None) => SizeHint::with_exact(0),
            MockBody::Stream(_) => SizeHint::default(),
        }
    }
}
