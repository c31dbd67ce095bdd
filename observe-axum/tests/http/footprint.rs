//! A tracer bullet's footprint: every service answers a bullet with what it and
//! its callees skipped (`observe-tracer-bullet-footprint`), merged hop by hop, so
//! the edge's response, its last log line and its server span tell the whole path.
//! A callee's footprint is never trusted to be small or well formed.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use observe_axum::client::{ClientOptions, ObserveClientLayer};
use observe_core::config::{TracerBulletKey, TracerBulletPolicy, TrustedCallers};
use observe_core::footprint::{HEADER, Summary};
use observe_core::tracer_bullet::{self, InboundPolicy};
use observe_core::{TraceId, side_effect};
use tower::{Service as _, ServiceBuilder, ServiceExt as _};

use crate::support::*;

const KEY: [u8; 32] = [9; 32];

/// A GET through observe's client layer (127.0.0.1 is internal, `localhost` is
/// not): the status, the footprint header, and the body; or the client's error.
async fn get_via_observe(url: String) -> Result<(u16, Option<String>, String), String> {
    let mut client = ServiceBuilder::new()
        .layer(ObserveClientLayer::with_options(
            ClientOptions::new().internal_hosts(["127.0.0.1"]).unwrap(),
        ))
        .service(Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>());
    let request = http::Request::get(url)
        .body(Full::new(Bytes::new()))
        .unwrap();
    let response = client
        .ready()
        .await
        .map_err(|e| e.to_string())?
        .call(request)
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let footprint = response
        .headers()
        .get(HEADER)
        .map(|v| v.to_str().unwrap().to_owned());
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Ok((
        status,
        footprint,
        String::from_utf8_lossy(&body).into_owned(),
    ))
}

/// A write to the database: skipped in a tracer bullet.
#[observe_axum::traced(side_effect)]
async fn insert_order(writes: Arc<AtomicUsize>) -> Result<Option<u64>, String> {
    writes.fetch_add(1, Ordering::SeqCst);
    Ok(Some(17))
}

/// The internal "orders" service: writes (a `#[traced(side_effect)]` function), sends
/// a receipt from a spawned task (`side_effect`), and calls a third party at
/// `provider` (not internal).
fn orders(writes: Arc<AtomicUsize>, provider: String, layer: observe_axum::ObserveLayer) -> Router {
    Router::new()
        .route(
            "/orders",
            get(move || {
                let (writes, provider) = (writes.clone(), provider.clone());
                async move {
                    insert_order(writes.clone()).await.unwrap();
                    let mailer = writes.clone();
                    observe_core::spawn(async move {
                        side_effect("mail.send", || {
                            mailer.fetch_add(1, Ordering::SeqCst);
                        })
                    })
                    .await
                    .unwrap();
                    match get_via_observe(format!("{provider}/charge")).await {
                        Ok((status, _, _)) => format!("charged {status}"),
                        Err(e) => format!("not charged: {e}"),
                    }
                }
            }),
        )
        .layer(layer)
}

/// The "payment provider": a third party without observe, counting its requests.
async fn provider() -> (String, Arc<AtomicUsize>) {
    let received = Arc::new(AtomicUsize::new(0));
    let counted = received.clone();
    let base = spawn(Router::new().route(
        "/charge",
        get(move || {
            counted.fetch_add(1, Ordering::SeqCst);
            async { "charged" }
        }),
    ))
    .await;
    // Reached by name: not an internal host for the callers.
    (base.replace("127.0.0.1", "localhost"), received)
}

/// The edge: calls `url` and answers with what it got.
fn edge(url: String) -> Router {
    Router::new()
        .route(
            "/checkout",
            get(move || {
                let url = url.clone();
                async move {
                    match get_via_observe(url).await {
                        Ok((status, _, body)) => format!("{status} {body}"),
                        Err(e) => e,
                    }
                }
            }),
        )
        .layer(observe_axum::layer())
}

fn signed(b: observe_core::Builder) -> observe_core::Builder {
    b.tracer_bullet_policy(TracerBulletPolicy::Signed)
        .tracer_bullet_key(KEY.to_vec())
        .tracer_bullet_max_age(Duration::from_secs(60))
}

fn trusting_orders() -> observe_axum::ObserveLayer {
    observe_axum::layer()
        .tracer_bullet_policy(InboundPolicy::trusted())
        .trusted_callers(TrustedCallers::from_patterns(["loopback"]).unwrap())
}

/// Fires a request at `url`: a signed bullet, or a standard request.
async fn fire(url: &str, bullet: bool) -> reqwest::Response {
    let mut request = client().get(url).header("traceparent", TRACEPARENT);
    if bullet {
        let key = TracerBulletKey::from_bytes(KEY).unwrap();
        let token = tracer_bullet::sign_now(&key, TraceId::from_hex(TRACE).unwrap());
        request = request
            .header("baggage", "observe.request_type=tracer_bullet")
            .header("observe-tracer-bullet", token);
    }
    request.send().await.unwrap()
}

fn footprint_of(response: &reqwest::Response) -> Summary {
    let header = response
        .headers()
        .get(HEADER)
        .unwrap_or_else(|| panic!("no {HEADER} in {:?}", response.headers()));
    Summary::parse(header.as_bytes()).unwrap()
}

fn skipped(summary: &Summary) -> Vec<(String, u64)> {
    let mut out: Vec<_> = summary
        .skipped()
        .iter()
        .map(|e| (e.name.clone(), e.count))
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn the_edge_answers_with_the_footprint_of_the_whole_path() {
    let h = Harness::with(signed);
    let writes = Arc::new(AtomicUsize::new(0));
    let (provider, charged) = provider().await;
    let orders = spawn(orders(writes.clone(), provider.clone(), trusting_orders())).await;
    let edge = spawn(edge(format!("{orders}/orders"))).await;

    let response = fire(&format!("{edge}/checkout"), true).await;
    assert_eq!(response.status(), 200);
    let footprint = footprint_of(&response);
    let header = response.headers()[HEADER].to_str().unwrap().to_owned();
    let body = response.text().await.unwrap();
    assert!(body.contains("not charged"), "{body}");
    assert_eq!(
        writes.load(Ordering::SeqCst),
        0,
        "a write ran in the bullet"
    );
    assert_eq!(charged.load(Ordering::SeqCst), 0, "the provider was called");

    // Both services run in this process, under one service name.
    assert_eq!(footprint.services(), ["http-test"]);
    assert_eq!(
        skipped(&footprint),
        [("insert_order".to_owned(), 1), ("mail.send".to_owned(), 1)]
    );
    assert_eq!(footprint.blocked().len(), 1);
    assert_eq!(footprint.blocked()[0].host, "localhost");
    assert_eq!(footprint.cut(), 0);

    // The same summary is an event on each server span (the edge's has it all)...
    let spans = h.spans();
    let servers: Vec<_> = spans
        .iter()
        .filter(|s| s.kind() == observe_core::span::SpanKind::Server)
        .collect();
    assert_eq!(servers.len(), 2);
    let edge_span = servers
        .iter()
        .find(|s| s.name() == "GET /checkout")
        .unwrap();
    let event = edge_span
        .events()
        .iter()
        .find(|e| e.name == "tracer_bullet.footprint")
        .expect("a footprint event on the edge's server span");
    let value = |key: &str| {
        event
            .attributes
            .iter()
            .find(|kv| kv.key == key)
            .map(|kv| kv.value.to_string())
    };
    assert_eq!(value("observe.footprint").as_deref(), Some(header.as_str()));
    assert_eq!(value("observe.footprint.skipped").as_deref(), Some("2"));
    assert_eq!(value("observe.footprint.blocked").as_deref(), Some("1"));

    // ... and the last log line of the edge's request (the connection pool's
    // debug lines come later, outside it).
    let edge_id = edge_span.span_id().to_string();
    let lines: Vec<_> = h
        .log_lines()
        .into_iter()
        .filter(|l| l["span_id"] == edge_id.as_str())
        .collect();
    let last = lines.last().unwrap();
    assert_eq!(last["target"], "observe::tracer_bullet", "{last}");
    assert_eq!(last["level"], "INFO");
    assert_eq!(last["fields"]["footprint"], header.as_str());
    assert_eq!(last["trace_id"], TRACE);
    let message = last["message"].as_str().unwrap();
    assert!(
        message.contains("insert_order") && message.contains("calls to localhost"),
        "{message}"
    );

    // The same request without the marker writes, sends the receipt and charges,
    // and carries no footprint.
    let response = fire(&format!("{edge}/checkout"), false).await;
    assert_eq!(response.status(), 200);
    assert!(!response.headers().contains_key(HEADER));
    assert_eq!(response.text().await.unwrap(), "200 charged 200");
    assert_eq!(writes.load(Ordering::SeqCst), 2);
    assert_eq!(charged.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_refusal_downstream_is_in_the_footprint() {
    let _h = Harness::with(signed);
    let writes = Arc::new(AtomicUsize::new(0));
    let (provider, _) = provider().await;
    let orders = spawn(orders(
        writes.clone(),
        provider,
        observe_axum::layer().tracer_bullet_policy(InboundPolicy::deny()),
    ))
    .await;
    let edge = spawn(edge(format!("{orders}/orders"))).await;

    let response = fire(&format!("{edge}/checkout"), true).await;
    let footprint = footprint_of(&response);
    assert_eq!(response.text().await.unwrap(), "403 ");
    assert_eq!(writes.load(Ordering::SeqCst), 0);
    assert_eq!(footprint.refused().len(), 1, "{footprint:?}");
    let refused = &footprint.refused()[0];
    assert_eq!(
        (
            refused.host.as_str(),
            refused.reason.as_str(),
            refused.count
        ),
        ("127.0.0.1", "policy_deny", 1)
    );
    assert!(footprint.skipped().is_empty());
}

/// An internal callee whose footprint header is whatever the test says.
async fn liar(footprint: &'static [u8]) -> String {
    spawn(Router::new().route(
        "/orders",
        get(move || async move {
            let mut headers = http::HeaderMap::new();
            headers.insert(HEADER, http::HeaderValue::from_bytes(footprint).unwrap());
            (headers, "ok")
        }),
    ))
    .await
}

#[tokio::test]
async fn a_callees_footprint_is_read_within_bounds_and_never_trusted() {
    let _h = Harness::with(signed);

    // Too long: not read at all, counted as one entry cut.
    let huge: &'static [u8] = Box::leak(
        format!(
            "v1;skip={}",
            (0..2000)
                .map(|i| format!("s/e{i}*1"))
                .collect::<Vec<_>>()
                .join(",")
        )
        .into_bytes()
        .into_boxed_slice(),
    );
    let edge_url = spawn(edge(format!("{}/orders", liar(huge).await))).await;
    let footprint = footprint_of(&fire(&format!("{edge_url}/checkout"), true).await);
    assert_eq!(footprint.cut(), 1);
    assert!(footprint.skipped().is_empty());

    // Within the byte bound but over the entry cap: the first entries kept, the
    // rest counted.
    let many: &'static [u8] = Box::leak(
        format!(
            "v1;skip={}",
            (0..200)
                .map(|i| format!("s/{i}*1"))
                .collect::<Vec<_>>()
                .join(",")
        )
        .into_bytes()
        .into_boxed_slice(),
    );
    let edge_url = spawn(edge(format!("{}/orders", liar(many).await))).await;
    let footprint = footprint_of(&fire(&format!("{edge_url}/checkout"), true).await);
    let kept = footprint.services().len() + footprint.skipped().len();
    assert_eq!(kept, observe_core::footprint::MAX_ENTRIES);
    assert_eq!(
        kept as u64 + footprint.cut(),
        200 + 1,
        "200 entries and the edge itself"
    );

    // Garbage: counted, and the edge's own footprint is still there.
    let edge_url = spawn(edge(format!(
        "{}/orders",
        liar(b"v1;svc=%FF;skip=x;block=a/b/c*1").await
    )))
    .await;
    let footprint = footprint_of(&fire(&format!("{edge_url}/checkout"), true).await);
    assert_eq!(footprint.services(), ["http-test"]);
    assert_eq!(footprint.cut(), 3);
}

#[tokio::test]
async fn a_traced_side_effect_in_a_bare_spawn_runs_and_debug_builds_warn() {
    let h = Harness::with(signed);
    let writes = Arc::new(AtomicUsize::new(0));
    let counted = writes.clone();
    let app = Router::new()
        .route(
            "/checkout",
            get(move || {
                let writes = counted.clone();
                async move {
                    // The context falls off here: the write runs for real.
                    #[allow(clippy::disallowed_methods)] // the mistake under test
                    tokio::spawn(insert_order(writes.clone()))
                        .await
                        .unwrap()
                        .unwrap();
                    // With the helper it does not.
                    observe_core::spawn(insert_order(writes))
                        .await
                        .unwrap()
                        .unwrap();
                    "done"
                }
            }),
        )
        .layer(observe_axum::layer());
    let base = spawn(app).await;
    let response = fire(&format!("{base}/checkout"), true).await;
    assert_eq!(response.status(), 200);
    let footprint = footprint_of(&response);
    assert_eq!(
        writes.load(Ordering::SeqCst),
        1,
        "only the bare spawn wrote"
    );
    assert_eq!(skipped(&footprint), [("insert_order".to_owned(), 1)]);
    let warnings: Vec<_> = h
        .log_lines()
        .into_iter()
        .filter(|l| {
            l["message"]
                .as_str()
                .is_some_and(|m| m.contains("ran with no request context"))
        })
        .collect();
    assert_eq!(
        warnings.len(),
        usize::from(cfg!(debug_assertions)),
        "{warnings:?}"
    );
}
