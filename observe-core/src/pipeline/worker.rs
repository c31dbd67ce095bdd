//! The background thread that drains the rings into the sinks.

use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::supervise::Warner;
use super::{Pipeline, Record, Sink};

/// What the application side asks of the worker.
pub(crate) enum Command {
    /// A ring is filling up: drain now.
    Wake,
    /// Drain and flush the sinks, then reply whether everything went well (no sink
    /// panicked while flushing, no supervised thread is dead).
    Flush {
        deadline: Instant,
        reply: mpsc::SyncSender<bool>,
    },
    /// Drain, shut the sinks down, reply as for `Flush`, and stop.
    Shutdown {
        deadline: Instant,
        reply: mpsc::SyncSender<bool>,
    },
}

pub(super) fn spawn(
    pipeline: &'static Pipeline,
    sinks: Vec<Box<dyn Sink>>,
    commands: mpsc::Receiver<Command>,
) -> std::io::Result<()> {
    let spawned = std::thread::Builder::new()
        .name("observe-worker".into())
        .spawn(move || run(pipeline, sinks, commands))
        .map(|_| ());
    if spawned.is_err() {
        pipeline.supervision.worker.mark_dead();
    }
    spawned
}

/// The worker's loop. Each round (wait, drain, tick, answer a command) is
/// supervised: a panic in a sink is caught per call (that sink misses that record),
/// a panic anywhere else in the round is caught for the round; either way it is
/// counted and the loop goes on.
fn run(
    pipeline: &'static Pipeline,
    mut sinks: Vec<Box<dyn Sink>>,
    commands: mpsc::Receiver<Command>,
) {
    let sup = &pipeline.supervision;
    let _watch = sup.worker.watch();
    let interval = pipeline.settings.drain_interval;
    let mut published = Published::new();
    let mut warner = Warner::default();
    loop {
        let command = commands.recv_timeout(interval);
        let stop = matches!(
            command,
            Ok(Command::Shutdown { .. }) | Err(mpsc::RecvTimeoutError::Disconnected)
        );
        sup.worker.guard(|| {
            drain(pipeline, &mut sinks);
            let now = Instant::now();
            sup.each_sink(&mut sinks, |s| s.on_tick(now));
            published.maybe_publish(pipeline, now);
            if let Some(warning) = warner.due(sup, now) {
                // Into the worker's own ring: the sinks get it in the next round.
                pipeline.push_log(warning);
            }
            match command {
                Ok(Command::Wake) | Err(mpsc::RecvTimeoutError::Timeout) => {}
                Ok(Command::Flush { deadline, reply }) => {
                    let ok = sup.each_sink(&mut sinks, |s| s.flush(deadline));
                    let delivered = !take_undelivered();
                    let _ = reply.try_send(ok && delivered && !sup.any_dead());
                }
                Ok(Command::Shutdown { deadline, reply }) => {
                    // A last drain: the warning above, and what came meanwhile.
                    drain(pipeline, &mut sinks);
                    let ok = sup.each_sink(&mut sinks, |s| s.shutdown(deadline));
                    let delivered = !take_undelivered();
                    let _ = reply.try_send(ok && delivered && !sup.any_dead());
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let deadline = Instant::now() + Duration::from_secs(1);
                    sup.each_sink(&mut sinks, |s| s.shutdown(deadline));
                }
            }
        });
        if stop {
            return;
        }
    }
}

std::thread_local! {
    /// Set by a sink on the worker's thread when the flush or shutdown it is
    /// serving did not deliver everything (the exporter's: a batch still waiting
    /// for a retry at the deadline, records given up).
    static UNDELIVERED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Says, from a sink's `flush` or `shutdown`, that it did not deliver everything:
/// the worker's answer to the flush or shutdown is then `false`.
#[cfg_attr(not(feature = "otlp"), allow(dead_code))]
pub(crate) fn note_undelivered() {
    UNDELIVERED.with(|u| u.set(true));
}

/// Whether a sink said so since the last call; clears it.
fn take_undelivered() -> bool {
    UNDELIVERED.with(|u| u.replace(false))
}

/// Once a second: folds the metrics registry into its windows, and publishes the
/// pipeline's own counters as metrics (`observe.pipeline.dropped` by signal), so
/// nothing observe drops goes unseen.
struct Published {
    last: Instant,
    seen: crate::PipelineStats,
    dropped: [crate::metrics::Counter; 3],
    /// `observe.pipeline.panics` of the sinks, then of each supervised thread.
    panics: Vec<(crate::metrics::Counter, u64)>,
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
            panics: Vec::new(),
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
        let sup = &pipeline.supervision;
        if self.panics.is_empty() {
            let counter =
                |c| crate::metrics::counter("observe.pipeline.panics", &[("component", c)]);
            self.panics.push((counter("sink"), 0));
            for t in sup.threads() {
                self.panics.push((counter(t.name()), 0));
            }
        }
        let now = std::iter::once(sup.sink_panics()).chain(sup.threads().map(|t| t.panics()));
        for ((counter, seen), total) in self.panics.iter_mut().zip(now) {
            counter.add(total.saturating_sub(*seen));
            *seen = total;
        }
    }
}

/// Moves every queued record to the sinks, in time order across threads (each
/// thread's records keep their order). A sink that panics on a record misses that
/// record only.
pub(crate) fn drain(pipeline: &'static Pipeline, sinks: &mut [Box<dyn Sink>]) {
    let sup = &pipeline.supervision;
    // Given back to the pipeline even if this round unwinds, so the rings are
    // never lost.
    let mut taken = Taken {
        pipeline,
        consumers: pipeline.take_consumers(),
    };
    let mut processed = 0u64;
    // Given back once per round: the heap the drained records held in flight.
    let mut released = Released { pipeline, bytes: 0 };
    // Each ring gives at most what it held when the round began (one chunk, read
    // without an atomic per record), so a flooding thread cannot starve the
    // others; what is left is taken in the next round.
    let mut runs: smallvec::SmallVec<[Run<'_>; 8]> = smallvec::SmallVec::new();
    for c in taken.consumers.iter_mut() {
        let available = c.inner.slots();
        if available == 0 {
            // An idle thread keeps no share of the budget.
            c.reclaim_credit(&pipeline.budget);
        } else if let Ok(chunk) = c.inner.read_chunk(available) {
            runs.push(chunk.into_iter().peekable());
        }
    }
    let mut deliver = |record: Record| {
        released.bytes += super::size::in_flight(&record);
        match record {
            // Shared, so a sink that keeps records (the flight recorder) keeps
            // this one instead of a deep copy.
            Record::Span(s) => {
                let s = std::sync::Arc::new(s);
                sup.each_sink(sinks, |k| k.on_span_shared(&s))
            }
            Record::Log(l) => sup.each_sink(sinks, |k| k.on_log_shared(&l)),
        };
        processed += 1;
    };
    // In the order things happened, across threads: each ring is in its thread's
    // order already, so the round merges them, taking the earliest head each time
    // (the first ring on equal times). Drained ring by ring, the lines of a
    // request whose future moved between runtime threads were written out of
    // order: its access line before its handler's lines.
    if runs.len() == 1 {
        runs.pop().into_iter().flatten().for_each(&mut deliver);
    } else {
        loop {
            let mut earliest: Option<(usize, crate::clock::Tick)> = None;
            for (q, run) in runs.iter_mut().enumerate() {
                if let Some(head) = run.peek() {
                    let t = record_time(head);
                    if earliest.is_none_or(|(_, e)| t < e) {
                        earliest = Some((q, t));
                    }
                }
            }
            let Some(record) = earliest.and_then(|(q, _)| runs[q].next()) else {
                break;
            };
            deliver(record);
        }
    }
    drop(runs);
    pipeline
        .stats
        .processed
        .fetch_add(processed, Ordering::Relaxed);
}

/// One ring's records of a drain round, read as one chunk.
type Run<'a> = std::iter::Peekable<rtrb::chunks::ReadChunkIntoIter<'a, Record>>;

/// When a record happened: a span's end, a log line's time.
fn record_time(record: &Record) -> crate::clock::Tick {
    match record {
        Record::Span(s) => s.end,
        Record::Log(l) => l.time,
    }
}

/// Bytes of drained records, given back to the budget even if the round unwinds.
struct Released {
    pipeline: &'static Pipeline,
    bytes: usize,
}

impl Drop for Released {
    fn drop(&mut self) {
        self.pipeline.budget.give_back(self.bytes);
    }
}

/// The ring consumers while a drain holds them.
struct Taken {
    pipeline: &'static Pipeline,
    consumers: Vec<super::ring::Consumer>,
}

impl Drop for Taken {
    fn drop(&mut self) {
        let mut consumers = std::mem::take(&mut self.consumers);
        // A thread that exited dropped its producer: once its ring is empty, forget it.
        consumers.retain(|c| {
            let gone = c.inner.is_abandoned() && c.inner.is_empty();
            if gone {
                self.pipeline.budget.ring_gone(c.inner.buffer().capacity());
            }
            !gone
        });
        self.pipeline.return_consumers(consumers);
    }
}
