//! The per-name key limit and the overflow key.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use observe_core::metrics::{OVERFLOW_LABEL, Registry, RequestType};
use tracing_subscriber::layer::SubscriberExt;

use crate::support::WarningCounter;

#[test]
fn past_the_limit_observations_go_to_one_overflow_key() {
    let warnings = Arc::new(AtomicU64::new(0));
    let subscriber = tracing_subscriber::registry().with(WarningCounter {
        needle: "reached its limit",
        count: warnings.clone(),
    });
    let r = Registry::builder().max_keys(3).build().unwrap();
    tracing::subscriber::with_default(subscriber, || {
        for route in 0..5 {
            let h = r.http_server_duration(
                &format!("/r{route}"),
                "GET",
                200,
                "http",
                None,
                RequestType::Standard,
            );
            h.record(1_000 * (route + 1));
            h.record(1_000 * (route + 1));
        }
        // A refused label set asked for again, bypassing the per-thread cache.
        r.duration_histogram("http.server.request.duration", &[("http.route", "/r9")])
            .record(9);
        // Another metric has its own limit, and warns on its own.
        for i in 0..4 {
            r.counter("jobs.done", &[("queue", &i.to_string())]).add(10);
        }
    });
    assert_eq!(warnings.load(Ordering::SeqCst), 2, "one warning per metric");

    let snap = r.snapshot();
    let keys: Vec<_> = snap
        .histograms
        .iter()
        .filter(|h| h.name == "http.server.request.duration")
        .collect();
    assert_eq!(keys.len(), 4, "3 keys and the overflow key");
    let overflow = snap
        .histogram("http.server.request.duration", &[(OVERFLOW_LABEL, "true")])
        .expect("overflow key");
    assert_eq!(
        overflow.cumulative.count, 5,
        "two routes x 2 observations + 1"
    );
    assert_eq!(overflow.cumulative.sum, 4_000 * 2 + 5_000 * 2 + 9);
    let o = snap
        .overflows
        .iter()
        .find(|o| o.name == "http.server.request.duration")
        .unwrap();
    assert_eq!(
        (o.max_keys, o.refused_label_sets, o.overflow_observations),
        (3, 3, 5)
    );

    assert_eq!(
        snap.counter("jobs.done", &[(OVERFLOW_LABEL, "true")])
            .unwrap()
            .value,
        10
    );
    let o = snap
        .overflows
        .iter()
        .find(|o| o.name == "jobs.done")
        .unwrap();
    assert_eq!((o.refused_label_sets, o.overflow_observations), (1, 10));

    let text = r.prometheus_text();
    assert!(
        text.contains(
            "http_server_request_duration_seconds_count{otel_metric_overflow=\"true\"} 5\n"
        ),
        "{text}"
    );
    assert!(text.contains("observe_metrics_overflow_label_sets_total{metric=\"http_server_request_duration_seconds\"} 3\n"));
    assert!(
        text.contains(
            "observe_metrics_overflow_observations_total{metric=\"jobs_done_total\"} 10\n"
        )
    );
}

#[test]
fn raising_the_limit_admits_new_keys_and_existing_keys_stay() {
    let r = Registry::builder().max_keys(1).build().unwrap();
    r.counter("c", &[("k", "a")]).inc();
    r.counter("c", &[("k", "b")]).inc();
    assert!(r.snapshot().counter("c", &[("k", "b")]).is_none());
    r.set_max_keys(10);
    r.counter("c", &[("k", "c")]).inc();
    let snap = r.snapshot();
    assert!(snap.counter("c", &[("k", "a")]).is_some());
    assert!(snap.counter("c", &[("k", "c")]).is_some());
    assert_eq!(
        snap.counter("c", &[(OVERFLOW_LABEL, "true")])
            .unwrap()
            .value,
        1
    );
}
