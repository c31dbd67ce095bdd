//! A tracer bullet crosses gRPC to an internal target (the server honours it under
//! its policy) and is not sent to an external one.

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
    let h = Harness::with(|b| b.tracer_bullet_policy(TracerBulletPolicy::Trusted));
    let base = spawn(observe_tonic::layer()).await;
    let reply = client(&base)
        .unary(msg("probe"))
        .instrument(bullet())
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

    let status = external
        .unary(msg("probe"))
        .instrument(bullet())
        .await
        .unwrap_err();
    assert_eq!(status.code(), observe_tonic::client::TRACER_BULLET_BLOCKED);
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

    // A standard call through the same client is sent; the server saw only it.
    external.unary(msg("standard")).await.unwrap();
    let servers = h.spans_of(&format!("{SERVICE}/Unary"), SpanKind::Server);
    assert_eq!(servers.len(), 1);
    assert_eq!(servers[0].request_type(), RequestType::Standard);
}
