//! An edge trusts no caller's identity by default: W3C trace context continues from
//! anyone, identity and baggage only from trusted callers, and an untrusted
//! caller's sampled flag is honoured at a bounded rate.

use std::time::Instant;

use axum::Router;
use axum::routing::get;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use observe_axum::client::{ClientOptions, ObserveClientLayer};
use observe_core::config::Sampler;
use tower::{Service as _, ServiceBuilder, ServiceExt as _};

use crate::support::*;

const IDENTITY: &str =
    "observe.user_id=mallory,observe.account_id=acme,observe.flag.admin=on,vendor=x";

/// Answers with what the request context says, and what the internal service at
/// `downstream` received from it.
fn edge(downstream: String) -> Router {
    let client = ServiceBuilder::new()
        .layer(ObserveClientLayer::with_options(
            ClientOptions::new().internal_hosts(["127.0.0.1"]).unwrap(),
        ))
        .service(Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>());
    Router::new()
        .route(
            "/whoami",
            get(move || {
                let (url, mut client) = (downstream.clone(), client.clone());
                async move {
                    let cx = observe_core::context::current().unwrap();
                    tracing::info!("who am i");
                    let request = http::Request::get(url)
                        .body(Full::new(Bytes::new()))
                        .unwrap();
                    let response = client.ready().await.unwrap().call(request).await.unwrap();
                    let body = response.into_body().collect().await.unwrap().to_bytes();
                    serde_json::json!({
                        "user": cx.user_id(),
                        "account": cx.account_id(),
                        "flags": cx.flags().len(),
                        "other": cx.state().baggage.len(),
                        "downstream": serde_json::from_slice::<serde_json::Value>(&body).unwrap(),
                    })
                    .to_string()
                }
            }),
        )
        .layer(observe_axum::layer())
}

/// Answers with the `baggage` it received.
fn internal() -> Router {
    Router::new().route(
        "/baggage",
        get(|headers: http::HeaderMap| async move {
            serde_json::json!({
                "baggage": headers.get("baggage").and_then(|v| v.to_str().ok()),
                "traceparent": headers.get("traceparent").and_then(|v| v.to_str().ok()),
            })
            .to_string()
        }),
    )
}

async fn whoami(base: &str) -> serde_json::Value {
    whoami_with(base, IDENTITY).await
}

async fn whoami_with(base: &str, baggage: &str) -> serde_json::Value {
    let body = client()
        .get(format!("{base}/whoami"))
        .header("traceparent", TRACEPARENT)
        .header("baggage", baggage)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    serde_json::from_str(&body).unwrap_or_else(|_| panic!("{body}"))
}

#[tokio::test]
async fn a_trusted_callers_baggage_is_read_as_get_reads_it_and_forwarded_as_received() {
    let h = Harness::with(trust_loopback);
    let downstream = spawn(internal()).await;
    let base = spawn(edge(format!("{downstream}/baggage"))).await;
    let seen = whoami_with(
        &base,
        "a=1,b=2;p=1;q,c=3,k=1,k=2,observe.user_id=first,observe.user_id=second,\
         observe.flag.beta=on,observe.flag.beta=off",
    )
    .await;
    // observe's keys: the first member counts, as `Baggage::get` reads it.
    assert_eq!(seen["user"], "first", "{seen}");
    assert_eq!(seen["flags"], 1, "{seen}");
    assert_eq!(seen["other"], 5, "{seen}");
    // Forwarded: observe's own first, one value each, then the other members in
    // the order received, duplicates and properties kept.
    assert_eq!(
        seen["downstream"]["baggage"],
        "observe.user_id=first,observe.flag.beta=on,a=1,b=2;p=1;q,c=3,k=1,k=2",
        "{seen}"
    );
    let line = h
        .log_lines()
        .into_iter()
        .find(|l| l["message"] == "who am i")
        .unwrap();
    assert_eq!(line["user_id"], "first", "{line}");
}

#[tokio::test]
async fn an_edge_with_defaults_takes_no_identity_from_an_arbitrary_client() {
    let h = Harness::new();
    let downstream = spawn(internal()).await;
    let base = spawn(edge(format!("{downstream}/baggage"))).await;
    let seen = whoami(&base).await;
    assert_eq!(seen["user"], serde_json::Value::Null, "{seen}");
    assert_eq!(seen["account"], serde_json::Value::Null, "{seen}");
    assert_eq!(seen["flags"], 0, "{seen}");
    assert_eq!(seen["other"], 0, "{seen}");
    // Nothing of it is forwarded as this service's own...
    assert_eq!(
        seen["downstream"]["baggage"],
        serde_json::Value::Null,
        "{seen}"
    );
    // ...but the trace continues.
    let traceparent = seen["downstream"]["traceparent"].as_str().unwrap();
    assert!(traceparent.contains(TRACE), "{traceparent}");
    let line = h
        .log_lines()
        .into_iter()
        .find(|l| l["message"] == "who am i")
        .unwrap();
    assert!(line.get("user_id").is_none_or(|v| v.is_null()), "{line}");
    assert!(line.get("account_id").is_none_or(|v| v.is_null()), "{line}");
    assert!(
        line.get("flags")
            .is_none_or(|v| v.as_object().is_none_or(|o| o.is_empty())),
        "{line}"
    );
    assert_eq!(line["trace_id"], TRACE);
}

fn hello() -> Router {
    Router::new()
        .route("/hello", get(|| async { "hello" }))
        .layer(observe_axum::layer())
}

/// A sampled `traceparent` with a fresh trace id.
fn sampled_traceparent() -> String {
    format!("00-{}-{PARENT}-01", observe_core::TraceId::random())
}

#[tokio::test]
async fn an_untrusted_callers_sampled_flag_is_honoured_at_a_bounded_rate() {
    // The local sampler keeps nothing: only honoured sampled flags are exported.
    let h = Harness::with(|b| b.sampler(Sampler::ParentBasedTraceIdRatio(0.0)));
    let base = spawn(hello()).await;
    const FLOOD: usize = 200;
    let started = Instant::now();
    for _ in 0..FLOOD {
        let response = client()
            .get(format!("{base}/hello"))
            .header("traceparent", sampled_traceparent())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let spans = h.spans();
    let sampled = spans.iter().filter(|s| s.is_sampled()).count();
    assert_eq!(spans.len(), FLOOD);
    // The default budget: 10 a second, with a burst of 10.
    let bound = 10 + (elapsed * 10.0).ceil() as usize;
    assert!(sampled >= 1, "the first ones are honoured");
    assert!(
        sampled <= bound,
        "{sampled} of {FLOOD} sampled in {elapsed:.2}s: at most {bound}"
    );
}

/// Sends `n` requests with a fresh sampled `traceparent` each; returns how many of
/// their spans were sampled.
async fn flood(h: &Harness, base: &str, n: usize) -> usize {
    for _ in 0..n {
        let response = client()
            .get(format!("{base}/hello"))
            .header("traceparent", sampled_traceparent())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    h.spans().iter().filter(|s| s.is_sampled()).count()
}

#[tokio::test]
async fn a_trusted_callers_sampled_flag_is_always_honoured() {
    let h = Harness::with(|b| trust_loopback(b).sampler(Sampler::ParentBasedTraceIdRatio(0.0)));
    let base = spawn(hello()).await;
    assert_eq!(flood(&h, &base, 50).await, 50);
}

#[tokio::test]
async fn a_budget_of_zero_lets_the_local_sampler_decide_every_time() {
    let h = Harness::with(|b| {
        b.sampler(Sampler::ParentBasedTraceIdRatio(0.0))
            .untrusted_sampled_per_second(0)
    });
    let base = spawn(hello()).await;
    assert_eq!(flood(&h, &base, 20).await, 0);
    let span = &h.spans()[0];
    assert_eq!(
        attr(span, "observe.sampling.untrusted_limited").as_deref(),
        Some("true")
    );
    // The trace still continues: only the sampling decision is local.
    assert!(span.parent_is_remote());
}
