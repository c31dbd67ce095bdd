//! The registry: metric families, label sets and cardinality. The handles and
//! their series are in `handles.rs`, names and label validation in `naming.rs`.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::atomic::{AtomicI64, AtomicU8, AtomicU64, AtomicUsize, Ordering::*};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use super::buckets::BucketLayout;
use super::cells::{CounterCells, lock};
use super::error::{MetricError, WindowError, warn_invalid};
use super::handles::{
    AnySeries, ClockFn, Counter, CounterSeries, Gauge, GaugeSeries, Histogram, HistogramSeries,
    Labels, SeriesKey, Shared,
};
use super::naming::{
    RESERVED_PROMETHEUS, RESERVED_PROMETHEUS_PREFIX, normalize_labels, prometheus_base,
    sample_names, valid_name,
};
use super::unit::Unit;
use super::window::window_shape;

/// Default maximum number of label sets (keys) per metric name.
pub const DEFAULT_MAX_KEYS: usize = 2000;
/// Default maximum number of metric names in a registry.
pub const DEFAULT_MAX_NAMES: usize = 1000;
/// Default rolling window length.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(300);
/// Default window slice length.
pub const DEFAULT_SLICE: Duration = Duration::from_secs(10);
/// The label that replaces all others on the overflow key, as the OpenTelemetry SDK does.
pub const OVERFLOW_LABEL: &str = "otel.metric.overflow";

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
    /// The label keys of its series, by their Prometheus form: one spelling each.
    label_keys: HashMap<String, String>,
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
                        registered: format!("{} with unit {:?}", m.kind, m.unit.to_string()),
                        requested: format!("{} with unit {:?}", m.kind, unit.to_string()),
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
        HistogramSeries::new(
            SeriesKey {
                name,
                labels,
                created_unix_nanos: self.now(),
            },
            durations,
            self.inner.shared.clone(),
        )
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
                registered: format!("{} with unit {:?}", meta.kind, meta.unit.to_string()),
                requested: format!("{kind} with unit {:?}", u.to_string()),
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
                for (key, _) in labels.iter() {
                    let ident = super::naming::prometheus_ident(key);
                    match f.label_keys.get(&ident) {
                        Some(other) if other != key => {
                            return Err(MetricError::LabelKeyMismatch {
                                name: name.to_owned(),
                                key: key.clone(),
                                other: other.clone(),
                            });
                        }
                        Some(_) => {}
                        None => {
                            f.label_keys.insert(ident, key.clone());
                        }
                    }
                }
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
                (RESERVED_PROMETHEUS.contains(&s.as_str())
                    || s.starts_with(RESERVED_PROMETHEUS_PREFIX))
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
                label_keys: HashMap::new(),
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

    /// Each of these made the exposition show two series with the same name and
    /// labels, which Prometheus keeps one of (adversarial pass).
    #[test]
    fn nothing_a_user_registers_gives_two_series_the_same_name_and_labels() {
        let r = Registry::builder().max_keys(2).build().unwrap();
        // One key spelt two ways on two series of one metric.
        r.try_counter("dupk", &[("a.b", "x")]).unwrap();
        let e = r.try_counter("dupk", &[("a_b", "x")]).unwrap_err();
        assert!(matches!(e, MetricError::LabelKeyMismatch { .. }), "{e}");
        assert!(e.to_string().contains("\"a.b\""), "{e}");
        r.try_counter("dupk", &[("a.b", "y")]).unwrap();
        // The overflow key's own label.
        for key in ["otel.metric.overflow", "otel_metric_overflow"] {
            let e = r.try_counter("s2", &[(key, "true")]).unwrap_err();
            assert!(matches!(e, MetricError::InvalidLabelKey { .. }), "{e}");
        }
        // The SLO families observe writes beside the registry's.
        for name in ["observe_slo_objective", "observe.slo.burn_rate"] {
            let e = r.try_gauge(name, &[]).unwrap_err();
            assert!(
                matches!(e, MetricError::PrometheusCollision { ref other, .. } if other == "observe (internal)"),
                "{e}"
            );
        }
    }

    #[test]
    fn invalid_input_gives_a_detached_handle_not_a_panic() {
        let r = Registry::new();
        let h = r.duration_histogram("bad name", &[]);
        h.record(5);
        assert!(r.families().is_empty());
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
}
