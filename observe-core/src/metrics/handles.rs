//! The handles a caller records through ([`Histogram`], [`Counter`], [`Gauge`]) and
//! the series behind them.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering::*};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use super::cells::{CounterCells, HistogramCells, lock};
use super::error::warn_once;
use super::window::{WindowShape, WindowState};
use crate::ids::TraceId;

pub(crate) type ClockFn = dyn Fn() -> u64 + Send + Sync;

/// What every series of a registry shares: the clock and the window's shape.
pub(crate) struct Shared {
    pub(crate) clock: Box<ClockFn>,
    pub(crate) shape: Mutex<WindowShape>,
}

impl Shared {
    pub(crate) fn now(&self) -> u64 {
        (self.clock)()
    }

    pub(crate) fn shape(&self) -> WindowShape {
        *lock(&self.shape)
    }
}

/// The identity of a series.
#[derive(Debug)]
pub(crate) struct SeriesKey {
    pub(crate) name: Arc<str>,
    pub(crate) labels: Labels,
    pub(crate) created_unix_nanos: u64,
}

pub(crate) type Labels = Box<[(String, String)]>;

pub(crate) struct HistogramSeries {
    pub(crate) key: SeriesKey,
    /// The unit is a duration: `record_duration` records nanoseconds.
    pub(crate) durations: bool,
    pub(crate) cells: HistogramCells,
    pub(crate) shared: Arc<Shared>,
    pub(crate) window: Mutex<WindowState>,
    /// A `'static` handle to this series, for the process-wide registry only.
    pinned: OnceLock<&'static Histogram>,
}

impl HistogramSeries {
    pub(crate) fn new(key: SeriesKey, durations: bool, shared: Arc<Shared>) -> HistogramSeries {
        HistogramSeries {
            key,
            durations,
            cells: HistogramCells::new(),
            shared,
            window: Mutex::new(WindowState::new()),
            pinned: OnceLock::new(),
        }
    }

    pub(crate) fn fold(&self, now: u64) {
        let shape = self.shared.shape();
        lock(&self.window).fold(&self.cells, now, shape);
    }
}

pub(crate) struct CounterSeries {
    pub(crate) key: SeriesKey,
    pub(crate) cells: CounterCells,
}

pub(crate) struct GaugeSeries {
    pub(crate) key: SeriesKey,
    pub(crate) base: AtomicI64,
    pub(crate) deltas: CounterCells,
}

impl GaugeSeries {
    pub(crate) fn value(&self) -> i64 {
        self.base
            .load(Relaxed)
            .wrapping_add(self.deltas.sum() as i64)
    }
}

/// A histogram for one key (a metric name and a label set), in the unit it was
/// created with. Cheap to clone; resolve it once and keep it (in a `static`, a
/// struct field, a cache).
///
/// ```
/// use std::time::Duration;
/// use observe_core::metrics::{Registry, Unit};
///
/// let registry = Registry::new();
/// let latency = registry.duration_histogram("jobs.duration", &[("queue", "emails")]);
/// latency.record_duration(Duration::from_micros(1_250));
/// let batch = registry.histogram("jobs.batch.size", Unit::None, &[("queue", "emails")]);
/// batch.record(12);
/// let snap = registry.snapshot();
/// let s = snap.histogram("jobs.duration", &[("queue", "emails")]).unwrap();
/// assert_eq!((s.cumulative.count, s.cumulative.sum), (1, 1_250_000)); // nanoseconds
/// ```
#[derive(Clone)]
pub struct Histogram {
    pub(crate) s: Arc<HistogramSeries>,
}

impl Histogram {
    /// Records one observation in the histogram's unit: nanoseconds for a duration
    /// histogram, else the value as it is exposed. Values above the range (2^42 - 1,
    /// about 73 minutes in nanoseconds) are recorded as its top and counted as
    /// clamped.
    #[inline]
    pub fn record(&self, value: u64) {
        self.s.cells.with(move |r| r.record(value));
    }

    /// Records a duration into a duration histogram ([`Registry::duration_histogram`](super::Registry::duration_histogram),
    /// the typed latency constructors). A histogram of another unit refuses it (and
    /// logs one warning per metric): a duration is never silently read as a count.
    #[inline]
    pub fn record_duration(&self, d: Duration) {
        if self.s.durations {
            self.record(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        } else {
            self.not_a_duration();
        }
    }

    #[cold]
    #[inline(never)]
    fn not_a_duration(&self) {
        warn_once(
            format!(
                "histogram {:?} does not record durations (it was created with another unit); record_duration ignored: create it with duration_histogram",
                self.name()
            ),
            "observation refused; the metric keeps its others",
        );
    }

    /// Whether this histogram records durations (in nanoseconds).
    pub fn is_duration(&self) -> bool {
        self.s.durations
    }

    /// Records one observation, counts it as an error when `is_error`, and offers
    /// `trace_id` as an exemplar: kept if it is this thread's slowest, or its first
    /// error, since the last fold (about a second); each window slice then keeps
    /// its slowest and its three most recent errors. The extra cost is one
    /// comparison unless it is kept. An invalid (all-zero) trace id is never kept.
    #[inline]
    pub fn record_with_exemplar(&self, value: u64, trace_id: TraceId, is_error: bool) {
        let s = &*self.s;
        s.cells.with(move |r| {
            r.record(value);
            if is_error {
                r.record_error();
            }
            if trace_id.is_valid() && r.wants_exemplar(value, is_error) {
                r.offer_exemplar(value, trace_id, is_error, &*s.shared.clock);
            }
        });
    }

    /// A `'static` handle to the same series, leaked once per series (the handle
    /// then refers to its series forever). Only for the process-wide registry,
    /// whose series live as long as the process anyway: handing out `&'static`
    /// handles per request touches no reference count shared between threads.
    pub(crate) fn pinned(&self) -> &'static Histogram {
        self.s
            .pinned
            .get_or_init(|| Box::leak(Box::new(self.clone())))
    }

    /// The metric name.
    pub fn name(&self) -> &str {
        &self.s.key.name
    }

    /// The labels, sorted by key.
    pub fn labels(&self) -> impl Iterator<Item = (&str, &str)> {
        self.s
            .key
            .labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

impl fmt::Debug for Histogram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Histogram")
            .field("name", &self.s.key.name)
            .field("labels", &self.s.key.labels)
            .finish()
    }
}

/// A monotonic counter for one key. Cheap to clone; resolve once and keep it.
///
/// ```
/// let orders = observe_core::metrics::Registry::new().counter("orders.placed", &[("channel", "web")]);
/// orders.inc();
/// orders.add(2);
/// assert_eq!(orders.value(), 3);
/// ```
#[derive(Clone)]
pub struct Counter {
    pub(crate) s: Arc<CounterSeries>,
}

impl Counter {
    /// Adds one.
    #[inline]
    pub fn inc(&self) {
        self.s.cells.add(1);
    }

    /// Adds `n`.
    #[inline]
    pub fn add(&self, n: u64) {
        self.s.cells.add(n);
    }

    /// The current total over all threads.
    pub fn value(&self) -> u64 {
        self.s.cells.sum()
    }

    /// The metric name.
    pub fn name(&self) -> &str {
        &self.s.key.name
    }
}

impl fmt::Debug for Counter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Counter")
            .field("name", &self.s.key.name)
            .field("labels", &self.s.key.labels)
            .finish()
    }
}

/// A gauge for one key: a value that goes up and down (in-flight requests, queue
/// depth). `add`/`sub` are per-thread and as cheap as a counter; `set` reads every
/// thread's cells once.
///
/// ```
/// let in_flight = observe_core::metrics::Registry::new().gauge("http.server.active_requests", &[]);
/// in_flight.inc();
/// in_flight.inc();
/// in_flight.dec();
/// assert_eq!(in_flight.value(), 1);
/// in_flight.set(10);
/// assert_eq!(in_flight.value(), 10);
/// ```
#[derive(Clone)]
pub struct Gauge {
    pub(crate) s: Arc<GaugeSeries>,
}

impl Gauge {
    /// Sets the value. Concurrent `add`s on other threads land before or after it.
    pub fn set(&self, value: i64) {
        let deltas = self.s.deltas.sum() as i64;
        self.s.base.store(value.wrapping_sub(deltas), Relaxed);
    }

    /// Adds `n` (may be negative).
    #[inline]
    pub fn add(&self, n: i64) {
        self.s.deltas.add(n as u64);
    }

    /// Subtracts `n`.
    #[inline]
    pub fn sub(&self, n: i64) {
        self.s.deltas.add(n.wrapping_neg() as u64);
    }

    /// Adds one.
    #[inline]
    pub fn inc(&self) {
        self.add(1);
    }

    /// Subtracts one.
    #[inline]
    pub fn dec(&self) {
        self.add(-1);
    }

    /// The current value.
    pub fn value(&self) -> i64 {
        self.s.value()
    }

    /// The metric name.
    pub fn name(&self) -> &str {
        &self.s.key.name
    }
}

impl fmt::Debug for Gauge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gauge")
            .field("name", &self.s.key.name)
            .field("labels", &self.s.key.labels)
            .finish()
    }
}

#[derive(Clone)]
pub(crate) enum AnySeries {
    Histogram(Arc<HistogramSeries>),
    Counter(Arc<CounterSeries>),
    Gauge(Arc<GaugeSeries>),
}

impl SeriesKey {
    pub(crate) fn labels_map(&self) -> BTreeMap<String, String> {
        self.labels.iter().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::super::Registry;

    #[test]
    fn memory_is_bounded_by_live_threads_not_threads_ever_started() {
        let r = Registry::new();
        let h = r.duration_histogram("h", &[]);
        for _ in 0..50 {
            let h = h.clone();
            std::thread::spawn(move || h.record(1_000)).join().unwrap();
        }
        // Other tests run threads at the same time, so indices vary a little; 50
        // sequential threads must still share a handful of per-thread cells.
        let cells = h.s.cells.cells().len();
        assert!(
            cells < 25,
            "{cells} per-thread cells for 50 sequential threads"
        );
        let total: u64 = h.s.cells.cells().iter().map(|r| r.scalars().count).sum();
        assert_eq!(total, 50);
    }

    #[test]
    fn gauge_set_and_add_compose_across_threads() {
        let r = Registry::new();
        let g = r.gauge("in.flight", &[]);
        g.set(5);
        let g2 = g.clone();
        std::thread::spawn(move || {
            g2.inc();
            g2.inc();
        })
        .join()
        .unwrap();
        g.sub(3);
        assert_eq!(g.value(), 4);
        g.set(-2);
        assert_eq!(g.value(), -2);
    }
}
