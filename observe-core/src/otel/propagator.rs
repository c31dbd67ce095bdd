//! observe's W3C codecs behind OpenTelemetry's [`TextMapPropagator`], so code that
//! propagates through the OpenTelemetry API (`global::set_text_map_propagator`,
//! `opentelemetry-http`, libraries instrumented with it) reads and writes exactly
//! observe's wire format.

use opentelemetry::Context;
use opentelemetry::baggage::{BaggageExt as _, KeyValueMetadata};
use opentelemetry::propagation::text_map_propagator::FieldIter;
use opentelemetry::propagation::{
    Extractor as OtelExtractor, Injector as OtelInjector, TextMapPropagator,
};
use opentelemetry::trace::{self as otel, TraceContextExt as _};

use crate::ids::{SpanContext, SpanId, TraceFlags, TraceId};
use crate::propagation::{
    Audience, BAGGAGE, Baggage, Extractor, Injector, PropagationData, RequestId, TRACEPARENT,
    TRACESTATE, TraceState, X_REQUEST_ID,
};

/// An OpenTelemetry [`TextMapPropagator`] that speaks observe's wire format with
/// observe's own strict, bounded parsers: `traceparent` and `tracestate` (W3C Trace
/// Context), and, for [`internal`](Self::internal) destinations, W3C `baggage` and
/// `x-request-id`.
///
/// **Extract** reads the carrier as [`extract`](crate::propagation::extract) does (invalid
/// headers dropped as observe drops them, every header read within its limit) and
/// returns the given context with the caller's span as its remote span context
/// and, for an [`internal`](Self::internal) propagator, the caller's baggage, when
/// there were any. It sees no peer address, so it cannot apply observe's
/// trusted-caller rule for identity: the adapters do that for inbound requests.
///
/// **Inject** writes the span of the OpenTelemetry context when it has a valid one;
/// otherwise the span observe has current on this thread (so
/// `global::get_text_map_propagator(|p| p.inject(&mut headers))` inside a
/// `#[traced]` function sends observe's trace), with its request's `tracestate`.
/// An [`internal`](Self::internal) propagator also writes the context's baggage (or,
/// when it has none, the baggage observe's client layers send: user, account,
/// request type, feature flags and the members of others) and observe's request id.
/// The tracer-bullet token is never written: it needs the destination's host,
/// which a propagator does not see (use observe's client layers for that).
///
/// Baggage properties (`;`-metadata) are not carried from an OpenTelemetry context
/// into the header (observe gives them no meaning); values are percent-encoded as
/// observe encodes them.
///
/// ```
/// use std::collections::HashMap;
/// use opentelemetry::propagation::TextMapPropagator as _;
/// use opentelemetry::trace::TraceContextExt as _;
/// use observe_core::otel::OtelPropagator;
///
/// let propagator = OtelPropagator::internal();
/// let mut inbound = HashMap::new();
/// inbound.insert(
///     "traceparent".to_owned(),
///     "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_owned(),
/// );
/// let cx = propagator.extract(&inbound);
/// assert_eq!(
///     cx.span().span_context().trace_id().to_string(),
///     "4bf92f3577b34da6a3ce929d0e0e4736"
/// );
///
/// let mut outbound = HashMap::new();
/// propagator.inject_context(&cx, &mut outbound);
/// assert_eq!(outbound["traceparent"], inbound["traceparent"]);
///
/// // For every library that uses the OpenTelemetry API:
/// opentelemetry::global::set_text_map_propagator(OtelPropagator::new());
/// ```
#[derive(Debug, Clone)]
pub struct OtelPropagator {
    audience: Audience,
    fields: Vec<String>,
}

impl OtelPropagator {
    /// Trace context only (`traceparent`, `tracestate`): what observe sends to a
    /// host outside the internal set. The safe choice for a process-wide
    /// propagator, whose destinations may be third parties.
    pub fn new() -> OtelPropagator {
        OtelPropagator::for_audience(Audience::External)
    }

    /// Also `baggage` (with user and account ids) and `x-request-id`: what observe
    /// sends to an internal host. Use it only where every destination is internal.
    pub fn internal() -> OtelPropagator {
        OtelPropagator::for_audience(Audience::Internal)
    }

    fn for_audience(audience: Audience) -> OtelPropagator {
        let mut fields = vec![TRACEPARENT.to_owned(), TRACESTATE.to_owned()];
        if audience == Audience::Internal {
            fields.extend([BAGGAGE.to_owned(), X_REQUEST_ID.to_owned()]);
        }
        OtelPropagator { audience, fields }
    }

    /// Who it writes for.
    pub fn audience(&self) -> Audience {
        self.audience
    }
}

impl Default for OtelPropagator {
    fn default() -> Self {
        OtelPropagator::new()
    }
}

/// An OpenTelemetry extractor as observe's [`Extractor`]: every value of a
/// repeated header, as the W3C rules need.
struct ReadOtel<'a>(&'a dyn OtelExtractor);

impl Extractor for ReadOtel<'_> {
    fn for_each_value(&self, name: &str, f: &mut dyn FnMut(&[u8])) {
        if let Some(values) = self.0.get_all(name) {
            for v in values {
                f(v.as_bytes());
            }
        }
    }
}

/// An OpenTelemetry injector as observe's [`Injector`].
struct WriteOtel<'a>(&'a mut dyn OtelInjector);

impl Injector for WriteOtel<'_> {
    fn set(&mut self, name: &'static str, value: &str) {
        self.0.set(name, value.to_owned());
    }
}

fn to_otel(span: SpanContext, state: &TraceState) -> otel::SpanContext {
    // observe's `tracestate` is strictly valid W3C; one OpenTelemetry refuses
    // anyway is dropped rather than half kept.
    let state = if state.is_empty() {
        otel::TraceState::NONE
    } else {
        state
            .as_str()
            .parse::<otel::TraceState>()
            .unwrap_or(otel::TraceState::NONE)
    };
    otel::SpanContext::new(
        otel::TraceId::from_bytes(span.trace_id.to_bytes()),
        otel::SpanId::from_bytes(span.span_id.to_bytes()),
        otel::TraceFlags::new(span.flags.bits()),
        span.is_remote,
        state,
    )
}

fn from_otel(sc: &otel::SpanContext) -> (SpanContext, TraceState) {
    let span = SpanContext {
        trace_id: TraceId::from_bytes(sc.trace_id().to_bytes()),
        span_id: SpanId::from_bytes(sc.span_id().to_bytes()),
        flags: TraceFlags::new(sc.trace_flags().to_u8()),
        is_remote: sc.is_remote(),
    };
    // Through observe's strict parser: what OpenTelemetry holds is sent only if
    // observe would accept it back.
    let state = TraceState::parse(sc.trace_state().header().as_bytes());
    (span, state)
}

impl TextMapPropagator for OtelPropagator {
    fn inject_context(&self, cx: &Context, injector: &mut dyn OtelInjector) {
        let otel_span = cx.span().span_context().clone();
        let observe_ctx = crate::context::current_request_context();
        let (span, trace_state) = if otel_span.is_valid() {
            from_otel(&otel_span)
        } else if let Some(span) = crate::span::current_context() {
            let state = observe_ctx
                .as_ref()
                .map(|c| c.trace_state().clone())
                .unwrap_or_default();
            (span, state)
        } else {
            (SpanContext::default(), TraceState::new())
        };

        let mut baggage = Baggage::new();
        let mut request_id = None;
        if self.audience == Audience::Internal {
            let otel_baggage = cx.baggage();
            if !otel_baggage.is_empty() {
                // Values that do not fit the W3C limits are dropped, never sent broken.
                for (key, (value, _metadata)) in otel_baggage {
                    let _ = baggage.insert(key.as_str(), value.as_str().as_ref());
                }
            } else if let Some(ctx) = &observe_ctx {
                baggage = crate::context::outgoing_baggage(ctx, &ctx.snapshot());
            }
            request_id = observe_ctx.as_ref().and_then(|ctx| {
                let state = ctx.snapshot();
                RequestId::parse(state.request_id.as_deref()?.as_bytes()).ok()
            });
        }
        let data = PropagationData {
            span,
            trace_state: &trace_state,
            baggage: &baggage,
            request_id: request_id.as_ref(),
            tracer_bullet_token: None,
        };
        crate::propagation::inject(&data, &mut WriteOtel(injector), self.audience);
    }

    fn extract_with_context(&self, cx: &Context, extractor: &dyn OtelExtractor) -> Context {
        let extracted = crate::propagation::extract(&ReadOtel(extractor));
        let mut out = cx.clone();
        if let Some(parent) = extracted.parent {
            out = out.with_remote_span_context(to_otel(parent, &extracted.trace_state));
        }
        if self.audience == Audience::Internal && !extracted.baggage.is_empty() {
            let members: Vec<KeyValueMetadata> = extracted
                .baggage
                .iter()
                .map(|m| {
                    KeyValueMetadata::new(
                        m.key().to_owned(),
                        m.value().to_owned(),
                        m.properties().to_owned(),
                    )
                })
                .collect();
            out = out.with_baggage(members);
        }
        out
    }

    fn fields(&self) -> FieldIter<'_> {
        FieldIter::new(&self.fields)
    }
}
