//! The exporter thread, its queues and the sink that feeds them.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use opentelemetry::InstrumentationScope;
use opentelemetry_sdk::logs::{LogBatch, LogExporter};
use opentelemetry_sdk::trace::SpanExporter;
use tokio::sync::Notify;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

use super::ResourceInfo;
use super::convert::{self, LogConverter, MAX_EVENTS_PER_SPAN};
use super::settings::{ExportSettings, normalized};
use super::stats::{Counters, ExportStats, SignalCounters};
use crate::config::{BatchConfig, Compression, OtlpExport, Protocol};
use crate::ids::SpanId;
use crate::log::LogRecord;
use crate::pipeline::Sink;
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
enum SpanItem {
    Span(SpanRecord),
    Event(Box<LogRecord>),
}

impl SpanItem {
    fn is_span(&self) -> bool {
        matches!(self, SpanItem::Span(_))
    }
}

/// A bounded queue from the worker to the exporter thread. The worker never waits
/// on it for longer than a short, uncontended lock: the exporter thread holds the
/// lock only to take a batch out. Its `queued` counter changes under the same lock
/// as its items, so the statistics never show more queued than the bound allows.
#[derive(Debug)]
struct Queue<T> {
    items: Mutex<VecDeque<T>>,
    notify: Notify,
    batch: BatchConfig,
    /// Which items the counters count (span queues also carry log events joined
    /// to their spans, which are not spans).
    counted: fn(&T) -> bool,
}

impl<T> Queue<T> {
    fn new(batch: BatchConfig, counted: fn(&T) -> bool) -> Queue<T> {
        Queue {
            items: Mutex::new(VecDeque::new()),
            notify: Notify::new(),
            batch,
            counted,
        }
    }

    /// Moves `pending` into the queue as far as there is room; what does not fit is
    /// dropped and counted in `c`.
    fn push(&self, pending: &mut Vec<T>, c: &SignalCounters) {
        if pending.is_empty() {
            return;
        }
        let mut q = self.items.lock().unwrap_or_else(|e| e.into_inner());
        let (mut queued, mut dropped) = (0, 0);
        for item in pending.drain(..) {
            let counted = (self.counted)(&item);
            if q.len() < self.batch.max_queue_size {
                q.push_back(item);
                queued += u64::from(counted);
            } else {
                dropped += u64::from(counted);
            }
        }
        c.queued.fetch_add(queued, Ordering::Relaxed);
        let full_batch = q.len() >= self.batch.max_export_batch_size;
        drop(q);
        if dropped > 0 {
            c.dropped.fetch_add(dropped, Ordering::Relaxed);
        }
        if full_batch {
            self.notify.notify_one();
        }
    }

    /// Takes up to `max` items (no longer counted as queued).
    fn take(&self, max: usize, c: &SignalCounters) -> Vec<T> {
        let mut q = self.items.lock().unwrap_or_else(|e| e.into_inner());
        let n = q.len().min(max);
        let items: Vec<T> = q.drain(..n).collect();
        let counted = items.iter().filter(|i| (self.counted)(i)).count() as u64;
        c.queued.fetch_sub(counted, Ordering::Relaxed);
        items
    }

    /// Empties the queue at shutdown, counting what was left as dropped.
    fn drop_all(&self, c: &SignalCounters) {
        let mut q = self.items.lock().unwrap_or_else(|e| e.into_inner());
        let left = q.drain(..).filter(|i| (self.counted)(i)).count() as u64;
        c.queued.fetch_sub(left, Ordering::Relaxed);
        drop(q);
        c.dropped.fetch_add(left, Ordering::Relaxed);
    }
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
    settings: ExportSettings,
    counters: Arc<Counters>,
    spans: Option<Arc<Queue<SpanItem>>>,
    logs: Option<Arc<Queue<LogRecord>>>,
    control: Vec<UnboundedSender<Control>>,
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
    pub fn start(
        settings: ExportSettings,
        resource: &ResourceInfo,
    ) -> Result<Exporter, ExportError> {
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
    pub fn with_exporters<S, L>(
        settings: ExportSettings,
        resource: &ResourceInfo,
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
        spawn(settings, resource, move || Ok((spans, logs)))
    }

    /// The sink to add to the pipeline.
    pub fn sink(&self) -> ExportSink {
        ExportSink {
            exporter: self.clone(),
            spans: Vec::new(),
            logs: Vec::new(),
            last_warn: None,
            warned: (0, 0),
        }
    }

    /// The counters so far.
    pub fn stats(&self) -> ExportStats {
        self.inner.counters.snapshot()
    }

    /// The settings it runs with.
    pub fn settings(&self) -> &ExportSettings {
        &self.inner.settings
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
    /// whether the exporter thread finished in time.
    pub fn flush(&self, deadline: Instant) -> bool {
        self.request(deadline, |deadline, reply| Control::Flush {
            deadline,
            reply,
        })
    }

    /// Exports everything queued and stops the exporter thread, waiting at most
    /// until `deadline` (what is still queued then is counted as dropped).
    /// Returns whether it finished in time.
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
        for c in &self.inner.control {
            if c.send(make(deadline, tx.clone())).is_ok() {
                expected += 1;
            }
        }
        drop(tx);
        for _ in 0..expected {
            let wait = deadline.saturating_duration_since(Instant::now());
            if rx.recv_timeout(wait).is_err() {
                return false;
            }
        }
        true
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
    /// Failed batches and dropped records already warned about.
    warned: (u64, u64),
}

impl fmt::Debug for ExportSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExportSink")
            .field("exporter", &self.exporter)
            .finish_non_exhaustive()
    }
}

/// Whether a log record is the exporter's own warning (never exported, so export
/// trouble cannot feed itself).
fn is_own_warning(log: &LogRecord) -> bool {
    log.target() == "observe"
        && log
            .field("component")
            .is_some_and(|v| v.to_string() == "export")
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
        let failed = c.spans.batches_failed.load(Ordering::Relaxed)
            + c.logs.batches_failed.load(Ordering::Relaxed);
        let dropped =
            c.spans.dropped.load(Ordering::Relaxed) + c.logs.dropped.load(Ordering::Relaxed);
        if failed <= self.warned.0 && dropped <= self.warned.1 {
            return;
        }
        let stats = c.snapshot();
        tracing::warn!(
            target: "observe",
            component = "export",
            failed_batches = failed - self.warned.0,
            dropped_records = dropped - self.warned.1,
            spans_failed = stats.spans_failed,
            spans_dropped = stats.spans_dropped,
            logs_failed = stats.logs_failed,
            logs_dropped = stats.logs_dropped,
            last_error = stats.last_error.as_deref().unwrap_or(""),
            "OTLP export is losing data (collector down, slow or refusing, or export queue full)"
        );
        self.warned = (failed, dropped);
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

fn http_headers(
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

#[cfg(feature = "grpc")]
fn grpc_metadata(
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

macro_rules! build_exporter {
    ($signal:literal, $s:expr, $ty:ty) => {{
        use opentelemetry_otlp::{WithExportConfig as _, WithHttpConfig as _};
        let s: &OtlpExport = $s;
        let err = |e: opentelemetry_otlp::ExporterBuildError| config_error($signal, s, e);
        match s.protocol {
            Protocol::HttpProtobuf => {
                let mut b = <$ty>::builder()
                    .with_http()
                    .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
                    .with_endpoint(s.endpoint.clone())
                    .with_timeout(s.timeout)
                    .with_headers(http_headers($signal, s)?);
                if let Some(c) = otlp_compression(s.compression) {
                    b = b.with_compression(c);
                }
                b.build().map_err(err)
            }
            #[cfg(feature = "grpc")]
            Protocol::Grpc => {
                use opentelemetry_otlp::WithTonicConfig as _;
                let mut b = <$ty>::builder()
                    .with_tonic()
                    .with_endpoint(s.endpoint.clone())
                    .with_timeout(s.timeout)
                    .with_metadata(grpc_metadata($signal, s)?);
                if let Some(c) = otlp_compression(s.compression) {
                    b = b.with_compression(c);
                }
                b.build().map_err(err)
            }
            #[cfg(not(feature = "grpc"))]
            _ => Err(config_error(
                $signal,
                s,
                "protocol grpc needs observe-core's `grpc` feature; \
                 enable it or use http/protobuf",
            )),
        }
    }};
}

fn build_span_exporter(s: &OtlpExport) -> Result<opentelemetry_otlp::SpanExporter, ExportError> {
    build_exporter!("traces", s, opentelemetry_otlp::SpanExporter)
}

fn build_log_exporter(s: &OtlpExport) -> Result<opentelemetry_otlp::LogExporter, ExportError> {
    build_exporter!("logs", s, opentelemetry_otlp::LogExporter)
}

type Made<S, L> = Result<(Option<S>, Option<L>), ExportError>;

fn spawn<S, L>(
    settings: ExportSettings,
    resource: &ResourceInfo,
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
    let spans = settings
        .traces
        .as_ref()
        .map(|_| Arc::new(Queue::new(settings.span_batch, SpanItem::is_span)));
    let logs = settings
        .logs
        .as_ref()
        .map(|_| Arc::new(Queue::new(settings.log_batch, |_| true)));
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
        move || {
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
                if let (Some(mut e), Some(q)) = (span_exporter, spans) {
                    e.set_resource(&resource);
                    run_spans(e, q, span_ctl_rx, &counters, span_timeout).await;
                }
            };
            let log_task = async {
                if let (Some(mut e), Some(q)) = (log_exporter, logs) {
                    e.set_resource(&resource);
                    run_logs(e, q, log_ctl_rx, &counters, log_timeout).await;
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
        }),
    })
}

/// What woke an export task.
enum Wake {
    Work,
    Control(Control),
    Closed,
}

async fn wait<T>(q: &Queue<T>, ctl: &mut UnboundedReceiver<Control>) -> Wake {
    tokio::select! {
        c = ctl.recv() => c.map_or(Wake::Closed, Wake::Control),
        _ = q.notify.notified() => Wake::Work,
        _ = tokio::time::sleep(q.batch.schedule_delay) => Wake::Work,
    }
}

/// Log records joined to spans that have not ended yet, by span id. Bounded: a
/// span that never ends (or a flood of logs) cannot grow it without limit.
#[derive(Default)]
struct PendingEvents {
    by_span: HashMap<SpanId, (Instant, Vec<opentelemetry::trace::Event>)>,
}

const MAX_PENDING_SPANS: usize = 4096;
const PENDING_MAX_AGE: Duration = Duration::from_secs(600);

impl PendingEvents {
    fn add(&mut self, log: &LogRecord) {
        let Some(span) = log.span() else { return };
        if !self.by_span.contains_key(&span.span_id) && self.by_span.len() >= MAX_PENDING_SPANS {
            let now = Instant::now();
            self.by_span
                .retain(|_, (t, _)| now.saturating_duration_since(*t) < PENDING_MAX_AGE);
            if self.by_span.len() >= MAX_PENDING_SPANS {
                return;
            }
        }
        let (_, events) = self
            .by_span
            .entry(span.span_id)
            .or_insert_with(|| (Instant::now(), Vec::new()));
        if events.len() < MAX_EVENTS_PER_SPAN {
            events.push(convert::log_event(log));
        }
    }

    fn take(&mut self, span: SpanId) -> Vec<opentelemetry::trace::Event> {
        if self.by_span.is_empty() {
            return Vec::new();
        }
        self.by_span
            .remove(&span)
            .map(|(_, e)| e)
            .unwrap_or_default()
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

async fn run_spans<S: SpanExporter>(
    exporter: S,
    q: Arc<Queue<SpanItem>>,
    ctl: UnboundedReceiver<Control>,
    counters: &Counters,
    timeout: Duration,
) {
    let scope = convert::scope();
    let mut pending = PendingEvents::default();
    let export = async |limit| {
        export_spans(
            &exporter,
            &q,
            &mut pending,
            counters,
            &scope,
            timeout,
            limit,
        )
        .await;
    };
    if let Some((deadline, reply)) = serve(&q, ctl, &counters.spans, export).await {
        let _ = exporter.shutdown_with_timeout(deadline.saturating_duration_since(Instant::now()));
        let _ = reply.try_send(());
    }
}

/// Drives one signal's queue until shutdown: exports when there is work or a flush
/// is asked for; on shutdown exports what the deadline allows, counts what is left
/// as dropped, and returns the deadline and the reply
/// so the caller can shut its exporter down and answer. `None` when the exporter
/// handle went away without a shutdown.
async fn serve<T>(
    q: &Queue<T>,
    mut ctl: UnboundedReceiver<Control>,
    c: &SignalCounters,
    mut export: impl AsyncFnMut(Option<Instant>),
) -> Option<(Instant, mpsc::SyncSender<()>)> {
    loop {
        match wait(q, &mut ctl).await {
            Wake::Work => export(None).await,
            Wake::Control(Control::Flush { deadline, reply }) => {
                export(Some(deadline)).await;
                let _ = reply.try_send(());
            }
            Wake::Control(Control::Shutdown { deadline, reply }) => {
                export(Some(deadline)).await;
                q.drop_all(c);
                return Some((deadline, reply));
            }
            Wake::Closed => return None,
        }
    }
}

/// Exports what is queued, batch by batch, until the queue is empty or `limit`
/// passes: `prepare` turns a batch of queued items into what `send` exports and
/// says how many records it holds; the counters follow each batch.
#[allow(clippy::too_many_arguments)]
async fn export_rounds<T, B>(
    q: &Queue<T>,
    c: &SignalCounters,
    counters: &Counters,
    signal: &str,
    timeout: Duration,
    limit: Option<Instant>,
    mut prepare: impl FnMut(Vec<T>) -> (B, u64),
    mut send: impl AsyncFnMut(B) -> opentelemetry_sdk::error::OTelSdkResult,
) {
    for _ in 0..rounds(&q.batch, limit) {
        if limit.is_some_and(|l| Instant::now() >= l) {
            return;
        }
        let items = q.take(q.batch.max_export_batch_size, c);
        if items.is_empty() {
            return;
        }
        let (batch, n) = prepare(items);
        if n == 0 {
            continue;
        }
        let deadline = batch_deadline(timeout, limit);
        c.in_flight.fetch_add(n, Ordering::Relaxed);
        let result = tokio::time::timeout_at(deadline.into(), send(batch)).await;
        settle(c, counters, signal, n, result, timeout);
    }
}

/// Spans, with the log records queued before them joined as their events.
async fn export_spans<S: SpanExporter>(
    exporter: &S,
    q: &Queue<SpanItem>,
    pending: &mut PendingEvents,
    counters: &Counters,
    scope: &InstrumentationScope,
    timeout: Duration,
    limit: Option<Instant>,
) {
    let prepare = |items: Vec<SpanItem>| {
        let mut batch = Vec::with_capacity(items.len());
        for item in items {
            match item {
                SpanItem::Event(log) => pending.add(&log),
                SpanItem::Span(span) => {
                    let events = pending.take(span.span_id());
                    batch.push(convert::span_data(&span, events, scope));
                }
            }
        }
        let n = batch.len() as u64;
        (batch, n)
    };
    let send = async |batch| exporter.export(batch).await;
    let c = &counters.spans;
    export_rounds(q, c, counters, "traces", timeout, limit, prepare, send).await;
}

fn settle(
    c: &SignalCounters,
    counters: &Counters,
    signal: &str,
    n: u64,
    result: Result<opentelemetry_sdk::error::OTelSdkResult, tokio::time::error::Elapsed>,
    timeout: Duration,
) {
    c.in_flight.fetch_sub(n, Ordering::Relaxed);
    match result {
        Ok(Ok(())) => {
            c.exported.fetch_add(n, Ordering::Relaxed);
        }
        Ok(Err(e)) => {
            c.failed.fetch_add(n, Ordering::Relaxed);
            c.batches_failed.fetch_add(1, Ordering::Relaxed);
            counters.set_error(format!("{signal}: {e}"));
        }
        Err(_) => {
            c.failed.fetch_add(n, Ordering::Relaxed);
            c.batches_failed.fetch_add(1, Ordering::Relaxed);
            counters.set_error(format!(
                "{signal}: no answer from the collector within {timeout:?} (or the shutdown deadline)"
            ));
        }
    }
}

async fn run_logs<L: LogExporter>(
    exporter: L,
    q: Arc<Queue<LogRecord>>,
    ctl: UnboundedReceiver<Control>,
    counters: &Counters,
    timeout: Duration,
) {
    let scope = convert::scope();
    let converter = LogConverter::new();
    let export = async |limit| {
        export_logs(&exporter, &q, &converter, counters, &scope, timeout, limit).await;
    };
    if let Some((deadline, reply)) = serve(&q, ctl, &counters.logs, export).await {
        let _ = exporter.shutdown_with_timeout(deadline.saturating_duration_since(Instant::now()));
        let _ = reply.try_send(());
    }
}

async fn export_logs<L: LogExporter>(
    exporter: &L,
    q: &Queue<LogRecord>,
    converter: &LogConverter,
    counters: &Counters,
    scope: &InstrumentationScope,
    timeout: Duration,
    limit: Option<Instant>,
) {
    let prepare = |items: Vec<LogRecord>| {
        let records: Vec<_> = items.iter().map(|l| converter.convert(l)).collect();
        let n = records.len() as u64;
        (records, n)
    };
    let send = async |records: Vec<_>| {
        let refs: Vec<_> = records.iter().map(|r| (r, scope)).collect();
        exporter.export(LogBatch::new(&refs)).await
    };
    let c = &counters.logs;
    export_rounds(q, c, counters, "logs", timeout, limit, prepare, send).await;
}
