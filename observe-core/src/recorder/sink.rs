//! The recorder's sink: stores every record and decides tail promotion.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::store::Entry;
use super::{FlightRecorder, Promote, PromotedTrace, PromotionReason};
use crate::context::RequestType;
use crate::ids::TraceId;
use crate::log::LogRecord;
use crate::pipeline::Sink;
use crate::span::{KeyValue, SpanRecord, StatusCode};

/// How long spans of a promoted trace that arrive after its root are still
/// promoted (they come from threads drained after the root's).
const LATE_WINDOW: Duration = Duration::from_secs(30);
/// Promoted traces remembered for late spans.
const MAX_RECENT: usize = 1024;

/// The [`Sink`] of a [`FlightRecorder`]: keeps every span and log record, and
/// promotes failed and slow traces to the exporter.
pub struct RecorderSink {
    recorder: FlightRecorder,
    target: Option<Box<dyn Promote>>,
    recent: HashMap<TraceId, (PromotionReason, Instant), foldhash::fast::RandomState>,
}

impl fmt::Debug for RecorderSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecorderSink")
            .field("promotes", &self.target.is_some())
            .finish_non_exhaustive()
    }
}

/// Marks a copy of a span for export as part of a promoted trace.
fn mark(mut span: SpanRecord, reason: PromotionReason) -> SpanRecord {
    span.set_sampled(true);
    span.extra
        .get_or_insert_with(Default::default)
        .push_attribute(KeyValue::new("observe.promoted", reason.as_str()));
    span
}

impl RecorderSink {
    pub(crate) fn new(recorder: FlightRecorder, target: Option<Box<dyn Promote>>) -> RecorderSink {
        RecorderSink {
            recorder,
            target,
            recent: HashMap::default(),
        }
    }

    /// Why `trace` was promoted, when it was within the last [`LATE_WINDOW`]
    /// (the late spans and the later roots of such a trace go out alone).
    fn promoted_within_window(&self, trace: TraceId) -> Option<PromotionReason> {
        if self.recent.is_empty() {
            return None;
        }
        let (reason, at) = self.recent.get(&trace)?;
        (at.elapsed() < LATE_WINDOW).then_some(*reason)
    }

    /// Exports one span of a trace promoted already, on its own.
    fn promote_alone(&mut self, reason: PromotionReason, span: &SpanRecord) {
        if let Some(t) = self.target.as_mut() {
            t.promote(PromotedTrace {
                reason,
                trace_id: span.trace_id(),
                spans: vec![mark(SpanRecord::clone(span), reason)],
                logs: Vec::new(),
            });
        }
    }

    /// Why this finished local root promotes its trace, if it does.
    fn reason(span: &SpanRecord, threshold: Option<Duration>) -> Option<PromotionReason> {
        if span.status() == StatusCode::Error {
            Some(PromotionReason::Error)
        } else if threshold.is_some_and(|t| span.duration() > t) {
            Some(PromotionReason::Slow)
        } else {
            None
        }
    }
}

impl Sink for RecorderSink {
    fn on_span(&mut self, span: &SpanRecord) {
        self.on_span_shared(&Arc::new(span.clone()));
    }

    fn on_span_shared(&mut self, shared: &Arc<SpanRecord>) {
        let span: &SpanRecord = shared;
        let mut st = self.recorder.lock();
        st.push(Entry::Span(Arc::clone(shared)));
        if !span.is_local_root() {
            drop(st);
            // A late span of a trace promoted already.
            if !span.is_sampled()
                && let Some(reason) = self.promoted_within_window(span.trace_id())
            {
                self.promote_alone(reason, span);
            }
            return;
        }
        // Tracer bullets are always sampled and stay out of latency history.
        if span.request_type() == RequestType::TracerBullet {
            return;
        }
        let name = span.span_name();
        let reason = Self::reason(span, st.slow.judge_and_record(name, span.duration()));
        let Some(reason) = reason else { return };
        let trace = span.trace_id();
        if let Some(idx) = st.store.trace_mut(trace) {
            idx.promoted.get_or_insert(reason);
        }
        st.promoted_traces += 1;
        // A sampled trace is exported already; promotion only rescues the others.
        if span.is_sampled() || self.target.is_none() {
            return;
        }
        // Promoted already, within the late window (a caller that sends one
        // `traceparent` with every request): the spans that ended since went out
        // one by one as late spans, so this root is all that is left. Copying the
        // whole trace again made each failing request cost as much as all the
        // ones before it.
        if self.promoted_within_window(trace).is_some() {
            drop(st);
            self.promote_alone(reason, span);
            return;
        }
        let now = Instant::now();
        let mut spans = Vec::new();
        let mut logs = Vec::new();
        for e in st.store.trace_entries(trace) {
            match e {
                Entry::Span(s) => spans.push(mark(SpanRecord::clone(s), reason)),
                Entry::Log(l) => logs.push(LogRecord::clone(l)),
            }
        }
        drop(st);
        if self.recent.len() >= MAX_RECENT {
            self.recent
                .retain(|_, (_, at)| now.saturating_duration_since(*at) < LATE_WINDOW);
        }
        if self.recent.len() < MAX_RECENT {
            self.recent.insert(trace, (reason, now));
        }
        if let Some(t) = self.target.as_mut() {
            t.promote(PromotedTrace {
                reason,
                trace_id: trace,
                spans,
                logs,
            });
        }
    }

    fn on_log(&mut self, log: &LogRecord) {
        self.on_log_shared(&Arc::new(log.clone()));
    }

    fn on_log_shared(&mut self, log: &Arc<LogRecord>) {
        self.recorder.lock().push(Entry::Log(Arc::clone(log)));
    }

    fn on_tick(&mut self, now: Instant) {
        let mut st = self.recorder.lock();
        st.slow.tick(now);
        // A quiet service lets its last minutes go too, not only a busy one.
        st.store.expire(crate::clock::Tick::now());
        drop(st);
        if !self.recent.is_empty() {
            self.recent
                .retain(|_, (_, at)| now.saturating_duration_since(*at) < LATE_WINDOW);
        }
    }
}
