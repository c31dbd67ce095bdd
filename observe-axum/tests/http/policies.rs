//! Believing a trusted caller's identity, and restarting an untrusted caller's
//! trace at a public edge.

use axum::Router;
use axum::routing::get;
use observe_core::config::{InboundContext, TrustedCallers};

use crate::support::*;

/// Answers with what the request context says.
fn app(layer: observe_axum::ObserveLayer) -> Router {
    Router::new()
        .route(
            "/whoami",
            get(|| async {
                let cx = observe_core::context::current().unwrap();
                tracing::info!("who am i");
                serde_json::json!({
                    "user": cx.user_id(),
                    "account": cx.account_id(),
                    "flag": cx.flag("new_checkout"),
                    "type": cx.request_type().as_str(),
                    "other": cx.state().baggage.iter().map(|m| format!("{}={}", m.key(), m.value())).collect::<Vec<_>>(),
                })
                .to_string()
            }),
        )
        .layer(layer)
}

const BAGGAGE: &str =
    "observe.user_id=alice,observe.account_id=acme,observe.flag.new_checkout=on,vendor=x%20y";

async fn whoami(base: &str) -> serde_json::Value {
    let body = client()
        .get(format!("{base}/whoami"))
        .header("traceparent", TRACEPARENT)
        .header("baggage", BAGGAGE)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    serde_json::from_str(&body).unwrap()
}

#[tokio::test]
async fn a_trusted_caller_sets_user_account_and_flags_from_baggage() {
    let h = Harness::with(trust_loopback);
    let base = spawn(app(observe_axum::layer())).await;
    let seen = whoami(&base).await;
    assert_eq!(seen["user"], "alice");
    assert_eq!(seen["account"], "acme");
    assert_eq!(seen["flag"], "on");
    assert_eq!(seen["type"], "standard");
    assert_eq!(seen["other"], serde_json::json!(["vendor=x y"]));
    let line = h
        .log_lines()
        .into_iter()
        .find(|l| l["message"] == "who am i")
        .unwrap();
    assert_eq!(line["user_id"], "alice");
    assert_eq!(line["account_id"], "acme");
    assert_eq!(line["flags"]["new_checkout"], "on");
}

#[tokio::test]
async fn an_edge_restarts_the_trace_links_the_callers_and_ignores_its_baggage() {
    let h = Harness::with(|b| b.inbound_context(InboundContext::Restart));
    let base = spawn(app(observe_axum::layer())).await;
    let seen = whoami(&base).await;
    assert_eq!(seen["user"], serde_json::Value::Null);
    assert_eq!(seen["flag"], serde_json::Value::Null);
    assert_eq!(seen["other"], serde_json::json!([]));
    let span = h.span("GET /whoami");
    assert_ne!(span.trace_id().to_string(), TRACE);
    assert!(!span.parent_id().is_valid());
    let link = &span.links()[0];
    assert_eq!(link.context.trace_id.to_string(), TRACE);
    assert_eq!(link.context.span_id.to_string(), PARENT);
}

#[tokio::test]
async fn an_edge_continues_a_trusted_callers_trace() {
    let h = Harness::with(|b| trust_loopback(b).inbound_context(InboundContext::Restart));
    let base = spawn(app(observe_axum::layer())).await;
    let seen = whoami(&base).await;
    assert_eq!(seen["user"], "alice");
    let span = h.span("GET /whoami");
    assert_eq!(span.trace_id().to_string(), TRACE);
    assert!(span.links().is_empty());
}

#[tokio::test]
async fn the_layer_options_override_the_configuration() {
    let h = Harness::with(trust_loopback);
    let layer = observe_axum::layer()
        .trusted_callers(TrustedCallers::none())
        .inbound_context(InboundContext::Restart);
    let base = spawn(app(layer)).await;
    let seen = whoami(&base).await;
    assert_eq!(seen["user"], serde_json::Value::Null);
    assert_eq!(h.span("GET /whoami").links().len(), 1);
}

#[tokio::test]
async fn the_old_trust_value_keeps_its_meaning() {
    // `OBSERVE_INBOUND_CONTEXT=trust`, observe 0.1's default: every caller's
    // identity is believed, as before.
    let h = Harness::with(|b| b.inbound_context(InboundContext::Trust));
    let base = spawn(app(observe_axum::layer())).await;
    let seen = whoami(&base).await;
    assert_eq!(seen["user"], "alice");
    assert_eq!(h.span("GET /whoami").trace_id().to_string(), TRACE);
}
