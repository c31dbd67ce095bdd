//! Export counters, shared between the sink (worker thread), the exporter thread
//! and whoever reads them (metrics, the admin page).

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// What the exporter did so far. Every span handed to it is in exactly one of
/// `spans_exported`, `spans_dropped` and `spans_failed`, or still on its way:
/// `spans_queued` (waiting) or `spans_in_flight` (in a request the collector has not
/// answered yet, for instance one still hanging when shutdown gave up); logs likewise.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ExportStats {
    /// Spans accepted by the collector.
    pub spans_exported: u64,
    /// Spans dropped before export: the queue was full, or shutdown's deadline
    /// passed first.
    pub spans_dropped: u64,
    /// Spans in batches the collector did not accept (error, refusal, timeout).
    pub spans_failed: u64,
    /// Spans waiting for export.
    pub spans_queued: u64,
    /// Spans in an export request not answered yet.
    pub spans_in_flight: u64,
    /// Unsampled spans exported because their trace failed or was slow.
    pub spans_promoted: u64,
    /// Span export requests that failed.
    pub span_batches_failed: u64,
    /// Log records accepted by the collector.
    pub logs_exported: u64,
    /// Log records dropped before export.
    pub logs_dropped: u64,
    /// Log records in batches the collector did not accept.
    pub logs_failed: u64,
    /// Log records waiting for export.
    pub logs_queued: u64,
    /// Log records in an export request not answered yet.
    pub logs_in_flight: u64,
    /// Log export requests that failed.
    pub log_batches_failed: u64,
    /// The last export error, if any.
    pub last_error: Option<String>,
}

#[derive(Debug, Default)]
pub(crate) struct SignalCounters {
    pub(crate) exported: AtomicU64,
    pub(crate) dropped: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) queued: AtomicU64,
    pub(crate) batches_failed: AtomicU64,
    pub(crate) in_flight: AtomicU64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) spans: SignalCounters,
    pub(crate) logs: SignalCounters,
    pub(crate) promoted: AtomicU64,
    pub(crate) last_error: Mutex<Option<String>>,
}

impl Counters {
    pub(crate) fn snapshot(&self) -> ExportStats {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        ExportStats {
            spans_exported: g(&self.spans.exported),
            spans_dropped: g(&self.spans.dropped),
            spans_failed: g(&self.spans.failed),
            spans_queued: g(&self.spans.queued),
            spans_in_flight: g(&self.spans.in_flight),
            spans_promoted: g(&self.promoted),
            span_batches_failed: g(&self.spans.batches_failed),
            logs_exported: g(&self.logs.exported),
            logs_dropped: g(&self.logs.dropped),
            logs_failed: g(&self.logs.failed),
            logs_queued: g(&self.logs.queued),
            logs_in_flight: g(&self.logs.in_flight),
            log_batches_failed: g(&self.logs.batches_failed),
            last_error: self
                .last_error
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        }
    }

    pub(crate) fn set_error(&self, e: String) {
        *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(e);
    }
}
