//! The [`Exporter`] handle: starts the exporter thread, hands out its sink, reads
//! its counters, and asks its drivers to flush and to stop.

use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::{Arc, mpsc};
use std::time::Instant;

use opentelemetry_sdk::logs::LogExporter;
use opentelemetry_sdk::trace::SpanExporter;
use tokio::sync::mpsc::UnboundedSender;

use super::driver::{Control, spawn};
use super::error::ExportError;
use super::queue::{Queue, SpanItem};
use super::sink::ExportSink;
use super::stats::{Counters, ExportStats};
use super::transport::{build_log_exporter, build_span_exporter};
use crate::config::{ExportConfig, OtlpExport, Service};
use crate::log::LogRecord;
use crate::pipeline::ThreadHealth;
use crate::recorder::{Promote, PromotedTrace};

/// What the handles share with the exporter thread.
pub(super) struct Inner {
    pub(super) settings: ExportConfig,
    pub(super) counters: Arc<Counters>,
    pub(super) spans: Option<Arc<Queue<SpanItem>>>,
    pub(super) logs: Option<Arc<Queue<LogRecord>>>,
    pub(super) control: Vec<UnboundedSender<Control>>,
    pub(super) health: Arc<ThreadHealth>,
}

/// The OTLP exporter: a handle on its thread, shareable and cheap to clone. Get
/// the [`Sink`](crate::pipeline::Sink) that feeds it with [`sink`](Exporter::sink); read its counters with
/// [`stats`](Exporter::stats). It also receives promoted traces from the flight
/// recorder (it implements [`Promote`]).
#[derive(Clone)]
pub struct Exporter {
    pub(super) inner: Arc<Inner>,
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
        ExportSink::new(self.clone())
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

    pub(super) fn enqueue_spans(&self, pending: &mut Vec<SpanItem>) {
        if let Some(q) = &self.inner.spans {
            q.push(pending, &self.inner.counters.spans);
        } else {
            pending.clear();
        }
    }

    pub(super) fn enqueue_logs(&self, pending: &mut Vec<LogRecord>) {
        if let Some(q) = &self.inner.logs {
            q.push(pending, &self.inner.counters.logs);
        } else {
            pending.clear();
        }
    }

    /// Exports everything queued, waiting at most until `deadline`. Returns
    /// whether everything queued was delivered in time (false when a batch still
    /// waits for a retry past the deadline, and when the thread is gone).
    pub fn flush(&self, deadline: Instant) -> bool {
        self.request(deadline, |deadline, reply| Control::Flush {
            deadline,
            reply,
        })
    }

    /// Exports everything queued and stops the exporter thread, waiting at most
    /// until `deadline` (what is still queued then is counted as dropped, a batch
    /// still failing as failed). Returns whether everything was delivered in time.
    pub fn shutdown(&self, deadline: Instant) -> bool {
        self.request(deadline, |deadline, reply| Control::Shutdown {
            deadline,
            reply,
        })
    }

    fn request(
        &self,
        deadline: Instant,
        make: impl Fn(Instant, mpsc::SyncSender<bool>) -> Control,
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
        let mut delivered = true;
        for _ in 0..expected {
            let wait = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(wait) {
                Ok(all) => delivered &= all,
                Err(_) => return false,
            }
        }
        reached && delivered && !self.inner.health.is_dead()
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
