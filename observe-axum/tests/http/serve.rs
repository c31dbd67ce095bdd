//! `serve`: uses a running observe, adds the layer, serves the admin routes, stops
//! on its signal, and reports an admin port in use as an error value.

use axum::Router;
use axum::routing::get;
use observe_axum::ServeError;

use crate::support::*;

#[tokio::test]
async fn serve_uses_the_running_instance_adds_the_layer_and_stops_on_its_signal() {
    let h = Harness::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let admin = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let admin_base = format!("http://{}", admin.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let app = Router::new().route("/served/{id}", get(|| async { "ok" }));
    let server = tokio::spawn(
        observe_axum::serve!(listener, app)
            .admin_listener(admin)
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .into_future(),
    );
    let response = client()
        .get(format!("{base}/served/1"))
        .header("traceparent", TRACEPARENT)
        .send()
        .await
        .unwrap();
    assert!(response.headers().contains_key("traceresponse"));
    let metrics = client()
        .get(format!("{admin_base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains(r#"http_route="/served/{id}""#));
    stop.send(()).unwrap();
    server.await.unwrap().expect("a clean shutdown");
    let span = h.span("GET /served/{id}");
    assert_eq!(span.trace_id().to_string(), TRACE);
    assert_eq!(
        attr(&span, "client.address").as_deref(),
        Some("127.0.0.1"),
        "connect info on"
    );
    assert!(
        client()
            .get(format!("{base}/served/1"))
            .send()
            .await
            .is_err(),
        "no longer listening"
    );
}

#[tokio::test]
async fn an_admin_port_in_use_is_an_error_that_names_it() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let _h = Harness::with(|b| b.admin_addr(Some(addr)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let err = observe_axum::serve(listener, Router::new())
        .with_graceful_shutdown(std::future::pending())
        .await
        .unwrap_err();
    assert!(matches!(err, ServeError::AdminBind { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains(&addr.to_string()), "{message}");
    assert!(message.contains("OBSERVE_ADMIN_ADDR"), "{message}");
}
