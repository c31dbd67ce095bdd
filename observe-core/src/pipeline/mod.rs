//! The pipeline: from a finished span or a log event on an application thread to
//! the sinks on the background thread.
//!
//! Each application thread owns a bounded single-producer ring per pipeline; a span
//! record or log record is *moved* into it (a few nanoseconds, no lock, no shared
//! counter). A background thread (`observe-worker`) drains every ring on a short
//! interval, or sooner when a ring passes half full, and hands the records to the
//! sinks: the log writer, the flight recorder, the exporter, test sinks. When a ring
//! is full the record is dropped and counted: the application never waits.
//!
//! A pipeline is created by `init()` (the global one) or by
//! [`Observe::set_default`](crate::Observe::set_default) (a scoped one, for tests). Pipelines live
//! for the rest of the process (they are small); shutting one down stops its
//! worker and turns later records into no-ops.

pub(crate) mod ring;
mod sampler;
pub(crate) mod sink;
pub(crate) mod size;
pub(crate) mod supervise;
mod worker;

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use crossbeam_utils::CachePadded;

pub(crate) use sampler::HeadSampler;
pub use sampler::{MAX_KEY_LEN, MAX_OVERRIDES};
pub(crate) use sink::Sink;
pub(crate) use supervise::{Supervision, ThreadHealth};
pub(crate) use worker::Command;
#[cfg(feature = "otlp")]
pub(crate) use worker::note_undelivered;

use crate::log::LogRecord;
use crate::span::SpanRecord;

/// What application threads hand to the background thread.
#[derive(Debug)]
pub(crate) enum Record {
    Span(SpanRecord),
    /// Shared from the start: log records are larger and rarer than span records
    /// (every slot of the rings is as large as the largest variant), and sinks keep
    /// them as an `Arc` (one allocation on the application thread, none on the
    /// worker).
    Log(Arc<LogRecord>),
}

/// Counters of what the pipeline could not keep.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    /// Span records dropped because a thread's ring was full.
    pub(crate) dropped_spans: AtomicU64,
    /// Log records dropped because a thread's ring was full.
    pub(crate) dropped_logs: AtomicU64,
    /// Records drained and handed to the sinks.
    pub(crate) processed: AtomicU64,
    /// `tracing` spans found entered where they should not be (see `span::stack`).
    pub(crate) misnested_spans: AtomicU64,
}

/// Fixed settings of a pipeline, resolved from the configuration at start.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// Records each thread may queue before it drops (per pipeline), while the
    /// rings of live threads hold fewer than `ring_slots` slots in all.
    pub(crate) ring_capacity: usize,
    /// The slots of all live threads' rings, beyond which a new thread's ring gets
    /// [`ring::SMALL_RING`] slots (it is not refused).
    pub(crate) ring_slots: usize,
    /// The heap that records waiting in the staging buffers and rings of all
    /// threads may hold together (`size::in_flight`); a record over it is dropped
    /// and counted.
    pub(crate) in_flight_bytes: usize,
    /// How often the worker drains the rings when nobody wakes it.
    pub(crate) drain_interval: Duration,
    /// Field names whose values are never logged.
    pub(crate) redact: crate::config::Redaction,
    /// The most verbose level at which `#[traced]` spans are recorded as spans.
    pub(crate) span_level: tracing_core::LevelFilter,
    /// The configuration the pipeline was started from.
    pub(crate) config: std::sync::Arc<crate::config::Config>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            ring_capacity: 4096,
            ring_slots: DEFAULT_RING_SLOTS,
            in_flight_bytes: DEFAULT_IN_FLIGHT_BYTES,
            drain_interval: Duration::from_millis(20),
            redact: crate::config::Redaction::default(),
            span_level: tracing_core::LevelFilter::TRACE,
            config: Default::default(),
        }
    }
}

/// A level as a number that grows with verbosity (`ERROR` 1 to `TRACE` 5).
#[inline(always)]
const fn level_code(level: tracing_core::Level) -> u8 {
    match level {
        tracing_core::Level::ERROR => 1,
        tracing_core::Level::WARN => 2,
        tracing_core::Level::INFO => 3,
        tracing_core::Level::DEBUG => 4,
        _ => 5,
    }
}

/// A level filter on the scale of [`level_code`] (`OFF` 0: nothing passes).
fn filter_code(filter: tracing_core::LevelFilter) -> u8 {
    filter.into_level().map_or(0, level_code)
}

/// Slots of all live rings together before new rings are small: 16 full rings
/// (6 MiB of 96-byte slots).
pub(crate) const DEFAULT_RING_SLOTS: usize = 16 * 4096;

/// The heap records in flight may hold, all threads together.
pub(crate) const DEFAULT_IN_FLIGHT_BYTES: usize = 16 * 1024 * 1024;

const RUNNING: u8 = 0;
const STOPPED: u8 = 1;

/// One pipeline: settings, the consumers of every thread's ring, and the handle of
/// its worker.
///
/// Layout matters: application threads read `state` and `settings` on every record
/// while the worker writes `consumers` and `stats` on every drain. Keeping them on
/// separate cache lines (`CachePadded`) stops the worker's writes from evicting what
/// every producer reads (measured: false sharing here cost more than the rest of
/// the push).
pub(crate) struct Pipeline {
    pub(crate) id: usize,
    state: AtomicU8,
    /// The most verbose level `#[traced]` spans are recorded at, as
    /// [`level_code`]: `settings.span_level` at start, then what the log filter in
    /// force allows (`controls::set_log_filter` changes it at run time).
    span_level: AtomicU8,
    pub(crate) settings: Settings,
    sampler: HeadSampler,
    /// The log writer's counters, when logs are written somewhere.
    pub(crate) log_stats: Option<std::sync::Arc<crate::log::WriterStats>>,
    consumers: CachePadded<Mutex<Vec<ring::Consumer>>>,
    commands: CachePadded<mpsc::SyncSender<Command>>,
    pub(crate) stats: CachePadded<Stats>,
    /// What the threads' rings draw from: bytes in flight and slots of live rings.
    pub(crate) budget: CachePadded<ring::Budget>,
    /// The health of the worker, its sinks and the threads serving the pipeline.
    pub(crate) supervision: Supervision,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("id", &self.id)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

static GLOBAL: AtomicPtr<Pipeline> = AtomicPtr::new(std::ptr::null_mut());
static ANY: AtomicBool = AtomicBool::new(false);
static SCOPED_ACTIVE: AtomicUsize = AtomicUsize::new(0);
static NEXT_ID: AtomicUsize = AtomicUsize::new(1);

thread_local! {
    static SCOPED: Cell<Option<&'static Pipeline>> = const { Cell::new(None) };
}

/// Whether any pipeline was ever started: the one check the disabled path pays.
#[inline(always)]
pub(crate) fn any() -> bool {
    ANY.load(Ordering::Relaxed)
}

impl Pipeline {
    /// Starts a pipeline and its worker thread. The pipeline is leaked: it lives for
    /// the rest of the process, so spans can refer to it with a plain reference.
    /// `threads` are the other background threads serving it (log writer,
    /// exporters), supervised with the worker.
    pub(crate) fn start(
        settings: Settings,
        sinks: Vec<Box<dyn Sink>>,
        sampler: HeadSampler,
        log_stats: Option<std::sync::Arc<crate::log::WriterStats>>,
        threads: Vec<std::sync::Arc<ThreadHealth>>,
    ) -> std::io::Result<&'static Pipeline> {
        let (tx, rx) = mpsc::sync_channel(64);
        let span_level = AtomicU8::new(filter_code(settings.span_level));
        let pipeline: &'static Pipeline = Box::leak(Box::new(Pipeline {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            span_level,
            settings,
            consumers: CachePadded::new(Mutex::new(Vec::new())),
            commands: CachePadded::new(tx),
            state: AtomicU8::new(RUNNING),
            stats: CachePadded::new(Stats::default()),
            budget: CachePadded::new(ring::Budget::default()),
            sampler,
            log_stats,
            supervision: Supervision::new(threads),
        }));
        worker::spawn(pipeline, sinks, rx)?;
        ANY.store(true, Ordering::Relaxed);
        Ok(pipeline)
    }

    /// Whether spans at `level` are more verbose than this pipeline records (one
    /// relaxed load: the threshold changes with the log filter at run time).
    #[inline(always)]
    pub(crate) fn filters_level(&self, level: tracing_core::Level) -> bool {
        level_code(level) > self.span_level.load(Ordering::Relaxed)
    }

    /// Sets the most verbose level `#[traced]` spans are recorded at, from now on.
    pub(crate) fn set_span_level(&self, level: tracing_core::LevelFilter) {
        self.span_level.store(filter_code(level), Ordering::Relaxed);
    }

    /// The pipeline new root spans and events outside any span go to: the scoped
    /// default of this thread, else the global one.
    #[inline]
    pub(crate) fn current() -> Option<&'static Pipeline> {
        if SCOPED_ACTIVE.load(Ordering::Relaxed) > 0
            && let Some(p) = SCOPED.try_with(Cell::get).ok().flatten()
        {
            return Some(p).filter(|p| p.is_running());
        }
        let p = GLOBAL.load(Ordering::Acquire);
        if p.is_null() {
            return None;
        }
        // SAFETY: GLOBAL only ever holds pointers obtained from `Box::leak` in
        // `start`, which are valid for the rest of the process.
        let p: &'static Pipeline = unsafe { &*p };
        p.is_running().then_some(p)
    }

    /// Makes this pipeline the global one. Fails if there is one already.
    pub(crate) fn install_global(&'static self) -> Result<(), &'static Pipeline> {
        let ptr = self as *const Pipeline as *mut Pipeline;
        match GLOBAL.compare_exchange(
            std::ptr::null_mut(),
            ptr,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => Ok(()),
            // SAFETY: as in `current`: only leaked pipelines are ever stored.
            Err(existing) => Err(unsafe { &*existing }),
        }
    }

    /// Makes this pipeline the current one on this thread until the guard drops.
    pub(crate) fn set_scoped(&'static self) -> ScopedGuard {
        let prev = SCOPED.with(|s| s.replace(Some(self)));
        SCOPED_ACTIVE.fetch_add(1, Ordering::Relaxed);
        ScopedGuard {
            prev,
            _not_send: std::marker::PhantomData,
        }
    }

    pub(crate) fn is_running(&self) -> bool {
        self.state.load(Ordering::Relaxed) == RUNNING
    }

    pub(crate) fn sampler(&self) -> &HeadSampler {
        &self.sampler
    }

    /// Hands a log record to the background thread. It may wait in the thread's
    /// staging buffer while the thread is inside a span.
    #[inline]
    pub(crate) fn push_log(&'static self, log: LogRecord) {
        ring::push_log(self, Arc::new(log));
    }

    #[cold]
    pub(crate) fn count_dropped_log(&self) {
        self.stats.dropped_logs.fetch_add(1, Ordering::Relaxed);
    }

    /// A snapshot of the counters.
    pub(crate) fn snapshot_stats(&self) -> crate::PipelineStats {
        let log = self.log_stats.as_deref();
        crate::PipelineStats {
            dropped_spans: self.stats.dropped_spans.load(Ordering::Relaxed),
            dropped_log_records: self.stats.dropped_logs.load(Ordering::Relaxed),
            processed_records: self.stats.processed.load(Ordering::Relaxed),
            dropped_log_lines: log.map_or(0, |l| l.dropped.load(Ordering::Relaxed)),
            written_log_lines: log.map_or(0, |l| l.written.load(Ordering::Relaxed)),
            sink_panics: self.supervision.sink_panics(),
            thread_panics: self.supervision.thread_panics(),
            dead_threads: self.supervision.dead().len() as u64,
            misnested_spans: self.stats.misnested_spans.load(Ordering::Relaxed),
        }
    }

    /// Counts a misnested `tracing` span (see `span::stack`); returns the total.
    #[cold]
    pub(crate) fn count_misnested(&self) -> u64 {
        self.stats.misnested_spans.fetch_add(1, Ordering::Relaxed) + 1
    }

    #[cold]
    pub(crate) fn count_dropped_span(&self) {
        self.stats.dropped_spans.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts records that could not be queued.
    #[cold]
    pub(crate) fn count_dropped(&self, records: &[Record]) {
        let spans = records
            .iter()
            .filter(|r| matches!(r, Record::Span(_)))
            .count() as u64;
        let logs = records.len() as u64 - spans;
        self.stats.dropped_spans.fetch_add(spans, Ordering::Relaxed);
        self.stats.dropped_logs.fetch_add(logs, Ordering::Relaxed);
    }

    pub(crate) fn register(&self, consumer: ring::Consumer) {
        self.consumers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(consumer);
    }

    /// Asks the worker to drain soon (a ring is filling up). Never blocks.
    pub(crate) fn wake(&self) {
        let _ = self.commands.try_send(Command::Wake);
    }

    /// Drains every ring and flushes the sinks; waits at most until `deadline`.
    /// Returns whether the worker confirmed in time, no sink panicked while
    /// flushing, and no supervised thread is dead.
    pub(crate) fn flush(&self, deadline: Instant) -> bool {
        self.request(deadline, |reply| Command::Flush { deadline, reply })
    }

    /// Drains, flushes and stops the worker; waits at most until `deadline`. Later
    /// records are dropped. Returns as [`flush`](Self::flush) does.
    pub(crate) fn shutdown(&self, deadline: Instant) -> bool {
        let done = self.request(deadline, |reply| Command::Shutdown { deadline, reply });
        self.state.store(STOPPED, Ordering::Relaxed);
        done
    }

    fn request(
        &self,
        deadline: Instant,
        make: impl FnOnce(mpsc::SyncSender<bool>) -> Command,
    ) -> bool {
        if !self.is_running() {
            return !self.supervision.any_dead();
        }
        let (reply_tx, reply_rx) = mpsc::sync_channel(1);
        let mut command = Some(make(reply_tx));
        // The command channel is bounded; it only fills with wake-ups, which the
        // worker consumes quickly. Retry until the deadline rather than block.
        while let Some(c) = command.take() {
            match self.commands.try_send(c) {
                Ok(()) => break,
                Err(mpsc::TrySendError::Full(c)) => {
                    if Instant::now() >= deadline {
                        return false;
                    }
                    command = Some(c);
                    std::thread::sleep(Duration::from_millis(1));
                }
                // The worker is gone although nobody stopped it.
                Err(mpsc::TrySendError::Disconnected(_)) => return false,
            }
        }
        let wait = deadline.saturating_duration_since(Instant::now());
        reply_rx.recv_timeout(wait).unwrap_or(false)
    }

    /// Takes the ring consumers out for draining (so registration never waits for
    /// the sinks), to be given back with [`return_consumers`](Self::return_consumers).
    pub(crate) fn take_consumers(&self) -> Vec<ring::Consumer> {
        std::mem::take(&mut *self.consumers.lock().unwrap_or_else(|e| e.into_inner()))
    }

    pub(crate) fn return_consumers(&self, mut drained: Vec<ring::Consumer>) {
        let mut guard = self.consumers.lock().unwrap_or_else(|e| e.into_inner());
        drained.append(&mut guard);
        *guard = drained;
    }
}

/// Restores the previous scoped pipeline of this thread when dropped.
#[derive(Debug)]
pub(crate) struct ScopedGuard {
    prev: Option<&'static Pipeline>,
    _not_send: std::marker::PhantomData<*const ()>,
}

impl Drop for ScopedGuard {
    fn drop(&mut self) {
        let _ = SCOPED.try_with(|s| s.set(self.prev));
        SCOPED_ACTIVE.fetch_sub(1, Ordering::Relaxed);
    }
}
