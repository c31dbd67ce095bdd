//! Latency rows and one key's percentile distribution, over HTTP.

use observe_core::context::RequestType;
use observe_core::ids::TraceId;
use observe_core::metrics;

use crate::{Server, client, json};

#[tokio::test]
async fn rows_merge_status_codes_per_route_and_the_distribution_reaches_99_999() {
    let route = "/latency-test/{id}";
    let ok = metrics::http_server_duration(route, "GET", 200, "http", None, RequestType::Standard);
    for ms in 1..=1000u64 {
        ok.record(ms * 1_000_000);
    }
    let slow_trace = TraceId::from_bytes([0xab; 16]);
    metrics::http_server_duration(
        route,
        "GET",
        503,
        "http",
        Some("503"),
        RequestType::Standard,
    )
    .record_with_exemplar(2_000_000_000, slow_trace, true);
    metrics::http_server_duration(route, "GET", 200, "http", None, RequestType::TracerBullet)
        .record(1_000_000);

    let server = Server::start().await;
    for window in ["rolling", "total"] {
        let body = json(
            client()
                .get(server.url(&format!("/observe/api/v1/latency?window={window}")))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(body["window"], window);
        assert!(body["window_s"].as_f64().unwrap() > 0.0);
        let rows: Vec<&serde_json::Value> = body["rows"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["key"] == format!("GET {route}"))
            .collect();
        assert_eq!(rows.len(), 2, "{window}: {rows:?}");
        let standard = rows
            .iter()
            .find(|r| r["request_type"] == "standard")
            .unwrap();
        assert_eq!(standard["kind"], "http.server");
        assert_eq!(standard["metric"], "http.server.request.duration");
        assert_eq!(standard["labels"]["http.route"], route);
        assert_eq!(standard["count"], 1001);
        assert_eq!(standard["errors"], 1);
        let p50 = standard["p50_s"].as_f64().unwrap();
        assert!((0.499..=0.502).contains(&p50), "{p50}");
        let max = standard["max_s"].as_f64().unwrap();
        assert!((1.99..=2.01).contains(&max), "{max}");
        let exemplar = standard["exemplars"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["kind"] == "failed")
            .expect("the failing request's trace");
        assert_eq!(exemplar["trace_id"], slow_trace.to_string());
        let bullet = rows
            .iter()
            .find(|r| r["request_type"] == "tracer_bullet")
            .unwrap();
        assert_eq!(bullet["count"], 1);
    }

    let url = format!(
        "/observe/api/v1/latency/distribution?metric=http.server.request.duration&key=GET%20{}&window=total",
        route.replace('{', "%7B").replace('}', "%7D")
    );
    let body = json(client().get(server.url(&url)).send().await.unwrap()).await;
    assert_eq!(body["count"], 1001);
    assert_eq!(body["request_type"], "standard");
    let points = body["points"].as_array().unwrap();
    assert!(points.len() > 20, "{body}");
    let last = points.last().unwrap();
    assert!(last["percentile"].as_f64().unwrap() >= 99.999, "{last}");
    assert!(last["value_s"].as_f64().unwrap() >= 1.99, "{last}");
    let percentiles: Vec<f64> = points
        .iter()
        .map(|p| p["percentile"].as_f64().unwrap())
        .collect();
    assert!(
        percentiles.windows(2).all(|w| w[0] < w[1]),
        "{percentiles:?}"
    );

    for (query, status) in [
        ("?metric=http.server.request.duration", 400),
        (
            "?metric=http.server.request.duration&key=GET%20/nowhere",
            404,
        ),
        (
            "?metric=http.server.request.duration&key=x&window=forever",
            400,
        ),
    ] {
        let response = client()
            .get(server.url(&format!("/observe/api/v1/latency/distribution{query}")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status, "{query}");
        assert!(json(response).await["error"].is_string());
    }
}
