//! `extract` and `inject` over both carriers: header names, repeated headers, the
//! traceparent/tracestate dependency, and what each audience receives.

use std::collections::HashMap;

use observe_core::propagation::{
    Audience, BAGGAGE, Baggage, Extracted, Injector, OBSERVE_TRACER_BULLET, PropagationData,
    RejectReason, Rejection, Rejections, RequestId, RequestIdError, TRACEPARENT, TRACESTATE,
    TraceState, TraceStateError, TraceparentError, X_REQUEST_ID, extract, inject, keys,
};
use observe_core::{SpanContext, SpanId};

use crate::{headers, span};

const TP: &[u8] = b"00-12345678901234567890123456789012-1234567890123456-01";
const TP_OTHER: &[u8] = b"00-12345678901234567890123456789011-1234567890123456-01";

fn trace_of(e: &Extracted) -> Option<String> {
    e.parent.map(|p| p.trace_id.to_string())
}

#[test]
fn nothing_in_nothing_out() {
    let e = extract(&http::HeaderMap::new());
    assert_eq!(e, Extracted::default());
}

#[test]
fn a_full_header_set_is_read() {
    let e = extract(&headers(&[
        (TRACEPARENT, TP),
        (TRACESTATE, b"foo=1,bar=2"),
        (BAGGAGE, b"observe.user_id=u1,observe.account_id=a1"),
        (X_REQUEST_ID, b"req-1"),
    ]));
    assert_eq!(
        trace_of(&e).as_deref(),
        Some("12345678901234567890123456789012")
    );
    assert!(e.parent.unwrap().is_remote);
    assert_eq!(e.trace_state.as_str(), "foo=1,bar=2");
    assert_eq!(e.baggage.get(keys::USER_ID), Some("u1"));
    assert_eq!(e.request_id.unwrap().as_str(), "req-1");
    assert!(e.rejections.is_empty());
}

#[test]
fn header_names_match_in_any_case() {
    for name in ["TraceParent", "TRACEPARENT", "TrAcEpArEnT"] {
        let mut map = HashMap::new();
        map.insert(name.to_owned(), String::from_utf8(TP.to_vec()).unwrap());
        map.insert("TraceState".to_owned(), "foo=1".to_owned());
        let e = extract(&map);
        assert!(e.parent.is_some(), "{name}");
        assert_eq!(e.trace_state.get("foo"), Some("1"));
    }
}

#[test]
fn other_header_names_are_not_read() {
    let e = extract(&headers(&[("trace-parent", TP), ("trace.state", b"foo=1")]));
    assert_eq!(e.parent, None);
    let e = extract(&headers(&[(TRACEPARENT, TP), ("trace-state", b"foo=1")]));
    assert!(e.trace_state.is_empty());
}

#[test]
fn header_map_and_hash_map_extract_the_same() {
    let pairs: [(&str, &str); 4] = [
        (
            TRACEPARENT,
            "00-12345678901234567890123456789012-1234567890123456-03",
        ),
        (TRACESTATE, "rojo=1, congo=2"),
        (BAGGAGE, "k=v%20w;p"),
        (X_REQUEST_ID, "abc"),
    ];
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let header_map = headers(&pairs.map(|(k, v)| (k, v.as_bytes())));
    assert_eq!(extract(&map), extract(&header_map));
    let dynamic: &dyn observe_core::propagation::Extractor = &map;
    assert_eq!(extract(dynamic), extract(&header_map));
}

#[test]
fn traceparent_sent_twice_with_different_values_is_invalid() {
    let e = extract(&headers(&[
        (TRACEPARENT, TP_OTHER),
        (TRACEPARENT, TP),
        (TRACESTATE, b"foo=1"),
    ]));
    assert_eq!(e.parent, None, "the caller starts a new trace");
    assert!(e.trace_state.is_empty());
    let reasons: Vec<_> = e
        .rejections
        .iter()
        .map(|r| (r.header, r.reason.clone()))
        .collect();
    assert_eq!(
        reasons,
        [
            (
                TRACEPARENT,
                RejectReason::Traceparent(TraceparentError::Repeated)
            ),
            (
                TRACESTATE,
                RejectReason::TraceState(TraceStateError::WithoutTraceparent)
            ),
        ]
    );
}

#[test]
fn traceparent_sent_twice_with_the_same_value_is_accepted() {
    let e = extract(&headers(&[(TRACEPARENT, TP), (TRACEPARENT, TP)]));
    assert!(e.parent.is_some());
    assert!(e.rejections.is_empty());
}

#[test]
fn invalid_traceparent_means_no_parent_and_tracestate_ignored() {
    let e = extract(&headers(&[
        (
            TRACEPARENT,
            b"00-00000000000000000000000000000000-1234567890123456-01",
        ),
        (TRACESTATE, b"foo=1"),
        (BAGGAGE, b"k=v"),
    ]));
    assert_eq!(e.parent, None);
    assert!(e.trace_state.is_empty());
    assert_eq!(
        e.baggage.get("k"),
        Some("v"),
        "baggage does not depend on traceparent"
    );
    let first = e.rejections.iter().next().unwrap();
    assert_eq!(first.header, TRACEPARENT);
    assert_eq!(
        first.reason,
        RejectReason::Traceparent(TraceparentError::ZeroTraceId)
    );
    assert!(first.input.starts_with("00-0000"));
}

#[test]
fn tracestate_without_traceparent_is_ignored() {
    let one = extract(&headers(&[(TRACESTATE, b"foo=1")]));
    let two = extract(&headers(&[(TRACESTATE, b"foo=1,bar=2")]));
    assert!(one.trace_state.is_empty() && two.trace_state.is_empty());
    assert!(one.rejections.contains_header(TRACESTATE));
}

#[test]
fn an_invalid_tracestate_does_not_affect_traceparent() {
    let e = extract(&headers(&[
        (TRACEPARENT, TP),
        (TRACESTATE, b"FOO=1,=,\xff"),
    ]));
    assert!(e.parent.is_some());
    assert!(e.trace_state.is_empty());
    assert_eq!(
        e.rejections.total(),
        1,
        "discarded at the first invalid member"
    );
}

#[test]
fn request_id_sent_twice_with_different_values_is_ignored() {
    let e = extract(&headers(&[(X_REQUEST_ID, b"a"), (X_REQUEST_ID, b"b")]));
    assert_eq!(e.request_id, None);
    assert_eq!(
        e.rejections.iter().next().map(|r| r.reason.clone()),
        Some(RejectReason::RequestId(RequestIdError::Repeated))
    );
    let e = extract(&headers(&[(X_REQUEST_ID, b"a"), (X_REQUEST_ID, b" a ")]));
    assert_eq!(e.request_id.map(|r| r.to_string()).as_deref(), Some("a"));
}

#[test]
fn an_invalid_request_id_is_ignored_and_reported() {
    let e = extract(&headers(&[(X_REQUEST_ID, &[b'x'; 129])]));
    assert_eq!(e.request_id, None);
    assert_eq!(
        e.rejections.iter().next().map(|r| r.reason.clone()),
        Some(RejectReason::RequestId(RequestIdError::TooLong {
            len: 129
        }))
    );
}

#[test]
fn hostile_headers_are_bounded_and_counted() {
    let junk = "BAD,".repeat(10_000);
    let e = extract(&headers(&[
        (TRACEPARENT, TP),
        (TRACESTATE, junk.as_bytes()),
        (BAGGAGE, junk.as_bytes()),
    ]));
    assert!(e.trace_state.is_empty() && e.baggage.is_empty());
    // tracestate: discarded at its first member. baggage: the 2048 members within
    // the first 8192 bytes are read and rejected, then the rest is dropped unread.
    assert_eq!(e.rejections.total(), 1 + 2048 + 1);
    assert_eq!(e.rejections.iter().count(), Rejections::MAX_KEPT);
    assert!(e.rejections.iter().all(|r| r.input == "BAD"));
}

#[test]
fn a_traceparent_repeated_more_than_four_times_is_invalid() {
    let four = extract(&headers(&[(TRACEPARENT, TP); 4]));
    assert!(four.parent.is_some());
    let five = extract(&headers(&[(TRACEPARENT, TP); 5]));
    assert_eq!(five.parent, None);
    assert_eq!(
        five.rejections.iter().next().map(|r| r.reason.clone()),
        Some(RejectReason::Traceparent(TraceparentError::Repeated))
    );
}

#[test]
fn oversize_single_values_are_rejected_unread() {
    let long = format!("{}{}", std::str::from_utf8(TP).unwrap(), " ".repeat(600));
    let e = extract(&headers(&[
        (TRACEPARENT, long.as_bytes()),
        (X_REQUEST_ID, " ".repeat(300).as_bytes()),
    ]));
    assert_eq!(e.parent, None);
    assert_eq!(e.request_id, None);
    let reasons: Vec<_> = e.rejections.iter().map(|r| r.reason.clone()).collect();
    assert!(
        reasons.contains(&RejectReason::Traceparent(TraceparentError::TooLong {
            len: 655
        }))
    );
    assert!(
        reasons.contains(&RejectReason::RequestId(RequestIdError::TooLong {
            len: 300
        }))
    );
    assert!(
        e.rejections
            .iter()
            .all(|r| r.input.len() <= Rejection::MAX_INPUT_LEN)
    );
}

#[test]
fn rejection_messages_name_the_header_and_the_input() {
    let e = extract(&headers(&[(BAGGAGE, b"bad key=1")]));
    let message = e.rejections.iter().next().unwrap().to_string();
    assert!(message.starts_with("baggage: "), "{message}");
    assert!(message.contains("\"bad key=1\""), "{message}");
    assert!(message.contains("HTTP token"), "{message}");
}

fn sample_data<'a>(ts: &'a TraceState, bag: &'a Baggage, id: &'a RequestId) -> PropagationData<'a> {
    PropagationData {
        trace_state: ts,
        baggage: bag,
        request_id: Some(id),
        tracer_bullet_token: Some("v1.1700000000.abcdef"),
        ..PropagationData::new(span(
            0x4bf92f3577b34da6a3ce929d0e0e4736,
            0x00f067aa0ba902b7,
            0x03,
        ))
    }
}

#[test]
fn internal_hosts_receive_every_header() {
    let ts = TraceState::parse(b"congo=1");
    let bag = Baggage::parse(b"observe.user_id=alice");
    let id = RequestId::parse(b"req-1").unwrap();
    let mut map = http::HeaderMap::new();
    inject(&sample_data(&ts, &bag, &id), &mut map, Audience::Internal);
    assert_eq!(
        map[TRACEPARENT],
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03"
    );
    assert_eq!(map[TRACESTATE], "congo=1");
    assert_eq!(map[BAGGAGE], "observe.user_id=alice");
    assert_eq!(map[X_REQUEST_ID], "req-1");
    assert_eq!(map[OBSERVE_TRACER_BULLET], "v1.1700000000.abcdef");
    assert_eq!(map.len(), 5);
}

#[test]
fn external_hosts_receive_only_trace_context() {
    let ts = TraceState::parse(b"congo=1");
    let bag = Baggage::parse(b"observe.user_id=alice");
    let id = RequestId::parse(b"req-1").unwrap();
    let mut map: HashMap<String, String> = HashMap::new();
    inject(&sample_data(&ts, &bag, &id), &mut map, Audience::External);
    let mut names: Vec<&str> = map.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(names, [TRACEPARENT, TRACESTATE]);
}

#[test]
fn an_invalid_span_sends_no_trace_context() {
    let ts = TraceState::parse(b"congo=1");
    let data = PropagationData {
        trace_state: &ts,
        ..PropagationData::new(SpanContext::default())
    };
    let mut map = http::HeaderMap::new();
    inject(&data, &mut map, Audience::Internal);
    assert!(map.is_empty());
}

#[test]
fn empty_tracestate_and_baggage_are_not_sent() {
    let mut map = http::HeaderMap::new();
    inject(
        &PropagationData::new(span(1, 1, 1)),
        &mut map,
        Audience::Internal,
    );
    assert_eq!(map.len(), 1);
    assert!(map.contains_key(TRACEPARENT));
}

#[test]
fn inject_replaces_what_the_carrier_had() {
    let mut map = headers(&[
        (TRACEPARENT, TP_OTHER),
        (TRACEPARENT, TP),
        ("TraceState", b"old=1"),
    ]);
    let ts = TraceState::parse(b"new=1");
    let data = PropagationData {
        trace_state: &ts,
        ..PropagationData::new(span(1, 2, 1))
    };
    inject(&data, &mut map, Audience::External);
    assert_eq!(map.get_all(TRACEPARENT).iter().count(), 1);
    assert_eq!(map[TRACESTATE], "new=1");
}

#[test]
fn a_tracer_bullet_token_that_is_not_printable_is_not_sent() {
    let data = PropagationData {
        tracer_bullet_token: Some("v1.1\n.x"),
        ..PropagationData::new(span(1, 2, 1))
    };
    let mut map = http::HeaderMap::new();
    inject(&data, &mut map, Audience::Internal);
    assert!(!map.contains_key(OBSERVE_TRACER_BULLET));
}

#[test]
fn forwarding_keeps_the_trace_and_makes_our_span_the_parent() {
    let inbound = headers(&[
        (
            TRACEPARENT,
            b"cc-12345678901234567890123456789012-1234567890123456-03-future",
        ),
        (TRACESTATE, b"rojo=1"),
        (BAGGAGE, b"observe.user_id=alice, vendor=x;ttl=3"),
        (X_REQUEST_ID, b"req-9"),
    ]);
    let extracted = extract(&inbound);
    let parent = extracted.parent.unwrap();
    let ours = SpanContext {
        span_id: SpanId::new(0xabc),
        is_remote: false,
        ..parent
    };

    let mut outbound = http::HeaderMap::new();
    inject(
        &extracted.propagation_data(ours),
        &mut outbound,
        Audience::Internal,
    );
    let downstream = extract(&outbound);

    let seen = downstream.parent.unwrap();
    assert_eq!(seen.trace_id, parent.trace_id);
    assert_eq!(seen.span_id, SpanId::new(0xabc));
    assert_eq!(seen.flags, parent.flags);
    assert_eq!(
        outbound[TRACEPARENT],
        "00-12345678901234567890123456789012-0000000000000abc-03"
    );
    assert_eq!(downstream.trace_state, extracted.trace_state);
    assert_eq!(downstream.baggage, extracted.baggage);
    assert_eq!(downstream.request_id, extracted.request_id);
}

/// A carrier written outside this crate, through the traits only (as
/// observe-tonic does for tonic's `MetadataMap`).
#[derive(Default)]
struct Pairs(Vec<(String, String)>);

impl observe_core::propagation::Extractor for Pairs {
    fn for_each_value(&self, name: &str, f: &mut dyn FnMut(&[u8])) {
        for (k, v) in &self.0 {
            if k.eq_ignore_ascii_case(name) {
                f(v.as_bytes());
            }
        }
    }
}

impl Injector for Pairs {
    fn set(&mut self, name: &'static str, value: &str) {
        self.0.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
        self.0.push((name.to_owned(), value.to_owned()));
    }
}

#[test]
fn a_carrier_implemented_elsewhere_works_through_trait_objects() {
    let mut out = Pairs::default();
    let ts = TraceState::parse(b"a=1");
    let data = PropagationData {
        trace_state: &ts,
        ..PropagationData::new(span(5, 6, 1))
    };
    let injector: &mut dyn Injector = &mut out;
    inject(&data, injector, Audience::External);
    let back = extract(&out as &dyn observe_core::propagation::Extractor);
    assert_eq!(back.parent.map(|p| p.span_id), Some(SpanId::new(6)));
    assert_eq!(back.trace_state.as_str(), "a=1");
}
