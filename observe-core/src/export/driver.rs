//! The exporter thread and its drivers: one current-thread Tokio runtime, and for
//! each signal a driver that batches from its queue, retries transient failures
//! with backoff while the batch is held, and answers flush and shutdown.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::Ordering;
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use futures_util::FutureExt as _;
use opentelemetry_sdk::logs::LogExporter;
use opentelemetry_sdk::trace::SpanExporter;
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};

use super::error::ExportError;
use super::exporter::{Exporter, Inner};
use super::lane::{Lane, LogLane, SpanLane};
use super::pending::PendingEvents;
use super::queue::{Queue, SpanItem, log_size};
use super::retry::{self, Backoff, Failure};
use super::settings::normalized;
use super::stats::{Counters, SignalCounters};
use super::transport::WithProbe;
use crate::config::{BatchConfig, ExportConfig, Service};
use crate::otel::convert::{self, LogConverter};
use crate::pipeline::ThreadHealth;

/// What the [`Exporter`] handle asks of each driver. The reply says whether
/// everything queued was delivered (false: a batch still waits for a retry past
/// the deadline, or the deadline passed with records queued).
pub(super) enum Control {
    Flush {
        deadline: Instant,
        reply: mpsc::SyncSender<bool>,
    },
    Shutdown {
        deadline: Instant,
        reply: mpsc::SyncSender<bool>,
    },
}

type Made<S, L> = Result<(Option<WithProbe<S>>, Option<WithProbe<L>>), ExportError>;

/// Starts the exporter thread: the queues, the runtime, the exporters `make`
/// builds on that thread, and one driver per signal.
pub(super) fn spawn<S, L>(
    settings: ExportConfig,
    resource: &Service,
    make: impl FnOnce() -> Made<S, L> + Send + 'static,
) -> Result<Exporter, ExportError>
where
    S: SpanExporter + 'static,
    L: LogExporter + 'static,
{
    let mut settings = settings;
    settings.span_batch = normalized(settings.span_batch);
    settings.log_batch = normalized(settings.log_batch);
    let counters = Arc::new(Counters {
        hidden: [&settings.traces, &settings.logs]
            .into_iter()
            .flatten()
            .filter_map(|e| e.query().map(str::to_owned))
            .collect(),
        ..Counters::default()
    });
    let health = ThreadHealth::new("observe-export");
    let spans = settings.traces.as_ref().map(|_| {
        Arc::new(Queue::new(
            settings.span_batch,
            settings.span_queue_bytes,
            SpanItem::is_span,
            SpanItem::size,
        ))
    });
    let logs = settings.logs.as_ref().map(|_| {
        Arc::new(Queue::new(
            settings.log_batch,
            settings.log_queue_bytes,
            |_| true,
            log_size,
        ))
    });
    let (span_ctl_tx, span_ctl_rx) = unbounded_channel();
    let (log_ctl_tx, log_ctl_rx) = unbounded_channel();
    let mut control = Vec::new();
    if spans.is_some() {
        control.push(span_ctl_tx);
    }
    if logs.is_some() {
        control.push(log_ctl_tx);
    }
    let resource = convert::resource(resource);
    let span_timeout = settings
        .traces
        .as_ref()
        .map_or(Duration::ZERO, |s| s.timeout);
    let log_timeout = settings.logs.as_ref().map_or(Duration::ZERO, |s| s.timeout);
    let (ready_tx, ready_rx) = mpsc::sync_channel::<Result<(), ExportError>>(1);
    let thread = {
        let counters = counters.clone();
        let spans = spans.clone();
        let logs = logs.clone();
        let health = health.clone();
        move || {
            let _watch = health.watch();
            // Whatever the export stack logs or traces (hyper, h2, tonic) must not
            // come back into observe and be exported in turn.
            let _silence = tracing::dispatcher::set_default(&tracing::Dispatch::none());
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = ready_tx.send(Err(ExportError::Thread(e)));
                    return;
                }
            };
            // The gRPC channel is built lazily but needs the runtime in context.
            let made = {
                let _enter = rt.enter();
                make()
            };
            let (span_exporter, log_exporter) = match made {
                Ok(m) => m,
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return;
                }
            };
            let _ = ready_tx.send(Ok(()));
            let span_task = async {
                if let (Some((mut e, probe)), Some(q)) = (span_exporter, spans) {
                    e.set_resource(&resource);
                    let lane = SpanLane {
                        exporter: e,
                        scope: convert::scope(),
                        pending: PendingEvents::default(),
                        probe,
                    };
                    let c = &counters.spans;
                    let d = Driver::new(lane, q, c, &counters, &health, "traces", span_timeout);
                    d.run(span_ctl_rx).await;
                }
            };
            let log_task = async {
                if let (Some((mut e, probe)), Some(q)) = (log_exporter, logs) {
                    e.set_resource(&resource);
                    let lane = LogLane {
                        exporter: e,
                        scope: convert::scope(),
                        converter: LogConverter::new(),
                        probe,
                    };
                    let c = &counters.logs;
                    let d = Driver::new(lane, q, c, &counters, &health, "logs", log_timeout);
                    d.run(log_ctl_rx).await;
                }
            };
            rt.block_on(futures_util::future::join(span_task, log_task));
        }
    };
    std::thread::Builder::new()
        .name("observe-export".into())
        .spawn(thread)
        .map_err(ExportError::Thread)?;
    match ready_rx.recv() {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(e),
        Err(_) => {
            return Err(ExportError::Thread(std::io::Error::other(
                "the exporter thread stopped while starting",
            )));
        }
    }
    Ok(Exporter {
        inner: Arc::new(Inner {
            settings,
            counters,
            spans,
            logs,
            control,
            health,
        }),
    })
}

/// A batch taken from the queue and not settled yet: in a request, or waiting to
/// be retried after a transient failure.
struct Held<B> {
    batch: B,
    records: u64,
    /// The queue's eviction count when the batch was taken: if it moved, the queue
    /// dropped records younger than this batch, so this batch should have gone
    /// first.
    evicted: u64,
    /// Not to be sent before this (the backoff, or the collector's `Retry-After`).
    not_before: Instant,
}

/// What woke an export task.
enum Wake {
    Work,
    Control(Control),
    Closed,
}

/// Drives one signal: takes batches from its queue, sends them, retries transient
/// failures with backoff while the batch waits (and the queue keeps filling up to
/// its bound, dropping its oldest records when full), and answers flush and
/// shutdown within their deadlines.
struct Driver<'a, L: Lane> {
    lane: L,
    q: Arc<Queue<L::Item>>,
    c: &'a SignalCounters,
    counters: &'a Counters,
    health: &'a ThreadHealth,
    signal: &'static str,
    timeout: Duration,
    held: Option<Held<L::Batch>>,
    backoff: Backoff,
}

impl<'a, L: Lane> Driver<'a, L> {
    fn new(
        lane: L,
        q: Arc<Queue<L::Item>>,
        c: &'a SignalCounters,
        counters: &'a Counters,
        health: &'a ThreadHealth,
        signal: &'static str,
        timeout: Duration,
    ) -> Self {
        Driver {
            lane,
            q,
            c,
            counters,
            health,
            signal,
            timeout,
            held: None,
            backoff: Backoff::default(),
        }
    }

    /// Serves until shutdown (then shuts the exporter down and answers) or until
    /// the exporter handle goes away. A panic that escapes the per-record and
    /// per-request guards is caught here, counted, and serving resumes.
    async fn run(mut self, mut ctl: UnboundedReceiver<Control>) {
        loop {
            let served = AssertUnwindSafe(self.serve(&mut ctl)).catch_unwind().await;
            match served {
                Ok(Some((reply, delivered))) => {
                    let _ = reply.try_send(delivered);
                    return;
                }
                Ok(None) => return,
                Err(panic) => {
                    self.health.caught(panic);
                    // What it held is in an unknown state: count it as failed.
                    self.release(false);
                }
            }
        }
    }

    async fn serve(
        &mut self,
        ctl: &mut UnboundedReceiver<Control>,
    ) -> Option<(mpsc::SyncSender<bool>, bool)> {
        let mut retry_at = None;
        loop {
            match self.wait(ctl, retry_at).await {
                Wake::Work => (retry_at, _) = self.export(None).await,
                Wake::Control(Control::Flush { deadline, reply }) => {
                    let lost = self.lost();
                    let drained;
                    (retry_at, drained) = self.export(Some(deadline)).await;
                    let _ = reply.try_send(drained && self.lost() == lost);
                }
                Wake::Control(Control::Shutdown { deadline, reply }) => {
                    let lost = self.lost();
                    let (_, drained) = self.export(Some(deadline)).await;
                    let drained = drained && self.lost() == lost;
                    // A batch still failing at the deadline counts as failed.
                    self.release(false);
                    self.q.drop_all(self.c);
                    let left = self.lane.take_events_dropped() + self.lane.abandon();
                    self.c.events_dropped.fetch_add(left, Ordering::Relaxed);
                    return Some((reply, drained));
                }
                Wake::Closed => return None,
            }
        }
    }

    /// Waits for work (a full batch, or the schedule delay), a control message,
    /// or the time to retry the batch held. While a batch waits for its retry, new
    /// work does not wake the task: the collector is given its time.
    async fn wait(&self, ctl: &mut UnboundedReceiver<Control>, retry_at: Option<Instant>) -> Wake {
        let timer = async {
            match retry_at {
                Some(t) => tokio::time::sleep_until(t.into()).await,
                None => tokio::time::sleep(self.q.batch.schedule_delay).await,
            }
        };
        tokio::select! {
            c = ctl.recv() => c.map_or(Wake::Closed, Wake::Control),
            _ = self.q.notify.notified(), if retry_at.is_none() => Wake::Work,
            _ = timer => Wake::Work,
        }
    }

    /// Records given up so far (refused by the collector, or dropped from a full
    /// queue): a flush or shutdown that gave any up did not deliver everything.
    fn lost(&self) -> u64 {
        self.c.failed.load(Ordering::Relaxed) + self.c.dropped.load(Ordering::Relaxed)
    }

    /// Exports what is queued, batch by batch, until the queue is empty, `limit`
    /// passes, or the batch held waits for a retry (past `limit`, if any). Returns
    /// when that retry is due, if a batch is held, and whether the queue was
    /// emptied with nothing held (everything delivered or given up as refused).
    async fn export(&mut self, limit: Option<Instant>) -> (Option<Instant>, bool) {
        for _ in 0..rounds(&self.q.batch, limit) {
            let now = Instant::now();
            if limit.is_some_and(|l| now >= l) {
                break;
            }
            if self
                .held
                .as_ref()
                .is_some_and(|h| h.evicted != self.q.evicted())
            {
                // The oldest records go first: the batch held is older than
                // anything the queue just dropped.
                self.release(true);
            }
            if self.held.is_none() && !self.take_batch(now) {
                return (None, true);
            }
            let Some(h) = &self.held else { continue };
            if h.not_before > now {
                match limit {
                    Some(l) if h.not_before < l => {
                        tokio::time::sleep_until(h.not_before.into()).await;
                        continue;
                    }
                    _ => return (Some(h.not_before), false),
                }
            }
            self.attempt(limit).await;
        }
        // Out of rounds or past the deadline: everything may have gone already.
        let drained = self.held.is_none() && self.q.is_empty();
        (self.held.as_ref().map(|h| h.not_before), drained)
    }

    /// Takes the next batch from the queue into `held`. Returns false when the
    /// queue is empty.
    fn take_batch(&mut self, now: Instant) -> bool {
        let items = self.q.take(self.q.batch.max_export_batch_size, self.c);
        if items.is_empty() {
            return false;
        }
        let mut failed = 0;
        let (batch, records) = self.lane.prepare(items, self.health, &mut failed);
        if failed > 0 {
            self.c.failed.fetch_add(failed, Ordering::Relaxed);
        }
        let events = self.lane.take_events_dropped();
        if events > 0 {
            self.c.events_dropped.fetch_add(events, Ordering::Relaxed);
        }
        if records > 0 {
            self.c.in_flight.fetch_add(records, Ordering::Relaxed);
            self.held = Some(Held {
                batch,
                records,
                evicted: self.q.evicted(),
                not_before: now,
            });
        }
        true
    }

    /// One attempt at sending the batch held, and what follows: exported, failed
    /// for good, or kept for a retry after a backoff.
    async fn attempt(&mut self, limit: Option<Instant>) {
        let Some(h) = self.held.as_mut() else { return };
        if let Some(p) = self.lane.probe() {
            p.lock().unwrap_or_else(|e| e.into_inner()).take();
        }
        let deadline = batch_deadline(self.timeout, limit);
        let send = AssertUnwindSafe(self.lane.send(&mut h.batch, self.health)).catch_unwind();
        let sent = tokio::time::timeout_at(deadline.into(), send).await;
        let (result, removed) = match sent {
            Ok(Ok((result, removed))) => (Ok(result), removed),
            Ok(Err(panic)) => {
                self.health.caught(panic);
                (Err(None), 0)
            }
            Err(_elapsed) => (Err(Some(())), 0),
        };
        if removed > 0 {
            h.records -= removed;
            self.c.in_flight.fetch_sub(removed, Ordering::Relaxed);
            self.c.failed.fetch_add(removed, Ordering::Relaxed);
        }
        let n = h.records;
        let answer = self
            .lane
            .probe()
            .and_then(|p| p.lock().unwrap_or_else(|e| e.into_inner()).take());
        let (failure, error) = match result {
            Ok(Ok(())) => {
                self.c.in_flight.fetch_sub(n, Ordering::Relaxed);
                self.c.exported.fetch_add(n, Ordering::Relaxed);
                self.held = None;
                self.backoff.reset();
                return;
            }
            Ok(Err(e)) => {
                // The HTTP client's own words when there was no answer (a TLS
                // failure says which certificate check failed).
                let text = match &answer {
                    Some(retry::Answer::Nothing(why)) if !why.is_empty() => format!("{e} ({why})"),
                    // What the collector said of the error (its `Status` message).
                    Some(retry::Answer::Status(_, _, Some(said))) => {
                        format!("{e}: the collector said \"{said}\"")
                    }
                    _ => e.to_string(),
                };
                (retry::classify(&e, answer), text)
            }
            Err(None) => (Failure::Permanent, "the exporter panicked".to_owned()),
            Err(Some(())) => (
                Failure::Transient(None),
                format!(
                    "no answer from the collector within {:?} (or the deadline)",
                    self.timeout
                ),
            ),
        };
        self.counters.set_error(format!("{}: {error}", self.signal));
        match failure {
            Failure::Transient(after) => {
                self.c.retries.fetch_add(1, Ordering::Relaxed);
                h.not_before = Instant::now() + self.backoff.next(after);
            }
            Failure::Permanent => {
                self.release(false);
                // The collector answered: the next batch starts afresh.
                self.backoff.reset();
            }
        }
    }

    /// Gives up the batch held: counted as dropped (the queue overflowed, and it
    /// was the oldest) or as failed (it was refused, or still failing at shutdown).
    fn release(&mut self, dropped: bool) {
        if let Some(h) = self.held.take() {
            self.c.in_flight.fetch_sub(h.records, Ordering::Relaxed);
            if dropped {
                self.c.dropped.fetch_add(h.records, Ordering::Relaxed);
            } else {
                self.c.failed.fetch_add(h.records, Ordering::Relaxed);
                self.c.batches_failed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// Batches exported per wake-up: a queue's worth on a timer or a full batch (so
/// flush and shutdown requests are seen between rounds even under constant load),
/// as many as the deadline allows for flush and shutdown.
fn rounds(batch: &BatchConfig, limit: Option<Instant>) -> usize {
    match limit {
        Some(_) => usize::MAX,
        None => batch.max_queue_size.div_ceil(batch.max_export_batch_size) + 1,
    }
}

fn batch_deadline(timeout: Duration, limit: Option<Instant>) -> Instant {
    let d = crate::clock::deadline_after(timeout);
    limit.map_or(d, |l| l.min(d))
}
