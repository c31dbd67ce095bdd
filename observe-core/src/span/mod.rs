//! observe's own span engine.
//!
//! A span is opened with trace and span ids assigned at once (inherited from the
//! current span, taken from a remote parent, or new), timed with the TSC clock, and
//! kept in place while it runs: entering it pushes a pointer on a per-thread stack,
//! leaving pops it. When it ends it becomes a [`SpanRecord`] that is moved into a
//! per-thread ring buffer; a background thread drains the rings into the flight
//! recorder, the exporter and any [`Sink`](crate::sink::Sink). Nothing on this path
//! locks, allocates (unless the span is given attributes) or touches a shared cache
//! line.
//!
//! Most code never sees this module: `#[traced]` and the adapters open spans. For
//! manual instrumentation:
//!
//! ```
//! use observe_core::span::{Span, SpanKind};
//! use observe_core::FutureExt as _;
//!
//! # async fn fetch() -> u32 { 1 }
//! # async fn doc() {
//! let span = Span::builder("load config").kind(SpanKind::Internal).start();
//! span.set_attribute("config.source", "file");
//! let n = span.in_scope(|| 40 + 2);
//! assert_eq!(n, 42);
//!
//! // Futures carry their span: each poll enters it.
//! let value = fetch().in_span(Span::new("fetch")).await;
//! # let _ = value;
//! # }
//! ```

mod data;
pub(crate) mod deferred;
#[cfg(test)]
pub(crate) mod engine_tests;
pub(crate) mod future;
pub(crate) mod stack;
#[cfg(test)]
mod stack_tests;
mod value;

use std::borrow::Cow;
use std::sync::Arc;

pub use data::{Callsite, Event, Link, SpanKind, SpanRecord, StatusCode};
pub(crate) use data::{ContextCell, Extra, ExtraBox, ServerExtra, SpanData};
pub use future::{FutureExt, Instrumented, ScopedSpan};
pub use value::{KeyValue, SpanName, Value};

use crate::clock::Tick;
use crate::context::{RequestContext, RequestType};
use crate::ids::{SpanContext, SpanId, TraceFlags, TraceId};
use crate::pipeline::{self, Pipeline};

/// Where a new span's parent comes from.
#[derive(Debug, Clone, Copy, Default)]
pub enum Parent {
    /// The innermost span entered on this thread, or none (a new trace).
    #[default]
    Current,
    /// No parent: start a new trace even inside another span.
    Root,
    /// A span in another process (extracted from an inbound request).
    Remote(SpanContext),
}

/// A span under construction: choose its kind, parent, request context and first
/// attributes, then [`start`](SpanBuilder::start) it.
#[derive(Debug)]
#[must_use = "a span builder does nothing until `start` is called"]
pub struct SpanBuilder {
    name: SpanName,
    kind: SpanKind,
    parent: Parent,
    context: Option<Arc<RequestContext>>,
    extra: Option<ExtraBox>,
    callsite: Option<&'static Callsite>,
    start: Option<Tick>,
}

impl SpanBuilder {
    /// The span kind (default `Internal`).
    #[inline]
    pub fn kind(mut self, kind: SpanKind) -> Self {
        self.kind = kind;
        self
    }

    /// Where the parent comes from (default: the current span).
    #[inline]
    pub fn parent(mut self, parent: Parent) -> Self {
        self.parent = parent;
        self
    }

    /// The request context this span and its descendants carry (adapters set it
    /// from inbound headers; see [`crate::context`]).
    #[inline]
    pub fn context(mut self, context: Arc<RequestContext>) -> Self {
        self.context = Some(context);
        self
    }

    /// An attribute recorded from the start.
    pub fn attribute(mut self, key: impl Into<Cow<'static, str>>, value: impl Into<Value>) -> Self {
        self.extra
            .get_or_insert_with(Default::default)
            .attributes
            .push(KeyValue::new(key, value));
        self
    }

    /// Attributes kept typed until read, first in the span's order, with the
    /// span's other rare parts in the same allocation (a server span's: see
    /// `deferred`).
    pub(crate) fn deferred(mut self, mut server: Box<ServerExtra>) -> Self {
        match self.extra.take() {
            None => {}
            Some(ExtraBox::Plain(extra)) => server.extra = *extra,
            // Typed attributes given twice: the later ones are the span's.
            Some(ExtraBox::Server(earlier)) => server.extra = earlier.extra,
        }
        self.extra = Some(ExtraBox::Server(server));
        self
    }

    /// A link to another span.
    pub fn link(mut self, context: SpanContext, attributes: Vec<KeyValue>) -> Self {
        self.extra
            .get_or_insert_with(Default::default)
            .links
            .push(Link {
                context,
                attributes,
            });
        self
    }

    /// The code location (used by `#[traced]`).
    #[inline]
    pub fn callsite(mut self, callsite: &'static Callsite) -> Self {
        self.callsite = Some(callsite);
        self
    }

    /// When the span started, if earlier than now (for example when the request's
    /// first byte arrived).
    #[inline]
    pub fn start_time(mut self, start: Tick) -> Self {
        self.start = Some(start);
        self
    }

    /// Starts the span. When observe is not initialised this is a disabled span that
    /// costs nothing.
    #[inline]
    pub fn start(self) -> Span {
        Span::from_data(open(
            self.name,
            self.kind,
            self.parent,
            self.context,
            self.extra,
            self.callsite,
            self.start,
        ))
    }
}

/// A span handle for manual instrumentation. It ends (and is recorded) when dropped
/// or when [`end`](Span::end) is called.
///
/// There is deliberately no `enter()` guard: a guard held across an `.await` is the
/// most common way to corrupt a trace. Use [`in_scope`](Span::in_scope) for
/// synchronous code and [`FutureExt::in_span`] for futures.
pub struct Span {
    /// Emptied by `Span`'s `Drop` (`finish_in_place` always leaves `None`), so the
    /// field needs no drop glue of its own: as a plain `Option` it was an
    /// out-of-line call after every span's end that only found `None`.
    pub(crate) data: std::mem::ManuallyDrop<Option<SpanData>>,
}

impl Span {
    /// A span named `name`, child of the current span (or the root of a new trace).
    pub fn new(name: impl Into<SpanName>) -> Span {
        Span::builder(name).start()
    }

    /// A builder for a span named `name`.
    #[inline]
    pub fn builder(name: impl Into<SpanName>) -> SpanBuilder {
        SpanBuilder {
            name: name.into(),
            kind: SpanKind::Internal,
            parent: Parent::Current,
            context: None,
            extra: None,
            callsite: None,
            start: None,
        }
    }

    /// A span that records nothing.
    pub const fn disabled() -> Span {
        Span::from_data(None)
    }

    /// The span of `data` (none: disabled). Ended and recorded when dropped.
    #[inline(always)]
    pub(crate) const fn from_data(data: Option<SpanData>) -> Span {
        Span {
            data: std::mem::ManuallyDrop::new(data),
        }
    }

    /// Whether this span records anything (false when observe is not initialised).
    pub fn is_enabled(&self) -> bool {
        self.data.is_some()
    }

    /// The span's ids and flags, if it is enabled.
    pub fn span_context(&self) -> Option<SpanContext> {
        self.data.as_ref().map(SpanData::span_context)
    }

    /// The request context the span carries.
    pub fn request_context(&self) -> Option<Arc<RequestContext>> {
        self.data.as_ref()?.ctx.get().cloned()
    }

    /// Runs `f` with this span entered: spans opened and events logged inside are
    /// its children.
    pub fn in_scope<R>(&self, f: impl FnOnce() -> R) -> R {
        match &*self.data {
            Some(d) => stack::scope(d, f),
            None => f(),
        }
    }

    /// Sets an attribute (replacing one with the same key).
    pub fn set_attribute(&self, key: impl Into<Cow<'static, str>>, value: impl Into<Value>) {
        if let Some(d) = &*self.data {
            d.set_attribute(KeyValue::new(key, value));
        }
    }

    /// Adds an event.
    pub fn add_event(&self, name: impl Into<Cow<'static, str>>, attributes: Vec<KeyValue>) {
        if let Some(d) = &*self.data {
            d.add_event(Event {
                time: Tick::now(),
                name: name.into(),
                attributes,
            });
        }
    }

    /// Marks the span failed, with a message.
    pub fn set_error(&self, message: impl Into<Cow<'static, str>>) {
        if let Some(d) = &*self.data {
            d.set_error(Some(message.into()));
        }
    }

    /// Records a panic payload on the span: error status with the panic message and
    /// an `exception` event, as OpenTelemetry's conventions describe (for adapters
    /// that catch a handler's panic to answer 500).
    pub fn record_panic(&self, payload: &(dyn std::any::Any + Send)) {
        if let Some(d) = &*self.data {
            future::record_panic(d, payload);
        }
    }

    /// Marks the span explicitly successful (an error recorded before or after wins).
    pub fn set_ok(&self) {
        if let Some(d) = &*self.data {
            d.set_ok();
        }
    }

    /// Ends the span now.
    pub fn end(mut self) {
        finish_in_place(&mut self.data, Tick::now());
    }
}

impl std::fmt::Debug for Span {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Span").field("data", &*self.data).finish()
    }
}

impl Drop for Span {
    fn drop(&mut self) {
        if let Some(d) = self.data.as_ref() {
            // A panic while the span was in scope: it failed.
            if std::thread::panicking() && d.status() != StatusCode::Error {
                let message = LAST_PANIC
                    .try_with(|m| m.borrow().clone())
                    .ok()
                    .flatten()
                    .map_or(Cow::Borrowed("panicked"), Cow::Owned);
                future::record_panic_message(d, message);
            }
            finish_in_place(&mut self.data, Tick::now());
        }
    }
}

std::thread_local! {
    /// The message of the panic this thread is unwinding from, kept by observe's
    /// panic hook so that spans dropped during unwinding can record it.
    static LAST_PANIC: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// Chains a panic hook that remembers the panic message for the spans being
/// unwound through, then calls the previous hook (so the usual message is printed
/// once, unchanged). Installed once, by `init`.
pub(crate) fn install_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if stack::depth() > 0 {
                let message = future::panic_message(info.payload()).map(Cow::into_owned);
                let _ = LAST_PANIC.try_with(|m| {
                    if let Ok(mut m) = m.try_borrow_mut() {
                        *m = message;
                    }
                });
            }
            previous(info);
        }));
    });
}

/// The ids of the innermost span entered on this thread.
pub fn current_context() -> Option<SpanContext> {
    stack::with_current(|c| c.map(SpanData::span_context))
}

/// Sets an attribute on the innermost span entered on this thread.
pub fn set_attribute(key: impl Into<Cow<'static, str>>, value: impl Into<Value>) {
    stack::with_current(|c| {
        if let Some(d) = c {
            d.set_attribute(KeyValue::new(key, value));
        }
    });
}

/// Adds an event to the innermost span entered on this thread.
pub fn add_event(name: impl Into<Cow<'static, str>>, attributes: Vec<KeyValue>) {
    stack::with_current(|c| {
        if let Some(d) = c {
            d.add_event(Event {
                time: Tick::now(),
                name: name.into(),
                attributes,
            });
        }
    });
}

/// Marks the innermost span entered on this thread as failed.
pub fn set_error(message: impl Into<Cow<'static, str>>) {
    stack::with_current(|c| {
        if let Some(d) = c {
            d.set_error(Some(message.into()));
        }
    });
}

/// Opens the span of a `#[traced]` call: a child of the current span named after
/// its callsite. Its name is made here, inside, rather than passed: a 24-byte
/// `SpanName` argument goes by pointer, written by the caller with an 8-byte and a
/// 16-byte store just before the call and read here with one 16-byte load across
/// both, which the stores cannot forward to (the hottest instruction of `open` in
/// `perf`).
pub(crate) fn open_callsite(callsite: &'static Callsite) -> Option<SpanData> {
    open(
        callsite.name(),
        callsite.kind(),
        Parent::Current,
        None,
        None,
        Some(callsite),
        None,
    )
}

/// Opens a span: the single place where ids, parentage, sampling and the request
/// context of a new span are decided. The name is converted where the span is
/// built: a `SpanName` made by the caller went through a stack temporary, copied
/// into the span with loads wider than the stores that wrote it.
#[inline]
pub(crate) fn open(
    name: impl Into<SpanName>,
    kind: SpanKind,
    parent: Parent,
    context: Option<Arc<RequestContext>>,
    extra: Option<ExtraBox>,
    callsite: Option<&'static Callsite>,
    start: Option<Tick>,
) -> Option<SpanData> {
    if !pipeline::any() {
        return None;
    }
    if let Parent::Current = parent
        && let Some(p) = stack::top_ptr()
    {
        // SAFETY: the innermost span of this thread is alive until this thread's
        // stack changes (see `stack::top_ptr`), and `child_of` only reads it
        // (ids, flags, pipeline, a clone of its request context): nothing here
        // runs user code or touches the stack. Built here rather than in a
        // closure, the new span goes straight into the return slot.
        let p = unsafe { p.as_ref() };
        return Some(child_of(p, name, kind, context, extra, callsite, start));
    }
    match parent {
        Parent::Current => root(name.into(), kind, None, context, extra, callsite, start),
        Parent::Root => root(name.into(), kind, None, context, extra, callsite, start),
        Parent::Remote(remote) if remote.is_valid() => root(
            name.into(),
            kind,
            Some(remote),
            context,
            extra,
            callsite,
            start,
        ),
        Parent::Remote(_) => root(name.into(), kind, None, context, extra, callsite, start),
    }
}

/// Opens a child of `parent` (a `tracing` span's explicit parent).
pub(crate) fn open_child(
    parent: &SpanData,
    name: SpanName,
    kind: SpanKind,
    extra: Option<ExtraBox>,
    callsite: Option<&'static Callsite>,
) -> SpanData {
    child_of(parent, name, kind, None, extra, callsite, None)
}

/// Always inlined into `open`, so that the span is built in `open`'s return
/// slot: out of line (as LLVM chose for `#[traced]`'s start), it was built in a
/// temporary and copied, 27 instructions per span, counted.
#[inline(always)]
fn child_of(
    parent: &SpanData,
    name: impl Into<SpanName>,
    kind: SpanKind,
    context: Option<Arc<RequestContext>>,
    extra: Option<ExtraBox>,
    callsite: Option<&'static Callsite>,
    start: Option<Tick>,
) -> SpanData {
    // What calls out comes first, so that the rest goes from registers straight
    // into the span: values kept across those calls were spilled to the stack and
    // copied into the span with wider loads than the stores that spilled them
    // (16 bytes over a name's 8-byte tag and pointer), which stalls on store
    // forwarding.
    let context = context.or_else(|| parent.ctx.get().cloned());
    let span_id = SpanId::random();
    let start = start.unwrap_or_else(Tick::now);
    SpanData {
        trace_id: parent.trace_id,
        span_id,
        parent_id: parent.span_id,
        flags: parent.flags,
        kind,
        parent_remote: false,
        local_root: false,
        context_only: false,
        filtered: is_filtered(parent.pipeline, callsite),
        name: name.into(),
        callsite,
        start,
        pipeline: parent.pipeline,
        ctx: ContextCell::new(context),
        status: Default::default(),
        extra: std::sync::Mutex::new(extra),
    }
}

/// Whether a callsite's level is more verbose than the pipeline records spans at.
#[inline]
fn is_filtered(pipeline: &Pipeline, callsite: Option<&'static Callsite>) -> bool {
    callsite.is_some_and(|cs| pipeline.filters_level(cs.level))
}

#[cold]
fn root(
    name: SpanName,
    kind: SpanKind,
    remote: Option<SpanContext>,
    context: Option<Arc<RequestContext>>,
    extra: Option<ExtraBox>,
    callsite: Option<&'static Callsite>,
    start: Option<Tick>,
) -> Option<SpanData> {
    let pipeline = Pipeline::current()?;
    let tracer_bullet = context
        .as_ref()
        .is_some_and(|c| c.request_type() == RequestType::TracerBullet);
    let (trace_id, parent_id, flags) = match remote {
        Some(r) => {
            let sampled = tracer_bullet
                || pipeline.sampler().sample_remote_child(
                    r.flags.is_sampled(),
                    r.trace_id,
                    &name,
                    callsite,
                );
            (r.trace_id, r.span_id, r.flags.with_sampled(sampled))
        }
        None => {
            let trace_id = TraceId::random();
            let sampled =
                tracer_bullet || pipeline.sampler().sample_root(trace_id, &name, callsite);
            (
                trace_id,
                SpanId::INVALID,
                (TraceFlags::RANDOM).with_sampled(sampled),
            )
        }
    };
    let ctx = ContextCell::new(context);
    Some(SpanData {
        trace_id,
        span_id: SpanId::random(),
        parent_id,
        flags,
        kind,
        parent_remote: remote.is_some(),
        local_root: true,
        context_only: false,
        filtered: is_filtered(pipeline, callsite),
        name,
        callsite,
        start: start.unwrap_or_else(Tick::now),
        pipeline,
        ctx,
        status: Default::default(),
        extra: std::sync::Mutex::new(extra),
    })
}

/// A copy of the current span's identity that carries it into another task without
/// opening a span (see [`FutureExt::in_current_context`]).
pub(crate) fn current_context_carrier() -> Option<SpanData> {
    stack::with_current(|cur| {
        let p = cur?;
        let ctx = ContextCell::new(p.ctx.get().cloned());
        Some(SpanData {
            trace_id: p.trace_id,
            span_id: p.span_id,
            parent_id: p.parent_id,
            flags: p.flags,
            kind: p.kind,
            parent_remote: p.parent_remote,
            local_root: p.local_root,
            context_only: true,
            filtered: false,
            name: p.name.clone(),
            callsite: p.callsite,
            start: p.start,
            pipeline: p.pipeline,
            ctx,
            status: Default::default(),
            extra: std::sync::Mutex::new(None),
        })
    })
}

/// Ends a span: records its latency (for `#[traced]` callsites) and hands its record
/// to the pipeline.
#[inline]
pub(crate) fn finish(data: SpanData, end: Tick) {
    finish_in_place(&mut Some(data), end);
}

/// Ends the span in `slot` where it lives: the record is built from it straight into
/// the thread's staging buffer, and what remains is dropped in place. Spans are
/// large; not moving them on the hot path is measurably cheaper.
#[inline]
pub(crate) fn finish_in_place(slot: &mut Option<SpanData>, end: Tick) {
    let Some(data) = slot.as_mut() else { return };
    if data.context_only {
        *slot = None;
        return;
    }
    // Read once for the histogram and the record.
    let (status, request_type) = (data.status(), data.request_type());
    // Latency is recorded whatever the level: metrics do not depend on verbosity.
    if let Some(cs) = data.callsite {
        let is_error = status == StatusCode::Error;
        cs.metrics
            .histogram(is_error, request_type)
            .record_with_exemplar(data.start.nanos_until(end), data.trace_id, is_error);
    }
    if !data.filtered {
        // Inside another span on this thread the record waits in the staging buffer;
        // leaving the outermost span flushes it.
        crate::pipeline::ring::push_span(data.pipeline, data, end, status, request_type);
    }
    forget_shell(slot);
}

/// Empties `slot`, dropping what its span still owns. Once its record is taken,
/// a span owns at most its request context (its name and rare parts went into
/// the record), so only the context is dropped and the rest is forgotten: the
/// span's full drop glue (its name, its mutex, its rare parts, each a check, the
/// rare parts' out of line) cost 22–26 instructions of every span's end,
/// counted. A span whose record was not taken (filtered, or no thread state to
/// stage it in) is dropped in full.
#[inline]
#[expect(
    clippy::mem_forget,
    reason = "what the span owned is taken or dropped above; forgetting skips checks only"
)]
fn forget_shell(slot: &mut Option<SpanData>) {
    let Some(data) = slot.as_mut() else { return };
    // Every field, named: a new field that owns something must be dropped here.
    let SpanData {
        trace_id: _,
        span_id: _,
        parent_id: _,
        flags: _,
        kind: _,
        parent_remote: _,
        local_root: _,
        context_only: _,
        filtered: _,
        name,
        callsite: _,
        start: _,
        pipeline: _,
        ctx,
        status: _,
        extra,
    } = data;
    let extra_taken = extra
        .get_mut()
        .map_or_else(|e| e.get_ref().is_none(), |e| e.is_none());
    if !(matches!(name, SpanName::Static(_)) && extra_taken) {
        *slot = None;
        return;
    }
    ctx.clear();
    // Nothing left to drop: forgetting the span only skips the checks.
    std::mem::forget(slot.take());
}
