//! observe's layer outside other layers on `Server::builder()`: layers that wrap
//! the response body (tower-http's `TraceLayer`, a second observe layer) sit
//! inside it, and each call is still one server span.

use observe_core::span::SpanKind;
use tonic::Code;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;

use crate::support::*;

async fn listener() -> (tokio::net::TcpListener, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    (listener, base)
}

/// An answer of the service, a status observe makes itself (a panic answered
/// `INTERNAL`) and one the router makes (`UNIMPLEMENTED`), each one span.
async fn calls_are_observed_once(h: &Harness, base: &str) {
    assert!(client(base).unary(msg("hi")).await.is_ok());
    let status = client(base).unary(msg("panic")).await.unwrap_err();
    assert_eq!(status.code(), Code::Internal);
    let name = format!("{SERVICE}/Unary");
    for _ in 0..1000 {
        if h.spans_of(&name, SpanKind::Server).len() == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let servers = h.spans_of(&name, SpanKind::Server);
    assert_eq!(servers.len(), 2, "one server span per call: {servers:?}");
    assert!(
        servers
            .iter()
            .any(|s| attr(s, "rpc.grpc.status_code").as_deref() == Some("13"))
    );
}

#[tokio::test]
async fn a_tower_http_trace_layer_fits_inside_observes() {
    let h = Harness::new();
    let (listener, base) = listener().await;
    tokio::spawn(async move {
        Server::builder()
            .layer(observe_tonic::layer())
            .layer(tower_http::trace::TraceLayer::new_for_grpc())
            .add_service(EchoServer::new(EchoService))
            .serve_with_incoming(TcpIncoming::from(listener))
            .await
            .unwrap();
    });
    calls_are_observed_once(&h, &base).await;
}

#[tokio::test]
async fn two_observe_layers_make_one_span_per_call() {
    let h = Harness::new();
    let (listener, base) = listener().await;
    tokio::spawn(async move {
        Server::builder()
            .layer(observe_tonic::layer())
            .layer(observe_tonic::layer())
            .add_service(EchoServer::new(EchoService))
            .serve_with_incoming(TcpIncoming::from(listener))
            .await
            .unwrap();
    });
    calls_are_observed_once(&h, &base).await;
}
