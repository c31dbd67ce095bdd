//! Helpers for testing instrumented code: an in-memory sink that keeps every span
//! and log record, and [`capture`], which starts an observe instance for the current
//! thread that records into it, so tests assert on what observe recorded without
//! touching any process-wide state.
//!
//! ```
//! use observe_core::span::Span;
//!
//! let capture = observe_core::testing::capture();
//! Span::new("work").in_scope(|| tracing::info!(items = 3, "done"));
//! capture.flush();
//! assert_eq!(capture.span("work").name(), "work");
//! assert_eq!(capture.log_lines()[0]["fields"]["items"], 3);
//! ```

use std::sync::{Arc, Mutex, MutexGuard};

use std::io::Write;
use std::time::Duration;

use crate::config::Service;
use crate::init::{DefaultGuard, Observe, Parts};
use crate::log::{LogFormat, LogRecord, Output};
use crate::pipeline::{HeadSampler, Settings, Sink};
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

/// An observe instance recording everything (sampling ratio 1, every level) into
/// memory, current on this thread until dropped. See [`capture`].
#[derive(Debug)]
pub struct Capture {
    // Field order matters: the guard must drop before the instance shuts down.
    guard: Option<DefaultGuard>,
    observe: Option<Observe>,
    captured: Captured,
    lines: SharedBuffer,
}

/// A `Write` target shared with the test (JSON log lines land here).
#[derive(Debug, Clone, Default)]
pub struct SharedBuffer(Arc<Mutex<Vec<u8>>>);

impl Write for SharedBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        lock(&self.0).extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl SharedBuffer {
    /// Everything written so far, as text.
    pub fn contents(&self) -> String {
        String::from_utf8_lossy(&lock(&self.0)).into_owned()
    }
}

/// Starts an observe instance for this thread that keeps every span and log record
/// in memory and writes JSON log lines to a buffer. Spans carry the instance to
/// the threads they run on; `tracing` events on other threads need the returned
/// [`Capture::dispatch`] installed there (tracing's default is per thread).
///
/// # Panics
/// If the instance's threads cannot be started (a test environment problem).
pub fn capture() -> Capture {
    capture_with(1.0)
}

/// What the crate's own tests start an instance from (the one place the test
/// instance is written): service `test` 0.0.0 on `localhost`, every level enabled,
/// head sampling at `sampling_ratio`, the given sinks, no log output, a 5 s shutdown
/// timeout and default pipeline settings. A test changes the fields it cares about.
pub(crate) fn parts(sampling_ratio: f64, sinks: Vec<Box<dyn Sink>>) -> Parts {
    Parts {
        settings: Settings::default(),
        resource: Service {
            name: "test".into(),
            version: "0.0.0".into(),
            host: "localhost".into(),
            ..Service::default()
        },
        log: None,
        sinks,
        sampler: HeadSampler::new(sampling_ratio, true),
        filter: "trace".into(),
        shutdown_timeout: Duration::from_secs(5),
        threads: Vec::new(),
    }
}

/// An instance for tests and benchmarks outside the crate (the one test instance
/// the crate's own tests also start from): the
/// given sinks, head sampling ratio and shutdown timeout, no log output and every
/// level enabled; not installed anywhere (make it current with
/// [`Observe::set_default`]).
///
/// # Errors
/// A background thread could not start.
pub fn instance(
    sampling_ratio: f64,
    sinks: Vec<Box<dyn Sink>>,
    shutdown_timeout: Duration,
) -> Result<Observe, crate::InitError> {
    Observe::start(Parts {
        shutdown_timeout,
        ..parts(sampling_ratio, sinks)
    })
}

/// Like [`capture`] with a head sampling ratio (0 keeps only what tail sampling or
/// tracer bullets keep).
///
/// # Panics
/// If the instance's threads cannot be started.
pub fn capture_with(sampling_ratio: f64) -> Capture {
    let (sink, captured) = MemorySink::new();
    let lines = SharedBuffer::default();
    let mut parts = parts(sampling_ratio, vec![Box::new(sink)]);
    parts.resource.environment = Some("test".into());
    parts.log = Some((
        LogFormat::Json,
        Output::Writer(Box::new(lines.clone())),
        1 << 20,
    ));
    let observe = Observe::start(parts).expect("observe test instance");
    let guard = observe.set_default();
    Capture {
        guard: Some(guard),
        observe: Some(observe),
        captured,
        lines,
    }
}

impl Capture {
    fn observe(&self) -> &Observe {
        self.observe.as_ref().expect("capture is alive")
    }

    /// Waits (up to 10 s) until everything recorded so far reached the sinks.
    ///
    /// # Panics
    /// If the worker does not confirm within 10 s.
    pub fn flush(&self) {
        assert!(
            self.observe().flush(Duration::from_secs(10)),
            "observe flush timed out"
        );
    }

    /// The instance's `tracing` dispatcher, to install on other threads
    /// (`tracing::dispatcher::set_default`), e.g. in a runtime's `on_thread_start`.
    pub fn dispatch(&self) -> tracing::Dispatch {
        self.observe().dispatch.clone()
    }

    /// The captured spans and logs.
    pub fn captured(&self) -> &Captured {
        &self.captured
    }

    /// Every captured span.
    pub fn spans(&self) -> Vec<SpanRecord> {
        self.captured.spans()
    }

    /// The one span named `name` (panics unless there is exactly one).
    pub fn span(&self, name: &str) -> SpanRecord {
        self.captured.span(name)
    }

    /// Every captured log record.
    pub fn logs(&self) -> Vec<LogRecord> {
        self.captured.logs()
    }

    /// The JSON log lines written so far, parsed.
    ///
    /// # Panics
    /// If a line is not valid JSON (a bug in observe).
    pub fn log_lines(&self) -> Vec<serde_json::Value> {
        self.lines
            .contents()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}")))
            .collect()
    }

    /// What the instance dropped and delivered so far.
    pub fn stats(&self) -> crate::PipelineStats {
        self.observe().stats()
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.guard.take();
        if let Some(o) = self.observe.take() {
            o.shutdown();
        }
    }
}
