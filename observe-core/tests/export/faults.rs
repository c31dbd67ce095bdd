//! A collector that is absent, silent, or killed and restarted never holds up the
//! request path, and every span is accounted for: delivered, or counted.

use std::collections::HashSet;
use std::time::Duration;

use observe_core::config::OtlpExport;
use observe_core::export::{ExportStats, Exporter};
use observe_core::span::Span;

use crate::support::{
    Instance, Receiver, Silent, closed_port, resource, settings, unique_span_ids,
};

/// Produces `n` traces of two spans each; returns how many spans were produced.
/// Each call returning is the progress the request path made.
fn produce(n: usize) -> u64 {
    for i in 0..n {
        let root = Span::new("GET /work");
        root.set_attribute("i", i as u64);
        root.in_scope(|| Span::new("step").end());
        root.end();
    }
    2 * n as u64
}

fn accounted(st: &ExportStats) -> u64 {
    st.spans_exported + st.spans_failed + st.spans_dropped + st.spans_queued + st.spans_in_flight
}

fn short_timeout(mut s: OtlpExport) -> OtlpExport {
    s.timeout = Duration::from_millis(300);
    s
}

#[test]
fn collector_absent() {
    let s = short_timeout(OtlpExport::http(format!(
        "http://127.0.0.1:{}/v1/traces",
        closed_port()
    )));
    let exporter = Exporter::start(settings(s, None), &resource()).unwrap();
    let mut inst = Instance::start(&exporter, 1.0, Duration::from_secs(2));
    let mut produced = 0;
    for _ in 0..20 {
        produced += produce(100);
    }
    assert_eq!(produced, 4000, "the request path kept going");
    inst.shutdown();
    let st = exporter.stats();
    let (pipeline_dropped, _) = (0u64, 0u64);
    assert_eq!(st.spans_exported, 0, "{st:?}");
    assert!(st.spans_failed > 0 && st.span_batches_failed > 0, "{st:?}");
    assert!(st.last_error.is_some(), "{st:?}");
    assert_eq!(accounted(&st) + pipeline_dropped, produced, "{st:?}");
    assert_eq!(inst.captured.spans().len() as u64, produced);
}

#[test]
fn collector_accepts_and_never_answers() {
    let silent = Silent::start();
    let s = short_timeout(OtlpExport::http(format!(
        "http://127.0.0.1:{}/v1/traces",
        silent.port
    )));
    let mut st = settings(s, None);
    st.span_batch.max_queue_size = 500;
    let exporter = Exporter::start(st, &resource()).unwrap();
    let mut inst = Instance::start(&exporter, 1.0, Duration::from_secs(2));
    let mut produced = 0;
    for _ in 0..10 {
        produced += produce(500);
        // The silent collector cannot confirm: the flush must just return.
        let _in_time = inst.flush(Duration::from_millis(50));
    }
    assert_eq!(produced, 10_000, "the request path kept going");
    inst.shutdown();
    let st = exporter.stats();
    assert!(silent.connections() > 0, "the exporter did connect");
    assert_eq!(st.spans_exported, 0, "{st:?}");
    assert!(st.spans_failed > 0, "timed-out batches are counted: {st:?}");
    assert!(
        st.spans_dropped > 0,
        "a full queue drops and counts: {st:?}"
    );
    assert_eq!(accounted(&st), produced, "{st:?}");
}

#[test]
fn collector_killed_and_restarted() {
    let Some(rx) = Receiver::start(-1, 0, None) else {
        return;
    };
    let port = rx.http_port;
    let out = rx.out_path();
    let exporter = Exporter::start(
        settings(short_timeout(rx.http("traces")), None),
        &resource(),
    )
    .unwrap();
    let mut inst = Instance::start(&exporter, 1.0, Duration::from_secs(5));

    let mut produced = produce(200);
    assert!(inst.flush(Duration::from_secs(5)));
    let before = unique_span_ids(&rx.records()).len();
    assert_eq!(before as u64, produced, "all delivered while it was up");

    rx.kill();
    produced += produce(200);
    assert!(inst.flush(Duration::from_secs(5)));

    let rx = Receiver::start(-1, port, Some(out)).expect("restart on the same port");
    produced += produce(200);
    assert!(inst.flush(Duration::from_secs(5)));
    inst.shutdown();

    let recs = rx.records();
    let delivered = unique_span_ids(&recs);
    let all: HashSet<String> = inst
        .captured
        .spans()
        .iter()
        .map(|s| s.span_id().to_hex())
        .collect();
    assert_eq!(all.len() as u64, produced);
    assert!(delivered.is_subset(&all), "only spans we produced");
    assert!(
        delivered.len() as u64 > before as u64,
        "delivery resumed after the restart"
    );
    let st = exporter.stats();
    // Every span is delivered or counted (a timed-out batch may also have been
    // delivered, so the counts can overlap, never fall short).
    let counted_lost = st.spans_failed + st.spans_dropped + st.spans_queued + st.spans_in_flight;
    assert!(
        delivered.len() as u64 + counted_lost >= produced,
        "{} delivered + {counted_lost} counted < {produced} produced: {st:?}",
        delivered.len()
    );
    assert!(st.spans_failed > 0, "the outage was counted: {st:?}");
}
