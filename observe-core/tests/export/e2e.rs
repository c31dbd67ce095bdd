//! What a collector receives: ids, parent links, attributes, events, status,
//! resource, and logs carrying the right trace and span ids.

use std::time::Duration;

use observe_core::config::OtlpExport;
use observe_core::export::Exporter;
use observe_core::span::{Callsite, KeyValue, Span, SpanKind};
use observe_core::{SpanContext, SpanId, TraceFlags, TraceId};
use serde_json::Value;

use crate::support::{Instance, Receiver, logs_of, resource, settings, spans_of};

static LOAD_ORDER: Callsite = Callsite::new(
    "load_order",
    "shop::orders::load_order",
    "src/orders.rs",
    42,
    tracing_core::Level::INFO,
    SpanKind::Internal,
);

/// Produces one request's worth of telemetry and checks what the receiver decoded.
fn round_trip(receiver: &Receiver, traces: OtlpExport, logs: OtlpExport, transport: &str) {
    let exporter = Exporter::start(settings(traces, Some(logs)), &resource()).expect("exporter");
    let mut inst = Instance::start(&exporter, 1.0, Duration::from_secs(5));
    let linked = SpanContext {
        trace_id: TraceId::random(),
        span_id: SpanId::random(),
        flags: TraceFlags::SAMPLED,
        is_remote: true,
    };
    let root = Span::builder("GET /orders/{id}")
        .kind(SpanKind::Server)
        .attribute("http.route", "/orders/{id}")
        .attribute("http.response.status_code", 500i64)
        .link(linked, vec![KeyValue::new("link.reason", "retry")])
        .start();
    root.in_scope(|| {
        let child = Span::builder("load_order").callsite(&LOAD_ORDER).start();
        child.in_scope(|| {
            tracing::info!(order_id = 17, "order loaded");
        });
        child.add_event("cache.miss", vec![KeyValue::new("cache.key", "o-17")]);
        child.set_error("database unavailable");
        child.end();
    });
    root.set_error("internal error");
    root.end();
    tracing::warn!(disk = "full", "outside any span");
    assert!(inst.flush(Duration::from_secs(10)), "flush in time");

    let recs = receiver.wait_for(Duration::from_secs(10), |r| {
        spans_of(r).len() >= 2 && logs_of(r).len() >= 2
    });
    let spans = spans_of(&recs);
    let logs = logs_of(&recs);
    assert_eq!(spans.len(), 2, "{recs:#?}");
    assert_eq!(logs.len(), 2, "{recs:#?}");

    let produced_root = inst.captured.span("GET /orders/{id}");
    let produced_child = inst.captured.span("load_order");
    let by_name = |n: &str| *spans.iter().find(|s| s["name"] == n).expect(n);
    let (r, c) = (by_name("GET /orders/{id}"), by_name("load_order"));

    // Ids and parent links.
    assert_eq!(r["trace_id"], produced_root.trace_id().to_hex());
    assert_eq!(r["span_id"], produced_root.span_id().to_hex());
    assert_eq!(r["parent_span_id"], "");
    assert_eq!(c["trace_id"], r["trace_id"]);
    assert_eq!(c["span_id"], produced_child.span_id().to_hex());
    assert_eq!(c["parent_span_id"], r["span_id"]);
    for s in [r, c] {
        assert_eq!(s["transport"], transport);
        assert_eq!(s["scope"], "observe");
        assert!(s["end"].as_u64() >= s["start"].as_u64());
    }

    // Kind, attributes, links, status.
    assert_eq!(r["kind"], 2, "SPAN_KIND_SERVER");
    assert_eq!(c["kind"], 1, "SPAN_KIND_INTERNAL");
    assert_eq!(r["attributes"]["http.route"], "/orders/{id}");
    assert_eq!(r["attributes"]["http.response.status_code"], 500);
    assert_eq!(r["attributes"]["observe.request_type"], "standard");
    assert_eq!(r["links"][0]["trace_id"], linked.trace_id.to_hex());
    assert_eq!(r["links"][0]["span_id"], linked.span_id.to_hex());
    assert_eq!(r["links"][0]["attributes"]["link.reason"], "retry");
    assert_eq!(r["status"]["code"], 2);
    assert_eq!(r["status"]["message"], "internal error");
    assert_eq!(c["status"]["message"], "database unavailable");

    // Code location from the callsite.
    assert_eq!(c["attributes"]["code.function"], "shop::orders::load_order");
    assert_eq!(c["attributes"]["code.filepath"], "src/orders.rs");
    assert_eq!(c["attributes"]["code.lineno"], 42);
    // And under the stable semantic-convention names.
    assert_eq!(
        c["attributes"]["code.function.name"],
        "shop::orders::load_order"
    );
    assert_eq!(c["attributes"]["code.file.path"], "src/orders.rs");
    assert_eq!(c["attributes"]["code.line.number"], 42);

    // Events: the span's own, and the log line written inside it.
    let events: Vec<&str> = c["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(events, ["order loaded", "cache.miss"], "in time order");
    assert_eq!(c["events"][0]["attributes"]["order_id"], 17);
    assert_eq!(c["events"][0]["attributes"]["level"], "INFO");
    assert_eq!(c["events"][1]["attributes"]["cache.key"], "o-17");

    // Resource.
    let res = &r["resource"];
    assert_eq!(res["service.name"], "shop");
    assert_eq!(res["service.version"], "1.4.2");
    assert_eq!(res["deployment.environment.name"], "test");
    assert_eq!(res["host.name"], "web-1");
    assert_eq!(res["cloud.region"], "eu-1");
    assert_eq!(res["observe.team"], "checkout");
    assert_eq!(res["process.pid"], std::process::id());

    // Logs carry the trace and span id of the span they were written in.
    let inside = *logs.iter().find(|l| l["body"] == "order loaded").unwrap();
    assert_eq!(inside["trace_id"], produced_child.trace_id().to_hex());
    assert_eq!(inside["span_id"], produced_child.span_id().to_hex());
    assert_eq!(inside["severity_text"], "INFO");
    assert_eq!(inside["severity_number"], 9);
    assert_eq!(inside["attributes"]["order_id"], 17);
    assert_eq!(inside["resource"]["service.name"], "shop");
    let outside = *logs
        .iter()
        .find(|l| l["body"] == "outside any span")
        .unwrap();
    assert_eq!(outside["trace_id"], "");
    assert_eq!(outside["span_id"], "");
    assert_eq!(outside["attributes"]["disk"], "full");

    assert!(inst.shutdown());
    let st = exporter.stats();
    assert_eq!((st.spans_exported, st.logs_exported), (2, 2), "{st:?}");
    assert_eq!((st.spans_failed, st.spans_dropped), (0, 0), "{st:?}");
}

#[test]
fn http_protobuf_round_trip() {
    let Some(rx) = Receiver::start(-1, 0, None) else {
        return;
    };
    round_trip(&rx, rx.http("traces"), rx.http("logs"), "http");
}

#[cfg(feature = "grpc")]
#[test]
fn grpc_round_trip() {
    let Some(rx) = Receiver::start(0, -1, None) else {
        return;
    };
    round_trip(&rx, rx.grpc(), rx.grpc(), "grpc");
}

#[cfg(feature = "gzip")]
#[test]
fn http_gzip_round_trip() {
    let Some(rx) = Receiver::start(-1, 0, None) else {
        return;
    };
    let gz = |mut s: OtlpExport| {
        s.compression = observe_core::config::Compression::Gzip;
        s
    };
    round_trip(&rx, gz(rx.http("traces")), gz(rx.http("logs")), "http");
}

#[test]
fn bad_headers_and_endpoints_are_refused() {
    // Header names and values are checked when the configuration is resolved, so a
    // bad one never reaches the exporter.
    let e = observe_core::Builder::new()
        .ignore_env()
        .otlp_endpoint("http://127.0.0.1:1")
        .otlp_header("bad header", "x")
        .build_config()
        .unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("otlp_header") && msg.contains("bad header"),
        "{msg}"
    );

    let e =
        Exporter::start(settings(OtlpExport::http("not a url"), None), &resource()).unwrap_err();
    assert!(e.to_string().contains("not a url"), "{e}");
}

#[cfg(not(feature = "grpc"))]
#[test]
fn grpc_without_the_feature_is_a_clear_error() {
    let e = Exporter::start(
        settings(OtlpExport::grpc("http://127.0.0.1:4317"), None),
        &resource(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("`grpc` feature"), "{e}");
}

/// Unsampled spans are not exported; the head sampling decision is per trace.
#[test]
fn only_sampled_traces_are_exported() {
    let Some(rx) = Receiver::start(-1, 0, None) else {
        return;
    };
    let exporter = Exporter::start(settings(rx.http("traces"), None), &resource()).unwrap();
    let mut inst = Instance::start(&exporter, 0.0, Duration::from_secs(5));
    for _ in 0..20 {
        Span::new("unsampled").in_scope(|| Span::new("child").end());
    }
    observe_core::sampling::set_ratio(1.0).unwrap();
    Span::new("sampled").in_scope(|| Span::new("child").end());
    assert!(inst.shutdown());
    let recs = rx.wait_for(Duration::from_secs(5), |r| spans_of(r).len() >= 2);
    let names: Vec<&Value> = spans_of(&recs).iter().map(|s| &s["name"]).collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names.iter().all(|n| *n == "sampled" || *n == "child"));
    assert_eq!(exporter.stats().spans_exported, 2);
    assert_eq!(inst.captured.spans().len(), 42, "all recorded");
}
