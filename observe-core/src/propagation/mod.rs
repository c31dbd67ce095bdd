//! W3C propagation: the wire format every observe adapter and client speaks.
//!
//! | header | direction | type | sent to |
//! | --- | --- | --- | --- |
//! | `traceparent` | request | [`SpanContext`] via [`parse_traceparent`] / [`format_traceparent`] | every host |
//! | `tracestate` | request | [`TraceState`] | every host |
//! | `baggage` | request | [`Baggage`] (keys in [`keys`]) | internal hosts |
//! | `x-request-id` | request | [`RequestId`] | internal hosts |
//! | `observe-tracer-bullet` | request | a token made elsewhere | internal hosts |
//! | `traceresponse` | response | [`SpanContext`] via [`parse_traceresponse`] / [`format_traceresponse`] | |
//! | `Server-Timing` | response | `observe;dur=<ms>` via [`format_server_timing`] / [`parse_server_timing`] | |
//!
//! The codecs are written from the specifications (W3C Trace Context Level 2, W3C
//! Baggage, Server Timing) and read and write through two small carrier traits,
//! [`Extractor`] and [`Injector`], implemented here for [`http::HeaderMap`] and
//! `HashMap<String, String>`.
//!
//! Bad input never panics and never fails a request: an invalid `traceparent` means
//! no parent (a new trace starts, and `tracestate` is ignored), an invalid
//! `tracestate` is discarded whole (the strict level of the official W3C test
//! suite), invalid `baggage` members are dropped while valid ones are kept, and an
//! invalid `x-request-id` is ignored. [`extract`] reports each of these in
//! [`Extracted::rejections`] so adapters can count and log them.
//!
//! Parsing work is bounded by what is kept, not by what is sent: every parser reads
//! a header (the values of a repeated header together) only up to its limit, each
//! byte once, and stops there. The limits: `traceparent` and `traceresponse`
//! [`TRACEPARENT_MAX_LEN`], `tracestate` [`TRACESTATE_MAX_LEN`] characters and
//! [`TRACESTATE_MAX_MEMBERS`] members, `baggage` [`BAGGAGE_MAX_BYTES`] bytes and
//! [`BAGGAGE_MAX_MEMBERS`] members, `x-request-id` 256 bytes read for
//! [`REQUEST_ID_MAX_LEN`] kept, `Server-Timing` [`SERVER_TIMING_MAX_LEN`].
//!
//! ```
//! use observe_core::propagation::{self, Audience, keys};
//! use observe_core::{SpanContext, SpanId};
//! use http::HeaderMap;
//!
//! let mut inbound = HeaderMap::new();
//! inbound.insert("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".parse().unwrap());
//! inbound.insert("baggage", "observe.user_id=alice,Bad Key=1".parse().unwrap());
//!
//! let extracted = propagation::extract(&inbound);
//! let parent = extracted.parent.expect("valid traceparent");
//! assert_eq!(extracted.baggage.get(keys::USER_ID), Some("alice"));
//! assert_eq!(extracted.rejections.total(), 1); // the member with a space in its key
//!
//! // A span of our own, child of the caller's.
//! let span = SpanContext { span_id: SpanId::random(), is_remote: false, ..parent };
//!
//! let mut to_third_party = HeaderMap::new();
//! propagation::inject(&extracted.propagation_data(span), &mut to_third_party, Audience::External);
//! assert!(to_third_party.contains_key("traceparent"));
//! assert!(!to_third_party.contains_key("baggage")); // user ids stay inside
//! ```

use std::time::Duration;

use crate::ids::SpanContext;

mod baggage;
#[cfg(test)]
mod bounds;
mod buf;
mod carrier;
mod reject;
mod request_id;
mod scan;
mod server_timing;
mod traceparent;
mod tracestate;

pub use baggage::{BAGGAGE_MAX_BYTES, BAGGAGE_MAX_MEMBERS, Baggage, BaggageError, BaggageMember};
pub use buf::HeaderBuf;
pub(crate) use carrier::ScannedHeaders;
pub use carrier::{Extractor, Injector};
pub use reject::{RejectReason, Rejection, Rejections};
pub use request_id::{REQUEST_ID_MAX_LEN, RequestId, RequestIdError};
pub use server_timing::{
    SERVER_TIMING_MAX_LEN, SERVER_TIMING_METRIC, format_server_timing, parse_server_timing,
};
pub use traceparent::{
    TRACEPARENT_LEN, TRACEPARENT_MAX_LEN, TraceparentError, format_traceparent,
    format_traceresponse, parse_traceparent, parse_traceresponse,
};
pub use tracestate::{
    TRACESTATE_MAX_LEN, TRACESTATE_MAX_MEMBERS, TraceState, TraceStateError, TraceStateIter,
};

/// W3C Trace Context: the caller's trace and span.
pub const TRACEPARENT: &str = "traceparent";
/// W3C Trace Context: vendor entries that travel with `traceparent`.
pub const TRACESTATE: &str = "tracestate";
/// W3C Baggage: user, account, request type, feature flags, and members of others.
pub const BAGGAGE: &str = "baggage";
/// The request id, echoed when valid and generated when absent.
pub const X_REQUEST_ID: &str = "x-request-id";
/// W3C Trace Context Level 2 (draft): the callee's trace and span, on the response.
pub const TRACERESPONSE: &str = "traceresponse";
/// Server Timing: `observe;dur=<ms>` on the response.
pub const SERVER_TIMING: &str = "server-timing";
/// The signed tracer-bullet token, `v1.<unix_secs>.<hex HMAC-SHA256>`.
pub const OBSERVE_TRACER_BULLET: &str = "observe-tracer-bullet";

/// The baggage keys observe reads and writes. Other members are kept and passed on.
pub mod keys {
    /// The authenticated user.
    pub const USER_ID: &str = "observe.user_id";
    /// The account (tenant) the request acts for.
    pub const ACCOUNT_ID: &str = "observe.account_id";
    /// The request type; absent for a standard request.
    pub const REQUEST_TYPE: &str = "observe.request_type";
    /// The value of [`REQUEST_TYPE`] for a tracer bullet.
    pub const REQUEST_TYPE_TRACER_BULLET: &str = "tracer_bullet";
    /// Feature flags are members `observe.flag.<name>=<value>`.
    pub const FLAG_PREFIX: &str = "observe.flag.";
}

/// Removes optional whitespace (RFC 7230 `OWS`: spaces and horizontal tabs) at both
/// ends.
pub(crate) fn trim_ows(mut v: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = v {
        v = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = v {
        v = rest;
    }
    v
}

/// Everything [`extract`] read from a request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extracted {
    /// The caller's span (`is_remote = true`), or `None`: no or an invalid
    /// `traceparent`, so a new trace starts.
    pub parent: Option<SpanContext>,
    /// The caller's `tracestate`; empty without a valid `traceparent`.
    pub trace_state: TraceState,
    /// The caller's baggage.
    pub baggage: Baggage,
    /// The caller's request id, when valid. Generate one with
    /// [`RequestId::generate`] otherwise.
    pub request_id: Option<RequestId>,
    /// What was rejected, and why.
    pub rejections: Rejections,
}

impl Extracted {
    /// What to send downstream while handling this request: `span` (the current
    /// span, whose id becomes the callee's parent-id) with this request's
    /// `tracestate`, baggage and request id.
    pub fn propagation_data(&self, span: SpanContext) -> PropagationData<'_> {
        PropagationData {
            span,
            trace_state: &self.trace_state,
            baggage: &self.baggage,
            request_id: self.request_id.as_ref(),
            tracer_bullet_token: None,
        }
    }
}

/// Who an outgoing request goes to, which decides what it carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Audience {
    /// One of the configured internal hosts: everything is sent.
    Internal,
    /// Any other host: only `traceparent` and `tracestate`, so user and account ids,
    /// the request id and the tracer-bullet token never leave.
    External,
}

/// What [`inject`] writes on an outgoing request. Borrowed, so building one per call
/// copies nothing.
#[derive(Debug, Clone, Copy)]
pub struct PropagationData<'a> {
    /// The current span: its trace id, its span id (the callee's parent-id) and flags.
    /// Nothing trace-related is sent when it is invalid.
    pub span: SpanContext,
    /// Sent with `traceparent`, when not empty.
    pub trace_state: &'a TraceState,
    /// Sent to internal hosts, when not empty.
    pub baggage: &'a Baggage,
    /// Sent to internal hosts.
    pub request_id: Option<&'a RequestId>,
    /// Sent to internal hosts as `observe-tracer-bullet`, when it is printable ASCII.
    pub tracer_bullet_token: Option<&'a str>,
}

static EMPTY_TRACE_STATE: TraceState = TraceState::new();
static EMPTY_BAGGAGE: Baggage = Baggage::new();

impl PropagationData<'static> {
    /// Only the span; fill the other fields with struct update syntax.
    pub fn new(span: SpanContext) -> Self {
        PropagationData {
            span,
            trace_state: &EMPTY_TRACE_STATE,
            baggage: &EMPTY_BAGGAGE,
            request_id: None,
            tracer_bullet_token: None,
        }
    }
}

/// Reads `traceparent`, `tracestate`, `baggage` and `x-request-id` from a request.
///
/// - `traceparent`: [`parse_traceparent`]; a header sent several times with
///   different values is invalid. Invalid means no parent.
/// - `tracestate`: read only with a valid parent, all values combined; invalid as
///   a whole means empty.
/// - `baggage`: all values combined, whatever `traceparent` says.
/// - `x-request-id`: [`RequestId::parse`]; several different values are invalid.
///
/// Each header is read only up to its limit (the values of a repeated header
/// together), so the work does not grow with what the caller sends.
///
/// Never fails; see [`Extracted::rejections`] for what was dropped.
pub fn extract<E: Extractor + ?Sized>(carrier: &E) -> Extracted {
    let mut rejections = Rejections::new();
    let parent = single_value(
        carrier,
        TRACEPARENT,
        TRACEPARENT_MAX_LEN,
        parse_traceparent,
        TraceparentError::Repeated,
        RejectReason::Traceparent,
        &mut rejections,
    );

    let trace_state = if parent.is_some() {
        let mut parser = tracestate::TraceStateParser::new();
        carrier.for_each_value(TRACESTATE, &mut |v| parser.feed(v, &mut rejections));
        parser.finish()
    } else {
        // Not parsed (the specification forbids it), only looked at, within the
        // same budget, to report a non-empty one.
        let mut budget = scan::Budget::new(TRACESTATE_MAX_LEN);
        let mut reported = false;
        carrier.for_each_value(TRACESTATE, &mut |v| {
            if reported {
                return;
            }
            let window = match budget.take(v) {
                scan::Window::All(w) | scan::Window::Part { window: w, .. } => w,
                scan::Window::Spent => return,
            };
            let content = window.iter().position(|b| !matches!(b, b' ' | b'\t'));
            scan::examined(content.map_or(window.len(), |at| at + 1));
            if content.is_some() {
                reported = true;
                rejections.push(
                    TRACESTATE,
                    RejectReason::TraceState(TraceStateError::WithoutTraceparent),
                    window,
                );
            }
        });
        TraceState::new()
    };

    let mut baggage = baggage::BaggageParser::new();
    carrier.for_each_value(BAGGAGE, &mut |v| baggage.feed(v, &mut rejections));
    let baggage = baggage.finish();

    let request_id = single_value(
        carrier,
        X_REQUEST_ID,
        request_id::REQUEST_ID_READ_LIMIT,
        RequestId::parse,
        RequestIdError::Repeated,
        RejectReason::RequestId,
        &mut rejections,
    );

    Extracted {
        parent,
        trace_state,
        baggage,
        request_id,
        rejections,
    }
}

/// Writes `traceparent` and `tracestate` (when `data.span` is valid), and for an
/// [`Audience::Internal`] host also `baggage`, `x-request-id` and
/// `observe-tracer-bullet` (each when present). Every header written replaces what
/// the carrier had under that name; headers not written are left alone.
///
/// `traceparent` is formatted on the stack; `baggage` is the only value built on the
/// heap.
pub fn inject<I: Injector + ?Sized>(
    data: &PropagationData<'_>,
    carrier: &mut I,
    audience: Audience,
) {
    if data.span.is_valid() {
        carrier.set(TRACEPARENT, format_traceparent(&data.span).as_str());
        if !data.trace_state.is_empty() {
            carrier.set(TRACESTATE, data.trace_state.as_str());
        }
    }
    if audience == Audience::Internal {
        if !data.baggage.is_empty() {
            carrier.set(BAGGAGE, &data.baggage.to_header_value());
        }
        if let Some(id) = data.request_id {
            carrier.set(X_REQUEST_ID, id.as_str());
        }
        if let Some(token) = data.tracer_bullet_token
            && !token.is_empty()
            && token.bytes().all(|b| (0x20..=0x7e).contains(&b))
        {
            carrier.set(OBSERVE_TRACER_BULLET, token);
        }
    }
}

/// What [`extract_response`] read from a response.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResponseData {
    /// The callee's span from `traceresponse` (`is_remote = true`), when valid.
    pub callee: Option<SpanContext>,
    /// The callee's own duration from `Server-Timing: observe;dur=<ms>`.
    pub server_duration: Option<Duration>,
    /// What was rejected, and why.
    pub rejections: Rejections,
}

/// Reads `traceresponse` and the `observe` metric of `Server-Timing` from a response,
/// so a client span can record the callee's duration next to the time it saw. Both
/// are read only up to their limits ([`TRACEPARENT_MAX_LEN`],
/// [`SERVER_TIMING_MAX_LEN`], the values of a repeated header together).
pub fn extract_response<E: Extractor + ?Sized>(carrier: &E) -> ResponseData {
    let mut rejections = Rejections::new();
    let callee = single_value(
        carrier,
        TRACERESPONSE,
        TRACEPARENT_MAX_LEN,
        parse_traceresponse,
        TraceparentError::Repeated,
        RejectReason::Traceresponse,
        &mut rejections,
    );
    let mut server_timing = server_timing::ServerTimingParser::new();
    carrier.for_each_value(SERVER_TIMING, &mut |v| server_timing.feed(v));
    ResponseData {
        callee,
        server_duration: server_timing.finish(),
        rejections,
    }
}

/// Writes `traceresponse` for the server span (when valid) and, when given,
/// `Server-Timing: observe;dur=<ms>`. Both replace what the carrier had; an adapter
/// that must keep the application's own `Server-Timing` metrics appends
/// [`format_server_timing`] itself.
pub fn inject_response<I: Injector + ?Sized>(
    span: &SpanContext,
    server_duration: Option<Duration>,
    carrier: &mut I,
) {
    if span.is_valid() {
        carrier.set(TRACERESPONSE, format_traceresponse(span).as_str());
    }
    if let Some(d) = server_duration {
        carrier.set(SERVER_TIMING, format_server_timing(d).as_str());
    }
}

/// How many values of a header that must appear once are read: a proxy may repeat
/// it, but more values than this make it invalid without being read.
const MAX_REPEATED_VALUES: usize = 4;

/// Reads a header that must appear once: the first value decides, and a later value
/// that parses differently makes the whole header invalid. The values are read
/// within one budget of `limit` bytes and [`MAX_REPEATED_VALUES`] values (the first
/// value alone is checked by `parse`, which reads none of a value over the limit); a
/// later value that would go over it makes the header invalid without being read,
/// and nothing is read after that.
fn single_value<E, T, Err>(
    carrier: &E,
    name: &'static str,
    limit: usize,
    parse: impl Fn(&[u8]) -> Result<T, Err>,
    repeated: Err,
    reason: impl Fn(Err) -> RejectReason,
    rejections: &mut Rejections,
) -> Option<T>
where
    E: Extractor + ?Sized,
    T: PartialEq,
    Err: PartialEq + Copy,
{
    let mut first: Option<Result<T, Err>> = None;
    let mut conflict = false;
    let mut used = 0usize;
    let mut values = 0usize;
    carrier.for_each_value(name, &mut |value| {
        if conflict {
            return;
        }
        used = used.saturating_add(value.len());
        values += 1;
        match &first {
            None => {
                let parsed = parse(value);
                if let Err(e) = &parsed {
                    rejections.push(name, reason(*e), value.get(..limit).unwrap_or(value));
                }
                first = Some(parsed);
            }
            Some(earlier) => {
                let differs =
                    used > limit || values > MAX_REPEATED_VALUES || *earlier != parse(value);
                if differs {
                    conflict = true;
                    rejections.push(name, reason(repeated), value.get(..limit).unwrap_or(value));
                }
            }
        }
    });
    match first {
        Some(Ok(value)) if !conflict => Some(value),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trim_ows_removes_only_spaces_and_tabs() {
        assert_eq!(trim_ows(b" \t a b \t "), b"a b");
        assert_eq!(trim_ows(b"\r\na\n"), b"\r\na\n");
        assert_eq!(trim_ows(b" \t "), b"");
        assert_eq!(trim_ows(b""), b"");
    }
}
