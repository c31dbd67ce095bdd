//! Where `opentelemetry_sdk` 0.33's `TraceContextPropagator` and
//! `BaggagePropagator` (the benchmark's peers) reach a different outcome than the
//! specifications on the same input, next to observe's outcome.
//! `docs/bench/propagation.md` lists these cases; if a peer upgrade fixes one, its
//! test fails here and the list must be updated.

use http::HeaderMap;
use observe_core::propagation::{self, Baggage, parse_traceparent};
use opentelemetry::baggage::BaggageExt;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TraceContextExt;
use opentelemetry_http::HeaderExtractor;
use opentelemetry_sdk::propagation::{BaggagePropagator, TraceContextPropagator};

use crate::headers;

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT: &str = "00f067aa0ba902b7";

fn otel_parent(map: &HeaderMap) -> Option<opentelemetry::trace::SpanContext> {
    let cx = TraceContextPropagator::new().extract(&HeaderExtractor(map));
    let sc = cx.span().span_context().clone();
    sc.is_valid().then_some(sc)
}

fn otel_baggage(map: &HeaderMap) -> Vec<(String, String)> {
    let cx = BaggagePropagator::new().extract(&HeaderExtractor(map));
    let mut members: Vec<(String, String)> = cx
        .baggage()
        .iter()
        .map(|(k, (v, _))| (k.as_str().to_owned(), v.as_str().to_owned()))
        .collect();
    members.sort();
    members
}

fn traceparent(value: &str) -> HeaderMap {
    headers(&[("traceparent", value.as_bytes())])
}

#[test]
fn opentelemetry_sdk_drops_the_level_2_random_flag() {
    let map = traceparent(&format!("00-{TRACE}-{PARENT}-03"));
    assert_eq!(otel_parent(&map).unwrap().trace_flags().to_u8(), 0x01);
    assert_eq!(
        propagation::extract(&map).parent.unwrap().flags.bits(),
        0x03
    );
}

#[test]
fn opentelemetry_sdk_accepts_a_version_00_value_longer_than_55_characters() {
    let map = traceparent(&format!("00-{TRACE}-{PARENT}-01-"));
    assert!(otel_parent(&map).is_some());
    assert!(propagation::extract(&map).parent.is_none());
}

#[test]
fn opentelemetry_sdk_accepts_a_trace_id_shorter_than_32_digits() {
    let map = traceparent(&format!("00-4bf92f35-{PARENT}-01"));
    assert!(otel_parent(&map).is_some());
    assert!(propagation::extract(&map).parent.is_none());
}

#[test]
fn opentelemetry_sdk_accepts_a_plus_sign_as_a_hex_digit() {
    let value = format!("00-+{}-{PARENT}-01", &TRACE[1..]);
    assert_eq!(value.len(), 55);
    assert!(otel_parent(&traceparent(&value)).is_some());
    assert!(parse_traceparent(value.as_bytes()).is_err());
}

#[test]
fn opentelemetry_sdk_continues_a_trace_sent_with_two_different_traceparents() {
    let map = headers(&[
        ("traceparent", format!("00-{TRACE}-{PARENT}-01").as_bytes()),
        (
            "traceparent",
            format!("00-{}1-{PARENT}-01", &TRACE[..31]).as_bytes(),
        ),
    ]);
    assert!(otel_parent(&map).is_some());
    assert!(propagation::extract(&map).parent.is_none());
}

#[test]
fn opentelemetry_sdk_reads_only_the_first_tracestate_header() {
    let map = headers(&[
        ("traceparent", format!("00-{TRACE}-{PARENT}-01").as_bytes()),
        ("tracestate", b"foo=1"),
        ("tracestate", b"bar=2"),
    ]);
    assert_eq!(otel_parent(&map).unwrap().trace_state().header(), "foo=1");
    assert_eq!(
        propagation::extract(&map).trace_state.as_str(),
        "foo=1,bar=2"
    );
}

#[test]
fn opentelemetry_sdk_cuts_a_baggage_value_at_its_second_equals_sign() {
    let map = headers(&[("baggage", b"k=a=b")]);
    assert_eq!(otel_baggage(&map), [("k".to_owned(), "a".to_owned())]);
    assert_eq!(propagation::extract(&map).baggage.get("k"), Some("a=b"));
}

#[test]
fn opentelemetry_sdk_drops_a_member_whose_value_is_not_utf8_instead_of_replacing() {
    let map = headers(&[("baggage", b"k=%FF,j=1")]);
    assert_eq!(otel_baggage(&map), [("j".to_owned(), "1".to_owned())]);
    assert_eq!(
        propagation::extract(&map).baggage.get("k"),
        Some("\u{FFFD}")
    );
}

#[test]
fn opentelemetry_sdk_drops_all_baggage_over_8192_bytes() {
    let members: Vec<String> = (0..9)
        .map(|i| format!("k{i}={}", "v".repeat(1000)))
        .collect();
    let map = headers(&[("baggage", members.join(",").as_bytes())]);
    assert!(otel_baggage(&map).is_empty());
    assert_eq!(propagation::extract(&map).baggage.len(), 8);
}

#[test]
fn opentelemetry_sdk_reads_only_the_first_baggage_header() {
    let map = headers(&[("baggage", b"a=1"), ("baggage", b"b=2")]);
    assert_eq!(otel_baggage(&map), [("a".to_owned(), "1".to_owned())]);
    assert_eq!(propagation::extract(&map).baggage.len(), 2);
}

#[test]
fn opentelemetry_sdk_counts_invalid_members_toward_the_64_member_limit() {
    let mut members = vec!["bad".to_owned(); 10];
    members.extend((0..64).map(|i| format!("k{i}=1")));
    let map = headers(&[("baggage", members.join(",").as_bytes())]);
    assert_eq!(otel_baggage(&map).len(), 54);
    assert_eq!(Baggage::parse(members.join(",").as_bytes()).len(), 64);
}

fn with_tracestate(tracestate: &str) -> HeaderMap {
    headers(&[
        ("traceparent", format!("00-{TRACE}-{PARENT}-01").as_bytes()),
        ("tracestate", tracestate.as_bytes()),
    ])
}

#[test]
fn opentelemetry_sdk_keeps_32_members_of_a_tracestate_with_33() {
    let members: Vec<String> = (1..=33).map(|i| format!("bar{i:02}={i:02}")).collect();
    let map = with_tracestate(&members.join(","));
    let theirs = otel_parent(&map).unwrap().trace_state().header();
    assert_eq!(theirs, members[..32].join(","));
    assert!(propagation::extract(&map).trace_state.is_empty());
}

#[test]
fn opentelemetry_sdk_accepts_a_key_with_an_empty_system_id() {
    let map = with_tracestate("foo@=1,bar=2");
    assert_eq!(
        otel_parent(&map).unwrap().trace_state().header(),
        "foo@=1,bar=2"
    );
    assert!(propagation::extract(&map).trace_state.is_empty());
}

#[test]
fn opentelemetry_sdk_passes_on_a_duplicated_tracestate_key() {
    let map = with_tracestate("foo=1,foo=2");
    assert_eq!(
        otel_parent(&map).unwrap().trace_state().header(),
        "foo=1,foo=2"
    );
    assert!(propagation::extract(&map).trace_state.is_empty());
}
