//! Outgoing calls never leak on redirects: each hop is decided again (audience,
//! tracer-bullet block), so an internal host answering 307 to an external one
//! cannot make observe send baggage, the request id or a tracer bullet there.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::response::Redirect;
use axum::routing::get;
use observe_core::FutureExt as _;
use observe_core::client::{ClientOptions, ObserveMiddleware};
use observe_core::context::{RequestContext, RequestType};
use observe_core::span::{Span, SpanKind};

use crate::support::*;

/// The headers each request to the external host carried.
#[derive(Clone, Default)]
struct Received(Arc<Mutex<Vec<http::HeaderMap>>>);

impl Received {
    fn all(&self) -> Vec<http::HeaderMap> {
        self.0.lock().unwrap().clone()
    }
}

/// The external host: records what it received.
async fn external() -> (String, Received) {
    let received = Received::default();
    let record = received.clone();
    let router = Router::new().route(
        "/landing",
        get(move |headers: http::HeaderMap| {
            let record = record.clone();
            async move {
                record.0.lock().unwrap().push(headers);
                "landed"
            }
        }),
    );
    (spawn(router).await, received)
}

/// The internal host: answers 307 to `to`.
async fn redirecting(to: String) -> String {
    let router = Router::new().route(
        "/moved",
        get(move || {
            let to = to.clone();
            async move { Redirect::temporary(&to) }
        }),
    );
    spawn(router).await
}

/// Only `base`'s host and port is internal.
fn internal_only(base: &str) -> ClientOptions {
    let authority = base.trim_start_matches("http://");
    ClientOptions::new().internal_hosts([authority]).unwrap()
}

fn request_context(request_type: RequestType) -> Arc<RequestContext> {
    RequestContext::builder()
        .user("alice")
        .request_id("req-secret")
        .flag("beta", "on")
        .request_type(request_type)
        .build()
}

/// A reqwest client with observe's middleware, as the docs build it.
fn observed(options: ClientOptions) -> reqwest_middleware::ClientWithMiddleware {
    ObserveMiddleware::with_options(options)
        .client_builder(client_builder())
        .unwrap()
        .build()
}

#[tokio::test]
async fn a_redirect_to_an_external_host_carries_no_baggage_nor_request_id() {
    let _h = Harness::new();
    let (external, received) = external().await;
    let internal = redirecting(format!("{external}/landing")).await;
    let http = observed(internal_only(&internal));
    let job = Span::builder("job")
        .context(request_context(RequestType::Standard))
        .start();
    let response = async { http.get(format!("{internal}/moved")).send().await }
        .in_span(job)
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let received = received.all();
    assert_eq!(received.len(), 1, "followed to the external host");
    let headers = &received[0];
    assert!(headers.contains_key("traceparent"), "the trace continues");
    for leaked in ["baggage", "x-request-id", "observe-tracer-bullet"] {
        assert!(
            !headers.contains_key(leaked),
            "{leaked} reached the external host: {headers:?}"
        );
    }
}

#[tokio::test]
async fn a_tracer_bullet_never_follows_a_redirect_to_an_external_host() {
    let _h = Harness::new();
    let (external, received) = external().await;
    let internal = redirecting(format!("{external}/landing")).await;
    let http = observed(internal_only(&internal));
    let job = Span::builder("job")
        .context(request_context(RequestType::TracerBullet))
        .start();
    let result = async { http.get(format!("{internal}/moved")).send().await }
        .in_span(job)
        .await;
    assert!(
        received.all().is_empty(),
        "the external host received the tracer bullet"
    );
    let err = result.expect_err("the external hop is refused");
    assert!(err.to_string().contains("tracer bullet"), "{err}");
}

/// A middleware after observe's that rewrites the URL: what observe could not
/// read would still be sent, unobserved, by the client.
struct DropPadding;

#[async_trait::async_trait]
impl reqwest_middleware::Middleware for DropPadding {
    async fn handle(
        &self,
        mut req: reqwest::Request,
        extensions: &mut http::Extensions,
        next: reqwest_middleware::Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        req.url_mut().set_query(None);
        next.run(req, extensions).await
    }
}

#[tokio::test]
async fn a_url_the_middleware_cannot_read_is_refused_in_a_tracer_bullet() {
    let _h = Harness::new();
    let (external, received) = external().await;
    // Longer than an `http::Uri` can be.
    let url = format!("{external}/landing?pad={}", "a".repeat(70_000));
    let http = ObserveMiddleware::with_options(
        ClientOptions::new()
            .allow_in_tracer_bullet(["127.0.0.1"])
            .unwrap(),
    )
    .client_builder(client_builder())
    .unwrap()
    .with(DropPadding)
    .build();
    let job = Span::builder("job")
        .context(request_context(RequestType::TracerBullet))
        .start();
    let result = async { http.get(url).send().await }.in_span(job).await;
    assert!(
        received.all().is_empty(),
        "sent unobserved in a tracer bullet: {result:?}"
    );
    assert!(result.is_err());
}

/// A standard request whose URL the middleware cannot read goes out unobserved,
/// but not with the baggage the application put on it: its audience is unknown.
#[tokio::test]
async fn a_url_the_middleware_cannot_read_carries_no_application_baggage() {
    let _h = Harness::new();
    let (external, received) = external().await;
    let url = format!("{external}/landing?pad={}", "a".repeat(70_000));
    let http = ObserveMiddleware::new()
        .client_builder(client_builder())
        .unwrap()
        .with(DropPadding)
        .build();
    let job = Span::builder("job")
        .context(request_context(RequestType::Standard))
        .start();
    let response = async {
        http.get(url)
            .header("baggage", "observe.user_id=copied")
            .header("x-request-id", "copied-id")
            .send()
            .await
    }
    .in_span(job)
    .await
    .unwrap();
    assert_eq!(response.status(), 200);
    let received = received.all();
    assert_eq!(received.len(), 1);
    assert!(!received[0].contains_key("baggage"), "{:?}", received[0]);
    assert_eq!(received[0]["x-request-id"], "copied-id");
}

#[tokio::test]
async fn a_redirect_between_internal_hosts_keeps_the_context_on_each_hop() {
    let h = Harness::new();
    let (landing, received) = external().await;
    let internal = redirecting(format!("{landing}/landing")).await;
    let both = ClientOptions::new()
        .internal_hosts([
            internal.trim_start_matches("http://"),
            landing.trim_start_matches("http://"),
        ])
        .unwrap();
    let http = observed(both);
    let job = Span::builder("job")
        .context(request_context(RequestType::Standard))
        .start();
    let response = async { http.get(format!("{internal}/moved")).send().await }
        .in_span(job)
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let received = received.all();
    assert_eq!(received[0]["x-request-id"], "req-secret");
    let baggage = received[0]["baggage"].to_str().unwrap();
    assert!(baggage.contains("observe.user_id=alice"), "{baggage}");
    let clients: Vec<_> = h
        .spans()
        .into_iter()
        .filter(|s| s.kind() == SpanKind::Client)
        .collect();
    assert_eq!(clients.len(), 2, "one client span per hop");
    assert_eq!(
        attr(&clients[0], "http.response.status_code").as_deref(),
        Some("307")
    );
    let traceparent = received[0]["traceparent"].to_str().unwrap();
    assert!(
        traceparent.contains(&clients[1].span_id().to_string()),
        "the last hop's span is the landing's parent"
    );
}

#[tokio::test]
async fn a_client_that_follows_redirects_itself_is_detected_and_warned_about() {
    // What the docs say of a client built without `client_builder`: reqwest
    // follows the redirect itself, with what observe added to the first request;
    // observe sees it afterwards, warns once and marks the span.
    let h = Harness::new();
    let (external, received) = external().await;
    let internal = redirecting(format!("{external}/landing")).await;
    let http = reqwest_middleware::ClientBuilder::new(client())
        .with(ObserveMiddleware::with_options(internal_only(&internal)))
        .build();
    let job = Span::builder("job")
        .context(request_context(RequestType::Standard))
        .start();
    let response = async { http.get(format!("{internal}/moved")).send().await }
        .in_span(job)
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        received.all()[0].contains_key("baggage"),
        "reqwest re-sent observe's headers, as documented"
    );
    let client = h
        .spans()
        .into_iter()
        .find(|s| s.kind() == SpanKind::Client)
        .unwrap();
    assert_eq!(
        attr(&client, "observe.redirect.unchecked").as_deref(),
        Some("true")
    );
    // Logged once per process: another test may have been first.
    let _ = h.log_lines();
}
