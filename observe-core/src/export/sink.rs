//! The [`ExportSink`]: the exporter's side on observe's worker thread.

use std::fmt;
use std::sync::atomic::Ordering;
use std::time::Instant;

use super::exporter::Exporter;
use super::queue::SpanItem;
use crate::log::LogRecord;
use crate::pipeline::Sink;
use crate::span::SpanRecord;

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
    /// Records the exporter had given up when the last flush or shutdown answered:
    /// one that finds more did not deliver everything recorded since.
    lost_seen: u64,
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
    pub(super) fn new(exporter: Exporter) -> ExportSink {
        ExportSink {
            exporter,
            spans: Vec::new(),
            logs: Vec::new(),
            last_warn: None,
            warned: (0, 0, 0),
            lost_seen: 0,
        }
    }

    /// After a flush or shutdown whose exporter said `delivered`: tells the worker
    /// when it did not deliver everything recorded since the last one (the export
    /// queue dropped records for room, a batch was refused or given up).
    fn settle(&mut self, delivered: bool) {
        let lost = self.exporter.inner.counters.lost();
        if !delivered || lost != self.lost_seen {
            crate::pipeline::note_undelivered();
        }
        self.lost_seen = lost;
    }

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
        let delivered = self.exporter.flush(deadline);
        self.settle(delivered);
    }

    fn shutdown(&mut self, deadline: Instant) {
        self.push_pending();
        let delivered = self.exporter.shutdown(deadline);
        self.settle(delivered);
    }
}
