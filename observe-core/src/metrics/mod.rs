//! HDR latency metrics that keep the tail.
//!
//! Every key (a metric name plus a bounded label set) has an HDR histogram with 3
//! significant digits from 1 ns to about 73 minutes, an exact sum, an error count
//! and exemplars (the trace ids of its slowest and failing observations). Counters
//! and gauges sit beside them. Reading merges, never averages.
//!
//! * **Recording** is per thread and single-writer: no lock and no contended
//!   atomic on the hot path (a few nanoseconds; see `docs/bench/metrics.md`).
//!   Resolve a handle once ([`histogram`], [`counter`], [`gauge`], the typed
//!   constructors such as [`http_server_duration`], or [`FunctionMetrics`] in a
//!   `static`) and record through it.
//! * **Views**: cumulative since the key was created, and a rolling window (default
//!   5 minutes in 10 s slices) for SLOs.
//! * **Cardinality**: at most [`DEFAULT_MAX_KEYS`] label sets per name (see
//!   [`set_max_keys`]); past it observations go to one `otel.metric.overflow="true"`
//!   key, the overflow is counted, and a warning is logged once per metric.
//! * **Exposure**: [`snapshot`] (typed, `serde::Serialize`), [`prometheus_text`]
//!   (what `/metrics` serves), [`export_histograms`] + [`merge`] (lossless, for
//!   fleet-wide percentiles), and OTLP (exponential histograms) through the
//!   exporter.
//!
//! The free functions use the process-wide registry ([`global`]); a [`Registry`]
//! of your own (with its own limits, window and clock) offers the same methods.
//! The user guide is `docs/metrics.md`.
//!
//! ```
//! use observe_core::metrics;
//!
//! let handled = metrics::counter("messages.handled", &[("queue", "orders")]);
//! let latency = metrics::histogram("messages.handle.duration", &[("queue", "orders")]);
//! handled.inc();
//! latency.record(850_000); // nanoseconds
//!
//! let snap = metrics::snapshot();
//! let h = snap.histogram("messages.handle.duration", &[("queue", "orders")]).unwrap();
//! assert!(h.cumulative.count >= 1);
//! ```

use std::sync::OnceLock;
use std::time::Duration;

mod events;
mod export;
mod layout;
mod otlp;
mod prometheus;
mod recorder;
mod registry;
mod semconv;
mod snapshot;
mod thread_index;
mod window;

pub use export::{
    EXPORT_ENCODING, EXPORT_FORMAT, ExportError, ExportedSeries, ExportedView, HistogramExport,
    merge,
};
pub use registry::{
    ConfigError, Counter, DEFAULT_MAX_KEYS, DEFAULT_MAX_NAMES, DEFAULT_SLICE, DEFAULT_WINDOW,
    Gauge, Histogram, Kind, MAX_LABEL_VALUE_LEN, MAX_LABELS, MetricError, OVERFLOW_LABEL, Registry,
    RegistryBuilder, Unit,
};
pub use semconv::{FunctionMetrics, RequestType, names, normalize_method};
pub use snapshot::{
    CounterSnapshot, Exemplar, ExemplarKind, GaugeSnapshot, HistogramSnapshot, OverflowSnapshot,
    QUANTILES, Snapshot, Stats,
};

/// hdrhistogram, re-exported so decoded histograms ([`ExportedView::decode`]) need
/// no second dependency.
pub use hdrhistogram;

#[allow(unused_imports)]
pub(crate) use events::{EventMetricError, FieldValue, is_metric_field};

static GLOBAL: OnceLock<Registry> = OnceLock::new();

/// The process-wide registry that `#[traced]`, the adapters and the free functions
/// of this module record into.
pub fn global() -> &'static Registry {
    GLOBAL.get_or_init(Registry::new)
}

/// The process-wide histogram for `name` and `labels` (nanoseconds unless described
/// otherwise). An invalid name or label set logs a warning once and returns a
/// detached handle; use [`Registry::try_histogram`] to get the error instead.
pub fn histogram(name: &str, labels: &[(&str, &str)]) -> Histogram {
    global().histogram(name, labels)
}

/// The process-wide counter for `name` and `labels`.
pub fn counter(name: &str, labels: &[(&str, &str)]) -> Counter {
    global().counter(name, labels)
}

/// The process-wide gauge for `name` and `labels`.
pub fn gauge(name: &str, labels: &[(&str, &str)]) -> Gauge {
    global().gauge(name, labels)
}

/// Sets a metric's unit and help text in the process-wide registry (before its
/// first use, to change the unit).
pub fn describe(name: &str, unit: Unit, help: &str) -> Result<(), MetricError> {
    global().describe(name, unit, help)
}

/// Sets the maximum label sets per metric name of the process-wide registry.
pub fn set_max_keys(n: usize) {
    global().set_max_keys(n);
}

/// Sets the rolling window of the process-wide registry (restarts every window).
pub fn set_window(window: Duration, slice: Duration) -> Result<(), ConfigError> {
    global().set_window(window, slice)
}

/// A snapshot of the process-wide registry.
pub fn snapshot() -> Snapshot {
    global().snapshot()
}

/// The process-wide registry in the Prometheus text format.
pub fn prometheus_text() -> String {
    global().prometheus_text()
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
/// metrics::http_server_duration("/orders/{id}", "GET", 200, RequestType::Standard).record(2_500_000);
/// ```
pub fn http_server_duration(
    route: &str,
    method: &str,
    status_code: u16,
    request_type: RequestType,
) -> &'static Histogram {
    global().http_server_duration_with(route, method, status_code, request_type, Histogram::pinned)
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
pub(crate) fn record_event_field(
    field: &str,
    value: FieldValue,
    labels: &[(&str, &str)],
) -> Result<bool, EventMetricError> {
    events::record_event_field(global(), field, value, labels)
}

/// The process-wide registry as an OTLP metrics request (for the exporter).
#[allow(dead_code)]
pub(crate) fn otlp_request(
    resource: opentelemetry_proto::tonic::resource::v1::Resource,
    scope: opentelemetry_proto::tonic::common::v1::InstrumentationScope,
) -> opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest {
    global().otlp_request(resource, scope)
}

/// `docs/metrics.md`, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/metrics.md")]
struct MetricsGuide;
