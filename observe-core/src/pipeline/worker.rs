//! The background thread that drains the rings into the sinks.

use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::{Pipeline, Record, Sink};

/// What the application side asks of the worker.
pub(crate) enum Command {
    /// A ring is filling up: drain now.
    Wake,
    /// Drain and flush the sinks, then reply.
    Flush {
        deadline: Instant,
        reply: mpsc::SyncSender<()>,
    },
    /// Drain, shut the sinks down, reply, and stop.
    Shutdown {
        deadline: Instant,
        reply: mpsc::SyncSender<()>,
    },
}

pub(super) fn spawn(
    pipeline: &'static Pipeline,
    sinks: Vec<Box<dyn Sink>>,
    commands: mpsc::Receiver<Command>,
) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("observe-worker".into())
        .spawn(move || run(pipeline, sinks, commands))
        .map(|_| ())
}

fn run(
    pipeline: &'static Pipeline,
    mut sinks: Vec<Box<dyn Sink>>,
    commands: mpsc::Receiver<Command>,
) {
    let interval = pipeline.settings.drain_interval;
    let mut published = Published::new();
    loop {
        let command = commands.recv_timeout(interval);
        drain(pipeline, &mut sinks);
        let now = Instant::now();
        sinks.on_tick(now);
        published.maybe_publish(pipeline, now);
        match command {
            Ok(Command::Wake) | Err(mpsc::RecvTimeoutError::Timeout) => {}
            Ok(Command::Flush { deadline, reply }) => {
                sinks.flush(deadline);
                let _ = reply.try_send(());
            }
            Ok(Command::Shutdown { deadline, reply }) => {
                sinks.shutdown(deadline);
                let _ = reply.try_send(());
                return;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                sinks.shutdown(Instant::now() + Duration::from_secs(1));
                return;
            }
        }
    }
}

/// Once a second: folds the metrics registry into its windows, and publishes the
/// pipeline's own counters as metrics (`observe.pipeline.dropped` by signal), so
/// nothing observe drops goes unseen.
struct Published {
    last: Instant,
    seen: crate::PipelineStats,
    dropped: [crate::metrics::Counter; 3],
}

impl Published {
    fn new() -> Published {
        let counter =
            |signal| crate::metrics::counter("observe.pipeline.dropped", &[("signal", signal)]);
        Published {
            last: Instant::now(),
            seen: crate::PipelineStats::default(),
            dropped: [
                counter("spans"),
                counter("log_records"),
                counter("log_lines"),
            ],
        }
    }

    fn maybe_publish(&mut self, pipeline: &'static Pipeline, now: Instant) {
        if now.duration_since(self.last) < Duration::from_secs(1) {
            return;
        }
        self.last = now;
        crate::metrics::tick();
        let s = pipeline.snapshot_stats();
        self.dropped[0].add(s.dropped_spans.saturating_sub(self.seen.dropped_spans));
        self.dropped[1].add(
            s.dropped_log_records
                .saturating_sub(self.seen.dropped_log_records),
        );
        self.dropped[2].add(
            s.dropped_log_lines
                .saturating_sub(self.seen.dropped_log_lines),
        );
        self.seen = s;
    }
}

/// Moves every queued record to the sinks. Records of one thread keep their order.
pub(crate) fn drain(pipeline: &'static Pipeline, sinks: &mut Vec<Box<dyn Sink>>) {
    let mut consumers = pipeline.take_consumers();
    let mut processed = 0u64;
    for c in consumers.iter_mut() {
        // Bound one round per ring so a flooding thread cannot starve the others;
        // what is left is taken in the next round.
        let available = c.inner.slots();
        for _ in 0..available {
            match c.inner.pop() {
                Ok(Record::Span(s)) => sinks.on_span(&s),
                Ok(Record::Log(l)) => sinks.on_log(&l),
                Err(_) => break,
            }
            processed += 1;
        }
    }
    // A thread that exited dropped its producer: once its ring is empty, forget it.
    consumers.retain(|c| !(c.inner.is_abandoned() && c.inner.is_empty()));
    pipeline.return_consumers(consumers);
    pipeline
        .stats
        .processed
        .fetch_add(processed, Ordering::Relaxed);
}
