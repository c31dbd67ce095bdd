//! Per-thread state: the stack of entered spans and the staging buffers of the
//! pipeline rings.
//!
//! # The invariant: nothing on a stack can dangle
//!
//! Whatever the order in which spans are entered, exited and closed, and on
//! whichever threads, every entry on every thread's stack refers to live memory.
//! An entry is one of two kinds, and each kind keeps its span alive its own way:
//!
//! - A **scope** entry is a [`Frame`] that borrows the [`SpanData`] of a *scope*:
//!   one poll of an [`Instrumented`](super::Instrumented) future, one
//!   [`Span::in_scope`](super::Span::in_scope) call, one
//!   [`ScopedSpan::run`](super::ScopedSpan::run) call. The frame is a local of
//!   [`scope`], the one function that makes scopes: it links the frame in before
//!   it calls the scope's body and unlinks it when the body returns or unwinds (a
//!   guard that borrows the frame, so the frame cannot move or be dropped while it
//!   is linked), and the span is borrowed by `scope` for the whole call. No public
//!   guard can keep a scope on the stack: observe has none (no `Span::enter`, no
//!   `ScopedSpan` guard).
//! - A **shared** entry owns a strong reference ([`Arc`]) to a span opened through
//!   `tracing` ([`SharedSpan`]). `tracing`'s `Entered` guard is `Send`: it can be
//!   held across `.await`, exited on another worker thread, leaked, or outlive the
//!   span's close, and none of that can free a span while an entry refers to it.
//!
//! # Two stacks, one order
//!
//! Scopes come and go once per poll, so they cost the least that can be had: a
//! frame links to the one before it through a thread-local without a destructor
//! ([`Scopes`]: plain `Cell`s, no lazy registration, no borrow flag), and the
//! scope's own stack frame holds it. Shared entries are rare and live in a vector
//! in [`ThreadState`]. Each shared entry carries a sequence number that grows on
//! every `tracing` enter on the thread, and each frame remembers the number of the
//! top shared entry when it was linked: an entry is above a frame exactly when
//! its number is greater. The thread-local keeps the top shared entry's number,
//! so a scope that ends, and the reading of the current span, tell with one
//! comparison that no `tracing` span is above the innermost scope (nearly always).
//!
//! Soundness rests on those two rules only; the rest of this module decides what
//! an entry *means*, and never makes memory safety depend on it being right.
//!
//! # Healing: a request's span never leaks into another task
//!
//! - Scopes nest strictly on a thread (each is a function call), so when a scope
//!   ends, whatever is still above its own entry was entered inside it and never
//!   exited: a `tracing` guard held across `.await` or leaked. The scope removes it
//!   (`Unlink`'s drop), so the next task polled on this thread does not inherit
//!   it, and counts it.
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

use std::cell::Cell;
use std::marker::PhantomData;
use std::ptr::{self, NonNull};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use super::data::SpanData;
use crate::pipeline::ring::Local;

/// What observe keeps per thread besides the scopes: the shared entries and the
/// pipelines' staging buffers.
pub(crate) struct ThreadState {
    /// Entered `tracing` spans, innermost last, in the order of their numbers.
    stack: Vec<Entry>,
    /// The number the next shared entry gets (module docs: two stacks, one order).
    next_seq: u64,
    /// One staging buffer and ring producer per pipeline this thread writes to.
    pub(crate) rings: Vec<Local>,
    /// Entries a scope left entered, removed by it, waiting to be counted.
    healed: Vec<Entry>,
}

impl ThreadState {
    /// Whether any staging buffer holds records.
    #[inline]
    pub(crate) fn staged(&self) -> bool {
        SCOPES.with(|sc| sc.staged.get())
    }

    /// Notes whether any staging buffer holds records.
    #[inline]
    pub(crate) fn set_staged(&mut self, staged: bool) {
        SCOPES.with(|sc| sc.staged.set(staged));
    }

    /// After the shared stack changed: the thread-local learns its top's number.
    fn shared_changed(&self) {
        let top = self.stack.last().map_or(0, |e| e.seq);
        SCOPES.with(|sc| sc.shared_top.set(top));
    }
}

impl Drop for ThreadState {
    /// A thread that exits hands what it staged to the pipelines: a record staged
    /// while the thread was inside a span (a `tracing` guard it never exited, say)
    /// is delivered, not lost uncounted with the buffer.
    fn drop(&mut self) {
        if self.staged() {
            crate::pipeline::ring::flush_all(self);
        }
    }
}

/// The per-thread part of the stack that every scope touches: `Cell`s only, so
/// the thread-local needs no destructor and reading it is one address
/// computation (no state check, no lazy registration, no borrow flag).
///
/// `top` and `shared_top` are kept apart (`repr(C)`, `staged` between them), and
/// so are `prev` and `seq` in a [`Frame`]: side by side, the compiler read both
/// cells with one 16-byte load just after the last scope's 8-byte store to `top`,
/// a load the store could not forward to, a stall on every poll (the counted
/// instructions fell while the time per poll rose from 7 to 14 ns).
#[repr(C)]
pub(crate) struct Scopes {
    /// The innermost scope's frame; null outside any scope.
    top: Cell<*const Frame>,
    /// Whether any staging buffer of this thread holds records.
    staged: Cell<bool>,
    /// The number of the top shared entry; 0 when there is none.
    shared_top: Cell<u64>,
}

thread_local! {
    static SCOPES: Scopes = const {
        Scopes {
            top: Cell::new(ptr::null()),
            shared_top: Cell::new(0),
            staged: Cell::new(false),
        }
    };
    static STATE: std::cell::RefCell<ThreadState> = const {
        std::cell::RefCell::new(ThreadState {
            stack: Vec::new(),
            next_seq: 0,
            rings: Vec::new(),
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

// ------------------------------------------------------------------ scopes

/// A scope's entry: a local of [`scope`], linked while the scope's body runs
/// (`repr(C)`: see [`Scopes`] for why `prev` and `seq` are not side by side).
#[repr(C)]
pub(crate) struct Frame {
    /// The scope this one is inside, if any (a frame further up this thread's
    /// call stack). A `Cell`: a frame that ends out of order is spliced out of the
    /// chain by rewriting the `prev` of the frame above it ([`unlink_slow`]).
    prev: Cell<*const Frame>,
    /// The scope's span, borrowed by `scope` for the whole call.
    data: NonNull<SpanData>,
    /// The number of the top shared entry when the frame was linked: entries with
    /// greater numbers are above it.
    seq: u64,
}

/// Unlinks its frame when the scope's body returns or unwinds.
struct Unlink<'a>(&'a Frame);

/// Runs `f` with `data` as the innermost span of this thread: spans opened and
/// records made inside are its children. When `f` returns (or unwinds), whatever
/// it left entered above the scope is removed and counted, and leaving the
/// outermost span hands the records staged on this thread to the pipelines.
///
/// A span below the level filter is never current: `f` just runs.
#[inline(always)]
pub(crate) fn scope<R>(data: &SpanData, f: impl FnOnce() -> R) -> R {
    let frame;
    let _unlink;
    if data.filtered {
        _unlink = None;
    } else {
        let (top, seq) = SCOPES.with(|sc| (sc.top.get(), sc.shared_top.get()));
        frame = Frame {
            data: NonNull::from(data),
            prev: Cell::new(top),
            seq,
        };
        SCOPES.with(|sc| sc.top.set(&frame));
        _unlink = Some(Unlink(&frame));
    }
    f()
}

impl Drop for Unlink<'_> {
    #[inline(always)]
    fn drop(&mut self) {
        let frame = self.0;
        let done = SCOPES.with(|sc| {
            if ptr::eq(sc.top.get(), frame) && sc.shared_top.get() <= frame.seq {
                let prev = frame.prev.get();
                // The outermost scope with records staged: `unlink_slow` unlinks it
                // and hands them over.
                if prev.is_null() && sc.staged.get() {
                    return false;
                }
                sc.top.set(prev);
                true
            } else {
                false
            }
        });
        if !done {
            unlink_slow(frame);
        }
    }
}

/// A scope ends with `tracing` spans still entered above it (removed and
/// counted), or it was the outermost and records are staged (handed over), or it
/// ends out of order.
///
/// Out of order: scopes are function calls, so on one stack they end innermost
/// first; a stackful coroutine library switches stacks inside a scope, and a scope
/// of the coroutine can then end while a scope of the code that resumed it is
/// innermost. The frame is spliced out of the chain wherever it is (the frame above
/// it links past it), so that no linked frame ever refers to it once it is gone;
/// what was entered above it belongs to the other stack and is left alone.
#[cold]
#[inline(never)]
fn unlink_slow(frame: &Frame) {
    let in_order = SCOPES.with(|sc| {
        let top = sc.top.get();
        if ptr::eq(top, frame) {
            sc.top.set(frame.prev.get());
            return true;
        }
        let mut above = linked(top);
        while let Some(f) = above {
            if ptr::eq(f.prev.get(), frame) {
                f.prev.set(frame.prev.get());
                break;
            }
            above = linked(f.prev.get());
        }
        false
    });
    if !in_order {
        return;
    }
    let healed = with_state(|s| {
        let keep = s.stack.partition_point(|e| e.seq <= frame.seq);
        let above = s.stack.split_off(keep);
        let healed = !above.is_empty();
        if healed {
            s.healed = above;
            s.shared_changed();
        }
        if s.staged() && !inside(s) {
            crate::pipeline::ring::flush_all(s);
        }
        healed
    });
    if healed == Some(true) {
        count_healed();
    }
}

/// Counts the `tracing` spans a scope left entered, then drops their entries.
#[cold]
#[inline(never)]
fn count_healed() {
    let left = with_state(|s| std::mem::take(&mut s.healed)).unwrap_or_default();
    for e in &left {
        misnested(e.span());
    }
}

/// After shared entries were removed: when this thread is no longer inside a span
/// of the code running now, its staged records go to the pipelines.
fn after_removal(s: &mut ThreadState) {
    s.shared_changed();
    if s.staged() && !inside(s) {
        crate::pipeline::ring::flush_all(s);
    }
}

/// Whether the code running on this thread is inside a span: a scope, or a
/// shared entry that is current for it. Records wait in the staging buffer while
/// it is; otherwise they go to the ring at once.
#[inline]
pub(crate) fn inside(s: &mut ThreadState) -> bool {
    if SCOPES.with(|sc| !sc.top.get().is_null()) {
        return true;
    }
    !s.stack.is_empty() && inside_slow(s)
}

/// [`inside`] outside any scope, with shared entries; removes the stale entries
/// it meets.
#[cold]
#[inline(never)]
fn inside_slow(s: &mut ThreadState) -> bool {
    let task = current_task();
    let mut i = s.stack.len();
    let mut found = false;
    while i > 0 {
        i -= 1;
        let e = &s.stack[i];
        if e.span().is_stale() {
            remove_stale(s, i);
        } else if e.task == task {
            found = true;
            break;
        }
    }
    s.shared_changed();
    found
}

/// Removes a stale entry. Dropping it may free its span (the last reference of a
/// closed span), which touches no thread state.
fn remove_stale(s: &mut ThreadState, i: usize) {
    drop(s.stack.remove(i));
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

/// One entered `tracing` span on a thread's stack.
pub(crate) struct Entry {
    /// The span, whose strong reference this entry owns.
    span: Arc<SharedSpan>,
    /// The task that entered it (`None` outside any task).
    task: Option<tokio::task::Id>,
    /// Its place in the thread's order of entries and scopes (module docs).
    seq: u64,
}

impl Entry {
    fn span(&self) -> &SharedSpan {
        &self.span
    }

    /// What this entry is for the code running now: current (and kept alive by the
    /// returned value), or not current (`None`).
    fn current_for(&self, task: Option<tokio::task::Id>) -> Option<Current> {
        (!self.span.is_stale() && self.task == task).then(|| Current::shared(self.span.clone()))
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
    fn scope(data: NonNull<SpanData>) -> Current {
        Current {
            data,
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

/// `tracing` entered `span` on this thread.
pub(crate) fn enter_shared(span: &Arc<SharedSpan>) {
    span.entered.fetch_add(1, Ordering::AcqRel);
    let task = current_task();
    let span = span.clone();
    // Without thread state (the thread is exiting) the entry is dropped unpushed.
    with_state(move |s| {
        s.next_seq += 1;
        let seq = s.next_seq;
        s.stack.push(Entry { span, task, seq });
        s.shared_changed();
    });
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
    let task = current_task();
    let found = with_state(|s| {
        let mut found = None;
        for (i, e) in s.stack.iter().enumerate().rev() {
            if Arc::ptr_eq(&e.span, span) {
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
    let removed = with_state(|s| {
        let mut gone = Vec::new();
        let mut i = s.stack.len();
        while i > 0 {
            i -= 1;
            if ptr::eq(&*s.stack[i].span, span) {
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

/// A linked frame, from [`Scopes::top`] or a linked frame's `prev` (null: none).
/// Use it at once, inside the scope that reads it.
#[inline(always)]
fn linked<'a>(frame: *const Frame) -> Option<&'a Frame> {
    // SAFETY: a linked frame is alive: it is a local of a `scope` call further up
    // this thread's call stack, unlinked before that call returns, and so is every
    // frame it links to (the scopes it runs inside). The callers read it inside
    // the scope that reads it, before anything can unlink it.
    unsafe { frame.as_ref() }
}

/// The innermost scope's frame and whether a shared entry is above it.
#[inline(always)]
fn innermost() -> (*const Frame, bool) {
    SCOPES.with(|sc| {
        let top = sc.top.get();
        let base = linked(top).map_or(0, |f| f.seq);
        (top, sc.shared_top.get() > base)
    })
}

/// The span of a linked frame.
#[inline(always)]
fn frame_data(frame: *const Frame) -> Option<NonNull<SpanData>> {
    linked(frame).map(|f| f.data)
}

/// The innermost span entered on this thread for the code running now (see
/// [`Current`] for how long it may be used). For callers that must not move
/// values through a closure: a span opened inside one was built on the stack and
/// copied out, and the copy stalled on store forwarding.
#[inline]
pub(crate) fn top() -> Option<Current> {
    let (frame, shared_above) = innermost();
    if shared_above && let Some(c) = top_shared(frame) {
        return Some(c);
    }
    frame_data(frame).map(Current::scope)
}

/// The innermost current shared entry above `frame` (all of them when there is
/// no scope); removes the stale entries it meets.
#[cold]
#[inline(never)]
fn top_shared(frame: *const Frame) -> Option<Current> {
    let base = linked(frame).map_or(0, |f| f.seq);
    let task = current_task();
    with_state(|s| {
        let mut i = s.stack.len();
        let mut found = None;
        while i > 0 {
            i -= 1;
            let e = &s.stack[i];
            if e.seq <= base {
                break;
            }
            if e.span().is_stale() {
                remove_stale(s, i);
            } else if let Some(c) = e.current_for(task) {
                found = Some(c);
                break;
            }
        }
        s.shared_changed();
        found
    })
    .flatten()
}

/// The innermost span entered on this thread for the code running now, as a
/// pointer for [`open`](super::open) to read at once: valid until this thread's
/// stack changes, since a scope's span lives while its frame is linked and a
/// shared span while any entry refers to it. `open` only copies ids and clones the
/// request context out of it before anything else runs (no user code, no stack
/// change), so it needs no reference of its own; [`top`] gives one.
#[inline]
pub(crate) fn top_ptr() -> Option<NonNull<SpanData>> {
    let (frame, shared_above) = innermost();
    if shared_above && let Some(c) = top_shared(frame) {
        return Some(c.data);
    }
    frame_data(frame)
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
    // Shared entries innermost first, with their numbers.
    let shared: Vec<(u64, Option<Current>)> = with_state(|s| {
        s.stack
            .iter()
            .rev()
            .map(|e| (e.seq, e.current_for(task)))
            .collect()
    })
    .unwrap_or_default();
    let mut shared = shared.into_iter().peekable();
    let mut frame = linked(SCOPES.with(|sc| sc.top.get()));
    loop {
        let base = frame.map_or(0, |f| f.seq);
        while let Some((_, c)) = shared.next_if(|(seq, _)| *seq > base) {
            if let Some(c) = c
                && !f(&c)
            {
                return;
            }
        }
        let Some(scope) = frame else {
            return;
        };
        if !f(&Current::scope(scope.data)) {
            return;
        }
        frame = linked(scope.prev.get());
    }
}

/// How many entries this thread's stack holds (scopes and shared entries).
pub(crate) fn depth() -> usize {
    let mut n = with_state(|s| s.stack.len()).unwrap_or(0);
    let mut frame = linked(SCOPES.with(|sc| sc.top.get()));
    while let Some(f) = frame {
        n += 1;
        frame = linked(f.prev.get());
    }
    n
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

#[cfg(test)]
mod tests {
    use super::*;

    /// What a stackful coroutine does (there is no safe way to do it otherwise):
    /// scope `a` of the coroutine ends while scope `b` of the code that resumed it
    /// is innermost. `a` is spliced out, so `b`'s end never links `a` back.
    #[test]
    fn a_frame_that_ends_out_of_order_is_spliced_out_of_the_chain() {
        let (engine, _, _) = crate::span::engine_tests::observe(1.0);
        let _g = engine.set_default();
        let span_a = crate::span::Span::new("a");
        let span_b = crate::span::Span::new("b");
        let (da, db) = (span_a.data.as_ref().unwrap(), span_b.data.as_ref().unwrap());
        let a = Frame {
            prev: Cell::new(ptr::null()),
            data: NonNull::from(da),
            seq: 0,
        };
        let b = Frame {
            prev: Cell::new(&a),
            data: NonNull::from(db),
            seq: 0,
        };
        SCOPES.with(|sc| sc.top.set(&b));
        assert_eq!(depth(), 2);
        unlink_slow(&a);
        assert!(b.prev.get().is_null(), "b no longer links to a");
        assert_eq!(depth(), 1);
        assert_eq!(top().map(|c| c.span_context()), span_b.span_context());
        unlink_slow(&b);
        assert!(SCOPES.with(|sc| sc.top.get()).is_null());
        assert_eq!(depth(), 0);
    }
}
