//! Futures that carry their span, and the pinned span of a synchronous call.

use std::borrow::Cow;
use std::future::Future;
use std::marker::PhantomPinned;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use super::data::SpanData;
use super::{Span, finish_in_place, stack};
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
            end_unfinished(this.span);
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
        poll_in_span(this.span, this.inner, cx, |_, _| {})
    }
}

pin_project! {
    /// [`Instrumented`] with its span borrowed from the `async fn` that awaits it,
    /// and a hook that sees the output with the span in hand before the span ends:
    /// `#[traced]` records the function's outcome (`Err`, return value) with it,
    /// whether or not the span is current (a span below the level filter is timed
    /// but never entered). Not a stable API (`__private`). The span is opened
    /// straight into a local of the `async fn`'s state and stays there: moved into
    /// the awaited future, 144 bytes were copied by `memcpy` right after the
    /// narrow stores that wrote them, whose wide loads stall on store forwarding (a
    /// fifth of an `async` call's time in `perf`). Ends the span as its owner
    /// would: when the future completes, or marked cancelled when it is dropped
    /// before.
    #[must_use = "futures do nothing unless polled"]
    #[derive(Debug)]
    pub struct InstrumentedIn<'a, F, C> {
        #[pin]
        inner: F,
        span: &'a mut Span,
        on_ready: Option<C>,
    }

    impl<F, C> PinnedDrop for InstrumentedIn<'_, F, C> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            end_unfinished(this.span);
        }
    }
}

impl<'a, F, C> InstrumentedIn<'a, F, C> {
    pub(crate) fn new(inner: F, span: &'a mut Span, on_ready: C) -> Self {
        InstrumentedIn {
            inner,
            span,
            on_ready: Some(on_ready),
        }
    }
}

impl<F, C> Future for InstrumentedIn<'_, F, C>
where
    F: Future,
    C: FnOnce(&Span, &F::Output),
{
    type Output = F::Output;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let on_ready = this.on_ready;
        poll_in_span(this.span, this.inner, cx, |span, out| {
            if let Some(f) = on_ready.take() {
                f(span, out);
            }
        })
    }
}

/// One poll of a future inside its span: the span is entered for the poll (a
/// scope: what the poll leaves entered is removed when it returns, see `stack`),
/// a panic is recorded and re-raised, and when the future is ready `on_ready`
/// sees its output before the span ends.
#[inline]
fn poll_in_span<F: Future>(
    span: &mut Span,
    inner: Pin<&mut F>,
    cx: &mut Context<'_>,
    on_ready: impl FnOnce(&Span, &F::Output),
) -> Poll<F::Output> {
    let Some(data) = span.data.as_ref() else {
        return inner.poll(cx);
    };
    let polled = stack::scope(data, move || {
        catch_unwind(AssertUnwindSafe(move || inner.poll(cx)))
    });
    match polled {
        Ok(Poll::Pending) => Poll::Pending,
        Ok(Poll::Ready(out)) => {
            // The hook runs user code too (an error's `Display`, a value's
            // `Debug`): its panic is the call's, recorded as one rather than ending
            // the span as cancelled when the future is dropped.
            if let Err(payload) = catch_unwind(AssertUnwindSafe(|| on_ready(span, &out))) {
                panicked(span, payload)
            }
            finish_in_place(&mut span.data, Tick::now());
            Poll::Ready(out)
        }
        Err(payload) => panicked(span, payload),
    }
}

/// Records a panic of a future's poll (or of its outcome hook) on its span, ends
/// the span and unwinds on.
#[cold]
#[inline(never)]
fn panicked(span: &mut Span, payload: Box<dyn std::any::Any + Send>) -> ! {
    if let Some(d) = span.data.as_ref() {
        record_panic(d, payload.as_ref());
    }
    finish_in_place(&mut span.data, Tick::now());
    resume_unwind(payload)
}

/// Ends the span of a future dropped before it completed (marked
/// `observe.cancelled`). Not entered: polls leave the stack as they found it,
/// even when unwinding.
#[inline]
fn end_unfinished(span: &mut Span) {
    if span.data.is_some() {
        end_cancelled(span);
    }
}

#[inline(never)]
fn end_cancelled(span: &mut Span) {
    if let Some(d) = span.data.as_ref() {
        if !d.context_only {
            d.set_attribute(super::KeyValue::new("observe.cancelled", true));
        }
        finish_in_place(&mut span.data, Tick::now());
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
    ///
    /// Named `in_span` (as fastrace names it), not `instrument`, so that it never
    /// clashes with `tracing::Instrument::instrument` when both traits are in scope.
    ///
    /// ```
    /// use observe_core::FutureExt as _;
    /// use observe_core::span::Span;
    /// use tracing::Instrument as _; // both in scope: no ambiguity
    /// # async fn doc() {
    /// async { 1 }.in_span(Span::new("observe span")).await;
    /// async { 2 }.instrument(tracing::info_span!("tracing span")).await;
    /// # }
    /// ```
    fn in_span(self, span: Span) -> Instrumented<Self> {
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
            span: Span::from_data(super::current_context_carrier()),
        }
    }
}

impl<F: Future> FutureExt for F {}

/// The span of a synchronous call, kept in place on the caller's stack. Used by
/// `#[traced]` on non-async functions: pin it, [`run`](ScopedSpan::run) the body
/// in it, and let it drop at the end of the call.
///
/// There is no guard to enter it with, only `run`: the span is current exactly
/// while the closure runs, on the calling thread, and the closure borrows the
/// pinned span, so no entry of it can outlive it (a guard could be leaked, held
/// across `.await` or sent to another thread; see `span::stack`).
#[derive(Debug)]
pub struct ScopedSpan {
    span: Span,
    _pin: PhantomPinned,
}

impl ScopedSpan {
    /// Wraps a span.
    pub fn new(span: Span) -> ScopedSpan {
        ScopedSpan {
            span,
            _pin: PhantomPinned,
        }
    }

    /// The span.
    pub fn span(&self) -> &Span {
        &self.span
    }

    /// Records a panic payload on the span (status error, `exception` event).
    pub fn record_panic(&self, payload: &(dyn std::any::Any + Send)) {
        if let Some(d) = &*self.span.data {
            record_panic(d, payload);
        }
    }

    /// Runs `f` inside the span (current while `f` runs, on this thread), recording
    /// a panic on it and re-raising the panic unchanged. Not `#[inline]`: inlined
    /// into a `#[traced]` function, its register saves made the call cost more
    /// even with observe not initialised.
    pub fn run<R>(self: Pin<&Self>, f: impl FnOnce() -> R) -> R {
        let this = self.get_ref();
        let run = move || catch_unwind(AssertUnwindSafe(f));
        let ran = match this.span.data.as_ref() {
            Some(d) => stack::scope(d, run),
            None => run(),
        };
        match ran {
            Ok(r) => r,
            Err(payload) => {
                this.record_panic(payload.as_ref());
                resume_unwind(payload)
            }
        }
    }
}
