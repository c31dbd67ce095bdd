//! Typed export settings. The configuration module fills them from
//! `OTEL_EXPORTER_OTLP_*`, `OTEL_BSP_*` and `OTEL_BLRP_*`; code can build them
//! directly.

use std::time::Duration;

/// The OTLP transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Protocol {
    /// Protobuf over HTTP (`http/protobuf`, OpenTelemetry's default).
    #[default]
    HttpProtobuf,
    /// gRPC (`grpc`); needs the `grpc` feature.
    Grpc,
}

/// Compression of export requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Compression {
    /// gzip (needs the `gzip` feature over HTTP; always available over gRPC).
    Gzip,
}

/// Where and how one signal (traces or logs) is sent.
#[derive(Debug, Clone, PartialEq)]
pub struct SignalSettings {
    /// The full URL: for HTTP including the signal's path
    /// (`http://collector:4318/v1/traces`), for gRPC the server
    /// (`http://collector:4317`).
    pub endpoint: String,
    /// The transport.
    pub protocol: Protocol,
    /// Extra request headers (gRPC metadata), such as an API key.
    pub headers: Vec<(String, String)>,
    /// The most one export request may take, retries included.
    pub timeout: Duration,
    /// Request compression.
    pub compression: Option<Compression>,
}

impl SignalSettings {
    /// HTTP/protobuf to `endpoint`, with the OpenTelemetry default timeout (10 s).
    pub fn http(endpoint: impl Into<String>) -> SignalSettings {
        SignalSettings {
            endpoint: endpoint.into(),
            protocol: Protocol::HttpProtobuf,
            headers: Vec::new(),
            timeout: Duration::from_secs(10),
            compression: None,
        }
    }

    /// gRPC to `endpoint`, with the OpenTelemetry default timeout (10 s).
    pub fn grpc(endpoint: impl Into<String>) -> SignalSettings {
        SignalSettings {
            protocol: Protocol::Grpc,
            ..SignalSettings::http(endpoint)
        }
    }
}

/// The batching schedule of one signal (`OTEL_BSP_*` for spans, `OTEL_BLRP_*` for
/// logs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchSettings {
    /// The longest a record waits before its batch is sent.
    pub schedule_delay: Duration,
    /// The most records waiting for export; more are dropped and counted.
    pub max_queue_size: usize,
    /// The most records in one export request.
    pub max_export_batch_size: usize,
}

impl BatchSettings {
    /// OpenTelemetry's span defaults: 5 s, 2048 queued, 512 per batch.
    pub const SPANS: BatchSettings = BatchSettings {
        schedule_delay: Duration::from_secs(5),
        max_queue_size: 2048,
        max_export_batch_size: 512,
    };

    /// OpenTelemetry's log defaults: 1 s, 2048 queued, 512 per batch.
    pub const LOGS: BatchSettings = BatchSettings {
        schedule_delay: Duration::from_secs(1),
        max_queue_size: 2048,
        max_export_batch_size: 512,
    };

    pub(crate) fn normalized(self) -> BatchSettings {
        let max_queue_size = self.max_queue_size.max(1);
        BatchSettings {
            schedule_delay: self.schedule_delay.max(Duration::from_millis(1)),
            max_queue_size,
            max_export_batch_size: self.max_export_batch_size.clamp(1, max_queue_size),
        }
    }
}

/// Everything the exporter needs. A signal set to `None` is not exported.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportSettings {
    /// Where spans go.
    pub traces: Option<SignalSettings>,
    /// Where log records go.
    pub logs: Option<SignalSettings>,
    /// Span batching.
    pub span_batch: BatchSettings,
    /// Log batching.
    pub log_batch: BatchSettings,
    /// The least time between two warnings about failing export.
    pub warn_interval: Duration,
}

impl Default for ExportSettings {
    fn default() -> Self {
        ExportSettings {
            traces: None,
            logs: None,
            span_batch: BatchSettings::SPANS,
            log_batch: BatchSettings::LOGS,
            warn_interval: Duration::from_secs(60),
        }
    }
}
