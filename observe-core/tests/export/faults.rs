//! A collector that is absent, silent, refusing, or killed and restarted never holds
//! up the request path, and every span is accounted for: delivered, or counted.
//! Transient failures are retried while the batches wait in the bounded queue, so a
//! short outage loses nothing; a long one drops the oldest spans first; permanent
//! refusals are not retried.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use observe_core::config::OtlpExport;
use observe_core::export::{ExportStats, Exporter};
use observe_core::span::Span;
use serde_json::Value;

use crate::support::{
    Instance, Receiver, Silent, closed_port, resource, settings, spans_of, unique_span_ids,
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
    assert!(st.span_retries > 0, "connection refused is retried: {st:?}");
    assert!(
        st.spans_failed > 0 && st.span_batches_failed > 0,
        "the batch still failing at shutdown: {st:?}"
    );
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

/// Produces `n` traces of two spans each, the roots numbered from `from` (attribute
/// `i`); returns how many spans were produced.
fn produce_from(from: usize, n: usize) -> u64 {
    for i in from..from + n {
        let root = Span::new("GET /work");
        root.set_attribute("i", i as u64);
        root.in_scope(|| Span::new("step").end());
        root.end();
    }
    2 * n as u64
}

/// Produces at a steady, moderate pace (10 traces, 20 spans, every 50 ms: 400 spans
/// a second) for `d`; `next` numbers the roots. Returns how many spans were produced.
fn steady(d: Duration, next: &mut usize) -> u64 {
    let until = Instant::now() + d;
    let mut produced = 0;
    while Instant::now() < until {
        produced += produce_from(*next, 10);
        *next += 10;
        std::thread::sleep(Duration::from_millis(50));
    }
    produced
}

fn span_ids(inst: &Instance) -> HashSet<String> {
    inst.captured
        .spans()
        .iter()
        .map(|s| s.span_id().to_hex())
        .collect()
}

/// Spans flow while the collector is killed for three seconds and restarted on the
/// same port: every span produced arrives, none is counted lost.
fn an_outage_loses_no_span(grpc: bool) {
    let start = |port: i32, out| {
        if grpc {
            Receiver::start(port, -1, out)
        } else {
            Receiver::start(-1, port, out)
        }
    };
    let Some(rx) = start(0, None) else {
        return;
    };
    let port = if grpc { rx.grpc_port } else { rx.http_port };
    let out = rx.out_path();
    #[cfg(feature = "grpc")]
    let target = if grpc { rx.grpc() } else { rx.http("traces") };
    #[cfg(not(feature = "grpc"))]
    let target = rx.http("traces");
    // The default queue (2048 spans) holds these three seconds.
    let exporter = Exporter::start(settings(short_timeout(target), None), &resource()).unwrap();
    let mut inst = Instance::start(&exporter, 1.0, Duration::from_secs(10));

    let mut next = 0;
    let mut produced = steady(Duration::from_millis(500), &mut next);
    rx.kill();
    produced += steady(Duration::from_secs(3), &mut next);
    let during = exporter.stats();
    let rx = start(port, Some(out)).expect("restart on the same port");
    produced += steady(Duration::from_millis(500), &mut next);
    assert!(
        inst.flush(Duration::from_secs(30)),
        "everything is delivered once the collector is back: {:?}",
        exporter.stats()
    );
    inst.shutdown();

    let all = span_ids(&inst);
    assert_eq!(all.len() as u64, produced);
    let delivered = unique_span_ids(&rx.records());
    // With the exporter's counts: a batch whose retries ran out (a slow restart
    // on a loaded machine) shows as failed, one never handed over as dropped.
    assert_eq!(
        delivered.len() as u64,
        produced,
        "every span arrived: {:?}",
        exporter.stats()
    );
    assert_eq!(delivered, all);
    let st = exporter.stats();
    assert!(
        during.span_retries > 0,
        "the outage was retried: {during:?}"
    );
    assert_eq!(st.spans_exported, produced, "{st:?}");
    assert_eq!(
        (
            st.spans_dropped,
            st.spans_failed,
            st.spans_queued,
            st.spans_in_flight
        ),
        (0, 0, 0, 0),
        "nothing lost or left: {st:?}"
    );
}

#[test]
fn an_http_collector_outage_loses_no_span() {
    an_outage_loses_no_span(false);
}

#[cfg(feature = "grpc")]
#[test]
fn a_grpc_collector_outage_loses_no_span() {
    an_outage_loses_no_span(true);
}

/// A longer outage than the queue holds: the oldest spans are dropped (counted),
/// the newest are delivered when the collector returns, and nothing is both.
#[test]
fn a_long_outage_drops_the_oldest_first() {
    let port = closed_port();
    let mut target = short_timeout(OtlpExport::http(format!(
        "http://127.0.0.1:{port}/v1/traces"
    )));
    target.timeout = Duration::from_millis(300);
    let mut st = settings(target, None);
    st.span_batch.max_queue_size = 300;
    st.span_batch.max_export_batch_size = 100;
    let exporter = Exporter::start(st, &resource()).unwrap();
    let mut inst = Instance::start(&exporter, 1.0, Duration::from_secs(10));

    // 500 traces (1000 spans) while nothing listens, in bursts with pauses so the
    // exporter takes batches and retries them meanwhile.
    let mut produced = 0;
    for burst in 0..10 {
        produced += produce_from(burst * 50, 50);
        std::thread::sleep(Duration::from_millis(100));
    }
    let Some(rx) = Receiver::start(-1, port as i32, None) else {
        return;
    };
    // Whether the flush itself drops the batch held (older than what the queue
    // evicted) depends on where the exporter was in its retries: its answer is
    // not checked, what arrived and what was counted is.
    let _ = inst.flush(Duration::from_secs(30));
    inst.shutdown();

    let st = exporter.stats();
    let recs = rx.records();
    let delivered = unique_span_ids(&recs);
    assert_eq!(delivered.len() as u64, st.spans_exported, "{st:?}");
    assert_eq!(
        st.spans_exported + st.spans_dropped,
        produced,
        "every span is delivered or counted as dropped, once: {st:?}"
    );
    assert_eq!(st.spans_failed, 0, "{st:?}");
    assert!(st.spans_dropped > 0 && st.spans_exported > 0, "{st:?}");
    // What arrived is the newest: the roots' numbers are an unbroken run to the end.
    let mut roots: Vec<u64> = spans_of(&recs)
        .iter()
        .filter(|s| s["name"] == "GET /work")
        .map(|s| s["attributes"]["i"].as_u64().expect("i"))
        .collect();
    roots.sort_unstable();
    roots.dedup();
    let first = roots[0];
    assert_eq!(
        roots,
        (first..500).collect::<Vec<_>>(),
        "the oldest were dropped, the newest kept"
    );
}

/// The receiver's own record of the export requests it refused and accepted.
fn requests(recs: &[Value]) -> Vec<(String, u64)> {
    recs.iter()
        .filter(|r| r["signal"] == "refused" || r["signal"] == "accepted")
        .map(|r| {
            (
                r["signal"].as_str().unwrap().to_owned(),
                r["time"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// A collector throttling with `429 Retry-After: 1` twice: the batch waits at least
/// the second it was asked to each time, then arrives, all of it.
#[test]
fn throttling_is_retried_after_the_delay_the_collector_asks_for() {
    let args = [
        "--fail-count",
        "2",
        "--fail-status",
        "429",
        "--retry-after",
        "1",
    ];
    let Some(rx) = Receiver::start_with(-1, 0, None, &args) else {
        return;
    };
    let exporter = Exporter::start(settings(rx.http("traces"), None), &resource()).unwrap();
    let mut inst = Instance::start(&exporter, 1.0, Duration::from_secs(10));
    let produced = produce_from(0, 5);
    assert!(
        inst.flush(Duration::from_secs(20)),
        "{:?}",
        exporter.stats()
    );
    inst.shutdown();

    let recs = rx.records();
    let reqs = requests(&recs);
    let kinds: Vec<&str> = reqs.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(&kinds[..3], ["refused", "refused", "accepted"], "{reqs:?}");
    assert!(kinds[3..].iter().all(|k| *k == "accepted"), "{reqs:?}");
    // Lower bounds only: a retry must not come before the collector's delay.
    let second = 1_000_000_000;
    assert!(
        reqs[1].1 - reqs[0].1 >= second,
        "Retry-After honoured: {reqs:?}"
    );
    assert!(
        reqs[2].1 - reqs[1].1 >= second,
        "Retry-After honoured: {reqs:?}"
    );
    assert_eq!(unique_span_ids(&recs).len() as u64, produced);
    let st = exporter.stats();
    assert_eq!(st.span_retries, 2, "{st:?}");
    assert_eq!(
        (st.spans_exported, st.spans_failed),
        (produced, 0),
        "{st:?}"
    );
}

/// gRPC `UNAVAILABLE` (503) and `RESOURCE_EXHAUSTED` (429) are retried.
#[cfg(feature = "grpc")]
#[test]
fn grpc_unavailable_and_resource_exhausted_are_retried() {
    for status in ["503", "429"] {
        let args = ["--fail-count", "2", "--fail-status", status];
        let Some(rx) = Receiver::start_with(0, -1, None, &args) else {
            return;
        };
        let exporter = Exporter::start(settings(rx.grpc(), None), &resource()).unwrap();
        let mut inst = Instance::start(&exporter, 1.0, Duration::from_secs(10));
        let produced = produce_from(0, 5);
        assert!(
            inst.flush(Duration::from_secs(20)),
            "{:?}",
            exporter.stats()
        );
        inst.shutdown();
        let recs = rx.records();
        assert_eq!(unique_span_ids(&recs).len() as u64, produced, "{status}");
        let st = exporter.stats();
        assert_eq!(st.span_retries, 2, "{status}: {st:?}");
        assert_eq!(
            (st.spans_exported, st.spans_failed),
            (produced, 0),
            "{st:?}"
        );
    }
}

/// A permanent refusal (HTTP 400, gRPC `UNAUTHENTICATED`) is not retried: the batch
/// is counted as failed at once, and the next batch goes out normally.
fn permanent_refusal_is_not_retried(grpc: bool) {
    let status = if grpc { "401" } else { "400" };
    let args = ["--fail-count", "1", "--fail-status", status];
    let Some(rx) = (if grpc {
        Receiver::start_with(0, -1, None, &args)
    } else {
        Receiver::start_with(-1, 0, None, &args)
    }) else {
        return;
    };
    #[cfg(feature = "grpc")]
    let target = if grpc { rx.grpc() } else { rx.http("traces") };
    #[cfg(not(feature = "grpc"))]
    let target = rx.http("traces");
    let exporter = Exporter::start(settings(target, None), &resource()).unwrap();
    let mut inst = Instance::start(&exporter, 1.0, Duration::from_secs(10));
    let mut produced = produce_from(0, 5);
    assert!(
        !inst.flush(Duration::from_secs(10)),
        "the refused batch was not delivered, and the flush says so"
    );
    produced += produce_from(5, 5);
    assert!(
        inst.flush(Duration::from_secs(10)),
        "{:?}",
        exporter.stats()
    );
    inst.shutdown();

    let recs = rx.records();
    let reqs = requests(&recs);
    assert_eq!(
        reqs.iter().filter(|(k, _)| k == "refused").count(),
        1,
        "{reqs:?}"
    );
    let st = exporter.stats();
    assert_eq!(st.span_retries, 0, "{st:?}");
    assert_eq!(st.span_batches_failed, 1, "{st:?}");
    assert!(st.spans_failed > 0, "{st:?}");
    assert_eq!(st.spans_failed + st.spans_exported, produced, "{st:?}");
    assert_eq!(unique_span_ids(&recs).len() as u64, st.spans_exported);
}

#[test]
fn an_http_400_is_not_retried() {
    permanent_refusal_is_not_retried(false);
}

#[cfg(feature = "grpc")]
#[test]
fn a_grpc_unauthenticated_is_not_retried() {
    permanent_refusal_is_not_retried(true);
}
