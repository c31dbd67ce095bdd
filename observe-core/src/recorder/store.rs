//! The ring itself: records in arrival order, numbered by a sequence, in
//! fixed-size chunks (memory grows and shrinks a chunk at a time, never by
//! doubling), plus an index from trace id to the sequence numbers of its records.
//! Everything it allocates is counted against the byte budget, as the allocator
//! lays it out (`size::block`).

use std::collections::{HashMap, VecDeque};
use std::mem::size_of;
use std::sync::Arc;

use super::PromotionReason;
use crate::clock::Tick;
use crate::ids::TraceId;
use crate::log::LogRecord;
use crate::pipeline::size;
use crate::span::{SpanRecord, StatusCode};

/// One stored record.
#[derive(Debug, Clone)]
pub(crate) enum Entry {
    // Shared with the other sinks (the worker hands every sink the same record),
    // never deep-copied.
    Span(Arc<SpanRecord>),
    Log(Arc<LogRecord>),
}

impl Entry {
    #[cfg(test)]
    pub(crate) fn trace_id(&self) -> Option<TraceId> {
        match self {
            Entry::Span(s) => Some(s.trace_id()),
            Entry::Log(l) => l.span().map(|s| s.trace_id),
        }
    }

    /// When it was recorded: a span's end, a log's time.
    pub(crate) fn tick(&self) -> Tick {
        match self {
            Entry::Span(s) => s.end_tick(),
            Entry::Log(l) => l.tick(),
        }
    }
}

/// A stored record and what eviction needs to know of it, kept beside it: the
/// slots are read in order and stay in cache, while the record they point at was
/// written minutes ago and is not. Reading a record's time or trace through its
/// `Arc` on every push and eviction was a cache miss each (perf, the default
/// 64 MiB budget), the largest part of the recorder's cost under load.
#[derive(Debug)]
struct Slot {
    entry: Entry,
    /// The record's trace, [`TraceId::INVALID`] for a log line outside spans.
    trace: TraceId,
    /// When it was recorded ([`Entry::tick`]).
    tick: Tick,
    /// Its footprint, as counted against the budget.
    bytes: u32,
    /// [`Slot::SPAN`], [`Slot::ROOT`], [`Slot::ERROR`].
    flags: u8,
}

impl Slot {
    const SPAN: u8 = 1;
    const ROOT: u8 = 2;
    const ERROR: u8 = 4;

    fn new(entry: Entry, bytes: usize) -> Slot {
        let (trace, flags) = match &entry {
            Entry::Span(s) => {
                let mut flags = Slot::SPAN;
                if s.is_local_root() {
                    flags |= Slot::ROOT;
                }
                if s.status() == StatusCode::Error {
                    flags |= Slot::ERROR;
                }
                (s.trace_id(), flags)
            }
            Entry::Log(l) => (l.span().map_or(TraceId::INVALID, |s| s.trace_id), 0),
        };
        Slot {
            tick: entry.tick(),
            entry,
            trace,
            // A record's footprint beyond 4 GiB is counted as 4 GiB: the budget
            // (and `usize` arithmetic) stays right for everything smaller.
            bytes: u32::try_from(bytes).unwrap_or(u32::MAX),
            flags,
        }
    }

    fn trace(&self) -> Option<TraceId> {
        self.trace.is_valid().then_some(self.trace)
    }
}

const CHUNK: usize = 256;

/// The smallest budget honoured: a few chunks and their index.
pub(crate) const MIN_BUDGET: usize = 256 * 1024;

/// The heap of a trace's sequence numbers (none while they are inline).
fn seqs_heap(seqs: &smallvec::SmallVec<[u64; 4]>) -> usize {
    if seqs.spilled() {
        size::block(seqs.capacity() * size_of::<u64>())
    } else {
        0
    }
}

/// What the recorder knows of one trace.
#[derive(Debug, Default)]
pub(crate) struct TraceIndex {
    /// The sequence numbers of its records, oldest first: inline up to four (a
    /// request's span and log line need no allocation of their own).
    pub(crate) seqs: smallvec::SmallVec<[u64; 4]>,
    /// The sequence number of its local root span, once it has ended.
    pub(crate) root: Option<u64>,
    /// Spans in error.
    pub(crate) errors: u32,
    /// Why it was promoted, if it was.
    pub(crate) promoted: Option<PromotionReason>,
}

#[derive(Debug)]
pub(crate) struct Store {
    chunks: VecDeque<Vec<Option<Slot>>>,
    front_chunk: u64,
    first_seq: u64,
    next_seq: u64,
    /// Keyed with foldhash, seeded per process: trace ids can come from callers,
    /// and SipHash was a tenth of the worker's time here (perf).
    pub(crate) traces: HashMap<TraceId, TraceIndex, foldhash::fast::RandomState>,
    record_bytes: usize,
    index_bytes: usize,
    /// What the chunks, their deque and the trace map hold ([`Store::structure`]),
    /// kept up to date where they change: `used()` is read on every push and
    /// every eviction, and computing it there was most of its cost.
    structure_bytes: usize,
    budget: usize,
    /// Records older than this (by their tick, against the newest) are evicted:
    /// the window in ticks (`Tick::ticks_in`), so that the check on every push
    /// converts nothing.
    window: Option<u64>,
    pub(crate) spans: usize,
    pub(crate) logs: usize,
    pub(crate) evicted_spans: u64,
    pub(crate) evicted_logs: u64,
}

impl Store {
    pub(crate) fn new(budget: usize) -> Store {
        Store {
            chunks: VecDeque::new(),
            front_chunk: 0,
            first_seq: 0,
            next_seq: 0,
            traces: HashMap::default(),
            record_bytes: 0,
            index_bytes: 0,
            structure_bytes: 0,
            budget: budget.max(MIN_BUDGET),
            window: None,
            spans: 0,
            logs: 0,
            evicted_spans: 0,
            evicted_logs: 0,
        }
    }

    pub(crate) fn with_window(mut self, window: Option<std::time::Duration>) -> Store {
        self.window = window.map(Tick::ticks_in);
        self
    }

    /// Evicts the records older than the window before `now` (oldest first; a
    /// record from a thread drained late may stay until the ones before it go).
    pub(crate) fn expire(&mut self, now: Tick) {
        let Some(window) = self.window else { return };
        while self.first_seq < self.next_seq {
            let expired = self
                .slot(self.first_seq)
                .is_none_or(|s| s.tick.more_than_ticks_before(now, window));
            if !expired {
                break;
            }
            self.evict_front();
        }
    }

    pub(crate) fn budget(&self) -> usize {
        self.budget
    }

    /// The sequence numbers currently held: `first..next`.
    pub(crate) fn seq_range(&self) -> std::ops::Range<u64> {
        self.first_seq..self.next_seq
    }

    /// Bytes held: records, chunks, index.
    pub(crate) fn used(&self) -> usize {
        debug_assert_eq!(self.structure_bytes, self.structure());
        self.record_bytes + self.structure_bytes + self.index_bytes
    }

    /// What the chunks, their deque and the trace map hold.
    fn structure(&self) -> usize {
        self.chunks.len() * size::block(CHUNK * size_of::<Option<Slot>>())
            + size::block(self.chunks.capacity() * size_of::<Vec<Option<Slot>>>())
            + size::hash_map(self.traces.capacity(), size_of::<(TraceId, TraceIndex)>())
    }

    pub(crate) fn get(&self, seq: u64) -> Option<&Entry> {
        self.slot(seq).map(|s| &s.entry)
    }

    /// Stores a record, then evicts the oldest ones until everything, `overhead`
    /// included (memory the recorder holds beside the store), fits the budget.
    /// Returns the record's sequence number.
    pub(crate) fn push(&mut self, entry: Entry, overhead: usize) -> u64 {
        let seq = self.next_seq;
        let bytes = match &entry {
            Entry::Span(s) => size::span_allocated(s),
            Entry::Log(l) => size::log_allocated(l),
        };
        let slot = Slot::new(entry, bytes);
        let tick = slot.tick;
        if let Some(trace) = slot.trace() {
            let capacity = self.traces.capacity();
            let idx = self.traces.entry(trace).or_default();
            let before = seqs_heap(&idx.seqs);
            idx.seqs.push(seq);
            self.index_bytes += seqs_heap(&idx.seqs) - before;
            if slot.flags & Slot::ROOT != 0 {
                idx.root = Some(seq);
            }
            if slot.flags & Slot::ERROR != 0 {
                idx.errors += 1;
            }
            if self.traces.capacity() != capacity {
                self.structure_bytes = self.structure();
            }
        }
        if slot.flags & Slot::SPAN != 0 {
            self.spans += 1;
        } else {
            self.logs += 1;
        }
        if self.chunks.back().is_none_or(|c| c.len() == CHUNK) {
            if self.chunks.is_empty() {
                self.front_chunk = seq / CHUNK as u64;
            }
            self.chunks.push_back(Vec::with_capacity(CHUNK));
            self.structure_bytes = self.structure();
        }
        self.record_bytes += slot.bytes as usize;
        if let Some(c) = self.chunks.back_mut() {
            c.push(Some(slot));
        }
        self.next_seq += 1;
        while self.used() + overhead > self.budget && self.first_seq < self.next_seq {
            self.evict_front();
        }
        if self.window.is_some() {
            self.expire(tick);
        }
        seq
    }

    /// The slot of a record still held.
    fn slot(&self, seq: u64) -> Option<&Slot> {
        if !self.seq_range().contains(&seq) {
            return None;
        }
        let chunk = usize::try_from(seq / CHUNK as u64 - self.front_chunk).ok()?;
        self.chunks
            .get(chunk)?
            .get((seq % CHUNK as u64) as usize)?
            .as_ref()
    }

    fn evict_front(&mut self) {
        let seq = self.first_seq;
        let slot = self
            .chunks
            .front_mut()
            .and_then(|c| c.get_mut((seq % CHUNK as u64) as usize))
            .and_then(Option::take);
        self.first_seq += 1;
        if self.first_seq.is_multiple_of(CHUNK as u64) {
            self.chunks.pop_front();
            self.structure_bytes = self.structure();
            self.front_chunk += 1;
        }
        let Some(slot) = slot else { return };
        self.record_bytes -= slot.bytes as usize;
        if slot.flags & Slot::SPAN != 0 {
            self.spans -= 1;
            self.evicted_spans += 1;
        } else {
            self.logs -= 1;
            self.evicted_logs += 1;
        }
        let Some(trace) = slot.trace() else {
            return;
        };
        let Some(idx) = self.traces.get_mut(&trace) else {
            return;
        };
        // Records leave in sequence order, so this one is the trace's oldest.
        if idx.seqs.first() == Some(&seq) {
            idx.seqs.remove(0);
        } else {
            idx.seqs.retain(|s| *s != seq);
        }
        if idx.root == Some(seq) {
            idx.root = None;
        }
        if slot.flags & Slot::ERROR != 0 {
            idx.errors = idx.errors.saturating_sub(1);
        }
        if idx.seqs.is_empty() {
            self.index_bytes -= seqs_heap(&idx.seqs);
            self.traces.remove(&trace);
        }
    }

    /// The records of one trace, oldest first.
    pub(crate) fn trace_entries(&self, trace: TraceId) -> impl Iterator<Item = &Entry> {
        self.traces
            .get(&trace)
            .into_iter()
            .flat_map(|idx| idx.seqs.iter())
            .filter_map(|s| self.get(*s))
    }

    /// The wall-clock span of what is held: the oldest and newest record times.
    pub(crate) fn time_range(&self) -> Option<(Tick, Tick)> {
        if self.first_seq == self.next_seq {
            return None;
        }
        let first = self.slot(self.first_seq)?.tick;
        let last = self.slot(self.next_seq - 1)?.tick;
        Some((first.min(last), first.max(last)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::span::Span;

    fn records(n: usize, attribute_len: usize) -> Vec<SpanRecord> {
        let c = crate::testing::capture();
        for i in 0..n {
            let root = Span::new("root");
            root.set_attribute("payload", "x".repeat(attribute_len));
            root.in_scope(|| {
                if i % 3 == 0 {
                    Span::new("child").set_error("boom");
                }
            });
        }
        c.flush();
        c.spans()
    }

    #[test]
    fn a_window_evicts_what_is_older_than_it_within_the_budget() {
        let spans = records(30, 10);
        let ticks: Vec<Tick> = spans.iter().map(SpanRecord::end_tick).collect();
        let newest = *ticks.iter().max().unwrap();
        let oldest = *ticks.iter().min().unwrap();
        let span = oldest.duration_until(newest);
        assert!(!span.is_zero());
        // Half the time the records cover: the older ones go, the budget is far off.
        let window = span / 2;
        let mut without = Store::new(64 << 20);
        let mut with = Store::new(64 << 20).with_window(Some(window));
        for s in &spans {
            without.push(Entry::Span(Arc::new(s.clone())), 0);
            with.push(Entry::Span(Arc::new(s.clone())), 0);
        }
        assert_eq!(without.evicted_spans, 0);
        assert!(with.evicted_spans > 0);
        assert!(with.spans > 0, "the newest are kept");
        let front = with.get(with.seq_range().start).expect("a record");
        assert!(front.tick().duration_until(newest) <= window);
        // Later, with nothing new, the rest expires too.
        std::thread::sleep(span * 2 + std::time::Duration::from_millis(1));
        with.expire(Tick::now());
        assert_eq!(with.spans, 0);
        assert!(with.seq_range().is_empty());
    }

    #[test]
    fn stays_within_budget_and_keeps_the_newest() {
        let spans = records(2000, 300);
        let mut store = Store::new(MIN_BUDGET);
        let mut last = 0;
        for s in &spans {
            last = store.push(Entry::Span(Arc::new(s.clone())), 0);
            assert!(
                store.used() <= store.budget(),
                "{} > {}",
                store.used(),
                store.budget()
            );
        }
        assert!(store.evicted_spans > 0);
        assert_eq!(store.seq_range().end, last + 1);
        // The newest record is the last one pushed.
        let Some(Entry::Span(newest)) = store.get(last) else {
            panic!("newest kept")
        };
        assert_eq!(newest.span_id(), spans.last().unwrap().span_id());
        // Every trace in the index points at records still held.
        for (t, idx) in &store.traces {
            assert!(!idx.seqs.is_empty());
            for s in &idx.seqs {
                assert_eq!(store.get(*s).and_then(Entry::trace_id), Some(*t));
            }
            if let Some(r) = idx.root {
                assert!(store.seq_range().contains(&r));
            }
        }
        assert_eq!(store.spans, store.seq_range().count());
    }

    #[test]
    fn index_tracks_roots_and_errors_through_eviction() {
        let spans = records(30, 0);
        let mut store = Store::new(usize::MAX);
        for s in &spans {
            store.push(Entry::Span(Arc::new(s.clone())), 0);
        }
        let with_errors = store.traces.values().filter(|i| i.errors > 0).count();
        assert_eq!(with_errors, 10);
        assert!(store.traces.values().all(|i| i.root.is_some()));
        let first = spans[0].trace_id();
        assert_eq!(store.trace_entries(first).count(), 2);
        // Evict everything: the index empties with the ring.
        while store.first_seq < store.next_seq {
            store.evict_front();
        }
        assert!(store.traces.is_empty());
        assert_eq!(store.index_bytes, 0);
        assert_eq!(store.record_bytes, 0);
    }
}
