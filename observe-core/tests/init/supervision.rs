//! observe's background threads are supervised: a panic in a sink (observe's or
//! yours), in the log output or in an exporter is caught where it happens, counted
//! in `PipelineStats`, logged once, and costs only the record in hand; the other
//! sinks receive everything, and the threads keep serving.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use observe_core::log::LogRecord;
use observe_core::sink::Sink;
use observe_core::span::{Span, SpanRecord};
use observe_core::testing::{Captured, MemorySink};
use observe_core::{DefaultGuard, Observe};

/// A sink that panics on the records `bad` picks (by span name or log message)
/// and keeps the names of the others, in order.
struct Picky {
    bad: fn(&str) -> bool,
    seen: Arc<Mutex<Vec<String>>>,
    flush_panics: bool,
}

impl Sink for Picky {
    fn on_span(&mut self, span: &SpanRecord) {
        if (self.bad)(span.name()) {
            panic!("this sink cannot take {}", span.name());
        }
        self.seen.lock().unwrap().push(span.name().to_owned());
    }

    fn on_log(&mut self, log: &LogRecord) {
        if (self.bad)(log.message()) {
            panic!("this sink cannot take {:?}", log.message());
        }
        self.seen.lock().unwrap().push(log.message().to_owned());
    }

    fn flush(&mut self, _: std::time::Instant) {
        if self.flush_panics {
            panic!("flush failed");
        }
    }
}

#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<u8>>>);

impl Write for Lines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Lines {
    fn json(&self) -> Vec<serde_json::Value> {
        String::from_utf8_lossy(&self.0.lock().unwrap())
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

struct Setup {
    _guard: DefaultGuard,
    observe: Observe,
    memory: Captured,
    seen: Arc<Mutex<Vec<String>>>,
    lines: Lines,
}

/// An instance with the picky sink first, then a memory sink, writing JSON lines.
fn start(bad: fn(&str) -> bool, flush_panics: bool) -> Setup {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (memory, captured) = MemorySink::new();
    let lines = Lines::default();
    let observe = Observe::builder()
        .ignore_env()
        .flight_recorder_bytes(0)
        .log_writer(lines.clone())
        .sink(Picky {
            bad,
            seen: seen.clone(),
            flush_panics,
        })
        .sink(memory)
        .build()
        .expect("config")
        .expect("enabled");
    let guard = observe.set_default();
    Setup {
        _guard: guard,
        observe,
        memory: captured,
        seen,
        lines,
    }
}

/// Records `n` spans and `n` log lines, every third one "bad".
fn record(n: usize) -> Vec<String> {
    let mut names = Vec::new();
    for i in 0..n {
        let kind = if i % 3 == 0 { "bad" } else { "good" };
        let span = format!("{kind}-span-{i}");
        let line = format!("{kind}-line-{i}");
        Span::new(span.clone()).in_scope(|| tracing::info!("{line}"));
        names.push(line);
        names.push(span);
    }
    names
}

fn is_supervision_warning(l: &LogRecord) -> bool {
    l.field("component")
        .is_some_and(|v| v.to_string() == "supervisor")
}

#[test]
fn a_sink_panicking_on_some_records_misses_only_those() {
    let s = start(|name| name.starts_with("bad"), false);
    let names = record(30);
    assert!(s.observe.flush(Duration::from_secs(10)));
    // A second round delivers the warning the first one queued.
    assert!(s.observe.flush(Duration::from_secs(10)));

    let good: Vec<&String> = names.iter().filter(|n| n.starts_with("good")).collect();
    let seen = s.seen.lock().unwrap().clone();
    let seen_ours: Vec<&String> = seen.iter().filter(|n| !n.starts_with("observe")).collect();
    assert_eq!(
        seen_ours, good,
        "the picky sink got every other record, in order"
    );
    let spans = s.memory.spans();
    let logs: Vec<LogRecord> = s
        .memory
        .logs()
        .into_iter()
        .filter(|l| !is_supervision_warning(l))
        .collect();
    assert_eq!(
        spans.len() + logs.len(),
        names.len(),
        "the next sink got everything"
    );
    let stats = s.observe.stats();
    assert_eq!(
        stats.sink_panics, 20,
        "10 bad spans and 10 bad lines: {stats:?}"
    );
    assert_eq!(
        (stats.thread_panics, stats.dead_threads),
        (0, 0),
        "{stats:?}"
    );
    // Logged once, rate-limited, with what happened.
    let warnings: Vec<serde_json::Value> = s
        .lines
        .json()
        .into_iter()
        .filter(|l| l["fields"]["component"] == "supervisor")
        .collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(warnings[0]["level"], "WARN");
    assert_eq!(warnings[0]["target"], "observe");
    assert!(
        warnings[0]["fields"]["last_panic"]
            .as_str()
            .unwrap()
            .contains("this sink cannot take"),
        "{warnings:?}"
    );
}

#[test]
fn a_sink_that_always_panics_starves_no_other_sink() {
    let s = start(|_| true, false);
    let names = record(50);
    assert!(s.observe.flush(Duration::from_secs(10)));
    assert!(s.observe.flush(Duration::from_secs(10)));
    assert!(s.seen.lock().unwrap().is_empty());
    let spans = s.memory.spans().len();
    let logs = s.memory.logs();
    let warnings = logs.iter().filter(|l| is_supervision_warning(l)).count();
    assert_eq!(spans + logs.len() - warnings, names.len());
    assert_eq!(warnings, 1, "logged once");
    let stats = s.observe.stats();
    // It panicked on every record it was offered, the warning included.
    assert_eq!(stats.sink_panics as usize, spans + logs.len(), "{stats:?}");
    // And the log writer (the first sink) wrote every line.
    let written = s.lines.json();
    assert_eq!(written.len(), 50 + warnings, "{stats:?}");
}

#[test]
fn a_panicking_flush_is_reported_and_the_sinks_keep_serving() {
    let s = start(|_| false, true);
    record(3);
    assert!(
        !s.observe.flush(Duration::from_secs(10)),
        "flush reports the sink that failed"
    );
    record(3);
    assert!(!s.observe.flush(Duration::from_secs(10)));
    assert_eq!(s.memory.spans().len(), 6, "records still flow");
    assert_eq!(s.observe.stats().sink_panics, 2);
}

/// A log output (given in code) that panics on some writes: the lines of that
/// write are dropped and counted, the writer thread goes on.
struct Fragile(Lines);

impl Write for Fragile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if String::from_utf8_lossy(buf).contains("boom") {
            panic!("the output broke");
        }
        self.0.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn the_log_writer_survives_a_panicking_output() {
    let lines = Lines::default();
    let observe = Observe::builder()
        .ignore_env()
        .flight_recorder_bytes(0)
        .log_writer(Fragile(lines.clone()))
        .build()
        .unwrap()
        .unwrap();
    let _g = observe.set_default();
    tracing::info!("before");
    assert!(observe.flush(Duration::from_secs(10)));
    tracing::info!("boom");
    assert!(observe.flush(Duration::from_secs(10)));
    tracing::info!("after");
    assert!(observe.flush(Duration::from_secs(10)));
    assert!(observe.flush(Duration::from_secs(10)));
    let written: Vec<String> = lines
        .json()
        .iter()
        .map(|l| l["message"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(written[..2], ["before".to_owned(), "after".to_owned()]);
    assert!(
        written[2].contains("caught 1 panic"),
        "then the warning: {written:?}"
    );
    let stats = observe.stats();
    assert_eq!(stats.thread_panics, 1, "{stats:?}");
    assert_eq!(stats.dropped_log_lines, 1, "{stats:?}");
    assert_eq!(stats.dead_threads, 0, "{stats:?}");
}
