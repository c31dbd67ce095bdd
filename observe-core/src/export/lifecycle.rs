//! The export lifecycle inside the pipeline: the exporters' counters published as
//! metrics once a second, failing metric exports warned about, and the metrics
//! exporter stopped (after a last send) when the pipeline shuts down.

use std::time::{Duration, Instant};

use crate::pipeline::Sink;

/// Publishes the exporters' counters as metrics once a second, and stops the
/// metrics exporter (after a last send) when the pipeline shuts down.
pub(crate) struct ExportLifecycle {
    exporter: Option<super::Exporter>,
    metrics: Option<super::MetricsExporter>,
    last: Instant,
    seen: super::ExportStats,
    seen_metric_failures: u64,
    counters: [crate::metrics::Counter; 7],
    /// Export attempts retried (`observe.export.retries{signal}`), spans then logs.
    retries: [crate::metrics::Counter; 2],
    /// Items waiting for export, in the queue or in a batch being sent or waiting
    /// for its retry (`observe.export.pending{signal}`): a collector that keeps
    /// answering 503 shows here long before anything is dropped.
    pending: [crate::metrics::Gauge; 2],
    /// Metric export failures already warned about, and when.
    warned_metric_failures: u64,
    last_metric_warning: Option<Instant>,
}

impl ExportLifecycle {
    pub(crate) fn new(
        exporter: Option<super::Exporter>,
        metrics: Option<super::MetricsExporter>,
    ) -> Self {
        let c = |signal, result| {
            crate::metrics::counter(
                "observe.export.items",
                &[("signal", signal), ("result", result)],
            )
        };
        ExportLifecycle {
            exporter,
            metrics,
            last: Instant::now(),
            seen: Default::default(),
            seen_metric_failures: 0,
            counters: [
                c("spans", "exported"),
                c("spans", "dropped"),
                c("spans", "failed"),
                c("logs", "exported"),
                c("logs", "dropped"),
                c("logs", "failed"),
                c("metrics", "failed"),
            ],
            retries: [
                crate::metrics::counter("observe.export.retries", &[("signal", "spans")]),
                crate::metrics::counter("observe.export.retries", &[("signal", "logs")]),
            ],
            pending: [
                crate::metrics::gauge("observe.export.pending", &[("signal", "spans")]),
                crate::metrics::gauge("observe.export.pending", &[("signal", "logs")]),
            ],
            warned_metric_failures: 0,
            last_metric_warning: None,
        }
    }
}

impl ExportLifecycle {
    /// Metric export failures are reported as span and log export failures are:
    /// a warning with target `observe` and `component = "export"` (written to the
    /// log, never exported), at most once per interval.
    fn warn_metrics(&mut self, stats: &super::MetricsExportStats, now: Instant) {
        let interval = crate::config::ExportConfig::default().warn_interval;
        if stats.failures <= self.warned_metric_failures
            || self
                .last_metric_warning
                .is_some_and(|l| now.saturating_duration_since(l) < interval)
        {
            return;
        }
        tracing::warn!(
            target: "observe",
            component = "export",
            failed_requests = stats.failures - self.warned_metric_failures,
            failures_total = stats.failures,
            last_error = stats.last_error.as_deref().unwrap_or(""),
            "OTLP metric export is failing (collector down, slow or refusing)"
        );
        self.warned_metric_failures = stats.failures;
        self.last_metric_warning = Some(now);
    }
}

impl Sink for ExportLifecycle {
    fn on_tick(&mut self, now: Instant) {
        if now.duration_since(self.last) < Duration::from_secs(1) {
            return;
        }
        self.last = now;
        if let Some(e) = &self.exporter {
            let s = e.stats();
            let d = |new: u64, old: u64| new.saturating_sub(old);
            self.counters[0].add(d(s.spans_exported, self.seen.spans_exported));
            self.counters[1].add(d(s.spans_dropped, self.seen.spans_dropped));
            self.counters[2].add(d(s.spans_failed, self.seen.spans_failed));
            self.counters[3].add(d(s.logs_exported, self.seen.logs_exported));
            self.counters[4].add(d(s.logs_dropped, self.seen.logs_dropped));
            self.counters[5].add(d(s.logs_failed, self.seen.logs_failed));
            self.retries[0].add(d(s.span_retries, self.seen.span_retries));
            self.retries[1].add(d(s.log_retries, self.seen.log_retries));
            let gauge = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
            self.pending[0].set(gauge(s.spans_queued + s.spans_in_flight));
            self.pending[1].set(gauge(s.logs_queued + s.logs_in_flight));
            self.seen = s;
        }
        if let Some(m) = &self.metrics {
            let stats = m.stats();
            let f = stats.failures;
            self.counters[6].add(f.saturating_sub(self.seen_metric_failures));
            self.seen_metric_failures = f;
            self.warn_metrics(&stats, now);
        }
    }

    fn shutdown(&mut self, deadline: Instant) {
        if let Some(m) = &self.metrics
            && !m.shutdown(deadline)
        {
            crate::pipeline::note_undelivered();
        }
    }
}
