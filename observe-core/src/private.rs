//! What `#[traced]` expands to. **Not a stable API**: these items exist for the
//! macro's generated code only and may change in any release. The macro names them
//! only through `::observe_core::__private` (or `<crate = path>::__private`).

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::pin::Pin;

pub use crate::dry_run::DryRun;
pub use crate::span::future::InstrumentedIn;
pub use crate::span::{Callsite, ScopedSpan, Span, SpanKind, Value};
pub use tracing_core::Level;

use crate::clock::Tick;
use crate::span::{Event, KeyValue};

/// Opens the span of a `#[traced]` call: a child of the current span (or a new
/// trace), named after the callsite. When observe was never started this is one
/// inlined load and branch.
/// (The macro opens its spans with `start_sync`/`start_async`; the crate's tests use
/// this one.)
#[cfg(test)]
#[inline(always)]
pub(crate) fn start(callsite: &'static Callsite) -> Span {
    if !crate::pipeline::any() {
        return Span::disabled();
    }
    Span::from_data(open(callsite))
}

/// The span data of a `#[traced]` call. Always inlined into its callers, so that
/// the span is built straight into their return slot: through an out-of-line
/// function returning a `Span` that the caller then wrapped, the 128-byte span was
/// copied twice on its way out, the first copy stalling on store forwarding.
#[inline(always)]
fn open(callsite: &'static Callsite) -> Option<crate::span::SpanData> {
    crate::span::open_callsite(callsite)
}

/// The span of a synchronous `#[traced]` call, to be pinned on the caller's stack:
/// `None` when observe was never started, so that such a call has nothing to drop.
pub type SyncSpan = Option<ScopedSpan>;

/// Opens the span of a synchronous `#[traced]` call: a child of the current span (or
/// a new trace), named after the callsite; one inlined load and branch when observe
/// was never started.
#[inline(always)]
pub fn start_sync(callsite: &'static Callsite) -> SyncSpan {
    if !crate::pipeline::any() {
        return None;
    }
    start_sync_slow(callsite)
}

#[inline(never)]
fn start_sync_slow(callsite: &'static Callsite) -> SyncSpan {
    // `Some` even when no span was opened (no pipeline is current on this thread, a
    // rare case): it then holds a disabled span, which does and drops as nothing.
    // Anything that looks at the result before returning it makes a copy of it.
    Some(ScopedSpan::new(Span::from_data(open(callsite))))
}

static DISABLED: Span = Span::disabled();

/// The span inside a [`SyncSpan`] (a disabled one when there is none).
#[inline(always)]
pub fn sync_span(span: &SyncSpan) -> &Span {
    match span {
        Some(s) => s.span(),
        None => &DISABLED,
    }
}

/// Wraps the body future of an `async fn` with its span, borrowed from a local of
/// the `async fn` (see [`InstrumentedIn`]): the
/// span is never moved after it was opened. `on_ready` records the outcome on
/// the span when the body completes, before the span ends, whether or not the span
/// is current (one below the level filter never is, but its outcome decides its
/// latency histogram's `outcome` label).
#[inline]
pub fn instrument_in<F, C>(future: F, span: &mut Span, on_ready: C) -> InstrumentedIn<'_, F, C>
where
    F: Future,
    C: FnOnce(&Span, &F::Output),
{
    InstrumentedIn::new(future, span, on_ready)
}

/// The span of an `async` `#[traced]` call: `None` when observe was never started,
/// so that such a call carries and drops no span.
pub type AsyncSpan = Option<Span>;

/// Opens the span of an `async` `#[traced]` call (see [`start_sync`]).
#[inline(always)]
pub fn start_async(callsite: &'static Callsite) -> AsyncSpan {
    if !crate::pipeline::any() {
        return None;
    }
    start_async_slow(callsite)
}

#[inline(never)]
fn start_async_slow(callsite: &'static Callsite) -> AsyncSpan {
    // As `start_sync_slow`: built in the return slot, a disabled span when no span
    // was opened.
    Some(Span::from_data(open(callsite)))
}

/// The span inside an [`AsyncSpan`] (a disabled one when there is none).
#[inline(always)]
pub fn async_span(span: &AsyncSpan) -> &Span {
    match span {
        Some(s) => s,
        None => &DISABLED,
    }
}

fn error_attributes(type_name: &'static str, message: String) -> (KeyValue, KeyValue) {
    (
        KeyValue::new("error.type", type_name),
        KeyValue::new("error.message", message),
    )
}

fn record_error_on(span: Option<&crate::span::SpanData>, type_name: &'static str, message: String) {
    if let Some(d) = span {
        let (t, m) = error_attributes(type_name, message.clone());
        d.set_attribute(t);
        d.set_attribute(m);
        d.set_error(Some(Cow::Owned(message)));
    }
}

/// Records an `Err` on `span`, formatting the error with `Display`. Nothing is
/// formatted when the span is disabled, or below the level filter (its status
/// still turns to error: it decides the latency's `outcome`).
pub(crate) fn record_error_display<E: ErrorDisplay + ?Sized>(span: &Span, error: &E) {
    match &*span.data {
        Some(d) if d.filtered => d.set_error(None),
        Some(d) => record_error_on(Some(d), std::any::type_name::<E>(), error.error_message()),
        None => {}
    }
}

/// Records an `Err` on `span`, formatting the error with `Debug` (see
/// [`record_error_display`]).
pub(crate) fn record_error_debug<E: ErrorDebug + ?Sized>(span: &Span, error: &E) {
    match &*span.data {
        Some(d) if d.filtered => d.set_error(None),
        Some(d) => record_error_on(Some(d), std::any::type_name::<E>(), error.error_message()),
        None => {}
    }
}

/// Records the `Err` of a `#[traced]` function's result on `span` (`Display`).
#[inline]
pub fn record_result_display<R>(span: &Span, result: &R)
where
    R: TracedResult + ?Sized,
    R::Error: ErrorDisplay,
{
    if let Some(e) = result.traced_err() {
        record_error_display(span, e);
    }
}

/// Records the `Err` of a `#[traced]` function's result on `span` (`Debug`).
#[inline]
pub fn record_result_debug<R>(span: &Span, result: &R)
where
    R: TracedResult + ?Sized,
    R::Error: ErrorDebug,
{
    if let Some(e) = result.traced_err() {
        record_error_debug(span, e);
    }
}

/// An error type `#[traced]` can record with `Display` (the default). Exists for
/// the compile error it gives when the error type is not `Display`.
#[diagnostic::on_unimplemented(
    message = "`#[traced]` records errors with `Display`, which `{Self}` does not implement",
    label = "the error type of this `Result` is not `Display`",
    note = "use `#[traced(err(Debug))]` to record the error with `Debug` instead, or implement `Display` for `{Self}`"
)]
pub trait ErrorDisplay {
    /// The error message (`error.message`).
    fn error_message(&self) -> String;
}

impl<E: fmt::Display + ?Sized> ErrorDisplay for E {
    fn error_message(&self) -> String {
        self.to_string()
    }
}

/// An error type `#[traced(err(Debug))]` can record.
#[diagnostic::on_unimplemented(
    message = "`#[traced(err(Debug))]` records errors with `Debug`, which `{Self}` does not implement",
    label = "the error type of this `Result` is not `Debug`",
    note = "derive or implement `Debug` for `{Self}`, or use `#[traced]` (which records with `Display`)"
)]
pub trait ErrorDebug {
    /// The error message (`error.message`).
    fn error_message(&self) -> String;
}

impl<E: fmt::Debug + ?Sized> ErrorDebug for E {
    fn error_message(&self) -> String {
        format!("{self:?}")
    }
}

/// The return types whose `Err` marks a `#[traced]` span failed: `Result` (under
/// any alias).
#[diagnostic::on_unimplemented(
    message = "`#[traced(err)]` needs a function returning `Result`, and `{Self}` is not a `Result`",
    label = "not a `Result`",
    note = "remove `err` (functions returning `Result` record their errors without it)"
)]
pub trait TracedResult {
    /// The error type.
    type Error: ?Sized;
    /// The error, if this is an `Err`.
    fn traced_err(&self) -> Option<&Self::Error>;
}

impl<T, E> TracedResult for Result<T, E> {
    type Error = E;
    #[inline]
    fn traced_err(&self) -> Option<&E> {
        self.as_ref().err()
    }
}

/// Whether the span records attributes: enabled and not below the level filter.
/// Field and argument values are only evaluated and formatted when it does.
#[inline]
pub fn is_recording(span: &Span) -> bool {
    span.data.as_ref().is_some_and(|d| !d.filtered)
}

/// Runs the body of a synchronous `#[traced]` function inside its span (the span
/// is current while it runs, and a panic is recorded on it and re-raised
/// unchanged). Without a span, just calls `f`.
#[inline(always)]
pub fn run<R>(span: Pin<&SyncSpan>, f: impl FnOnce() -> R) -> R {
    match span.as_pin_ref() {
        Some(s) => s.run(f),
        None => f(),
    }
}

/// Records an attribute computed by `value`, unless `key` is sensitive for the
/// span's pipeline: then it is recorded as `[REDACTED]` and `value` is not called.
#[inline]
pub fn record(span: &Span, key: &'static str, value: impl FnOnce() -> Value) {
    if let Some(d) = &*span.data {
        d.set_attribute(KeyValue {
            key: Cow::Borrowed(key),
            value: checked_value(d, key, value),
        });
    }
}

const REDACTED: &str = "[REDACTED]";

fn checked_value(d: &crate::span::SpanData, key: &str, value: impl FnOnce() -> Value) -> Value {
    if d.pipeline.settings.redact.is_sensitive(key) {
        Value::Str(Cow::Borrowed(REDACTED))
    } else {
        value()
    }
}

/// Whether the span of a `#[traced(side_effect)]` call belongs to a tracer bullet
/// (it inherits its request context from its parent). A span with no request
/// context at all may be a bullet's task whose context fell off: see
/// [`crate::task`] (a warning in debug builds).
#[inline]
pub fn is_tracer_bullet_span(span: &Span) -> bool {
    let Some(d) = &*span.data else { return false };
    match d.ctx.get() {
        Some(ctx) => ctx.request_type() == crate::context::RequestType::TracerBullet,
        None => {
            let site = d.callsite.map_or(0, |c| c as *const Callsite as usize);
            crate::task::side_effect_without_context(site, &d.name.as_str());
            false
        }
    }
}

/// A value recorded as it is (no `%` or `?` sigil): numbers, `bool`, strings
/// (`str`, `String`, `Cow<str>`, `Arc<str>`), a [`Value`], or a reference to one of
/// these. Taken by reference, so recording an argument never moves it.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be recorded as a field value as it is",
    label = "not a number, `bool`, string or `observe_core::span::Value`",
    note = "write `%value` to record it with `Display` or `?value` to record it with `Debug`"
)]
pub trait FieldValue {
    /// The attribute value.
    fn field_value(&self) -> Value;
}

macro_rules! field_value_via_from {
    ($($t:ty),* $(,)?) => {
        $(impl FieldValue for $t {
            #[inline]
            fn field_value(&self) -> Value {
                Value::from(*self)
            }
        })*
    };
}

field_value_via_from!(
    i8, i16, i32, i64, isize, u8, u16, u32, u64, usize, f32, f64, bool
);

impl FieldValue for i128 {
    fn field_value(&self) -> Value {
        i64::try_from(*self).map_or_else(|_| Value::Str(Cow::Owned(self.to_string())), Value::I64)
    }
}

impl FieldValue for u128 {
    fn field_value(&self) -> Value {
        u64::try_from(*self).map_or_else(|_| Value::Str(Cow::Owned(self.to_string())), Value::U64)
    }
}

impl FieldValue for str {
    fn field_value(&self) -> Value {
        Value::Str(Cow::Owned(self.to_owned()))
    }
}

impl FieldValue for String {
    fn field_value(&self) -> Value {
        Value::Str(Cow::Owned(self.clone()))
    }
}

impl FieldValue for Cow<'_, str> {
    fn field_value(&self) -> Value {
        Value::Str(Cow::Owned(self.clone().into_owned()))
    }
}

impl FieldValue for std::sync::Arc<str> {
    fn field_value(&self) -> Value {
        Value::Str(Cow::Owned(self.to_string()))
    }
}

impl FieldValue for Value {
    fn field_value(&self) -> Value {
        self.clone()
    }
}

impl<T: FieldValue + ?Sized> FieldValue for &T {
    #[inline]
    fn field_value(&self) -> Value {
        (**self).field_value()
    }
}

impl<T: FieldValue + ?Sized> FieldValue for &mut T {
    #[inline]
    fn field_value(&self) -> Value {
        (**self).field_value()
    }
}

/// The value of a field without sigil (see [`FieldValue`]).
#[inline]
pub fn field_value<T: FieldValue + ?Sized>(v: &T) -> Value {
    v.field_value()
}

/// A value formatted with `Display` (the `%` sigil).
pub fn display<T: fmt::Display + ?Sized>(v: &T) -> Value {
    Value::Str(Cow::Owned(v.to_string()))
}

/// A value formatted with `Debug` (the `?` sigil).
pub fn debug<T: fmt::Debug + ?Sized>(v: &T) -> Value {
    Value::Str(Cow::Owned(format!("{v:?}")))
}

/// Records that a side effect was skipped because the request is a tracer bullet:
/// an event on its span, and an entry in the bullet's footprint under the span's
/// name.
pub fn side_effect_skipped(span: &Span, function: &'static str) {
    if let Some(d) = &*span.data {
        let name = d.name.as_str();
        if let Some(footprint) = d.ctx.get().and_then(|c| c.footprint()) {
            footprint.record_skipped(crate::footprint::service_name(d.pipeline), name);
        }
        d.add_event(Event {
            time: Tick::now(),
            name: Cow::Borrowed("side_effect.skipped"),
            attributes: vec![
                KeyValue::new("code.function", function),
                KeyValue::new("side_effect.name", name.to_owned()),
            ],
        });
    }
}
