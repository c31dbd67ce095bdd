//! The flight recorder: the last minutes of every span and log line, in memory.
//!
//! Every finished span, sampled or not, and every log record enters a bounded
//! ring with a byte budget; the oldest records are evicted to stay within it. The
//! budget counts the real heap of each record (its strings, attributes, events,
//! links, request context) and the recorder's own index, so memory stays flat
//! under any load. [`FlightRecorder::stats`] tells how much time the ring covers
//! and how much memory it uses. The default budget (64 MiB) holds about five
//! minutes of a moderately busy service; `docs/traces.md` has the arithmetic.
//! Records older than the window ([`DEFAULT_WINDOW`], 5 minutes) are evicted
//! within the budget too, so a quieter service holds only its last minutes.
//!
//! **Tail promotion.** When a local root span (the first span of a trace in this
//! process) ends in error, or lasts longer than the slow threshold of its name
//! ([`SlowThreshold`]: fixed, or by default the running p99 of that name), the
//! whole local trace is exported even though head sampling dropped it: every span
//! of the trace in the ring is marked `observe.promoted = "error"` (or `"slow"`)
//! and handed to the exporter ([`Promote`]), with the trace's log lines as span
//! events. Children end before their root, so they are in the ring by then; spans
//! of the trace that reach the recorder later (from a thread drained after the
//! root's) are promoted as they arrive, for 30 seconds. So is a later local root
//! of the same trace (a caller that sends one `traceparent` with many requests):
//! it goes out alone, its children having gone out as they arrived, and the
//! trace is not copied again.
//!
//! **Queries** run on a [`FlightRecorder`] handle from any thread (the admin page
//! does): [`recent`](FlightRecorder::recent), [`slowest`](FlightRecorder::slowest),
//! [`failed`](FlightRecorder::failed), [`trace`](FlightRecorder::trace) and
//! [`search`](FlightRecorder::search), returning plain serializable structs. Long
//! scans lock the ring a chunk at a time, so the worker is never held up for long.
//!
//! **Dumps** ([`dump`], [`FlightRecorder::dump`]) write the ring as OTLP-JSON lines
//! for post-mortems; [`FlightRecorder::dump_rate_limited`] is what SLO alerts call.
//!
//! ```
//! use observe_core::recorder::{FlightRecorder, Query, RecorderSettings};
//! use observe_core::span::Span;
//!
//! let recorder = FlightRecorder::new(RecorderSettings::default());
//! let observe = observe_core::testing::instance(
//!     0.0, // sample nothing: the recorder still sees everything
//!     vec![Box::new(recorder.sink())],
//!     std::time::Duration::from_secs(5),
//! )?;
//! let _guard = observe.set_default();
//!
//! Span::new("GET /orders/{id}").in_scope(|| tracing::info!("loading"));
//! assert!(observe.flush(std::time::Duration::from_secs(5)));
//!
//! let recent = recorder.recent(10);
//! assert_eq!(recent[0].root_name.as_deref(), Some("GET /orders/{id}"));
//! let trace = recorder.trace(recent[0].trace_id).expect("held");
//! assert_eq!(trace.logs[0].message, "loading");
//! assert_eq!(recorder.search(&Query::new().name("nope")).len(), 0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod dump;
mod query;
mod sink;
mod slow;
mod store;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant, SystemTime};

pub use dump::DumpError;
pub use query::{
    CodeView, EventView, LinkView, LogView, Query, RecorderStats, SpanView, TraceDetail,
    TraceSummary,
};
pub use sink::RecorderSink;
pub use slow::SlowThreshold;

use crate::config::Service;
use crate::ids::TraceId;
use crate::log::LogRecord;
use crate::span::SpanRecord;
pub(crate) use store::Entry;
use store::Store;

/// The default byte budget: 64 MiB (see `docs/traces.md` for the arithmetic).
pub const DEFAULT_BUDGET: usize = 64 * 1024 * 1024;

/// The default window: records older than 5 minutes are evicted, so a quiet
/// service holds the last minutes of its own traffic, not the whole byte budget.
pub const DEFAULT_WINDOW: std::time::Duration = crate::config::DEFAULT_RECORDER_WINDOW;

/// Why a trace was promoted for export despite head sampling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PromotionReason {
    /// Its local root ended in error.
    Error,
    /// Its local root was slower than the threshold of its name.
    Slow,
}

impl PromotionReason {
    /// `error` or `slow`: the value of the `observe.promoted` attribute.
    pub fn as_str(self) -> &'static str {
        match self {
            PromotionReason::Error => "error",
            PromotionReason::Slow => "slow",
        }
    }
}

/// A trace the recorder promoted: its spans (already marked sampled, with the
/// `observe.promoted` attribute) and its log records.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PromotedTrace {
    /// Why.
    pub reason: PromotionReason,
    /// The trace.
    pub trace_id: TraceId,
    /// Its spans, oldest first.
    pub spans: Vec<SpanRecord>,
    /// Its log records, oldest first.
    pub logs: Vec<LogRecord>,
}

/// Where promoted traces go: the exporter implements it.
pub trait Promote: Send + 'static {
    /// Takes a promoted trace. Runs on the worker thread: must not block.
    fn promote(&mut self, trace: PromotedTrace);
}

impl<F: FnMut(PromotedTrace) + Send + 'static> Promote for F {
    fn promote(&mut self, trace: PromotedTrace) {
        self(trace)
    }
}

/// Flight recorder settings (`OBSERVE_FLIGHT_RECORDER_BYTES`, `OBSERVE_SLOW_THRESHOLD`).
#[derive(Debug, Clone, PartialEq)]
pub struct RecorderSettings {
    /// The most memory the recorder holds, in bytes (at least 256 KiB).
    pub budget_bytes: usize,
    /// Records older than this are evicted even within the byte budget
    /// ([`DEFAULT_WINDOW`]); `None` keeps as many as the budget holds.
    pub window: Option<std::time::Duration>,
    /// When a request is slow enough to be promoted.
    pub slow: SlowThreshold,
    /// Latency objectives by root span name (a route's `GET /orders/{id}`, a gRPC
    /// method's `shop.Orders/Get`): a root slower than its objective's threshold
    /// breached it and is promoted, whatever `slow` says. `init` fills it from the
    /// latency SLOs.
    pub objectives: Vec<(String, std::time::Duration)>,
    /// The resource written into dumps.
    pub resource: Service,
}

impl Default for RecorderSettings {
    fn default() -> Self {
        RecorderSettings {
            budget_bytes: DEFAULT_BUDGET,
            window: Some(DEFAULT_WINDOW),
            slow: SlowThreshold::default(),
            objectives: Vec::new(),
            resource: Service::default(),
        }
    }
}

#[derive(Debug)]
pub(crate) struct State {
    pub(crate) store: Store,
    pub(crate) slow: slow::SlowTracker,
    pub(crate) promoted_traces: u64,
}

impl State {
    /// Memory held beside the store: the latency history, the recorder's own
    /// fixed part, and a margin of 1/512 of the budget for the bookkeeping of the
    /// containers that the store's count does not model exactly.
    pub(crate) fn overhead(&self) -> usize {
        self.slow.heap_bytes()
            + std::mem::size_of::<Shared>()
            + 2 * std::mem::size_of::<usize>()
            + self.store.budget() / 512
    }

    pub(crate) fn push(&mut self, entry: Entry) {
        let overhead = self.overhead();
        self.store.push(entry, overhead);
    }
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    resource: Service,
    last_auto_dump: Mutex<Option<Instant>>,
}

/// A handle on a flight recorder: cheap to clone, usable from any thread. The
/// recorder fills through its [`sink`](FlightRecorder::sink), on observe's worker.
#[derive(Debug, Clone)]
pub struct FlightRecorder {
    shared: Arc<Shared>,
}

/// Records examined per lock while scanning, so the worker waits little.
const SCAN_CHUNK: u64 = 4096;

impl FlightRecorder {
    /// An empty recorder.
    pub fn new(settings: RecorderSettings) -> FlightRecorder {
        FlightRecorder {
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    store: Store::new(settings.budget_bytes).with_window(settings.window),
                    slow: slow::SlowTracker::new(settings.slow)
                        .with_objectives(settings.objectives),
                    promoted_traces: 0,
                }),
                resource: settings.resource,
                last_auto_dump: Mutex::new(None),
            }),
        }
    }

    /// The sink that fills this recorder, without promotion.
    pub fn sink(&self) -> RecorderSink {
        RecorderSink::new(self.clone(), None)
    }

    /// The sink that fills this recorder and hands promoted traces to `target`
    /// (the exporter).
    pub fn sink_promoting_to(&self, target: impl Promote) -> RecorderSink {
        RecorderSink::new(self.clone(), Some(Box::new(target)))
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.shared.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How much the recorder holds, how far back it reaches, what it evicted.
    pub fn stats(&self) -> RecorderStats {
        let st = self.lock();
        let range = st.store.time_range();
        let oldest = range.map(|r| r.0.unix_nanos());
        let newest = range.map(|r| r.1.unix_nanos());
        RecorderStats {
            budget_bytes: st.store.budget(),
            used_bytes: st.store.used() + st.overhead(),
            spans: st.store.spans,
            logs: st.store.logs,
            traces: st.store.trace_count(),
            oldest_unix_nanos: oldest,
            newest_unix_nanos: newest,
            covers_ns: match (oldest, newest) {
                (Some(a), Some(b)) => b.saturating_sub(a),
                _ => 0,
            },
            evicted_spans: st.store.evicted_spans,
            evicted_logs: st.store.evicted_logs,
            promoted_traces: st.promoted_traces,
        }
    }

    /// The time the ring covers now (newest record minus oldest).
    pub fn covers(&self) -> Duration {
        Duration::from_nanos(self.stats().covers_ns)
    }

    /// The most recent complete traces (their local root has ended), newest first.
    pub fn recent(&self, limit: usize) -> Vec<TraceSummary> {
        self.top(limit, |store, idx| {
            query::root_end(store, idx).map(|(end, _)| end)
        })
    }

    /// The slowest complete traces (by local root duration), slowest first.
    pub fn slowest(&self, limit: usize) -> Vec<TraceSummary> {
        self.top(limit, |store, idx| {
            query::root_end(store, idx).map(|(_, d)| d)
        })
    }

    /// The traces holding at least one span in error, newest first.
    pub fn failed(&self, limit: usize) -> Vec<TraceSummary> {
        self.top(limit, |store, idx| {
            (store.errors(idx) > 0).then(|| query::last_time(store, idx))
        })
    }

    /// The `limit` traces with the largest `rank` (those it ranks at all), largest
    /// first, as summaries.
    fn top<K: Ord>(
        &self,
        limit: usize,
        rank: impl Fn(&Store, &store::TraceIndex) -> Option<K>,
    ) -> Vec<TraceSummary> {
        let st = self.lock();
        let mut v: Vec<_> = st
            .store
            .traces()
            .filter_map(|(t, idx)| rank(&st.store, idx).map(|k| (k, *t)))
            .collect();
        v.sort_unstable_by(|a, b| b.0.cmp(&a.0));
        v.truncate(limit);
        v.into_iter()
            .filter_map(|(_, t)| Some(query::summary(&st.store, t, st.store.trace(t)?)))
            .collect()
    }

    /// Everything held of one trace, spans by start time and logs by time.
    pub fn trace(&self, trace_id: TraceId) -> Option<TraceDetail> {
        let st = self.lock();
        let idx = st.store.trace(trace_id)?;
        let summary = query::summary(&st.store, trace_id, idx);
        let mut spans = Vec::new();
        let mut logs = Vec::new();
        for e in st.store.trace_entries(trace_id) {
            match e {
                Entry::Span(s) => spans.push(SpanView::new(s)),
                Entry::Log(l) => logs.push(LogView::new(l)),
            }
        }
        drop(st);
        spans.sort_by_key(|s| (s.start_unix_nanos, std::cmp::Reverse(s.duration_ns)));
        logs.sort_by_key(|l| l.time_unix_nanos);
        Some(TraceDetail {
            summary,
            spans,
            logs,
        })
    }

    /// The traces holding a span that matches `query`, newest first (at most
    /// `query.limit`), each with the ids of its matching spans.
    pub fn search(&self, query: &Query) -> Vec<TraceSummary> {
        let mut found: Vec<(TraceId, Vec<crate::ids::SpanId>)> = Vec::new();
        if query.limit == 0 {
            return Vec::new();
        }
        // Newest first, a chunk per lock.
        let mut end = self.lock().store.seq_range().end;
        'scan: loop {
            let st = self.lock();
            let range = st.store.seq_range();
            let stop = end.min(range.end);
            let start = stop.saturating_sub(SCAN_CHUNK).max(range.start);
            if start >= stop {
                break;
            }
            for seq in (start..stop).rev() {
                let Some(Entry::Span(s)) = st.store.get(seq) else {
                    continue;
                };
                if !query.matches(s) {
                    continue;
                }
                let t = s.trace_id();
                if let Some((_, ids)) = found.iter_mut().find(|(f, _)| *f == t) {
                    ids.push(s.span_id());
                } else if found.len() < query.limit {
                    found.push((t, vec![s.span_id()]));
                } else {
                    break 'scan;
                }
            }
            end = start;
        }
        let st = self.lock();
        found
            .into_iter()
            .filter_map(|(t, ids)| {
                let mut s = query::summary(&st.store, t, st.store.trace(t)?);
                s.matched_span_ids = ids;
                Some(s)
            })
            .collect()
    }

    /// Writes everything held as OTLP-JSON lines to `path` (see [`dump`]), mode 0600
    /// on Unix when it creates the file.
    pub fn dump(&self, path: impl AsRef<Path>) -> Result<DumpSummary, DumpError> {
        dump::write(self, &self.shared.resource, path.as_ref(), false)
    }

    /// Writes everything held as OTLP-JSON lines to `out` (as [`dump`] writes a
    /// file; the summary's `path` is empty). The admin API's download.
    pub fn dump_to_writer(&self, out: impl std::io::Write) -> Result<DumpSummary, DumpError> {
        dump::write_to(self, &self.shared.resource, out, Path::new(""))
    }

    /// Writes a dump into `dir` unless one was written by this function less than
    /// `min_interval` ago (what SLO alerts call, so a flapping alert cannot fill
    /// the disk). The file is named `observe-<unix seconds>-<reason>.jsonl`
    /// (`reason` sanitized to `[A-Za-z0-9_-]`), created new with mode 0600 on Unix
    /// (never through an existing file or link of that name). Returns `Ok(None)`
    /// when skipped.
    pub fn dump_rate_limited(
        &self,
        dir: impl AsRef<Path>,
        reason: &str,
        min_interval: Duration,
    ) -> Result<Option<DumpSummary>, DumpError> {
        {
            let mut last = self
                .shared
                .last_auto_dump
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            if last.is_some_and(|l| now.saturating_duration_since(l) < min_interval) {
                return Ok(None);
            }
            *last = Some(now);
        }
        let secs = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let reason: String = reason
            .chars()
            .take(64)
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let path = dir.as_ref().join(format!("observe-{secs}-{reason}.jsonl"));
        dump::write(self, &self.shared.resource, &path, true).map(Some)
    }
}

/// What a dump wrote.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DumpSummary {
    /// The file written.
    pub path: PathBuf,
    /// Spans written.
    pub spans: usize,
    /// Log records written.
    pub logs: usize,
    /// Lines written (one OTLP request object each).
    pub lines: usize,
}

static GLOBAL: RwLock<Option<FlightRecorder>> = RwLock::new(None);

/// Makes `recorder` the process-wide one that [`handle`] and [`dump`] use (`init`
/// does this). Fails, returning it, when one is installed already.
pub fn install(recorder: FlightRecorder) -> Result<(), FlightRecorder> {
    let mut g = GLOBAL.write().unwrap_or_else(|e| e.into_inner());
    if g.is_some() {
        return Err(recorder);
    }
    *g = Some(recorder);
    Ok(())
}

/// The process-wide flight recorder, once `init` installed one.
pub fn handle() -> Option<FlightRecorder> {
    GLOBAL.read().unwrap_or_else(|e| e.into_inner()).clone()
}

/// Writes the process-wide recorder's ring to `path` as OTLP-JSON lines: one
/// `ExportTraceServiceRequest` or `ExportLogsServiceRequest` JSON object per line
/// (OpenTelemetry's JSON encoding: hex ids, camelCase fields), oldest records
/// first, a few hundred records per line. Any OTLP JSON reader (a collector's
/// `otlpjsonfile` receiver, `opentelemetry-proto`'s serde types) reads it back.
pub fn dump(path: impl AsRef<Path>) -> Result<DumpSummary, DumpError> {
    match handle() {
        Some(r) => r.dump(path),
        None => Err(DumpError::NotRunning),
    }
}
