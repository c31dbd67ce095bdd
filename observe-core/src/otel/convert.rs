//! From observe's records to OpenTelemetry's SDK types (and, for dumps, to the
//! OTLP protobuf messages). The only place the 0.x OpenTelemetry data types are
//! built; it runs on background threads only (the exporter thread, or the caller
//! of a dump), never on the request path.

use std::borrow::Cow;
use std::time::SystemTime;

use opentelemetry::logs::{AnyValue, LogRecord as _, Logger as _, LoggerProvider as _, Severity};
use opentelemetry::trace::{
    SpanContext as OtelSpanContext, SpanId as OtelSpanId, SpanKind as OtelSpanKind, Status,
    TraceFlags as OtelTraceFlags, TraceId as OtelTraceId, TraceState,
};
use opentelemetry::{InstrumentationScope, Key, KeyValue as OtelKeyValue, StringValue};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::logs::{SdkLogRecord, SdkLogger, SdkLoggerProvider};
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanLinks};
use tracing_core::Level;

use crate::config::Service;
use crate::ids::{SpanContext, SpanId, TraceId};
use crate::log::LogRecord;
use crate::span::{KeyValue, SpanKind, SpanRecord, StatusCode, Value};

/// Events a span can carry once converted (OpenTelemetry's default limit).
pub(crate) const MAX_EVENTS_PER_SPAN: usize = 128;

/// The instrumentation scope of everything observe records.
pub(crate) fn scope() -> InstrumentationScope {
    InstrumentationScope::builder("observe")
        .with_version(env!("CARGO_PKG_VERSION"))
        .build()
}

pub(crate) fn trace_id(id: TraceId) -> OtelTraceId {
    OtelTraceId::from_bytes(id.to_bytes())
}

pub(crate) fn span_id(id: SpanId) -> OtelSpanId {
    OtelSpanId::from_bytes(id.to_bytes())
}

fn span_context(cx: &SpanContext) -> OtelSpanContext {
    OtelSpanContext::new(
        trace_id(cx.trace_id),
        span_id(cx.span_id),
        OtelTraceFlags::new(cx.flags.bits()),
        cx.is_remote,
        TraceState::default(),
    )
}

// The variant matters: a `'static` borrow becomes a key without allocating.
#[allow(clippy::ptr_arg)]
fn key(k: &Cow<'static, str>) -> Key {
    match k {
        Cow::Borrowed(s) => Key::from_static_str(s),
        Cow::Owned(s) => Key::from(s.clone()),
    }
}

#[allow(clippy::ptr_arg)]
fn string(s: &Cow<'static, str>) -> StringValue {
    match s {
        Cow::Borrowed(s) => StringValue::from(*s),
        Cow::Owned(s) => StringValue::from(s.clone()),
    }
}

/// An attribute value. OpenTelemetry has no unsigned integers: values above
/// `i64::MAX` are sent as strings rather than wrapped.
pub(crate) fn value(v: &Value) -> opentelemetry::Value {
    match v {
        Value::Bool(b) => opentelemetry::Value::Bool(*b),
        Value::I64(i) => opentelemetry::Value::I64(*i),
        Value::U64(u) => match i64::try_from(*u) {
            Ok(i) => opentelemetry::Value::I64(i),
            Err(_) => opentelemetry::Value::String(u.to_string().into()),
        },
        Value::F64(f) => opentelemetry::Value::F64(*f),
        Value::Str(s) => opentelemetry::Value::String(string(s)),
        #[allow(unreachable_patterns)]
        other => opentelemetry::Value::String(other.to_string().into()),
    }
}

fn any_value(v: &Value) -> AnyValue {
    match v {
        Value::Bool(b) => AnyValue::Boolean(*b),
        Value::I64(i) => AnyValue::Int(*i),
        Value::U64(u) => match i64::try_from(*u) {
            Ok(i) => AnyValue::Int(i),
            Err(_) => AnyValue::String(u.to_string().into()),
        },
        Value::F64(f) => AnyValue::Double(*f),
        Value::Str(s) => AnyValue::String(string(s)),
        #[allow(unreachable_patterns)]
        other => AnyValue::String(other.to_string().into()),
    }
}

pub(crate) fn key_value(kv: &KeyValue) -> OtelKeyValue {
    OtelKeyValue::new(key(&kv.key), value(&kv.value))
}

fn kind(k: SpanKind) -> OtelSpanKind {
    match k {
        SpanKind::Internal => OtelSpanKind::Internal,
        SpanKind::Server => OtelSpanKind::Server,
        SpanKind::Client => OtelSpanKind::Client,
        SpanKind::Producer => OtelSpanKind::Producer,
        SpanKind::Consumer => OtelSpanKind::Consumer,
    }
}

fn severity(level: Level) -> (Severity, &'static str) {
    match level {
        Level::TRACE => (Severity::Trace, "TRACE"),
        Level::DEBUG => (Severity::Debug, "DEBUG"),
        Level::INFO => (Severity::Info, "INFO"),
        Level::WARN => (Severity::Warn, "WARN"),
        _ => (Severity::Error, "ERROR"),
    }
}

/// A log record logged inside a span, as an event of that span: named after its
/// message, with its level, target and fields as attributes.
pub(crate) fn log_event(log: &LogRecord) -> opentelemetry::trace::Event {
    let name: Cow<'static, str> = if log.message().is_empty() {
        Cow::Borrowed(log.target())
    } else {
        Cow::Owned(log.message().to_owned())
    };
    let mut attributes = Vec::with_capacity(log.fields().len() + 2);
    attributes.push(OtelKeyValue::new("level", severity(log.level()).1));
    attributes.push(OtelKeyValue::new("target", log.target()));
    attributes.extend(log.fields().iter().map(key_value));
    opentelemetry::trace::Event::new(name, log.time(), attributes, 0)
}

/// The code attributes under the stable semantic-convention names as well
/// (`code.function.name`, `code.file.path`, `code.line.number`), beside the older
/// names observe's contract and existing dashboards use (`code.function`,
/// `code.filepath`, `code.lineno`): both, as OpenTelemetry SDKs do while a
/// convention migrates.
fn stable_code_names(attributes: &mut Vec<OtelKeyValue>) {
    const PAIRS: [(&str, &str); 3] = [
        ("code.function", "code.function.name"),
        ("code.filepath", "code.file.path"),
        ("code.lineno", "code.line.number"),
    ];
    for (old, stable) in PAIRS {
        if attributes.iter().any(|kv| kv.key.as_str() == stable) {
            continue;
        }
        if let Some(value) = attributes
            .iter()
            .find(|kv| kv.key.as_str() == old)
            .map(|kv| kv.value.clone())
        {
            attributes.push(OtelKeyValue::new(stable, value));
        }
    }
}

/// Converts a finished span. `log_events` are the span events made from the log
/// records logged inside it (see [`log_event`]); they are merged with the span's
/// own events in time order.
pub(crate) fn span_data(
    span: &SpanRecord,
    log_events: Vec<opentelemetry::trace::Event>,
    scope: &InstrumentationScope,
) -> SpanData {
    let own = span.attributes();
    let mut attributes = Vec::with_capacity(own.len() + 4);
    attributes.extend(own.iter().map(key_value));
    if let Some(cs) = span.callsite() {
        let has = |k: &str| own.iter().any(|kv| kv.key == k);
        if !has("code.function") {
            attributes.push(OtelKeyValue::new("code.function", cs.function()));
        }
        if !has("code.filepath") {
            attributes.push(OtelKeyValue::new("code.filepath", cs.file()));
        }
        if !has("code.lineno") {
            attributes.push(OtelKeyValue::new("code.lineno", i64::from(cs.line())));
        }
    }
    stable_code_names(&mut attributes);
    attributes.push(OtelKeyValue::new(
        "observe.request_type",
        span.request_type().as_str(),
    ));

    let mut events = SpanEvents::default();
    events.events = span
        .events()
        .iter()
        .map(|e| {
            opentelemetry::trace::Event::new(
                e.name.clone(),
                e.time.system_time(),
                e.attributes.iter().map(key_value).collect(),
                0,
            )
        })
        .collect();
    if !log_events.is_empty() {
        events.events.extend(log_events);
        events.events.sort_by_key(|e| e.timestamp);
    }
    if events.events.len() > MAX_EVENTS_PER_SPAN {
        let dropped = events.events.len() - MAX_EVENTS_PER_SPAN;
        events.events.truncate(MAX_EVENTS_PER_SPAN);
        events.dropped_count = dropped as u32;
    }

    let mut links = SpanLinks::default();
    links.links = span
        .links()
        .iter()
        .map(|l| {
            opentelemetry::trace::Link::new(
                span_context(&l.context),
                l.attributes.iter().map(key_value).collect(),
                0,
            )
        })
        .collect();

    let status = match span.status() {
        StatusCode::Unset => Status::Unset,
        StatusCode::Ok => Status::Ok,
        StatusCode::Error => Status::error(span.status_message().unwrap_or_default().to_owned()),
    };

    let name = match span.span_name() {
        crate::span::SpanName::Static(s) => Cow::Borrowed(*s),
        crate::span::SpanName::Shared(s) => Cow::Owned(s.to_string()),
    };

    SpanData {
        span_context: span_context(&span.span_context()),
        parent_span_id: span_id(span.parent_id()),
        parent_span_is_remote: span.parent_is_remote(),
        span_kind: kind(span.kind()),
        name,
        start_time: span.start_time(),
        end_time: span.end_time(),
        attributes,
        dropped_attributes_count: 0,
        events,
        links,
        status,
        instrumentation_scope: scope.clone(),
    }
}

/// Makes OpenTelemetry SDK log records (their constructor is reserved to a
/// `Logger`, so this keeps a logger of a provider without processors).
#[derive(Debug)]
pub(crate) struct LogConverter {
    _provider: SdkLoggerProvider,
    logger: SdkLogger,
}

impl LogConverter {
    pub(crate) fn new() -> LogConverter {
        let provider = SdkLoggerProvider::builder().build();
        let logger = provider.logger("observe");
        LogConverter {
            _provider: provider,
            logger,
        }
    }

    /// Converts a log record: message as body, the event's fields, code location
    /// and request context as attributes, trace and span id when it was logged in
    /// a span, target as the instrumentation scope name.
    pub(crate) fn convert(&self, log: &LogRecord) -> SdkLogRecord {
        let mut r = self.logger.create_log_record();
        let time = log.time();
        r.set_timestamp(time);
        r.set_observed_timestamp(time);
        let (number, text) = severity(log.level());
        r.set_severity_number(number);
        r.set_severity_text(text);
        r.set_target(log.target());
        r.set_body(AnyValue::String(log.message().to_owned().into()));
        for kv in log.fields() {
            r.add_attribute(key(&kv.key), any_value(&kv.value));
        }
        if let Some(file) = log.file() {
            r.add_attribute("code.filepath", file);
            r.add_attribute("code.file.path", file);
        }
        if let Some(line) = log.line() {
            r.add_attribute("code.lineno", i64::from(line));
            r.add_attribute("code.line.number", i64::from(line));
        }
        if let Some(module) = log.module_path() {
            r.add_attribute("code.namespace", module);
        }
        if let Some(cx) = log.context() {
            if let Some(v) = &cx.request_id {
                r.add_attribute("observe.request_id", StringValue::from(v.clone()));
            }
            if let Some(v) = &cx.user_id {
                r.add_attribute("observe.user_id", StringValue::from(v.clone()));
            }
            if let Some(v) = &cx.account_id {
                r.add_attribute("observe.account_id", StringValue::from(v.clone()));
            }
            r.add_attribute("observe.request_type", cx.request_type.as_str());
            for (name, v) in &cx.flags {
                r.add_attribute(
                    Key::from(format!("observe.flag.{name}")),
                    StringValue::from(v.clone()),
                );
            }
        }
        if let Some(s) = log.span() {
            r.set_trace_context(
                trace_id(s.trace_id),
                span_id(s.span_id),
                Some(OtelTraceFlags::new(s.flags.bits())),
            );
        }
        r
    }
}

/// The OpenTelemetry resource describing this service.
pub(crate) fn resource(info: &Service) -> Resource {
    let mut attrs: Vec<OtelKeyValue> = info
        .attributes
        .iter()
        .map(|(k, v)| OtelKeyValue::new(k.clone(), v.clone()))
        .collect();
    let mut set = |k: &'static str, v: opentelemetry::Value| {
        attrs.retain(|kv| kv.key.as_str() != k);
        attrs.push(OtelKeyValue::new(k, v));
    };
    set("service.name", info.name.clone().into());
    set("service.version", info.version.clone().into());
    if let Some(env) = &info.environment {
        set("deployment.environment.name", env.clone().into());
    }
    if !info.host.is_empty() {
        set("host.name", info.host.clone().into());
    }
    set("process.pid", i64::from(std::process::id()).into());
    set("telemetry.sdk.name", "observe".into());
    set("telemetry.sdk.language", "rust".into());
    set("telemetry.sdk.version", env!("CARGO_PKG_VERSION").into());
    if let Some(v) = &info.team {
        set("observe.team", v.clone().into());
    }
    if let Some(v) = &info.owner {
        set("observe.owner", v.clone().into());
    }
    if let Some(v) = &info.runbook {
        set("observe.runbook", v.clone().into());
    }
    if let Some(v) = &info.repository {
        set("vcs.repository.url.full", v.clone().into());
    }
    Resource::builder_empty().with_attributes(attrs).build()
}

/// Wall-clock time as nanoseconds since the Unix epoch (0 before it).
pub(crate) fn unix_nanos(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::span::Span;

    #[test]
    fn span_content_survives_conversion() {
        let c = crate::testing::capture();
        let root = Span::builder("GET /orders/{id}")
            .kind(SpanKind::Server)
            .attribute("http.route", "/orders/{id}")
            .attribute("big", u64::MAX)
            .start();
        root.in_scope(|| {
            let child = Span::new("load");
            child.add_event("cache.miss", vec![KeyValue::new("key", "o-17")]);
            child.set_error("db down");
            child.end();
        });
        root.end();
        c.flush();
        let scope = scope();
        let root = span_data(&c.span("GET /orders/{id}"), vec![], &scope);
        let child = span_data(&c.span("load"), vec![], &scope);
        assert_eq!(root.span_kind, OtelSpanKind::Server);
        assert_eq!(child.parent_span_id, root.span_context.span_id());
        assert_eq!(child.span_context.trace_id(), root.span_context.trace_id());
        assert!(root.span_context.is_sampled());
        let attr = |s: &SpanData, k: &str| {
            s.attributes
                .iter()
                .find(|kv| kv.key.as_str() == k)
                .map(|kv| kv.value.clone())
        };
        assert_eq!(
            attr(&root, "http.route"),
            Some(opentelemetry::Value::from("/orders/{id}"))
        );
        assert_eq!(
            attr(&root, "big"),
            Some(opentelemetry::Value::from(u64::MAX.to_string()))
        );
        assert_eq!(
            attr(&root, "observe.request_type"),
            Some(opentelemetry::Value::from("standard"))
        );
        assert_eq!(child.status, Status::error("db down"));
        assert_eq!(child.events.len(), 1);
        assert_eq!(child.events[0].name, "cache.miss");
        assert!(root.end_time >= child.end_time);
    }

    #[test]
    fn logs_carry_ids_and_become_span_events() {
        let c = crate::testing::capture();
        Span::new("work").in_scope(|| tracing::warn!(order_id = 17, "slow path"));
        tracing::info!("outside");
        c.flush();
        let logs = c.logs();
        let conv = LogConverter::new();
        let inside = conv.convert(&logs[0]);
        let work = c.span("work");
        let tc = inside.trace_context().expect("trace context");
        assert_eq!(tc.trace_id, trace_id(work.trace_id()));
        assert_eq!(tc.span_id, span_id(work.span_id()));
        assert_eq!(inside.severity_number(), Some(Severity::Warn));
        assert!(
            inside
                .attributes_iter()
                .any(|(k, v)| k.as_str() == "order_id" && *v == AnyValue::Int(17))
        );
        assert!(conv.convert(&logs[1]).trace_context().is_none());

        let data = span_data(&work, vec![log_event(&logs[0])], &scope());
        assert_eq!(data.events.len(), 1);
        assert_eq!(data.events[0].name, "slow path");
    }

    #[test]
    fn resource_has_identity_and_explicit_fields_win() {
        let r = resource(&Service {
            name: "shop".into(),
            version: "1.2.3".into(),
            environment: Some("prod".into()),
            host: "web-1".into(),
            attributes: vec![
                ("service.name".into(), "ignored".into()),
                ("cloud.region".into(), "eu-1".into()),
            ],
            team: Some("checkout".into()),
            ..Default::default()
        });
        let get = |k: &'static str| r.get(&Key::from_static_str(k)).map(|v| v.to_string());
        assert_eq!(get("service.name").as_deref(), Some("shop"));
        assert_eq!(get("service.version").as_deref(), Some("1.2.3"));
        assert_eq!(get("deployment.environment.name").as_deref(), Some("prod"));
        assert_eq!(get("host.name").as_deref(), Some("web-1"));
        assert_eq!(get("cloud.region").as_deref(), Some("eu-1"));
        assert_eq!(get("observe.team").as_deref(), Some("checkout"));
        assert!(get("process.pid").is_some());
    }
}
