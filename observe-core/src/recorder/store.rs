//! The ring itself: records in arrival order, numbered by a sequence, in
//! fixed-size chunks (memory grows and shrinks a chunk at a time, never by
//! doubling), plus an index from trace id to its newest record. A trace's records
//! are chained back from there, each slot holding the distance to the trace's
//! record before it. Everything it allocates is counted against the byte budget,
//! as the allocator lays it out (`size::block`).
//!
//! Eviction does not touch the index: under load the index is larger than the
//! cache, and a lookup per evicted record was a cache miss each. An entry whose
//! records are all gone is stale (its newest record is older than the ring) and
//! reads as absent; the stale entries are swept out together once they
//! outnumber the live ones.

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
/// `Arc` on every push and eviction was a cache miss each (perf, at the default
/// 64 MiB budget under load).
#[derive(Debug)]
struct Slot {
    entry: Entry,
    /// The record's trace (`TraceId::to_int`, high and low halves; zero for a
    /// log line outside spans): two words rather than a `u128`, whose 16-byte
    /// alignment made a slot 64 bytes instead of 56.
    trace: [u64; 2],
    /// When it was recorded ([`Entry::tick`]).
    tick: Tick,
    /// Its footprint, as counted against the budget.
    bytes: u32,
    /// How many records back the trace's record before this one is: 0 for the
    /// trace's first, and where that record is more than `u32::MAX` back (the
    /// chain ends there).
    prev: u32,
    /// [`Slot::SPAN`], [`Slot::ROOT`], [`Slot::ERROR`], [`Slot::LAST`].
    flags: u8,
}

impl Slot {
    const SPAN: u8 = 1;
    const ROOT: u8 = 2;
    const ERROR: u8 = 4;
    /// The newest record of its trace: evicting it makes the trace's index
    /// entry stale.
    const LAST: u8 = 8;

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
        let trace = trace.to_int();
        Slot {
            tick: entry.tick(),
            entry,
            trace: [(trace >> 64) as u64, trace as u64],
            // A record's footprint beyond 4 GiB is counted as 4 GiB: the budget
            // (and `usize` arithmetic) stays right for everything smaller.
            bytes: u32::try_from(bytes).unwrap_or(u32::MAX),
            prev: 0,
            flags,
        }
    }

    fn trace(&self) -> Option<TraceId> {
        let [high, low] = self.trace;
        let trace = TraceId::new((u128::from(high) << 64) | u128::from(low));
        trace.is_valid().then_some(trace)
    }
}

const CHUNK: usize = 256;

/// Stale index entries never force a sweep below this many: with a handful of
/// live traces, a pass per handful of evictions would cost more than the
/// entries. Low enough that at the smallest budget the index stays near the
/// size of its live traces.
const SWEEP_FLOOR: usize = 64;

/// The smallest budget honoured: a few chunks and their index.
pub(crate) const MIN_BUDGET: usize = 256 * 1024;

/// What the recorder knows of one trace.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TraceIndex {
    /// The sequence number of its newest record; the others are chained back
    /// from it ([`Store::chain`]). Older than the ring: stale, all evicted.
    /// Private, with `root` and `errors`: the store's stale count and chains
    /// hold only if the store alone writes them.
    newest: u64,
    /// The sequence number of its local root span, once it has ended (it may
    /// have been evicted since: [`Store::get`] says).
    root: Option<u64>,
    /// Spans in error stored (evictions do not count down: [`Store::errors`]
    /// counts those still held).
    errors: u32,
    /// Why it was promoted, if it was.
    pub(crate) promoted: Option<PromotionReason>,
}

impl TraceIndex {
    /// The sequence number of its newest record.
    pub(crate) fn newest(&self) -> u64 {
        self.newest
    }

    /// The sequence number of its local root span, once it has ended (it may
    /// have been evicted since).
    pub(crate) fn root(&self) -> Option<u64> {
        self.root
    }

    fn new(newest: u64) -> TraceIndex {
        TraceIndex {
            newest,
            root: None,
            errors: 0,
            promoted: None,
        }
    }
}

#[derive(Debug)]
pub(crate) struct Store {
    chunks: VecDeque<Vec<Option<Slot>>>,
    front_chunk: u64,
    first_seq: u64,
    next_seq: u64,
    /// Keyed with foldhash, seeded per process: trace ids can come from callers,
    /// and SipHash was a tenth of the worker's time here (perf). Holds stale
    /// entries too: read it through [`Store::trace`] and [`Store::traces`].
    traces: HashMap<TraceId, TraceIndex, foldhash::fast::RandomState>,
    /// Entries of `traces` whose records are all held no more.
    stale: usize,
    /// The most `traces.capacity()` has been: what its table holds, counted
    /// against the budget. A removal can leave a tombstone that lowers
    /// `capacity()` while the table keeps its memory, and it is never shrunk.
    index_capacity: usize,
    record_bytes: usize,
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
            stale: 0,
            index_capacity: 0,
            record_bytes: 0,
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
        self.record_bytes + self.structure_bytes
    }

    /// What the chunks, their deque and the trace map hold.
    fn structure(&self) -> usize {
        self.chunks.len() * size::block(CHUNK * size_of::<Option<Slot>>())
            + size::block(self.chunks.capacity() * size_of::<Vec<Option<Slot>>>())
            + size::hash_map(self.index_capacity, size_of::<(TraceId, TraceIndex)>())
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
        let (tick, trace, flags) = (slot.tick, slot.trace(), slot.flags);
        if flags & Slot::SPAN != 0 {
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
        // Stored before the index is looked up, and chained in place after: the
        // lookup misses the cache under load, and a slot still being built then
        // waited for it before it could be copied in (perf).
        if let Some(c) = self.chunks.back_mut() {
            c.push(Some(slot));
        }
        self.next_seq += 1;
        if let Some(trace) = trace {
            self.index(trace, seq, flags);
        }
        while self.used() + overhead > self.budget && self.first_seq < self.next_seq {
            self.evict_front();
        }
        if self.window.is_some() {
            self.expire(tick);
        }
        seq
    }

    /// Where a record still held is: its chunk and its place in it.
    fn position(&self, seq: u64) -> Option<(usize, usize)> {
        if !self.seq_range().contains(&seq) {
            return None;
        }
        let chunk = usize::try_from(seq / CHUNK as u64 - self.front_chunk).ok()?;
        Some((chunk, (seq % CHUNK as u64) as usize))
    }

    /// The slot of a record still held.
    fn slot(&self, seq: u64) -> Option<&Slot> {
        let (chunk, at) = self.position(seq)?;
        self.chunks.get(chunk)?.get(at)?.as_ref()
    }

    fn slot_mut(&mut self, seq: u64) -> Option<&mut Slot> {
        let (chunk, at) = self.position(seq)?;
        self.chunks.get_mut(chunk)?.get_mut(at)?.as_mut()
    }

    /// Makes the record stored as `seq` (with these flags) its trace's newest,
    /// chained to the one before it.
    fn index(&mut self, trace: TraceId, seq: u64, flags: u8) {
        use std::collections::hash_map::Entry as MapEntry;
        let (idx, before) = match self.traces.entry(trace) {
            MapEntry::Occupied(o) => {
                let idx = o.into_mut();
                if idx.newest >= self.first_seq {
                    let before = idx.newest;
                    (idx, Some(before))
                } else {
                    // Its records are all gone: it starts again.
                    *idx = TraceIndex::new(seq);
                    debug_assert!(self.stale > 0, "a stale entry went uncounted");
                    self.stale = self.stale.saturating_sub(1);
                    (idx, None)
                }
            }
            MapEntry::Vacant(v) => (v.insert(TraceIndex::new(seq)), None),
        };
        idx.newest = seq;
        if flags & Slot::ROOT != 0 {
            idx.root = Some(seq);
        }
        if flags & Slot::ERROR != 0 {
            idx.errors = idx.errors.saturating_add(1);
        }
        if let Some(before) = before
            && let Some(b) = self.slot_mut(before)
        {
            b.flags &= !Slot::LAST;
        }
        if let Some(slot) = self.slot_mut(seq) {
            slot.flags |= Slot::LAST;
            if let Some(before) = before {
                slot.prev = u32::try_from(seq - before).unwrap_or(0);
            }
        }
        if self.traces.capacity() > self.index_capacity {
            self.index_capacity = self.traces.capacity();
            self.structure_bytes = self.structure();
        }
    }

    /// Drops the stale entries of the index, once they outnumber the live ones
    /// (and [`SWEEP_FLOOR`]): one pass over the map for as many evicted traces
    /// as it holds.
    fn sweep(&mut self) {
        if self.stale <= self.trace_count().max(SWEEP_FLOOR) {
            return;
        }
        let first = self.first_seq;
        self.traces.retain(|_, idx| idx.newest >= first);
        self.stale = 0;
    }

    /// The index of a trace held (none once all its records are evicted).
    pub(crate) fn trace(&self, trace: TraceId) -> Option<&TraceIndex> {
        self.traces
            .get(&trace)
            .filter(|idx| idx.newest >= self.first_seq)
    }

    /// The index of a trace held, to mark it.
    pub(crate) fn trace_mut(&mut self, trace: TraceId) -> Option<&mut TraceIndex> {
        let first = self.first_seq;
        self.traces
            .get_mut(&trace)
            .filter(|idx| idx.newest >= first)
    }

    /// Every trace held, with its index.
    pub(crate) fn traces(&self) -> impl Iterator<Item = (&TraceId, &TraceIndex)> {
        self.traces
            .iter()
            .filter(|(_, idx)| idx.newest >= self.first_seq)
    }

    /// How many traces are held.
    pub(crate) fn trace_count(&self) -> usize {
        self.traces.len().saturating_sub(self.stale)
    }

    /// A trace's slots still held, newest first, with their sequence numbers.
    fn slots_of(&self, idx: &TraceIndex) -> impl Iterator<Item = (u64, &Slot)> {
        let mut next = Some(idx.newest);
        std::iter::from_fn(move || {
            let seq = next?;
            let slot = self.slot(seq)?;
            next = match slot.prev {
                0 => None,
                back => seq.checked_sub(u64::from(back)),
            };
            Some((seq, slot))
        })
    }

    /// A trace's records still held, newest first, with their sequence numbers.
    pub(crate) fn chain(&self, idx: &TraceIndex) -> impl Iterator<Item = (u64, &Entry)> {
        self.slots_of(idx).map(|(seq, slot)| (seq, &slot.entry))
    }

    /// The spans in error a trace still holds.
    pub(crate) fn errors(&self, idx: &TraceIndex) -> u32 {
        if idx.errors == 0 {
            return 0;
        }
        let n = self
            .slots_of(idx)
            .filter(|(_, slot)| slot.flags & Slot::ERROR != 0)
            .count();
        u32::try_from(n).unwrap_or(u32::MAX)
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
        if slot.flags & Slot::LAST != 0 {
            self.stale += 1;
            self.sweep();
        }
        // The record itself is dropped here, its slot gone from the ring.
    }

    /// The records of one trace, oldest first.
    pub(crate) fn trace_entries(&self, trace: TraceId) -> Vec<&Entry> {
        let mut v: Vec<&Entry> = self
            .trace(trace)
            .into_iter()
            .flat_map(|idx| self.chain(idx))
            .map(|(_, e)| e)
            .collect();
        v.reverse();
        v
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
        // Every trace in the index chains to records still held, all its own.
        assert!(store.trace_count() > 0);
        assert_eq!(store.traces().count(), store.trace_count());
        for (t, idx) in store.traces() {
            assert!(store.chain(idx).count() > 0);
            for (seq, e) in store.chain(idx) {
                assert!(store.seq_range().contains(&seq));
                assert_eq!(e.trace_id(), Some(*t));
            }
        }
        // The stale entries are swept out before they outnumber the live ones.
        assert!(store.stale <= store.trace_count().max(SWEEP_FLOOR));
        assert_eq!(store.spans, store.seq_range().count());
    }

    #[test]
    fn index_tracks_roots_and_errors_through_eviction() {
        let spans = records(30, 0);
        let mut store = Store::new(usize::MAX);
        for s in &spans {
            store.push(Entry::Span(Arc::new(s.clone())), 0);
        }
        let with_errors = store.traces().filter(|(_, i)| store.errors(i) > 0).count();
        assert_eq!(with_errors, 10);
        assert!(store.traces().all(|(_, i)| i.root.is_some()));
        let first = spans[0].trace_id();
        assert_eq!(store.trace_entries(first).len(), 2);
        // The child first: records come oldest first.
        let Entry::Span(child) = store.trace_entries(first)[0] else {
            panic!("a span")
        };
        assert_eq!(child.name(), "child");
        // Evict everything: no trace is held any more.
        while store.first_seq < store.next_seq {
            store.evict_front();
        }
        assert_eq!(store.trace_count(), 0);
        assert_eq!(store.traces().count(), 0);
        assert!(store.trace(first).is_none());
        assert!(store.trace_entries(first).is_empty());
        assert_eq!(store.record_bytes, 0);
    }

    /// Root spans, each with a log line inside.
    fn logged(n: usize) -> (Vec<SpanRecord>, Vec<LogRecord>) {
        let c = crate::testing::capture();
        for _ in 0..n {
            Span::new("root").in_scope(|| tracing::info!("line"));
        }
        c.flush();
        (c.spans(), c.logs())
    }

    #[test]
    #[cfg(target_pointer_width = "64")]
    fn a_slot_is_seven_words() {
        // The record's `Arc` and kind, its trace, tick, footprint, chain and
        // flags: what every record costs the ring besides itself.
        assert_eq!(size_of::<Option<Slot>>(), 56);
    }

    #[test]
    fn interleaved_traces_chain_their_own_records_and_lose_their_oldest_first() {
        let (spans, logs) = logged(2);
        let (a, b) = (&spans[0], &spans[1]);
        let log_of_b = logs
            .iter()
            .find(|l| l.span().map(|s| s.trace_id) == Some(b.trace_id()))
            .expect("b's log line");
        let mut store = Store::new(usize::MAX);
        // a b a b a: a's records are not next to each other.
        let order = [a, b, a, b, a];
        for s in order {
            store.push(Entry::Span(Arc::new(s.clone())), 0);
        }
        store.push(Entry::Log(Arc::new(log_of_b.clone())), 0);
        assert_eq!(store.trace_count(), 2);
        assert_eq!(store.trace_entries(a.trace_id()).len(), 3);
        let of_b = store.trace_entries(b.trace_id());
        assert_eq!(of_b.len(), 3);
        assert!(matches!(of_b[2], Entry::Log(_)), "the newest last");
        // Evicting the first two leaves a with two records, b with two.
        store.evict_front();
        store.evict_front();
        assert_eq!(store.trace_entries(a.trace_id()).len(), 2);
        assert_eq!(store.trace_entries(b.trace_id()).len(), 2);
        // A trace whose records are all gone and that comes back starts afresh.
        while store.first_seq < store.next_seq {
            store.evict_front();
        }
        assert_eq!(store.trace_count(), 0);
        store.push(Entry::Span(Arc::new(a.clone())), 0);
        assert_eq!(store.trace_count(), 1);
        assert_eq!(store.trace_entries(a.trace_id()).len(), 1);
        assert_eq!(store.stale, 1, "b's entry, not yet swept");
    }

    #[test]
    fn stale_entries_are_swept_and_the_index_stays_bounded() {
        let spans = records(3000, 0);
        // Room for a few hundred records at a time: thousands of traces pass.
        let mut store = Store::new(MIN_BUDGET);
        let mut swept = false;
        for s in &spans {
            let before = store.traces.len();
            store.push(Entry::Span(Arc::new(s.clone())), 0);
            swept |= store.traces.len() < before;
            // Never more stale entries than live ones (or the floor), after
            // every record.
            let live = store.trace_count();
            assert!(store.stale <= live.max(SWEEP_FLOOR));
            assert!(store.traces.len() <= live + live.max(SWEEP_FLOOR));
        }
        assert!(store.evicted_spans > 2000);
        assert!(swept, "thousands of traces passed through a few hundred");
        // What is live is exactly the traces with a record in the ring.
        let held: std::collections::HashSet<TraceId> = store
            .seq_range()
            .filter_map(|s| store.get(s).and_then(Entry::trace_id))
            .collect();
        assert_eq!(held.len(), store.trace_count());
        assert!(held.iter().all(|t| store.trace(*t).is_some()));
    }
}
