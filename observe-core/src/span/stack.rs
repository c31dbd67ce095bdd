//! Per-thread state: the stack of entered spans and the staging buffers of the
//! pipeline rings, in one thread-local so that opening and closing a span each
//! touch thread-local storage once.
//!
//! # The invariant: nothing on a stack can dangle
//!
//! Whatever the order in which spans are entered, exited and closed, and on
//! whichever threads, every entry on every thread's stack refers to live memory.
//! An entry is one of two kinds, and each kind keeps its span alive its own way:
//!
//! - A **scope** entry borrows the [`SpanData`] of a *scope*: one poll of an
//!   [`Instrumented`](super::Instrumented) future, one [`Span::in_scope`](super::Span::in_scope)
//!   call, one [`ScopedSpan::run`](super::ScopedSpan::run) call. The scope pushes the
//!   entry when it starts and removes it when it ends, on the same thread: the guard
//!   that does it, [`Entered`](super::Entered), is a local of the scope's function
//!   and never leaves it, and the span is borrowed by that function for the whole
//!   scope, so it can neither move nor be dropped while its entry exists. No
//!   public guard can keep a scope entry on the stack: observe has none (no
//!   `Span::enter`, no `ScopedSpan` guard).
//! - A **shared** entry owns a strong reference ([`Arc`]) to a span opened through
//!   `tracing` ([`SharedSpan`]). `tracing`'s `Entered` guard is `Send`: it can be
//!   held across `.await`, exited on another worker thread, leaked, or outlive the
//!   span's close, and none of that can free a span while an entry refers to it.
//!
//! Soundness rests on those two rules only; the rest of this module decides what
//! an entry *means*, and never makes memory safety depend on it being right.
//!
//! # Healing: a request's span never leaks into another task
//!
//! - Scopes nest strictly on a thread (each is a function call), so when a scope
//!   ends, whatever is still above its own entry was entered inside it and never
//!   exited: a `tracing` guard held across `.await` or leaked. The scope removes it
//!   ([`pop`]), so the next task polled on this thread does not inherit it, and
//!   counts it.
//! - A shared entry is *current* only while its span is open, while at least one
//!   of its `tracing` guards is still entered somewhere, and only for the code that
//!   entered it: the same Tokio task ([`tokio::task::try_id`]), or code outside any
//!   task when it was entered outside any task. An entry that fails the first two
//!   tests is removed when it is met; one entered by another task is skipped: it
//!   stays for its task, which may be resumed on this thread and exit it here.
//! - A `tracing` span exited on a thread whose stack does not hold it (its guard
//!   moved), closed while entered, or left entered by a scope, is counted once in
//!   [`PipelineStats::misnested_spans`](crate::PipelineStats::misnested_spans) and
//!   the `observe.span_stack.misnested` metric, with a warning in the log the first
//!   time and at every power of ten after that.

use std::cell::RefCell;
use std::marker::PhantomData;
use std::ptr::NonNull;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use super::data::SpanData;
use crate::pipeline::ring::Local;

/// What observe keeps per thread.
pub(crate) struct ThreadState {
    /// Entered spans, innermost last.
    pub(crate) stack: Vec<Entry>,
    /// One staging buffer and ring producer per pipeline this thread writes to.
    pub(crate) rings: Vec<Local>,
    /// Whether any staging buffer holds records.
    pub(crate) staged: bool,
    /// Entries a scope left entered, removed by it, waiting to be counted.
    healed: Vec<Entry>,
}

impl Drop for ThreadState {
    /// A thread that exits hands what it staged to the pipelines: a record staged
    /// while the thread was inside a span (a `tracing` guard it never exited, say)
    /// is delivered, not lost uncounted with the buffer.
    fn drop(&mut self) {
        if self.staged {
            crate::pipeline::ring::flush_all(self);
        }
    }
}

thread_local! {
    static STATE: RefCell<ThreadState> = const {
        RefCell::new(ThreadState {
            stack: Vec::new(),
            rings: Vec::new(),
            staged: false,
            healed: Vec::new(),
        })
    };
}

/// Runs `f` on this thread's state; `None` when it is unavailable (the thread is
/// exiting, or re-entrance from inside `f`, which observe never does on purpose).
#[inline]
pub(crate) fn with_state<R>(f: impl FnOnce(&mut ThreadState) -> R) -> Option<R> {
    STATE
        .try_with(|s| s.try_borrow_mut().ok().map(|mut s| f(&mut s)))
        .ok()
        .flatten()
}

// ------------------------------------------------------------------ spans from `tracing`

/// A span opened through `tracing`: owned jointly by its registry extension and by
/// every stack entry that refers to it.
pub(crate) struct SharedSpan {
    pub(crate) data: SpanData,
    /// `tracing` enters minus exits, on any thread.
    entered: AtomicU32,
    /// Set when `tracing` closes the span: from then on it is current nowhere.
    closed: AtomicBool,
    /// Whether a misnesting of this span was counted already (once per span).
    counted: AtomicBool,
}

impl SharedSpan {
    pub(crate) fn new(data: SpanData) -> Arc<SharedSpan> {
        Arc::new(SharedSpan {
            data,
            entered: AtomicU32::new(0),
            closed: AtomicBool::new(false),
            counted: AtomicBool::new(false),
        })
    }

    /// The span, once nothing else refers to it.
    pub(crate) fn into_data(self) -> SpanData {
        self.data
    }

    /// Closed, or every guard exited (some elsewhere): no entry of it is current.
    fn is_stale(&self) -> bool {
        self.closed.load(Ordering::Acquire) || self.entered.load(Ordering::Acquire) == 0
    }
}

/// The Tokio task running on this thread, if any: shared entries belong to the
/// task that entered them.
#[inline]
fn current_task() -> Option<tokio::task::Id> {
    tokio::task::try_id()
}

// ------------------------------------------------------------------ entries

/// The low bit of a shared entry's pointer (both kinds point at 8-byte aligned
/// data, so the bit is free).
const SHARED: usize = 1;
const _: () = assert!(std::mem::align_of::<SpanData>() > SHARED);
const _: () = assert!(std::mem::align_of::<SharedSpan>() > SHARED);

/// One entered span (see the module docs for the two kinds).
pub(crate) struct Entry {
    /// A scope's `*const SpanData`, or `Arc::<SharedSpan>::into_raw` with the
    /// [`SHARED`] bit set, whose strong count this entry owns.
    ptr: usize,
    /// For a shared entry: the task that entered it (`None` outside any task).
    task: Option<tokio::task::Id>,
}

impl Entry {
    #[inline]
    fn scope(data: &SpanData) -> Entry {
        Entry {
            ptr: data as *const SpanData as usize,
            task: None,
        }
    }

    fn shared(span: Arc<SharedSpan>, task: Option<tokio::task::Id>) -> Entry {
        Entry {
            ptr: Arc::into_raw(span) as usize | SHARED,
            task,
        }
    }

    #[inline]
    fn is_scope(&self) -> bool {
        self.ptr & SHARED == 0
    }

    fn as_shared(&self) -> Option<&SharedSpan> {
        if self.is_scope() {
            return None;
        }
        // SAFETY: a shared entry's pointer came from `Arc::into_raw` and the entry
        // owns one strong count (released only in `drop`), so the `SharedSpan` is
        // alive at least as long as `self` is borrowed.
        Some(unsafe { &*((self.ptr & !SHARED) as *const SharedSpan) })
    }

    /// A new strong reference to a shared entry's span.
    fn share(&self) -> Option<Arc<SharedSpan>> {
        if self.is_scope() {
            return None;
        }
        let raw = (self.ptr & !SHARED) as *const SharedSpan;
        // SAFETY: as in `as_shared`: `raw` came from `Arc::into_raw` and this entry
        // holds a strong count, so adding one is valid.
        unsafe {
            Arc::increment_strong_count(raw);
            Some(Arc::from_raw(raw))
        }
    }

    /// What this entry is for the code running now: current (and kept alive by the
    /// returned value), or not current (`None`).
    fn current_for(&self, task: Option<tokio::task::Id>) -> Option<Current> {
        match self.as_shared() {
            None => Some(Current::scope(self.ptr)),
            Some(sh) if !sh.is_stale() && self.task == task => self.share().map(Current::shared),
            Some(_) => None,
        }
    }
}

impl Drop for Entry {
    #[inline]
    fn drop(&mut self) {
        if !self.is_scope() {
            // SAFETY: the pointer came from `Arc::into_raw` (see `Entry::shared`) and
            // this is the one place the entry's strong count is given back.
            drop(unsafe { Arc::from_raw((self.ptr & !SHARED) as *const SharedSpan) });
        }
    }
}

/// The current span of this thread, valid while this value lives: a scope's span
/// (borrowed from the scope, which is running further up this thread's call
/// stack), or a shared span (kept alive by the strong reference held here).
///
/// Use it at once, on this thread, inside the call that obtained it: a scope's
/// span is only guaranteed alive until its scope ends, which cannot happen while
/// the code that read it runs inside that scope. Its callers ([`with_current`],
/// [`for_each`]) never keep one.
pub(crate) struct Current {
    data: NonNull<SpanData>,
    _keep: Option<Arc<SharedSpan>>,
    _not_send: PhantomData<*const ()>,
}

impl Current {
    #[inline]
    fn scope(ptr: usize) -> Current {
        Current {
            // SAFETY: a scope entry's pointer is a reference turned into an integer
            // (`Entry::scope`): never null.
            data: unsafe { NonNull::new_unchecked(ptr as *mut SpanData) },
            _keep: None,
            _not_send: PhantomData,
        }
    }

    fn shared(span: Arc<SharedSpan>) -> Current {
        Current {
            data: NonNull::from(&span.data),
            _keep: Some(span),
            _not_send: PhantomData,
        }
    }
}

impl std::ops::Deref for Current {
    type Target = SpanData;

    #[inline]
    fn deref(&self) -> &SpanData {
        // SAFETY: a shared span is kept alive by `_keep`; a scope's span by its
        // scope, which is further up this thread's call stack and borrows the span
        // until it ends (module docs; `Current` is `!Send` and never outlives the
        // call that read it).
        unsafe { self.data.as_ref() }
    }
}

// ------------------------------------------------------------------ scopes

/// Pushes the span of a scope on this thread's stack (see [`Entered`](super::Entered),
/// the only caller).
#[inline]
pub(crate) fn push(span: &SpanData) {
    with_state(|s| s.stack.push(Entry::scope(span)));
}

/// Removes the entry of a scope that ends, and anything still above it: entered
/// inside the scope and not exited, it would otherwise leak into whatever this
/// thread runs next. Leaving the outermost span hands the records staged on this
/// thread to the pipelines.
#[inline]
pub(crate) fn pop(span: &SpanData) {
    let ptr = span as *const SpanData as usize;
    let healed = with_state(|s| {
        let len = s.stack.len();
        if len > 0 && s.stack[len - 1].ptr == ptr {
            // SAFETY: the top entry is this scope's (its pointer is a `SpanData`
            // address, without the `SHARED` bit): it owns nothing, so shortening
            // the vector by one forgets it without running any drop glue.
            unsafe { s.stack.set_len(len - 1) };
            if s.staged && !inside(s) {
                crate::pipeline::ring::flush_all(s);
            }
            false
        } else {
            heal(s, ptr)
        }
    });
    if healed == Some(true) {
        count_healed();
    }
}

/// Removes a scope's entry that is not on top, with everything above it; what was
/// above waits in `healed` to be counted outside the thread state.
#[cold]
#[inline(never)]
fn heal(s: &mut ThreadState, ptr: usize) -> bool {
    let Some(i) = s.stack.iter().rposition(|e| e.ptr == ptr) else {
        return false;
    };
    let mut above = s.stack.split_off(i);
    above.remove(0);
    s.healed = above;
    after_removal(s);
    !s.healed.is_empty()
}

/// Counts the `tracing` spans a scope left entered, then drops their entries.
#[cold]
#[inline(never)]
fn count_healed() {
    let left = with_state(|s| std::mem::take(&mut s.healed)).unwrap_or_default();
    for e in &left {
        if let Some(sh) = e.as_shared() {
            misnested(sh);
        }
    }
}

/// After entries were removed: when this thread is no longer inside a span of the
/// code running now, its staged records go to the pipelines.
fn after_removal(s: &mut ThreadState) {
    if !inside(s) && s.staged {
        crate::pipeline::ring::flush_all(s);
    }
}

/// Whether the code running on this thread is inside a span: the stack holds a
/// scope, or a shared entry that is current for it. Records wait in the staging
/// buffer while it is; otherwise they go to the ring at once.
#[inline]
pub(crate) fn inside(s: &mut ThreadState) -> bool {
    match s.stack.last() {
        None => false,
        Some(e) if e.is_scope() => true,
        Some(_) => inside_slow(s),
    }
}

/// [`inside`] when the top entry is shared; removes the stale entries it meets.
#[cold]
#[inline(never)]
fn inside_slow(s: &mut ThreadState) -> bool {
    let task = current_task();
    let mut i = s.stack.len();
    while i > 0 {
        i -= 1;
        let e = &s.stack[i];
        match e.as_shared() {
            None => return true,
            Some(sh) if sh.is_stale() => remove_stale(s, i),
            Some(_) if e.task == task => return true,
            Some(_) => {}
        }
    }
    false
}

/// Removes a stale entry. Dropping it may free its span (the last reference of a
/// closed span), which touches no thread state.
fn remove_stale(s: &mut ThreadState, i: usize) {
    drop(s.stack.remove(i));
}

// ------------------------------------------------------------------ shared spans

/// `tracing` entered `span` on this thread.
pub(crate) fn enter_shared(span: &Arc<SharedSpan>) {
    span.entered.fetch_add(1, Ordering::AcqRel);
    let entry = Entry::shared(span.clone(), current_task());
    // Without thread state (the thread is exiting) the entry is dropped unpushed.
    with_state(move |s| s.stack.push(entry));
}

/// `tracing` exited `span` on this thread: removes this thread's entry for it
/// (the one entered by the running task first), or, when this thread has none
/// (the guard was moved here from another thread, or a scope removed it
/// already), counts the misnesting. Its entries elsewhere are not current once
/// every guard has been exited.
pub(crate) fn exit_shared(span: &Arc<SharedSpan>) {
    let _ = span
        .entered
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
    let target = Arc::as_ptr(span) as usize | SHARED;
    let task = current_task();
    let found = with_state(|s| {
        let mut found = None;
        for (i, e) in s.stack.iter().enumerate().rev() {
            if e.ptr == target {
                if e.task == task {
                    found = Some(i);
                    break;
                }
                found.get_or_insert(i);
            }
        }
        let removed = found.map(|i| s.stack.remove(i));
        after_removal(s);
        removed
    });
    match found {
        Some(Some(entry)) => drop(entry),
        Some(None) => misnested(span),
        None => {}
    }
}

/// `tracing` closed `span`: it is current nowhere from now on. Its entries on this
/// thread are removed; entries on other threads keep their reference until they
/// are met. A span closed while entered (a leaked guard) is counted.
pub(crate) fn close_shared(span: &SharedSpan) {
    span.closed.store(true, Ordering::Release);
    let target = span as *const SharedSpan as usize | SHARED;
    let removed = with_state(|s| {
        let mut gone = Vec::new();
        let mut i = s.stack.len();
        while i > 0 {
            i -= 1;
            if s.stack[i].ptr == target {
                gone.push(s.stack.remove(i));
            }
        }
        if !gone.is_empty() {
            after_removal(s);
        }
        gone
    })
    .unwrap_or_default();
    if !removed.is_empty() || span.entered.load(Ordering::Acquire) > 0 {
        misnested(span);
    }
}

// ------------------------------------------------------------------ reading

/// The innermost span entered on this thread for the code running now (see
/// [`Current`] for how long it may be used). For callers that must not move
/// values through a closure: a span opened inside one was built on the stack and
/// copied out, and the copy stalled on store forwarding.
#[inline]
pub(crate) fn top() -> Option<Current> {
    match with_state(|s| s.stack.last().map(|e| e.ptr)).flatten() {
        None => None,
        Some(p) if p & SHARED == 0 => Some(Current::scope(p)),
        Some(_) => with_state(top_slow).flatten(),
    }
}

/// [`top`] when the top entry is shared; removes the stale entries it meets.
#[cold]
#[inline(never)]
fn top_slow(s: &mut ThreadState) -> Option<Current> {
    let task = current_task();
    let mut i = s.stack.len();
    while i > 0 {
        i -= 1;
        let e = &s.stack[i];
        match e.as_shared() {
            Some(sh) if sh.is_stale() => remove_stale(s, i),
            _ => {
                if let Some(c) = e.current_for(task) {
                    return Some(c);
                }
            }
        }
    }
    None
}

/// The innermost span entered on this thread for the code running now, as a
/// pointer for [`open`](super::open) to read at once: valid until this thread's
/// stack changes, since a scope's span lives while its entry does and a shared
/// span while any entry refers to it. `open` only copies ids and clones the
/// request context out of it before anything else runs (no user code, no stack
/// change), so it needs no reference of its own; [`top`] gives one.
#[inline]
pub(crate) fn top_ptr() -> Option<NonNull<SpanData>> {
    match with_state(|s| s.stack.last().map(|e| e.ptr)).flatten() {
        None => None,
        Some(p) if p & SHARED == 0 => Some(Current::scope(p).data),
        Some(_) => with_state(top_slow).flatten().map(|c| c.data),
    }
}

/// Calls `f` with the innermost entered span of this thread, if any. The thread
/// state is not borrowed while `f` runs, so `f` may open spans itself.
#[inline]
pub(crate) fn with_current<R>(f: impl FnOnce(Option<&SpanData>) -> R) -> R {
    let current = top();
    f(current.as_deref())
}

/// Calls `f` for each span entered on this thread for the code running now,
/// innermost first, until it returns `false`.
pub(crate) fn for_each(mut f: impl FnMut(&SpanData) -> bool) {
    let task = current_task();
    let entries: Vec<Current> = with_state(|s| {
        s.stack
            .iter()
            .rev()
            .filter_map(|e| e.current_for(task))
            .collect()
    })
    .unwrap_or_default();
    for c in &entries {
        if !f(c) {
            break;
        }
    }
}

/// How many entries this thread's stack holds.
#[inline]
pub(crate) fn depth() -> usize {
    with_state(|s| s.stack.len()).unwrap_or(0)
}

// ------------------------------------------------------------------ counting

/// Counts a misnested `tracing` span once, in its pipeline's stats and the
/// `observe.span_stack.misnested` metric, and warns at the first and then at every
/// power of ten.
#[cold]
#[inline(never)]
fn misnested(span: &SharedSpan) {
    if span.counted.swap(true, Ordering::AcqRel) {
        return;
    }
    let pipeline = span.data.pipeline;
    let n = pipeline.count_misnested();
    static METRIC: std::sync::OnceLock<crate::metrics::Counter> = std::sync::OnceLock::new();
    METRIC
        .get_or_init(|| crate::metrics::counter("observe.span_stack.misnested", &[]))
        .inc();
    if is_power_of_ten(n) {
        warn(pipeline, n, &span.data);
    }
}

fn is_power_of_ten(mut n: u64) -> bool {
    while n >= 10 && n.is_multiple_of(10) {
        n /= 10;
    }
    n == 1
}

crate::log::direct_event!(
    /// The warning's callsite: a record built here, not an event dispatched
    /// through `tracing` (which ignores events emitted from inside a subscriber's
    /// callbacks, where most misnestings are found).
    static WARN_META = (
        "observe span stack",
        "observe",
        tracing_core::Level::WARN,
        &["message", "span", "misnested_spans"],
    );
);

fn warn(pipeline: &'static crate::pipeline::Pipeline, n: u64, span: &SpanData) {
    use crate::span::KeyValue;
    let mut fields = smallvec::SmallVec::new();
    fields.push(KeyValue::new("span", span.name.as_str().to_owned()));
    fields.push(KeyValue::new("misnested_spans", n));
    pipeline.push_log(crate::log::LogRecord {
        time: crate::clock::Tick::now(),
        metadata: &WARN_META,
        message: "a `tracing` span was still entered where it should not be (an `Entered` \
                  guard held across `.await`, moved to another thread, or leaked); observe \
                  took it off the span stack so no other task inherits it. Enter spans with \
                  `Instrument::instrument` or `in_scope` instead"
            .into(),
        fields,
        span: None,
        context: None,
    });
}
