//! Conformance of observe's propagation codecs, case by case from the
//! specifications: W3C Trace Context Level 2 (`traceparent`, `tracestate`,
//! `traceresponse`), W3C Baggage, Server Timing, and observe's own `x-request-id`
//! rule. Each test is named after the rule it guards.

mod baggage;
mod extract_inject;
mod otel;
mod peers;
mod properties;
mod request_id;
mod response;
mod traceparent;
mod tracestate;

use http::{HeaderMap, HeaderName, HeaderValue};
use observe_core::{SpanContext, SpanId, TraceFlags, TraceId};

/// A header map from (name, raw bytes) pairs, repeated names appended in order.
pub(crate) fn headers(pairs: &[(&str, &[u8])]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(
            HeaderName::from_bytes(name.as_bytes()).expect("test header name"),
            HeaderValue::from_bytes(value).expect("test header value"),
        );
    }
    map
}

pub(crate) fn span(trace: u128, span: u64, flags: u8) -> SpanContext {
    SpanContext {
        trace_id: TraceId::new(trace),
        span_id: SpanId::new(span),
        flags: TraceFlags::new(flags),
        is_remote: false,
    }
}
