//! Futures that carry their span, and the pinned span of a synchronous call.

use std::borrow::Cow;
use std::future::Future;
use std::marker::PhantomPinned;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use super::data::SpanData;
use super::{Entered, Span, finish_in_place, stack};
use crate::clock::Tick;

pin_project! {
    /// A future with a span: every poll enters the span, so spans opened and events
    /// logged while it runs are the span's children, on whatever thread it is polled.
    /// The span ends when the future completes (or is dropped before that, in which
    /// case it is marked `observe.cancelled`).
    #[must_use = "futures do nothing unless polled"]
    #[derive(Debug)]
    pub struct Instrumented<F> {
        #[pin]
        inner: F,
        span: Span,
    }

    impl<F> PinnedDrop for Instrumented<F> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let Some(d) = this.span.data.as_ref() {
                // Not entered: `poll` leaves the stack as it found it, even when
                // unwinding.
                if !d.context_only {
                    d.set_attribute(super::KeyValue::new("observe.cancelled", true));
                }
                finish_in_place(&mut this.span.data, Tick::now());
            }
        }
    }
}

impl<F> Instrumented<F> {
    /// The span this future carries.
    pub fn span(&self) -> &Span {
        &self.span
    }

    /// The wrapped future.
    pub fn inner(&self) -> &F {
        &self.inner
    }
}

impl<F: Future> Future for Instrumented<F> {
    type Output = F::Output;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let Some(data) = this.span.data.as_ref() else {
            return this.inner.poll(cx);
        };
        let polled = {
            let _entered = Entered::new(data);
            let inner = this.inner;
            catch_unwind(AssertUnwindSafe(move || inner.poll(cx)))
        };
        match polled {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(out)) => {
                finish_in_place(&mut this.span.data, Tick::now());
                Poll::Ready(out)
            }
            Err(payload) => {
                if let Some(d) = this.span.data.as_ref() {
                    record_panic(d, payload.as_ref());
                }
                finish_in_place(&mut this.span.data, Tick::now());
                resume_unwind(payload)
            }
        }
    }
}

/// The message of a panic payload, when it has one (`panic!` makes a `&'static str`
/// or a `String`).
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> Option<Cow<'static, str>> {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        Some(Cow::Borrowed(*s))
    } else {
        payload
            .downcast_ref::<String>()
            .map(|s| Cow::Owned(s.clone()))
    }
}

/// Records a panic on a span: status error with the panic message, and an
/// `exception` event as OpenTelemetry's conventions describe.
pub(crate) fn record_panic(d: &SpanData, payload: &(dyn std::any::Any + Send)) {
    record_panic_message(
        d,
        panic_message(payload).unwrap_or(Cow::Borrowed("panicked")),
    );
}

/// Records a panic with this message on a span (see [`record_panic`]).
pub(crate) fn record_panic_message(d: &SpanData, message: Cow<'static, str>) {
    d.add_event(super::Event {
        time: Tick::now(),
        name: Cow::Borrowed("exception"),
        attributes: vec![
            super::KeyValue::new("exception.type", "panic"),
            super::KeyValue::new("exception.message", message.clone()),
        ],
    });
    d.set_error(Some(message));
}

/// Attaching spans and context to futures.
pub trait FutureExt: Future + Sized {
    /// Runs this future inside `span`: each poll enters it, and it ends when the
    /// future completes.
    fn instrument(self, span: Span) -> Instrumented<Self> {
        Instrumented { inner: self, span }
    }

    /// Carries the current span and request context into this future without
    /// opening a new span: use it for futures handed to `tokio::spawn` or another
    /// executor, which start with an empty context otherwise.
    ///
    /// ```
    /// use observe_core::FutureExt as _;
    /// # async fn doc() {
    /// tokio::spawn(async { /* logs here carry the caller's trace and user */ }.in_current_context());
    /// # }
    /// ```
    fn in_current_context(self) -> Instrumented<Self> {
        Instrumented {
            inner: self,
            span: Span {
                data: super::current_context_carrier(),
            },
        }
    }
}

impl<F: Future> FutureExt for F {}

/// The span of a synchronous call, kept in place on the caller's stack. Used by
/// `#[traced]` on non-async functions: pin it, [`enter`](ScopedSpan::enter) it, and
/// let it drop at the end of the call.
///
/// Pinning is what makes this sound without `unsafe`: the span's data cannot move
/// while its address is on the thread's span stack, and its destructor, which `Pin`
/// guarantees to run, removes any such entry even if a guard was leaked.
#[derive(Debug)]
pub struct ScopedSpan {
    span: Span,
    /// Whether a guard is (or was leaked while) entered.
    entered: std::cell::Cell<bool>,
    _pin: PhantomPinned,
}

/// The guard of an entered [`ScopedSpan`]: the span is current until it drops.
#[derive(Debug)]
pub struct ScopedEntered<'a> {
    span: Option<&'a ScopedSpan>,
}

impl ScopedSpan {
    /// Wraps a span.
    pub fn new(span: Span) -> ScopedSpan {
        ScopedSpan {
            span,
            entered: std::cell::Cell::new(false),
            _pin: PhantomPinned,
        }
    }

    /// The span.
    pub fn span(&self) -> &Span {
        &self.span
    }

    /// Makes the span current until the guard drops.
    #[inline]
    pub fn enter(self: Pin<&Self>) -> ScopedEntered<'_> {
        let this = self.get_ref();
        match &this.span.data {
            Some(d) if !d.filtered => {
                stack::push(d);
                this.entered.set(true);
                ScopedEntered { span: Some(this) }
            }
            _ => ScopedEntered { span: None },
        }
    }

    /// Records a panic payload on the span (status error, `exception` event).
    pub fn record_panic(&self, payload: &(dyn std::any::Any + Send)) {
        if let Some(d) = &self.span.data {
            record_panic(d, payload);
        }
    }

    /// Runs `f` inside the span, recording a panic on it and re-raising the panic
    /// unchanged.
    pub fn run<R>(self: Pin<&Self>, f: impl FnOnce() -> R) -> R {
        let _entered = self.enter();
        match catch_unwind(AssertUnwindSafe(f)) {
            Ok(r) => r,
            Err(payload) => {
                self.get_ref().record_panic(payload.as_ref());
                resume_unwind(payload)
            }
        }
    }
}

impl Drop for ScopedSpan {
    #[inline]
    fn drop(&mut self) {
        // Only a leaked guard leaves the span entered.
        if self.entered.get()
            && let Some(d) = &self.span.data
        {
            stack::forget(d);
        }
        // `Span`'s own drop ends and records it.
    }
}

impl Drop for ScopedEntered<'_> {
    #[inline]
    fn drop(&mut self) {
        if let Some(s) = self.span {
            if let Some(d) = &s.span.data {
                stack::pop(d);
            }
            s.entered.set(false);
        }
    }
}
