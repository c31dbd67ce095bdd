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
//! use observe_core::config::{ExportConfig, OtlpExport, Service};
//! use observe_core::export::Exporter;
//!
//! let settings = ExportConfig {
//!     traces: Some(OtlpExport::http("http://collector:4318/v1/traces")),
//!     logs: Some(OtlpExport::http("http://collector:4318/v1/logs")),
//!     ..ExportConfig::default()
//! };
//! let resource = Service { name: "shop".into(), ..Service::default() };
//! let exporter = Exporter::start(settings, &resource)?;
//! let sink = exporter.sink(); // handed to the pipeline by `init`
//! # let _ = sink;
//! assert_eq!(exporter.stats().spans_failed, 0);
//! # }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#[cfg(feature = "otlp")]
mod driver;
#[cfg(feature = "otlp")]
mod error;
#[cfg(feature = "otlp")]
mod exporter;
#[cfg(feature = "otlp")]
mod lane;
#[cfg(feature = "otlp")]
mod lifecycle;
#[cfg(feature = "otlp")]
mod metrics_sender;
#[cfg(feature = "otlp")]
mod pending;
#[cfg(feature = "otlp")]
mod queue;
#[cfg(feature = "otlp")]
mod retry;
#[cfg(feature = "otlp")]
mod settings;
#[cfg(feature = "otlp")]
mod sink;
#[cfg_attr(not(feature = "otlp"), allow(dead_code, unreachable_pub))]
mod stats;
#[cfg(feature = "otlp")]
pub(crate) mod tls;
#[cfg(feature = "otlp")]
mod transport;

#[cfg(feature = "otlp")]
pub use error::ExportError;
#[cfg(feature = "otlp")]
pub use exporter::Exporter;
#[cfg(feature = "otlp")]
pub(crate) use lifecycle::ExportLifecycle;
#[cfg(feature = "otlp")]
pub use metrics_sender::{MetricsExportStats, MetricsExporter};
#[cfg(feature = "otlp")]
pub use sink::ExportSink;
#[cfg(feature = "otlp")]
pub use stats::ExportStats;
