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
    loop {
        let command = commands.recv_timeout(interval);
        drain(pipeline, &mut sinks);
        sinks.on_tick(Instant::now());
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
