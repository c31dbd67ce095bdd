//! OTLP metrics: the registry's HDR histograms as exponential histograms, sent on a
//! schedule from a thread of their own.
//!
//! `opentelemetry-otlp`'s metric exporter takes the SDK's metric data types, which
//! cannot be built outside the SDK; the request is therefore built with the
//! `opentelemetry-proto` types (`otel::metrics::otlp_request`) and sent here, to the same
//! endpoint, with the same protocol, headers, timeout and compression as the other
//! signals: protobuf over HTTP with `reqwest`, or gRPC with the generated tonic
//! client (feature `grpc`). Recording never waits for it: the request is built from
//! the per-thread counters by reading, and a collector that is down only costs this
//! thread its timeout. Over gRPC the sender keeps one channel, connected on first
//! use and reconnected by tonic when the collector comes back. A failed send is not
//! retried (the next interval sends the registry again, cumulative); failures are
//! counted and reported as rate-limited warnings, as span and log export failures
//! are.

use std::io::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message as _;

use crate::config::Service;
use crate::config::{Compression, OtlpExport, Protocol};
use crate::pipeline::ThreadHealth;

/// What the metrics exporter did so far.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct MetricsExportStats {
    /// Requests the collector accepted.
    pub exports: u64,
    /// Requests that failed (refused, erroring, or no answer within the timeout).
    pub failures: u64,
    /// The last error, if any.
    pub last_error: Option<String>,
}

#[derive(Debug, Default)]
struct Counters {
    exports: AtomicU64,
    failures: AtomicU64,
    last_error: Mutex<Option<String>>,
    /// The endpoint's query, which errors must not repeat.
    hidden: Vec<String>,
}

enum Control {
    Shutdown {
        deadline: Instant,
        /// Whether the last send was taken.
        reply: mpsc::SyncSender<bool>,
    },
}

/// Sends the process-wide metrics registry over OTLP every interval, and once more
/// when shut down.
#[derive(Debug, Clone)]
pub struct MetricsExporter {
    control: mpsc::Sender<Control>,
    counters: Arc<Counters>,
    health: Arc<ThreadHealth>,
}

/// The resource of a metrics request, as OTLP protobuf.
fn proto_resource(info: &Service) -> Resource {
    let attributes =
        opentelemetry_proto::transform::common::tonic::ResourceAttributesWithSchema::from(
            &crate::otel::convert::resource(info),
        )
        .attributes
        .0;
    Resource {
        attributes,
        ..Resource::default()
    }
}

fn proto_scope() -> InstrumentationScope {
    InstrumentationScope {
        name: "observe".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        ..InstrumentationScope::default()
    }
}

impl MetricsExporter {
    /// Starts the sender: every `interval`, the registry is sent to `target`, each
    /// request taking at most `timeout`.
    ///
    /// # Errors
    /// The thread or its runtime could not start, or the target needs a feature
    /// this build lacks (gRPC without `grpc`).
    pub fn start(
        target: OtlpExport,
        interval: Duration,
        timeout: Duration,
        resource: &Service,
    ) -> std::io::Result<MetricsExporter> {
        if target.protocol == Protocol::Grpc && !cfg!(feature = "grpc") {
            return Err(std::io::Error::other(
                "OTLP metrics over grpc need observe-core's `grpc` feature",
            ));
        }
        let hidden = target.query().map(str::to_owned).into_iter().collect();
        let sender = Sender::new(target, timeout)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        let (tx, rx) = mpsc::channel::<Control>();
        let counters = Arc::new(Counters {
            hidden,
            ..Counters::default()
        });
        let thread_counters = counters.clone();
        let health = ThreadHealth::new("observe-metrics-export");
        let thread_health = health.clone();
        let resource = proto_resource(resource);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let spawned = std::thread::Builder::new()
            .name("observe-metrics-export".into())
            .spawn(move || {
                let _watch = thread_health.watch();
                // Libraries used here (hyper, h2) may log through `tracing`; their
                // lines must not loop back into export.
                let _quiet =
                    tracing::subscriber::set_default(tracing::subscriber::NoSubscriber::default());
                let mut sender = sender;
                let interval = interval.max(Duration::from_millis(100));
                let mut next = crate::clock::deadline_after(interval);
                // One send per round; a panic (building the request, sending it)
                // costs that round only.
                // Whether the collector took it.
                let mut send = |deadline: Option<Instant>| {
                    let result = thread_health.guard(|| {
                        let request =
                            crate::otel::metrics::otlp_request(resource.clone(), proto_scope());
                        runtime.block_on(sender.send(request, deadline))
                    });
                    let result =
                        result.unwrap_or_else(|| Err("metrics: the sender panicked".into()));
                    let sent = result.is_ok();
                    thread_counters.settle(result);
                    sent
                };
                loop {
                    let wait = next.saturating_duration_since(Instant::now());
                    match rx.recv_timeout(wait) {
                        Err(mpsc::RecvTimeoutError::Timeout) => {
                            next = crate::clock::deadline_after(interval);
                            send(None);
                        }
                        Ok(Control::Shutdown { deadline, reply }) => {
                            let _ = reply.try_send(send(Some(deadline)));
                            return;
                        }
                        Err(mpsc::RecvTimeoutError::Disconnected) => return,
                    }
                }
            });
        if let Err(e) = spawned {
            health.mark_dead();
            return Err(e);
        }
        Ok(MetricsExporter {
            control: tx,
            counters,
            health,
        })
    }

    /// The health of the sender's thread.
    pub(crate) fn health(&self) -> Arc<ThreadHealth> {
        self.health.clone()
    }

    /// The counters so far.
    pub fn stats(&self) -> MetricsExportStats {
        MetricsExportStats {
            exports: self.counters.exports.load(Ordering::Relaxed),
            failures: self.counters.failures.load(Ordering::Relaxed),
            last_error: self
                .counters
                .last_error
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        }
    }

    /// Sends the registry one last time and stops, waiting at most until
    /// `deadline`. Returns whether the collector took it in time.
    pub fn shutdown(&self, deadline: Instant) -> bool {
        let (reply, done) = mpsc::sync_channel(1);
        if self
            .control
            .send(Control::Shutdown { deadline, reply })
            .is_err()
        {
            // The thread is gone (stopped already, or died): nothing was sent now.
            return false;
        }
        matches!(
            done.recv_timeout(deadline.saturating_duration_since(Instant::now())),
            Ok(true)
        )
    }
}

impl Counters {
    fn settle(&self, result: Result<(), String>) {
        match result {
            Ok(()) => {
                self.exports.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                self.failures.fetch_add(1, Ordering::Relaxed);
                let e = super::stats::hide_queries(e, &self.hidden);
                *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(e);
            }
        }
    }
}

/// One destination, over HTTP or gRPC. Its headers are checked once, at start.
struct Sender {
    target: OtlpExport,
    timeout: Duration,
    http: super::tls::OtlpHttpClient,
    #[cfg(feature = "grpc")]
    metadata: tonic::metadata::MetadataMap,
    /// The gRPC channel: made on first use (it needs the runtime), then kept;
    /// tonic reconnects it when the collector comes back.
    #[cfg(feature = "grpc")]
    channel: Option<tonic::transport::Channel>,
    /// The gRPC endpoint, with its TLS configuration, checked at start.
    #[cfg(feature = "grpc")]
    endpoint: Option<tonic::transport::Endpoint>,
}

impl Sender {
    fn new(target: OtlpExport, timeout: Duration) -> Result<Sender, String> {
        let invalid = |e: super::ExportError| e.to_string();
        super::transport::http_headers("metrics", &target).map_err(invalid)?;
        #[cfg(feature = "grpc")]
        let metadata = if target.protocol == Protocol::Grpc {
            super::transport::grpc_metadata("metrics", &target).map_err(invalid)?
        } else {
            tonic::metadata::MetadataMap::new()
        };
        // TLS is configured (and its files read) here, so that a bad setting is
        // an error at start, never a plaintext request later.
        let http = match target.protocol {
            Protocol::HttpProtobuf => super::tls::http_client(&target, timeout),
            _ => reqwest::Client::builder()
                .build()
                .map(super::tls::OtlpHttpClient::Plain)
                .map_err(|e| e.to_string()),
        }
        .map_err(|e| format!("metrics: {e}"))?;
        #[cfg(feature = "grpc")]
        let endpoint = match target.protocol {
            Protocol::Grpc => {
                Some(super::tls::grpc_endpoint(&target).map_err(|e| format!("metrics: {e}"))?)
            }
            _ => None,
        };
        Ok(Sender {
            target,
            timeout,
            http,
            #[cfg(feature = "grpc")]
            metadata,
            #[cfg(feature = "grpc")]
            channel: None,
            #[cfg(feature = "grpc")]
            endpoint,
        })
    }

    fn timeout(&self, deadline: Option<Instant>) -> Duration {
        match deadline {
            Some(d) => self
                .timeout
                .min(d.saturating_duration_since(Instant::now())),
            None => self.timeout,
        }
    }

    async fn send(
        &mut self,
        request: ExportMetricsServiceRequest,
        deadline: Option<Instant>,
    ) -> Result<(), String> {
        // Nothing recorded yet: the request always holds one resource and one scope,
        // so it is the metrics inside that say whether there is anything to send.
        if request
            .resource_metrics
            .iter()
            .flat_map(|r| &r.scope_metrics)
            .all(|s| s.metrics.is_empty())
        {
            return Ok(());
        }
        let timeout = self.timeout(deadline);
        match self.target.protocol {
            #[cfg(feature = "grpc")]
            Protocol::Grpc => self.send_grpc(request, timeout).await,
            _ => self.send_http(request, timeout).await,
        }
    }

    async fn send_http(
        &self,
        request: ExportMetricsServiceRequest,
        timeout: Duration,
    ) -> Result<(), String> {
        let mut body = request.encode_to_vec();
        let mut builder = http::Request::post(&self.target.endpoint)
            .header(http::header::CONTENT_TYPE, "application/x-protobuf");
        if self.target.compression == Compression::Gzip {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            enc.write_all(&body).map_err(|e| e.to_string())?;
            body = enc.finish().map_err(|e| e.to_string())?;
            builder = builder.header(http::header::CONTENT_ENCODING, "gzip");
        }
        for (k, v) in self.target.headers.iter() {
            builder = builder.header(k, v);
        }
        let request = builder
            .body(body.into())
            .map_err(|e| format!("metrics: {e}"))?;
        let response = tokio::time::timeout(timeout, self.http.send(request))
            .await
            .map_err(|_| format!("metrics: no answer within {timeout:?}"))?
            .map_err(|e| format!("metrics: {}", super::retry::error_chain(e.as_ref())))?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(format!(
                "metrics: the collector answered {}",
                response.status()
            ))
        }
    }

    /// The gRPC channel, made on first use.
    #[cfg(feature = "grpc")]
    fn channel(&mut self) -> Result<tonic::transport::Channel, String> {
        if let Some(c) = &self.channel {
            return Ok(c.clone());
        }
        let channel = match &self.endpoint {
            Some(e) => e.clone(),
            None => super::tls::grpc_endpoint(&self.target).map_err(|e| format!("metrics: {e}"))?,
        }
        .connect_timeout(self.timeout)
        .connect_lazy();
        self.channel = Some(channel.clone());
        Ok(channel)
    }

    #[cfg(feature = "grpc")]
    async fn send_grpc(
        &mut self,
        request: ExportMetricsServiceRequest,
        timeout: Duration,
    ) -> Result<(), String> {
        use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
        let mut client = MetricsServiceClient::new(self.channel()?);
        if self.target.compression == Compression::Gzip {
            client = client.send_compressed(tonic::codec::CompressionEncoding::Gzip);
        }
        let mut req = tonic::Request::new(request);
        *req.metadata_mut() = self.metadata.clone();
        req.set_timeout(timeout);
        tokio::time::timeout(timeout, client.export(req))
            .await
            .map_err(|_| "metrics: no answer from the collector within the timeout".to_owned())?
            .map(|_| ())
            .map_err(|e| format!("metrics: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::metrics::v1::{Metric, ResourceMetrics, ScopeMetrics};

    use super::*;

    fn request(metrics: Vec<Metric>) -> ExportMetricsServiceRequest {
        ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                resource: Some(Resource::default()),
                scope_metrics: vec![ScopeMetrics {
                    scope: Some(proto_scope()),
                    metrics,
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            }],
        }
    }

    #[test]
    fn an_empty_registry_sends_nothing() {
        // Nothing listens on the port: only a request that is really sent fails.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let target = OtlpExport::http(format!("http://127.0.0.1:{port}/v1/metrics"));
        let mut sender = Sender::new(target, Duration::from_secs(5)).expect("valid target");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        assert_eq!(rt.block_on(sender.send(request(Vec::new()), None)), Ok(()));
        let one = Metric {
            name: "jobs".into(),
            ..Metric::default()
        };
        assert!(rt.block_on(sender.send(request(vec![one]), None)).is_err());
    }
}
