//! `serve!`: uses the running instance, adds the layer, serves the admin routes,
//! and stops on its signal.

use observe_core::span::SpanKind;
use tonic::service::Routes;

use crate::support::*;

#[tokio::test]
async fn serve_adds_the_layer_serves_the_admin_routes_and_stops_on_its_signal() {
    let h = Harness::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let admin = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let admin_base = format!("http://{}", admin.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let routes = Routes::new(proto::echo_server::EchoServer::new(EchoService));
    let server = tokio::spawn(
        observe_tonic::serve!(listener, routes)
            .admin_listener(admin)
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .into_future(),
    );
    let reply = client(&base).unary(msg("served")).await.unwrap();
    assert!(reply.metadata().get("traceresponse").is_some());
    h.wait_for(&format!("{SERVICE}/Unary"), SpanKind::Server)
        .await;

    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let metrics = http
        .get(format!("{admin_base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("rpc_server_call_duration")
                && l.contains(r#"rpc_method="Unary""#)),
        "{metrics}"
    );
    let missing = http.get(format!("{admin_base}/nope")).send().await.unwrap();
    assert_eq!(missing.status(), 404);

    stop.send(()).unwrap();
    server.await.unwrap().expect("a clean shutdown");
    assert!(
        tokio::net::TcpStream::connect(base.trim_start_matches("http://"))
            .await
            .is_err(),
        "no longer listening"
    );
}
