//! Tail promotion: with head sampling at 0, a failing or slow request's whole
//! local trace is still exported, marked with why.

use std::time::Duration;

use observe_core::config::ExportConfig;
use observe_core::config::Service;
use observe_core::export::Exporter;
use observe_core::recorder::{FlightRecorder, RecorderSettings, SlowThreshold};
use observe_core::sink::Sink;
use observe_core::span::Span;
use opentelemetry::trace::Status;
use opentelemetry_sdk::trace::SpanData;

use crate::Collect;

fn attr(s: &SpanData, key: &str) -> Option<String> {
    s.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.to_string())
}

fn setup(slow: SlowThreshold) -> (Collect, Exporter, FlightRecorder, Vec<Box<dyn Sink>>) {
    let collect = Collect::default();
    let exporter = Exporter::with_exporters(
        ExportConfig::default(),
        &Service::default(),
        Some(collect.clone()),
        None::<opentelemetry_sdk::logs::InMemoryLogExporter>,
    )
    .expect("exporter");
    let recorder = FlightRecorder::new(RecorderSettings {
        slow,
        ..RecorderSettings::default()
    });
    let sinks: Vec<Box<dyn Sink>> = vec![
        Box::new(recorder.sink_promoting_to(exporter.clone())),
        Box::new(exporter.sink()),
    ];
    (collect, exporter, recorder, sinks)
}

#[test]
fn a_failing_request_is_exported_whole_with_sampling_at_zero() {
    let _q = crate::QUIET.read().unwrap_or_else(|e| e.into_inner());
    let (collect, exporter, recorder, sinks) = setup(SlowThreshold::Off);
    let observe = crate::start(0.0, sinks);
    let guard = observe.set_default();

    // Fine requests: recorded, not exported.
    for _ in 0..10 {
        Span::new("GET /ok").in_scope(|| Span::new("db").end());
    }
    // The failing one: three spans and a log line; the error is on the root.
    let root = Span::new("POST /checkout");
    let trace = root.span_context().unwrap().trace_id;
    root.in_scope(|| {
        Span::new("validate").end();
        Span::new("charge").in_scope(|| tracing::warn!(card = "declined", "payment refused"));
    });
    root.set_error("payment failed");
    root.end();
    drop(guard);
    assert!(observe.shutdown());

    let exported = collect.0.lock().unwrap().clone();
    let mut names: Vec<&str> = exported.iter().map(|s| s.name.as_ref()).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        ["POST /checkout", "charge", "validate"],
        "only the failed trace"
    );
    for s in &exported {
        assert_eq!(s.span_context.trace_id().to_bytes(), trace.to_bytes());
        assert!(s.span_context.is_sampled(), "exported as sampled");
        assert_eq!(attr(s, "observe.promoted").as_deref(), Some("error"));
    }
    let root = exported
        .iter()
        .find(|s| s.name == "POST /checkout")
        .unwrap();
    assert_eq!(root.status, Status::error("payment failed"));
    let charge = exported.iter().find(|s| s.name == "charge").unwrap();
    assert_eq!(charge.events.len(), 1, "its log line, as a span event");
    assert_eq!(charge.events[0].name, "payment refused");

    let st = exporter.stats();
    assert_eq!((st.spans_promoted, st.spans_exported), (3, 3), "{st:?}");
    let failed = recorder.failed(10);
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].promoted, Some("error"));
    assert_eq!(recorder.stats().promoted_traces, 1);
    assert_eq!(recorder.stats().spans, 23, "every span is in the recorder");
}

#[test]
fn a_slow_request_is_promoted_with_a_fixed_threshold() {
    let _q = crate::QUIET.read().unwrap_or_else(|e| e.into_inner());
    let (collect, _exporter, recorder, sinks) =
        setup(SlowThreshold::Fixed(Duration::from_millis(30)));
    let observe = crate::start(0.0, sinks);
    let guard = observe.set_default();
    Span::new("GET /fast").end();
    Span::new("GET /slow").in_scope(|| {
        Span::new("sleepy").in_scope(|| std::thread::sleep(Duration::from_millis(40)));
    });
    drop(guard);
    assert!(observe.shutdown());
    let exported = collect.0.lock().unwrap().clone();
    let mut names: Vec<&str> = exported.iter().map(|s| s.name.as_ref()).collect();
    names.sort_unstable();
    assert_eq!(names, ["GET /slow", "sleepy"]);
    assert!(
        exported
            .iter()
            .all(|s| attr(s, "observe.promoted").as_deref() == Some("slow"))
    );
    assert_eq!(
        recorder.slowest(1)[0].root_name.as_deref(),
        Some("GET /slow")
    );
}

#[test]
fn the_running_p99_promotes_the_slowest_requests_of_a_route() {
    let _q = crate::QUIET.read().unwrap_or_else(|e| e.into_inner());
    let (collect, _exporter, _recorder, sinks) = setup(SlowThreshold::Percentile {
        quantile: 0.5,
        min_samples: 20,
    });
    let observe = crate::start(0.0, sinks);
    let guard = observe.set_default();
    // History: 40 quick requests; the threshold is computed on the worker's
    // tick, about once a second: wait for it without a timed assertion.
    for _ in 0..40 {
        Span::new("GET /p").end();
    }
    assert!(observe.flush(Duration::from_secs(5)));
    std::thread::sleep(Duration::from_millis(1200));
    assert!(observe.flush(Duration::from_secs(5)));
    Span::new("GET /p").in_scope(|| std::thread::sleep(Duration::from_millis(20)));
    drop(guard);
    assert!(observe.shutdown());
    let exported = collect.0.lock().unwrap().clone();
    assert_eq!(exported.len(), 1, "only the outlier: {exported:?}");
    assert_eq!(
        attr(&exported[0], "observe.promoted").as_deref(),
        Some("slow")
    );
}

#[test]
fn sampled_traces_are_not_exported_twice() {
    let _q = crate::QUIET.read().unwrap_or_else(|e| e.into_inner());
    let (collect, exporter, _recorder, sinks) = setup(SlowThreshold::Off);
    let observe = crate::start(1.0, sinks);
    let guard = observe.set_default();
    let root = Span::new("GET /boom");
    root.in_scope(|| Span::new("inner").end());
    root.set_error("boom");
    root.end();
    drop(guard);
    assert!(observe.shutdown());
    let exported = collect.0.lock().unwrap().clone();
    assert_eq!(exported.len(), 2);
    assert!(
        exported
            .iter()
            .all(|s| attr(s, "observe.promoted").is_none())
    );
    assert_eq!(exporter.stats().spans_promoted, 0);
}

#[test]
fn a_trace_id_reused_by_failing_requests_is_exported_once_not_again_with_each() {
    // A caller may send every request with the same `traceparent`. Each failing
    // request is a local root of that one trace; promoting the whole trace again
    // for each would copy every request before it, its cost growing with them.
    let _q = crate::QUIET.read().unwrap_or_else(|e| e.into_inner());
    let (collect, exporter, _recorder, sinks) = setup(SlowThreshold::Off);
    let observe = crate::start(0.0, sinks);
    let guard = observe.set_default();
    let caller = observe_core::ids::SpanContext {
        trace_id: observe_core::ids::TraceId::new(0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736),
        span_id: observe_core::ids::SpanId::new(0x00f0_67aa_0ba9_02b7),
        flags: observe_core::ids::TraceFlags::default(),
        is_remote: true,
    };
    const REQUESTS: usize = 30;
    for _ in 0..REQUESTS {
        let root = Span::builder("POST /pay")
            .parent(observe_core::span::Parent::Remote(caller))
            .start();
        root.in_scope(|| Span::new("charge").end());
        root.set_error("refused");
        root.end();
        // One drain per request, as requests come apart in time.
        assert!(observe.flush(Duration::from_secs(10)));
    }
    drop(guard);
    assert!(observe.shutdown());
    let exported = collect.0.lock().unwrap().len();
    assert_eq!(exported, 2 * REQUESTS, "each span once");
    assert_eq!(exporter.stats().spans_promoted, 2 * REQUESTS as u64);
}
