//! The bounded queue between observe's worker and the exporter thread: bounded in
//! records (`OTEL_BSP_MAX_QUEUE_SIZE` spans, `OTEL_BLRP_MAX_QUEUE_SIZE` log records;
//! the log events that travel with spans are not spans and do not count there) and
//! in bytes (the record sizes the flight recorder counts, everything included),
//! dropping the *oldest* items when full, so that after a long collector outage
//! what is exported is the most recent data and what was lost is counted.
//!
//! The items the queues carry ([`SpanItem`], log records) and the bytes each
//! holds are here too.

use std::collections::VecDeque;
use std::mem::size_of;
use std::sync::Mutex;
use std::sync::atomic::Ordering;

use tokio::sync::Notify;

use super::stats::SignalCounters;
use crate::config::BatchConfig;
use crate::log::LogRecord;
use crate::pipeline::size::{log_heap, span_heap};
use crate::span::SpanRecord;

/// A queue of `T`. The worker never waits on it for longer than a short,
/// uncontended lock: the exporter thread holds the lock only to take a batch out.
/// Its `queued` counter changes under the same lock as its items, so the
/// statistics never show more queued than the bound allows.
#[derive(Debug)]
pub(super) struct Queue<T> {
    state: Mutex<State<T>>,
    pub(super) notify: Notify,
    pub(super) batch: BatchConfig,
    /// The most bytes the queued records may hold.
    pub(super) max_bytes: usize,
    /// Which items the counters count (span queues also carry log events joined
    /// to their spans, which are not spans).
    counted: fn(&T) -> bool,
    /// The bytes an item holds, its slot in the queue included.
    size: fn(&T) -> usize,
}

#[derive(Debug)]
struct State<T> {
    items: VecDeque<(T, usize)>,
    bytes: usize,
    /// Items that count towards `max_queue_size`.
    counted: usize,
    /// Items dropped to make room, ever: the exporter compares it before retrying
    /// a batch it holds, which is older than anything the queue dropped.
    evicted: u64,
}

impl<T> Queue<T> {
    pub(super) fn new(
        batch: BatchConfig,
        max_bytes: usize,
        counted: fn(&T) -> bool,
        size: fn(&T) -> usize,
    ) -> Queue<T> {
        Queue {
            state: Mutex::new(State {
                items: VecDeque::new(),
                bytes: 0,
                counted: 0,
                evicted: 0,
            }),
            notify: Notify::new(),
            batch,
            max_bytes,
            counted,
            size,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Moves `pending` into the queue. When the queue is full (in records or in
    /// bytes), its oldest items are dropped to make room, and counted in `c`
    /// (`dropped`, or `events_dropped` for items that are not counted records). A
    /// single item larger than the whole byte budget is dropped itself.
    pub(super) fn push(&self, pending: &mut Vec<T>, c: &SignalCounters) {
        if pending.is_empty() {
            return;
        }
        let mut q = self.lock();
        let (mut queued, mut dropped, mut others) = (0i64, 0u64, 0u64);
        for item in pending.drain(..) {
            let size = (self.size)(&item);
            let counted = (self.counted)(&item);
            if size > self.max_bytes {
                if counted {
                    dropped += 1;
                } else {
                    others += 1;
                }
                continue;
            }
            while (counted && q.counted >= self.batch.max_queue_size)
                || q.bytes + size > self.max_bytes
            {
                let Some((old, old_size)) = q.items.pop_front() else {
                    break;
                };
                q.bytes -= old_size;
                q.evicted += 1;
                if (self.counted)(&old) {
                    q.counted -= 1;
                    queued -= 1;
                    dropped += 1;
                } else {
                    others += 1;
                }
            }
            queued += i64::from(counted);
            q.counted += usize::from(counted);
            q.bytes += size;
            q.items.push_back((item, size));
        }
        // A signed change: items queued by earlier calls may have been dropped.
        if queued >= 0 {
            c.queued.fetch_add(queued.unsigned_abs(), Ordering::Relaxed);
        } else {
            c.queued.fetch_sub(queued.unsigned_abs(), Ordering::Relaxed);
        }
        let full_batch = q.counted >= self.batch.max_export_batch_size;
        drop(q);
        if dropped > 0 {
            c.dropped.fetch_add(dropped, Ordering::Relaxed);
        }
        if others > 0 {
            c.events_dropped.fetch_add(others, Ordering::Relaxed);
        }
        if full_batch {
            self.notify.notify_one();
        }
    }

    /// Takes up to `max` items (no longer counted as queued).
    pub(super) fn take(&self, max: usize, c: &SignalCounters) -> Vec<T> {
        let mut q = self.lock();
        let n = q.items.len().min(max);
        let mut bytes = 0;
        let items: Vec<T> = q
            .items
            .drain(..n)
            .map(|(t, size)| {
                bytes += size;
                t
            })
            .collect();
        q.bytes -= bytes;
        let counted = items.iter().filter(|i| (self.counted)(i)).count();
        q.counted -= counted;
        c.queued.fetch_sub(counted as u64, Ordering::Relaxed);
        items
    }

    /// Whether nothing is queued.
    pub(super) fn is_empty(&self) -> bool {
        self.lock().items.is_empty()
    }

    /// How many items were dropped to make room so far.
    pub(super) fn evicted(&self) -> u64 {
        self.lock().evicted
    }

    /// The bytes queued now.
    #[cfg(test)]
    pub(super) fn bytes(&self) -> usize {
        self.lock().bytes
    }

    /// Empties the queue at shutdown, counting what was left as dropped.
    pub(super) fn drop_all(&self, c: &SignalCounters) {
        let mut q = self.lock();
        let left: Vec<_> = q.items.drain(..).collect();
        q.bytes = 0;
        q.counted = 0;
        let counted = left.iter().filter(|(i, _)| (self.counted)(i)).count() as u64;
        c.queued.fetch_sub(counted, Ordering::Relaxed);
        drop(q);
        c.dropped.fetch_add(counted, Ordering::Relaxed);
        c.events_dropped
            .fetch_add(left.len() as u64 - counted, Ordering::Relaxed);
    }
}

/// What the span queue carries: spans, and log records to join to them as events.
#[derive(Debug)]
pub(super) enum SpanItem {
    Span(SpanRecord),
    Event(Box<LogRecord>),
}

impl SpanItem {
    pub(super) fn is_span(&self) -> bool {
        matches!(self, SpanItem::Span(_))
    }

    /// The bytes it holds in the queue: its slot and the heap it owns, as the
    /// flight recorder counts them.
    pub(super) fn size(&self) -> usize {
        size_of::<(SpanItem, usize)>()
            + match self {
                SpanItem::Span(s) => span_heap(s),
                SpanItem::Event(l) => log_heap(l),
            }
    }
}

/// The bytes a log record holds in the log queue: its slot and its heap.
pub(super) fn log_size(l: &LogRecord) -> usize {
    size_of::<(LogRecord, usize)>() + log_heap(l) - size_of::<LogRecord>()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue(max: usize, bytes: usize) -> Queue<u32> {
        let mut b = BatchConfig::SPANS;
        b.max_queue_size = max;
        b.max_export_batch_size = max;
        // Odd numbers are "events": carried, not counted in records.
        Queue::new(b, bytes, |i| i % 2 == 0, |i| *i as usize)
    }

    #[test]
    fn a_full_queue_drops_its_oldest_and_counts_them() {
        let q = queue(3, usize::MAX);
        let c = SignalCounters::default();
        q.push(&mut vec![2, 4, 6, 8, 10], &c);
        assert_eq!(q.take(10, &c), vec![6, 8, 10], "the newest are kept");
        assert_eq!(c.dropped.load(Ordering::Relaxed), 2);
        assert_eq!(c.queued.load(Ordering::Relaxed), 0);
        assert_eq!(q.evicted(), 2);
    }

    #[test]
    fn the_byte_budget_bounds_the_queue_too() {
        let q = queue(100, 100);
        let c = SignalCounters::default();
        q.push(&mut vec![40, 40, 40], &c);
        assert_eq!(q.bytes(), 80, "the first 40 made room for the third");
        q.push(&mut vec![1000], &c);
        assert_eq!(q.bytes(), 80, "larger than the budget: dropped itself");
        assert_eq!(c.dropped.load(Ordering::Relaxed), 2);
        q.push(&mut vec![41], &c);
        assert_eq!(c.events_dropped.load(Ordering::Relaxed), 0);
        assert_eq!(c.dropped.load(Ordering::Relaxed), 3);
        assert_eq!(q.take(10, &c), vec![40, 41]);
        assert_eq!(q.bytes(), 0);
    }

    #[test]
    fn uncounted_items_are_bounded_by_bytes_only_and_counted_apart() {
        let q = queue(2, 12);
        let c = SignalCounters::default();
        q.push(&mut vec![1, 3, 1, 3, 1], &c);
        assert_eq!(c.events_dropped.load(Ordering::Relaxed), 0, "9 bytes fit");
        q.push(&mut vec![2, 4], &c);
        assert_eq!(
            c.events_dropped.load(Ordering::Relaxed),
            2,
            "the oldest made room for 6 bytes"
        );
        assert_eq!(c.dropped.load(Ordering::Relaxed), 0);
        assert_eq!(c.queued.load(Ordering::Relaxed), 2);
        q.drop_all(&c);
        assert_eq!(c.dropped.load(Ordering::Relaxed), 2);
        assert_eq!(c.queued.load(Ordering::Relaxed), 0);
    }
}
