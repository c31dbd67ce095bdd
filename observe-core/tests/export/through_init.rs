//! The whole path a user gets from configuration alone: `Observe::builder()` with
//! one OTLP endpoint sends spans, logs and metrics (exponential histograms) to a
//! real receiver, and the flight recorder keeps what head sampling dropped.

use std::time::Duration;

use observe_core::config::{BatchConfig, Protocol, Sampler};
use observe_core::span::Span;
use serde_json::Value;

use crate::support::Receiver;

/// A builder exporting every span and log record to `endpoint` within 50 ms of
/// their end, writing no log lines.
fn every_span_exported(
    service: &str,
    endpoint: String,
    protocol: Protocol,
) -> observe_core::Builder {
    let mut batch = BatchConfig::SPANS;
    batch.schedule_delay = Duration::from_millis(50);
    observe_core::Observe::builder()
        .ignore_env()
        .service_name(service)
        .otlp_endpoint(endpoint)
        .otlp_protocol(protocol)
        .span_batch(batch)
        .log_batch(batch)
        .log_output(observe_core::config::LogOutput::None)
        .sampler(Sampler::ParentBasedTraceIdRatio(1.0))
}

/// Sends a span with a child, a log line and a histogram through an observe built
/// from configuration alone, then checks what `rx` received (directly or through a
/// collector, `collector.rs`). `metric` names a histogram of this test only: the
/// registry is process-wide.
pub(crate) fn run(rx: &Receiver, protocol: Protocol, endpoint: String, metric: &str) {
    let observe = every_span_exported("through-init", endpoint, protocol)
        .metric_export_interval(Duration::from_millis(200))
        .build()
        .expect("starts")
        .expect("enabled");
    {
        let _d = observe.set_default();
        let span = Span::new("checkout");
        span.in_scope(|| {
            Span::new("price").in_scope(|| tracing::info!(items = 3u64, "basket priced"));
            observe_core::metrics::histogram(
                metric,
                observe_core::metrics::Unit::None,
                &[("currency", "EUR")],
            )
            .record(4_200);
        });
        drop(span);
    }
    assert!(
        observe.recorder().is_some(),
        "the flight recorder is on by default"
    );
    assert!(
        observe.shutdown(),
        "everything delivered before the deadline"
    );

    let records = rx.wait_for(Duration::from_secs(20), |r| {
        let has = |signal: &str| r.iter().any(|v| v["signal"] == signal);
        r.iter().filter(|v| v["signal"] == "span").count() >= 2 && has("log") && has("metric")
    });
    let span_named = |name: &str| {
        records
            .iter()
            .find(|v| v["signal"] == "span" && v["name"] == name)
            .unwrap_or_else(|| panic!("the span {name:?} arrived: {records:#?}"))
    };
    let (span, child) = (span_named("checkout"), span_named("price"));
    assert_eq!(span["resource"]["service.name"], "through-init");
    assert_eq!(child["trace_id"], span["trace_id"]);
    assert_eq!(child["parent_span_id"], span["span_id"]);
    let log = records
        .iter()
        .find(|v| v["signal"] == "log" && v["body"] == "basket priced")
        .expect("the log arrived");
    assert_eq!(log["trace_id"], span["trace_id"]);
    assert_eq!(log["span_id"], child["span_id"]);
    assert_eq!(log["attributes"]["items"], 3);
    let metric: Vec<&Value> = records
        .iter()
        .filter(|v| v["signal"] == "metric" && v["name"] == metric)
        .collect();
    let last = metric.last().expect("the histogram arrived");
    assert_eq!(last["kind"], "exponential_histogram");
    assert_eq!(last["count"], 1);
    assert_eq!(last["bucket_total"], 1, "bucket counts sum to the count");
    assert_eq!(last["attributes"]["currency"], "EUR");
    assert_eq!(last["resource"]["service.name"], "through-init");
}

#[test]
fn one_endpoint_carries_spans_logs_and_metrics_over_http() {
    let Some(rx) = Receiver::start(-1, 0, None) else {
        return;
    };
    let endpoint = format!("http://127.0.0.1:{}", rx.http_port);
    run(
        &rx,
        Protocol::HttpProtobuf,
        endpoint,
        "through_init.http.basket_value",
    );
}

#[cfg(feature = "grpc")]
#[test]
fn one_endpoint_carries_spans_logs_and_metrics_over_grpc() {
    let Some(rx) = Receiver::start(0, -1, None) else {
        return;
    };
    let endpoint = format!("http://127.0.0.1:{}", rx.grpc_port);
    run(
        &rx,
        Protocol::Grpc,
        endpoint,
        "through_init.grpc.basket_value",
    );
}

#[test]
fn slo_series_go_out_with_the_otlp_metrics() {
    let Some(rx) = Receiver::start(-1, 0, None) else {
        return;
    };
    let observe = observe_core::Observe::builder()
        .ignore_env()
        .service_name("slo-export")
        .otlp_endpoint(format!("http://127.0.0.1:{}", rx.http_port))
        .otlp_protocol(Protocol::HttpProtobuf)
        .metric_export_interval(Duration::from_millis(200))
        .log_output(observe_core::config::LogOutput::None)
        .slo(observe_core::slo::Slo::availability("GET /slo-export", 0.99).named("slo-export-up"))
        .build()
        .expect("starts")
        .expect("enabled");
    let is = |v: &Value, name: &str| {
        v["signal"] == "metric" && v["name"] == name && v["attributes"]["slo"] == "slo-export-up"
    };
    // The engine evaluates about once a second; its first status then goes out
    // with the next export.
    let records = rx.wait_for(Duration::from_secs(20), |r| {
        r.iter().any(|v| is(v, "observe.slo.objective"))
            && r.iter().any(|v| is(v, "observe.slo.requests"))
    });
    drop(observe);
    let objective = records
        .iter()
        .find(|v| is(v, "observe.slo.objective"))
        .unwrap_or_else(|| panic!("observe.slo.objective arrived: {records:#?}"));
    assert_eq!(objective["kind"], "gauge");
    assert_eq!(objective["value"], 0.99);
    assert_eq!(objective["resource"]["service.name"], "slo-export");
    let requests = records
        .iter()
        .find(|v| is(v, "observe.slo.requests"))
        .expect("observe.slo.requests arrived");
    assert_eq!(requests["kind"], "sum");
    assert_eq!(requests["monotonic"], true);
    assert_eq!(requests["value"], 0, "no request yet");
}

/// `observe.export.items` counts each signal's items by result: the log records
/// delivered show as `logs`/`exported`, not only the losses.
#[test]
fn delivered_logs_are_counted_as_exported_on_metrics() {
    let Some(rx) = Receiver::start(-1, 0, None) else {
        return;
    };
    let observe = every_span_exported(
        "export-items",
        format!("http://127.0.0.1:{}", rx.http_port),
        Protocol::HttpProtobuf,
    )
    .build()
    .expect("starts")
    .expect("enabled");
    let _d = observe.set_default();
    Span::new("job").in_scope(|| {
        for i in 0..3u64 {
            tracing::info!(i, "exported line");
        }
    });
    assert!(observe.flush(Duration::from_secs(10)), "delivered");
    let series = |result: &str| -> f64 {
        observe_core::metrics::prometheus_text()
            .lines()
            .filter(|l| l.starts_with("observe_export_items_total{"))
            .filter(|l| {
                l.contains("signal=\"logs\"") && l.contains(&format!("result=\"{result}\""))
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    // Published by the worker once a second.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while series("exported") < 3.0 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        series("exported") >= 3.0,
        "{}",
        observe_core::metrics::prometheus_text()
    );
    assert_eq!(series("dropped"), 0.0);
}
