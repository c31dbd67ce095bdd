//! Inbound tracer bullets are honoured only under the configured policy, and a
//! marked request the service does not accept fails closed: it is refused with
//! 403 and `observe-tracer-bullet-refused: <reason>`, its handler never runs, and
//! it is logged and counted. It is never served as a standard request (that would
//! write) and never gets a dry run.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use observe_core::TraceId;
use observe_core::config::{TracerBulletKey, TracerBulletPolicy};
use observe_core::context::RequestType;
use observe_core::tracer_bullet;

use crate::support::*;

const KEY: [u8; 32] = [42; 32];
const REFUSED: &str = "observe-tracer-bullet-refused";

/// A handler that writes (a `side_effect`) and answers with the request type.
/// Returns the router and the count of writes that really ran.
fn app() -> (Router, Arc<AtomicUsize>) {
    app_with(observe_axum::layer())
}

fn app_with(layer: observe_axum::ObserveLayer) -> (Router, Arc<AtomicUsize>) {
    let writes = Arc::new(AtomicUsize::new(0));
    let counted = writes.clone();
    let router = Router::new()
        .route(
            "/probe",
            get(move || {
                let writes = counted.clone();
                async move {
                    observe_core::side_effect("db.insert", || {
                        writes.fetch_add(1, Ordering::SeqCst);
                    });
                    observe_core::context::current()
                        .unwrap()
                        .request_type()
                        .as_str()
                }
            }),
        )
        .layer(layer);
    (router, writes)
}

/// What the service answered: status, refusal header, body.
struct Answer {
    status: u16,
    refused: Option<String>,
    body: String,
}

async fn probe_with(base: &str, traceparent: &str, baggage: bool, token: Option<String>) -> Answer {
    let mut request = client()
        .get(format!("{base}/probe"))
        .header("traceparent", traceparent);
    if baggage {
        request = request.header("baggage", "observe.request_type=tracer_bullet");
    }
    if let Some(token) = token {
        request = request.header("observe-tracer-bullet", token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let refused = response
        .headers()
        .get(REFUSED)
        .map(|v| v.to_str().unwrap().to_owned());
    let body = response.text().await.unwrap();
    Answer {
        status,
        refused,
        body,
    }
}

async fn probe(base: &str, token: Option<String>) -> Answer {
    probe_with(base, TRACEPARENT, true, token).await
}

fn token_at(unix_secs: u64) -> String {
    let key = TracerBulletKey::from_bytes(KEY).unwrap();
    tracer_bullet::sign(&key, TraceId::from_hex(TRACE).unwrap(), unix_secs)
}

#[track_caller]
fn assert_refused(answer: &Answer, reason: &str, writes: &AtomicUsize) {
    assert_eq!(answer.status, 403, "{reason}: {}", answer.body);
    assert_eq!(answer.refused.as_deref(), Some(reason));
    assert_eq!(
        writes.load(Ordering::SeqCst),
        0,
        "{reason}: the handler wrote"
    );
}

#[tokio::test]
async fn deny_refuses_a_marked_request_and_logs_and_counts_it() {
    let h = Harness::new();
    let (router, writes) = app();
    let base = spawn(router).await;
    let before = tracer_bullet::denied_attempts();
    let counted_before = refused_count("policy_deny");
    let answer = probe(&base, None).await;
    assert_refused(&answer, "policy_deny", &writes);
    assert!(tracer_bullet::denied_attempts() > before);
    let span = h.span("GET /probe");
    assert_eq!(span.request_type(), RequestType::Standard);
    assert_eq!(
        attr(&span, "observe.tracer_bullet.refused").as_deref(),
        Some("policy_deny")
    );
    assert_eq!(
        attr(&span, "http.response.status_code").as_deref(),
        Some("403")
    );
    let warning = h
        .log_lines()
        .into_iter()
        .find(|l| l["target"] == "observe::tracer_bullet")
        .expect("a warning line");
    assert_eq!(warning["level"], "WARN");
    assert_eq!(warning["trace_id"], TRACE);
    assert!(refused_count("policy_deny") > counted_before);
}

/// `observe.tracer_bullet.refused{reason}` in the process-wide registry (other
/// tests count too: compare before and after).
fn refused_count(reason: &str) -> u64 {
    observe_core::metrics::snapshot()
        .counter("observe.tracer_bullet.refused", &[("reason", reason)])
        .map_or(0, |c| c.value)
}

/// A marker that is not the first `observe.request_type` member still marks the
/// request: refused under `deny`, a dry run under `trusted` from a trusted caller.
#[tokio::test]
async fn a_marker_behind_another_request_type_member_is_not_missed() {
    let marked_second = "observe.request_type=standard,observe.request_type=tracer_bullet";
    let send = |base: String| async move {
        let response = client()
            .get(format!("{base}/probe"))
            .header("traceparent", TRACEPARENT)
            .header("baggage", marked_second)
            .send()
            .await
            .unwrap();
        let refused = response
            .headers()
            .get(REFUSED)
            .map(|v| v.to_str().unwrap().to_owned());
        (
            response.status().as_u16(),
            refused,
            response.text().await.unwrap(),
        )
    };
    {
        let _h = Harness::new();
        let (router, writes) = app();
        let (status, refused, _) = send(spawn(router).await).await;
        assert_eq!((status, refused.as_deref()), (403, Some("policy_deny")));
        assert_eq!(writes.load(Ordering::SeqCst), 0);
    }
    let _h = Harness::with(|b| trust_loopback(b).tracer_bullet_policy(TracerBulletPolicy::Trusted));
    let (router, writes) = app();
    let (status, _, body) = send(spawn(router).await).await;
    assert_eq!((status, body.as_str()), (200, "tracer_bullet"));
    assert_eq!(writes.load(Ordering::SeqCst), 0, "a dry run writes nothing");
}

#[tokio::test]
async fn deny_refuses_a_token_alone_too() {
    let _h = Harness::new();
    let (router, writes) = app();
    let base = spawn(router).await;
    let now = tracer_bullet::unix_now();
    let answer = probe_with(&base, TRACEPARENT, false, Some(token_at(now))).await;
    assert_refused(&answer, "policy_deny", &writes);
}

#[tokio::test]
async fn a_request_without_a_marker_is_served_as_usual() {
    let _h = Harness::new();
    let (router, writes) = app();
    let base = spawn(router).await;
    let answer = probe_with(&base, TRACEPARENT, false, None).await;
    assert_eq!((answer.status, answer.body.as_str()), (200, "standard"));
    assert_eq!(answer.refused, None);
    assert_eq!(writes.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn trusted_refuses_the_marker_from_an_untrusted_caller() {
    // No trusted callers are configured: the loopback client is untrusted.
    let h = Harness::with(|b| b.tracer_bullet_policy(TracerBulletPolicy::Trusted));
    let (router, writes) = app();
    let base = spawn(router).await;
    let answer = probe(&base, None).await;
    assert_refused(&answer, "untrusted_caller", &writes);
    assert_eq!(h.span("GET /probe").request_type(), RequestType::Standard);
}

fn signed(b: observe_core::Builder) -> observe_core::Builder {
    b.tracer_bullet_policy(TracerBulletPolicy::Signed)
        .tracer_bullet_key(KEY.to_vec())
        .tracer_bullet_max_age(Duration::from_secs(60))
}

#[tokio::test]
async fn signed_honours_a_valid_token_with_a_dry_run() {
    let h = Harness::with(signed);
    let (router, writes) = app();
    let base = spawn(router).await;
    let answer = probe(&base, Some(token_at(tracer_bullet::unix_now()))).await;
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (200, "tracer_bullet")
    );
    assert_eq!(writes.load(Ordering::SeqCst), 0, "the write is skipped");
    let span = h.span("GET /probe");
    assert_eq!(span.request_type(), RequestType::TracerBullet);
    assert!(span.is_sampled());
    assert_eq!(h.access_lines()[0]["request_type"], "tracer_bullet");
}

#[tokio::test]
async fn signed_refuses_every_token_it_cannot_verify() {
    let h = Harness::with(signed);
    let (router, writes) = app();
    let base = spawn(router).await;
    let now = tracer_bullet::unix_now();

    let expired = probe(&base, Some(token_at(now - 600))).await;
    assert_refused(&expired, "expired", &writes);

    let forged = {
        let key = TracerBulletKey::from_bytes([7u8; 32]).unwrap();
        tracer_bullet::sign(&key, TraceId::from_hex(TRACE).unwrap(), now)
    };
    assert_refused(&probe(&base, Some(forged)).await, "bad_signature", &writes);

    // A valid token of another trace, replayed on this one.
    let other_trace = TraceId::from_hex("0af7651916cd43dd8448eb211c80319c").unwrap();
    let replayed =
        tracer_bullet::sign(&TracerBulletKey::from_bytes(KEY).unwrap(), other_trace, now);
    assert_refused(
        &probe(&base, Some(replayed)).await,
        "bad_signature",
        &writes,
    );

    let oversize = format!("{}{}", token_at(now), "0".repeat(100_000));
    assert_refused(
        &probe(&base, Some(oversize)).await,
        "malformed_token",
        &writes,
    );

    assert_refused(
        &probe(&base, Some("v1.garbage".into())).await,
        "malformed_token",
        &writes,
    );
    assert_refused(&probe(&base, None).await, "missing_token", &writes);

    // A token without a traceparent to check it against.
    let answer = client()
        .get(format!("{base}/probe"))
        .header("observe-tracer-bullet", token_at(now))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 403);
    assert_eq!(answer.headers()[REFUSED], "no_trace_id");
    assert_eq!(writes.load(Ordering::SeqCst), 0);

    let spans = h.spans();
    assert_eq!(spans.len(), 7);
    assert!(
        spans
            .iter()
            .all(|s| s.request_type() == RequestType::Standard),
        "no refused request got a dry run"
    );
    let warnings: Vec<String> = h
        .log_lines()
        .into_iter()
        .filter(|l| l["target"] == "observe::tracer_bullet")
        .map(|l| l["message"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(warnings.len(), 7);
    assert!(warnings[0].contains("expired"), "{}", warnings[0]);
    assert!(
        warnings[1].contains("signature does not match"),
        "{}",
        warnings[1]
    );
}

#[tokio::test]
async fn trusted_honours_the_marker_of_a_trusted_caller_with_a_dry_run() {
    let h = Harness::with(|b| trust_loopback(b).tracer_bullet_policy(TracerBulletPolicy::Trusted));
    let (router, writes) = app();
    let base = spawn(router).await;
    let answer = probe(&base, None).await;
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (200, "tracer_bullet")
    );
    assert_eq!(writes.load(Ordering::SeqCst), 0, "the write is skipped");
    let span = h.span("GET /probe");
    assert_eq!(span.request_type(), RequestType::TracerBullet);
    assert!(span.is_sampled());
}

#[tokio::test]
async fn trusted_never_takes_a_token_header_alone_unverified() {
    // A trusted caller, but no marker in its baggage and no key here to verify the
    // token with.
    let _h = Harness::with(|b| trust_loopback(b).tracer_bullet_policy(TracerBulletPolicy::Trusted));
    let (router, writes) = app();
    let base = spawn(router).await;
    let token = token_at(tracer_bullet::unix_now());
    let answer = probe_with(&base, TRACEPARENT, false, Some(token)).await;
    assert_refused(&answer, "unverified_token", &writes);
}

mod downstream {
    //! Two services: what the first passes on to the second.

    use bytes::Bytes;
    use http_body_util::{BodyExt as _, Full};
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;
    use observe_axum::client::{ClientOptions, ObserveClientLayer};
    use observe_core::config::UntrustedMarker;
    use observe_core::tracer_bullet::InboundPolicy;
    use tower::{Service as _, ServiceBuilder, ServiceExt as _};

    use super::*;

    /// A service that calls `url` (internal) and answers with the status, refusal
    /// header and body it got back.
    fn caller(url: String) -> Router {
        let client = ServiceBuilder::new()
            .layer(ObserveClientLayer::with_options(
                ClientOptions::new().internal_hosts(["127.0.0.1"]).unwrap(),
            ))
            .service(Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>());
        Router::new().route(
            "/probe",
            get(move || {
                let (url, mut client) = (url.clone(), client.clone());
                async move {
                    let request = http::Request::get(url)
                        .body(Full::new(Bytes::new()))
                        .unwrap();
                    let response = client.ready().await.unwrap().call(request).await.unwrap();
                    let status = response.status().as_u16();
                    let refused = response
                        .headers()
                        .get(REFUSED)
                        .map(|v| v.to_str().unwrap().to_owned());
                    let body = response.into_body().collect().await.unwrap().to_bytes();
                    serde_json::json!({
                        "status": status,
                        "refused": refused,
                        "body": String::from_utf8_lossy(&body),
                    })
                    .to_string()
                }
            }),
        )
    }

    #[tokio::test]
    async fn an_unsigned_marker_never_becomes_a_signed_one_downstream() {
        // A: `trusted`, trusts its loopback caller, and holds the key. B: `signed`
        // with the same key.
        let _h = Harness::with(|b| {
            trust_loopback(b)
                .tracer_bullet_policy(TracerBulletPolicy::Trusted)
                .tracer_bullet_key(KEY.to_vec())
        });
        let (b_router, b_writes) = app_with(observe_axum::layer().tracer_bullet_policy(
            InboundPolicy::signed(
                TracerBulletKey::from_bytes(KEY).unwrap(),
                Duration::from_secs(60),
            ),
        ));
        let b = spawn(b_router).await;
        let a = spawn(caller(format!("{b}/probe")).layer(observe_axum::layer())).await;

        let answer = probe(&a, None).await;
        assert_eq!(answer.status, 200, "A honours its trusted caller's marker");
        let seen: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
        assert_eq!(seen["status"], 403, "B refuses: {seen}");
        assert_eq!(seen["refused"], "missing_token", "{seen}");
        assert_eq!(b_writes.load(Ordering::SeqCst), 0, "B never wrote");
    }

    #[tokio::test]
    async fn a_deny_service_downstream_refuses_instead_of_writing() {
        // A: `signed`; B: `deny` (the default), both internal.
        let h = Harness::with(signed);
        let (b_router, b_writes) =
            app_with(observe_axum::layer().tracer_bullet_policy(InboundPolicy::deny()));
        let b = spawn(b_router).await;
        let a = spawn(caller(format!("{b}/probe")).layer(observe_axum::layer())).await;
        let answer = probe(&a, Some(token_at(tracer_bullet::unix_now()))).await;
        let seen: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
        assert_eq!(seen["status"], 403, "{seen}");
        assert_eq!(seen["refused"], "policy_deny", "{seen}");
        assert_eq!(b_writes.load(Ordering::SeqCst), 0, "B never wrote");
        assert_eq!(
            h.spans()
                .iter()
                .filter(|s| s.request_type() == RequestType::TracerBullet)
                .count(),
            2,
            "A's server and client spans"
        );
    }

    #[tokio::test]
    async fn an_edge_that_opts_in_serves_a_relayed_marker_as_standard_and_strips_it() {
        let h = Harness::with(|b| b.tracer_bullet_untrusted_marker(UntrustedMarker::Strip));
        // B trusts everything: it would honour a marker if one reached it.
        let (b_router, b_writes) = app_with(
            observe_axum::layer()
                .tracer_bullet_policy(InboundPolicy::trusted())
                .trusted_callers(observe_core::config::TrustedCallers::any()),
        );
        let b = spawn(b_router).await;
        let a = spawn(caller(format!("{b}/probe")).layer(observe_axum::layer())).await;

        let answer = probe(&a, None).await;
        assert_eq!(answer.status, 200);
        assert_eq!(answer.refused, None);
        let seen: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
        assert_eq!(seen["status"], 200, "{seen}");
        assert_eq!(
            seen["body"], "standard",
            "the marker went no further: {seen}"
        );
        assert_eq!(
            b_writes.load(Ordering::SeqCst),
            1,
            "a standard request writes"
        );
        let spans = h.spans();
        let edge = spans
            .iter()
            .find(|s| s.parent_id().to_string() == PARENT)
            .expect("the edge's server span, child of the client's");
        assert_eq!(
            attr(edge, "observe.tracer_bullet.stripped").as_deref(),
            Some("policy_deny")
        );

        // A token is never relayed by accident: still refused.
        let answer = probe(&a, Some(token_at(tracer_bullet::unix_now()))).await;
        assert_eq!(answer.status, 403);
        assert_eq!(answer.refused.as_deref(), Some("policy_deny"));
        assert_eq!(b_writes.load(Ordering::SeqCst), 1);
    }
}
