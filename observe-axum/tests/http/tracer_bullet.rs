//! Inbound tracer bullets are honoured only under the configured policy.

use std::time::Duration;

use axum::Router;
use axum::routing::get;
use observe_core::TraceId;
use observe_core::config::{TracerBulletKey, TracerBulletPolicy};
use observe_core::context::RequestType;
use observe_core::tracer_bullet;

use crate::support::*;

const KEY: [u8; 32] = [42; 32];

fn app() -> Router {
    Router::new()
        .route(
            "/probe",
            get(|| async {
                observe_core::context::current()
                    .unwrap()
                    .request_type()
                    .as_str()
            }),
        )
        .layer(observe_axum::layer())
}

async fn probe(base: &str, token: Option<String>) -> String {
    let mut request = client()
        .get(format!("{base}/probe"))
        .header("traceparent", TRACEPARENT)
        .header("baggage", "observe.request_type=tracer_bullet");
    if let Some(token) = token {
        request = request.header("observe-tracer-bullet", token);
    }
    request.send().await.unwrap().text().await.unwrap()
}

fn token_at(unix_secs: u64) -> String {
    let key = TracerBulletKey::from_bytes(KEY).unwrap();
    tracer_bullet::sign(&key, TraceId::from_hex(TRACE).unwrap(), unix_secs)
}

#[tokio::test]
async fn deny_serves_an_attempt_as_standard_and_logs_and_counts_it() {
    let h = Harness::new();
    let base = spawn(app()).await;
    let before = tracer_bullet::denied_attempts();
    assert_eq!(probe(&base, None).await, "standard");
    assert!(tracer_bullet::denied_attempts() > before);
    let span = h.span("GET /probe");
    assert_eq!(span.request_type(), RequestType::Standard);
    assert_eq!(
        attr(&span, "observe.tracer_bullet.denied").as_deref(),
        Some("policy_deny")
    );
    let warning = h
        .log_lines()
        .into_iter()
        .find(|l| l["target"] == "observe::tracer_bullet")
        .expect("a warning line");
    assert_eq!(warning["level"], "WARN");
    assert_eq!(warning["trace_id"], TRACE);
}

#[tokio::test]
async fn trusted_honours_the_baggage() {
    let h = Harness::with(|b| b.tracer_bullet_policy(TracerBulletPolicy::Trusted));
    let base = spawn(app()).await;
    assert_eq!(probe(&base, None).await, "tracer_bullet");
    let span = h.span("GET /probe");
    assert_eq!(span.request_type(), RequestType::TracerBullet);
    assert!(span.is_sampled());
    assert_eq!(h.access_lines()[0]["request_type"], "tracer_bullet");
}

fn signed(b: observe_core::config::Builder) -> observe_core::config::Builder {
    b.tracer_bullet_policy(TracerBulletPolicy::Signed)
        .tracer_bullet_key(KEY.to_vec())
        .tracer_bullet_max_age(Duration::from_secs(60))
}

#[tokio::test]
async fn signed_honours_a_valid_token_only() {
    let h = Harness::with(signed);
    let base = spawn(app()).await;
    let now = tracer_bullet::unix_now();
    assert_eq!(
        probe(&base, Some(token_at(now))).await,
        "tracer_bullet",
        "valid"
    );
    assert_eq!(
        probe(&base, Some(token_at(now - 600))).await,
        "standard",
        "expired"
    );
    let forged = {
        let key = TracerBulletKey::from_bytes([7u8; 32]).unwrap();
        tracer_bullet::sign(&key, TraceId::from_hex(TRACE).unwrap(), now)
    };
    assert_eq!(probe(&base, Some(forged)).await, "standard", "forged");
    assert_eq!(probe(&base, None).await, "standard", "missing");
    assert_eq!(
        probe(&base, Some("v1.garbage".into())).await,
        "standard",
        "malformed"
    );

    let spans = h.spans();
    let denied: Vec<_> = spans
        .iter()
        .map(|s| attr(s, "observe.tracer_bullet.denied"))
        .collect();
    assert_eq!(
        denied,
        [
            None,
            Some("bad_token".into()),
            Some("bad_token".into()),
            Some("missing_token".into()),
            Some("bad_token".into())
        ]
    );
    let reasons: Vec<String> = h
        .log_lines()
        .into_iter()
        .filter(|l| l["target"] == "observe::tracer_bullet")
        .map(|l| l["message"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(reasons.len(), 4);
    assert!(reasons[0].contains("expired"), "{}", reasons[0]);
    assert!(
        reasons[1].contains("signature does not match"),
        "{}",
        reasons[1]
    );
}
