//! A panicking handler answers 500, is recorded, and the server goes on.

use axum::Router;
use axum::routing::get;
use observe_core::span::StatusCode;

use crate::support::*;

#[tokio::test]
async fn a_panicking_handler_returns_500_and_is_recorded_on_the_span() {
    let h = Harness::new();
    let app = Router::new()
        .route(
            "/boom",
            get(|| async {
                tokio::task::yield_now().await;
                if true {
                    panic!("the handler exploded");
                }
                "unreachable"
            }),
        )
        .route("/ok", get(|| async { "ok" }))
        .layer(observe_axum::layer());
    let base = spawn(app).await;
    let response = client()
        .get(format!("{base}/boom"))
        .header("traceparent", TRACEPARENT)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 500);
    assert!(response.headers().contains_key("traceresponse"));
    // The server still serves.
    let ok = client().get(format!("{base}/ok")).send().await.unwrap();
    assert_eq!(ok.status(), 200);

    let span = h.span("GET /boom");
    assert_eq!(span.status(), StatusCode::Error);
    assert_eq!(span.status_message(), Some("the handler exploded"));
    assert_eq!(attr(&span, "error.type").as_deref(), Some("panic"));
    assert_eq!(
        attr(&span, "http.response.status_code").as_deref(),
        Some("500")
    );
    let exception = span
        .events()
        .iter()
        .find(|e| e.name == "exception")
        .expect("an exception event");
    assert!(
        exception
            .attributes
            .iter()
            .any(|kv| kv.key == "exception.message"
                && kv.value.to_string() == "the handler exploded")
    );
    let access = h.access_lines();
    assert_eq!(access[0]["fields"]["http.response.status_code"], 500);
    assert_eq!(access[0]["trace_id"], TRACE);
}
