//! What `#[traced]` expands to. **Not a stable API**: these items exist for the
//! macro's generated code only and may change in any release.

use std::borrow::Cow;
use std::fmt;
use std::future::Future;

pub use crate::span::{Callsite, Instrumented, ScopedSpan, Span, SpanKind, Value};
pub use tracing_core::Level;

use crate::clock::Tick;
use crate::span::{Event, KeyValue, Parent, SpanName, stack};

/// Opens the span of a `#[traced]` call: a child of the current span (or a new
/// trace), named after the callsite.
#[inline]
pub fn start(callsite: &'static Callsite) -> Span {
    Span {
        data: crate::span::open(
            SpanName::Static(callsite.name()),
            callsite.kind(),
            Parent::Current,
            None,
            None,
            Some(callsite),
            None,
        ),
    }
}

/// Wraps the body future of an `async fn` with its span.
#[inline]
pub fn instrument<F: Future>(future: F, span: Span) -> Instrumented<F> {
    crate::FutureExt::instrument(future, span)
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

/// Records an `Err` on `span`, formatting the error with `Display`.
pub fn record_error_display<E: fmt::Display + ?Sized>(span: &Span, error: &E) {
    record_error_on(
        span.data.as_ref(),
        std::any::type_name::<E>(),
        error.to_string(),
    );
}

/// Records an `Err` on `span`, formatting the error with `Debug`.
pub fn record_error_debug<E: fmt::Debug + ?Sized>(span: &Span, error: &E) {
    record_error_on(
        span.data.as_ref(),
        std::any::type_name::<E>(),
        format!("{error:?}"),
    );
}

/// Records an `Err` on the current span (inside an instrumented `async` body).
pub fn record_error_display_current<E: fmt::Display + ?Sized>(error: &E) {
    stack::with_current(|c| record_error_on(c, std::any::type_name::<E>(), error.to_string()));
}

/// Records an `Err` on the current span, formatting with `Debug`.
pub fn record_error_debug_current<E: fmt::Debug + ?Sized>(error: &E) {
    stack::with_current(|c| record_error_on(c, std::any::type_name::<E>(), format!("{error:?}")));
}

/// Sets an attribute on `span` (field values, arguments, `ret`).
#[inline]
pub fn set_attribute(span: &Span, key: &'static str, value: Value) {
    if let Some(d) = &span.data {
        d.set_attribute(KeyValue {
            key: Cow::Borrowed(key),
            value,
        });
    }
}

/// Sets an attribute on the current span.
pub fn set_attribute_current(key: &'static str, value: Value) {
    crate::span::set_attribute(key, value);
}

/// Whether `key` names a sensitive field for the pipeline `span` records into
/// (its value is then replaced by `[REDACTED]`, even when asked for).
pub fn is_sensitive(span: &Span, key: &str) -> bool {
    span.data
        .as_ref()
        .is_some_and(|d| d.pipeline.settings.redact.is_sensitive(key))
}

/// A value formatted with `Display` (the `%` sigil).
pub fn display<T: fmt::Display + ?Sized>(v: &T) -> Value {
    Value::Str(Cow::Owned(v.to_string()))
}

/// A value formatted with `Debug` (the `?` sigil).
pub fn debug<T: fmt::Debug + ?Sized>(v: &T) -> Value {
    Value::Str(Cow::Owned(format!("{v:?}")))
}

/// A value converted with `Into<Value>` (no sigil).
pub fn value<T: Into<Value>>(v: T) -> Value {
    v.into()
}

/// Whether the current request is a tracer bullet.
#[inline]
pub fn is_tracer_bullet() -> bool {
    crate::context::is_tracer_bullet()
}

/// Records that a side effect was skipped because the request is a tracer bullet.
pub fn side_effect_skipped(span: &Span, function: &'static str) {
    if let Some(d) = &span.data {
        d.add_event(Event {
            time: Tick::now(),
            name: Cow::Borrowed("side_effect.skipped"),
            attributes: vec![KeyValue::new("code.function", function)],
        });
    }
}

/// Records that a side effect was skipped, on the current span.
pub fn side_effect_skipped_current(function: &'static str) {
    crate::span::add_event(
        "side_effect.skipped",
        vec![KeyValue::new("code.function", function)],
    );
}
