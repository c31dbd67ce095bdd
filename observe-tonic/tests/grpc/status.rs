//! The status of a call is read where it is: in the headers of a trailers-only
//! response, or in the trailers after a streamed body; server spans are errors per
//! OpenTelemetry's gRPC rule, client spans for any code but `OK`; a panic answers
//! `INTERNAL`.

use observe_core::span::{SpanKind, StatusCode};
use tonic::Code;

use crate::support::*;

#[tokio::test]
async fn a_trailers_only_status_is_read_from_the_headers() {
    let h = Harness::new();
    let base = spawn(observe_tonic::layer()).await;
    let status = client(&base)
        .unary(Msg {
            fail: 5,
            ..Msg::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    let name = format!("{SERVICE}/Unary");
    let server = h.wait_for(&name, SpanKind::Server).await;
    assert_eq!(attr(&server, "rpc.grpc.status_code").as_deref(), Some("5"));
    assert_eq!(
        server.status(),
        StatusCode::Unset,
        "NOT_FOUND is the client's error"
    );
    assert_eq!(
        attr(&server, "observe.rpc.messages_sent").as_deref(),
        Some("0")
    );
    let client = h.wait_for(&name, SpanKind::Client).await;
    assert_eq!(attr(&client, "rpc.grpc.status_code").as_deref(), Some("5"));
    assert_eq!(client.status(), StatusCode::Error);
    assert_eq!(attr(&client, "error.type").as_deref(), Some("NOT_FOUND"));
    assert_eq!(client.status_message(), Some("NOT_FOUND: asked to fail"));
}

/// The channel stops a call at its `grpc-timeout` before any answer (the server
/// accepts the connection and never speaks): the client span has the status
/// tonic gives the application, not a transport error.
#[tokio::test]
async fn a_call_the_channel_stops_at_its_deadline_has_the_status_the_application_sees() {
    let h = Harness::new();
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", silent.local_addr().unwrap());
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            open.push(socket);
        }
    });
    let mut request = tonic::Request::new(msg("slow"));
    request.set_timeout(std::time::Duration::from_millis(100));
    let status = client(&base).unary(request).await.unwrap_err();
    assert_eq!(status.code(), Code::Cancelled);
    assert_eq!(status.message(), "Timeout expired");
    held.abort();
    let name = format!("{SERVICE}/Unary");
    let client = h.wait_for(&name, SpanKind::Client).await;
    assert_eq!(attr(&client, "rpc.grpc.status_code").as_deref(), Some("1"));
    assert_eq!(attr(&client, "error.type").as_deref(), Some("CANCELLED"));
    assert_eq!(client.status_message(), Some("CANCELLED: Timeout expired"));
}

#[tokio::test]
async fn a_status_after_a_streamed_body_is_read_from_the_trailers() {
    let h = Harness::new();
    let base = spawn(observe_tonic::layer()).await;
    let mut stream = client(&base)
        .server_stream(Msg {
            count: 2,
            fail: 15,
            ..Msg::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(stream.message().await.unwrap().is_some());
    assert!(stream.message().await.unwrap().is_some());
    assert_eq!(stream.message().await.unwrap_err().code(), Code::DataLoss);
    let name = format!("{SERVICE}/ServerStream");
    let server = h.wait_for(&name, SpanKind::Server).await;
    assert_eq!(attr(&server, "rpc.grpc.status_code").as_deref(), Some("15"));
    assert_eq!(
        server.status(),
        StatusCode::Error,
        "DATA_LOSS is a server error"
    );
    assert_eq!(attr(&server, "error.type").as_deref(), Some("DATA_LOSS"));
    assert_eq!(
        attr(&server, "observe.rpc.messages_sent").as_deref(),
        Some("2")
    );
    let client = h.wait_for(&name, SpanKind::Client).await;
    assert_eq!(attr(&client, "rpc.grpc.status_code").as_deref(), Some("15"));
    assert_eq!(
        attr(&client, "observe.rpc.messages_received").as_deref(),
        Some("2")
    );
}

/// A unary call of the echo server on `path`, which it does not serve.
async fn call_unserved(path: &'static str) -> (Harness, tonic::Status) {
    let h = Harness::new();
    let base = spawn(observe_tonic::layer()).await;
    let mut grpc = tonic::client::Grpc::new(observe_tonic::client::connect_lazy(base).unwrap());
    grpc.ready().await.unwrap();
    let status = grpc
        .unary(
            tonic::Request::new(msg("x")),
            http::uri::PathAndQuery::from_static(path),
            tonic_prost::ProstCodec::<Msg, Msg>::default(),
        )
        .await
        .unwrap_err();
    (h, status)
}

#[tokio::test]
async fn an_unknown_method_is_unimplemented_and_a_server_error() {
    let (h, status) = call_unserved("/made.Up/Method").await;
    assert_eq!(status.code(), Code::Unimplemented);
    let server = h.wait_for("made.Up/Method", SpanKind::Server).await;
    assert_eq!(attr(&server, "rpc.grpc.status_code").as_deref(), Some("12"));
    assert_eq!(server.status(), StatusCode::Error);
}

/// A path that is not `/Service/Method`: the span and the access line both name
/// the call `grpc`; its labels and fields are `_OTHER`.
#[tokio::test]
async fn a_path_that_is_not_a_method_is_named_grpc_in_the_span_and_the_access_line() {
    let (h, status) = call_unserved("/a/b/c").await;
    assert_eq!(status.code(), Code::Unimplemented);
    let server = h.wait_for("grpc", SpanKind::Server).await;
    assert_eq!(attr(&server, "rpc.method").as_deref(), Some("_OTHER"));
    let line = h
        .log_lines()
        .into_iter()
        .find(|l| {
            l["target"] == "observe::access" && l["trace_id"] == server.trace_id().to_string()
        })
        .expect("the call's access line");
    assert_eq!(line["message"], "grpc UNIMPLEMENTED", "{line}");
    assert_eq!(line["fields"]["rpc.service"], "_OTHER", "{line}");
    assert_eq!(line["fields"]["rpc.method"], "_OTHER", "{line}");
}

#[tokio::test]
async fn a_panicking_handler_answers_internal_and_is_recorded() {
    let h = Harness::new();
    let base = spawn(observe_tonic::layer()).await;
    let status = client(&base).unary(msg("panic")).await.unwrap_err();
    assert_eq!(status.code(), Code::Internal);
    let server = h
        .wait_for(&format!("{SERVICE}/Unary"), SpanKind::Server)
        .await;
    assert_eq!(server.status(), StatusCode::Error);
    assert_eq!(attr(&server, "error.type").as_deref(), Some("panic"));
    assert_eq!(attr(&server, "rpc.grpc.status_code").as_deref(), Some("13"));
    assert!(server.events().iter().any(|e| e.name == "exception"));
    // The server goes on serving.
    assert!(client(&base).unary(msg("after")).await.is_ok());
}

#[tokio::test]
async fn a_panicking_stream_ends_with_internal() {
    let h = Harness::new();
    let base = spawn(observe_tonic::layer()).await;
    let mut stream = client(&base)
        .server_stream(Msg {
            text: "panic-in-stream".into(),
            count: 1,
            ..Msg::default()
        })
        .await
        .unwrap()
        .into_inner();
    // tonic may batch the first message with the poll that panicked: what was
    // sent before the panic arrives, then INTERNAL.
    let status = loop {
        match stream.message().await {
            Ok(Some(_)) => continue,
            Ok(None) => panic!("the stream ended without a status"),
            Err(status) => break status,
        }
    };
    assert_eq!(status.code(), Code::Internal);
    let server = h
        .wait_for(&format!("{SERVICE}/ServerStream"), SpanKind::Server)
        .await;
    assert_eq!(attr(&server, "error.type").as_deref(), Some("panic"));
    assert_eq!(attr(&server, "rpc.grpc.status_code").as_deref(), Some("13"));
    assert!(server.events().iter().any(|e| e.name == "exception"));
}

#[tokio::test]
async fn a_stream_the_client_drops_is_recorded_as_cancelled() {
    let h = Harness::new();
    let base = spawn(observe_tonic::layer()).await;
    let mut stream = client(&base)
        .server_stream(msg("endless"))
        .await
        .unwrap()
        .into_inner();
    assert!(stream.message().await.unwrap().is_some());
    drop(stream);
    let name = format!("{SERVICE}/ServerStream");
    let client = h.wait_for(&name, SpanKind::Client).await;
    assert_eq!(attr(&client, "observe.cancelled").as_deref(), Some("true"));
    assert_eq!(attr(&client, "rpc.grpc.status_code").as_deref(), Some("1"));
    let server = h.wait_for(&name, SpanKind::Server).await;
    assert_eq!(attr(&server, "observe.cancelled").as_deref(), Some("true"));
    assert_eq!(attr(&server, "rpc.grpc.status_code").as_deref(), Some("1"));
    assert_eq!(
        server.status(),
        StatusCode::Unset,
        "CANCELLED is not a server error"
    );
}
