//! A tracer bullet crosses gRPC to an internal target (the server honours it under
//! its policy, from a trusted caller) and is not sent to an external one; a server
//! that does not accept the marker refuses the call without running it.

use observe_core::FutureExt;
use observe_core::client::{ClientOptions, TracerBulletBlocked};
use observe_core::config::TracerBulletPolicy;
use observe_core::context::{RequestContext, RequestType};
use observe_core::span::{Span, SpanKind, StatusCode};
use tower::ServiceBuilder;

use crate::support::*;

fn bullet() -> Span {
    Span::builder("bullet")
        .context(
            RequestContext::builder()
                .request_type(RequestType::TracerBullet)
                .build(),
        )
        .start()
}

#[tokio::test]
async fn a_tracer_bullet_crosses_to_an_internal_target() {
    let h = Harness::with(|b| {
        b.tracer_bullet_policy(TracerBulletPolicy::Trusted)
            .trusted_callers(["loopback"])
    });
    let base = spawn(observe_tonic::layer()).await;
    let reply = client(&base)
        .unary(msg("probe"))
        .in_span(bullet())
        .await
        .unwrap();
    assert_eq!(reply.get_ref().text, "probe tracer_bullet");
    let server = h
        .wait_for(&format!("{SERVICE}/Unary"), SpanKind::Server)
        .await;
    assert_eq!(server.request_type(), RequestType::TracerBullet);
    assert!(server.is_sampled());
    let client = h
        .wait_for(&format!("{SERVICE}/Unary"), SpanKind::Client)
        .await;
    assert_eq!(
        attr(&client, "observe.audience").as_deref(),
        Some("internal")
    );
}

#[tokio::test]
async fn a_tracer_bullet_is_not_sent_to_an_external_target() {
    let h = Harness::with(|b| b.tracer_bullet_policy(TracerBulletPolicy::Trusted));
    let base = spawn(observe_tonic::layer()).await;
    // The same server, but this client counts no host as internal.
    let endpoint = tonic::transport::Endpoint::from_shared(base.clone()).unwrap();
    let layer = observe_tonic::client::ObserveClientLayer::for_endpoint(&endpoint)
        .with_options(ClientOptions::new().internal_hosts(["*.internal"]).unwrap());
    let channel = ServiceBuilder::new()
        .layer(layer)
        .service(endpoint.connect_lazy());
    let mut external = EchoClient::new(channel);

    let ctx = RequestContext::builder()
        .request_type(RequestType::TracerBullet)
        .build();
    let status = external
        .unary(msg("probe"))
        .in_span(Span::builder("bullet").context(ctx.clone()).start())
        .await
        .unwrap_err();
    assert_eq!(status.code(), observe_tonic::client::TRACER_BULLET_BLOCKED);
    // The bullet's footprint names the call it did not make.
    let footprint = ctx.footprint().expect("a bullet's footprint").summary();
    let blocked: Vec<_> = footprint
        .blocked()
        .iter()
        .map(|b| (b.service.as_str(), b.host.as_str(), b.count))
        .collect();
    assert_eq!(blocked, [("grpc-test", "127.0.0.1", 1)]);
    let source = std::error::Error::source(&status).expect("the reason");
    let blocked = source
        .downcast_ref::<TracerBulletBlocked>()
        .expect("TracerBulletBlocked");
    assert_eq!(blocked.host, "127.0.0.1");

    let client = h
        .wait_for(&format!("{SERVICE}/Unary"), SpanKind::Client)
        .await;
    assert_eq!(client.status(), StatusCode::Error);
    assert_eq!(
        attr(&client, "error.type").as_deref(),
        Some("tracer_bullet_blocked")
    );
    assert_eq!(
        attr(&client, "rpc.grpc.status_code").as_deref(),
        Some("9"),
        "the status the application got"
    );

    // A standard call through the same client is sent; the server saw only it.
    external.unary(msg("standard")).await.unwrap();
    let servers = h.spans_of(&format!("{SERVICE}/Unary"), SpanKind::Server);
    assert_eq!(servers.len(), 1);
    assert_eq!(servers[0].request_type(), RequestType::Standard);
}

#[tokio::test]
async fn a_marked_call_the_server_does_not_accept_is_refused_without_running() {
    // The default policy is deny: the marker is refused, never served.
    let h = Harness::with(|b| b);
    let base = spawn(observe_tonic::layer()).await;
    let status = client(&base)
        .unary(msg("probe"))
        .in_span(bullet())
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::PermissionDenied);
    assert_eq!(
        status
            .metadata()
            .get("observe-tracer-bullet-refused")
            .and_then(|v| v.to_str().ok()),
        Some("policy_deny")
    );
    let server = h
        .wait_for(&format!("{SERVICE}/Unary"), SpanKind::Server)
        .await;
    assert_eq!(server.request_type(), RequestType::Standard);
    assert_eq!(
        attr(&server, "observe.tracer_bullet.refused").as_deref(),
        Some("policy_deny")
    );
    assert_eq!(attr(&server, "rpc.grpc.status_code").as_deref(), Some("7"));
    // The handler never ran: it logs every call it serves.
    assert!(
        h.log_lines()
            .iter()
            .all(|l| l["message"] != "unary handler"),
        "the service must not run a refused call"
    );

    // An untrusted caller under `trusted` is refused the same way.
    drop(h);
    let _h = Harness::with(|b| b.tracer_bullet_policy(TracerBulletPolicy::Trusted));
    let status = client(&base)
        .unary(msg("probe"))
        .in_span(bullet())
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::PermissionDenied);
    assert_eq!(
        status
            .metadata()
            .get("observe-tracer-bullet-refused")
            .and_then(|v| v.to_str().ok()),
        Some("untrusted_caller")
    );
}
