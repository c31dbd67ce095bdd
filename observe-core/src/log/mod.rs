//! Structured logs: one JSON object per line, with the request's context on every
//! line.
//!
//! An event logged through `tracing` is captured on the application thread into a
//! [`LogRecord`] (message, fields, the current span's ids and the request context
//! as it is at that moment; sensitive fields already redacted) and moved into the
//! thread's ring. The background thread formats it (JSON, or a readable line for
//! local development with `OBSERVE_LOG_FORMAT=pretty`) and hands batches of lines to
//! a writer thread, so neither formatting nor a slow or blocked output ever holds
//! up a request. When the output cannot keep up, lines are dropped and counted, and
//! a warning line says how many.
//!
//! The line schema (fields absent when empty):
//!
//! ```text
//! {"timestamp":"2026-11-22T09:14:03.512034Z","level":"INFO","message":"order loaded",
//!  "target":"shop::orders","service":"shop","version":"1.4.2","env":"prod","host":"web-1",
//!  "trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7",
//!  "parent_id":"b7ad6b7169203331","request_id":"2f1c...","user_id":"u-42",
//!  "account_id":"acme","request_type":"standard","flags":{"new_checkout":"on"},
//!  "span":"load_order","fields":{"order_id":17},"file":"src/orders.rs","line":42}
//! ```

/// A `'static` event callsite and its metadata, for the records observe builds
/// itself and pushes into a pipeline directly: from inside `tracing`'s callbacks,
/// where an event emitted would be dropped, or before the subscriber is installed.
///
/// `direct_event!(static NAME = ("span name", "target", Level::WARN, &["message", ..]));`
macro_rules! direct_event {
    ($(#[$attr:meta])* $vis:vis static $meta:ident = ($name:expr, $target:expr, $level:expr, $fields:expr $(,)?);) => {
        $(#[$attr])*
        $vis static $meta: ::tracing_core::Metadata<'static> = {
            struct DirectCallsite;
            static CALLSITE: DirectCallsite = DirectCallsite;
            impl ::tracing_core::Callsite for DirectCallsite {
                fn set_interest(&self, _: ::tracing_core::subscriber::Interest) {}
                fn metadata(&self) -> &::tracing_core::Metadata<'_> {
                    &$meta
                }
            }
            ::tracing_core::Metadata::new(
                $name,
                $target,
                $level,
                Some(file!()),
                Some(line!()),
                Some(module_path!()),
                ::tracing_core::field::FieldSet::new(
                    $fields,
                    ::tracing_core::identify_callsite!(&CALLSITE),
                ),
                ::tracing_core::metadata::Kind::EVENT,
            )
        };
    };
}
pub(crate) use direct_event;

mod format;
mod log_crate;
pub(crate) use format::visible_ascii;
mod record;
mod writer;

pub use crate::config::LogFormat;
pub(crate) use record::{AccessFields, AttributeVisitor, GrpcAccessFields, Prepared};
pub use record::{LogRecord, LogSpan};
pub(crate) use writer::{LogWriter, Output, WriterStats};
