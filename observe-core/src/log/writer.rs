//! The log sink: formats records on the worker thread and hands batches of lines to
//! a dedicated writer thread through a bounded queue.
//!
//! We do not use `tracing-appender`'s non-blocking writer: it allocates and sends
//! one message per line from the logging thread, while our lines are already
//! produced off the request path, one batch per drain; sending batches costs one
//! allocation and one channel operation per drain instead of per line.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::{LogFormat, LogRecord, format};
use crate::pipeline::{Sink, ThreadHealth};

/// Where log lines go.
pub(crate) enum Output {
    /// The process's standard output.
    Stdout,
    /// The process's standard error.
    Stderr,
    /// Any writer (files, tests).
    Writer(Box<dyn Write + Send>),
}

impl std::fmt::Debug for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Output::Stdout => "Stdout",
            Output::Stderr => "Stderr",
            Output::Writer(_) => "Writer",
        })
    }
}

/// Counters shared between the sink, the writer thread and whoever reports them.
#[derive(Debug)]
pub(crate) struct WriterStats {
    /// The writer thread's health (supervised with the pipeline's worker).
    pub(crate) health: Arc<ThreadHealth>,
    /// Lines accepted but not yet written.
    pub(crate) in_flight: AtomicUsize,
    /// Lines dropped because the queue was full.
    pub(crate) dropped: AtomicU64,
    /// Lines written.
    pub(crate) written: AtomicU64,
}

impl Default for WriterStats {
    fn default() -> Self {
        WriterStats {
            health: ThreadHealth::new("observe-log-writer"),
            in_flight: AtomicUsize::new(0),
            dropped: AtomicU64::new(0),
            written: AtomicU64::new(0),
        }
    }
}

struct Batch {
    bytes: Vec<u8>,
    lines: usize,
}

/// The log sink.
pub(crate) struct LogWriter {
    format: LogFormat,
    color: bool,
    resource_fragment: Vec<u8>,
    callsites: format::Callsites,
    pending: Batch,
    max_lines: usize,
    tx: Option<mpsc::SyncSender<Batch>>,
    done: Option<mpsc::Receiver<()>>,
    stats: Arc<WriterStats>,
    reported_dropped: u64,
    last_report: Instant,
    report_every: Duration,
}

impl LogWriter {
    /// A sink writing `format` lines to `output`, queueing at most `max_lines` lines
    /// that the output has not taken yet.
    pub(crate) fn new(
        format: LogFormat,
        output: Output,
        resource: &crate::config::Service,
        max_lines: usize,
    ) -> std::io::Result<(LogWriter, Arc<WriterStats>)> {
        let color = format == LogFormat::Pretty
            && match &output {
                Output::Stdout => std::io::stdout().is_terminal(),
                Output::Stderr => std::io::stderr().is_terminal(),
                Output::Writer(_) => false,
            };
        let mut out: Box<dyn Write + Send> = match output {
            Output::Stdout => Box::new(std::io::stdout()),
            Output::Stderr => Box::new(std::io::stderr()),
            Output::Writer(w) => w,
        };
        let stats = Arc::new(WriterStats::default());
        // The queue holds batches; the line bound is enforced with `in_flight`.
        let (tx, rx) = mpsc::sync_channel::<Batch>(1024);
        let (done_tx, done_rx) = mpsc::sync_channel(1);
        let thread_stats = stats.clone();
        let spawned = std::thread::Builder::new()
            .name("observe-log-writer".into())
            .spawn(move || {
                let s = &thread_stats;
                let _watch = s.health.watch();
                while let Ok(batch) = rx.recv() {
                    // A failing output (closed pipe) loses lines, and so does one
                    // that panics (a writer given in code): both are counted, and
                    // the thread goes on with the next batch.
                    let ok = s
                        .health
                        .guard(|| out.write_all(&batch.bytes).and_then(|()| out.flush()))
                        .is_some_and(|r| r.is_ok());
                    s.in_flight.fetch_sub(batch.lines, Ordering::Relaxed);
                    let counter = if ok { &s.written } else { &s.dropped };
                    counter.fetch_add(batch.lines as u64, Ordering::Relaxed);
                }
                let _ = done_tx.send(());
            });
        if let Err(e) = spawned {
            stats.health.mark_dead();
            return Err(e);
        }
        Ok((
            LogWriter {
                format,
                color,
                resource_fragment: format::resource_fragment(resource),
                callsites: format::Callsites::new(),
                pending: Batch {
                    bytes: Vec::with_capacity(16 * 1024),
                    lines: 0,
                },
                max_lines: max_lines.max(1),
                tx: Some(tx),
                done: Some(done_rx),
                stats: stats.clone(),
                reported_dropped: 0,
                last_report: Instant::now(),
                report_every: Duration::from_secs(10),
            },
            stats,
        ))
    }

    fn send_pending(&mut self) {
        if self.pending.lines == 0 {
            return;
        }
        // The next batch starts as large as this one was (bounded), so a busy
        // service does not grow it by doubling (a copy of the batch each time)
        // between every two sends.
        let capacity = self.pending.bytes.len().clamp(16 * 1024, 1024 * 1024);
        let batch = std::mem::replace(
            &mut self.pending,
            Batch {
                bytes: Vec::with_capacity(capacity),
                lines: 0,
            },
        );
        let lines = batch.lines;
        let Some(tx) = &self.tx else { return };
        let in_flight = self.stats.in_flight.load(Ordering::Relaxed);
        if in_flight + lines > self.max_lines {
            self.stats
                .dropped
                .fetch_add(lines as u64, Ordering::Relaxed);
            return;
        }
        self.stats.in_flight.fetch_add(lines, Ordering::Relaxed);
        if tx.try_send(batch).is_err() {
            self.stats.in_flight.fetch_sub(lines, Ordering::Relaxed);
            self.stats
                .dropped
                .fetch_add(lines as u64, Ordering::Relaxed);
        }
    }

    fn report_drops(&mut self, now: Instant) {
        if now.duration_since(self.last_report) < self.report_every {
            return;
        }
        let dropped = self.stats.dropped.load(Ordering::Relaxed);
        if dropped == self.reported_dropped {
            return;
        }
        let delta = dropped - self.reported_dropped;
        self.reported_dropped = dropped;
        self.last_report = now;
        let line = drop_warning(delta, dropped, &self.resource_fragment, self.format);
        self.pending.bytes.extend_from_slice(line.as_bytes());
        self.pending.lines += 1;
    }
}

/// The warning written when lines were dropped (the writer could not keep up).
fn drop_warning(delta: u64, total: u64, resource: &[u8], format: LogFormat) -> String {
    let now = humantime::format_rfc3339_micros(std::time::SystemTime::now());
    let message = format!("observe dropped {delta} log lines: the log output is not keeping up");
    match format {
        LogFormat::Json => format!(
            "{{\"timestamp\":\"{now}\",\"level\":\"WARN\",\"message\":{},\"target\":\"observe\",{},\"fields\":{{\"dropped\":{delta},\"dropped_total\":{total}}}}}\n",
            serde_json::Value::String(message),
            String::from_utf8_lossy(resource),
        ),
        LogFormat::Pretty => format!("{now}  WARN observe: {message} dropped_total={total}\n"),
    }
}

impl Sink for LogWriter {
    fn on_log(&mut self, log: &LogRecord) {
        // A line that panics half-written is cut off before the panic goes on to
        // the worker (which counts it), so the batch never holds a broken line.
        let start = self.pending.bytes.len();
        let written =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match self.format {
                LogFormat::Json => format::write_json(
                    &mut self.pending.bytes,
                    log,
                    &self.resource_fragment,
                    &mut self.callsites,
                ),
                LogFormat::Pretty => format::write_pretty(&mut self.pending.bytes, log, self.color),
            }));
        if let Err(payload) = written {
            self.pending.bytes.truncate(start);
            std::panic::resume_unwind(payload);
        }
        self.pending.lines += 1;
        if self.pending.lines >= 1024 {
            self.send_pending();
        }
    }

    fn on_tick(&mut self, now: Instant) {
        self.report_drops(now);
        self.send_pending();
    }

    fn flush(&mut self, deadline: Instant) {
        self.send_pending();
        // Wait (bounded) until the writer thread has taken everything.
        while self.stats.in_flight.load(Ordering::Relaxed) > 0
            && Instant::now() < deadline
            && !self.stats.health.is_dead()
        {
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    fn shutdown(&mut self, deadline: Instant) {
        // The lines first (a batch that does not fit is dropped and counted),
        // then the drop warning alone, once the writer thread has made room for
        // it: sent while the output was still catching up, it was dropped with
        // the drops it reports.
        self.send_pending();
        self.report_drops(Instant::now() + self.report_every);
        loop {
            // Room is only ever made by the writer thread taking lines in flight.
            let in_flight = self.stats.in_flight.load(Ordering::Relaxed);
            let waits = self.pending.lines > 0
                && in_flight > 0
                && in_flight + self.pending.lines > self.max_lines;
            if !waits || Instant::now() >= deadline || self.stats.health.is_dead() {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        self.send_pending();
        // Closing the queue ends the writer thread once it has written everything.
        self.tx = None;
        if let Some(done) = self.done.take() {
            let _ = done.recv_timeout(deadline.saturating_duration_since(Instant::now()));
        }
    }
}
