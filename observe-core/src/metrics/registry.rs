//! The registry: metric families, label sets, cardinality, and the handles.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::atomic::{AtomicI64, AtomicU8, AtomicU64, AtomicUsize, Ordering::*};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Duration;

use super::buckets::BucketLayout;
use super::cells::{CounterCells, HistogramCells, lock};
use super::error::{MetricError, WindowError};
use super::unit::Unit;
use super::window::{WindowShape, WindowState};
use crate::ids::TraceId;

/// Default maximum number of label sets (keys) per metric name.
pub const DEFAULT_MAX_KEYS: usize = 2000;
/// Default maximum number of metric names in a registry.
pub const DEFAULT_MAX_NAMES: usize = 1000;
/// Default rolling window length.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(300);
/// Default window slice length.
pub const DEFAULT_SLICE: Duration = Duration::from_secs(10);
/// Maximum labels per key.
pub const MAX_LABELS: usize = 16;
/// Label values longer than this many bytes are cut (on a character boundary).
pub const MAX_LABEL_VALUE_LEN: usize = 256;
/// The label that replaces all others on the overflow key, as the OpenTelemetry SDK does.
pub const OVERFLOW_LABEL: &str = "otel.metric.overflow";

const MAX_SLICES: u64 = 10_000;

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

/// The kind of a metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A latency (or other value) distribution.
    Histogram,
    /// A monotonic count.
    Counter,
    /// A value that goes up and down.
    Gauge,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Histogram => "histogram",
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
        })
    }
}

/// How a histogram appears in the Prometheus and OpenMetrics expositions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Exposition {
    /// A Prometheus histogram: cumulative `_bucket{le=...}` counters derived from the
    /// HDR bins, `_sum` and `_count`, so PromQL can aggregate instances and compute
    /// quantiles and SLO ratios (`histogram_quantile`, `rate(..._bucket)`). The
    /// default.
    #[default]
    Histogram,
    /// A summary: quantiles p50 ... p99.999 and the maximum (`quantile="1.0"`) over
    /// the rolling window, computed here from the HDR data (exact to 3 digits but not
    /// aggregatable across instances), with cumulative `_sum` and `_count`.
    Summary,
}

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

    /// Records a duration into a duration histogram ([`Registry::duration_histogram`],
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
        warn_once(format!(
            "histogram {:?} does not record durations (it was created with another unit); record_duration ignored: create it with duration_histogram",
            self.name()
        ));
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

/// What a family is and how it is exposed: shared with readers as one `Arc`,
/// replaced whole when a setting changes.
#[derive(Debug)]
pub(crate) struct FamilyMeta {
    pub(crate) name: String,
    pub(crate) kind: Kind,
    pub(crate) unit: Unit,
    pub(crate) help: String,
    /// The Prometheus family name (`http_server_request_duration_seconds`; for a
    /// counter without its `_total`).
    pub(crate) prometheus: String,
    /// The unit as the OpenMetrics `UNIT` (empty when none).
    pub(crate) unit_word: String,
    /// Boundaries set for this metric (else the registry's default for its unit).
    pub(crate) buckets: Option<Arc<BucketLayout>>,
    /// Exposition set for this metric (else the registry's default).
    pub(crate) exposition: Option<Exposition>,
}

/// What was said about a name, before or after it exists.
#[derive(Default, Clone)]
struct Description {
    unit: Option<Unit>,
    help: Option<String>,
    buckets: Option<Arc<BucketLayout>>,
    boundaries: Option<Box<[f64]>>,
    exposition: Option<Exposition>,
}

struct Family {
    meta: Arc<FamilyMeta>,
    /// Sorted by labels, so reads need no sort.
    series: BTreeMap<Labels, AnySeries>,
    overflow: Option<AnySeries>,
    refused: u64,
    warned: bool,
}

#[derive(Default)]
struct State {
    families: BTreeMap<String, Family>,
    /// Every Prometheus sample name in use, and the metric using it.
    prometheus_names: HashMap<String, String>,
    descriptions: HashMap<String, Description>,
    /// Every histogram series (overflow keys included), for the background fold.
    histograms: Vec<Arc<HistogramSeries>>,
}

pub(crate) struct Inner {
    pub(crate) id: u64,
    pub(crate) shared: Arc<Shared>,
    max_keys: AtomicUsize,
    max_names: usize,
    exposition: AtomicU8,
    state: RwLock<State>,
    /// The fold's list of series, reused from one tick to the next.
    tick_scratch: Mutex<Vec<Arc<HistogramSeries>>>,
}

/// A set of metrics with its own limits, window and clock.
///
/// Applications normally use the process-wide registry through the free functions
/// of [`crate::metrics`]; a separate registry is for tests and for embedding.
#[derive(Clone)]
pub struct Registry {
    pub(crate) inner: Arc<Inner>,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shape = self.inner.shared.shape();
        f.debug_struct("Registry")
            .field("id", &self.inner.id)
            .field("max_keys", &self.max_keys())
            .field("slice_nanos", &shape.slice_nanos)
            .field("slices", &shape.slices)
            .finish()
    }
}

impl Default for Registry {
    fn default() -> Self {
        Registry::new()
    }
}

/// Configures a [`Registry`].
///
/// ```
/// use std::time::Duration;
/// use observe_core::metrics::Registry;
///
/// let registry = Registry::builder()
///     .max_keys(500)
///     .window(Duration::from_secs(60), Duration::from_secs(5))
///     .build()
///     .unwrap();
/// # let _ = registry;
/// ```
pub struct RegistryBuilder {
    max_keys: usize,
    max_names: usize,
    exposition: Exposition,
    window: Duration,
    slice: Duration,
    clock: Option<Box<ClockFn>>,
}

impl fmt::Debug for RegistryBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistryBuilder")
            .field("max_keys", &self.max_keys)
            .field("max_names", &self.max_names)
            .field("exposition", &self.exposition)
            .field("window", &self.window)
            .field("slice", &self.slice)
            .field("clock", &self.clock.as_ref().map(|_| "custom"))
            .finish()
    }
}

impl RegistryBuilder {
    /// Maximum label sets per metric name (default 2000); past it, observations go
    /// to one overflow key.
    pub fn max_keys(mut self, n: usize) -> Self {
        self.max_keys = n;
        self
    }

    /// Maximum metric names (default 1000).
    pub fn max_names(mut self, n: usize) -> Self {
        self.max_names = n;
        self
    }

    /// How histograms are exposed to Prometheus unless set per metric (default
    /// [`Exposition::Histogram`]).
    pub fn exposition(mut self, exposition: Exposition) -> Self {
        self.exposition = exposition;
        self
    }

    /// The rolling window and its slice (default 5 minutes in 10 s slices).
    pub fn window(mut self, window: Duration, slice: Duration) -> Self {
        self.window = window;
        self.slice = slice;
        self
    }

    /// The clock, in nanoseconds since the Unix epoch (default: observe's TSC clock).
    /// Tests inject one to age observations out of the window without sleeping.
    pub fn clock(mut self, clock: impl Fn() -> u64 + Send + Sync + 'static) -> Self {
        self.clock = Some(Box::new(clock));
        self
    }

    /// Builds the registry; fails on an invalid window.
    pub fn build(self) -> Result<Registry, WindowError> {
        static IDS: AtomicU64 = AtomicU64::new(1);
        let shape = window_shape(self.window, self.slice, 0)?;
        let clock = self
            .clock
            .unwrap_or_else(|| Box::new(|| crate::clock::Tick::now().unix_nanos()));
        Ok(Registry {
            inner: Arc::new(Inner {
                id: IDS.fetch_add(1, Relaxed),
                shared: Arc::new(Shared {
                    clock,
                    shape: Mutex::new(shape),
                }),
                max_keys: AtomicUsize::new(self.max_keys),
                max_names: self.max_names,
                exposition: AtomicU8::new(exposition_code(self.exposition)),
                state: RwLock::new(State::default()),
                tick_scratch: Mutex::new(Vec::new()),
            }),
        })
    }
}

/// Checks an OpenTelemetry instrument name.
pub(crate) fn valid_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 255
        && b[0].is_ascii_alphabetic()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-' | b'/'))
}

/// The Prometheus form of a name or label key: every character outside
/// `[a-zA-Z0-9_]` becomes `_`.
pub(crate) fn prometheus_ident(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn valid_label_key(key: &str) -> bool {
    let b = key.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphabetic() || b[0] == b'_')
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.'))
        && !prometheus_ident(key).starts_with("__")
        && key != "quantile"
        && key != "le"
}

fn cut(value: &str) -> String {
    if value.len() <= MAX_LABEL_VALUE_LEN {
        return value.to_owned();
    }
    let mut end = MAX_LABEL_VALUE_LEN;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    value[..end].to_owned()
}

pub(crate) fn normalize_labels(name: &str, labels: &[(&str, &str)]) -> Result<Labels, MetricError> {
    if labels.len() > MAX_LABELS {
        return Err(MetricError::TooManyLabels {
            name: name.to_owned(),
            count: labels.len(),
        });
    }
    let mut out: Vec<(String, String)> = Vec::with_capacity(labels.len());
    for &(k, v) in labels {
        if !valid_label_key(k) {
            return Err(MetricError::InvalidLabelKey {
                name: name.to_owned(),
                key: k.to_owned(),
            });
        }
        out.push((k.to_owned(), cut(v)));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    let mut seen: Vec<String> = out.iter().map(|(k, _)| prometheus_ident(k)).collect();
    seen.sort_unstable();
    if let Some(w) = seen.windows(2).find(|w| w[0] == w[1]) {
        return Err(MetricError::DuplicateLabel {
            name: name.to_owned(),
            key: w[0].clone(),
        });
    }
    Ok(out.into_boxed_slice())
}

/// Family and sample names that observe's own families use in the Prometheus
/// exposition (its counters, `target_info`, the process metrics).
pub(crate) const RESERVED_PROMETHEUS: &[&str] = &[
    "observe_metrics_overflow_label_sets",
    "observe_metrics_overflow_label_sets_total",
    "observe_metrics_overflow_observations",
    "observe_metrics_overflow_observations_total",
    "observe_metrics_clamped_observations",
    "observe_metrics_clamped_observations_total",
    "target",
    "target_info",
    "process_cpu_seconds",
    "process_cpu_seconds_total",
    "process_resident_memory_bytes",
    "process_open_fds",
    "process_max_fds",
    "process_start_time_seconds",
];

fn sample_names(kind: Kind, base: &str) -> Vec<String> {
    match kind {
        Kind::Histogram => vec![
            base.to_owned(),
            format!("{base}_bucket"),
            format!("{base}_sum"),
            format!("{base}_count"),
        ],
        // The OpenMetrics family name and the sample name.
        Kind::Counter => vec![base.to_owned(), format!("{base}_total")],
        Kind::Gauge => vec![base.to_owned()],
    }
}

/// The Prometheus family name of a metric: its name with every character outside
/// `[a-zA-Z0-9_]` as `_`, a counter's `_total` removed (it is the sample's suffix),
/// and the unit's word appended unless the name already ends with it.
fn prometheus_base(name: &str, kind: Kind, word: &str) -> String {
    let mut base = prometheus_ident(name);
    if kind == Kind::Counter
        && let Some(stripped) = base.strip_suffix("_total")
        && !stripped.is_empty()
    {
        base.truncate(stripped.len());
    }
    if !word.is_empty() && !base.ends_with(&format!("_{word}")) && base != word {
        base.push('_');
        base.push_str(word);
    }
    base
}

/// What a read sees of one family.
pub(crate) struct FamilyView {
    pub(crate) meta: Arc<FamilyMeta>,
    /// Sorted by labels; the overflow series, if any, last.
    pub(crate) series: Vec<AnySeries>,
    pub(crate) overflow: Option<AnySeries>,
    pub(crate) refused: u64,
    pub(crate) max_keys: usize,
}

fn exposition_code(e: Exposition) -> u8 {
    match e {
        Exposition::Histogram => 0,
        Exposition::Summary => 1,
    }
}

impl Registry {
    /// A registry with the defaults (2000 keys per name, a 5-minute window in 10 s
    /// slices, histograms exposed with `le` buckets, observe's clock).
    pub fn new() -> Registry {
        Registry::builder()
            .build()
            .unwrap_or_else(|_| unreachable_default())
    }

    /// A builder for a registry with other limits, window or clock.
    pub fn builder() -> RegistryBuilder {
        RegistryBuilder {
            max_keys: DEFAULT_MAX_KEYS,
            max_names: DEFAULT_MAX_NAMES,
            exposition: Exposition::Histogram,
            window: DEFAULT_WINDOW,
            slice: DEFAULT_SLICE,
            clock: None,
        }
    }

    /// Sets the maximum label sets per metric name. Keys already registered stay;
    /// new ones past the limit go to the overflow key.
    pub fn set_max_keys(&self, n: usize) {
        self.inner.max_keys.store(n, Relaxed);
    }

    /// The maximum label sets per metric name.
    pub fn max_keys(&self) -> usize {
        self.inner.max_keys.load(Relaxed)
    }

    /// Sets how histograms without a setting of their own ([`Registry::set_exposition`])
    /// are exposed to Prometheus: with `le` buckets (the default) or as summaries.
    pub fn set_default_exposition(&self, exposition: Exposition) {
        self.inner
            .exposition
            .store(exposition_code(exposition), Relaxed);
    }

    /// How histograms without a setting of their own are exposed.
    pub fn default_exposition(&self) -> Exposition {
        match self.inner.exposition.load(Relaxed) {
            1 => Exposition::Summary,
            _ => Exposition::Histogram,
        }
    }

    /// Changes the rolling window. Every series' window restarts empty; cumulative
    /// views are unaffected.
    pub fn set_window(&self, window: Duration, slice: Duration) -> Result<(), WindowError> {
        let mut shape = lock(&self.inner.shared.shape);
        *shape = window_shape(window, slice, shape.generation + 1)?;
        Ok(())
    }

    /// The rolling window's length and slice.
    pub fn window(&self) -> (Duration, Duration) {
        let s = self.inner.shared.shape();
        (
            Duration::from_nanos(s.slice_nanos.saturating_mul(s.slices)),
            Duration::from_nanos(s.slice_nanos),
        )
    }

    /// The registry clock's current time (nanoseconds since the Unix epoch).
    pub(crate) fn now(&self) -> u64 {
        self.inner.shared.now()
    }

    /// Applies `change` to what is known of `name`: the description kept for a name
    /// not created yet (bounded by the name limit), and the family's settings if it
    /// exists (`apply` checks them against the family and returns its new meta).
    fn update_description(
        &self,
        name: &str,
        change: impl Fn(&mut Description),
        apply: impl FnOnce(&FamilyMeta) -> Result<Option<FamilyMeta>, MetricError>,
    ) -> Result<(), MetricError> {
        if !valid_name(name) {
            return Err(MetricError::InvalidName {
                name: name.to_owned(),
            });
        }
        let mut state = self.inner.state.write().unwrap_or_else(|e| e.into_inner());
        if let Some(f) = state.families.get_mut(name) {
            if let Some(meta) = apply(&f.meta)? {
                f.meta = Arc::new(meta);
            }
        } else if !state.descriptions.contains_key(name)
            && state.descriptions.len() >= self.inner.max_names
        {
            return Err(MetricError::TooManyNames {
                name: name.to_owned(),
                max: self.inner.max_names,
            });
        }
        change(state.descriptions.entry(name.to_owned()).or_default());
        Ok(())
    }

    /// Sets the unit and help text of a metric. The unit must be the one the metric
    /// is (or will be) created with: set it before the first use of a counter or
    /// gauge to give it a unit (they are plain numbers otherwise), and for an
    /// `#[traced]`-style duration or a histogram it must match; the help text can
    /// change at any time.
    ///
    /// ```
    /// use observe_core::metrics::{Registry, Unit};
    ///
    /// let registry = Registry::new();
    /// registry.describe("batch.size", Unit::None, "Messages per batch.").unwrap();
    /// registry.histogram("batch.size", Unit::None, &[]).record(12);
    /// let text = registry.prometheus_text();
    /// assert!(text.contains("# HELP batch_size Messages per batch.\n"));
    /// assert!(text.contains("batch_size_sum 12\n"));
    /// ```
    pub fn describe(&self, name: &str, unit: Unit, help: &str) -> Result<(), MetricError> {
        if unit.invalid_custom().is_some() {
            return Err(MetricError::InvalidUnit {
                name: name.to_owned(),
                unit: unit.otel().to_owned(),
            });
        }
        self.update_description(
            name,
            |d| {
                d.unit = Some(unit.clone());
                d.help = Some(help.to_owned());
            },
            |m| {
                if m.unit != unit {
                    return Err(MetricError::Conflict {
                        name: name.to_owned(),
                        registered: format!("{} in {}", m.kind, m.unit),
                        requested: format!("{} in {unit}", m.kind),
                    });
                }
                Ok(Some(FamilyMeta {
                    help: help.to_owned(),
                    ..m.clone_meta()
                }))
            },
        )
    }

    /// Sets the Prometheus bucket boundaries of a histogram, in its exposed unit
    /// (seconds for durations), strictly increasing, at most
    /// [`MAX_BUCKETS`](super::MAX_BUCKETS); `+Inf` is always added. Before or after
    /// the metric's first use (changing them later starts new series in Prometheus).
    /// Without it: [`DEFAULT_DURATION_BUCKETS`](super::DEFAULT_DURATION_BUCKETS) or
    /// [`DEFAULT_VALUE_BUCKETS`](super::DEFAULT_VALUE_BUCKETS).
    ///
    /// ```
    /// use observe_core::metrics::Registry;
    ///
    /// let registry = Registry::new();
    /// registry.set_buckets("checkout.duration", &[0.1, 0.3, 1.0]).unwrap();
    /// registry.duration_histogram("checkout.duration", &[]).record(250_000_000); // 250 ms
    /// let text = registry.prometheus_text();
    /// assert!(text.contains("checkout_duration_seconds_bucket{le=\"0.1\"} 0\n"));
    /// assert!(text.contains("checkout_duration_seconds_bucket{le=\"0.3\"} 1\n"));
    /// ```
    pub fn set_buckets(&self, name: &str, boundaries: &[f64]) -> Result<(), MetricError> {
        let invalid = |reason: String| MetricError::InvalidBuckets {
            name: name.to_owned(),
            reason,
        };
        // Checked once in the exposed unit; converted again if the unit differs.
        BucketLayout::new(boundaries, &Unit::None).map_err(invalid)?;
        let bounds: Box<[f64]> = boundaries.into();
        self.update_description(
            name,
            |d| {
                d.boundaries = Some(bounds.clone());
                d.buckets = None;
            },
            |m| {
                if m.kind != Kind::Histogram {
                    return Err(MetricError::Conflict {
                        name: name.to_owned(),
                        registered: m.kind.to_string(),
                        requested: "histogram (with buckets)".to_owned(),
                    });
                }
                let layout = BucketLayout::new(boundaries, &m.unit).map_err(invalid)?;
                Ok(Some(FamilyMeta {
                    buckets: Some(Arc::new(layout)),
                    ..m.clone_meta()
                }))
            },
        )
    }

    /// Sets how one histogram is exposed to Prometheus, whatever the registry's
    /// default ([`Registry::set_default_exposition`]).
    ///
    /// ```
    /// use observe_core::metrics::{Exposition, Registry, Unit};
    ///
    /// let registry = Registry::new();
    /// registry.set_exposition("queue.wait", Exposition::Summary).unwrap();
    /// registry.duration_histogram("queue.wait", &[]).record(2_000_000);
    /// let text = registry.prometheus_text();
    /// assert!(text.contains("# TYPE queue_wait_seconds summary\n"));
    /// assert!(text.contains("queue_wait_seconds{quantile=\"0.99\"} 0.002"));
    /// ```
    pub fn set_exposition(&self, name: &str, exposition: Exposition) -> Result<(), MetricError> {
        self.update_description(
            name,
            |d| d.exposition = Some(exposition),
            |m| {
                Ok(Some(FamilyMeta {
                    exposition: Some(exposition),
                    ..m.clone_meta()
                }))
            },
        )
    }

    /// The histogram for `name` and `labels`, in `unit`, registering it on first
    /// use. For durations use [`Registry::try_duration_histogram`].
    pub fn try_histogram(
        &self,
        name: &str,
        unit: Unit,
        labels: &[(&str, &str)],
    ) -> Result<Histogram, MetricError> {
        match self.resolve(Kind::Histogram, name, Some(&unit), labels)? {
            AnySeries::Histogram(s) => Ok(Histogram { s }),
            _ => Err(self.kind_error(name, Kind::Histogram)),
        }
    }

    /// The duration histogram for `name` and `labels` (recorded in nanoseconds,
    /// exposed in seconds), registering it on first use.
    pub fn try_duration_histogram(
        &self,
        name: &str,
        labels: &[(&str, &str)],
    ) -> Result<Histogram, MetricError> {
        self.try_histogram(name, Unit::Nanoseconds, labels)
    }

    /// The counter for `name` and `labels`, registering it on first use (a plain
    /// number unless [described](Registry::describe) with a unit first).
    pub fn try_counter(&self, name: &str, labels: &[(&str, &str)]) -> Result<Counter, MetricError> {
        match self.resolve(Kind::Counter, name, None, labels)? {
            AnySeries::Counter(s) => Ok(Counter { s }),
            _ => Err(self.kind_error(name, Kind::Counter)),
        }
    }

    /// The gauge for `name` and `labels`, registering it on first use (a plain
    /// number unless [described](Registry::describe) with a unit first).
    pub fn try_gauge(&self, name: &str, labels: &[(&str, &str)]) -> Result<Gauge, MetricError> {
        match self.resolve(Kind::Gauge, name, None, labels)? {
            AnySeries::Gauge(s) => Ok(Gauge { s }),
            _ => Err(self.kind_error(name, Kind::Gauge)),
        }
    }

    /// Like [`Registry::try_histogram`], for code that cannot handle an error: an
    /// invalid name, unit or label set, or a unit other than the one the metric was
    /// created with, logs a warning (once per message) and returns a detached
    /// histogram that records but is never exposed.
    pub fn histogram(&self, name: &str, unit: Unit, labels: &[(&str, &str)]) -> Histogram {
        let durations = unit.is_duration();
        self.try_histogram(name, unit, labels)
            .unwrap_or_else(|e| self.detached_histogram(name, durations, &e))
    }

    /// Like [`Registry::try_duration_histogram`]; see [`Registry::histogram`] for
    /// errors.
    pub fn duration_histogram(&self, name: &str, labels: &[(&str, &str)]) -> Histogram {
        self.histogram(name, Unit::Nanoseconds, labels)
    }

    /// Like [`Registry::try_counter`]; see [`Registry::histogram`] for errors.
    pub fn counter(&self, name: &str, labels: &[(&str, &str)]) -> Counter {
        self.try_counter(name, labels).unwrap_or_else(|e| {
            warn_invalid(&e);
            Counter {
                s: Arc::new(self.new_counter_series(name.into(), Box::new([]))),
            }
        })
    }

    /// Like [`Registry::try_gauge`]; see [`Registry::histogram`] for errors.
    pub fn gauge(&self, name: &str, labels: &[(&str, &str)]) -> Gauge {
        self.try_gauge(name, labels).unwrap_or_else(|e| {
            warn_invalid(&e);
            Gauge {
                s: Arc::new(self.new_gauge_series(name.into(), Box::new([]))),
            }
        })
    }

    #[cold]
    fn detached_histogram(&self, name: &str, durations: bool, e: &MetricError) -> Histogram {
        warn_invalid(e);
        Histogram {
            s: Arc::new(self.new_histogram_series(name.into(), Box::new([]), durations)),
        }
    }

    /// The histogram for an event field (`histogram.<name>`): in the unit the metric
    /// was created or described with, else a plain number.
    pub(crate) fn try_histogram_as_registered(
        &self,
        name: &str,
        labels: &[(&str, &str)],
    ) -> Result<Histogram, MetricError> {
        match self.resolve(Kind::Histogram, name, None, labels)? {
            AnySeries::Histogram(s) => Ok(Histogram { s }),
            _ => Err(self.kind_error(name, Kind::Histogram)),
        }
    }

    fn kind_error(&self, name: &str, requested: Kind) -> MetricError {
        let state = self.inner.state.read().unwrap_or_else(|e| e.into_inner());
        MetricError::Conflict {
            name: name.to_owned(),
            registered: state
                .families
                .get(name)
                .map(|f| f.meta.kind.to_string())
                .unwrap_or_default(),
            requested: requested.to_string(),
        }
    }

    fn new_histogram_series(
        &self,
        name: Arc<str>,
        labels: Labels,
        durations: bool,
    ) -> HistogramSeries {
        HistogramSeries {
            key: SeriesKey {
                name,
                labels,
                created_unix_nanos: self.now(),
            },
            durations,
            cells: HistogramCells::new(),
            shared: self.inner.shared.clone(),
            window: Mutex::new(WindowState::new()),
            pinned: OnceLock::new(),
        }
    }

    fn new_counter_series(&self, name: Arc<str>, labels: Labels) -> CounterSeries {
        CounterSeries {
            key: SeriesKey {
                name,
                labels,
                created_unix_nanos: self.now(),
            },
            cells: CounterCells::new(),
        }
    }

    fn new_gauge_series(&self, name: Arc<str>, labels: Labels) -> GaugeSeries {
        GaugeSeries {
            key: SeriesKey {
                name,
                labels,
                created_unix_nanos: self.now(),
            },
            base: AtomicI64::new(0),
            deltas: CounterCells::new(),
        }
    }

    fn mismatch(
        name: &str,
        meta: &FamilyMeta,
        kind: Kind,
        unit: Option<&Unit>,
    ) -> Option<MetricError> {
        if meta.kind != kind {
            return Some(MetricError::Conflict {
                name: name.to_owned(),
                registered: meta.kind.to_string(),
                requested: kind.to_string(),
            });
        }
        match unit {
            Some(u) if *u != meta.unit => Some(MetricError::Conflict {
                name: name.to_owned(),
                registered: format!("{} in {}", meta.kind, meta.unit),
                requested: format!("{kind} in {u}"),
            }),
            _ => None,
        }
    }

    /// The series of `name` and `labels` of `kind`; `unit` is the unit the caller
    /// records in (checked against the family's), `None` to take the family's.
    pub(crate) fn resolve(
        &self,
        kind: Kind,
        name: &str,
        unit: Option<&Unit>,
        labels: &[(&str, &str)],
    ) -> Result<AnySeries, MetricError> {
        if !valid_name(name) {
            return Err(MetricError::InvalidName {
                name: name.to_owned(),
            });
        }
        if let Some(u) = unit.and_then(Unit::invalid_custom) {
            return Err(MetricError::InvalidUnit {
                name: name.to_owned(),
                unit: u.to_owned(),
            });
        }
        let labels = normalize_labels(name, labels)?;
        {
            let state = self.inner.state.read().unwrap_or_else(|e| e.into_inner());
            if let Some(f) = state.families.get(name) {
                if let Some(e) = Self::mismatch(name, &f.meta, kind, unit) {
                    return Err(e);
                }
                if let Some(s) = f.series.get(&labels) {
                    return Ok(s.clone());
                }
            }
        }
        let mut warn_overflow = None;
        let result = {
            let mut state = self.inner.state.write().unwrap_or_else(|e| e.into_inner());
            let state = &mut *state;
            if !state.families.contains_key(name) {
                self.create_family(state, kind, name, unit)?;
            }
            let max_keys = self.max_keys();
            let Some(f) = state.families.get_mut(name) else {
                return Err(MetricError::InvalidName {
                    name: name.to_owned(),
                });
            };
            if let Some(e) = Self::mismatch(name, &f.meta, kind, unit) {
                return Err(e);
            }
            let meta = f.meta.clone();
            if let Some(s) = f.series.get(&labels) {
                s.clone()
            } else if f.series.len() < max_keys {
                let s = {
                    // `new_series` needs the state for the fold list; the family is
                    // looked up again after.
                    let s = self.new_series_detached(&meta, name.into(), labels.clone());
                    if let AnySeries::Histogram(h) = &s {
                        state.histograms.push(h.clone());
                    }
                    s
                };
                if let Some(f) = state.families.get_mut(name) {
                    f.series.insert(labels, s.clone());
                }
                s
            } else {
                f.refused += 1;
                if !f.warned {
                    f.warned = true;
                    warn_overflow = Some(max_keys);
                }
                match &f.overflow {
                    Some(o) => o.clone(),
                    None => {
                        let overflow_labels: Labels =
                            Box::new([(OVERFLOW_LABEL.to_owned(), "true".to_owned())]);
                        let o = self.new_series_detached(&meta, name.into(), overflow_labels);
                        f.overflow = Some(o.clone());
                        if let AnySeries::Histogram(h) = &o {
                            state.histograms.push(h.clone());
                        }
                        o
                    }
                }
            }
        };
        // Logged after the lock is released: a `tracing` layer may record metrics.
        if let Some(max) = warn_overflow {
            tracing::warn!(
                metric = name,
                max_keys = max,
                "metric {name} reached its limit of {max} label sets; further label sets are recorded under {OVERFLOW_LABEL}=\"true\""
            );
        }
        Ok(result)
    }

    fn new_series_detached(&self, meta: &FamilyMeta, name: Arc<str>, labels: Labels) -> AnySeries {
        match meta.kind {
            Kind::Histogram => AnySeries::Histogram(Arc::new(self.new_histogram_series(
                name,
                labels,
                meta.unit.is_duration(),
            ))),
            Kind::Counter => AnySeries::Counter(Arc::new(self.new_counter_series(name, labels))),
            Kind::Gauge => AnySeries::Gauge(Arc::new(self.new_gauge_series(name, labels))),
        }
    }

    fn create_family(
        &self,
        state: &mut State,
        kind: Kind,
        name: &str,
        unit: Option<&Unit>,
    ) -> Result<(), MetricError> {
        if state.families.len() >= self.inner.max_names {
            return Err(MetricError::TooManyNames {
                name: name.to_owned(),
                max: self.inner.max_names,
            });
        }
        let described = state.descriptions.get(name).cloned().unwrap_or_default();
        let builtin = super::semconv::builtin_description(name);
        let registered_unit = described
            .unit
            .clone()
            .or_else(|| builtin.as_ref().map(|b| b.0.clone()));
        let unit = match (unit, registered_unit) {
            (Some(asked), Some(known)) if *asked != known => {
                return Err(MetricError::Conflict {
                    name: name.to_owned(),
                    registered: format!("{kind} in {known} (described)"),
                    requested: format!("{kind} in {asked}"),
                });
            }
            (Some(asked), _) => asked.clone(),
            (None, Some(known)) => known,
            (None, None) => Unit::None,
        };
        let help = described
            .help
            .clone()
            .or_else(|| builtin.map(|b| b.1.to_owned()))
            .unwrap_or_default();
        let buckets = match &described.boundaries {
            Some(b) if kind == Kind::Histogram => {
                Some(Arc::new(BucketLayout::new(b, &unit).map_err(|reason| {
                    MetricError::InvalidBuckets {
                        name: name.to_owned(),
                        reason,
                    }
                })?))
            }
            _ => None,
        };
        let word = unit.prometheus_word();
        let prometheus = prometheus_base(name, kind, &word);
        let samples = sample_names(kind, &prometheus);
        for s in &samples {
            let other = state.prometheus_names.get(s).cloned().or_else(|| {
                RESERVED_PROMETHEUS
                    .contains(&s.as_str())
                    .then(|| "observe (internal)".to_owned())
            });
            if let Some(other) = other {
                return Err(MetricError::PrometheusCollision {
                    name: name.to_owned(),
                    prometheus_name: s.clone(),
                    other,
                });
            }
        }
        for s in samples {
            state.prometheus_names.insert(s, name.to_owned());
        }
        // OpenMetrics: a UNIT must be the family name's suffix after an underscore.
        let unit_word = if word.is_empty() || !prometheus.ends_with(&format!("_{word}")) {
            String::new()
        } else {
            word.into_owned()
        };
        state.families.insert(
            name.to_owned(),
            Family {
                meta: Arc::new(FamilyMeta {
                    name: name.to_owned(),
                    kind,
                    unit,
                    help,
                    prometheus,
                    unit_word,
                    buckets,
                    exposition: described.exposition,
                }),
                series: BTreeMap::new(),
                overflow: None,
                refused: 0,
                warned: false,
            },
        );
        Ok(())
    }

    /// A consistent list of families and their series, taken under the read lock and
    /// released before any series is read.
    pub(crate) fn families(&self) -> Vec<FamilyView> {
        let state = self.inner.state.read().unwrap_or_else(|e| e.into_inner());
        let max_keys = self.max_keys();
        state
            .families
            .values()
            .map(|f| FamilyView {
                meta: f.meta.clone(),
                series: f.series.values().chain(&f.overflow).cloned().collect(),
                overflow: f.overflow.clone(),
                refused: f.refused,
                max_keys,
            })
            .collect()
    }

    /// Folds every histogram's per-thread counters into its views, so that what was
    /// recorded since the last fold lands in the current window slice. observe's
    /// background thread does this about once a second for the process-wide
    /// registry; call it on the same cadence for a registry of your own whose
    /// window must be exact to the second (reads fold too, so it is never needed
    /// for correctness of the cumulative view).
    pub fn tick(&self) {
        let now = self.now();
        // The series are copied out (a reused list) so that folding holds no lock a
        // request creating a series would wait for.
        let Ok(mut list) = self.inner.tick_scratch.try_lock() else {
            return; // another tick is running
        };
        {
            let state = self.inner.state.read().unwrap_or_else(|e| e.into_inner());
            list.extend(state.histograms.iter().cloned());
        }
        for h in list.iter() {
            h.fold(now);
        }
        list.clear();
    }
}

impl FamilyMeta {
    fn clone_meta(&self) -> FamilyMeta {
        FamilyMeta {
            name: self.name.clone(),
            kind: self.kind,
            unit: self.unit.clone(),
            help: self.help.clone(),
            prometheus: self.prometheus.clone(),
            unit_word: self.unit_word.clone(),
            buckets: self.buckets.clone(),
            exposition: self.exposition,
        }
    }

    /// The bucket layout in force.
    pub(crate) fn buckets(&self) -> Arc<BucketLayout> {
        self.buckets
            .clone()
            .unwrap_or_else(|| BucketLayout::default_for(&self.unit))
    }
}

#[cold]
fn unreachable_default() -> Registry {
    // The default window (5 min in 10 s slices) is valid; `tests::defaults_are_valid`
    // checks it.
    panic!("observe metrics: invalid default window")
}

fn warn_invalid(e: &MetricError) {
    warn_once(e.to_string());
}

fn warn_once(msg: String) {
    // Once per distinct message, bounded so a flood of bad names cannot grow it.
    static SEEN: Mutex<Vec<String>> = Mutex::new(Vec::new());
    {
        let mut seen = lock(&SEEN);
        if seen.len() >= 256 || seen.contains(&msg) {
            return;
        }
        seen.push(msg.clone());
    }
    tracing::warn!(error = %msg, "metric not registered; its observations are dropped");
}

impl SeriesKey {
    pub(crate) fn labels_map(&self) -> BTreeMap<String, String> {
        self.labels.iter().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        assert!(window_shape(DEFAULT_WINDOW, DEFAULT_SLICE, 0).is_ok());
        let r = Registry::new();
        assert_eq!(r.window(), (DEFAULT_WINDOW, DEFAULT_SLICE));
        assert_eq!(r.max_keys(), DEFAULT_MAX_KEYS);
    }

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

    #[test]
    fn names_and_labels_are_validated() {
        let r = Registry::new();
        for bad in ["", "1abc", "a b", "é", &"x".repeat(256)] {
            let e = r.try_counter(bad, &[]).unwrap_err();
            assert!(matches!(e, MetricError::InvalidName { .. }), "{bad:?}: {e}");
        }
        for bad in ["", "quantile", "le", "__x", "a-b", "9a"] {
            let e = r.try_counter("c", &[(bad, "v")]).unwrap_err();
            assert!(
                matches!(e, MetricError::InvalidLabelKey { .. }),
                "{bad:?}: {e}"
            );
            assert!(e.to_string().contains("accepted") || e.to_string().contains("starts with"));
        }
        let e = r
            .try_counter("c", &[("a.b", "1"), ("a_b", "2")])
            .unwrap_err();
        assert!(matches!(e, MetricError::DuplicateLabel { .. }), "{e}");
        let many: Vec<(String, String)> = (0..17).map(|i| (format!("k{i}"), "v".into())).collect();
        let many: Vec<(&str, &str)> = many.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert!(matches!(
            r.try_counter("c", &many),
            Err(MetricError::TooManyLabels { count: 17, .. })
        ));
    }

    #[test]
    fn kinds_and_prometheus_names_do_not_collide() {
        let r = Registry::new();
        r.try_counter("jobs", &[]).unwrap();
        let e = r.try_duration_histogram("jobs", &[]).unwrap_err();
        assert!(matches!(e, MetricError::Conflict { .. }), "{e}");
        r.try_gauge("queue.depth", &[]).unwrap();
        let e = r.try_gauge("queue_depth", &[]).unwrap_err();
        assert!(matches!(e, MetricError::PrometheusCollision { .. }), "{e}");
        r.try_duration_histogram("rpc.time", &[]).unwrap();
        let e = r.try_gauge("rpc.time.seconds.count", &[]).unwrap_err();
        assert!(matches!(e, MetricError::PrometheusCollision { .. }), "{e}");
    }

    #[test]
    fn label_order_does_not_matter_and_long_values_are_cut() {
        let r = Registry::new();
        let a = r.counter("c", &[("x", "1"), ("y", "2")]);
        let b = r.counter("c", &[("y", "2"), ("x", "1")]);
        a.inc();
        b.inc();
        assert_eq!(a.value(), 2);
        let long = "é".repeat(200);
        let h = r.duration_histogram("h", &[("v", &long)]);
        let (_, v) = h.labels().next().unwrap();
        assert!(v.len() <= MAX_LABEL_VALUE_LEN && long.starts_with(v));
    }

    #[test]
    fn invalid_input_gives_a_detached_handle_not_a_panic() {
        let r = Registry::new();
        let h = r.duration_histogram("bad name", &[]);
        h.record(5);
        assert!(r.families().is_empty());
    }

    #[test]
    fn memory_is_bounded_by_live_threads_not_threads_ever_started() {
        let r = Registry::new();
        let h = r.duration_histogram("h", &[]);
        for _ in 0..50 {
            let h = h.clone();
            std::thread::spawn(move || h.record(1_000)).join().unwrap();
        }
        // Other tests run threads at the same time, so indices vary a little; 50
        // sequential threads must still share a handful of recorders.
        let recorders = h.s.cells.recorders().len();
        assert!(
            recorders < 25,
            "{recorders} recorders for 50 sequential threads"
        );
        let total: u64 =
            h.s.cells
                .recorders()
                .iter()
                .map(|r| r.scalars().count)
                .sum();
        assert_eq!(total, 50);
    }

    #[test]
    fn tick_attributes_observations_to_the_slice_it_sees_them_in() {
        let now = Arc::new(AtomicU64::new(1_000_000_000_000));
        let clock = now.clone();
        let r = Registry::builder()
            .window(Duration::from_secs(60), Duration::from_secs(10))
            .clock(move || clock.load(Relaxed))
            .build()
            .unwrap();
        let h = r.duration_histogram("t", &[]);
        h.record(1);
        r.tick(); // at 1000 s: slice [1000, 1010)
        now.store(1_015_000_000_000, Relaxed);
        h.record(2);
        r.tick(); // at 1015 s: slice [1010, 1020)
        now.store(1_060_000_000_000, Relaxed);
        let snap = r.snapshot();
        let s = snap.histogram("t", &[]).unwrap();
        // Without the first tick, both would belong to [1010, 1020) and stay.
        assert_eq!((s.window.count, s.window.min), (1, Some(2)));
        assert_eq!(s.cumulative.count, 2);
    }

    #[test]
    fn too_many_names_is_an_error() {
        let r = Registry::builder().max_names(2).build().unwrap();
        r.try_counter("a", &[]).unwrap();
        r.try_counter("b", &[]).unwrap();
        assert!(matches!(
            r.try_counter("c", &[]),
            Err(MetricError::TooManyNames { max: 2, .. })
        ));
        // Existing names still resolve.
        r.try_counter("a", &[("k", "v")]).unwrap();
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
