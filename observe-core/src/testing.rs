//! Helpers for testing instrumented code: an in-memory sink that keeps every span
//! and log record, so tests assert on what observe recorded.
//!
//! ```
//! use observe_core::testing::MemorySink;
//! let (sink, captured) = MemorySink::new();
//! # let _ = (sink, captured);
//! ```

use std::sync::{Arc, Mutex, MutexGuard};

use crate::log::LogRecord;
use crate::pipeline::Sink;
use crate::span::SpanRecord;

/// A sink that keeps every span and log record in memory.
#[derive(Debug)]
pub struct MemorySink {
    shared: Arc<Shared>,
}

#[derive(Debug, Default)]
struct Shared {
    spans: Mutex<Vec<SpanRecord>>,
    logs: Mutex<Vec<LogRecord>>,
}

/// The reading side of a [`MemorySink`].
#[derive(Debug, Clone)]
pub struct Captured {
    shared: Arc<Shared>,
}

impl MemorySink {
    /// A sink and the handle to read what it captured.
    pub fn new() -> (MemorySink, Captured) {
        let shared = Arc::new(Shared::default());
        (
            MemorySink {
                shared: shared.clone(),
            },
            Captured { shared },
        )
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Sink for MemorySink {
    fn on_span(&mut self, span: &SpanRecord) {
        lock(&self.shared.spans).push(span.clone());
    }
    fn on_log(&mut self, log: &LogRecord) {
        lock(&self.shared.logs).push(log.clone());
    }
}

impl Captured {
    /// Every span captured so far, in the order the worker received them.
    pub fn spans(&self) -> Vec<SpanRecord> {
        lock(&self.shared.spans).clone()
    }

    /// Every log record captured so far.
    pub fn logs(&self) -> Vec<LogRecord> {
        lock(&self.shared.logs).clone()
    }

    /// The spans named `name`.
    pub fn spans_named(&self, name: &str) -> Vec<SpanRecord> {
        lock(&self.shared.spans)
            .iter()
            .filter(|s| s.name() == name)
            .cloned()
            .collect()
    }

    /// The one span named `name`; panics (in the test) if there is not exactly one.
    pub fn span(&self, name: &str) -> SpanRecord {
        let mut found = self.spans_named(name);
        assert_eq!(
            found.len(),
            1,
            "expected exactly one span named {name:?}, got {found:?}"
        );
        found.remove(0)
    }

    /// Forgets everything captured so far.
    pub fn clear(&self) {
        lock(&self.shared.spans).clear();
        lock(&self.shared.logs).clear();
    }
}
