//! One connection's outbound side: a byte buffer that publishers append to and a
//! flusher task that drains it to the socket.
//!
//! Why this shape (DESIGN.md §3.3–3.5): publishers on other tasks write `MSG` frames
//! straight into the subscriber's buffer under a short lock, so fan-out costs a
//! memcpy per subscriber and no channel message or allocation. The flusher swaps the
//! filled buffer with an empty spare and writes it with one syscall, so everything
//! queued while the previous write was in flight goes out together (coalescing).
//! A subscriber that cannot keep up (queued bytes over `max_pending`, or a write that
//! stalls past `write_deadline`) is a slow consumer and gets closed; nobody waits on it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::BytesMut;
use parking_lot::Mutex;
use tokio::io::AsyncWriteExt;
use tokio::sync::Notify;

/// Initial capacity of a connection's outbound buffers.
const INITIAL_CAPACITY: usize = 32 * 1024;
/// A spare buffer that grew past this during a burst is dropped after the write so
/// an idle connection does not pin a burst-sized allocation.
const SHRINK_ABOVE: usize = 1024 * 1024;

/// Why the outbound side gave up on a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboundFailure {
    /// Queued bytes would exceed `max_pending`.
    SlowConsumerPending,
    /// A write did not complete within `write_deadline`.
    SlowConsumerDeadline,
    /// The socket returned an error (peer gone).
    WriteError,
}

struct State {
    buf: BytesMut,
    closed: bool,
}

/// The shared outbound queue of one connection.
pub struct Outbound {
    state: Mutex<State>,
    wake: Notify,
    max_pending: usize,
    failed: Mutex<Option<OutboundFailure>>,
    /// Set once the flusher has written everything and stopped.
    done: AtomicBool,
    done_notify: Notify,
}

/// Result of appending to an outbound queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Queued {
    /// Appended; the flusher must be woken (the buffer was empty before).
    NeedsFlush,
    /// Appended; a wake-up is already owed to the flusher.
    Pending,
    /// Not appended: the connection is closed or just became a slow consumer.
    Dropped,
}

impl Outbound {
    /// A new queue bounded by `max_pending` bytes.
    pub fn new(max_pending: usize) -> Self {
        Outbound {
            state: Mutex::new(State {
                buf: BytesMut::with_capacity(INITIAL_CAPACITY),
                closed: false,
            }),
            wake: Notify::new(),
            max_pending,
            failed: Mutex::new(None),
            done: AtomicBool::new(false),
            done_notify: Notify::new(),
        }
    }

    /// Appends bytes produced by `write` (which must add exactly `len` bytes).
    /// `len` is checked against `max_pending` before anything is written, so a slow
    /// consumer never grows its buffer past the bound.
    #[inline]
    pub fn queue_with(&self, len: usize, write: impl FnOnce(&mut BytesMut)) -> Queued {
        let mut st = self.state.lock();
        if st.closed {
            return Queued::Dropped;
        }
        let was_empty = st.buf.is_empty();
        if st.buf.len() + len > self.max_pending {
            st.closed = true;
            drop(st);
            self.fail(OutboundFailure::SlowConsumerPending);
            return Queued::Dropped;
        }
        write(&mut st.buf);
        if was_empty {
            Queued::NeedsFlush
        } else {
            Queued::Pending
        }
    }

    /// Appends raw protocol bytes and wakes the flusher at once. For control
    /// replies (PONG, +OK, -ERR, INFO) that are not part of a fan-out batch.
    pub fn send_now(&self, bytes: &[u8]) {
        if self.queue_with(bytes.len(), |b| b.extend_from_slice(bytes)) == Queued::NeedsFlush {
            self.wake();
        }
    }

    /// Signals the flusher that bytes are waiting.
    #[inline]
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Stops accepting bytes; the flusher writes what is queued and then stops.
    pub fn close(&self) {
        self.state.lock().closed = true;
        self.wake.notify_one();
    }

    /// Is the queue closed (by `close` or a failure)?
    pub fn is_closed(&self) -> bool {
        self.state.lock().closed
    }

    /// The failure that closed this queue, if any.
    pub fn failure(&self) -> Option<OutboundFailure> {
        *self.failed.lock()
    }

    fn fail(&self, why: OutboundFailure) {
        let mut f = self.failed.lock();
        if f.is_none() {
            *f = Some(why);
        }
        drop(f);
        self.wake.notify_one();
    }

    /// Waits until the flusher has stopped (everything written, or failure).
    pub async fn wait_done(&self) {
        loop {
            let notified = self.done_notify.notified();
            if self.done.load(Ordering::Acquire) {
                return;
            }
            notified.await;
        }
    }

    /// The flusher: runs until the queue is closed and drained, or a write fails.
    /// `on_failure` is called once if the connection must be torn down because of
    /// the outbound side (slow consumer or socket error).
    pub async fn run_flusher<W>(
        &self,
        mut sink: W,
        write_deadline: Duration,
    ) -> Option<OutboundFailure>
    where
        W: tokio::io::AsyncWrite + Unpin,
    {
        let mut spare = BytesMut::with_capacity(INITIAL_CAPACITY);
        let result = loop {
            if let Some(f) = self.failure() {
                break Some(f);
            }
            let closed = {
                let mut st = self.state.lock();
                if !st.buf.is_empty() {
                    std::mem::swap(&mut st.buf, &mut spare);
                }
                st.closed
            };
            if spare.is_empty() {
                if closed {
                    break None;
                }
                self.wake.notified().await;
                continue;
            }
            match tokio::time::timeout(write_deadline, sink.write_all(&spare)).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => {
                    self.state.lock().closed = true;
                    self.fail(OutboundFailure::WriteError);
                    break Some(OutboundFailure::WriteError);
                }
                Err(_) => {
                    self.state.lock().closed = true;
                    self.fail(OutboundFailure::SlowConsumerDeadline);
                    break Some(OutboundFailure::SlowConsumerDeadline);
                }
            }
            if spare.capacity() > SHRINK_ABOVE {
                spare = BytesMut::with_capacity(INITIAL_CAPACITY);
            } else {
                spare.clear();
            }
        };
        let _ = sink.flush().await;
        let _ = sink.shutdown().await;
        self.done.store(true, Ordering::Release);
        self.done_notify.notify_waiters();
        result
    }
}
