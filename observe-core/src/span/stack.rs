//! Per-thread state: the stack of entered spans and the staging buffers of the
//! pipeline rings, in one thread-local so that opening and closing a span each
//! touch thread-local storage once.
//!
//! Entering a span pushes a pointer to its [`SpanData`] and leaving pops it: no
//! reference count is touched. The pointer is valid while it is on the stack because
//! every entry is owned by something that outlives it and removes it before it goes
//! away:
//!
//! - a pinned [`Instrumented`](super::Instrumented) future or [`ScopedSpan`](super::ScopedSpan),
//!   or a [`Span`](super::Span) borrowed by `in_scope`: their data does not move
//!   while entered, and their destructors (which `Pin` guarantees to run before the
//!   memory is reused) remove any entry that still points at them;
//! - a span opened through `tracing`: its data is boxed in the registry's extensions
//!   and only freed in `on_close`, which the registry calls after the span has left
//!   every thread's stack.

use std::cell::RefCell;

use super::data::SpanData;
use crate::pipeline::ring::Local;

/// What observe keeps per thread.
pub(crate) struct ThreadState {
    /// Entered spans, innermost last.
    pub(crate) stack: Vec<*const SpanData>,
    /// One staging buffer and ring producer per pipeline this thread writes to.
    pub(crate) rings: Vec<Local>,
    /// Whether any staging buffer holds records.
    pub(crate) staged: bool,
}

thread_local! {
    static STATE: RefCell<ThreadState> = const {
        RefCell::new(ThreadState { stack: Vec::new(), rings: Vec::new(), staged: false })
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

/// Pushes `span` on this thread's stack.
#[inline]
pub(crate) fn push(span: &SpanData) {
    with_state(|s| s.stack.push(span as *const SpanData));
}

/// Pops `span` from this thread's stack. Spans normally leave in the order they
/// entered; when they do not (a `tracing` span exited out of order), the entry is
/// found and removed wherever it is. Leaving the outermost span hands the records
/// staged on this thread to the pipelines.
#[inline]
pub(crate) fn pop(span: &SpanData) {
    let ptr = span as *const SpanData;
    with_state(|s| {
        if s.stack.last() == Some(&ptr) {
            s.stack.pop();
        } else if let Some(i) = s.stack.iter().rposition(|p| *p == ptr) {
            s.stack.remove(i);
        }
        if s.stack.is_empty() && s.staged {
            crate::pipeline::ring::flush_all(s);
        }
    });
}

/// Removes every entry that points at `span`: called when the owner of a span goes
/// away while it may still be entered, so that no dangling entry survives a guard
/// that was leaked.
pub(crate) fn forget(span: &SpanData) {
    let ptr = span as *const SpanData;
    with_state(|s| {
        if s.stack.contains(&ptr) {
            s.stack.retain(|p| *p != ptr);
            if s.stack.is_empty() && s.staged {
                crate::pipeline::ring::flush_all(s);
            }
        }
    });
}

/// The innermost entered span of this thread, as a pointer that is valid to
/// dereference at once on this thread (see [`with_current`] for why). For callers
/// that must not move values through a closure: a span opened inside one was built
/// on the stack and copied out, and the copy stalled on store forwarding.
#[inline]
pub(crate) fn top() -> Option<*const SpanData> {
    with_state(|s| s.stack.last().copied()).flatten()
}

/// Calls `f` with the innermost entered span of this thread, if any.
#[inline]
pub(crate) fn with_current<R>(f: impl FnOnce(Option<&SpanData>) -> R) -> R {
    match top() {
        // SAFETY: an entry is on the stack only while its owner keeps the data alive
        // and in place (see the module docs); we are on the thread that entered it, so
        // its owner is still running further up this thread's call stack. The state
        // is no longer borrowed, so `f` may open spans itself.
        Some(p) => f(Some(unsafe { &*p })),
        None => f(None),
    }
}

/// Calls `f` for each entered span of this thread, innermost first, until it returns
/// `false`.
pub(crate) fn for_each(mut f: impl FnMut(&SpanData) -> bool) {
    let entries = with_state(|s| s.stack.clone()).unwrap_or_default();
    for p in entries.into_iter().rev() {
        // SAFETY: as in `with_current`: every entry is alive while it is on the stack,
        // and nothing above us on this thread can remove it while we run.
        if !f(unsafe { &*p }) {
            break;
        }
    }
}

/// How many spans are entered on this thread.
#[inline]
pub(crate) fn depth() -> usize {
    with_state(|s| s.stack.len()).unwrap_or(0)
}
