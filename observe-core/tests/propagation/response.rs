//! Response side: `traceresponse` (W3C Trace Context Level 2 draft) and
//! `Server-Timing: observe;dur=<ms>` (W3C Server Timing).

use std::time::Duration;

use observe_core::propagation::{
    RejectReason, SERVER_TIMING, SERVER_TIMING_MAX_LEN, TRACERESPONSE, TraceparentError,
    extract_response, format_server_timing, format_traceresponse, inject_response,
    parse_server_timing, parse_traceresponse,
};

use crate::{headers, span};

#[test]
fn traceresponse_round_trips_with_its_flags() {
    let server = span(0x0af7651916cd43dd8448eb211c80319c, 0xb7ad6b7169203331, 0x03);
    let value = format_traceresponse(&server);
    assert_eq!(
        value.as_str(),
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-03"
    );
    let parsed = parse_traceresponse(value.as_bytes()).unwrap();
    assert_eq!(
        (parsed.trace_id, parsed.span_id, parsed.flags),
        (server.trace_id, server.span_id, server.flags)
    );
    assert!(parsed.is_remote);
}

#[test]
fn traceresponse_follows_the_traceparent_rules() {
    let zero_child = b"00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01";
    assert_eq!(
        parse_traceresponse(zero_child),
        Err(TraceparentError::ZeroSpanId)
    );
    let upper = b"00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01";
    assert_eq!(parse_traceresponse(upper), Err(TraceparentError::TraceId));
    assert_eq!(
        parse_traceresponse(b"ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
        Err(TraceparentError::VersionForbidden)
    );
}

#[test]
fn server_timing_is_formatted_in_milliseconds_with_microsecond_resolution() {
    assert_eq!(
        format_server_timing(Duration::from_millis(53)).as_str(),
        "observe;dur=53.000"
    );
    assert_eq!(
        format_server_timing(Duration::from_nanos(47_200_900)).as_str(),
        "observe;dur=47.200"
    );
}

#[test]
fn server_timing_finds_observe_among_several_metrics() {
    let value = br#"miss, db;dur=53, cache;desc="Cache Read, hit; cold";dur=23.2, observe;dur=47.2, total;dur=123.4"#;
    assert_eq!(
        parse_server_timing(value),
        Some(Duration::from_micros(47_200))
    );
}

#[test]
fn server_timing_names_compare_case_insensitively() {
    assert_eq!(
        parse_server_timing(b"Observe;DUR=5"),
        Some(Duration::from_millis(5))
    );
}

#[test]
fn server_timing_allows_whitespace_and_other_params() {
    assert_eq!(
        parse_server_timing(b" observe ; desc=\"x;y\" ; dur = 7.5 "),
        Some(Duration::from_micros(7_500))
    );
}

#[test]
fn server_timing_counts_only_the_first_dur_of_a_metric() {
    assert_eq!(
        parse_server_timing(b"observe;dur=1;dur=2"),
        Some(Duration::from_millis(1))
    );
    assert_eq!(parse_server_timing(b"observe;dur=x;dur=2"), None);
}

#[test]
fn server_timing_tries_the_next_observe_metric() {
    assert_eq!(
        parse_server_timing(b"observe;desc=a, observe;dur=9"),
        Some(Duration::from_millis(9))
    );
}

#[test]
fn server_timing_stops_at_the_first_observe_dur() {
    // The first `dur` of the first `observe` metric that has one decides, even
    // when unreadable; nothing after it is read.
    assert_eq!(parse_server_timing(b"observe;dur=x, observe;dur=9"), None);
    assert_eq!(
        parse_server_timing(b"observe;dur=3, observe;dur=9"),
        Some(Duration::from_millis(3))
    );
    let long = format!("observe;dur={}", "1".repeat(33));
    assert_eq!(
        parse_server_timing(long.as_bytes()),
        None,
        "over 32 characters"
    );
}

#[test]
fn server_timing_reads_at_most_2048_bytes() {
    let others = "db;dur=1, ".repeat(204); // 2040 bytes
    let within = format!("{others}observe;dur=5");
    assert!(within.len() > SERVER_TIMING_MAX_LEN);
    assert_eq!(
        parse_server_timing(within.as_bytes()),
        None,
        "cut: not read"
    );
    let others = "db;dur=1, ".repeat(200); // 2000 bytes
    let within = format!("{others}observe;dur=5");
    assert_eq!(
        parse_server_timing(within.as_bytes()),
        Some(Duration::from_millis(5))
    );
    // Repeated headers share the budget.
    let map = headers(&[
        (SERVER_TIMING, others.as_bytes()),
        (SERVER_TIMING, "x".repeat(40).as_bytes()),
        (SERVER_TIMING, b"observe;dur=5"),
    ]);
    assert_eq!(extract_response(&map).server_duration, None);
}

#[test]
fn server_timing_ignores_other_metrics_durations() {
    assert_eq!(parse_server_timing(b"db;dur=53, observe"), None);
    assert_eq!(parse_server_timing(b"observer;dur=1, xobserve;dur=2"), None);
    assert_eq!(parse_server_timing(b"app;desc=\"observe;dur=3\""), None);
}

#[test]
fn server_timing_rejects_negative_and_unreadable_durations() {
    assert_eq!(parse_server_timing(b"observe;dur=-5"), None);
    assert_eq!(parse_server_timing(b"observe;dur=NaN"), None);
    assert_eq!(parse_server_timing(b"observe;dur="), None);
    assert_eq!(parse_server_timing(b"\xff;dur=1"), None);
}

#[test]
fn response_headers_round_trip_through_a_header_map() {
    let server = span(7, 9, 0x01);
    let mut map = http::HeaderMap::new();
    inject_response(&server, Some(Duration::from_micros(1_234)), &mut map);
    assert_eq!(map[SERVER_TIMING], "observe;dur=1.234");
    let read = extract_response(&map);
    assert_eq!(
        read.callee.map(|c| (c.trace_id, c.span_id)),
        Some((server.trace_id, server.span_id))
    );
    assert_eq!(read.server_duration, Some(Duration::from_micros(1_234)));
    assert!(read.rejections.is_empty());
}

#[test]
fn extract_response_reads_every_server_timing_header() {
    let map = headers(&[
        (SERVER_TIMING, b"miss, db;dur=53"),
        ("Server-Timing", b"observe;dur=2"),
    ]);
    assert_eq!(
        extract_response(&map).server_duration,
        Some(Duration::from_millis(2))
    );
}

#[test]
fn extract_response_reports_an_invalid_traceresponse() {
    let map = headers(&[(
        TRACERESPONSE,
        b"00-00000000000000000000000000000000-b7ad6b7169203331-01",
    )]);
    let read = extract_response(&map);
    assert_eq!(read.callee, None);
    let rejection = read.rejections.iter().next().unwrap();
    assert_eq!(rejection.header, TRACERESPONSE);
    assert_eq!(
        rejection.reason,
        RejectReason::Traceresponse(TraceparentError::ZeroTraceId)
    );
}

#[test]
fn inject_response_without_a_valid_span_writes_only_server_timing() {
    let mut map = http::HeaderMap::new();
    inject_response(&span(0, 0, 0), Some(Duration::ZERO), &mut map);
    assert!(!map.contains_key(TRACERESPONSE));
    assert_eq!(map[SERVER_TIMING], "observe;dur=0.000");
}
