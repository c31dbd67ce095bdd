//! The per-thread stack of entered spans.
//!
//! Entering a span pushes a pointer to its [`SpanData`] and leaving pops it: a
//! thread-local access and a `Vec` push, a few nanoseconds, with no reference count
//! touched. The pointer is valid while it is on the stack because every entry is
//! owned by something that outlives it and removes it before it goes away:
//!
//! - a pinned [`Instrumented`](super::Instrumented) future or [`ScopedSpan`](super::ScopedSpan):
//!   pinned data is not moved, and their destructors (which `Pin` guarantees to run
//!   before the memory is reused) remove any entry that still points at them;
//! - a span opened through `tracing`: its data is boxed in the registry's extensions
//!   and only freed in `on_close`, which the registry calls after the span has left
//!   every thread's stack.

use std::cell::RefCell;

use super::data::SpanData;

thread_local! {
    static STACK: RefCell<Vec<*const SpanData>> = const { RefCell::new(Vec::new()) };
}

/// Pushes `span` on this thread's stack.
#[inline]
pub(crate) fn push(span: &SpanData) {
    let _ = STACK.try_with(|s| {
        if let Ok(mut s) = s.try_borrow_mut() {
            s.push(span as *const SpanData);
        }
    });
}

/// Pops `span` from this thread's stack. Spans normally leave in the order they
/// entered; when they do not (a `tracing` span exited out of order), the entry is
/// found and removed wherever it is.
#[inline]
pub(crate) fn pop(span: &SpanData) {
    let ptr = span as *const SpanData;
    let emptied = STACK
        .try_with(|s| {
            let Ok(mut s) = s.try_borrow_mut() else {
                return false;
            };
            if s.last() == Some(&ptr) {
                s.pop();
            } else if let Some(i) = s.iter().rposition(|p| *p == ptr) {
                s.remove(i);
            }
            s.is_empty()
        })
        .unwrap_or(false);
    if emptied {
        // The thread left its outermost span: hand over what it staged.
        crate::pipeline::ring::flush_thread();
    }
}

/// Removes every entry that points at `span`: called when the owner of a span goes
/// away, so that no dangling entry can survive a guard that was leaked.
#[inline]
pub(crate) fn forget(span: &SpanData) {
    let ptr = span as *const SpanData;
    let _ = STACK.try_with(|s| {
        if let Ok(mut s) = s.try_borrow_mut() {
            if s.last() != Some(&ptr) && !s.contains(&ptr) {
                return;
            }
            s.retain(|p| *p != ptr);
        }
    });
}

/// Calls `f` with the innermost entered span of this thread, if any.
#[inline]
pub(crate) fn with_current<R>(f: impl FnOnce(Option<&SpanData>) -> R) -> R {
    let top = STACK
        .try_with(|s| s.try_borrow().ok().and_then(|s| s.last().copied()))
        .ok()
        .flatten();
    match top {
        // SAFETY: an entry is on the stack only while its owner keeps the data alive
        // and in place (see the module docs); we are on the thread that entered it, so
        // its owner is still running further up this thread's call stack.
        Some(p) => f(Some(unsafe { &*p })),
        None => f(None),
    }
}

/// Calls `f` for each entered span of this thread, innermost first, until it returns
/// `false`.
pub(crate) fn for_each(mut f: impl FnMut(&SpanData) -> bool) {
    let entries: Vec<*const SpanData> = STACK
        .try_with(|s| s.try_borrow().map(|s| s.clone()).unwrap_or_default())
        .unwrap_or_default();
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
    STACK
        .try_with(|s| s.try_borrow().map_or(0, |s| s.len()))
        .unwrap_or(0)
}
