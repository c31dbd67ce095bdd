//! Per-thread staging buffers and single-producer rings (`rtrb`), one of each per
//! pipeline a thread writes to. They live in the thread's state next to its span
//! stack (see `span::stack`).
//!
//! A record is first appended to a small staging buffer, which stays hot in this
//! core's cache; the buffer is moved into the ring in one bulk copy when it fills,
//! or as soon as the thread leaves its outermost span. Flushing whenever the span
//! stack empties means a thread never keeps records once it goes idle: at most the
//! records of the spans it is still inside are staged.
//!
//! # Bounds, all threads together
//!
//! Each record in a staging buffer or a ring draws the heap it holds
//! (`size::in_flight`) from the pipeline's [`Budget`] of bytes in flight; the worker
//! gives it back as it drains the record. A record over the budget is dropped and
//! counted, as one that finds its ring full: nothing waits. Threads draw in grains
//! of [`GRAIN`] bytes, so the shared counter is touched once every few records,
//! and a thread holds at most `2 × GRAIN` drawn and unused: given back when it
//! exits, and taken back by the worker from a thread that queued nothing in a
//! drain round, so that thousands of idle threads (a blocking pool) do not tie up
//! the budget. The rings' slots are bounded too: while the rings of live threads hold
//! fewer than `Settings::ring_slots` slots, a new ring gets `ring_capacity` slots,
//! past that [`SMALL_RING`].

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::{Pipeline, Record, size};
use crate::span::stack::{self, ThreadState};

/// Bytes a thread draws from the budget at a time.
pub(crate) const GRAIN: usize = 4096;

/// The slots of a ring made once the live rings hold `Settings::ring_slots`.
pub(crate) const SMALL_RING: usize = 512;

/// What the rings of one pipeline draw from, shared by every thread.
#[derive(Debug, Default)]
pub(crate) struct Budget {
    /// Bytes drawn by threads: held by records in flight, or by a thread's credit.
    in_flight: AtomicUsize,
    /// Slots of the rings whose consumers the pipeline holds.
    slots: AtomicUsize,
}

impl Budget {
    /// Takes `bytes` if they fit under `limit`.
    fn draw(&self, bytes: usize, limit: usize) -> bool {
        self.in_flight
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                n.checked_add(bytes).filter(|&m| m <= limit)
            })
            .is_ok()
    }

    /// Gives back what records leaving the rings (or a thread's credit) held.
    pub(crate) fn give_back(&self, bytes: usize) {
        if bytes > 0 {
            self.in_flight.fetch_sub(bytes, Ordering::Relaxed);
        }
    }

    /// The bytes drawn now: records in flight and the threads' credit.
    #[cfg(test)]
    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// A ring with `capacity` slots was dropped by the worker.
    pub(crate) fn ring_gone(&self, capacity: usize) {
        self.slots.fetch_sub(capacity, Ordering::Relaxed);
    }

    /// The slots of a new ring: the configured capacity while the live rings
    /// hold fewer than `total`, else [`SMALL_RING`] (or the capacity, if smaller).
    fn ring_for(&self, capacity: usize, total: usize) -> usize {
        let mut cap = capacity;
        let _ = self
            .slots
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                cap = if n + capacity <= total {
                    capacity
                } else {
                    SMALL_RING.min(capacity)
                };
                Some(n + cap)
            });
        cap
    }
}

/// The background side of one thread's ring.
pub(crate) struct Consumer {
    pub(crate) inner: rtrb::Consumer<Record>,
    /// The thread's unused credit (see [`Local::credit`]).
    credit: Arc<AtomicUsize>,
}

impl Consumer {
    /// Takes back the thread's unused credit: called for a ring that had nothing
    /// to drain in a round. A busy thread draws again at its next record.
    pub(crate) fn reclaim_credit(&self, budget: &Budget) {
        if self.credit.load(Ordering::Relaxed) > 0 {
            budget.give_back(self.credit.swap(0, Ordering::Relaxed));
        }
    }
}

/// The application side of one thread's ring for one pipeline.
pub(crate) struct Local {
    pipeline: &'static Pipeline,
    staging: Vec<Record>,
    producer: rtrb::Producer<Record>,
    /// Bytes drawn from the pipeline's budget and not yet used by a record. Shared
    /// with the worker, which takes it back when this thread goes idle; only this
    /// thread adds to it, and it takes from it by compare-and-swap.
    credit: Arc<AtomicUsize>,
}

impl Local {
    /// Charges a record's heap to this thread's credit, drawing from the
    /// pipeline's budget when the credit runs out. `false`: over the budget.
    #[inline]
    fn charge(&mut self, bytes: usize) -> bool {
        if bytes == 0 {
            return true;
        }
        let credit = self.credit.load(Ordering::Relaxed);
        if bytes <= credit
            && self
                .credit
                .compare_exchange(credit, credit - bytes, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            return true;
        }
        self.charge_slow(bytes)
    }

    #[cold]
    #[inline(never)]
    fn charge_slow(&mut self, bytes: usize) -> bool {
        // What is left of the credit (the worker may have taken it meanwhile).
        let have = self.credit.swap(0, Ordering::Relaxed);
        if have >= bytes {
            self.refund(have - bytes);
            return true;
        }
        let need = bytes - have;
        let limit = self.pipeline.settings.in_flight_bytes;
        let budget = &self.pipeline.budget;
        // A grain more than needed if there is room; else just what is needed.
        if budget.draw(need + GRAIN, limit) {
            self.credit.fetch_add(GRAIN, Ordering::Relaxed);
            true
        } else if budget.draw(need, limit) {
            true
        } else {
            self.refund(have);
            false
        }
    }

    /// Returns the heap of records that were charged and then not queued.
    fn refund(&mut self, bytes: usize) {
        if bytes == 0 {
            return;
        }
        if self.credit.fetch_add(bytes, Ordering::Relaxed) + bytes > 2 * GRAIN {
            // Keep a grain; the rest goes back to the pipeline.
            let all = self.credit.swap(0, Ordering::Relaxed);
            let keep = all.min(GRAIN);
            self.credit.fetch_add(keep, Ordering::Relaxed);
            self.pipeline.budget.give_back(all - keep);
        }
    }
}

impl Drop for Local {
    /// A thread that exits (or forgets the ring of a stopped pipeline) gives its
    /// credit back.
    fn drop(&mut self) {
        self.pipeline
            .budget
            .give_back(self.credit.swap(0, Ordering::Relaxed));
    }
}

/// Records staged per thread before a bulk move into the ring.
const STAGE: usize = 64;

/// Queues a finished span's record for `pipeline`, building it in place in the
/// staging buffer. It waits there while the thread is inside a span; otherwise it
/// goes to the ring at once.
#[inline]
pub(crate) fn push_span(
    pipeline: &'static Pipeline,
    data: &mut crate::span::SpanData,
    end: crate::clock::Tick,
    status: crate::span::StatusCode,
    request_type: crate::context::RequestType,
) {
    let pushed = stack::with_state(|s| {
        push_in(s, pipeline, || {
            Record::Span(data.take_record(end, status, request_type))
        })
    });
    if pushed.is_none() {
        pipeline.count_dropped_span();
    }
}

/// Queues a log record for `pipeline` (staged while the thread is inside a span).
#[inline]
pub(crate) fn push_log(pipeline: &'static Pipeline, log: std::sync::Arc<crate::log::LogRecord>) {
    let mut log = Some(log);
    stack::with_state(|s| {
        if let Some(l) = log.take() {
            push_in(s, pipeline, || Record::Log(l));
        }
    });
    if log.is_some() {
        pipeline.count_dropped_log();
    }
}

#[inline]
fn push_in(s: &mut ThreadState, pipeline: &'static Pipeline, make: impl FnOnce() -> Record) {
    if !pipeline.is_running() {
        pipeline.count_dropped(&[make()]);
        return;
    }
    // Inside a span of the code running now (not merely above another task's
    // `tracing` entry, which may stay on this thread's stack while it is suspended).
    let inside = stack::inside(s);
    let local = local_for(&mut s.rings, pipeline);
    // Built straight into its slot. `push(make())` builds the record on the stack
    // first (the push may reallocate before it knows where the record goes) and then
    // copies it; the copy's wide loads over the narrow stores that built it stalled on
    // store forwarding, the largest single cost of ending a span.
    let bytes = match local.staging.spare_capacity_mut().first_mut() {
        Some(slot) => {
            let record = slot.write(make());
            let bytes = size::in_flight(record);
            let len = local.staging.len() + 1;
            // SAFETY: the slot just written is the first past the length, within the
            // capacity, and now initialised.
            unsafe { local.staging.set_len(len) };
            bytes
        }
        // Never in practice: the buffer is made with room for `STAGE` records and
        // moved to the ring when it holds that many.
        None => {
            let record = make();
            let bytes = size::in_flight(&record);
            local.staging.push(record);
            bytes
        }
    };
    if !local.charge(bytes) {
        over_budget(local);
    }
    if inside && local.staging.len() < STAGE {
        s.set_staged(true);
    } else {
        move_to_ring(local);
    }
}

/// The thread's ring for `pipeline`: nearly always the first (and only) one,
/// checked inline; the search and the making of a new ring are out of line (as
/// one function, the call cost a span's end 35 instructions, counted).
#[inline(always)]
fn local_for<'a>(rings: &'a mut Vec<Local>, pipeline: &'static Pipeline) -> &'a mut Local {
    if rings
        .first()
        .is_some_and(|l| std::ptr::eq(l.pipeline, pipeline))
    {
        return &mut rings[0];
    }
    local_for_slow(rings, pipeline)
}

#[cold]
#[inline(never)]
fn local_for_slow<'a>(rings: &'a mut Vec<Local>, pipeline: &'static Pipeline) -> &'a mut Local {
    let idx = match rings
        .iter()
        .position(|l| std::ptr::eq(l.pipeline, pipeline))
    {
        Some(i) => i,
        None => {
            // Forget rings of pipelines that were shut down (tests start many).
            rings.retain(|l| l.pipeline.is_running());
            let settings = &pipeline.settings;
            let capacity = pipeline
                .budget
                .ring_for(settings.ring_capacity, settings.ring_slots);
            let (producer, consumer) = rtrb::RingBuffer::new(capacity);
            let credit = Arc::new(AtomicUsize::new(0));
            pipeline.register(Consumer {
                inner: consumer,
                credit: credit.clone(),
            });
            rings.push(Local {
                pipeline,
                staging: Vec::with_capacity(STAGE),
                producer,
                credit,
            });
            rings.len() - 1
        }
    };
    &mut rings[idx]
}

/// The record just staged is over the budget of bytes in flight: dropped and counted.
#[cold]
#[inline(never)]
fn over_budget(local: &mut Local) {
    if let Some(record) = local.staging.pop() {
        local.pipeline.count_dropped(std::slice::from_ref(&record));
    }
    // The worker may be behind: let it drain sooner.
    local.pipeline.wake();
}

/// Moves the staging buffer into the ring; what does not fit is dropped and counted.
fn move_to_ring(local: &mut Local) {
    let n = local.staging.len();
    if n == 0 {
        return;
    }
    let free = local.producer.slots();
    let fit = free.min(n);
    if let Ok(mut chunk) = local.producer.write_chunk_uninit(fit) {
        // The records' bytes are copied into the ring in one or two block copies
        // and the staging buffer forgets them: moved one at a time through an
        // iterator, they cost a `#[traced]` call 23–34 instructions more (counted).
        let (first, second) = chunk.as_mut_slices();
        let src = local.staging.as_mut_ptr();
        // SAFETY: the chunk's two slices are `fit` slots in all, uninitialised and
        // not overlapping the staging buffer, whose first `fit` records (of `n`)
        // are initialised. Copying their bits moves them into the slots; the
        // buffer then keeps only the `n - fit` records after them (moved to its
        // front) and forgets the rest, so no record is dropped twice. Nothing
        // between the copies and `set_len` can panic. `commit_all` publishes the
        // `fit` slots, all initialised by the copies.
        unsafe {
            std::ptr::copy_nonoverlapping(src, first.as_mut_ptr().cast::<Record>(), first.len());
            std::ptr::copy_nonoverlapping(
                src.add(first.len()),
                second.as_mut_ptr().cast::<Record>(),
                second.len(),
            );
            std::ptr::copy(src.add(fit), src, n - fit);
            local.staging.set_len(n - fit);
            chunk.commit_all();
        }
    }
    if !local.staging.is_empty() {
        local.pipeline.count_dropped(&local.staging);
        let bytes = local.staging.iter().map(size::in_flight).sum();
        local.staging.clear();
        local.refund(bytes);
    }
    // Wake the worker when the ring passes half full, rather than letting it
    // overflow before the next periodic drain.
    if free - fit < local.producer.buffer().capacity() / 2 {
        local.pipeline.wake();
    }
}

/// Moves every staged record of this thread into its rings.
pub(crate) fn flush_all(s: &mut ThreadState) {
    s.set_staged(false);
    for local in s.rings.iter_mut() {
        move_to_ring(local);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use super::{Budget, SMALL_RING};
    use crate::Observe;
    use crate::init::Parts;
    use crate::pipeline::{Settings, Sink};

    /// A sink that waits at each log record while the test holds the gate: the
    /// worker stops draining, as it would behind far more threads than cores.
    struct Gate(Arc<Mutex<()>>);

    impl Sink for Gate {
        fn on_log(&mut self, _: &crate::log::LogRecord) {
            drop(self.0.lock().unwrap_or_else(|e| e.into_inner()));
        }
    }

    #[test]
    fn records_in_flight_stay_within_the_shared_budget_and_the_rest_is_counted() {
        const LIMIT: usize = 256 * 1024;
        const THREADS: usize = 8;
        const LINES: usize = 2000;
        let gate = Arc::new(Mutex::new(()));
        let held = gate.lock().unwrap();
        let observe = Arc::new(
            Observe::start(Parts {
                settings: Settings {
                    in_flight_bytes: LIMIT,
                    ..Settings::default()
                },
                ..crate::testing::parts(1.0, vec![Box::new(Gate(gate.clone()))])
            })
            .unwrap(),
        );
        let pipeline = observe.pipeline;
        let threads: Vec<_> = (0..THREADS)
            .map(|t| {
                let observe = observe.clone();
                std::thread::spawn(move || {
                    let _g = observe.set_default();
                    for i in 0..LINES {
                        tracing::info!(t, i, text = %"x".repeat(i % 200), "line {i}");
                        assert!(observe.pipeline.budget.in_flight() <= LIMIT);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        // The worker is held: what it has not drained stays within the budget and
        // the rest was dropped, counted, never waited for.
        assert!(pipeline.budget.in_flight() <= LIMIT);
        let stats = pipeline.snapshot_stats();
        assert!(stats.dropped_log_records > 0, "{stats:?}");
        drop(held);
        assert!(observe.flush(Duration::from_secs(10)));
        let stats = pipeline.snapshot_stats();
        assert_eq!(
            stats.processed_records + stats.dropped_log_records,
            (THREADS * LINES) as u64,
            "{stats:?}"
        );
        // Drained, and the threads that exited gave their credit back.
        assert_eq!(pipeline.budget.in_flight(), 0);
    }

    /// A span record told apart by its span id, holding a shared name (so that a
    /// record dropped twice, or never, shows in the name's reference count).
    fn numbered(name: &Arc<str>, n: u64) -> super::Record {
        use crate::ids::{SpanId, TraceFlags, TraceId};
        super::Record::Span(crate::span::SpanRecord {
            trace_id: TraceId::new(1),
            span_id: SpanId::new(n + 1),
            parent_id: SpanId::new(0),
            flags: TraceFlags::SAMPLED,
            kind: crate::span::SpanKind::Internal,
            parent_remote: false,
            local_root: true,
            request_type: crate::context::RequestType::Standard,
            status: crate::span::StatusCode::Unset,
            name: crate::span::SpanName::Shared(name.clone()),
            callsite: None,
            start: crate::clock::Tick::default(),
            end: crate::clock::Tick::default(),
            extra: None,
        })
    }

    /// Staged records reach the ring in order, once each, also when the ring's free
    /// slots wrap around its end (the block copy then has two parts) and when only
    /// some of them fit (the rest are dropped and counted, once).
    #[test]
    fn staged_records_move_to_the_ring_in_order_once_each() {
        let observe = Observe::start(crate::testing::parts(1.0, Vec::new())).unwrap();
        let pipeline = observe.pipeline;
        let name: Arc<str> = Arc::from("moved");
        let (producer, mut consumer) = rtrb::RingBuffer::new(8);
        let mut local = super::Local {
            pipeline,
            staging: Vec::with_capacity(super::STAGE),
            producer,
            credit: Arc::new(super::AtomicUsize::new(0)),
        };
        let ids = |consumer: &mut rtrb::Consumer<super::Record>| {
            let mut ids = Vec::new();
            while let Ok(r) = consumer.pop() {
                match r {
                    super::Record::Span(s) => ids.push(s.span_id.to_int() - 1),
                    super::Record::Log(_) => panic!("only spans were staged"),
                }
            }
            ids
        };
        let mut next = 0;
        // Stages five records and moves them to the ring.
        let mut move_five = |local: &mut super::Local| {
            for _ in 0..5 {
                local.staging.push(numbered(&name, next));
                next += 1;
            }
            super::move_to_ring(local);
            assert!(local.staging.is_empty());
        };
        let mut seen = Vec::new();
        // Five at a time into eight slots, drained between moves: the free slots
        // wrap around the end from the second move on.
        for _ in 0..10 {
            move_five(&mut local);
            seen.extend(ids(&mut consumer));
        }
        // Not drained: five fit, then three of the next five; two are dropped.
        let dropped_before = pipeline.snapshot_stats().dropped_spans;
        for _ in 0..2 {
            move_five(&mut local);
        }
        assert_eq!(seen, (0..50).collect::<Vec<_>>());
        assert_eq!(
            ids(&mut consumer),
            (next - 10..next - 2).collect::<Vec<_>>()
        );
        assert_eq!(pipeline.snapshot_stats().dropped_spans - dropped_before, 2);
        drop(local);
        drop(consumer);
        assert_eq!(
            Arc::strong_count(&name),
            1,
            "every record dropped exactly once"
        );
    }

    #[test]
    fn idle_threads_keep_no_share_of_the_budget() {
        const THREADS: usize = 32;
        let observe = Arc::new(Observe::start(crate::testing::parts(1.0, Vec::new())).unwrap());
        let pipeline = observe.pipeline;
        let (logged_tx, logged) = std::sync::mpsc::channel();
        let (release, released) = std::sync::mpsc::channel::<()>();
        let released = Arc::new(Mutex::new(released));
        let threads: Vec<_> = (0..THREADS)
            .map(|t| {
                let (observe, logged_tx, released) =
                    (observe.clone(), logged_tx.clone(), released.clone());
                std::thread::spawn(move || {
                    let _g = observe.set_default();
                    // One record with heap: the thread draws a grain more than it needs.
                    tracing::info!(t, text = %"x".repeat(100), "one line");
                    logged_tx.send(()).unwrap();
                    // Then idle, alive, until the test is done.
                    let _ = released.lock().unwrap().recv();
                })
            })
            .collect();
        for _ in 0..THREADS {
            logged.recv().unwrap();
        }
        // The first round drains the records, the next finds the rings empty.
        assert!(observe.flush(Duration::from_secs(10)));
        assert!(observe.flush(Duration::from_secs(10)));
        assert_eq!(
            pipeline.budget.in_flight(),
            0,
            "idle threads still hold credit"
        );
        // A thread that logs again draws again. Inside a span the record waits in
        // the thread's staging buffer, out of the worker's reach, however slowly
        // this test runs.
        {
            let _g = observe.set_default();
            crate::span::Span::new("held").in_scope(|| {
                tracing::info!(text = %"y".repeat(100), "again");
                assert!(pipeline.budget.in_flight() > 0);
            });
        }
        drop(release);
        for t in threads {
            t.join().unwrap();
        }
        assert!(observe.flush(Duration::from_secs(10)));
    }

    #[test]
    fn new_rings_are_small_once_the_live_rings_hold_their_share_of_slots() {
        let budget = Budget::default();
        assert_eq!(budget.ring_for(4096, 2 * 4096), 4096);
        assert_eq!(budget.ring_for(4096, 2 * 4096), 4096);
        assert_eq!(budget.ring_for(4096, 2 * 4096), SMALL_RING);
        assert_eq!(budget.ring_for(256, 2 * 4096), 256);
        budget.ring_gone(4096);
        budget.ring_gone(SMALL_RING);
        budget.ring_gone(256);
        assert_eq!(budget.ring_for(4096, 2 * 4096), 4096);
    }
}
