//! The transports of span and log export: `opentelemetry-otlp` exporters built
//! from a signal's settings (endpoint, headers or gRPC metadata, timeout,
//! compression, TLS), the headers checked once for every signal, metrics included.

use std::collections::HashMap;
use std::fmt;

use super::error::ExportError;
use super::retry::{self, Probe};
use crate::config::{Compression, OtlpExport, Protocol};

fn config_error(signal: &'static str, s: &OtlpExport, message: impl fmt::Display) -> ExportError {
    ExportError::Config {
        signal,
        endpoint: s.endpoint.clone(),
        message: message.to_string(),
    }
}

/// The configured headers, checked: names must be HTTP tokens, values visible
/// ASCII.
pub(super) fn http_headers(
    signal: &'static str,
    s: &OtlpExport,
) -> Result<HashMap<String, String>, ExportError> {
    s.headers
        .iter()
        .map(|(k, v)| -> Result<(String, String), ExportError> {
            http::HeaderName::from_bytes(k.as_bytes()).map_err(|_| {
                config_error(
                    signal,
                    s,
                    format!("invalid header name {k:?}: expected an HTTP token"),
                )
            })?;
            http::HeaderValue::from_str(v).map_err(|_| {
                config_error(
                    signal,
                    s,
                    format!("invalid value for header {k:?}: expected visible ASCII"),
                )
            })?;
            Ok((k.to_owned(), v.to_owned()))
        })
        .collect()
}

/// The configured headers as gRPC metadata, checked as [`http_headers`] does.
#[cfg(feature = "grpc")]
pub(super) fn grpc_metadata(
    signal: &'static str,
    s: &OtlpExport,
) -> Result<tonic::metadata::MetadataMap, ExportError> {
    use tonic::metadata::{MetadataKey, MetadataValue};
    let mut map = tonic::metadata::MetadataMap::new();
    for (k, v) in s.headers.iter() {
        let key = MetadataKey::from_bytes(k.to_ascii_lowercase().as_bytes()).map_err(|_| {
            config_error(
                signal,
                s,
                format!("invalid header name {k:?}: expected an HTTP token"),
            )
        })?;
        let value = MetadataValue::try_from(v).map_err(|_| {
            config_error(
                signal,
                s,
                format!("invalid value for header {k:?}: expected visible ASCII"),
            )
        })?;
        map.insert(key, value);
    }
    Ok(map)
}

fn otlp_compression(c: Compression) -> Option<opentelemetry_otlp::Compression> {
    match c {
        Compression::Gzip => Some(opentelemetry_otlp::Compression::Gzip),
        _ => None,
    }
}

/// An `opentelemetry-otlp` exporter for one signal, with its own retries off
/// (ours wait in the queue instead, see `retry.rs`) and, over HTTP, a client that
/// notes each answer for the retry decision.
macro_rules! build_exporter {
    ($signal:literal, $s:expr, $ty:ty) => {{
        use opentelemetry_otlp::{WithExportConfig as _, WithHttpConfig as _};
        let s: &OtlpExport = $s;
        let err = |e: opentelemetry_otlp::ExporterBuildError| config_error($signal, s, e);
        match s.protocol {
            Protocol::HttpProtobuf => {
                let (client, probe) = retry::ProbeClient::new(s, s.timeout)
                    .map_err(|e| config_error($signal, s, e))?;
                let mut b = <$ty>::builder()
                    .with_http()
                    .with_http_client(client)
                    .with_retry_policy(opentelemetry_otlp::RetryPolicy::disabled())
                    .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
                    .with_endpoint(s.endpoint.clone())
                    .with_timeout(s.timeout)
                    .with_headers(http_headers($signal, s)?);
                if let Some(c) = otlp_compression(s.compression) {
                    b = b.with_compression(c);
                }
                b.build().map(|e| (e, Some(probe))).map_err(err)
            }
            #[cfg(feature = "grpc")]
            Protocol::Grpc => {
                use opentelemetry_otlp::WithTonicConfig as _;
                let mut b = <$ty>::builder()
                    .with_tonic()
                    .with_retry_policy(opentelemetry_otlp::RetryPolicy::disabled())
                    .with_endpoint(s.endpoint.clone())
                    .with_timeout(s.timeout)
                    .with_metadata(grpc_metadata($signal, s)?);
                // `https://`: our channel, with observe's TLS configuration.
                if crate::config::is_https(&s.endpoint) {
                    let endpoint =
                        super::tls::grpc_endpoint(s).map_err(|e| config_error($signal, s, e))?;
                    b = b.with_channel(endpoint.timeout(s.timeout).connect_lazy());
                }
                if let Some(c) = otlp_compression(s.compression) {
                    b = b.with_compression(c);
                }
                b.build().map(|e| (e, None)).map_err(err)
            }
            #[cfg(not(feature = "grpc"))]
            _ => Err(config_error(
                $signal,
                s,
                "protocol grpc needs the `grpc` feature of observe-axum, observe-tonic \
                 or observe-core; enable it or use http/protobuf",
            )),
        }
    }};
}

/// An exporter, and where its HTTP client notes the collector's answers.
pub(super) type WithProbe<E> = (E, Option<Probe>);

/// The span exporter `s` describes.
pub(super) fn build_span_exporter(
    s: &OtlpExport,
) -> Result<WithProbe<opentelemetry_otlp::SpanExporter>, ExportError> {
    build_exporter!("traces", s, opentelemetry_otlp::SpanExporter)
}

/// The log exporter `s` describes.
pub(super) fn build_log_exporter(
    s: &OtlpExport,
) -> Result<WithProbe<opentelemetry_otlp::LogExporter>, ExportError> {
    build_exporter!("logs", s, opentelemetry_otlp::LogExporter)
}
