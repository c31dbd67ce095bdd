//! The client layer carries the trace to a second service; baggage and the request
//! id go to internal hosts only; tracer bullets do not reach external hosts.

use axum::Router;
use axum::routing::get;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use observe_axum::client::{ClientOptions, ClientService, ObserveClientLayer, TracerBulletBlocked};
use observe_core::config::TracerBulletPolicy;
use observe_core::span::{SpanKind, StatusCode};
use tower::{Service as _, ServiceBuilder, ServiceExt as _};

use crate::support::*;

/// Service B: answers with the propagation headers it received.
fn echo() -> Router {
    Router::new()
        .route(
            "/echo",
            get(|headers: http::HeaderMap| async move {
                let get = |name: &str| {
                    headers
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned)
                };
                serde_json::json!({
                    "traceparent": get("traceparent"),
                    "tracestate": get("tracestate"),
                    "baggage": get("baggage"),
                    "x-request-id": get("x-request-id"),
                    "observe-tracer-bullet": get("observe-tracer-bullet"),
                })
                .to_string()
            }),
        )
        .layer(observe_axum::layer())
}

/// A hyper-util client behind the observe layer.
type HttpClient = ClientService<Client<HttpConnector, Full<Bytes>>>;

fn http_client(options: ClientOptions) -> HttpClient {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    ServiceBuilder::new()
        .layer(ObserveClientLayer::with_options(options))
        .service(client)
}

/// Service A: calls `url` through the layer and answers with what B saw, or the
/// client error.
fn caller(url: String, options: ClientOptions) -> Router {
    let client = http_client(options);
    Router::new()
        .route(
            "/call",
            get(move || {
                let (url, mut client) = (url.clone(), client.clone());
                async move {
                    observe_core::context::set_user("alice");
                    observe_core::context::set_flag("beta", "on");
                    let request = http::Request::get(url)
                        .body(Full::new(Bytes::new()))
                        .unwrap();
                    let client = client.ready().await.map_err(|e| e.to_string())?;
                    match client.call(request).await {
                        Ok(response) => {
                            let body = response.into_body().collect().await.unwrap().to_bytes();
                            Ok::<_, String>(String::from_utf8(body.to_vec()).unwrap())
                        }
                        Err(e) => Err(format!(
                            "blocked={} {e}",
                            e.downcast_ref::<TracerBulletBlocked>().is_some()
                        )),
                    }
                }
            }),
        )
        .layer(observe_axum::layer())
}

/// Calls A's `/call`, as a tracer bullet when `token` is given (its marker and, if
/// not empty, the token).
async fn call_with(base: &str, bullet: Option<&str>) -> serde_json::Value {
    let mut request = client()
        .get(format!("{base}/call"))
        .header("traceparent", TRACEPARENT)
        .header("tracestate", "vendor=opaque")
        .header("x-request-id", "req-1");
    match bullet {
        None => request = request.header("baggage", "team=blue"),
        Some(token) => {
            request = request.header("baggage", "observe.request_type=tracer_bullet,team=blue");
            if !token.is_empty() {
                request = request.header("observe-tracer-bullet", token);
            }
        }
    }
    let body = request.send().await.unwrap().text().await.unwrap();
    serde_json::from_str(&body).unwrap_or(serde_json::Value::String(body))
}

async fn call(base: &str) -> serde_json::Value {
    call_with(base, None).await
}

fn internal_loopback() -> ClientOptions {
    ClientOptions::new().internal_hosts(["127.0.0.1"]).unwrap()
}

#[tokio::test]
async fn both_services_share_the_trace_and_parents_chain_through_the_client_span() {
    // The test's client is trusted: its `team=blue` is passed on.
    let h = Harness::with(trust_loopback);
    let b = spawn(echo()).await;
    let a = spawn(caller(format!("{b}/echo"), internal_loopback())).await;
    let seen = call(&a).await;

    let spans = h.spans();
    let server_a = spans.iter().find(|s| s.name() == "GET /call").unwrap();
    let client = spans.iter().find(|s| s.kind() == SpanKind::Client).unwrap();
    let server_b = spans.iter().find(|s| s.name() == "GET /echo").unwrap();
    assert_eq!(server_a.trace_id().to_string(), TRACE);
    assert_eq!(client.trace_id().to_string(), TRACE);
    assert_eq!(server_b.trace_id().to_string(), TRACE);
    assert_eq!(client.parent_id(), server_a.span_id());
    assert_eq!(server_b.parent_id(), client.span_id());
    assert!(server_b.parent_is_remote());

    assert_eq!(
        seen["traceparent"],
        format!("00-{TRACE}-{}-01", client.span_id())
    );
    assert_eq!(seen["tracestate"], "vendor=opaque");
    assert_eq!(seen["x-request-id"], "req-1");
    let baggage = seen["baggage"].as_str().unwrap();
    for member in ["observe.user_id=alice", "observe.flag.beta=on", "team=blue"] {
        assert!(baggage.contains(member), "{member} in {baggage}");
    }
    assert!(!baggage.contains("tracer_bullet"), "a standard request");

    assert_eq!(client.name(), "GET");
    assert_eq!(attr(client, "server.address").as_deref(), Some("127.0.0.1"));
    assert_eq!(attr(client, "peer.service").as_deref(), Some("127.0.0.1"));
    assert_eq!(
        attr(client, "http.response.status_code").as_deref(),
        Some("200")
    );
    assert!(
        attr(client, "observe.callee.duration_ms").is_some(),
        "Server-Timing read"
    );
    assert!(attr(client, "observe.network.duration_ms").is_some());
    assert_eq!(
        attr(client, "observe.callee.span_id"),
        Some(server_b.span_id().to_string())
    );
}

#[tokio::test]
async fn external_hosts_get_traceparent_and_tracestate_only() {
    let _h = Harness::new();
    let b = spawn(echo()).await;
    let a = spawn(caller(format!("{b}/echo"), ClientOptions::new())).await;
    let seen = call(&a).await;
    assert!(seen["traceparent"].as_str().unwrap().contains(TRACE));
    assert_eq!(seen["tracestate"], "vendor=opaque");
    assert_eq!(seen["baggage"], serde_json::Value::Null);
    assert_eq!(seen["x-request-id"], serde_json::Value::Null);
}

#[tokio::test]
async fn a_verified_tracer_bullet_reaches_internal_hosts_with_its_mode_and_a_fresh_token() {
    let key = [3u8; 32];
    let h = Harness::with(|b| {
        b.tracer_bullet_policy(TracerBulletPolicy::Signed)
            .tracer_bullet_key(key.to_vec())
    });
    let b = spawn(echo()).await;
    let a = spawn(caller(format!("{b}/echo"), internal_loopback())).await;
    let key = observe_core::config::TracerBulletKey::from_bytes(key).unwrap();
    let trace = observe_core::TraceId::from_hex(TRACE).unwrap();
    let inbound = observe_core::tracer_bullet::sign(
        &key,
        trace,
        observe_core::tracer_bullet::unix_now() - 30,
    );
    let seen = call_with(&a, Some(&inbound)).await;
    let baggage = seen["baggage"].as_str().unwrap_or_else(|| panic!("{seen}"));
    assert!(
        baggage.contains("observe.request_type=tracer_bullet"),
        "{baggage}"
    );
    let token = seen["observe-tracer-bullet"].as_str().expect("a token");
    assert_ne!(token, inbound, "signed afresh by A");
    observe_core::tracer_bullet::verify(
        &key,
        token.as_bytes(),
        trace,
        observe_core::tracer_bullet::unix_now(),
        std::time::Duration::from_secs(60),
    )
    .expect("signed by the caller for this trace");
    let echo_span = h.span("GET /echo");
    assert_eq!(
        echo_span.request_type(),
        observe_core::context::RequestType::TracerBullet,
        "B verified it too"
    );
}

#[tokio::test]
async fn a_tracer_bullet_sends_nothing_to_an_external_host() {
    let h = Harness::with(|b| trust_loopback(b).tracer_bullet_policy(TracerBulletPolicy::Trusted));
    let b = spawn(echo()).await;
    let a = spawn(caller(format!("{b}/echo"), ClientOptions::new())).await;
    let seen = call_with(&a, Some("")).await;
    let message = seen.as_str().unwrap();
    assert!(message.starts_with("blocked=true"), "{message}");
    assert!(message.contains("not an internal host"), "{message}");
    let spans = h.spans();
    assert!(
        spans.iter().all(|s| s.name() != "GET /echo"),
        "B never saw it"
    );
    let client = spans.iter().find(|s| s.kind() == SpanKind::Client).unwrap();
    assert_eq!(client.status(), StatusCode::Error);
    assert_eq!(
        attr(client, "error.type").as_deref(),
        Some("tracer_bullet_blocked")
    );

    // Unless the host is allowed explicitly.
    let allowed = ClientOptions::new()
        .allow_in_tracer_bullet(["127.0.0.1"])
        .unwrap();
    let a = spawn(caller(format!("{b}/echo"), allowed)).await;
    let seen = call_with(&a, Some("")).await;
    assert!(seen["traceparent"].is_string(), "{seen}");
    assert_eq!(
        seen["baggage"],
        serde_json::Value::Null,
        "still external: no baggage"
    );
}

#[tokio::test]
async fn a_refused_connection_is_a_failed_client_span() {
    let h = Harness::new();
    // A port nobody listens on.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let mut client = http_client(ClientOptions::new());
    let request = http::Request::get(format!("http://{closed}/"))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let ready = client.ready().await.unwrap();
    let job = observe_core::span::Span::new("job");
    let result = job.in_scope(|| ready.call(request)).await;
    drop(job);
    assert!(result.is_err());
    let span = h
        .spans()
        .into_iter()
        .find(|s| s.kind() == SpanKind::Client)
        .unwrap();
    assert_eq!(span.status(), StatusCode::Error);
    assert_eq!(attr(&span, "error.type").as_deref(), Some("transport"));
    // The dependency's histogram says why too: no status, `error.type=transport`.
    let host = closed.ip().to_string();
    let snapshot = observe_core::metrics::snapshot();
    let failed = snapshot
        .histogram(
            "http.client.request.duration",
            &[
                ("server.address", host.as_str()),
                ("http.request.method", "GET"),
                ("error.type", "transport"),
                ("request_type", "standard"),
            ],
        )
        .expect("a failed call is measured under its error type");
    assert!(failed.cumulative.errors >= 1);
}

/// A call the caller stops waiting for (a timeout around it) is a failed call
/// of type `cancelled`, and measured: a dependency that hangs never looks healthy.
#[tokio::test]
async fn a_call_the_caller_gives_up_on_is_cancelled_and_measured() {
    let h = Harness::new();
    // Accepts and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.2:0").await.unwrap();
    let addr = silent.local_addr().unwrap();
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            open.push(socket);
        }
    });
    let mut client = http_client(ClientOptions::new());
    let request = http::Request::get(format!("http://{addr}/hang"))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let ready = client.ready().await.unwrap();
    let job = observe_core::span::Span::new("job");
    let call = job.in_scope(|| ready.call(request));
    let gave_up = tokio::time::timeout(std::time::Duration::from_millis(100), call).await;
    assert!(gave_up.is_err(), "the server never answers");
    drop(job);
    held.abort();
    let span = h
        .spans()
        .into_iter()
        .find(|s| s.kind() == SpanKind::Client)
        .expect("the client span ended");
    assert_eq!(span.status(), StatusCode::Error);
    assert_eq!(attr(&span, "error.type").as_deref(), Some("cancelled"));
    assert_eq!(attr(&span, "observe.cancelled").as_deref(), Some("true"));
    let snapshot = observe_core::metrics::snapshot();
    let cancelled = snapshot
        .histogram(
            "http.client.request.duration",
            &[
                ("server.address", "127.0.0.2"),
                ("http.request.method", "GET"),
                ("error.type", "cancelled"),
                ("request_type", "standard"),
            ],
        )
        .expect("a call given up on is measured under error.type=cancelled");
    assert!(cancelled.cumulative.errors >= 1);
}

/// What a response says about its callee is believed within reason: a
/// `traceresponse` of another trace names no span of this call, a
/// `Server-Timing` longer than the call itself is not its callee's time, and an
/// invalid `traceresponse` is counted.
#[tokio::test]
async fn a_callees_answer_is_believed_only_where_it_can_be_true() {
    let h = Harness::new();
    let liar = Router::new().route(
        "/",
        get(|| async {
            (
                [
                    (
                        "traceresponse",
                        "00-0123456789abcdef0123456789abcdef-1111111111111111-01",
                    ),
                    ("server-timing", "observe;dur=100000000"),
                ],
                "ok",
            )
        }),
    );
    let bad = Router::new().route(
        "/",
        get(|| async { ([("traceresponse", "not a traceresponse")], "ok") }),
    );
    let rejected = || {
        observe_core::metrics::snapshot()
            .counter(
                "observe.propagation.rejected",
                &[("header", "traceresponse")],
            )
            .map_or(0, |c| c.value)
    };
    let before = rejected();
    for base in [spawn(liar).await, spawn(bad).await] {
        let mut client = http_client(ClientOptions::new());
        let request = http::Request::get(format!("{base}/"))
            .body(Full::new(Bytes::new()))
            .unwrap();
        let ready = client.ready().await.unwrap();
        let job = observe_core::span::Span::new("job");
        let response = job.in_scope(|| ready.call(request)).await.unwrap();
        assert_eq!(response.status(), 200);
        drop(job);
    }
    let spans: Vec<_> = h
        .spans()
        .into_iter()
        .filter(|s| s.kind() == SpanKind::Client)
        .collect();
    assert_eq!(spans.len(), 2);
    for span in &spans {
        assert_eq!(attr(span, "observe.callee.span_id"), None, "{span:?}");
        assert_eq!(attr(span, "observe.callee.duration_ms"), None, "{span:?}");
    }
    assert!(rejected() > before, "the invalid traceresponse is counted");
}

#[cfg(feature = "reqwest")]
#[tokio::test]
async fn the_reqwest_middleware_propagates_like_the_layer() {
    use observe_core::FutureExt as _;
    use observe_core::client::ObserveMiddleware;
    use observe_core::context::RequestContext;
    use observe_core::span::Span;

    let h = Harness::new();
    let b = spawn(echo()).await;
    let http = ObserveMiddleware::with_options(internal_loopback())
        .client_builder(client_builder())
        .unwrap()
        .build();
    let job = Span::builder("job")
        .context(
            RequestContext::builder()
                .user("bob")
                .request_id("job-9")
                .build(),
        )
        .start();
    let trace = job.span_context().unwrap().trace_id;
    let seen: serde_json::Value = async {
        let body = http
            .get(format!("{b}/echo"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        serde_json::from_str(&body).unwrap()
    }
    .in_span(job)
    .await;
    assert!(
        seen["traceparent"]
            .as_str()
            .unwrap()
            .contains(&trace.to_string())
    );
    assert_eq!(seen["baggage"], "observe.user_id=bob");
    assert_eq!(seen["x-request-id"], "job-9");
    let spans = h.spans();
    let client = spans.iter().find(|s| s.kind() == SpanKind::Client).unwrap();
    let job = spans.iter().find(|s| s.name() == "job").unwrap();
    assert_eq!(client.parent_id(), job.span_id());
    assert_eq!(
        attr(client, "http.response.status_code").as_deref(),
        Some("200")
    );
}
