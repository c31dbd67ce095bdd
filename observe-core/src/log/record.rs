//! A log event captured on the application thread, with the context it happened in.

use std::borrow::Cow;
use std::fmt::{self, Write as _};
use std::sync::Arc;
use std::time::SystemTime;

use tracing_core::field::{Field, Visit};
use tracing_core::{Level, Metadata};

use crate::clock::Tick;
use crate::config::Redaction as Redactor;
use crate::config::{ACCESS_FIELDS, access_field as af};
use crate::context::ContextState;
use crate::ids::{SpanId, TraceFlags, TraceId};
use crate::metrics::FieldValue;
use crate::span::{KeyValue, SpanData, SpanName, Value};

/// The span a log event was written in.
#[derive(Clone, Debug, PartialEq)]
pub struct LogSpan {
    /// Trace id.
    pub trace_id: TraceId,
    /// The span's id.
    pub span_id: SpanId,
    /// The span's parent id (invalid for a root).
    pub parent_id: SpanId,
    /// Trace flags.
    pub flags: TraceFlags,
    /// The span's name.
    pub name: SpanName,
}

/// One log event: what the JSON line, the flight recorder and OTLP logs are made
/// from. Sensitive field values were already replaced by `[REDACTED]` when it was
/// captured, so a secret never leaves the thread that logged it.
#[derive(Clone, Debug)]
pub struct LogRecord {
    pub(crate) time: Tick,
    pub(crate) metadata: &'static Metadata<'static>,
    pub(crate) message: Cow<'static, str>,
    /// Up to four fields inline: most events have few, and each allocation here
    /// is freed on another thread, which is what makes allocations expensive.
    pub(crate) fields: smallvec::SmallVec<[KeyValue; 4]>,
    pub(crate) span: Option<LogSpan>,
    pub(crate) context: Option<Arc<ContextState>>,
}

impl LogRecord {
    /// When it was logged.
    pub fn time(&self) -> SystemTime {
        self.time.system_time()
    }
    /// When it was logged, as a raw tick.
    pub fn tick(&self) -> Tick {
        self.time
    }
    /// The level.
    pub fn level(&self) -> Level {
        *self.metadata.level()
    }
    /// The target (by default the module path).
    pub fn target(&self) -> &'static str {
        self.metadata.target()
    }
    /// The source file, when known.
    pub fn file(&self) -> Option<&'static str> {
        self.metadata.file()
    }
    /// The source line, when known.
    pub fn line(&self) -> Option<u32> {
        self.metadata.line()
    }
    /// The module path, when known.
    pub fn module_path(&self) -> Option<&'static str> {
        self.metadata.module_path()
    }
    /// The message (empty when the event had none).
    pub fn message(&self) -> &str {
        &self.message
    }
    /// The event's own fields, in order.
    pub fn fields(&self) -> &[KeyValue] {
        &self.fields
    }
    /// One field by name.
    pub fn field(&self, name: &str) -> Option<&Value> {
        self.fields
            .iter()
            .find(|kv| kv.key == name)
            .map(|kv| &kv.value)
    }
    /// The span it was logged in.
    pub fn span(&self) -> Option<&LogSpan> {
        self.span.as_ref()
    }
    /// The request context at the time it was logged.
    pub fn context(&self) -> Option<&ContextState> {
        self.context.as_deref()
    }

    /// Captures a `tracing` event: the current span, the request context as it is
    /// now, the message and the fields (redacting sensitive ones). A record of the
    /// `log` crate gets its own target, module, file and line, not `tracing-log`'s
    /// (see `log_crate`), and the `log.*` fields that carried them are left out.
    pub(crate) fn capture(
        event: &tracing_core::Event<'_>,
        current: Option<&SpanData>,
        redact: &Redactor,
    ) -> LogRecord {
        // A `log` record's own metadata, when it is one (the target is compared
        // first: `tracing`'s own events pay only that comparison).
        let normalized = if super::log_crate::is_log_record(event) {
            super::log_crate::metadata(event)
        } else {
            None
        };
        let log_fields = normalized.is_some();
        let metadata = normalized.unwrap_or_else(|| event.metadata());
        // Besides its message, a record has only `log.*` fields, none kept.
        let fields = if log_fields {
            0
        } else {
            metadata.fields().len().saturating_sub(1)
        };
        let mut visitor = Capture {
            message: String::new(),
            fields: smallvec::SmallVec::with_capacity(fields),
            redact,
            log_fields,
        };
        event.record(&mut visitor);
        let (span, context) = span_and_context(current);
        LogRecord {
            time: Tick::now(),
            metadata,
            message: Cow::Owned(visitor.message),
            fields: visitor.fields,
            span,
            context,
        }
    }
}

/// The access-log line's fields, known before its event is dispatched: the bridge
/// builds that line's record from them rather than visiting the event's fields
/// (formatting the message through `fmt`, copying each string), which was most of
/// the line's cost on the request thread. The event is still dispatched through
/// `tracing` as before (filters and other layers see it unchanged); only observe's
/// own capture of it is cheaper, and the record is the one the visitor would make.
#[derive(Clone, Copy, Debug)]
pub(crate) struct AccessFields {
    /// `http.request.method`.
    pub(crate) method: &'static str,
    /// `http.route`.
    pub(crate) route: &'static str,
    /// `http.response.status_code`.
    pub(crate) code: u64,
    /// `duration_ms`.
    pub(crate) duration_ms: f64,
    /// The message of a `200` answer (`{method} {route} 200`) kept with an
    /// interned name: the line borrows it instead of formatting its own.
    pub(crate) ok_message: Option<&'static str>,
}

/// The gRPC access-log line's fields, known before its event is dispatched (as
/// [`AccessFields`] are for HTTP's): `rpc.service` and `rpc.method` are the parts
/// of the span name `Service/Method` (shared with the call, not copied until
/// captured), and the message is `{name} {status}`.
#[derive(Clone, Debug)]
pub(crate) struct GrpcAccessFields {
    /// `package.Service/Method` (the message's name): `Static` when the method's
    /// name is interned, and then its service and method are borrowed.
    pub(crate) name: crate::span::SpanName,
    /// Where `Method` starts in `name` (after the `/`).
    pub(crate) method_at: usize,
    /// The path was not `/Service/Method`: `name` is `_OTHER/_OTHER` (the fields),
    /// and the message names the call `grpc`, as its span.
    pub(crate) invalid_path: bool,
    /// The message of an `OK` answer (`{name} OK`) kept with an interned name:
    /// the line borrows it instead of formatting its own.
    pub(crate) ok_message: Option<&'static str>,
    /// The status code's name (`NOT_FOUND`).
    pub(crate) status: &'static str,
    /// `rpc.grpc.status_code`.
    pub(crate) code: u64,
    /// `duration_ms`.
    pub(crate) duration_ms: f64,
}

/// The prepared fields of the next access-log line of a thread.
#[derive(Debug)]
enum Access {
    Http(AccessFields),
    Grpc(GrpcAccessFields),
}

/// The target of the access-log line.
pub(crate) const ACCESS_TARGET: &str = "observe::access";

std::thread_local! {
    static PREPARED: std::cell::Cell<Option<Access>> = const { std::cell::Cell::new(None) };
}

/// While alive, the next `observe::access` event this thread dispatches is captured
/// from `fields`; dropped (after the dispatch), whatever was not taken is cleared.
pub(crate) struct Prepared(());

impl Prepared {
    /// Must be given the values of the HTTP access-log event dispatched next on this
    /// thread: `http.request.method`, `http.route`, `http.response.status_code`,
    /// `duration_ms` and the message `{method} {route} {code}`.
    pub(crate) fn set(fields: AccessFields) -> Prepared {
        Prepared::access(Access::Http(fields))
    }

    /// Must be given the values of the gRPC access-log event dispatched next on this
    /// thread: `rpc.service`, `rpc.method`, `rpc.grpc.status_code`, `duration_ms`
    /// and the message `{name} {status}`.
    pub(crate) fn set_grpc(fields: GrpcAccessFields) -> Prepared {
        Prepared::access(Access::Grpc(fields))
    }

    fn access(access: Access) -> Prepared {
        let _ = PREPARED.try_with(|p| p.set(Some(access)));
        Prepared(())
    }
}

impl Drop for Prepared {
    fn drop(&mut self) {
        let _ = PREPARED.try_with(|p| p.set(None));
    }
}

impl LogRecord {
    /// The record of a prepared access-log event (see [`AccessFields`] and
    /// [`GrpcAccessFields`]), or `None` for any other event.
    #[inline]
    pub(crate) fn capture_prepared(
        event: &tracing_core::Event<'_>,
        current: Option<&SpanData>,
        redact: &Redactor,
    ) -> Option<LogRecord> {
        let metadata = event.metadata();
        // The access lines' callsites: the target, the message and four fields.
        let n = metadata.fields().len();
        if metadata.target() != ACCESS_TARGET || n != 5 {
            return None;
        }
        let access = PREPARED.try_with(|p| p.take()).ok().flatten()?;
        // The fields' sensitivity was decided when the names were configured.
        let field = |i: usize, value: Value| KeyValue {
            key: Cow::Borrowed(ACCESS_FIELDS[i]),
            value: if redact.is_access_field_sensitive(i) {
                Value::Str(Cow::Borrowed(REDACTED))
            } else {
                value
            },
        };
        let (message, fields) = match access {
            // The field set names the line's own fields: an event of the same
            // target and size (a user's, emitted while the line is dispatched) is
            // never taken for it.
            Access::Http(f) if metadata.fields().field("http.route").is_some() => {
                let message = match f.ok_message {
                    Some(m) => Cow::Borrowed(m),
                    None => {
                        let mut m = String::with_capacity(f.method.len() + f.route.len() + 5);
                        m.push_str(f.method);
                        m.push(' ');
                        m.push_str(f.route);
                        m.push(' ');
                        m.push_str(itoa::Buffer::new().format(f.code));
                        Cow::Owned(m)
                    }
                };
                let fields = smallvec::SmallVec::from_buf([
                    field(af::HTTP_METHOD, Value::Str(Cow::Borrowed(f.method))),
                    field(af::HTTP_ROUTE, Value::Str(Cow::Borrowed(f.route))),
                    field(af::HTTP_STATUS_CODE, Value::U64(f.code)),
                    field(af::DURATION_MS, Value::F64(f.duration_ms)),
                ]);
                (message, fields)
            }
            Access::Grpc(f) if metadata.fields().field("rpc.method").is_some() => {
                let name = f.name.as_str();
                let message = match f.ok_message {
                    Some(m) => Cow::Borrowed(m),
                    None => {
                        let shown = if f.invalid_path {
                            crate::metrics::names::GRPC
                        } else {
                            name
                        };
                        let mut m = String::with_capacity(shown.len() + 1 + f.status.len());
                        m.push_str(shown);
                        m.push(' ');
                        m.push_str(f.status);
                        Cow::Owned(m)
                    }
                };
                // Borrowed from an interned name, copied from a shared one.
                let part = |range: std::ops::Range<usize>| {
                    Value::Str(match &f.name {
                        crate::span::SpanName::Static(n) => {
                            Cow::Borrowed(n.get(range).unwrap_or_default())
                        }
                        crate::span::SpanName::Shared(n) => {
                            Cow::Owned(n.get(range).unwrap_or_default().to_owned())
                        }
                    })
                };
                let service = part(0..f.method_at.saturating_sub(1));
                let method = part(f.method_at..name.len());
                // Four fields: inline in the record, no allocation.
                let fields = smallvec::SmallVec::from_buf([
                    field(af::RPC_SERVICE, service),
                    field(af::RPC_METHOD, method),
                    field(af::RPC_STATUS_CODE, Value::U64(f.code)),
                    field(af::DURATION_MS, Value::F64(f.duration_ms)),
                ]);
                (message, fields)
            }
            _ => return None,
        };
        let (span, context) = span_and_context(current);
        Some(LogRecord {
            time: Tick::now(),
            metadata,
            message,
            fields,
            span,
            context,
        })
    }
}

fn span_and_context(current: Option<&SpanData>) -> (Option<LogSpan>, Option<Arc<ContextState>>) {
    match current {
        Some(d) => (
            Some(LogSpan {
                trace_id: d.trace_id,
                span_id: d.span_id,
                parent_id: d.parent_id,
                flags: d.flags,
                name: d.name.clone(),
            }),
            d.ctx.get().map(|c| c.snapshot()),
        ),
        None => (None, None),
    }
}

/// Replaces the values of sensitive fields.
pub(crate) const REDACTED: &str = "[REDACTED]";

struct Capture<'a> {
    message: String,
    fields: smallvec::SmallVec<[KeyValue; 4]>,
    redact: &'a Redactor,
    /// The event is a `log` record whose metadata was rebuilt from its `log.*`
    /// fields: they are left out.
    log_fields: bool,
}

impl Capture<'_> {
    /// Whether `field` is one of a `log` record's `log.*` fields, left out.
    fn is_log_field(&self, field: &Field) -> bool {
        self.log_fields && field.name().starts_with("log.")
    }

    fn push(&mut self, field: &Field, value: Value) {
        let value = if self.redact.is_sensitive(field.name()) {
            Value::Str(Cow::Borrowed(REDACTED))
        } else {
            value
        };
        self.fields.push(KeyValue {
            key: Cow::Borrowed(field.name()),
            value,
        });
    }
}

impl Visit for Capture<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            self.message = formatted(value);
        } else if !self.is_log_field(field) {
            self.push(field, Value::Str(Cow::Owned(formatted(value))));
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else if !self.is_log_field(field) {
            self.push(field, Value::Str(Cow::Owned(value.to_owned())));
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        metric_field(field, FieldValue::I64(value));
        self.push(field, Value::I64(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        // `log.line`.
        if self.is_log_field(field) {
            return;
        }
        metric_field(field, FieldValue::U64(value));
        self.push(field, Value::U64(value));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        metric_field(field, FieldValue::F64(value));
        self.push(field, Value::F64(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.push(field, Value::Bool(value));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.push(field, Value::Str(Cow::Owned(value.to_string())));
    }
}

std::thread_local! {
    static SCRATCH: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

/// `value`'s `Debug` text in a string of exactly its size: formatted into a reused
/// per-thread buffer first, so growing while formatting costs no allocation and the
/// record holds one allocation per text (each allocation is freed on the worker,
/// which is what makes them expensive).
fn formatted(value: &dyn fmt::Debug) -> String {
    SCRATCH
        .try_with(|s| match s.try_borrow_mut() {
            Ok(mut buf) => {
                buf.clear();
                let _ = write!(buf, "{value:?}");
                let out = String::from(buf.as_str());
                if buf.capacity() > 4096 {
                    *buf = String::new();
                }
                out
            }
            // Re-entered from inside a Debug impl: format directly.
            Err(_) => format!("{value:?}"),
        })
        .unwrap_or_else(|_| format!("{value:?}"))
}

/// Events turn into metrics: a numeric field named `counter.<name>` adds to a counter,
/// `histogram.<name>` records an observation, in the same registry and under the same
/// rules as `metrics::counter` and `metrics::histogram`. A value that cannot be one
/// (a negative count) is left out of the metric; the field is still logged.
#[inline]
fn metric_field(field: &Field, value: FieldValue) {
    if crate::metrics::is_metric_field(field.name())
        && let Err(e) = crate::metrics::record_event_field(field.name(), value, &[])
    {
        warn_metric_field(field.name(), &e);
    }
}

/// Warns that an event field was not recorded as a metric, once per field and
/// thread (and per distinct message). From inside observe's `tracing` layer,
/// where `tracing` drops the events a subscriber emits, the line goes into the
/// current pipeline directly.
#[cold]
fn warn_metric_field(field: &'static str, error: &crate::metrics::EventMetricError) {
    if !crate::metrics::first_failure_of(field) {
        return;
    }
    let message = error.to_string();
    if !crate::metrics::first_warning(&message) {
        return;
    }
    let Some(pipeline) = crate::pipeline::Pipeline::current() else {
        return;
    };
    let mut fields = smallvec::SmallVec::new();
    fields.push(KeyValue::new("error", message));
    pipeline.push_log(LogRecord {
        time: Tick::now(),
        metadata: &METRIC_FIELD_WARNING,
        message: "event field not recorded as a metric".into(),
        fields,
        span: None,
        context: None,
    });
}

super::direct_event!(
    static METRIC_FIELD_WARNING = (
        "observe metrics warning",
        "observe::metrics",
        tracing_core::Level::WARN,
        &["message", "error"],
    );
);

/// Visits span fields into attributes (for spans opened through `tracing`).
pub(crate) struct AttributeVisitor<'a> {
    pub(crate) out: &'a mut Vec<KeyValue>,
    pub(crate) redact: &'a Redactor,
}

impl AttributeVisitor<'_> {
    fn push(&mut self, field: &Field, value: Value) {
        let value = if self.redact.is_sensitive(field.name()) {
            Value::Str(Cow::Borrowed(REDACTED))
        } else {
            value
        };
        let key = field.name();
        if let Some(kv) = self.out.iter_mut().find(|kv| kv.key == key) {
            kv.value = value;
        } else {
            self.out.push(KeyValue {
                key: Cow::Borrowed(key),
                value,
            });
        }
    }
}

impl Visit for AttributeVisitor<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.push(field, Value::Str(Cow::Owned(format!("{value:?}"))));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.push(field, Value::Str(Cow::Owned(value.to_owned())));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.push(field, Value::I64(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.push(field, Value::U64(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.push(field, Value::F64(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.push(field, Value::Bool(value));
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.push(field, Value::Str(Cow::Owned(value.to_string())));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The access-log line captured from its prepared fields is the record the
    /// visitor makes of the same event.
    #[test]
    fn a_prepared_access_line_is_the_record_the_visitor_makes() {
        let capture = crate::testing::capture();
        let log = || {
            let (method, route, code, duration_ms) = ("GET", "/orders/{id}", 200u64, 1.25);
            tracing::event!(
                target: "observe::access",
                tracing::Level::INFO,
                http.request.method = method,
                http.route = route,
                http.response.status_code = code,
                duration_ms,
                "{method} {route} {code}"
            );
        };
        crate::span::Span::new("request").in_scope(|| {
            log();
            let _prepared = Prepared::set(AccessFields {
                method: "GET",
                route: "/orders/{id}",
                code: 200,
                duration_ms: 1.25,
                ok_message: Some("GET /orders/{id} 200"),
            });
            log();
        });
        // Another event with the access target is never taken for the prepared one.
        let _prepared = Prepared::set(AccessFields {
            method: "PUT",
            route: "/x",
            code: 500,
            duration_ms: 0.0,
            ok_message: None,
        });
        tracing::info!(target: "observe::access", duration_ms = 2.0, "other 200");
        drop(_prepared);
        capture.flush();
        let logs = capture.logs();
        let [visited, prepared, other] = &logs[..] else {
            panic!("{logs:?}")
        };
        assert_eq!(prepared.message(), visited.message());
        assert_eq!(prepared.message(), "GET /orders/{id} 200");
        assert!(matches!(prepared.message, Cow::Borrowed(_)));
        // Taken from the prepared fields: borrowed, not copied.
        assert!(matches!(
            prepared.field("http.route"),
            Some(Value::Str(Cow::Borrowed(_)))
        ));
        assert_eq!(prepared.fields(), visited.fields());
        assert_eq!(prepared.level(), visited.level());
        assert_eq!(prepared.target(), visited.target());
        assert_eq!(prepared.span(), visited.span());
        assert_eq!(prepared.context(), visited.context());
        assert_eq!(other.message(), "other 200");
        assert_eq!(other.fields().len(), 1);
    }

    /// A `log` record gets its own target, module, file and line, made `'static`
    /// once per callsite; an ordinary event of target `log` is left as it is.
    #[test]
    fn a_log_crate_record_has_its_own_metadata_interned_once() {
        let capture = crate::testing::capture();
        for line in [7, 7, 8] {
            tracing_log::format_trace(
                &tracing_log::log::Record::builder()
                    .args(format_args!("from log"))
                    .level(tracing_log::log::Level::Warn)
                    .target("interned_target")
                    .module_path_static(Some("interned::module"))
                    .file_static(Some("src/interned.rs"))
                    .line(Some(line))
                    .build(),
            )
            .unwrap();
        }
        tracing::event!(
            target: "log",
            Level::INFO,
            { log.line = 3u64, log.file = "a.rs" },
            "not a record"
        );
        capture.flush();
        let logs = capture.logs();
        let [first, again, other_line, event] = &logs[..] else {
            panic!("{logs:?}")
        };
        assert_eq!(first.target(), "interned_target");
        assert_eq!(first.module_path(), Some("interned::module"));
        assert_eq!(first.file(), Some("src/interned.rs"));
        assert_eq!(first.line(), Some(7));
        assert_eq!(first.level(), Level::WARN);
        assert_eq!(first.message(), "from log");
        assert!(first.fields().is_empty(), "{:?}", first.fields());
        assert!(std::ptr::eq(first.metadata, again.metadata));
        assert_eq!(other_line.line(), Some(8));
        assert!(!std::ptr::eq(first.metadata, other_line.metadata));
        assert_eq!(event.target(), "log");
        assert_eq!(event.fields().len(), 2, "{:?}", event.fields());
        let lines = capture.log_lines();
        assert_eq!(lines[0]["target"], "interned_target");
        assert_eq!(lines[0]["file"], "src/interned.rs");
        assert_eq!(lines[0]["line"], 7);
        assert!(lines[0].get("fields").is_none(), "{}", lines[0]);
        let mut pretty = Vec::new();
        super::super::format::write_pretty(&mut pretty, first, false);
        let pretty = String::from_utf8(pretty).unwrap();
        assert!(pretty.contains(" interned_target: from log"), "{pretty}");
        assert!(!pretty.contains("log."), "{pretty}");
    }

    /// An `OK` line of an interned method borrows the message kept with the name,
    /// and is still the record the visitor makes.
    #[test]
    fn an_ok_grpc_line_of_an_interned_name_borrows_its_message() {
        let capture = crate::testing::capture();
        let log = || {
            let (name, status, code) = ("shop.Orders/Get", "OK", 0u32);
            tracing::event!(
                target: "observe::access",
                tracing::Level::INFO,
                rpc.service = "shop.Orders",
                rpc.method = "Get",
                rpc.grpc.status_code = code,
                duration_ms = 1.25,
                "{name} {status}"
            );
        };
        crate::span::Span::new("shop.Orders/Get").in_scope(|| {
            log();
            let _prepared = Prepared::set_grpc(GrpcAccessFields {
                name: crate::span::SpanName::Static("shop.Orders/Get"),
                method_at: "shop.Orders/".len(),
                invalid_path: false,
                ok_message: Some("shop.Orders/Get OK"),
                status: "OK",
                code: 0,
                duration_ms: 1.25,
            });
            log();
        });
        capture.flush();
        let logs = capture.logs();
        let [visited, prepared] = &logs[..] else {
            panic!("{logs:?}")
        };
        assert_eq!(prepared.message(), visited.message());
        assert_eq!(prepared.message(), "shop.Orders/Get OK");
        assert_eq!(prepared.fields(), visited.fields());
        assert!(matches!(prepared.message, Cow::Borrowed(_)));
    }

    /// The same for the gRPC line: captured from its prepared fields, it is the
    /// record the visitor makes.
    #[test]
    fn a_prepared_grpc_access_line_is_the_record_the_visitor_makes() {
        let capture = crate::testing::capture();
        let log = || {
            let (name, service, method) = ("shop.Orders/Get", "shop.Orders", "Get");
            let (code, status, duration_ms) = (5u32, "NOT_FOUND", 1.25);
            tracing::event!(
                target: "observe::access",
                tracing::Level::INFO,
                rpc.service = service,
                rpc.method = method,
                rpc.grpc.status_code = code,
                duration_ms,
                "{name} {status}"
            );
        };
        let prepared = || {
            Prepared::set_grpc(GrpcAccessFields {
                name: crate::span::SpanName::Shared(Arc::from("shop.Orders/Get")),
                method_at: "shop.Orders/".len(),
                invalid_path: false,
                ok_message: None,
                status: "NOT_FOUND",
                code: 5,
                duration_ms: 1.25,
            })
        };
        crate::span::Span::new("shop.Orders/Get").in_scope(|| {
            log();
            let _prepared = prepared();
            log();
            // An interned name: service and method borrowed from it.
            let _prepared = Prepared::set_grpc(GrpcAccessFields {
                name: crate::span::SpanName::Static("shop.Orders/Get"),
                method_at: "shop.Orders/".len(),
                invalid_path: false,
                ok_message: None,
                status: "NOT_FOUND",
                code: 5,
                duration_ms: 1.25,
            });
            log();
        });
        // An HTTP-shaped access event is never taken for the prepared gRPC line.
        let _prepared = prepared();
        tracing::event!(
            target: "observe::access",
            tracing::Level::INFO,
            http.request.method = "GET",
            http.route = "/x",
            http.response.status_code = 200u64,
            duration_ms = 2.0,
            "GET /x 200"
        );
        drop(_prepared);
        capture.flush();
        let logs = capture.logs();
        let [visited, prepared, interned, http] = &logs[..] else {
            panic!("{logs:?}")
        };
        assert_eq!(interned.message(), visited.message());
        assert_eq!(interned.fields(), visited.fields());
        assert_eq!(prepared.message(), visited.message());
        assert_eq!(prepared.message(), "shop.Orders/Get NOT_FOUND");
        assert_eq!(prepared.fields(), visited.fields());
        assert_eq!(prepared.fields().len(), 4);
        // Inline in the record: no allocation of its own.
        assert!(!prepared.fields.spilled());
        assert_eq!(prepared.level(), visited.level());
        assert_eq!(prepared.target(), visited.target());
        assert_eq!(prepared.span(), visited.span());
        assert_eq!(prepared.context(), visited.context());
        assert_eq!(http.message(), "GET /x 200");
        assert_eq!(http.field("http.route").unwrap().to_string(), "/x");
    }
}
