//! observe's `tracing` layer: the bridge to the `tracing` ecosystem.
//!
//! - Every `tracing` event becomes a [`LogRecord`] stamped with the current observe
//!   span's ids and the request context (that is how a library's `tracing::info!`
//!   gets the request's `trace_id` and `user_id`).
//! - Spans that other crates open through `tracing` (tower, hyper, sqlx, ...) become
//!   observe spans: children of the current observe span, and parents of observe
//!   spans opened while they are entered. Their data is shared between the
//!   registry's span extensions and the span stacks that entered them (see
//!   `span::stack`: a `tracing` guard held across `.await`, moved to another thread
//!   or leaked can neither free it under a stack nor make it current for another
//!   task); `tracing::Span::current()` keeps working as before.
//!
//! [`init`](crate::init()) installs this layer with a `Registry` and an `EnvFilter`. To
//! compose your own subscriber, use [`crate::layer()`].

use std::borrow::Cow;
use std::sync::Arc;

use tracing_core::span::{Attributes, Id, Record};
use tracing_core::{Event, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

use crate::log::{AttributeVisitor, LogRecord};
use crate::pipeline::Pipeline;
use crate::span::stack::{self, SharedSpan};
use crate::span::{self, Extra, KeyValue, Parent, SpanKind, SpanName};

/// The `tracing` layer of observe. Get one from [`crate::layer()`].
#[derive(Debug, Clone, Default)]
pub struct ObserveLayer {
    _private: (),
}

impl ObserveLayer {
    pub(crate) fn new() -> ObserveLayer {
        ObserveLayer { _private: () }
    }
}

/// The observe span of a `tracing` span, kept in its registry extensions and
/// shared with every span stack it is entered on: an entry owns a reference, so a
/// span closed while still entered on another thread (a guard held across
/// `.await`, moved or leaked) is never freed under that thread (see `span::stack`).
struct Bridged(Arc<SharedSpan>);

fn kind_from(s: &str) -> Option<SpanKind> {
    Some(match s {
        "server" | "SERVER" => SpanKind::Server,
        "client" | "CLIENT" => SpanKind::Client,
        "producer" | "PRODUCER" => SpanKind::Producer,
        "consumer" | "CONSUMER" => SpanKind::Consumer,
        "internal" | "INTERNAL" => SpanKind::Internal,
        _ => return None,
    })
}

impl<S> tracing_subscriber::Layer<S> for ObserveLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let meta = attrs.metadata();
        // Spans are recorded only under a pipeline; without one there is nothing to do.
        let Some(pipeline) =
            stack::with_current(|c| c.map(|d| d.pipeline)).or_else(Pipeline::current)
        else {
            return;
        };
        let redact = &pipeline.settings.redact;
        let mut extra = Extra::default();
        attrs.record(&mut AttributeVisitor {
            out: &mut extra.attributes,
            redact,
        });
        // tracing-opentelemetry's conventions: `otel.name`, `otel.kind`,
        // `otel.status_code` and `otel.status_message`.
        let mut name = SpanName::Static(meta.name());
        let mut kind = SpanKind::Internal;
        let status = take_status(&mut extra.attributes);
        let mut histogram = false;
        extra.attributes.retain(|kv| match &*kv.key {
            HISTOGRAM_FIELD => {
                histogram = matches!(kv.value, span::Value::Bool(true));
                false
            }
            "otel.name" => {
                name = SpanName::from(kv.value.to_string());
                false
            }
            "otel.kind" => {
                kind = kind_from(&kv.value.to_string()).unwrap_or(kind);
                false
            }
            _ => true,
        });
        if let Some(file) = meta.file() {
            extra
                .attributes
                .push(KeyValue::new("code.filepath", Cow::Borrowed(file)));
        }
        if let Some(line) = meta.line() {
            extra.attributes.push(KeyValue::new("code.lineno", line));
        }
        if let Some(module) = meta.module_path() {
            extra
                .attributes
                .push(KeyValue::new("code.namespace", Cow::Borrowed(module)));
        }
        let extra = Some(span::ExtraBox::Plain(Box::new(extra)));
        let callsite = histogram.then(|| histogram_callsite(meta, kind));

        let data = if let Some(parent_id) = attrs.parent() {
            // An explicit tracing parent: find its observe span.
            let parent_span = ctx.span(parent_id);
            let ext = parent_span.as_ref().map(|s| s.extensions());
            match ext.as_ref().and_then(|e| e.get::<Bridged>()) {
                Some(p) => Some(span::open_child(&p.0.data, name, kind, extra, callsite)),
                None => span::open(name, kind, Parent::Current, None, extra, callsite, None),
            }
        } else if attrs.is_root() {
            span::open(name, kind, Parent::Root, None, extra, callsite, None)
        } else {
            span::open(name, kind, Parent::Current, None, extra, callsite, None)
        };
        if let (Some(data), Some(span)) = (data, ctx.span(id)) {
            status.apply(&data);
            span.extensions_mut().insert(Bridged(SharedSpan::new(data)));
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let ext = span.extensions();
        if let Some(b) = ext.get::<Bridged>() {
            let redact = &b.0.data.pipeline.settings.redact;
            let mut recorded = Vec::new();
            values.record(&mut AttributeVisitor {
                out: &mut recorded,
                redact,
            });
            take_status(&mut recorded).apply(&b.0.data);
            if !recorded.is_empty() {
                b.0.data.with_extra(|e| e.attributes.extend(recorded));
            }
        }
    }

    fn on_follows_from(&self, id: &Id, follows: &Id, ctx: Context<'_, S>) {
        let (Some(span), Some(other)) = (ctx.span(id), ctx.span(follows)) else {
            return;
        };
        let other_cx = other
            .extensions()
            .get::<Bridged>()
            .map(|b| b.0.data.span_context());
        if let (Some(b), Some(cx)) = (span.extensions().get::<Bridged>(), other_cx) {
            b.0.data.with_extra(|e| {
                e.links.push(crate::span::Link {
                    context: cx,
                    attributes: Vec::new(),
                })
            });
        }
    }

    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        if let Some(b) = span.extensions().get::<Bridged>() {
            stack::enter_shared(&b.0);
        }
    }

    fn on_exit(&self, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        if let Some(b) = span.extensions().get::<Bridged>() {
            stack::exit_shared(&b.0);
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let bridged = span.extensions_mut().remove::<Bridged>();
        if let Some(Bridged(shared)) = bridged {
            let end = crate::clock::Tick::now();
            stack::close_shared(&shared);
            // Entries left on other threads' stacks may still hold a reference:
            // then the record is built from what the span owns, and its memory
            // goes with the last entry.
            let data = match Arc::try_unwrap(shared) {
                Ok(shared) => shared.into_data(),
                Err(shared) => shared.data.detach(),
            };
            span::finish(data, end);
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        stack::with_current(|cur| {
            let pipeline = match cur {
                Some(d) => d.pipeline,
                None => match Pipeline::current() {
                    Some(p) => p,
                    None => return,
                },
            };
            let redact = &pipeline.settings.redact;
            let record = LogRecord::capture_prepared(event, cur, redact)
                .unwrap_or_else(|| LogRecord::capture(event, cur, redact));
            if *event.metadata().level() == tracing_core::Level::ERROR {
                mark_failed(&record, &ctx.event_span(event));
            }
            pipeline.push_log(record);
        });
    }
}

/// The span field that asks for a latency histogram of a `tracing` span:
/// `#[instrument(fields(observe.histogram = true))]` or
/// `info_span!("load", observe.histogram = true)`. The span's durations are then
/// recorded in `observe.function.duration`, keyed by `code.function`
/// (`module::span_name`), exactly as a `#[traced]` function's are.
const HISTOGRAM_FIELD: &str = "observe.histogram";

/// The callsite (with its histogram handles) of a `tracing` callsite that asked
/// for a histogram: made once per callsite and kept for the process, as
/// `#[traced]`'s statics are (their number is bounded by the program's code).
fn histogram_callsite(
    meta: &'static tracing_core::Metadata<'static>,
    kind: SpanKind,
) -> &'static span::Callsite {
    use std::collections::HashMap;
    use std::sync::RwLock;
    type Callsites = HashMap<tracing_core::callsite::Identifier, &'static span::Callsite>;
    // Read-mostly: after a callsite's first span, every span of it takes the read
    // lock only.
    static CALLSITES: RwLock<Option<Callsites>> = RwLock::new(None);
    let id = meta.callsite();
    if let Some(cs) = CALLSITES
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .as_ref()
        .and_then(|m| m.get(&id).copied())
    {
        return cs;
    }
    let mut map = CALLSITES.write().unwrap_or_else(|e| e.into_inner());
    map.get_or_insert_with(HashMap::new)
        .entry(id)
        .or_insert_with(|| {
            let function: &'static str = Box::leak(
                format!(
                    "{}::{}",
                    meta.module_path().unwrap_or(meta.target()),
                    meta.name()
                )
                .into_boxed_str(),
            );
            Box::leak(Box::new(span::Callsite::new(
                meta.name(),
                function,
                meta.file().unwrap_or(""),
                meta.line().unwrap_or(0),
                *meta.level(),
                kind,
            )))
        })
}

/// An `ERROR` event inside a `tracing` span marks that span failed, as
/// tracing-opentelemetry does: that is how `#[instrument(err)]` reports an `Err`
/// (it logs `error = %e` at `ERROR` inside the span). The status message is the
/// `error` field, else the event's message. observe's own spans (`#[traced]`, the
/// adapters') take their status from the outcome instead, never from a log line.
fn mark_failed<S>(record: &LogRecord, span: &Option<tracing_subscriber::registry::SpanRef<'_, S>>)
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let Some(span) = span else { return };
    let ext = span.extensions();
    let Some(b) = ext.get::<Bridged>() else {
        return;
    };
    let message = match record.field("error") {
        Some(v) => v.to_string(),
        None => record.message().to_owned(),
    };
    b.0.data
        .set_error((!message.is_empty()).then_some(Cow::Owned(message)));
}

/// `otel.status_code` (`ERROR`, `OK`; any case) and `otel.status_message`, taken
/// out of a span's recorded fields.
#[derive(Default)]
struct OtelStatus {
    code: Option<bool>,
    message: Option<String>,
}

fn take_status(attributes: &mut Vec<KeyValue>) -> OtelStatus {
    let mut status = OtelStatus::default();
    if !attributes
        .iter()
        .any(|kv| kv.key.starts_with("otel.status_"))
    {
        return status;
    }
    attributes.retain(|kv| match &*kv.key {
        "otel.status_code" => {
            let v = kv.value.to_string();
            if v.eq_ignore_ascii_case("error") {
                status.code = Some(true);
            } else if v.eq_ignore_ascii_case("ok") {
                status.code = Some(false);
            }
            false
        }
        "otel.status_message" => {
            status.message = Some(kv.value.to_string());
            false
        }
        _ => true,
    });
    status
}

impl OtelStatus {
    fn apply(self, data: &span::SpanData) {
        match self.code {
            Some(true) => data.set_error(self.message.map(Cow::Owned)),
            Some(false) => data.set_ok(),
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::span::StatusCode;
    use crate::span::engine_tests::observe;

    #[tracing::instrument(err)]
    fn load(id: u32) -> Result<u32, String> {
        if id == 0 {
            Err(format!("no order {id}"))
        } else {
            Ok(id)
        }
    }

    #[test]
    fn a_tracing_span_that_asks_gets_a_latency_histogram() {
        let (o, captured, _buf) = observe(1.0);
        let _g = o.set_default();
        let function = "observe_core::bridge::tests::bridged_with_histogram";
        let count = || {
            crate::metrics::snapshot()
                .histograms
                .iter()
                .filter(|h| {
                    h.name == "observe.function.duration"
                        && h.labels.get("code.function").map(String::as_str) == Some(function)
                })
                .map(|h| h.cumulative.count)
                .sum::<u64>()
        };
        let before = count();
        for _ in 0..3 {
            tracing::info_span!("bridged_with_histogram", observe.histogram = true).in_scope(|| {});
        }
        // Without the field, no histogram.
        tracing::info_span!("bridged_without_histogram").in_scope(|| {});
        assert!(o.flush(Duration::from_secs(10)));
        assert_eq!(count() - before, 3);
        let spans = captured.spans_named("bridged_with_histogram");
        assert_eq!(spans.len(), 3);
        assert!(
            spans
                .iter()
                .all(|s| s.attribute("observe.histogram").is_none()),
            "the field is not an attribute"
        );
        assert!(!crate::metrics::snapshot().histograms.iter().any(|h| {
            h.labels.get("code.function").map(String::as_str)
                == Some("observe_core::bridge::tests::bridged_without_histogram")
        }));
    }

    #[test]
    fn instrument_err_marks_the_tracing_span_failed_with_the_error() {
        let (o, captured, _buf) = observe(1.0);
        let _g = o.set_default();
        let _ = load(0);
        assert!(o.flush(Duration::from_secs(10)));
        let span = captured.span("load");
        assert_eq!(span.status(), StatusCode::Error);
        assert_eq!(span.status_message(), Some("no order 0"));
    }

    #[test]
    fn an_info_event_leaves_the_status_alone() {
        let (o, captured, _buf) = observe(1.0);
        let _g = o.set_default();
        let _ = load(7);
        tracing::info_span!("quiet").in_scope(|| tracing::warn!("not an error"));
        assert!(o.flush(Duration::from_secs(10)));
        assert_eq!(captured.span("load").status(), StatusCode::Unset);
        assert_eq!(captured.span("quiet").status(), StatusCode::Unset);
    }

    #[test]
    fn otel_status_code_sets_the_status_at_creation_and_when_recorded() {
        let (o, captured, _buf) = observe(1.0);
        let _g = o.set_default();
        tracing::info_span!(
            "at-creation",
            otel.status_code = "ERROR",
            otel.status_message = "quota exceeded"
        )
        .in_scope(|| {});
        let later = tracing::info_span!("recorded", otel.status_code = tracing::field::Empty);
        later.record("otel.status_code", "error");
        drop(later);
        tracing::info_span!("fine", otel.status_code = "OK").in_scope(|| {});
        assert!(o.flush(Duration::from_secs(10)));
        let at_creation = captured.span("at-creation");
        assert_eq!(at_creation.status(), StatusCode::Error);
        assert_eq!(at_creation.status_message(), Some("quota exceeded"));
        // The convention's fields are the status, not attributes.
        assert!(at_creation.attribute("otel.status_code").is_none());
        assert_eq!(captured.span("recorded").status(), StatusCode::Error);
        assert_eq!(captured.span("fine").status(), StatusCode::Ok);
    }

    /// What docs/migrating.md says: an observe span (`#[traced]`, the adapters')
    /// is not a `tracing` span, so `tracing::Span::current()` inside it is the
    /// enclosing `tracing` span, if any; `observe_core::span` reaches the observe
    /// one. A `tracing` span opened inside it becomes its child.
    #[test]
    fn inside_an_observe_span_tracing_sees_no_span_of_its_own() {
        let (o, captured, _buf) = observe(1.0);
        let _g = o.set_default();
        let outer = crate::span::Span::new("observe-span");
        let ids = outer.in_scope(|| {
            assert!(tracing::Span::current().is_none());
            crate::span::set_attribute("order.id", 7u64);
            tracing::info_span!("tracing-child").in_scope(|| {});
            crate::span::current_context()
        });
        drop(outer);
        assert!(o.flush(Duration::from_secs(10)));
        let observe_span = captured.span("observe-span");
        assert_eq!(ids.map(|c| c.span_id), Some(observe_span.span_id()));
        assert!(observe_span.attribute("order.id").is_some());
        assert_eq!(
            captured.span("tracing-child").parent_id(),
            observe_span.span_id()
        );
    }
}
