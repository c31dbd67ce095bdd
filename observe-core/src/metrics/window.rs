//! Folding per-thread counters into the cumulative view and the rolling window.
//!
//! A *fold* (the background tick, or any read) merges a series' per-thread bins
//! into its cumulative baseline and records what changed since the previous fold as
//! a sparse delta in the slice of the fold's time. The window is the last `n`
//! slices of `slice` length each, aligned on the clock (slice `k` covers
//! `[k * slice, (k + 1) * slice)`). At a time in slice `s` it holds slices
//! `s - n + 1 ..= s`, so:
//!
//! * an observation is never counted once it is older than the window length;
//! * an observation younger than `window - slice` is always counted;
//! * in between, the oldest slice leaves as a whole as soon as the window's start
//!   (`now - window`) passes the slice's start: an observation leaves the window
//!   between `window - slice` and `window` after it was recorded.
//!
//! Observations belong to the slice in which a fold first sees them; the background
//! tick folds every second, so this is exact to the tick. When nothing ticks, a read
//! folds first, and everything recorded since the previous fold counts as recent.
//!
//! Memory: the baseline holds the merged bins in 2 KiB pages (as one more thread
//! would); each slice holds its non-zero deltas (12 bytes each). Idle series are
//! skipped by comparing counts, so a fold costs only for series that recorded.

use std::collections::VecDeque;
use std::time::Duration;

use hdrhistogram::Histogram as HdrHistogram;

use super::cells::{ExemplarCell, HistogramCells, Scalars, ThreadCells};
use super::error::WindowError;
use super::layout::{LEN, PAGE_LEN, PAGES, add_bin};

/// Error exemplars kept per slice.
const ERRORS_PER_SLICE: usize = 3;

/// The window's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WindowShape {
    pub(crate) slice_nanos: u64,
    pub(crate) slices: u64,
    /// Bumped on every change, so series reset their slices.
    pub(crate) generation: u64,
}

const MAX_SLICES: u64 = 10_000;

/// The shape of a `window` in slices of `slice`, or why it is refused.
pub(crate) fn window_shape(
    window: Duration,
    slice: Duration,
    generation: u64,
) -> Result<WindowShape, WindowError> {
    let slice_nanos = u64::try_from(slice.as_nanos()).unwrap_or(u64::MAX);
    if slice_nanos < 1_000_000 {
        return Err(WindowError {
            what: "window slice",
            detail: format!("{slice:?} is shorter than the accepted minimum of 1 ms"),
        });
    }
    if window < slice {
        return Err(WindowError {
            what: "window",
            detail: format!(
                "{window:?} is shorter than its slice ({slice:?}); a window holds at least one slice"
            ),
        });
    }
    let slices = window.as_nanos().div_ceil(slice_nanos as u128);
    if slices > MAX_SLICES as u128 {
        return Err(WindowError {
            what: "window",
            detail: format!(
                "{window:?} in slices of {slice:?} makes {slices} slices; at most {MAX_SLICES} are accepted"
            ),
        });
    }
    Ok(WindowShape {
        slice_nanos,
        slices: slices as u64,
        generation,
    })
}

impl WindowShape {
    pub(crate) fn slice_of(&self, unix_nanos: u64) -> u64 {
        unix_nanos / self.slice_nanos.max(1)
    }
}

/// One slice of the window.
#[derive(Debug, Default)]
pub(crate) struct Slice {
    pub(crate) number: u64,
    /// Sorted `(bin, count)` deltas.
    pub(crate) bins: Vec<(u32, u64)>,
    pub(crate) scalars: Scalars,
    pub(crate) slowest: Option<ExemplarCell>,
    pub(crate) errors: Vec<ExemplarCell>,
}

impl Slice {
    fn new(number: u64) -> Slice {
        Slice {
            number,
            ..Slice::default()
        }
    }

    fn is_empty(&self) -> bool {
        self.bins.is_empty() && self.slowest.is_none() && self.errors.is_empty()
    }

    fn merge_bins(&mut self, delta: Vec<(u32, u64)>) {
        if self.bins.is_empty() {
            self.bins = delta;
            return;
        }
        let old = std::mem::take(&mut self.bins);
        let mut out = Vec::with_capacity(old.len() + delta.len());
        let (mut a, mut b) = (old.into_iter().peekable(), delta.into_iter().peekable());
        loop {
            match (a.peek().copied(), b.peek().copied()) {
                (Some(x), Some(y)) if x.0 == y.0 => {
                    out.push((x.0, x.1.wrapping_add(y.1)));
                    a.next();
                    b.next();
                }
                (Some(x), Some(y)) if x.0 < y.0 => {
                    out.push(x);
                    a.next();
                }
                (Some(_), Some(y)) => {
                    out.push(y);
                    b.next();
                }
                (Some(x), None) => {
                    out.push(x);
                    a.next();
                }
                (None, Some(y)) => {
                    out.push(y);
                    b.next();
                }
                (None, None) => break,
            }
        }
        self.bins = out;
    }

    fn offer(&mut self, e: ExemplarCell, is_error_slot: bool) {
        if is_error_slot {
            self.errors.push(e);
            self.errors.sort_by_key(|e| std::cmp::Reverse(e.unix_nanos));
            self.errors.truncate(ERRORS_PER_SLICE);
        } else if self.slowest.is_none_or(|s| e.value > s.value) {
            self.slowest = Some(e);
        }
    }
}

/// The fold state of one histogram series.
#[derive(Debug)]
pub(crate) struct WindowState {
    generation: u64,
    /// Σ counts of all threads' cells at the last fold; equal means nothing to merge.
    folded: Scalars,
    /// Merged cumulative bins, a page at a time.
    baseline: Vec<Option<Box<[u64; PAGE_LEN]>>>,
    /// Cumulative totals.
    pub(crate) cumulative: Scalars,
    open: Slice,
    closed: VecDeque<Slice>,
}

impl WindowState {
    pub(crate) fn new() -> WindowState {
        WindowState {
            generation: u64::MAX,
            folded: Scalars::default(),
            baseline: (0..PAGES).map(|_| None).collect(),
            cumulative: Scalars::default(),
            open: Slice::new(0),
            closed: VecDeque::new(),
        }
    }

    /// Folds the per-thread cells' current counts in, at time `now`.
    pub(crate) fn fold(&mut self, cells: &HistogramCells, now: u64, shape: WindowShape) {
        let mut s = shape.slice_of(now);
        if self.generation != shape.generation {
            self.generation = shape.generation;
            self.closed.clear();
            self.open = Slice::new(s);
        }
        // A clock that steps back never reopens an older slice.
        s = s.max(self.open.number);
        let new_slice = s != self.open.number;
        if new_slice {
            let old = std::mem::replace(&mut self.open, Slice::new(s));
            if !old.is_empty() {
                self.closed.push_back(old);
            }
        }
        while self
            .closed
            .front()
            .is_some_and(|c| c.number + shape.slices <= s)
        {
            self.closed.pop_front();
        }

        let threads = cells.cells();
        let mut now_totals = Scalars::default();
        for r in &threads {
            now_totals.add(&r.scalars());
        }
        if now_totals != self.folded {
            let previous = std::mem::replace(&mut self.folded, now_totals);
            let delta = self.merge_bins(&threads);
            // The bins decide the count: a reader may see a bin before its count.
            let count = delta.iter().fold(0u64, |a, d| a.wrapping_add(d.1));
            let d = Scalars {
                count,
                ..now_totals.minus(&previous)
            };
            self.open.merge_bins(delta);
            self.open.scalars.add(&d);
            self.cumulative.add(&d);
        }
        for r in &threads {
            let slot = r.take_exemplars();
            if let Some(e) = slot.slowest {
                self.open.offer(e, false);
            }
            if let Some(e) = slot.error {
                self.open.offer(e, true);
            }
        }
    }

    /// Merges every thread's bins page by page; returns the sorted non-zero
    /// changes and updates the baseline.
    fn merge_bins(&mut self, threads: &[&ThreadCells]) -> Vec<(u32, u64)> {
        let mut delta = Vec::new();
        let mut merged = [0u64; PAGE_LEN];
        for p in 0..PAGES {
            // Pages no thread wrote cost one check per thread's cells, nothing more.
            let mut pages = threads.iter().filter_map(|r| r.pages[p].get());
            let Some(first) = pages.next() else {
                continue;
            };
            for (m, c) in merged.iter_mut().zip(first.0.iter()) {
                *m = c.load(std::sync::atomic::Ordering::Relaxed);
            }
            for page in pages {
                for (m, c) in merged.iter_mut().zip(page.0.iter()) {
                    *m = m.wrapping_add(c.load(std::sync::atomic::Ordering::Relaxed));
                }
            }
            let base = self.baseline[p].get_or_insert_with(|| Box::new([0u64; PAGE_LEN]));
            for (j, (b, m)) in base.iter_mut().zip(merged.iter()).enumerate() {
                if *m != *b {
                    delta.push(((p * PAGE_LEN + j) as u32, m.wrapping_sub(*b)));
                    *b = *m;
                }
            }
        }
        delta
    }

    /// Adds the cumulative bins, page by page in increasing order, to `f(page, bins)`
    /// (pages never written are skipped).
    pub(crate) fn cumulative_pages(&self, mut f: impl FnMut(usize, &[u64])) {
        for (p, page) in self.baseline.iter().enumerate() {
            if let Some(page) = page {
                f(p, &page[..]);
            }
        }
    }

    /// Every exemplar the window holds: each slice's slowest and its errors.
    pub(crate) fn exemplar_cells(&self, out: &mut Vec<ExemplarCell>) {
        for slice in self.closed.iter().chain(std::iter::once(&self.open)) {
            out.extend(slice.slowest);
            out.extend(slice.errors.iter().copied());
        }
    }

    /// Adds the cumulative bins into `h` (which must be empty and of our layout).
    pub(crate) fn cumulative_into(&self, h: &mut HdrHistogram<u64>) {
        for (p, page) in self.baseline.iter().enumerate() {
            if let Some(page) = page {
                for (j, &c) in page.iter().enumerate() {
                    add_bin(h, p * PAGE_LEN + j, c);
                }
            }
        }
    }

    /// Adds the window's bins into `h` (when given); returns the window's totals
    /// and exemplars.
    pub(crate) fn window_into(
        &self,
        mut h: Option<&mut HdrHistogram<u64>>,
    ) -> (Scalars, Vec<ExemplarCell>, Vec<ExemplarCell>) {
        let mut totals = Scalars::default();
        let mut slowest = Vec::new();
        let mut errors = Vec::new();
        for slice in self.closed.iter().chain(std::iter::once(&self.open)) {
            if let Some(h) = h.as_deref_mut() {
                for &(i, c) in &slice.bins {
                    if (i as usize) < LEN {
                        add_bin(h, i as usize, c);
                    }
                }
            }
            totals.add(&slice.scalars);
            slowest.extend(slice.slowest);
            errors.extend(slice.errors.iter().copied());
        }
        (totals, slowest, errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_windows_are_errors_that_say_why() {
        let e = window_shape(Duration::from_secs(1), Duration::ZERO, 0).unwrap_err();
        assert!(e.to_string().contains("1 ms"), "{e}");
        let e = window_shape(Duration::from_secs(1), Duration::from_secs(2), 0).unwrap_err();
        assert!(e.to_string().contains("shorter than its slice"), "{e}");
        let e =
            window_shape(Duration::from_secs(100_000), Duration::from_millis(1), 0).unwrap_err();
        assert!(e.to_string().contains("at most"), "{e}");
    }
}
