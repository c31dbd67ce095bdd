//! The exporter thread, its queues and the sink that feeds them.

use std::collections::HashMap;
use std::fmt;
use std::mem::size_of;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::Ordering;
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use futures_util::FutureExt as _;
use opentelemetry::InstrumentationScope;
use opentelemetry::trace::Event;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::logs::{LogBatch, LogExporter, SdkLogRecord};
use opentelemetry_sdk::trace::SpanExporter;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

use super::pending::PendingEvents;
use super::queue::Queue;
use super::retry::{self, Backoff, Failure, Probe};
use super::settings::normalized;
use super::stats::{Counters, ExportStats, SignalCounters};
use crate::config::ExportConfig;
use crate::config::Service;
use crate::config::{BatchConfig, Compression, OtlpExport, Protocol};
use crate::log::LogRecord;
use crate::otel::convert::{self, LogConverter};
use crate::pipeline::size::{log_heap, span_heap};
use crate::pipeline::{Sink, ThreadHealth};
use crate::recorder::{Promote, PromotedTrace};
use crate::span::SpanRecord;

/// Why the exporter could not start.
#[derive(Debug)]
#[non_exhaustive]
pub enum ExportError {
    /// A signal's settings were refused (endpoint, header, compression...).
    Config {
        /// `traces` or `logs`.
        signal: &'static str,
        /// The endpoint configured for it.
        endpoint: String,
        /// What was wrong and what is accepted.
        message: String,
    },
    /// The exporter thread or its runtime could not be started.
    Thread(std::io::Error),
}

impl fmt::Display for ExportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExportError::Config {
                signal,
                endpoint,
                message,
            } => write!(
                f,
                "invalid OTLP {signal} export settings (endpoint {endpoint:?}): {message}"
            ),
            ExportError::Thread(e) => write!(f, "the OTLP exporter thread could not start: {e}"),
        }
    }
}

impl std::error::Error for ExportError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ExportError::Thread(e) => Some(e),
            ExportError::Config { .. } => None,
        }
    }
}

/// What the span queue carries: spans, and log records to join to them as events.
#[derive(Debug)]
pub(super) enum SpanItem {
    Span(SpanRecord),
    Event(Box<LogRecord>),
}

impl SpanItem {
    fn is_span(&self) -> bool {
        matches!(self, SpanItem::Span(_))
    }

    /// The bytes it holds in the queue: its slot and the heap it owns, as the
    /// flight recorder counts them.
    pub(super) fn size(&self) -> usize {
        size_of::<(SpanItem, usize)>()
            + match self {
                SpanItem::Span(s) => span_heap(s),
                SpanItem::Event(l) => log_heap(l),
            }
    }
}

/// The bytes a log record holds in the log queue: its slot and its heap.
pub(super) fn log_size(l: &LogRecord) -> usize {
    size_of::<(LogRecord, usize)>() + log_heap(l) - size_of::<LogRecord>()
}

enum Control {
    Flush {
        deadline: Instant,
        reply: mpsc::SyncSender<()>,
    },
    Shutdown {
        deadline: Instant,
        reply: mpsc::SyncSender<()>,
    },
}

struct Inner {
    settings: ExportConfig,
    counters: Arc<Counters>,
    spans: Option<Arc<Queue<SpanItem>>>,
    logs: Option<Arc<Queue<LogRecord>>>,
    control: Vec<UnboundedSender<Control>>,
    health: Arc<ThreadHealth>,
}

/// The OTLP exporter: a handle on its thread, shareable and cheap to clone. Get
/// the [`Sink`] that feeds it with [`sink`](Exporter::sink); read its counters with
/// [`stats`](Exporter::stats). It also receives promoted traces from the flight
/// recorder (it implements [`Promote`]).
#[derive(Clone)]
pub struct Exporter {
    inner: Arc<Inner>,
}

impl fmt::Debug for Exporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Exporter")
            .field("traces", &self.inner.settings.traces)
            .field("logs", &self.inner.settings.logs)
            .field("stats", &self.stats())
            .finish()
    }
}

impl Exporter {
    /// Starts the exporter thread with `opentelemetry-otlp` exporters for the
    /// signals `settings` names. Fails when a signal's settings are invalid (a
    /// malformed endpoint or header, gRPC without the `grpc` feature, gzip over HTTP
    /// without the `gzip` feature). Nothing is sent until records arrive; a
    /// collector that is down is not an error here.
    pub fn start(settings: ExportConfig, resource: &Service) -> Result<Exporter, ExportError> {
        let traces = settings.traces.clone();
        let logs = settings.logs.clone();
        spawn(settings, resource, move || {
            let spans = traces.as_ref().map(build_span_exporter).transpose()?;
            let logs = logs.as_ref().map(build_log_exporter).transpose()?;
            Ok((spans, logs))
        })
    }

    /// Starts the exporter thread with exporters of your own (an in-process
    /// receiver, a no-op exporter for benchmarks). `settings.traces` and
    /// `settings.logs` only say which signals are on; their endpoints are not used.
    ///
    /// Failures of your exporters are retried when they say they are transient:
    /// [`OTelSdkError::Timeout`](opentelemetry_sdk::error::OTelSdkError), or a
    /// message naming a transient OTLP status as `opentelemetry-otlp` does
    /// (`"gRPC code: Unavailable"`, `"status code: 503"`, `"network error"`).
    pub fn with_exporters<S, L>(
        settings: ExportConfig,
        resource: &Service,
        spans: Option<S>,
        logs: Option<L>,
    ) -> Result<Exporter, ExportError>
    where
        S: SpanExporter + 'static,
        L: LogExporter + 'static,
    {
        let mut settings = settings;
        if spans.is_none() {
            settings.traces = None;
        } else if settings.traces.is_none() {
            settings.traces = Some(OtlpExport::http("in-process"));
        }
        if logs.is_none() {
            settings.logs = None;
        } else if settings.logs.is_none() {
            settings.logs = Some(OtlpExport::http("in-process"));
        }
        spawn(settings, resource, move || {
            Ok((spans.map(|s| (s, None)), logs.map(|l| (l, None))))
        })
    }

    /// The sink to add to the pipeline.
    pub fn sink(&self) -> ExportSink {
        ExportSink {
            exporter: self.clone(),
            spans: Vec::new(),
            logs: Vec::new(),
            last_warn: None,
            warned: (0, 0, 0),
        }
    }

    /// The counters so far.
    pub fn stats(&self) -> ExportStats {
        let mut s = self.inner.counters.snapshot();
        s.panics = self.inner.health.panics();
        s
    }

    /// The settings it runs with.
    pub fn settings(&self) -> &ExportConfig {
        &self.inner.settings
    }

    /// The health of the exporter thread, supervised with the pipeline it serves.
    pub(crate) fn health(&self) -> Arc<ThreadHealth> {
        self.inner.health.clone()
    }

    fn enqueue_spans(&self, pending: &mut Vec<SpanItem>) {
        if let Some(q) = &self.inner.spans {
            q.push(pending, &self.inner.counters.spans);
        } else {
            pending.clear();
        }
    }

    fn enqueue_logs(&self, pending: &mut Vec<LogRecord>) {
        if let Some(q) = &self.inner.logs {
            q.push(pending, &self.inner.counters.logs);
        } else {
            pending.clear();
        }
    }

    /// Exports everything queued, waiting at most until `deadline`. Returns
    /// whether the exporter thread finished in time (false as well when the thread
    /// is gone).
    pub fn flush(&self, deadline: Instant) -> bool {
        self.request(deadline, |deadline, reply| Control::Flush {
            deadline,
            reply,
        })
    }

    /// Exports everything queued and stops the exporter thread, waiting at most
    /// until `deadline` (what is still queued then is counted as dropped, a batch
    /// still failing as failed). Returns whether it finished in time.
    pub fn shutdown(&self, deadline: Instant) -> bool {
        self.request(deadline, |deadline, reply| Control::Shutdown {
            deadline,
            reply,
        })
    }

    fn request(
        &self,
        deadline: Instant,
        make: impl Fn(Instant, mpsc::SyncSender<()>) -> Control,
    ) -> bool {
        let (tx, rx) = mpsc::sync_channel(self.inner.control.len());
        let mut expected = 0;
        let mut reached = true;
        for c in &self.inner.control {
            if c.send(make(deadline, tx.clone())).is_ok() {
                expected += 1;
            } else {
                // The signal's task is gone (stopped already, or its thread died).
                reached = false;
            }
        }
        drop(tx);
        for _ in 0..expected {
            let wait = deadline.saturating_duration_since(Instant::now());
            if rx.recv_timeout(wait).is_err() {
                return false;
            }
        }
        reached && !self.inner.health.is_dead()
    }
}

impl Promote for Exporter {
    /// Queues a promoted trace for export: its log records first (joined to their
    /// spans as events), then its spans.
    fn promote(&mut self, trace: PromotedTrace) {
        if self.inner.spans.is_none() {
            return;
        }
        let PromotedTrace { spans, logs, .. } = trace;
        let n = spans.len() as u64;
        let mut items: Vec<SpanItem> = logs
            .into_iter()
            .filter(|l| l.span().is_some())
            .map(|l| SpanItem::Event(Box::new(l)))
            .collect();
        items.extend(spans.into_iter().map(SpanItem::Span));
        self.inner.counters.promoted.fetch_add(n, Ordering::Relaxed);
        self.enqueue_spans(&mut items);
    }
}

/// Records kept on the worker before they are moved into the queue in one go.
const LOCAL_BATCH: usize = 256;

/// The [`Sink`] of an [`Exporter`]: runs on observe's worker thread, selects what
/// is exported and queues it, never waiting for the network.
pub struct ExportSink {
    exporter: Exporter,
    spans: Vec<SpanItem>,
    logs: Vec<LogRecord>,
    last_warn: Option<Instant>,
    /// Failed batches, dropped records and retries already warned about.
    warned: (u64, u64, u64),
}

impl fmt::Debug for ExportSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExportSink")
            .field("exporter", &self.exporter)
            .finish_non_exhaustive()
    }
}

/// Whether a log record is one of observe's own warnings about export or about its
/// background threads: written to the log, never exported, so trouble there cannot
/// feed itself.
pub(crate) fn is_own_warning(log: &LogRecord) -> bool {
    log.target() == "observe"
        && log.field("component").is_some_and(|v| {
            let v = v.to_string();
            v == "export" || v == crate::pipeline::supervise::COMPONENT
        })
}

impl ExportSink {
    fn push_pending(&mut self) {
        self.exporter.enqueue_spans(&mut self.spans);
        self.exporter.enqueue_logs(&mut self.logs);
    }

    fn maybe_warn(&mut self, now: Instant) {
        let interval = self.exporter.inner.settings.warn_interval;
        if self
            .last_warn
            .is_some_and(|last| now.saturating_duration_since(last) < interval)
        {
            return;
        }
        let c = &self.exporter.inner.counters;
        let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        let failed = load(&c.spans.batches_failed) + load(&c.logs.batches_failed);
        let dropped = load(&c.spans.dropped) + load(&c.logs.dropped);
        let retries = load(&c.spans.retries) + load(&c.logs.retries);
        let (f0, d0, r0) = self.warned;
        if failed <= f0 && dropped <= d0 && retries <= r0 {
            return;
        }
        let stats = self.exporter.stats();
        let message = if failed > f0 || dropped > d0 {
            "OTLP export is losing data (collector down, slow or refusing, or export queue full)"
        } else {
            "OTLP export is retrying: the collector is unreachable or busy; batches wait in the export queue"
        };
        tracing::warn!(
            target: "observe",
            component = "export",
            failed_batches = failed - f0,
            dropped_records = dropped - d0,
            retries = retries - r0,
            spans_failed = stats.spans_failed,
            spans_dropped = stats.spans_dropped,
            spans_waiting = stats.spans_queued + stats.spans_in_flight,
            logs_failed = stats.logs_failed,
            logs_dropped = stats.logs_dropped,
            last_error = stats.last_error.as_deref().unwrap_or(""),
            "{message}"
        );
        self.warned = (failed, dropped, retries);
        self.last_warn = Some(now);
    }
}

impl Sink for ExportSink {
    fn on_span(&mut self, span: &SpanRecord) {
        // Unsampled spans cost the exporter nothing (tail promotion sends the ones
        // that turn out to matter, through `Promote`).
        if !span.is_sampled() || self.exporter.inner.spans.is_none() {
            return;
        }
        self.spans.push(SpanItem::Span(span.clone()));
        if self.spans.len() >= LOCAL_BATCH {
            self.exporter.enqueue_spans(&mut self.spans);
        }
    }

    fn on_log(&mut self, log: &LogRecord) {
        let attach =
            self.exporter.inner.spans.is_some() && log.span().is_some_and(|s| s.flags.is_sampled());
        let export = self.exporter.inner.logs.is_some() && !is_own_warning(log);
        if attach {
            self.spans.push(SpanItem::Event(Box::new(log.clone())));
        }
        if export {
            self.logs.push(log.clone());
        }
        if self.spans.len() >= LOCAL_BATCH || self.logs.len() >= LOCAL_BATCH {
            self.push_pending();
        }
    }

    fn on_tick(&mut self, now: Instant) {
        self.push_pending();
        self.maybe_warn(now);
    }

    fn flush(&mut self, deadline: Instant) {
        self.push_pending();
        self.exporter.flush(deadline);
    }

    fn shutdown(&mut self, deadline: Instant) {
        self.push_pending();
        self.exporter.shutdown(deadline);
    }
}

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

type WithProbe<E> = (E, Option<Probe>);

fn build_span_exporter(
    s: &OtlpExport,
) -> Result<WithProbe<opentelemetry_otlp::SpanExporter>, ExportError> {
    build_exporter!("traces", s, opentelemetry_otlp::SpanExporter)
}

fn build_log_exporter(
    s: &OtlpExport,
) -> Result<WithProbe<opentelemetry_otlp::LogExporter>, ExportError> {
    build_exporter!("logs", s, opentelemetry_otlp::LogExporter)
}

type Made<S, L> = Result<(Option<WithProbe<S>>, Option<WithProbe<L>>), ExportError>;

fn spawn<S, L>(
    settings: ExportConfig,
    resource: &Service,
    make: impl FnOnce() -> Made<S, L> + Send + 'static,
) -> Result<Exporter, ExportError>
where
    S: SpanExporter + 'static,
    L: LogExporter + 'static,
{
    let mut settings = settings;
    settings.span_batch = normalized(settings.span_batch);
    settings.log_batch = normalized(settings.log_batch);
    let counters = Arc::new(Counters::default());
    let health = ThreadHealth::new("observe-export");
    let spans = settings.traces.as_ref().map(|_| {
        Arc::new(Queue::new(
            settings.span_batch,
            settings.span_queue_bytes,
            SpanItem::is_span,
            SpanItem::size,
        ))
    });
    let logs = settings.logs.as_ref().map(|_| {
        Arc::new(Queue::new(
            settings.log_batch,
            settings.log_queue_bytes,
            |_| true,
            log_size,
        ))
    });
    let (span_ctl_tx, span_ctl_rx) = unbounded_channel();
    let (log_ctl_tx, log_ctl_rx) = unbounded_channel();
    let mut control = Vec::new();
    if spans.is_some() {
        control.push(span_ctl_tx);
    }
    if logs.is_some() {
        control.push(log_ctl_tx);
    }
    let resource = convert::resource(resource);
    let span_timeout = settings
        .traces
        .as_ref()
        .map_or(Duration::ZERO, |s| s.timeout);
    let log_timeout = settings.logs.as_ref().map_or(Duration::ZERO, |s| s.timeout);
    let (ready_tx, ready_rx) = mpsc::sync_channel::<Result<(), ExportError>>(1);
    let thread = {
        let counters = counters.clone();
        let spans = spans.clone();
        let logs = logs.clone();
        let health = health.clone();
        move || {
            let _watch = health.watch();
            // Whatever the export stack logs or traces (hyper, h2, tonic) must not
            // come back into observe and be exported in turn.
            let _silence = tracing::dispatcher::set_default(&tracing::Dispatch::none());
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = ready_tx.send(Err(ExportError::Thread(e)));
                    return;
                }
            };
            // The gRPC channel is built lazily but needs the runtime in context.
            let made = {
                let _enter = rt.enter();
                make()
            };
            let (span_exporter, log_exporter) = match made {
                Ok(m) => m,
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return;
                }
            };
            let _ = ready_tx.send(Ok(()));
            let span_task = async {
                if let (Some((mut e, probe)), Some(q)) = (span_exporter, spans) {
                    e.set_resource(&resource);
                    let lane = SpanLane {
                        exporter: e,
                        scope: convert::scope(),
                        pending: PendingEvents::default(),
                        probe,
                    };
                    let c = &counters.spans;
                    let d = Driver::new(lane, q, c, &counters, &health, "traces", span_timeout);
                    d.run(span_ctl_rx).await;
                }
            };
            let log_task = async {
                if let (Some((mut e, probe)), Some(q)) = (log_exporter, logs) {
                    e.set_resource(&resource);
                    let lane = LogLane {
                        exporter: e,
                        scope: convert::scope(),
                        converter: LogConverter::new(),
                        probe,
                    };
                    let c = &counters.logs;
                    let d = Driver::new(lane, q, c, &counters, &health, "logs", log_timeout);
                    d.run(log_ctl_rx).await;
                }
            };
            rt.block_on(futures_util::future::join(span_task, log_task));
        }
    };
    std::thread::Builder::new()
        .name("observe-export".into())
        .spawn(thread)
        .map_err(ExportError::Thread)?;
    match ready_rx.recv() {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(e),
        Err(_) => {
            return Err(ExportError::Thread(std::io::Error::other(
                "the exporter thread stopped while starting",
            )));
        }
    }
    Ok(Exporter {
        inner: Arc::new(Inner {
            settings,
            counters,
            spans,
            logs,
            control,
            health,
        }),
    })
}

/// What a signal's export driver needs of the signal: how a batch of queued items
/// becomes something to send, and how to send it (again, when retried).
trait Lane {
    type Item;
    type Batch;
    /// The batch of `items` and how many records it holds. A record whose
    /// conversion panics is left out and counted in `failed`.
    fn prepare(
        &mut self,
        items: Vec<Self::Item>,
        health: &ThreadHealth,
        failed: &mut u64,
    ) -> (Self::Batch, u64);
    /// Sends `batch`; records that cannot be sent at all (their conversion panics)
    /// are removed from it and their number returned.
    async fn send(&self, batch: &mut Self::Batch, health: &ThreadHealth) -> (OTelSdkResult, u64);
    /// Where the HTTP client notes the collector's answers, if it does.
    fn probe(&self) -> Option<&Probe>;
    /// Events dropped since the last call (spans only).
    fn take_events_dropped(&mut self) -> u64 {
        0
    }
    /// At shutdown: drops what still waits (events whose span never came) and
    /// says how many there were.
    fn abandon(&mut self) -> u64 {
        0
    }
}

/// Spans, with the log records queued before them joined as their events. A batch
/// keeps observe's records and is converted for each attempt: the SDK's
/// `export` takes its batch by value, and converting again on a retry costs what
/// cloning would cost on every first attempt.
struct SpanLane<S> {
    exporter: S,
    scope: InstrumentationScope,
    pending: PendingEvents,
    probe: Option<Probe>,
}

impl<S: SpanExporter> Lane for SpanLane<S> {
    type Item = SpanItem;
    type Batch = Vec<(SpanRecord, Vec<Event>)>;

    fn prepare(
        &mut self,
        items: Vec<SpanItem>,
        health: &ThreadHealth,
        _failed: &mut u64,
    ) -> (Self::Batch, u64) {
        let now = Instant::now();
        let mut batch = Vec::with_capacity(items.len());
        for item in items {
            match item {
                SpanItem::Event(log) => {
                    let Some(span) = log.span().map(|s| s.span_id) else {
                        continue;
                    };
                    match health.guard(|| convert::log_event(&log)) {
                        Some(event) => self.pending.add(span, event, now),
                        None => self.pending.count_dropped(1),
                    }
                }
                SpanItem::Span(span) => {
                    let events = self.pending.take(span.span_id());
                    batch.push((span, events));
                }
            }
        }
        self.pending.expire(now);
        let n = batch.len() as u64;
        (batch, n)
    }

    async fn send(&self, batch: &mut Self::Batch, health: &ThreadHealth) -> (OTelSdkResult, u64) {
        let mut data = Vec::with_capacity(batch.len());
        let before = batch.len();
        batch.retain(|(span, events)| {
            match health.guard(|| convert::span_data(span, events.clone(), &self.scope)) {
                Some(d) => {
                    data.push(d);
                    true
                }
                None => false,
            }
        });
        let removed = (before - batch.len()) as u64;
        if data.is_empty() {
            return (Ok(()), removed);
        }
        (self.exporter.export(data).await, removed)
    }

    fn probe(&self) -> Option<&Probe> {
        self.probe.as_ref()
    }

    fn take_events_dropped(&mut self) -> u64 {
        self.pending.take_dropped()
    }

    fn abandon(&mut self) -> u64 {
        std::mem::take(&mut self.pending).waiting_events()
    }
}

/// Log records, converted once (the SDK's log `export` borrows its batch, so a
/// retry sends the same records again).
struct LogLane<L> {
    exporter: L,
    scope: InstrumentationScope,
    converter: LogConverter,
    probe: Option<Probe>,
}

impl<L: LogExporter> Lane for LogLane<L> {
    type Item = LogRecord;
    type Batch = Vec<SdkLogRecord>;

    fn prepare(
        &mut self,
        items: Vec<LogRecord>,
        health: &ThreadHealth,
        failed: &mut u64,
    ) -> (Self::Batch, u64) {
        let mut records = Vec::with_capacity(items.len());
        for l in &items {
            match health.guard(|| self.converter.convert(l)) {
                Some(r) => records.push(r),
                None => *failed += 1,
            }
        }
        let n = records.len() as u64;
        (records, n)
    }

    async fn send(&self, batch: &mut Self::Batch, _: &ThreadHealth) -> (OTelSdkResult, u64) {
        let refs: Vec<_> = batch.iter().map(|r| (r, &self.scope)).collect();
        (self.exporter.export(LogBatch::new(&refs)).await, 0)
    }

    fn probe(&self) -> Option<&Probe> {
        self.probe.as_ref()
    }
}

/// A batch taken from the queue and not settled yet: in a request, or waiting to
/// be retried after a transient failure.
struct Held<B> {
    batch: B,
    records: u64,
    /// The queue's eviction count when the batch was taken: if it moved, the queue
    /// dropped records younger than this batch, so this batch should have gone
    /// first.
    evicted: u64,
    /// Not to be sent before this (the backoff, or the collector's `Retry-After`).
    not_before: Instant,
}

/// What woke an export task.
enum Wake {
    Work,
    Control(Control),
    Closed,
}

/// Drives one signal: takes batches from its queue, sends them, retries transient
/// failures with backoff while the batch waits (and the queue keeps filling up to
/// its bound, dropping its oldest records when full), and answers flush and
/// shutdown within their deadlines.
struct Driver<'a, L: Lane> {
    lane: L,
    q: Arc<Queue<L::Item>>,
    c: &'a SignalCounters,
    counters: &'a Counters,
    health: &'a ThreadHealth,
    signal: &'static str,
    timeout: Duration,
    held: Option<Held<L::Batch>>,
    backoff: Backoff,
}

impl<'a, L: Lane> Driver<'a, L> {
    fn new(
        lane: L,
        q: Arc<Queue<L::Item>>,
        c: &'a SignalCounters,
        counters: &'a Counters,
        health: &'a ThreadHealth,
        signal: &'static str,
        timeout: Duration,
    ) -> Self {
        Driver {
            lane,
            q,
            c,
            counters,
            health,
            signal,
            timeout,
            held: None,
            backoff: Backoff::default(),
        }
    }

    /// Serves until shutdown (then shuts the exporter down and answers) or until
    /// the exporter handle goes away. A panic that escapes the per-record and
    /// per-request guards is caught here, counted, and serving resumes.
    async fn run(mut self, mut ctl: UnboundedReceiver<Control>) {
        loop {
            let served = AssertUnwindSafe(self.serve(&mut ctl)).catch_unwind().await;
            match served {
                Ok(Some((_deadline, reply))) => {
                    let _ = reply.try_send(());
                    return;
                }
                Ok(None) => return,
                Err(panic) => {
                    self.health.caught(panic);
                    // What it held is in an unknown state: count it as failed.
                    self.release(false);
                }
            }
        }
    }

    async fn serve(
        &mut self,
        ctl: &mut UnboundedReceiver<Control>,
    ) -> Option<(Instant, mpsc::SyncSender<()>)> {
        let mut retry_at = None;
        loop {
            match self.wait(ctl, retry_at).await {
                Wake::Work => retry_at = self.export(None).await,
                Wake::Control(Control::Flush { deadline, reply }) => {
                    retry_at = self.export(Some(deadline)).await;
                    let _ = reply.try_send(());
                }
                Wake::Control(Control::Shutdown { deadline, reply }) => {
                    self.export(Some(deadline)).await;
                    // A batch still failing at the deadline counts as failed.
                    self.release(false);
                    self.q.drop_all(self.c);
                    let left = self.lane.take_events_dropped() + self.lane.abandon();
                    self.c.events_dropped.fetch_add(left, Ordering::Relaxed);
                    return Some((deadline, reply));
                }
                Wake::Closed => return None,
            }
        }
    }

    /// Waits for work (a full batch, or the schedule delay), a control message,
    /// or the time to retry the batch held. While a batch waits for its retry, new
    /// work does not wake the task: the collector is given its time.
    async fn wait(&self, ctl: &mut UnboundedReceiver<Control>, retry_at: Option<Instant>) -> Wake {
        let timer = async {
            match retry_at {
                Some(t) => tokio::time::sleep_until(t.into()).await,
                None => tokio::time::sleep(self.q.batch.schedule_delay).await,
            }
        };
        tokio::select! {
            c = ctl.recv() => c.map_or(Wake::Closed, Wake::Control),
            _ = self.q.notify.notified(), if retry_at.is_none() => Wake::Work,
            _ = timer => Wake::Work,
        }
    }

    /// Exports what is queued, batch by batch, until the queue is empty, `limit`
    /// passes, or (without a limit) the batch held waits for a retry. Returns when
    /// that retry is due, if a batch is held.
    async fn export(&mut self, limit: Option<Instant>) -> Option<Instant> {
        for _ in 0..rounds(&self.q.batch, limit) {
            let now = Instant::now();
            if limit.is_some_and(|l| now >= l) {
                break;
            }
            if self
                .held
                .as_ref()
                .is_some_and(|h| h.evicted != self.q.evicted())
            {
                // The oldest records go first: the batch held is older than
                // anything the queue just dropped.
                self.release(true);
            }
            if self.held.is_none() && !self.take_batch(now) {
                return None;
            }
            let Some(h) = &self.held else { continue };
            if h.not_before > now {
                match limit {
                    Some(l) if h.not_before < l => {
                        tokio::time::sleep_until(h.not_before.into()).await;
                        continue;
                    }
                    _ => return Some(h.not_before),
                }
            }
            self.attempt(limit).await;
        }
        self.held.as_ref().map(|h| h.not_before)
    }

    /// Takes the next batch from the queue into `held`. Returns false when the
    /// queue is empty.
    fn take_batch(&mut self, now: Instant) -> bool {
        let items = self.q.take(self.q.batch.max_export_batch_size, self.c);
        if items.is_empty() {
            return false;
        }
        let mut failed = 0;
        let (batch, records) = self.lane.prepare(items, self.health, &mut failed);
        if failed > 0 {
            self.c.failed.fetch_add(failed, Ordering::Relaxed);
        }
        let events = self.lane.take_events_dropped();
        if events > 0 {
            self.c.events_dropped.fetch_add(events, Ordering::Relaxed);
        }
        if records > 0 {
            self.c.in_flight.fetch_add(records, Ordering::Relaxed);
            self.held = Some(Held {
                batch,
                records,
                evicted: self.q.evicted(),
                not_before: now,
            });
        }
        true
    }

    /// One attempt at sending the batch held, and what follows: exported, failed
    /// for good, or kept for a retry after a backoff.
    async fn attempt(&mut self, limit: Option<Instant>) {
        let Some(h) = self.held.as_mut() else { return };
        if let Some(p) = self.lane.probe() {
            p.lock().unwrap_or_else(|e| e.into_inner()).take();
        }
        let deadline = batch_deadline(self.timeout, limit);
        let send = AssertUnwindSafe(self.lane.send(&mut h.batch, self.health)).catch_unwind();
        let sent = tokio::time::timeout_at(deadline.into(), send).await;
        let (result, removed) = match sent {
            Ok(Ok((result, removed))) => (Ok(result), removed),
            Ok(Err(panic)) => {
                self.health.caught(panic);
                (Err(None), 0)
            }
            Err(_elapsed) => (Err(Some(())), 0),
        };
        if removed > 0 {
            h.records -= removed;
            self.c.in_flight.fetch_sub(removed, Ordering::Relaxed);
            self.c.failed.fetch_add(removed, Ordering::Relaxed);
        }
        let n = h.records;
        let answer = self
            .lane
            .probe()
            .and_then(|p| p.lock().unwrap_or_else(|e| e.into_inner()).take());
        let (failure, error) = match result {
            Ok(Ok(())) => {
                self.c.in_flight.fetch_sub(n, Ordering::Relaxed);
                self.c.exported.fetch_add(n, Ordering::Relaxed);
                self.held = None;
                self.backoff.reset();
                return;
            }
            Ok(Err(e)) => {
                // The HTTP client's own words when there was no answer (a TLS
                // failure says which certificate check failed).
                let text = match &answer {
                    Some(retry::Answer::Nothing(why)) if !why.is_empty() => format!("{e} ({why})"),
                    _ => e.to_string(),
                };
                (retry::classify(&e, answer), text)
            }
            Err(None) => (Failure::Permanent, "the exporter panicked".to_owned()),
            Err(Some(())) => (
                Failure::Transient(None),
                format!(
                    "no answer from the collector within {:?} (or the deadline)",
                    self.timeout
                ),
            ),
        };
        self.counters.set_error(format!("{}: {error}", self.signal));
        match failure {
            Failure::Transient(after) => {
                self.c.retries.fetch_add(1, Ordering::Relaxed);
                h.not_before = Instant::now() + self.backoff.next(after);
            }
            Failure::Permanent => {
                self.release(false);
                // The collector answered: the next batch starts afresh.
                self.backoff.reset();
            }
        }
    }

    /// Gives up the batch held: counted as dropped (the queue overflowed, and it
    /// was the oldest) or as failed (it was refused, or still failing at shutdown).
    fn release(&mut self, dropped: bool) {
        if let Some(h) = self.held.take() {
            self.c.in_flight.fetch_sub(h.records, Ordering::Relaxed);
            if dropped {
                self.c.dropped.fetch_add(h.records, Ordering::Relaxed);
            } else {
                self.c.failed.fetch_add(h.records, Ordering::Relaxed);
                self.c.batches_failed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// Batches exported per wake-up: a queue's worth on a timer or a full batch (so
/// flush and shutdown requests are seen between rounds even under constant load),
/// as many as the deadline allows for flush and shutdown.
fn rounds(batch: &BatchConfig, limit: Option<Instant>) -> usize {
    match limit {
        Some(_) => usize::MAX,
        None => batch.max_queue_size.div_ceil(batch.max_export_batch_size) + 1,
    }
}

fn batch_deadline(timeout: Duration, limit: Option<Instant>) -> Instant {
    let d = Instant::now() + timeout;
    limit.map_or(d, |l| l.min(d))
}
