//! Supervision of observe's background threads: a panic is caught where it
//! happens, counted, logged (rate-limited), and the thread goes on.
//!
//! Each background thread (the worker, the log writer, the exporter, the metrics
//! exporter) owns a [`ThreadHealth`]: it runs each iteration of its loop through
//! [`ThreadHealth::guard`], so a panic costs the record or batch in hand and
//! nothing else, and it holds a [`Watch`] for its whole life, which marks the thread
//! dead if it ever unwinds out of its loop anyway. The worker also catches a panic
//! in each call of each sink separately, so one bad sink cannot starve the others.
//!
//! A pipeline's [`Supervision`] gathers the health of the threads that serve it;
//! its counters appear in `PipelineStats` and as the metric
//! `observe.pipeline.panics`, and `flush`/`shutdown` report `false` while one of
//! them is dead. The warning it writes goes into the pipeline directly (not
//! through `tracing`), is written to the log, and is never exported.

use std::any::Any;
use std::borrow::Cow;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tracing_core::Level;

use crate::log::LogRecord;
use crate::span::{KeyValue, Value};

const RUNNING: u8 = 0;
const STOPPED: u8 = 1;
const DIED: u8 = 2;

/// The health of one background thread: panics caught, and whether it is alive.
#[derive(Debug)]
pub(crate) struct ThreadHealth {
    name: &'static str,
    panics: AtomicU64,
    state: AtomicU8,
    last_panic: Mutex<Option<String>>,
}

impl ThreadHealth {
    /// The health of a thread about to start; `name` is what reports call it.
    pub(crate) fn new(name: &'static str) -> Arc<ThreadHealth> {
        Arc::new(ThreadHealth {
            name,
            panics: AtomicU64::new(0),
            state: AtomicU8::new(RUNNING),
            last_panic: Mutex::new(None),
        })
    }

    pub(crate) fn name(&self) -> &'static str {
        self.name
    }

    /// Panics caught so far.
    pub(crate) fn panics(&self) -> u64 {
        self.panics.load(Ordering::Relaxed)
    }

    /// Whether the thread stopped without being asked to (it unwound out of its
    /// loop, or never started).
    pub(crate) fn is_dead(&self) -> bool {
        self.state.load(Ordering::Relaxed) == DIED
    }

    /// Held by the thread for its whole life: when dropped, marks the thread
    /// stopped (it returned) or dead (it is unwinding).
    pub(crate) fn watch(self: &Arc<Self>) -> Watch {
        Watch(self.clone())
    }

    /// Marks a thread that could not be started as dead.
    pub(crate) fn mark_dead(&self) {
        self.state.store(DIED, Ordering::Relaxed);
    }

    /// Runs one iteration of the thread's loop; a panic is caught, counted and
    /// remembered, and `None` is returned.
    pub(crate) fn guard<R>(&self, f: impl FnOnce() -> R) -> Option<R> {
        match catch_unwind(AssertUnwindSafe(f)) {
            Ok(r) => Some(r),
            Err(payload) => {
                self.caught(payload);
                None
            }
        }
    }

    /// Counts a caught panic and keeps its message for the next warning.
    pub(crate) fn caught(&self, payload: Box<dyn Any + Send>) {
        self.panics.fetch_add(1, Ordering::Relaxed);
        let message = message(payload);
        *self.last_panic.lock().unwrap_or_else(|e| e.into_inner()) = Some(message);
    }

    fn take_last_panic(&self) -> Option<String> {
        self.last_panic
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }
}

/// See [`ThreadHealth::watch`].
#[derive(Debug)]
pub(crate) struct Watch(Arc<ThreadHealth>);

impl Drop for Watch {
    fn drop(&mut self) {
        let state = if std::thread::panicking() {
            DIED
        } else {
            STOPPED
        };
        self.0.state.store(state, Ordering::Relaxed);
    }
}

/// The text of a panic payload (`panic!` makes a `&'static str` or a `String`).
/// The payload is dropped here, and a payload whose destructor panics in turn is
/// leaked rather than allowed to unwind further.
pub(crate) fn message(payload: Box<dyn Any + Send>) -> String {
    let text = if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".to_owned()
    };
    if let Err(again) = catch_unwind(AssertUnwindSafe(move || drop(payload))) {
        // Leaking this one box is the only way not to unwind again.
        #[allow(clippy::mem_forget)]
        std::mem::forget(again);
    }
    text
}

/// The supervision of one pipeline: its worker, the sinks the worker calls, and
/// the other threads that serve it (log writer, exporters).
#[derive(Debug)]
pub(crate) struct Supervision {
    pub(crate) worker: Arc<ThreadHealth>,
    /// Calls of a sink hook that panicked (the record was dropped for that sink).
    sink_panics: AtomicU64,
    last_sink_panic: Mutex<Option<String>>,
    threads: Vec<Arc<ThreadHealth>>,
}

impl Supervision {
    /// Supervises the worker and `threads` (started by the caller).
    pub(crate) fn new(threads: Vec<Arc<ThreadHealth>>) -> Supervision {
        Supervision {
            worker: ThreadHealth::new("observe-worker"),
            sink_panics: AtomicU64::new(0),
            last_sink_panic: Mutex::new(None),
            threads,
        }
    }

    /// Every supervised thread, the worker first.
    pub(crate) fn threads(&self) -> impl Iterator<Item = &Arc<ThreadHealth>> {
        std::iter::once(&self.worker).chain(self.threads.iter())
    }

    pub(crate) fn sink_panics(&self) -> u64 {
        self.sink_panics.load(Ordering::Relaxed)
    }

    /// Panics caught in the threads' own loops (not counting sink calls).
    pub(crate) fn thread_panics(&self) -> u64 {
        self.threads().map(|t| t.panics()).sum()
    }

    /// The names of the threads that died.
    pub(crate) fn dead(&self) -> Vec<&'static str> {
        self.threads()
            .filter(|t| t.is_dead())
            .map(|t| t.name())
            .collect()
    }

    pub(crate) fn any_dead(&self) -> bool {
        self.threads().any(|t| t.is_dead())
    }

    /// Calls `f` on each sink, catching a panic in each call separately. Returns
    /// whether every call returned.
    pub(crate) fn each_sink(
        &self,
        sinks: &mut [Box<dyn super::Sink>],
        mut f: impl FnMut(&mut dyn super::Sink),
    ) -> bool {
        let mut ok = true;
        for (i, sink) in sinks.iter_mut().enumerate() {
            if let Err(payload) = catch_unwind(AssertUnwindSafe(|| f(&mut **sink))) {
                ok = false;
                self.sink_panics.fetch_add(1, Ordering::Relaxed);
                let text = format!("sink #{i}: {}", message(payload));
                *self
                    .last_sink_panic
                    .lock()
                    .unwrap_or_else(|e| e.into_inner()) = Some(text);
            }
        }
        ok
    }
}

/// The least time between two supervision warnings of one pipeline.
pub(crate) const WARN_INTERVAL: Duration = Duration::from_secs(60);

/// Writes the supervision warnings of a pipeline (on its worker): the first panic
/// or death at once, later ones summed up at most once per [`WARN_INTERVAL`].
#[derive(Debug, Default)]
pub(crate) struct Warner {
    warned_panics: u64,
    warned_dead: usize,
    last: Option<Instant>,
}

impl Warner {
    /// The warning to write now, if one is due.
    pub(crate) fn due(&mut self, sup: &Supervision, now: Instant) -> Option<LogRecord> {
        let sink = sup.sink_panics();
        let thread = sup.thread_panics();
        let panics = sink + thread;
        let dead_now = sup.threads().filter(|t| t.is_dead()).count();
        if panics <= self.warned_panics && dead_now <= self.warned_dead {
            return None;
        }
        if self
            .last
            .is_some_and(|l| now.saturating_duration_since(l) < WARN_INTERVAL)
        {
            return None;
        }
        let mut last = Vec::new();
        if let Some(m) = sup
            .last_sink_panic
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            last.push(m);
        }
        for t in sup.threads() {
            if let Some(m) = t.take_last_panic() {
                last.push(format!("{}: {m}", t.name()));
            }
        }
        let dead = sup.dead();
        let new = panics - self.warned_panics;
        let message = if dead.is_empty() {
            format!(
                "observe caught {new} panic(s) in its sinks or background threads and kept \
                 running; the records involved were dropped"
            )
        } else {
            format!(
                "observe background thread(s) stopped: {}; caught {new} panic(s)",
                dead.join(", ")
            )
        };
        self.warned_panics = panics;
        self.warned_dead = dead.len();
        self.last = Some(now);
        let fields = [
            KeyValue::new("component", COMPONENT),
            KeyValue::new("sink_panics", sink),
            KeyValue::new("thread_panics", thread),
            KeyValue::new("dead_threads", Value::U64(dead.len() as u64)),
            KeyValue::new("last_panic", Value::Str(Cow::Owned(last.join("; ")))),
        ];
        Some(LogRecord {
            time: crate::clock::Tick::now(),
            metadata: &WARNING,
            message: message.into(),
            fields: fields.into_iter().collect(),
            span: None,
            context: None,
        })
    }
}

/// The `component` field of supervision warnings (they are never exported).
pub(crate) const COMPONENT: &str = "supervisor";

crate::log::direct_event!(
    /// The callsite of the supervision warning: it is built here, not by a
    /// `tracing` macro, because it goes into the pipeline directly.
    static WARNING = (
        "observe supervision warning",
        "observe",
        Level::WARN,
        &[
            "message",
            "component",
            "sink_panics",
            "thread_panics",
            "dead_threads",
            "last_panic",
        ],
    );
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_caught_panic_is_counted_with_its_message() {
        let h = ThreadHealth::new("t");
        assert_eq!(h.guard(|| 1), Some(1));
        assert_eq!(h.guard(|| -> u8 { panic!("boom {}", 7) }), None);
        assert_eq!(h.panics(), 1);
        assert_eq!(h.take_last_panic().as_deref(), Some("boom 7"));
        assert!(!h.is_dead());
    }

    #[test]
    fn a_thread_that_unwinds_is_dead_and_one_that_returns_is_not() {
        let died = ThreadHealth::new("died");
        let d = died.clone();
        let _ = std::thread::spawn(move || {
            let _w = d.watch();
            panic!("out of the loop");
        })
        .join();
        assert!(died.is_dead());
        let fine = ThreadHealth::new("fine");
        let f = fine.clone();
        std::thread::spawn(move || drop(f.watch())).join().unwrap();
        assert!(!fine.is_dead());
    }

    #[test]
    fn a_dead_thread_makes_flush_and_shutdown_report_false() {
        let dead = ThreadHealth::new("observe-export");
        dead.mark_dead();
        let observe = crate::Observe::start(crate::init::Parts {
            threads: vec![dead],
            ..crate::testing::parts(1.0, Vec::new())
        })
        .expect("instance");
        assert!(!observe.flush(Duration::from_secs(5)));
        let stats = observe.stats();
        assert_eq!(stats.dead_threads, 1, "{stats:?}");
        assert!(!observe.shutdown());
    }

    #[test]
    fn warnings_are_rate_limited() {
        let sup = Supervision::new(Vec::new());
        let mut w = Warner::default();
        let now = Instant::now();
        assert!(w.due(&sup, now).is_none(), "nothing to say");
        sup.worker.guard(|| panic!("one"));
        let first = w.due(&sup, now).expect("the first panic is logged at once");
        assert_eq!(
            first
                .field("thread_panics")
                .map(|v| v.to_string())
                .as_deref(),
            Some("1")
        );
        sup.worker.guard(|| panic!("two"));
        assert!(w.due(&sup, now + Duration::from_secs(1)).is_none());
        let later = w.due(&sup, now + WARN_INTERVAL).expect("summed up later");
        assert!(
            later.message().contains("caught 1 panic"),
            "{}",
            later.message()
        );
        assert!(
            w.due(&sup, now + 3 * WARN_INTERVAL).is_none(),
            "nothing new"
        );
    }
}
