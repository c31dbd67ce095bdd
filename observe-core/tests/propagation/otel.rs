//! `OtelPropagator`: code that propagates through the OpenTelemetry API speaks
//! exactly observe's wire format, with observe's strict parsers, over a `HashMap`
//! and over an `http::HeaderMap` (through opentelemetry-http's adapters).

use std::collections::HashMap;

use http::HeaderMap;
use observe_core::otel::OtelPropagator;
use observe_core::propagation::{self, Audience, keys};
use observe_core::span::Span;
use opentelemetry::Context;
use opentelemetry::baggage::BaggageExt as _;
use opentelemetry::propagation::TextMapPropagator as _;
use opentelemetry::trace::TraceContextExt as _;
use opentelemetry_http::{HeaderExtractor, HeaderInjector};

use crate::headers;

const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

fn map(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn extract_gives_what_observes_extract_gives() {
    let inbound = headers(&[
        ("traceparent", TRACEPARENT.as_bytes()),
        ("tracestate", b"congo=t61rcWkgMzE, rojo=00f067aa0ba902b7"),
        (
            "baggage",
            b"observe.user_id=alice,team=a%20b;prop=1,Bad Key=1",
        ),
    ]);
    let ours = propagation::extract(&inbound);
    let cx = OtelPropagator::internal().extract(&HeaderExtractor(&inbound));
    let sc = cx.span().span_context().clone();
    let parent = ours.parent.unwrap();
    assert!(sc.is_remote() && sc.is_valid());
    assert_eq!(sc.trace_id().to_bytes(), parent.trace_id.to_bytes());
    assert_eq!(sc.span_id().to_bytes(), parent.span_id.to_bytes());
    assert_eq!(sc.trace_flags().to_u8(), parent.flags.bits());
    assert_eq!(sc.trace_state().header(), ours.trace_state.as_str());
    let b = cx.baggage();
    assert_eq!(b.len(), ours.baggage.len(), "the invalid member is dropped");
    assert_eq!(
        b.get(keys::USER_ID).map(|v| v.as_str().to_string()),
        Some("alice".into())
    );
    assert_eq!(
        b.get("team").map(|v| v.as_str().to_string()),
        Some("a b".into())
    );
}

#[test]
fn invalid_input_is_dropped_as_observe_drops_it() {
    let p = OtelPropagator::internal();
    // Version 00 with a trailing field, uppercase hex, an all-zero trace id: no parent.
    for bad in [
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
    ] {
        let cx = p.extract(&map(&[("traceparent", bad)]));
        assert!(!cx.span().span_context().is_valid(), "{bad}");
        assert!(
            propagation::extract(&map(&[("traceparent", bad)]))
                .parent
                .is_none()
        );
    }
    // A tracestate with one invalid member is discarded whole (the strict level).
    let cx = p.extract(&map(&[
        ("traceparent", TRACEPARENT),
        ("tracestate", "good=1,BAD=2"),
    ]));
    assert!(cx.span().span_context().is_valid());
    assert_eq!(cx.span().span_context().trace_state().header(), "");
}

#[test]
fn extract_without_a_parent_leaves_the_context_alone() {
    let cx = OtelPropagator::new().extract(&map(&[("baggage", "a=1")]));
    assert!(!cx.span().span_context().is_valid());
    assert!(
        cx.baggage().is_empty(),
        "trace context only reads no baggage"
    );
}

#[test]
fn inject_writes_observes_format_into_a_header_map() {
    let p = OtelPropagator::internal();
    let inbound = map(&[
        ("traceparent", TRACEPARENT),
        ("tracestate", "rojo=00f067aa0ba902b7"),
        ("baggage", "observe.user_id=al%2Cice"),
    ]);
    let cx = p.extract(&inbound);
    let mut out = HeaderMap::new();
    p.inject_context(&cx, &mut HeaderInjector(&mut out));
    assert_eq!(out["traceparent"], TRACEPARENT);
    assert_eq!(out["tracestate"], "rojo=00f067aa0ba902b7");
    // observe's encoder: the comma in the value is percent-encoded.
    assert_eq!(out["baggage"], "observe.user_id=al%2Cice");
    // And observe reads back what it wrote.
    let back = propagation::extract(&out);
    assert_eq!(back.baggage.get(keys::USER_ID), Some("al,ice"));
}

#[test]
fn the_default_propagator_sends_no_baggage() {
    let p = OtelPropagator::default();
    assert_eq!(p.audience(), Audience::External);
    let cx = OtelPropagator::internal().extract(&map(&[
        ("traceparent", TRACEPARENT),
        ("baggage", "observe.user_id=alice"),
    ]));
    let mut out = HashMap::new();
    p.inject_context(&cx, &mut out);
    assert_eq!(
        out.get("traceparent").map(String::as_str),
        Some(TRACEPARENT)
    );
    assert!(
        !out.contains_key("baggage"),
        "user ids never reach a third party"
    );
    assert_eq!(
        p.fields().collect::<Vec<_>>(),
        ["traceparent", "tracestate"]
    );
    assert_eq!(
        OtelPropagator::internal().fields().collect::<Vec<_>>(),
        ["traceparent", "tracestate", "baggage", "x-request-id"]
    );
}

#[test]
fn without_an_opentelemetry_span_the_current_observe_span_is_sent() {
    let _capture = observe_core::testing::capture();
    let span = Span::new("GET /orders");
    let expected = span.span_context().expect("a recorded span");
    let mut out = HashMap::new();
    span.in_scope(|| {
        // `inject` uses `Context::current()`, empty here: observe's span is used.
        OtelPropagator::new().inject(&mut out);
    });
    span.end();
    let sent = propagation::parse_traceparent(out["traceparent"].as_bytes()).unwrap();
    assert_eq!(sent.trace_id, expected.trace_id);
    assert_eq!(sent.span_id, expected.span_id);
    // Outside any span, with an empty context, nothing is written.
    let mut none = HashMap::new();
    OtelPropagator::new().inject_context(&Context::new(), &mut none);
    assert!(none.is_empty());
}

#[test]
fn the_global_propagator_speaks_observes_format() {
    opentelemetry::global::set_text_map_propagator(OtelPropagator::internal());
    let inbound = map(&[
        ("traceparent", TRACEPARENT),
        ("baggage", "observe.flag.checkout=v2"),
    ]);
    let cx = opentelemetry::global::get_text_map_propagator(|p| p.extract(&inbound));
    let mut out = HeaderMap::new();
    opentelemetry::global::get_text_map_propagator(|p| {
        p.inject_context(&cx, &mut HeaderInjector(&mut out))
    });
    assert_eq!(out["traceparent"], TRACEPARENT);
    assert_eq!(out["baggage"], "observe.flag.checkout=v2");
}
