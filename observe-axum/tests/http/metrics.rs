//! Latency histograms per route template, in-flight gauge, and the admin routes.

use axum::Router;
use axum::routing::get;
use observe_core::metrics;

use crate::support::*;

#[tokio::test]
async fn every_request_lands_in_the_histogram_of_its_route_template() {
    let _h = Harness::new();
    // A route no other test uses: the registry is process-wide.
    let app = Router::new()
        .route("/metrics-test/{id}", get(|| async { "ok" }))
        .route(
            "/metrics-test/fail/{id}",
            get(|| async { http::StatusCode::INTERNAL_SERVER_ERROR }),
        )
        .layer(observe_axum::layer());
    let base = spawn(app).await;
    for id in 0..5 {
        client()
            .get(format!("{base}/metrics-test/{id}"))
            .send()
            .await
            .unwrap();
    }
    client()
        .get(format!("{base}/metrics-test/fail/1"))
        .header("traceparent", TRACEPARENT)
        .send()
        .await
        .unwrap();

    let snap = metrics::snapshot();
    let ok = snap
        .histogram(
            "http.server.request.duration",
            &[
                ("http.route", "/metrics-test/{id}"),
                ("http.request.method", "GET"),
                ("http.response.status_code", "200"),
                ("url.scheme", "http"),
                ("request_type", "standard"),
            ],
        )
        .expect("a key per route template, never per raw path");
    assert_eq!(ok.cumulative.count, 5);
    assert_eq!(ok.cumulative.errors, 0);
    let failed = snap
        .histogram(
            "http.server.request.duration",
            &[
                ("http.route", "/metrics-test/fail/{id}"),
                ("http.request.method", "GET"),
                ("http.response.status_code", "500"),
                ("url.scheme", "http"),
                ("error.type", "500"),
                ("request_type", "standard"),
            ],
        )
        .unwrap();
    assert_eq!(failed.cumulative.count, 1);
    assert_eq!(failed.cumulative.errors, 1);
    let exemplar = serde_json::to_value(failed).unwrap().to_string();
    assert!(
        exemplar.contains(TRACE),
        "the failing trace is an exemplar: {exemplar}"
    );
    assert!(
        snap.histograms
            .iter()
            .all(|h| !h.labels.values().any(|v| v.starts_with("/metrics-test/0"))),
        "no raw path as a label"
    );
}

#[tokio::test]
async fn the_admin_routes_serve_prometheus_text_and_json() {
    let _h = Harness::new();
    let app = Router::new()
        .route("/admin-test", get(|| async { "ok" }))
        .layer(observe_axum::layer());
    let base = spawn(app).await;
    client()
        .get(format!("{base}/admin-test"))
        .send()
        .await
        .unwrap();
    let admin = spawn(observe_axum::admin_routes()).await;

    let response = client()
        .get(format!("{admin}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = response.text().await.unwrap();
    let line = text
        .lines()
        .find(|l| {
            l.starts_with("http_server_request_duration_seconds_count")
                && l.contains(r#"http_route="/admin-test""#)
        })
        .unwrap_or_else(|| panic!("no count line for the route in:\n{text}"));
    assert!(line.ends_with(" 1"), "{line}");
    assert!(
        text.contains("http_server_active_requests"),
        "the in-flight gauge"
    );

    let json = get_json(format!("{admin}/observe/api/metrics")).await;
    assert!(
        json["histograms"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["labels"]["http.route"] == "/admin-test")
    );
    let export = get_json(format!("{admin}/observe/api/histograms")).await;
    let text = export.to_string();
    let parsed = metrics::HistogramExport::from_json(&text).expect("lossless export parses");
    assert!(!parsed.series.is_empty());
}
