//! Per-thread, single-writer recording cells: the hot path.
//!
//! Why not hdrhistogram alone (numbers from `benches/metrics.rs`, two runs on the
//! shared 2-core machine, `docs/bench/metrics.md`): a `Mutex<hdrhistogram::Histogram>`
//! is a shared lock, 8.6-15.8 ns per record alone and 19-31 ns per record per thread
//! with two threads (64-105 M records/s in total, against 277-363 M/s here, 3.6-6.9 ns
//! alone); a plain `Histogram` cannot be written from two threads; and
//! `hdrhistogram::sync::Recorder` (12.6-17.8 ns alone) needs `&mut` per thread (so a
//! per-callsite `static` shared by all threads cannot hold one), keeps a dense
//! 33 792-counter histogram per thread and key (264 KiB), and its reader must wait
//! for every recorder to reach a phase shift, so an idle thread stalls or loses a
//! read. Here every series keeps, per thread, the same counters in hdrhistogram's
//! own bin layout ([`super::layout`]), allocated a page (256 bins, 2 KiB) at a time
//! on first use, written with a relaxed load and store (the thread is the only
//! writer, so no read-modify-write is needed) and read by any thread at any time;
//! the reader copies them bin by bin into an `hdrhistogram::Histogram` for
//! quantiles and serialization.
//!
//! Memory, per series and per thread that recorded into it: one [`ThreadCells`]
//! (about 1.2 KiB) plus 2 KiB per page of bins touched (a distribution spanning a
//! factor of ten touches 4 to 14 pages). Each series also keeps a 512-byte table of
//! per-thread chunks and a 128-byte chunk per 16 thread indices in use. Thread
//! indices are reused after a thread exits ([`super::thread_index`]), together with
//! the cells behind them, so an exited thread's counts stay in the series and
//! memory is bounded by the peak number of live threads.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::*};
use std::sync::{Mutex, MutexGuard};

use once_cell::race::OnceBox;

use super::layout::{HIGHEST, LEN, PAGE_BITS, PAGE_LEN, PAGES, index_of};
use super::thread_index::{self, CHUNK, CHUNKS, MAX_THREADS};
use crate::ids::TraceId;

/// Adds `by` to a counter that only the calling thread writes: a load and a store,
/// no read-modify-write.
#[inline(always)]
fn bump(a: &AtomicU64, by: u64) {
    a.store(a.load(Relaxed).wrapping_add(by), Relaxed);
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section in this module leaves its data consistent, so a
    // poisoned lock (a panic elsewhere while held) is still safe to use.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// One page of bin counters.
pub(crate) struct Page(pub(crate) [AtomicU64; PAGE_LEN]);

impl Page {
    fn new() -> Box<Page> {
        Box::new(Page(std::array::from_fn(|_| AtomicU64::new(0))))
    }
}

/// A trace that produced an observation worth keeping: the slowest of a slice, or an
/// error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ExemplarCell {
    pub(crate) trace_id: TraceId,
    pub(crate) value: u64,
    pub(crate) unix_nanos: u64,
    pub(crate) is_error: bool,
}

#[derive(Default)]
pub(crate) struct ExemplarSlot {
    pub(crate) slowest: Option<ExemplarCell>,
    pub(crate) error: Option<ExemplarCell>,
}

/// The scalar totals of one thread's cells (or a sum of them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Scalars {
    pub(crate) count: u64,
    pub(crate) sum: u64,
    pub(crate) errors: u64,
    pub(crate) clamped: u64,
}

impl Scalars {
    pub(crate) fn add(&mut self, o: &Scalars) {
        self.count = self.count.wrapping_add(o.count);
        self.sum = self.sum.wrapping_add(o.sum);
        self.errors = self.errors.wrapping_add(o.errors);
        self.clamped = self.clamped.wrapping_add(o.clamped);
    }

    pub(crate) fn minus(&self, o: &Scalars) -> Scalars {
        Scalars {
            count: self.count.wrapping_sub(o.count),
            sum: self.sum.wrapping_sub(o.sum),
            errors: self.errors.wrapping_sub(o.errors),
            clamped: self.clamped.wrapping_sub(o.clamped),
        }
    }
}

/// One thread's counters for one histogram series. Written only by the thread that
/// holds its index (or under the series' fallback lock); read by anyone.
#[repr(align(128))]
pub(crate) struct ThreadCells {
    count: AtomicU64,
    sum: AtomicU64,
    errors: AtomicU64,
    clamped: AtomicU64,
    /// Only values above this are offered as "slowest" exemplars (re-armed at each fold).
    exemplar_floor: AtomicU64,
    /// An error exemplar was already taken since the last fold.
    error_taken: AtomicBool,
    pub(crate) pages: [OnceBox<Page>; PAGES],
    exemplars: Mutex<ExemplarSlot>,
}

impl ThreadCells {
    fn new() -> Box<ThreadCells> {
        Box::new(ThreadCells {
            count: AtomicU64::new(0),
            sum: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            clamped: AtomicU64::new(0),
            exemplar_floor: AtomicU64::new(0),
            error_taken: AtomicBool::new(false),
            pages: std::array::from_fn(|_| OnceBox::new()),
            exemplars: Mutex::new(ExemplarSlot::default()),
        })
    }

    #[inline(always)]
    pub(crate) fn record(&self, value: u64) {
        let index = index_of(value);
        if index >= LEN {
            return self.record_clamped();
        }
        self.record_at(index, value);
    }

    #[inline(always)]
    fn record_at(&self, index: usize, value: u64) {
        let page = match self.pages[index >> PAGE_BITS].get() {
            Some(p) => p,
            None => self.page(index >> PAGE_BITS),
        };
        bump(&page.0[index & (PAGE_LEN - 1)], 1);
        bump(&self.sum, value);
        // Release: a reader that sees this count also sees the bin and the sum.
        self.count
            .store(self.count.load(Relaxed).wrapping_add(1), Release);
    }

    #[cold]
    #[inline(never)]
    fn record_clamped(&self) {
        bump(&self.clamped, 1);
        self.record_at(LEN - 1, HIGHEST);
    }

    #[cold]
    #[inline(never)]
    fn page(&self, p: usize) -> &Page {
        self.pages[p].get_or_init(Page::new)
    }

    #[inline(always)]
    pub(crate) fn record_error(&self) {
        bump(&self.errors, 1);
    }

    /// Whether an observation should be offered as an exemplar: it beats the
    /// slowest since the last fold, or is this thread's first error since then.
    /// One comparison on the hot path.
    #[inline(always)]
    pub(crate) fn wants_exemplar(&self, value: u64, is_error: bool) -> bool {
        value > self.exemplar_floor.load(Relaxed) || (is_error && !self.error_taken.load(Relaxed))
    }

    /// Keeps an exemplar (the cold path after [`ThreadCells::wants_exemplar`]).
    #[cold]
    #[inline(never)]
    pub(crate) fn offer_exemplar(
        &self,
        value: u64,
        trace_id: TraceId,
        is_error: bool,
        now: &dyn Fn() -> u64,
    ) {
        let cell = ExemplarCell {
            trace_id,
            value,
            unix_nanos: now(),
            is_error,
        };
        let mut slot = lock(&self.exemplars);
        if value > self.exemplar_floor.load(Relaxed) {
            slot.slowest = Some(cell);
            self.exemplar_floor.store(value, Relaxed);
        }
        if is_error && !self.error_taken.load(Relaxed) {
            slot.error = Some(cell);
            self.error_taken.store(true, Relaxed);
        }
    }

    /// Offers an exemplar (both steps).
    #[cfg(test)]
    fn offer(&self, value: u64, trace_id: TraceId, is_error: bool, now: &dyn Fn() -> u64) {
        if self.wants_exemplar(value, is_error) {
            self.offer_exemplar(value, trace_id, is_error, now);
        }
    }

    /// These cells' totals. The count is read first (acquire), so the other fields
    /// and the bins reflect at least the observations it counts.
    pub(crate) fn scalars(&self) -> Scalars {
        let count = self.count.load(Acquire);
        Scalars {
            count,
            sum: self.sum.load(Relaxed),
            errors: self.errors.load(Relaxed),
            clamped: self.clamped.load(Relaxed),
        }
    }

    /// Takes the exemplars offered since the last call and re-arms the thresholds,
    /// so each fold period (a second with the background tick) offers its own
    /// slowest and first error; the window slice keeps the slowest of them.
    pub(crate) fn take_exemplars(&self) -> ExemplarSlot {
        // Nothing offered since the last call (every offer raises the floor or takes
        // the error): no lock. An offer racing with this is taken next time.
        if self.exemplar_floor.load(Relaxed) == 0 && !self.error_taken.load(Relaxed) {
            return ExemplarSlot::default();
        }
        let mut slot = lock(&self.exemplars);
        let taken = std::mem::take(&mut *slot);
        self.exemplar_floor.store(0, Relaxed);
        self.error_taken.store(false, Relaxed);
        taken
    }
}

/// The per-thread cells of one histogram series.
pub(crate) struct HistogramCells {
    table: [OnceBox<[OnceBox<ThreadCells>; CHUNK]>; CHUNKS],
    fallback_lock: Mutex<()>,
    fallback: OnceBox<ThreadCells>,
}

impl HistogramCells {
    pub(crate) fn new() -> HistogramCells {
        HistogramCells {
            table: std::array::from_fn(|_| OnceBox::new()),
            fallback_lock: Mutex::new(()),
            fallback: OnceBox::new(),
        }
    }

    /// Runs `f` with this thread's cells: four dependent loads on the fast path.
    /// Callers pass `move` closures, so that the values they record stay in
    /// registers instead of being spilled for the closure to borrow (measured:
    /// 9 ns against 4 ns per record with an exemplar).
    #[inline(always)]
    pub(crate) fn with<R>(&self, f: impl FnOnce(&ThreadCells) -> R) -> R {
        let i = thread_index::current() as usize;
        if i < MAX_THREADS as usize
            && let Some(chunk) = self.table[i / CHUNK].get()
            && let Some(r) = chunk[i % CHUNK].get()
        {
            return f(r);
        }
        self.with_slow(i, f)
    }

    #[cold]
    #[inline(never)]
    fn with_slow<R>(&self, i: usize, f: impl FnOnce(&ThreadCells) -> R) -> R {
        if i < MAX_THREADS as usize {
            let chunk = self.table[i / CHUNK]
                .get_or_init(|| Box::new(std::array::from_fn(|_| OnceBox::new())));
            return f(chunk[i % CHUNK].get_or_init(ThreadCells::new));
        }
        // Threads without an index share the fallback cells, one at a time.
        let _g = lock(&self.fallback_lock);
        f(self.fallback.get_or_init(ThreadCells::new))
    }

    /// Every thread's cells allocated so far (live and exited threads, and the fallback);
    /// inline up to 8, so a fold of a series few threads wrote allocates nothing.
    pub(crate) fn cells(&self) -> smallvec::SmallVec<[&ThreadCells; 8]> {
        let mut out = smallvec::SmallVec::new();
        for chunk in self.table.iter().filter_map(OnceBox::get) {
            out.extend(chunk.iter().filter_map(OnceBox::get));
        }
        out.extend(self.fallback.get());
        out
    }
}

/// A counter cell on its own cache line, so threads never share one.
#[repr(align(64))]
pub(crate) struct Cell64(AtomicU64);

/// Per-thread cells of one counter or gauge. Values are `u64` with wrapping
/// arithmetic; gauges store `i64` deltas in two's complement.
pub(crate) struct CounterCells {
    table: [OnceBox<[Cell64; CHUNK]>; CHUNKS],
    fallback: AtomicU64,
}

impl CounterCells {
    pub(crate) fn new() -> CounterCells {
        CounterCells {
            table: std::array::from_fn(|_| OnceBox::new()),
            fallback: AtomicU64::new(0),
        }
    }

    #[inline(always)]
    pub(crate) fn add(&self, by: u64) {
        let i = thread_index::current() as usize;
        if i < MAX_THREADS as usize
            && let Some(chunk) = self.table[i / CHUNK].get()
        {
            return bump(&chunk[i % CHUNK].0, by);
        }
        self.add_slow(i, by)
    }

    #[cold]
    #[inline(never)]
    fn add_slow(&self, i: usize, by: u64) {
        if i < MAX_THREADS as usize {
            let chunk = self.table[i / CHUNK]
                .get_or_init(|| Box::new(std::array::from_fn(|_| Cell64(AtomicU64::new(0)))));
            bump(&chunk[i % CHUNK].0, by);
        } else {
            // Shared by every thread without an index: a read-modify-write.
            self.fallback.fetch_add(by, Relaxed);
        }
    }

    /// The sum over all threads (wrapping).
    pub(crate) fn sum(&self) -> u64 {
        let mut total = self.fallback.load(Relaxed);
        for chunk in self.table.iter().filter_map(OnceBox::get) {
            for c in chunk.iter() {
                total = total.wrapping_add(c.0.load(Relaxed));
            }
        }
        total
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::layout::{add_bin, new_histogram};

    fn merged(cells: &HistogramCells) -> hdrhistogram::Histogram<u64> {
        let mut h = new_histogram();
        for r in cells.cells() {
            for (p, page) in r.pages.iter().enumerate() {
                if let Some(page) = page.get() {
                    for (j, c) in page.0.iter().enumerate() {
                        add_bin(&mut h, p * PAGE_LEN + j, c.load(Relaxed));
                    }
                }
            }
        }
        h
    }

    #[test]
    fn threads_record_into_their_own_cells_and_merge_exactly() {
        let cells = std::sync::Arc::new(HistogramCells::new());
        let mut reference = new_histogram();
        let threads: Vec<_> = (0..4u64)
            .map(|t| {
                let cells = cells.clone();
                std::thread::spawn(move || {
                    for i in 0..10_000u64 {
                        cells.with(|r| r.record(i * 37 + t * 1_000_003));
                    }
                })
            })
            .collect();
        for h in threads {
            h.join().unwrap();
        }
        for t in 0..4u64 {
            for i in 0..10_000u64 {
                reference.record(i * 37 + t * 1_000_003).unwrap();
            }
        }
        let total: u64 = cells.cells().iter().map(|r| r.scalars().count).sum();
        assert_eq!(total, 40_000);
        assert_eq!(merged(&cells), reference);
    }

    #[test]
    fn values_above_the_range_are_clamped_and_counted() {
        let cells = HistogramCells::new();
        cells.with(|r| {
            r.record(HIGHEST + 1);
            r.record(u64::MAX);
            r.record(5);
        });
        let s: Scalars = cells.cells().iter().fold(Scalars::default(), |mut a, r| {
            a.add(&r.scalars());
            a
        });
        assert_eq!(s.count, 3);
        assert_eq!(s.clamped, 2);
        let h = merged(&cells);
        assert_eq!(h.count_at(HIGHEST), 2);
        assert_eq!(h.count_at(5), 1);
    }

    #[test]
    fn counters_sum_across_threads() {
        let cells = std::sync::Arc::new(CounterCells::new());
        let threads: Vec<_> = (0..3)
            .map(|_| {
                let c = cells.clone();
                std::thread::spawn(move || (0..1000).for_each(|_| c.add(2)))
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        cells.add(1);
        assert_eq!(cells.sum(), 6001);
    }

    #[test]
    fn exemplar_threshold_keeps_the_slowest_and_first_error() {
        let cells = HistogramCells::new();
        let now = || 42u64;
        let t = |n: u128| TraceId::new(n);
        cells.with(|r| {
            r.offer(10, t(1), false, &now);
            r.offer(5, t(2), false, &now);
            r.offer(30, t(3), false, &now);
            r.offer(1, t(4), true, &now);
            r.offer(2, t(5), true, &now);
        });
        let slot = cells.with(|r| r.take_exemplars());
        assert_eq!(slot.slowest.unwrap().trace_id, t(3));
        assert_eq!(slot.error.unwrap().trace_id, t(4));
        // Taken: re-armed, the next fold period keeps its own.
        cells.with(|r| r.offer(20, t(7), true, &now));
        let slot = cells.with(|r| r.take_exemplars());
        assert_eq!(slot.slowest.unwrap().trace_id, t(7));
        assert_eq!(slot.error.unwrap().trace_id, t(7));
    }
}
