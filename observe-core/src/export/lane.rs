//! What each signal's driver sends: spans with their events joined, and log
//! records, converted to the SDK's types and handed to its exporter.

use std::time::Instant;

use opentelemetry::InstrumentationScope;
use opentelemetry::trace::Event;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::logs::{LogBatch, LogExporter, SdkLogRecord};
use opentelemetry_sdk::trace::SpanExporter;

use super::pending::PendingEvents;
use super::queue::SpanItem;
use super::retry::Probe;
use crate::log::LogRecord;
use crate::otel::convert::{self, LogConverter};
use crate::pipeline::ThreadHealth;
use crate::span::SpanRecord;

/// What a signal's export driver needs of the signal: how a batch of queued items
/// becomes something to send, and how to send it (again, when retried).
pub(super) trait Lane {
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
pub(super) struct SpanLane<S> {
    pub(super) exporter: S,
    pub(super) scope: InstrumentationScope,
    pub(super) pending: PendingEvents,
    pub(super) probe: Option<Probe>,
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
pub(super) struct LogLane<L> {
    pub(super) exporter: L,
    pub(super) scope: InstrumentationScope,
    pub(super) converter: LogConverter,
    pub(super) probe: Option<Probe>,
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
