//! The server span, the response headers and the log lines of one request.

use axum::Router;
use axum::routing::get;
use observe_core::span::{SpanKind, StatusCode};

use crate::support::*;

fn app() -> Router {
    Router::new()
        .route(
            "/orders/{id}",
            get(|| async {
                tracing::info!(items = 3, "order loaded");
                let cx = observe_core::context::current().expect("inside the request span");
                cx.request_id().unwrap_or_default().to_owned()
            }),
        )
        .route(
            "/fail",
            get(|| async { (http::StatusCode::SERVICE_UNAVAILABLE, "down") }),
        )
        .layer(observe_axum::layer())
}

#[tokio::test]
async fn a_traceparent_continues_the_callers_trace_and_the_answer_says_so() {
    let h = Harness::new();
    let base = spawn(app()).await;
    let response = client()
        .get(format!("{base}/orders/7?card=4242&x"))
        .header("traceparent", TRACEPARENT)
        .header("user-agent", "observe-test/1")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    let handler_request_id = response.text().await.unwrap();

    let span = h.span("GET /orders/{id}");
    assert_eq!(span.kind(), SpanKind::Server);
    assert_eq!(span.trace_id().to_string(), TRACE);
    assert_eq!(span.parent_id().to_string(), PARENT);
    assert!(span.parent_is_remote());
    assert!(span.is_sampled(), "the caller sampled it");
    for (key, value) in [
        ("http.request.method", "GET"),
        ("http.route", "/orders/{id}"),
        ("url.path", "/orders/7"),
        ("url.query", "card=REDACTED&x"),
        ("url.scheme", "http"),
        ("server.address", "127.0.0.1"),
        ("client.address", "127.0.0.1"),
        ("user_agent.original", "observe-test/1"),
        ("network.protocol.version", "1.1"),
        ("http.response.status_code", "200"),
    ] {
        assert_eq!(attr(&span, key).as_deref(), Some(value), "{key}");
    }
    assert_ne!(span.status(), StatusCode::Error);

    // The answer: traceresponse names our span, Server-Timing our duration, and
    // the generated request id is echoed.
    let traceresponse = headers["traceresponse"].to_str().unwrap();
    assert_eq!(
        traceresponse,
        format!("00-{TRACE}-{}-01", span.span_id()),
        "traceresponse carries the server span"
    );
    let timing = headers["server-timing"].to_str().unwrap();
    assert!(timing.starts_with("observe;dur="), "{timing}");
    let request_id = headers["x-request-id"].to_str().unwrap();
    assert_eq!(request_id.len(), 36, "a generated UUID: {request_id}");
    assert_eq!(
        handler_request_id, request_id,
        "the handler saw the same id"
    );

    // The handler's log line and the access line carry the request's context.
    let lines = h.log_lines();
    let loaded = lines
        .iter()
        .find(|l| l["message"] == "order loaded")
        .expect("the handler's line");
    assert_eq!(loaded["trace_id"], TRACE);
    assert_eq!(loaded["span_id"], span.span_id().to_string());
    assert_eq!(loaded["request_id"], request_id);
    let access = h.access_lines();
    assert_eq!(access.len(), 1, "{access:?}");
    let access = &access[0];
    assert_eq!(access["trace_id"], TRACE);
    assert_eq!(access["request_id"], request_id);
    assert_eq!(access["level"], "INFO");
    assert_eq!(access["fields"]["http.request.method"], "GET");
    assert_eq!(access["fields"]["http.route"], "/orders/{id}");
    assert_eq!(access["fields"]["http.response.status_code"], 200);
    assert!(access["fields"]["duration_ms"].as_f64().unwrap() >= 0.0);
    assert_eq!(access["message"], "GET /orders/{id} 200");
}

#[tokio::test]
async fn without_a_traceparent_a_new_trace_starts_and_a_given_request_id_is_kept() {
    let h = Harness::new();
    let base = spawn(app()).await;
    let response = client()
        .get(format!("{base}/orders/8"))
        .header("x-request-id", "req-from-gateway")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "req-from-gateway");
    let span = h.span("GET /orders/{id}");
    assert!(span.trace_id().is_valid());
    assert_ne!(span.trace_id().to_string(), TRACE);
    assert!(!span.parent_id().is_valid(), "a root span");
    assert!(!span.parent_is_remote());
    let traceresponse = response.headers()["traceresponse"].to_str().unwrap();
    assert!(traceresponse.contains(&span.trace_id().to_string()));
}

#[tokio::test]
async fn malformed_trace_headers_follow_the_w3c_rules() {
    let h = Harness::new();
    let base = spawn(app()).await;
    let bad = [
        // Version ff is forbidden.
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        // Upper-case hex.
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
        // All-zero trace id.
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        // All-zero parent id.
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
        // Too short.
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902-01",
    ];
    for tp in bad {
        let response = client()
            .get(format!("{base}/orders/1"))
            .header("traceparent", tp)
            .header("tracestate", "congo=t61rcWkgMzE")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "bad headers never fail a request");
    }
    // A future version with extra fields is accepted (W3C: parse what you know).
    let response = client()
        .get(format!("{base}/orders/1"))
        .header("traceparent", format!("cc-{TRACE}-{PARENT}-01-extra"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    let spans = h.spans();
    assert_eq!(spans.len(), bad.len() + 1);
    for (span, tp) in spans.iter().zip(bad) {
        assert_ne!(
            span.trace_id().to_string(),
            TRACE,
            "{tp} restarts the trace"
        );
        assert!(!span.parent_is_remote(), "{tp}");
        assert_eq!(
            attr(span, "observe.propagation.rejected").as_deref(),
            Some("2"),
            "{tp}: traceparent and tracestate"
        );
    }
    let future = spans.last().unwrap();
    assert_eq!(future.trace_id().to_string(), TRACE);
    assert_eq!(future.parent_id().to_string(), PARENT);
}

#[tokio::test]
async fn server_errors_mark_the_span_failed() {
    let h = Harness::new();
    let base = spawn(app()).await;
    let response = client().get(format!("{base}/fail")).send().await.unwrap();
    assert_eq!(response.status(), 503);
    let span = h.span("GET /fail");
    assert_eq!(span.status(), StatusCode::Error);
    assert_eq!(attr(&span, "error.type").as_deref(), Some("503"));
    assert_eq!(
        attr(&span, "http.response.status_code").as_deref(),
        Some("503")
    );
    assert_eq!(
        h.access_lines()[0]["fields"]["http.response.status_code"],
        503
    );
}

#[tokio::test]
async fn the_access_log_can_be_switched_off_or_moved_to_another_level() {
    let h = Harness::new();
    let quiet = Router::new()
        .route("/q", get(|| async { "ok" }))
        .layer(observe_axum::layer().access_log(None));
    let debug = Router::new()
        .route("/d", get(|| async { "ok" }))
        .layer(observe_axum::layer().access_log(Some(tracing::Level::DEBUG)));
    let (quiet, debug) = (spawn(quiet).await, spawn(debug).await);
    client().get(format!("{quiet}/q")).send().await.unwrap();
    client().get(format!("{debug}/d")).send().await.unwrap();
    let access = h.access_lines();
    assert_eq!(access.len(), 1, "{access:?}");
    assert_eq!(access[0]["level"], "DEBUG");
    assert_eq!(access[0]["fields"]["http.route"], "/d");
    assert_eq!(h.spans().len(), 2, "spans are recorded either way");
}

#[tokio::test]
async fn the_access_line_redacts_the_fields_configured_as_sensitive() {
    // Routes can hold what a deployment considers private (a tenant's name).
    let h = Harness::with(|b| b.redact_fields(["route", "http.request.method"]));
    let base = spawn(app()).await;
    client()
        .get(format!("{base}/orders/7"))
        .send()
        .await
        .unwrap();
    let access = h.access_lines();
    assert_eq!(access.len(), 1, "{access:?}");
    let fields = &access[0]["fields"];
    assert_eq!(fields["http.route"], "[REDACTED]", "{fields}");
    assert_eq!(fields["http.request.method"], "[REDACTED]", "{fields}");
    assert_eq!(fields["http.response.status_code"], 200, "{fields}");
}

#[tokio::test]
async fn without_observe_the_layer_passes_requests_through() {
    // No instance on this thread.
    let base = spawn(app()).await;
    let response = client()
        .get(format!("{base}/fail"))
        .header("traceparent", TRACEPARENT)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert!(!response.headers().contains_key("traceresponse"));
    assert!(!response.headers().contains_key("server-timing"));
}
