//! Each kind of call carries the trace both ways: `traceparent` to the server
//! (whose span is the client span's child), `traceresponse` back (the client span
//! names the server's span), and the whole stream inside both spans.

use observe_core::FutureExt;
use observe_core::span::{Span, SpanKind, SpanRecord};

use crate::support::*;

/// The caller's span, the client span and the server span of one call of `method`:
/// one trace, each the parent of the next, and the server's span id sent back.
async fn check_one_trace(h: &Harness, method: &str) -> (SpanRecord, SpanRecord) {
    let name = format!("{SERVICE}/{method}");
    let server = h.wait_for(&name, SpanKind::Server).await;
    let client = h.wait_for(&name, SpanKind::Client).await;
    let caller = h.span("caller");
    assert_eq!(client.trace_id(), caller.trace_id());
    assert_eq!(server.trace_id(), caller.trace_id());
    assert_eq!(client.parent_id(), caller.span_id());
    assert_eq!(server.parent_id(), client.span_id());
    assert!(server.parent_is_remote());
    assert_eq!(
        attr(&client, "observe.callee.span_id"),
        Some(server.span_id().to_string()),
        "traceresponse came back"
    );
    for span in [&server, &client] {
        assert_eq!(attr(span, "rpc.system").as_deref(), Some("grpc"));
        assert_eq!(attr(span, "rpc.service").as_deref(), Some(SERVICE));
        assert_eq!(attr(span, "rpc.method").as_deref(), Some(method));
        assert_eq!(attr(span, "rpc.grpc.status_code").as_deref(), Some("0"));
    }
    assert_eq!(
        attr(&server, "client.address").as_deref(),
        Some("127.0.0.1")
    );
    assert_eq!(
        attr(&server, "network.peer.address").as_deref(),
        Some("127.0.0.1")
    );
    assert_eq!(
        attr(&client, "server.address").as_deref(),
        Some("127.0.0.1")
    );
    (server, client)
}

#[tokio::test]
async fn unary() {
    let h = Harness::new();
    let base = spawn(observe_tonic::layer()).await;
    let reply = client(&base)
        .unary(msg("hi"))
        .in_span(Span::new("caller"))
        .await
        .unwrap();
    assert_eq!(reply.get_ref().text, "hi standard");
    let metadata = reply.metadata();
    assert!(metadata.get("traceresponse").is_some());
    let request_id = metadata
        .get("x-request-id")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();

    let (server, client) = check_one_trace(&h, "Unary").await;
    assert_eq!(
        attr(&server, "observe.rpc.messages_received").as_deref(),
        Some("1")
    );
    assert_eq!(
        attr(&server, "observe.rpc.messages_sent").as_deref(),
        Some("1")
    );
    assert_eq!(
        attr(&client, "observe.rpc.messages_sent").as_deref(),
        Some("1")
    );
    assert_eq!(
        attr(&client, "observe.rpc.messages_received").as_deref(),
        Some("1")
    );
    assert!(
        attr(&client, "observe.callee.duration_ms").is_some(),
        "Server-Timing read"
    );

    // The handler's log line carries the call's context.
    let line = h
        .log_lines()
        .into_iter()
        .find(|l| l["message"] == "unary handler")
        .expect("the handler's line");
    assert_eq!(line["trace_id"], server.trace_id().to_string());
    assert_eq!(line["span_id"], server.span_id().to_string());
    assert_eq!(line["request_id"], request_id);
    let access = h
        .log_lines()
        .into_iter()
        .find(|l| l["target"] == "observe::access")
        .expect("an access-log line");
    assert_eq!(access["message"], format!("{SERVICE}/Unary OK"));
}

#[tokio::test]
async fn server_streaming() {
    let h = Harness::new();
    let base = spawn(observe_tonic::layer()).await;
    let mut stream = client(&base)
        .server_stream(Msg {
            count: 3,
            ..Msg::default()
        })
        .in_span(Span::new("caller"))
        .await
        .unwrap()
        .into_inner();
    let mut received = 0;
    while stream.message().await.unwrap().is_some() {
        received += 1;
    }
    assert_eq!(received, 3);
    let (server, client) = check_one_trace(&h, "ServerStream").await;
    assert_eq!(
        attr(&server, "observe.rpc.messages_sent").as_deref(),
        Some("3")
    );
    assert_eq!(
        attr(&client, "observe.rpc.messages_received").as_deref(),
        Some("3")
    );
    // The stream's items were produced inside the server span.
    let streamed: Vec<_> = h
        .log_lines()
        .into_iter()
        .filter(|l| l["message"] == "streaming")
        .collect();
    assert_eq!(streamed.len(), 3);
    assert!(
        streamed
            .iter()
            .all(|l| l["span_id"] == server.span_id().to_string())
    );
    // The server span covers the stream: it ends after its last message.
    assert!(server.end_time() >= client.start_time());
}

#[tokio::test]
async fn client_streaming() {
    let h = Harness::new();
    let base = spawn(observe_tonic::layer()).await;
    let reply = client(&base)
        .client_stream(tokio_stream::iter(vec![msg("a"); 4]))
        .in_span(Span::new("caller"))
        .await
        .unwrap();
    assert_eq!(reply.get_ref().count, 4);
    let (server, client) = check_one_trace(&h, "ClientStream").await;
    assert_eq!(
        attr(&server, "observe.rpc.messages_received").as_deref(),
        Some("4")
    );
    assert_eq!(
        attr(&client, "observe.rpc.messages_sent").as_deref(),
        Some("4")
    );
}

#[tokio::test]
async fn bidirectional_streaming() {
    let h = Harness::new();
    let base = spawn(observe_tonic::layer()).await;
    let mut stream = client(&base)
        .bidi(tokio_stream::iter(vec![msg("a"), msg("b")]))
        .in_span(Span::new("caller"))
        .await
        .unwrap()
        .into_inner();
    let mut texts = Vec::new();
    while let Some(m) = stream.message().await.unwrap() {
        texts.push(m.text);
    }
    assert_eq!(texts, ["echo a", "echo b"]);
    let (server, client) = check_one_trace(&h, "Bidi").await;
    assert_eq!(
        attr(&server, "observe.rpc.messages_received").as_deref(),
        Some("2")
    );
    assert_eq!(
        attr(&server, "observe.rpc.messages_sent").as_deref(),
        Some("2")
    );
    assert_eq!(
        attr(&client, "observe.rpc.messages_sent").as_deref(),
        Some("2")
    );
    assert_eq!(
        attr(&client, "observe.rpc.messages_received").as_deref(),
        Some("2")
    );
}

#[tokio::test]
async fn a_call_from_outside_any_span_starts_a_trace_the_server_continues() {
    let h = Harness::new();
    let base = spawn(observe_tonic::layer()).await;
    client(&base).unary(msg("x")).await.unwrap();
    let name = format!("{SERVICE}/Unary");
    let server = h.wait_for(&name, SpanKind::Server).await;
    let client = h.wait_for(&name, SpanKind::Client).await;
    assert_eq!(server.trace_id(), client.trace_id());
    assert_eq!(server.parent_id(), client.span_id());
}

/// Metadata the application set itself (a gateway copying its caller's) carries
/// no baggage to an external target; its request id is left alone.
#[tokio::test]
async fn application_metadata_with_identity_is_not_sent_to_an_external_target() {
    // The server believes loopback's identity: whatever reaches it shows.
    let h = Harness::with(|b| b.trusted_callers(["loopback"]));
    let base = spawn(observe_tonic::layer()).await;
    let send = |internal: &'static str| {
        let base = base.clone();
        async move {
            let endpoint = tonic::transport::Endpoint::from_shared(base).unwrap();
            let layer = observe_tonic::client::ObserveClientLayer::for_endpoint(&endpoint)
                .with_options(
                    observe_core::client::ClientOptions::new()
                        .internal_hosts([internal])
                        .unwrap(),
                );
            let channel = tower::ServiceBuilder::new()
                .layer(layer)
                .service(endpoint.connect_lazy());
            let mut request = tonic::Request::new(msg(internal));
            let metadata = request.metadata_mut();
            metadata.insert("baggage", "observe.user_id=copied".parse().unwrap());
            metadata.insert("x-request-id", "copied-request-id".parse().unwrap());
            EchoClient::new(channel)
                .unary(request)
                .in_span(Span::new("gateway"))
                .await
                .unwrap();
        }
    };
    send("*.internal").await; // 127.0.0.1 is external to this client
    send("127.0.0.1").await;
    let lines: Vec<_> = h
        .log_lines()
        .into_iter()
        .filter(|l| l["message"] == "unary handler")
        .collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    let external = lines
        .iter()
        .find(|l| l["fields"]["text"] == "*.internal")
        .unwrap();
    assert_ne!(external["user_id"], "copied", "{external}");
    assert_eq!(external["request_id"], "copied-request-id", "{external}");
    let internal = lines
        .iter()
        .find(|l| l["fields"]["text"] == "127.0.0.1")
        .unwrap();
    assert_eq!(internal["user_id"], "copied", "{internal}");
    assert_eq!(internal["request_id"], "copied-request-id", "{internal}");
}
