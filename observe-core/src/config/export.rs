//! OTLP export settings: endpoints, protocol, headers, timeouts, batching.

use std::time::Duration;

use super::secret::Headers;

/// A telemetry signal exported over OTLP.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Signal {
    /// Spans.
    Traces,
    /// Log records.
    Logs,
    /// Metrics.
    Metrics,
}

impl Signal {
    /// All signals, in the order the configuration reads them.
    pub const ALL: [Signal; 3] = [Signal::Traces, Signal::Logs, Signal::Metrics];

    /// The path OTLP/HTTP appends to the generic endpoint: `v1/traces`, `v1/logs`,
    /// `v1/metrics`.
    pub const fn http_path(self) -> &'static str {
        match self {
            Signal::Traces => "v1/traces",
            Signal::Logs => "v1/logs",
            Signal::Metrics => "v1/metrics",
        }
    }

    pub(crate) const fn index(self) -> usize {
        self as usize
    }
}

/// The OTLP transport (`OTEL_EXPORTER_OTLP_PROTOCOL`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Protocol {
    /// OTLP/gRPC (`grpc`); needs observe-core's `grpc` feature.
    Grpc,
    /// OTLP/HTTP with protobuf bodies (`http/protobuf`), the OpenTelemetry default.
    #[default]
    HttpProtobuf,
}

impl Protocol {
    /// The OpenTelemetry name: `grpc` or `http/protobuf`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Protocol::Grpc => "grpc",
            Protocol::HttpProtobuf => "http/protobuf",
        }
    }
}

/// Compression of OTLP request bodies (`OTEL_EXPORTER_OTLP_COMPRESSION`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Compression {
    /// No compression (`none`), the default.
    #[default]
    None,
    /// gzip (`gzip`); needs observe-core's `gzip` feature.
    Gzip,
}

/// Whether a signal is exported (`OTEL_TRACES_EXPORTER`, `OTEL_LOGS_EXPORTER`,
/// `OTEL_METRICS_EXPORTER`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ExporterKind {
    /// Export over OTLP (`otlp`). Set explicitly without an endpoint, it exports to
    /// the OpenTelemetry default, `http://localhost:4318` (`http://localhost:4317` for
    /// gRPC).
    Otlp,
    /// Do not export this signal (`none`). Data stays in memory (flight recorder,
    /// `/metrics`).
    None,
}

/// The resolved OTLP destination of one signal.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct OtlpExport {
    /// The final URL: a per-signal endpoint as given, or the generic endpoint with
    /// `/v1/<signal>` appended for `http/protobuf` (as given for `grpc`).
    pub endpoint: String,
    /// The transport.
    pub protocol: Protocol,
    /// Headers for every request (secret values; `Debug` redacts them).
    pub headers: Headers,
    /// How long one export request may take.
    pub timeout: Duration,
    /// Body compression.
    pub compression: Compression,
    /// TLS settings of an `https://` endpoint (ignored for `http://`).
    pub tls: super::OtlpTls,
}

impl std::fmt::Debug for OtlpExport {
    /// The endpoint with its query values redacted (they may be tokens).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtlpExport")
            .field("endpoint", &shown_endpoint(&self.endpoint))
            .field("protocol", &self.protocol)
            .field("headers", &self.headers)
            .field("timeout", &self.timeout)
            .field("compression", &self.compression)
            .field("tls", &self.tls)
            .finish()
    }
}

/// An endpoint as observe shows it (the start-up summary, `Debug`, export
/// errors): the values of its query replaced by `REDACTED`, as `url.full` shows
/// a query, since some backends take their token there (`?api-key=...`).
pub(crate) fn shown_endpoint(endpoint: &str) -> std::borrow::Cow<'_, str> {
    let Some((base, rest)) = endpoint.split_once('?') else {
        return endpoint.into();
    };
    let (query, fragment) = rest
        .split_once('#')
        .map_or((rest, None), |(q, f)| (q, Some(f)));
    // A bare item (`?s3cr3t`) may be the token itself: hidden too, unlike in
    // `url.full`, where it is a key.
    let query: Vec<&str> = query
        .split('&')
        .map(|item| {
            if item.contains('=') || item.is_empty() {
                item
            } else {
                "REDACTED"
            }
        })
        .collect();
    let query = super::redact_query(&query.join("&"));
    match fragment {
        Some(f) => format!("{base}?{query}#{f}").into(),
        None => format!("{base}?{query}").into(),
    }
}

impl OtlpExport {
    /// The query of the endpoint, if it has one: the text export errors must not
    /// repeat (the HTTP client's messages quote the URL).
    #[cfg_attr(not(feature = "otlp"), allow(dead_code))]
    pub(crate) fn query(&self) -> Option<&str> {
        let (_, rest) = self.endpoint.split_once('?')?;
        let query = rest.split_once('#').map_or(rest, |(q, _)| q);
        (!query.is_empty()).then_some(query)
    }

    /// OTLP/HTTP with protobuf to `endpoint` (the full URL, with its `/v1/<signal>`
    /// path), with the OpenTelemetry default timeout (10 s), no header, no compression.
    pub fn http(endpoint: impl Into<String>) -> OtlpExport {
        OtlpExport {
            endpoint: endpoint.into(),
            protocol: Protocol::HttpProtobuf,
            headers: Headers::default(),
            timeout: Duration::from_secs(10),
            compression: Compression::None,
            tls: super::OtlpTls::default(),
        }
    }

    /// The same destination with these TLS settings.
    pub fn with_tls(mut self, tls: super::OtlpTls) -> OtlpExport {
        self.tls = tls;
        self
    }

    /// OTLP/gRPC to `endpoint` (the server, such as `http://collector:4317`), with the
    /// OpenTelemetry default timeout (10 s).
    pub fn grpc(endpoint: impl Into<String>) -> OtlpExport {
        OtlpExport {
            protocol: Protocol::Grpc,
            ..OtlpExport::http(endpoint)
        }
    }
}

/// Batching of a signal's export, off the request path (`OTEL_BSP_*` for spans,
/// `OTEL_BLRP_*` for logs). The batch size never exceeds the queue size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct BatchConfig {
    /// Delay between two consecutive exports.
    pub schedule_delay: Duration,
    /// How long one export may take before it is cancelled.
    pub export_timeout: Duration,
    /// Items kept waiting for export; beyond it new items are dropped and counted.
    pub max_queue_size: usize,
    /// Items per export request; at most `max_queue_size`.
    pub max_export_batch_size: usize,
}

impl BatchConfig {
    /// The defaults for spans: the OpenTelemetry ones (5 s delay, 30 s timeout,
    /// batch 512) but a queue of 8192 spans instead of 2048, so that a 10-second
    /// collector outage at moderate load (450 spans a second, see `docs/traces.md`)
    /// loses nothing; the queue is also bounded by bytes (8 MiB).
    pub const SPANS: BatchConfig = BatchConfig {
        schedule_delay: Duration::from_millis(5000),
        export_timeout: Duration::from_millis(30_000),
        max_queue_size: 8192,
        max_export_batch_size: 512,
    };

    /// The OpenTelemetry defaults for logs: 1 s delay, 30 s timeout, queue 2048,
    /// batch 512.
    pub const LOGS: BatchConfig = BatchConfig {
        schedule_delay: Duration::from_millis(1000),
        export_timeout: Duration::from_millis(30_000),
        max_queue_size: 2048,
        max_export_batch_size: 512,
    };

    /// Sets the delay between exports.
    pub const fn with_schedule_delay(mut self, delay: Duration) -> Self {
        self.schedule_delay = delay;
        self
    }

    /// Sets the export timeout.
    pub const fn with_export_timeout(mut self, timeout: Duration) -> Self {
        self.export_timeout = timeout;
        self
    }

    /// Sets the queue size.
    pub const fn with_max_queue_size(mut self, size: usize) -> Self {
        self.max_queue_size = size;
        self
    }

    /// Sets the batch size.
    pub const fn with_max_export_batch_size(mut self, size: usize) -> Self {
        self.max_export_batch_size = size;
        self
    }
}

/// Everything about OTLP export: what the configuration resolves, and what the
/// exporters start from (`observe_core::export`).
///
/// A signal is exported (its field is `Some`) when its exporter is `otlp` and, unless
/// that was set explicitly, an endpoint is configured: with nothing set, nothing is
/// exported and data stays in memory. [`ExportConfig::default`] exports nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportConfig {
    /// Where spans go, if anywhere.
    pub traces: Option<OtlpExport>,
    /// Where log records go, if anywhere.
    pub logs: Option<OtlpExport>,
    /// Where metrics go, if anywhere.
    pub metrics: Option<OtlpExport>,
    /// Span batching (`OTEL_BSP_*`).
    pub span_batch: BatchConfig,
    /// Log batching (`OTEL_BLRP_*`).
    pub log_batch: BatchConfig,
    /// Interval between two metric exports (`OTEL_METRIC_EXPORT_INTERVAL`).
    pub metric_export_interval: Duration,
    /// How long one metric export may take (`OTEL_METRIC_EXPORT_TIMEOUT`).
    pub metric_export_timeout: Duration,
    /// The least time between two warnings about failing export (60 s; code only).
    pub warn_interval: Duration,
    /// The most bytes the span queue may hold, the log events travelling with
    /// the spans included (sizes as the flight recorder counts them), besides
    /// `span_batch.max_queue_size` spans. When either bound is reached, the oldest
    /// records are dropped and counted. While the collector is away, this is where
    /// spans wait for it. [`DEFAULT_QUEUE_BYTES`] unless set in code.
    pub span_queue_bytes: usize,
    /// The same for the log queue (and `log_batch.max_queue_size` records).
    pub log_queue_bytes: usize,
}

/// The default byte budget of each export queue (spans, logs): 8 MiB. With the
/// default record bounds (8192 spans, 2048 logs) it is reached only by large records (a span
/// queue of `#[traced]` spans holds 112 bytes a span; see `docs/security.md`).
pub const DEFAULT_QUEUE_BYTES: usize = 8 * 1024 * 1024;

impl Default for ExportConfig {
    /// Nothing exported; the default batches, intervals and queue budgets.
    fn default() -> Self {
        ExportConfig {
            traces: None,
            logs: None,
            metrics: None,
            span_batch: BatchConfig::SPANS,
            log_batch: BatchConfig::LOGS,
            metric_export_interval: DEFAULT_METRIC_INTERVAL,
            metric_export_timeout: DEFAULT_METRIC_TIMEOUT,
            warn_interval: Duration::from_secs(60),
            span_queue_bytes: DEFAULT_QUEUE_BYTES,
            log_queue_bytes: DEFAULT_QUEUE_BYTES,
        }
    }
}

impl ExportConfig {
    /// The destination of one signal.
    pub fn signal(&self, signal: Signal) -> Option<&OtlpExport> {
        match signal {
            Signal::Traces => self.traces.as_ref(),
            Signal::Logs => self.logs.as_ref(),
            Signal::Metrics => self.metrics.as_ref(),
        }
    }
}

/// The OpenTelemetry default endpoints, used when a signal's exporter is set to `otlp`
/// without an endpoint.
pub(crate) const DEFAULT_HTTP_ENDPOINT: &str = "http://localhost:4318";
pub(crate) const DEFAULT_GRPC_ENDPOINT: &str = "http://localhost:4317";

/// The default export timeout (`OTEL_EXPORTER_OTLP_TIMEOUT`): 10 s.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// The default metric export interval: 60 s.
pub(crate) const DEFAULT_METRIC_INTERVAL: Duration = Duration::from_secs(60);
/// The default metric export timeout: 30 s.
pub(crate) const DEFAULT_METRIC_TIMEOUT: Duration = Duration::from_secs(30);

/// The URL for one signal from the generic endpoint, per the OpenTelemetry rule for
/// OTLP/HTTP: the signal path is appended to the base path, with exactly one `/`
/// between them.
pub(crate) fn append_signal_path(base: &url::Url, signal: Signal) -> String {
    let mut url = base.clone();
    let path = format!(
        "{}/{}",
        url.path().trim_end_matches('/'),
        signal.http_path()
    );
    url.set_path(&path);
    url.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn append(base: &str, signal: Signal) -> String {
        append_signal_path(&url::Url::parse(base).unwrap(), signal)
    }

    #[test]
    fn a_query_is_shown_without_its_values() {
        assert_eq!(
            shown_endpoint("http://c:4318/v1/traces"),
            "http://c:4318/v1/traces"
        );
        assert_eq!(
            shown_endpoint("https://in.example/v1/traces?api-key=SECRET&region=eu#x"),
            "https://in.example/v1/traces?api-key=REDACTED&region=REDACTED#x"
        );
        assert_eq!(
            shown_endpoint("http://c/v1/traces?s3cr3t"),
            "http://c/v1/traces?REDACTED"
        );
        let e = OtlpExport::http("http://c:4318/v1/traces?token=SECRETQ");
        assert_eq!(e.query(), Some("token=SECRETQ"));
        assert!(!format!("{e:?}").contains("SECRETQ"), "{e:?}");
    }

    #[test]
    fn the_signal_path_is_appended_with_one_slash() {
        assert_eq!(
            append("http://collector:4318", Signal::Traces),
            "http://collector:4318/v1/traces"
        );
        assert_eq!(
            append("http://collector:4318/", Signal::Logs),
            "http://collector:4318/v1/logs"
        );
        assert_eq!(
            append(
                "https://collector.example.com:4318/mycollector/",
                Signal::Metrics
            ),
            "https://collector.example.com:4318/mycollector/v1/metrics"
        );
        assert_eq!(
            append("https://example.com/otlp?tenant=a", Signal::Traces),
            "https://example.com/otlp/v1/traces?tenant=a"
        );
    }

    #[test]
    fn batch_defaults_follow_the_spec_and_setters_set() {
        assert_eq!(BatchConfig::SPANS.schedule_delay, Duration::from_secs(5));
        assert_eq!(BatchConfig::LOGS.schedule_delay, Duration::from_secs(1));
        let b = BatchConfig::SPANS
            .with_max_queue_size(10)
            .with_max_export_batch_size(5)
            .with_export_timeout(Duration::from_secs(1))
            .with_schedule_delay(Duration::from_millis(7));
        assert_eq!((b.max_queue_size, b.max_export_batch_size), (10, 5));
        assert_eq!(b.export_timeout, Duration::from_secs(1));
        assert_eq!(b.schedule_delay, Duration::from_millis(7));
    }
}
