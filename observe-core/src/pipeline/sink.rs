//! Sinks: where finished spans and log records go, on the background thread.
//!
//! Shaped like `tracing-subscriber`'s `Layer`: every hook has a default that does
//! nothing, so a sink implements only what it cares about; `Option<S>` switches a
//! sink off without boxing, and `Vec<Box<dyn Sink>>` combines several. Hooks run on
//! observe's worker thread, never on an application thread, so a sink may take its
//! time; while it does, records queue in the per-thread rings (and are dropped and
//! counted when those fill).
//!
//! Each call of each hook is supervised: a sink that panics misses the record it
//! panicked on, the other sinks still get it, and the worker goes on. The panic is
//! counted (`PipelineStats::sink_panics`), logged at most once a minute, and a
//! panicking `flush` or `shutdown` makes the instance's `flush`/`shutdown` return
//! `false` (see `docs/security.md`). A sink that *blocks* cannot be taken back: it
//! holds up every sink.

use std::sync::Arc;
use std::time::Instant;

use crate::log::LogRecord;
use crate::span::SpanRecord;

/// A consumer of finished spans and log records.
pub trait Sink: Send + 'static {
    /// A span ended (sampled or not: check [`SpanRecord::is_sampled`]).
    fn on_span(&mut self, span: &SpanRecord) {
        let _ = span;
    }

    /// A log event was written.
    fn on_log(&mut self, log: &LogRecord) {
        let _ = log;
    }

    /// A span ended, shared with the other sinks: a sink that keeps records keeps
    /// this `Arc` rather than a copy. By default, [`on_span`](Self::on_span).
    fn on_span_shared(&mut self, span: &Arc<SpanRecord>) {
        self.on_span(span)
    }

    /// A log event was written, shared with the other sinks (see
    /// [`on_span_shared`](Self::on_span_shared)). By default, [`on_log`](Self::on_log).
    fn on_log_shared(&mut self, log: &Arc<LogRecord>) {
        self.on_log(log)
    }

    /// Called after every drain of the rings (about every 20 ms), for periodic work.
    fn on_tick(&mut self, now: Instant) {
        let _ = now;
    }

    /// Everything received so far should be delivered before `deadline`.
    fn flush(&mut self, deadline: Instant) {
        let _ = deadline;
    }

    /// The pipeline stops: deliver what is pending before `deadline` and release
    /// resources. No hook is called afterwards.
    fn shutdown(&mut self, deadline: Instant) {
        self.flush(deadline);
    }
}

impl<S: Sink + ?Sized> Sink for Box<S> {
    fn on_span(&mut self, span: &SpanRecord) {
        (**self).on_span(span)
    }
    fn on_log(&mut self, log: &LogRecord) {
        (**self).on_log(log)
    }
    fn on_span_shared(&mut self, span: &Arc<SpanRecord>) {
        (**self).on_span_shared(span)
    }
    fn on_log_shared(&mut self, log: &Arc<LogRecord>) {
        (**self).on_log_shared(log)
    }
    fn on_tick(&mut self, now: Instant) {
        (**self).on_tick(now)
    }
    fn flush(&mut self, deadline: Instant) {
        (**self).flush(deadline)
    }
    fn shutdown(&mut self, deadline: Instant) {
        (**self).shutdown(deadline)
    }
}

impl<S: Sink> Sink for Option<S> {
    fn on_span(&mut self, span: &SpanRecord) {
        if let Some(s) = self {
            s.on_span(span)
        }
    }
    fn on_log(&mut self, log: &LogRecord) {
        if let Some(s) = self {
            s.on_log(log)
        }
    }
    fn on_span_shared(&mut self, span: &Arc<SpanRecord>) {
        if let Some(s) = self {
            s.on_span_shared(span)
        }
    }
    fn on_log_shared(&mut self, log: &Arc<LogRecord>) {
        if let Some(s) = self {
            s.on_log_shared(log)
        }
    }
    fn on_tick(&mut self, now: Instant) {
        if let Some(s) = self {
            s.on_tick(now)
        }
    }
    fn flush(&mut self, deadline: Instant) {
        if let Some(s) = self {
            s.flush(deadline)
        }
    }
    fn shutdown(&mut self, deadline: Instant) {
        if let Some(s) = self {
            s.shutdown(deadline)
        }
    }
}

impl<S: Sink> Sink for Vec<S> {
    fn on_span(&mut self, span: &SpanRecord) {
        for s in self.iter_mut() {
            s.on_span(span)
        }
    }
    fn on_log(&mut self, log: &LogRecord) {
        for s in self.iter_mut() {
            s.on_log(log)
        }
    }
    fn on_span_shared(&mut self, span: &Arc<SpanRecord>) {
        for s in self.iter_mut() {
            s.on_span_shared(span)
        }
    }
    fn on_log_shared(&mut self, log: &Arc<LogRecord>) {
        for s in self.iter_mut() {
            s.on_log_shared(log)
        }
    }
    fn on_tick(&mut self, now: Instant) {
        for s in self.iter_mut() {
            s.on_tick(now)
        }
    }
    fn flush(&mut self, deadline: Instant) {
        for s in self.iter_mut() {
            s.flush(deadline)
        }
    }
    fn shutdown(&mut self, deadline: Instant) {
        for s in self.iter_mut() {
            s.shutdown(deadline)
        }
    }
}
