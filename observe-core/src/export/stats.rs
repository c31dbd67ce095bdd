//! Export counters, shared between the sink (worker thread), the exporter thread
//! and whoever reads them (metrics, the admin page).

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// What the exporter did so far. Every span handed to it is in exactly one of
/// `spans_exported`, `spans_dropped` and `spans_failed`, or still on its way:
/// `spans_queued` (waiting in the queue) or `spans_in_flight` (taken from the queue:
/// in a request the collector has not answered yet, or in a batch waiting to be
/// retried); logs likewise.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ExportStats {
    /// Spans accepted by the collector.
    pub spans_exported: u64,
    /// Spans dropped before export: the queue was full (its oldest records go
    /// first), or shutdown's deadline passed first.
    pub spans_dropped: u64,
    /// Spans in batches the collector refused for good (a permanent error), or
    /// still failing when shutdown's deadline came.
    pub spans_failed: u64,
    /// Spans waiting for export.
    pub spans_queued: u64,
    /// Spans in an export request not answered yet, or waiting to be retried.
    pub spans_in_flight: u64,
    /// Unsampled spans exported because their trace failed or was slow.
    pub spans_promoted: u64,
    /// Span batches given up as failed.
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
    /// Log batches given up as failed.
    pub log_batches_failed: u64,
    /// The last export error, if any.
    pub last_error: Option<String>,
    /// Log events that could not be joined to their span as span events: their
    /// span did not arrive in time (or ever), or the table of waiting events, the
    /// span's event limit or the queue was full. (They are still exported as log
    /// records when logs are exported.)
    pub span_events_dropped: u64,
    /// Span export attempts that failed transiently and were retried.
    pub span_retries: u64,
    /// Log export attempts that failed transiently and were retried.
    pub log_retries: u64,
    /// Panics caught on the exporter thread (in an exporter or a conversion); the
    /// batch or record in hand was counted as failed and the thread went on.
    pub panics: u64,
}

#[derive(Debug, Default)]
pub(crate) struct SignalCounters {
    pub(crate) exported: AtomicU64,
    pub(crate) dropped: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) queued: AtomicU64,
    pub(crate) batches_failed: AtomicU64,
    pub(crate) in_flight: AtomicU64,
    /// Items dropped that are not records of this signal (log events on the span
    /// queue).
    pub(crate) events_dropped: AtomicU64,
    pub(crate) retries: AtomicU64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) spans: SignalCounters,
    pub(crate) logs: SignalCounters,
    pub(crate) promoted: AtomicU64,
    pub(crate) last_error: Mutex<Option<String>>,
    /// Endpoint queries that errors must not repeat (`shown_endpoint`).
    pub(crate) hidden: Vec<String>,
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
            span_events_dropped: g(&self.spans.events_dropped),
            span_retries: g(&self.spans.retries),
            log_retries: g(&self.logs.retries),
            panics: 0,
        }
    }

    /// Records given up so far, both signals: refused or dropped.
    pub(crate) fn lost(&self) -> u64 {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        g(&self.spans.failed)
            + g(&self.spans.dropped)
            + g(&self.logs.failed)
            + g(&self.logs.dropped)
    }

    pub(crate) fn set_error(&self, e: String) {
        let e = hide_queries(e, &self.hidden);
        *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(e);
    }
}

/// `error` with each of the endpoint queries in `hidden` (a token may be one of
/// their values) replaced by what [`shown_endpoint`](crate::config::shown_endpoint)
/// shows of it.
pub(crate) fn hide_queries(mut error: String, hidden: &[String]) -> String {
    for query in hidden {
        if error.contains(query.as_str()) {
            let shown = crate::config::shown_endpoint(&format!("?{query}"))
                .trim_start_matches('?')
                .to_owned();
            error = error.replace(query.as_str(), &shown);
        }
    }
    error
}

#[cfg(test)]
mod tests {
    #[test]
    fn export_errors_do_not_repeat_an_endpoints_query() {
        let error = super::hide_queries(
            "error sending request for url (http://c:4318/v1/traces?token=SECRETQ)".into(),
            &["token=SECRETQ".to_owned()],
        );
        assert_eq!(
            error,
            "error sending request for url (http://c:4318/v1/traces?token=REDACTED)"
        );
    }
}
