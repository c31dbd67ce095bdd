//! OTLP export of spans and logs, off the request path.
//!
//! The [`Exporter`] runs on its own thread (`observe-export`) with a
//! current-thread Tokio runtime, so it works whether the application has no
//! runtime, a current-thread one or a multi-threaded one. Its [`ExportSink`] runs
//! on observe's background worker: it takes every *sampled* span (unsampled ones
//! are skipped before any work) and every log record, and hands them to the
//! exporter thread through a bounded queue. When the queue is full, records are
//! dropped and counted; the worker never waits for the network, and the
//! application never waits for the worker. The exporter thread converts records to
//! OpenTelemetry SDK types and sends them in batches with `opentelemetry-otlp`'s
//! `SpanExporter` and `LogExporter` (HTTP/protobuf, or gRPC with the `grpc`
//! feature), with the configured endpoint, headers, timeout and compression.
//!
//! A `tracing` event logged inside a sampled span is exported twice, as OTLP
//! designs it: as a log record carrying the span's trace and span id, and as an
//! event of that span (joined by span id on the exporter thread).
//!
//! Failures (collector down, refusing, erroring, or too slow) are counted in
//! [`ExportStats`] and reported as rate-limited warnings with target `observe`
//! (field `component = "export"`); those warnings are written to the
//! JSON log but never exported themselves, and everything the exporter thread's
//! own libraries log (hyper, h2, tonic) is discarded, so export trouble can never
//! feed itself.
//!
//! ```no_run
//! # #[cfg(feature = "otlp")] {
//! use observe_core::config::OtlpExport;
//! use observe_core::export::{Exporter, ExportSettings, ResourceInfo};
//!
//! let settings = ExportSettings {
//!     traces: Some(OtlpExport::http("http://collector:4318/v1/traces")),
//!     logs: Some(OtlpExport::http("http://collector:4318/v1/logs")),
//!     ..ExportSettings::default()
//! };
//! let resource = ResourceInfo { service_name: "shop".into(), ..ResourceInfo::default() };
//! let exporter = Exporter::start(settings, &resource)?;
//! let sink = exporter.sink(); // handed to the pipeline by `init`
//! # let _ = sink;
//! assert_eq!(exporter.stats().spans_failed, 0);
//! # }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

// Without the `otlp` feature only the flight recorder's dumps use these; the parts
// that feed the exporter are unused then.
#[cfg_attr(not(feature = "otlp"), allow(dead_code))]
pub(crate) mod convert;
#[cfg(feature = "otlp")]
mod exporter;
#[cfg(feature = "otlp")]
mod metrics;
#[cfg(feature = "otlp")]
mod pending;
#[cfg(feature = "otlp")]
mod queue;
#[cfg(feature = "otlp")]
mod retry;
#[cfg(feature = "otlp")]
mod settings;
#[cfg_attr(not(feature = "otlp"), allow(dead_code))]
mod stats;
#[cfg(feature = "otlp")]
pub(crate) mod tls;

#[cfg(feature = "otlp")]
pub use exporter::{ExportError, ExportSink, Exporter};
#[cfg(feature = "otlp")]
pub use metrics::{MetricsExportStats, MetricsExporter};
#[cfg(feature = "otlp")]
pub use settings::{DEFAULT_QUEUE_BYTES, ExportSettings};
pub use stats::ExportStats;

/// What the service is, as the exported OpenTelemetry `Resource` says it: filled
/// by `init` from the configuration (`OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`,
/// the application's package metadata).
///
/// The named fields win over the same keys in `attributes`. They become
/// `service.name`, `service.version`, `deployment.environment.name`, `host.name`,
/// `observe.team`, `observe.owner`, `observe.runbook` and
/// `vcs.repository.url.full`; `process.pid` and `telemetry.sdk.*` are added.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResourceInfo {
    /// `service.name`.
    pub service_name: String,
    /// `service.version`.
    pub service_version: String,
    /// `deployment.environment.name`.
    pub environment: Option<String>,
    /// `host.name`.
    pub host: Option<String>,
    /// Further attributes (`OTEL_RESOURCE_ATTRIBUTES`), in order.
    pub attributes: Vec<(String, String)>,
    /// The owning team.
    pub team: Option<String>,
    /// The owner (a person or an alias).
    pub owner: Option<String>,
    /// Where the runbook is.
    pub runbook: Option<String>,
    /// The source repository URL.
    pub repository: Option<String>,
}

/// A starting point for tests and benchmarks outside the crate: an observe
/// instance with the given sinks, head sampling ratio and shutdown timeout, no
/// log output and every level enabled. **Not a stable API.**
#[doc(hidden)]
pub fn __start_instance(
    sampling_ratio: f64,
    sinks: Vec<Box<dyn crate::sink::Sink>>,
    shutdown_timeout: std::time::Duration,
) -> Result<crate::Observe, crate::InitError> {
    crate::Observe::start(crate::init::Parts {
        settings: crate::pipeline::Settings::default(),
        resource: crate::log::Resource {
            service: "test".into(),
            version: "0.0.0".into(),
            env: None,
            host: "localhost".into(),
        },
        log: None,
        sinks,
        sampler: crate::pipeline::Sampler::new(sampling_ratio, true),
        filter: "trace".into(),
        shutdown_timeout,
        threads: Vec::new(),
    })
}
