//! HDR latency metrics that keep the tail.
//!
//! Every key (a metric name plus a bounded label set) has an HDR histogram with 3
//! significant digits over 1 .. 2^42 - 1 recorded units (1 ns to about 73 minutes
//! for durations), an exact sum, an error count and exemplars (the trace ids of its
//! slowest and failing observations). Counters and gauges sit beside them. Reading
//! merges, never averages.
//!
//! * **Units** are explicit: durations through [`duration_histogram`] (recorded in
//!   nanoseconds with [`Histogram::record_duration`] or `record`, exposed in
//!   seconds), other values through [`histogram`] with their [`Unit`] (`Unit::None`
//!   for a count, `Unit::Bytes`, or a custom OpenTelemetry unit), exposed as
//!   recorded.
//! * **Recording** is per thread and single-writer: no lock and no contended
//!   atomic on the hot path (a few nanoseconds; see `docs/bench/metrics.md`).
//!   Resolve a handle once ([`histogram`], [`duration_histogram`], [`counter`],
//!   [`gauge`], the typed constructors such as [`http_server_duration`], or
//!   [`FunctionMetrics`] in a `static`) and record through it.
//! * **Views**: cumulative since the key was created, and a rolling window (default
//!   5 minutes in 10 s slices) for SLOs.
//! * **Cardinality**: at most [`DEFAULT_MAX_KEYS`] label sets per name (see
//!   [`set_max_keys`]); past it observations go to one `otel.metric.overflow="true"`
//!   key, the overflow is counted, and a warning is logged once per metric.
//! * **Exposure**: [`prometheus::render`] (what `/metrics` serves: Prometheus
//!   histograms with `le` buckets derived from the HDR bins, or summaries as an
//!   option; OpenMetrics with exemplars when the scraper asks), [`snapshot`]
//!   (typed, `serde::Serialize`), [`export_histograms`] + [`merge`] (lossless, for
//!   fleet-wide percentiles), and OTLP (exponential histograms) through the
//!   exporter.
//!
//! The free functions use the process-wide registry ([`global`]); a [`Registry`]
//! of your own (with its own limits, window and clock) offers the same methods.
//! The user guide is `docs/metrics.md`.
//!
//! ```
//! use std::time::Duration;
//! use observe_core::metrics::{self, Unit};
//!
//! let handled = metrics::counter("messages.handled", &[("queue", "orders")]);
//! let latency = metrics::duration_histogram("messages.handle.duration", &[("queue", "orders")]);
//! let batch = metrics::histogram("messages.batch.size", Unit::None, &[("queue", "orders")]);
//! handled.inc();
//! latency.record_duration(Duration::from_micros(850));
//! batch.record(3);
//!
//! let snap = metrics::snapshot();
//! let h = snap.histogram("messages.handle.duration", &[("queue", "orders")]).unwrap();
//! assert!(h.cumulative.count >= 1);
//! ```

use std::sync::OnceLock;
use std::time::Duration;

mod buckets;
mod cells;
mod error;
pub(crate) mod events;
pub(crate) mod handles;
mod histogram_export;
#[cfg(feature = "admin")]
pub(crate) mod latency;
pub(crate) mod layout;
mod naming;
mod process;
pub mod prometheus;
pub(crate) mod registry;
pub(crate) mod semconv;
mod slo_counts;
pub(crate) mod snapshot;
mod thread_index;
pub(crate) mod unit;
mod window;
#[allow(unused_imports)]
pub(crate) use slo_counts::{SeriesCounts, new_duration_hdr};

pub use buckets::{DEFAULT_DURATION_BUCKETS, DEFAULT_VALUE_BUCKETS, MAX_BUCKETS};

pub use handles::{Counter, Gauge, Histogram};
pub use histogram_export::{
    EXPORT_ENCODING, EXPORT_FORMAT, ExportedSeries, ExportedView, HistogramExport, MergeError,
    merge,
};
pub use naming::{MAX_LABEL_VALUE_LEN, MAX_LABELS};
pub use registry::{
    DEFAULT_MAX_KEYS, DEFAULT_MAX_NAMES, DEFAULT_SLICE, DEFAULT_WINDOW, Exposition, Kind,
    OVERFLOW_LABEL, Registry, RegistryBuilder,
};
pub use semconv::{FunctionMetrics, RequestType, names, normalize_method};
pub(crate) use semconv::{grpc_server_error, series_failed};
pub use snapshot::{
    CounterSnapshot, Exemplar, ExemplarKind, GaugeSnapshot, HistogramSnapshot, OverflowSnapshot,
    QUANTILES, Snapshot, Stats,
};
pub use unit::Unit;

/// hdrhistogram, re-exported so decoded histograms ([`ExportedView::decode`]) need
/// no second dependency.
pub use hdrhistogram;

#[allow(unused_imports)]
pub use error::{MetricError, WindowError};
pub(crate) use events::{EventMetricError, FieldValue, is_metric_field};

static GLOBAL: OnceLock<Registry> = OnceLock::new();

/// The process-wide registry that `#[traced]`, the adapters and the free functions
/// of this module record into.
pub fn global() -> &'static Registry {
    GLOBAL.get_or_init(Registry::new)
}

/// The process-wide histogram for `name` and `labels`, recording values in `unit`
/// (exposed as recorded: `Unit::None` for a count, `Unit::Bytes`, a custom unit).
/// For durations use [`duration_histogram`]. An invalid name, unit or label set, or
/// a unit other than the metric's, logs a warning once and returns a detached
/// handle; use [`Registry::try_histogram`] to get the error instead.
///
/// ```
/// use observe_core::metrics::{self, Unit};
///
/// metrics::histogram("basket.items", Unit::None, &[]).record(3);
/// metrics::histogram("upload.size", Unit::Bytes, &[]).record(1_048_576);
/// ```
pub fn histogram(name: &str, unit: Unit, labels: &[(&str, &str)]) -> Histogram {
    global().histogram(name, unit, labels)
}

/// The process-wide duration histogram for `name` and `labels`: record a
/// [`Duration`] with [`Histogram::record_duration`] (or nanoseconds with
/// `record`); exposed in seconds.
///
/// ```
/// use std::time::Instant;
/// use observe_core::metrics;
///
/// let latency = metrics::duration_histogram("payment.duration", &[("psp", "acme")]);
/// let start = Instant::now();
/// // ... call the payment provider ...
/// latency.record_duration(start.elapsed());
/// ```
pub fn duration_histogram(name: &str, labels: &[(&str, &str)]) -> Histogram {
    global().duration_histogram(name, labels)
}

/// The process-wide counter for `name` and `labels`.
pub fn counter(name: &str, labels: &[(&str, &str)]) -> Counter {
    global().counter(name, labels)
}

/// The process-wide gauge for `name` and `labels`.
pub fn gauge(name: &str, labels: &[(&str, &str)]) -> Gauge {
    global().gauge(name, labels)
}

/// Sets a metric's unit and help text in the process-wide registry; see
/// [`Registry::describe`].
pub fn describe(name: &str, unit: Unit, help: &str) -> Result<(), MetricError> {
    global().describe(name, unit, help)
}

/// Sets a histogram's Prometheus bucket boundaries in the process-wide registry;
/// see [`Registry::set_buckets`].
pub fn set_buckets(name: &str, boundaries: &[f64]) -> Result<(), MetricError> {
    global().set_buckets(name, boundaries)
}

/// Sets how one histogram of the process-wide registry is exposed to Prometheus
/// (buckets or a summary); see [`Registry::set_exposition`].
pub fn set_exposition(name: &str, exposition: Exposition) -> Result<(), MetricError> {
    global().set_exposition(name, exposition)
}

/// Sets how the process-wide registry's histograms are exposed to Prometheus unless
/// set per metric: [`Exposition::Histogram`] (the default) or
/// [`Exposition::Summary`].
pub fn set_default_exposition(exposition: Exposition) {
    global().set_default_exposition(exposition);
}

/// Sets the maximum label sets per metric name of the process-wide registry.
pub fn set_max_keys(n: usize) {
    global().set_max_keys(n);
}

/// Sets the rolling window of the process-wide registry (restarts every window).
pub fn set_window(window: Duration, slice: Duration) -> Result<(), WindowError> {
    global().set_window(window, slice)
}

/// A snapshot of the process-wide registry.
pub fn snapshot() -> Snapshot {
    global().snapshot()
}

/// What `/metrics` serves in the Prometheus text format (0.0.4): the process-wide
/// registry, with `target_info` and the process metrics ([`prometheus::render`]
/// negotiates the format).
pub fn prometheus_text() -> String {
    prometheus::render_format(prometheus::Format::Text)
}

/// The process-wide registry's histograms, serialized for [`merge`].
pub fn export_histograms() -> HistogramExport {
    global().export_histograms()
}

/// `http.server.request.duration` in the process-wide registry: see
/// [`Registry::http_server_duration`] for the labels. Returns a `'static` handle
/// from a per-thread cache, so a lookup per request shares nothing between threads.
///
/// ```
/// use observe_core::metrics::{self, RequestType};
///
/// metrics::http_server_duration("/orders/{id}", "GET", 200, "http", None, RequestType::Standard)
///     .record(2_500_000); // nanoseconds
/// ```
pub fn http_server_duration(
    route: &str,
    method: &str,
    status_code: u16,
    scheme: &str,
    error_type: Option<&str>,
    request_type: RequestType,
) -> &'static Histogram {
    global().http_server_duration_with(
        route,
        method,
        status_code,
        scheme,
        error_type,
        request_type,
        Histogram::pinned,
    )
}

/// `http.client.request.duration` in the process-wide registry; see
/// [`Registry::http_client_duration`].
pub fn http_client_duration(
    server_address: &str,
    method: &str,
    status_code: Option<u16>,
    request_type: RequestType,
) -> &'static Histogram {
    global().http_client_duration_with(
        server_address,
        method,
        status_code,
        None,
        request_type,
        Histogram::pinned,
    )
}

/// `http.client.request.duration` of a call that got no response, with its
/// `error.type` (`timeout`, `transport`...); see
/// [`Registry::http_client_duration_failed`].
pub fn http_client_duration_failed(
    server_address: &str,
    method: &str,
    error_type: &str,
    request_type: RequestType,
) -> &'static Histogram {
    global().http_client_duration_with(
        server_address,
        method,
        None,
        Some(error_type),
        request_type,
        Histogram::pinned,
    )
}

/// `rpc.server.call.duration` in the process-wide registry; see
/// [`Registry::rpc_server_duration`].
pub fn rpc_server_duration(
    system: &str,
    service: &str,
    method: &str,
    grpc_status_code: Option<u32>,
    request_type: RequestType,
) -> &'static Histogram {
    global().rpc_duration_with(
        3,
        names::RPC_SERVER_CALL_DURATION,
        None,
        [system, service, method],
        grpc_status_code,
        request_type,
        Histogram::pinned,
    )
}

/// `rpc.client.call.duration` in the process-wide registry; see
/// [`Registry::rpc_client_duration`].
pub fn rpc_client_duration(
    server_address: &str,
    system: &str,
    service: &str,
    method: &str,
    grpc_status_code: Option<u32>,
    request_type: RequestType,
) -> &'static Histogram {
    global().rpc_duration_with(
        4,
        names::RPC_CLIENT_CALL_DURATION,
        Some(server_address),
        [system, service, method],
        grpc_status_code,
        request_type,
        Histogram::pinned,
    )
}

/// `observe.function.duration` in the process-wide registry; see
/// [`Registry::function_duration`] (and [`FunctionMetrics`] for a `static`).
pub fn function_duration(
    code_function: &str,
    is_error: bool,
    request_type: RequestType,
) -> &'static Histogram {
    global().function_duration_with(code_function, is_error, request_type, Histogram::pinned)
}

/// Folds every histogram of the process-wide registry into its views. The
/// background thread calls this about once a second so that observations land in
/// the right window slice; reads fold too, so it is never required for correctness.
pub(crate) fn tick() {
    global().tick();
}

/// The `tracing` layer's hook: records an event field named `counter.<name>` or
/// `histogram.<name>` into the process-wide registry. `Ok(false)` for other fields.
/// The field name is a callsite's `&'static str`: the metric it names is resolved
/// once per callsite and thread, then cached. The caller warns about a refusal
/// ([`first_event_failure`] tells when).
pub(crate) fn record_event_field(
    field: &'static str,
    value: FieldValue,
    labels: &[(&str, &str)],
) -> Result<bool, EventMetricError> {
    events::record_event_field(global(), field, value, labels)
}

pub(crate) use error::first_time as first_warning;
pub(crate) use events::first_failure_of;

/// Not a stable API: the event-field hook of the `tracing` layer (above), exposed so
/// that `benches/metrics.rs` can time it without a log line around it.
#[doc(hidden)]
pub fn __record_event_field_u64(field: &'static str, value: u64) -> bool {
    matches!(
        record_event_field(field, FieldValue::U64(value), &[]),
        Ok(true)
    )
}

/// `docs/metrics.md`, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/metrics.md")]
struct MetricsGuide;
