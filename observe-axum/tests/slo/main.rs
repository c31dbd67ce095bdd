//! SLOs, alerts and the dependency view of a real axum service over loopback, read
//! through the admin API (`/observe/api/v1/slos`, `/alerts`, `/dependencies`,
//! `/metrics`).
//!
//! One observe instance is installed for the process (the admin API reads the
//! process's SLO engine and flight recorder); each test uses routes of its own.
//! Every wait polls with a deadline.

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Query, State};
use axum::routing::get;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use observe_axum::client::{ClientOptions, ClientService, ObserveClientLayer};
use observe_core::TraceId;
use observe_core::config::TracerBulletPolicy;
use observe_core::slo::Slo;
use observe_core::testing::SharedBuffer;
use serde_json::Value;
use tower::{Service as _, ServiceBuilder, ServiceExt as _};

struct Process {
    /// Kept for the whole process (never dropped: the instance runs until exit).
    _guard: std::sync::Mutex<observe_core::Guard>,
    admin: String,
    lines: SharedBuffer,
    snapshots: std::path::PathBuf,
}

/// The process's observe instance (installed once) and its admin listener.
fn process() -> &'static Process {
    static P: OnceLock<Process> = OnceLock::new();
    P.get_or_init(|| {
        let lines = SharedBuffer::default();
        let snapshots =
            std::env::temp_dir().join(format!("observe-slo-test-{}", std::process::id()));
        let dir = snapshots.display().to_string();
        let guard = observe_core::Observe::builder()
            .env_lookup(move |name| match name {
                "OBSERVE_SERVICE_OWNER" => Some("oncall@example.com".into()),
                "OBSERVE_SERVICE_TEAM" => Some("orders-team".into()),
                "OBSERVE_SLOS" => Some(
                    "latency|GET /slo/orders/{id}|99%|300ms|name=orders-fast;                      latency|GET /slo/breach/{id}|99%|300ms|name=breach-fast"
                        .into(),
                ),
                "OBSERVE_DUMP_DIR" => Some(dir.clone()),
                _ => None,
            })
            .service_name("front")
            .admin_addr(None)
            .slo(Slo::availability("GET /slo/orders/{id}", 0.9).named("orders-up"))
            .tracer_bullet_policy(TracerBulletPolicy::Trusted)
            .trusted_callers(["loopback"])
            .log_writer(lines.clone())
            .init()
            .expect("observe installs");
        // The admin routes on a listener of their own, on a runtime that outlives
        // every test's.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                tx.send(listener.local_addr().unwrap()).unwrap();
                axum::serve(
                    listener,
                    observe_axum::admin_routes()
                        .into_make_service_with_connect_info::<SocketAddr>(),
                )
                .await
                .unwrap();
            });
        });
        let addr = rx.recv().unwrap();
        Process {
            _guard: std::sync::Mutex::new(guard),
            admin: format!("http://{addr}"),
            lines,
            snapshots,
        }
    })
}

async fn spawn(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    format!("http://{addr}")
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

async fn api(path: &str) -> Value {
    let r = client()
        .get(format!("{}{path}", process().admin))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{path}");
    r.json().await.unwrap()
}

async fn metrics_text() -> String {
    client()
        .get(format!("{}/metrics", process().admin))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The tests share one process's recorder and engine: under `cargo test` (threads)
/// they take turns, so each reads only its own failures as the newest.
static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Polls `f` (every 100 ms, at most `timeout`) until it returns `Some`.
async fn wait_for<T, F: std::future::Future<Output = Option<T>>>(
    what: &str,
    timeout: Duration,
    mut f: impl FnMut() -> F,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn slo<'a>(slos: &'a Value, name: &str) -> &'a Value {
    slos["slos"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no SLO {name} in {slos}"))
}

fn window<'a>(slo: &'a Value, w: &str) -> &'a Value {
    slo["windows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["window"] == w)
        .unwrap()
}

#[derive(serde::Deserialize)]
struct Params {
    slow: Option<u8>,
    fail: Option<u8>,
}

async fn order(Query(p): Query<Params>) -> http::StatusCode {
    if p.slow.is_some() {
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    if p.fail.is_some() {
        return http::StatusCode::INTERNAL_SERVER_ERROR;
    }
    http::StatusCode::OK
}

#[tokio::test]
async fn a_burst_of_slow_requests_raises_the_burn_rate_and_fires_one_alert_with_evidence() {
    let _turn = TURN.lock().await;
    let p = process();
    let app = Router::new()
        .route("/slo/orders/{id}", get(order))
        .route(
            "/slo/other",
            get(|| async { http::StatusCode::INTERNAL_SERVER_ERROR }),
        )
        .layer(observe_axum::layer());
    let base = spawn(app).await;
    let get = |query: &'static str, bullet: bool| {
        let url = format!("{base}/slo/orders/7{query}");
        async move {
            let mut r = client().get(url);
            if bullet {
                r = r.header("baggage", "observe.request_type=tracer_bullet");
            }
            let status = r.send().await.unwrap().status();
            assert!(status == 200 || status == 500, "{status}");
        }
    };

    // Normal load: 300 fast requests.
    for _ in 0..300 {
        get("", false).await;
    }
    // The burst, concurrently: 60 slow, 10 failing, and 30 tracer bullets that are
    // both slow and failing.
    let mut burst = tokio::task::JoinSet::new();
    for _ in 0..60 {
        burst.spawn(get("?slow=1", false));
    }
    for _ in 0..10 {
        burst.spawn(get("?fail=1", false));
    }
    for _ in 0..30 {
        burst.spawn(get("?slow=1&fail=1", true));
    }
    while let Some(r) = burst.join_next().await {
        r.unwrap();
    }
    // Then another route fails: the newest failure of the recorder, which the
    // alert on orders must not point at.
    let other = client()
        .get(format!("{base}/slo/other"))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 500);

    // observe evaluates about once a second, off the request path.
    let slos = wait_for(
        "an evaluation of all 370 requests",
        Duration::from_secs(15),
        || async {
            let v = api("/observe/api/v1/slos").await;
            (slo(&v, "orders-fast")["windows"][0]["total"] == 370).then_some(v)
        },
    )
    .await;
    let fast = slo(&slos, "orders-fast");
    assert_eq!(fast["kind"], "latency");
    assert_eq!(fast["threshold_s"], 0.3);
    assert_eq!(fast["selector"]["metric"], "http.server.request.duration");
    // Tracer bullets changed nothing: 370 standard requests, 60 of them slow.
    let w5 = window(fast, "5m");
    assert_eq!(
        (w5["good"].as_u64(), w5["total"].as_u64()),
        (Some(310), Some(370))
    );
    let expected = (60.0 / 370.0) / 0.01;
    let burn = w5["burn_rate"].as_f64().unwrap();
    assert!((burn - expected).abs() < 1e-9, "{burn}");
    assert_eq!(fast["status"], "exhausted");
    assert_eq!(fast["alerting"][0]["firing"], true);
    // The availability SLO counts the 10 failures and none of the 30 failing bullets.
    let up = slo(&slos, "orders-up");
    let up5 = window(up, "5m");
    assert_eq!(
        up5["total"].as_u64().unwrap() - up5["good"].as_u64().unwrap(),
        10
    );
    assert_eq!(up["status"], "ok");

    // The same figure on /metrics.
    let text = metrics_text().await;
    let line = text
        .lines()
        .find(|l| l.starts_with("observe_slo_burn_rate{slo=\"orders-fast\",window=\"5m\"}"))
        .unwrap_or_else(|| panic!("no burn rate line in\n{text}"));
    let on_metrics: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!((on_metrics - expected).abs() < 1e-9, "{line}");
    assert!(text.contains("observe_slo_requests_total{slo=\"orders-fast\"} 370\n"));
    assert!(text.contains("observe_slo_objective{slo=\"orders-up\"} 0.9\n"));

    // Exactly one alert: orders-fast, a page, with its evidence.
    let alerts = wait_for("the alert", Duration::from_secs(10), || async {
        let v = api("/observe/api/v1/alerts").await;
        (!v["alerts"].as_array().unwrap().is_empty()).then_some(v)
    })
    .await;
    // A few more evaluations: still one (edge-triggered).
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let alerts_later = api("/observe/api/v1/alerts").await;
    assert_eq!(alerts, alerts_later);
    let list = alerts["alerts"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{alerts}");
    let a = &list[0];
    assert_eq!(a["slo"], "orders-fast");
    assert_eq!(a["severity"], "page");
    assert_eq!(a["owner"], "oncall@example.com");
    assert_eq!(a["team"], "orders-team");
    assert!(a["time_unix_nano"].is_string());
    assert!(a["burn_rates"]["5m"].as_f64().unwrap() >= 14.4, "{a}");
    assert!(a["burn_rates"]["1h"].as_f64().unwrap() >= 14.4, "{a}");
    let recorder = observe_core::recorder::handle().expect("the process's recorder");
    let exemplars = a["exemplars"].as_array().unwrap();
    assert!(exemplars.iter().any(|e| e["kind"] == "slow"), "{a}");
    assert!(exemplars.iter().any(|e| e["kind"] == "failed"), "{a}");
    for e in exemplars {
        let id = TraceId::from_hex(e["trace_id"].as_str().unwrap()).unwrap();
        let trace = recorder
            .trace(id)
            .expect("the exemplar's trace is in the recorder");
        // Never a tracer bullet's trace.
        assert!(
            trace
                .spans
                .iter()
                .all(|s| s.request_type == observe_core::context::RequestType::Standard)
        );
        if e["kind"] == "slow" {
            assert!(e["value_s"].as_f64().unwrap() > 0.3, "{e}");
        } else {
            assert_eq!(trace.summary.status, "error");
        }
    }
    // The deepest failure is among the key's evidence, not the newest failure of
    // the recorder (`/slo/other`).
    let deepest = &a["deepest_failure"];
    assert_eq!(deepest["service"], "front", "{a}");
    assert_eq!(deepest["name"], "GET /slo/orders/{id}", "{a}");
    let id = TraceId::from_hex(deepest["trace_id"].as_str().unwrap()).unwrap();
    assert!(recorder.trace(id).is_some());

    // The snapshot: OTLP JSON lines, the alert's minutes before it.
    let path = std::path::PathBuf::from(a["snapshot"].as_str().expect("a snapshot path"));
    assert!(path.starts_with(&p.snapshots), "{path:?}");
    let dump = std::fs::read_to_string(&path).unwrap();
    let mut spans = 0;
    for line in dump.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        if v.get("resourceSpans").is_some() {
            let req: opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest =
                serde_json::from_str(line).expect("OTLP JSON traces");
            spans += req
                .resource_spans
                .iter()
                .flat_map(|r| &r.scope_spans)
                .map(|s| s.spans.len())
                .sum::<usize>();
        } else {
            let _: opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest =
                serde_json::from_str(line).expect("OTLP JSON logs");
        }
    }
    assert!(spans >= 400, "{spans} spans in the snapshot");

    // The structured log line (ERROR for a page), with the same evidence.
    let lines = p.lines.contents();
    let alert_lines: Vec<Value> = lines
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["target"] == "observe::slo")
        .collect();
    assert_eq!(alert_lines.len(), 1, "{alert_lines:?}");
    let l = &alert_lines[0];
    assert_eq!(l["level"], "ERROR");
    let fields = &l["fields"];
    assert_eq!(fields["slo"], "orders-fast", "{l}");
    assert_eq!(fields["owner"], "oncall@example.com");
    let first = exemplars[0]["trace_id"].as_str().unwrap();
    assert!(
        fields["exemplar_trace_ids"]
            .as_str()
            .unwrap()
            .contains(first),
        "{l}"
    );
}

/// A hyper-util client behind observe's client layer.
type HttpClient = ClientService<Client<HttpConnector, Full<Bytes>>>;

fn http_client(peer: &'static str) -> HttpClient {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    ServiceBuilder::new()
        .layer(ObserveClientLayer::with_options(
            ClientOptions::new().peer_service(peer),
        ))
        .service(client)
}

async fn call(client: &HttpClient, url: String) -> http::StatusCode {
    let mut client = client.clone();
    let request = http::Request::get(url)
        .body(Full::new(Bytes::new()))
        .unwrap();
    let client = client.ready().await.unwrap();
    match client.call(request).await {
        Ok(r) => {
            let status = r.status();
            let _ = r.into_body().collect().await;
            status
        }
        Err(_) => http::StatusCode::BAD_GATEWAY,
    }
}

#[derive(Debug)]
struct OutOfStock;

impl std::fmt::Display for OutOfStock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("out of stock")
    }
}

impl std::error::Error for OutOfStock {}

/// The third service's work: fails when asked to.
#[observe_axum::traced]
async fn reserve_stock(fail: bool) -> Result<(), OutOfStock> {
    if fail { Err(OutOfStock) } else { Ok(()) }
}

#[tokio::test]
async fn three_chained_services_the_first_sees_both_callees_and_the_deepest_failure() {
    let _turn = TURN.lock().await;
    process();
    // front -> orders -> inventory, each an axum service with observe.
    let inventory = spawn(
        Router::new()
            .route(
                "/dep/reserve",
                get(|Query(p): Query<Params>| async move {
                    match reserve_stock(p.fail.is_some()).await {
                        Ok(()) => http::StatusCode::OK,
                        Err(_) => http::StatusCode::INTERNAL_SERVER_ERROR,
                    }
                }),
            )
            .layer(observe_axum::layer()),
    )
    .await;
    let orders = spawn(
        Router::new()
            .route(
                "/dep/order",
                get(
                    |State((client, base)): State<(HttpClient, String)>,
                     Query(p): Query<Params>| async move {
                        let q = if p.fail.is_some() { "?fail=1" } else { "" };
                        call(&client, format!("{base}/dep/reserve{q}")).await
                    },
                ),
            )
            .with_state((http_client("inventory"), inventory))
            .layer(observe_axum::layer()),
    )
    .await;
    let front = spawn(
        Router::new()
            .route(
                "/dep/checkout",
                get(
                    |State((client, base)): State<(HttpClient, String)>,
                     Query(p): Query<Params>| async move {
                        let q = if p.fail.is_some() { "?fail=1" } else { "" };
                        call(&client, format!("{base}/dep/order{q}")).await
                    },
                ),
            )
            .with_state((http_client("orders"), orders))
            .layer(observe_axum::layer()),
    )
    .await;

    for i in 0..12 {
        let q = if i % 4 == 3 { "?fail=1" } else { "" };
        let status = client()
            .get(format!("{front}/dep/checkout{q}"))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status == 500, i % 4 == 3, "{i}: {status}");
    }

    // The recorder fills on observe's background thread.
    let view = wait_for(
        "the 24 calls in the recorder",
        Duration::from_secs(10),
        || async {
            let v = api("/observe/api/v1/dependencies").await;
            let calls: u64 = v["dependencies"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|d| d["callee"] == "orders" || d["callee"] == "inventory")
                .map(|d| d["calls"].as_u64().unwrap())
                .sum();
            (calls == 24).then_some(v)
        },
    )
    .await;
    let dep = |name: &str| {
        view["dependencies"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["callee"] == name)
            .unwrap_or_else(|| panic!("no {name} in {view}"))
            .clone()
    };
    for name in ["orders", "inventory"] {
        let d = dep(name);
        assert_eq!(d["calls"], 12, "{d}");
        assert_eq!(d["errors"], 3, "{d}");
        assert_eq!(d["kind"], "http");
        let (p50, p99) = (d["p50_s"].as_f64().unwrap(), d["p99_s"].as_f64().unwrap());
        assert!(p50 > 0.0 && p50 <= p99, "{d}");
        // Each callee answers with Server-Timing: its own time, and the rest.
        assert!(d["server_time_s"].as_f64().unwrap() > 0.0, "{d}");
        assert!(d["network_s"].as_f64().is_some(), "{d}");
        let share = d["critical_path_share"].as_f64().unwrap();
        assert!(share > 0.0 && share <= 1.0, "{d}");
    }
    // inventory is called inside the call to orders: a smaller share.
    assert!(
        dep("inventory")["critical_path_share"].as_f64().unwrap()
            <= dep("orders")["critical_path_share"].as_f64().unwrap()
    );
    // The graph: front -> orders -> inventory.
    let edges = view["graph"]["edges"].as_array().unwrap();
    let edge = |from: &str, to: &str| {
        edges
            .iter()
            .find(|e| e["from"] == from && e["to"] == to)
            .unwrap_or_else(|| panic!("no edge {from} -> {to} in {view}"))
    };
    assert_eq!(edge("front", "orders")["calls"], 12);
    assert_eq!(edge("orders", "inventory")["calls"], 12);
    assert_eq!(edge("orders", "inventory")["errors"], 3);
    let nodes = view["graph"]["nodes"].as_array().unwrap();
    assert!(
        nodes
            .iter()
            .any(|n| n["id"] == "front" && n["self"] == true)
    );
    // The deepest failure: the third service's function, in the third service.
    let deepest = &view["deepest_failures"].as_array().unwrap()[0];
    assert_eq!(deepest["service"], "inventory", "{view}");
    assert!(
        deepest["name"].as_str().unwrap().contains("reserve_stock"),
        "{deepest}"
    );
    assert_eq!(deepest["status_message"], "out of stock");
}

/// A request slower than its route's latency objective breached it: the flight
/// recorder promotes its trace at once (DESIGN.md), even before the route has the
/// 200 requests its running p99 needs.
#[tokio::test]
async fn a_request_that_breaches_its_latency_objective_is_promoted() {
    let _turn = TURN.lock().await;
    let _process = process();
    let app = Router::new()
        .route("/slo/breach/{id}", get(order))
        .layer(observe_axum::layer());
    let base = spawn(app).await;
    // Not sampled by its caller: only promotion keeps it for export.
    let trace = "4bf92f3577b34da6a3ce929d0e0e4737";
    let status = client()
        .get(format!("{base}/slo/breach/1?slow=1"))
        .header("traceparent", format!("00-{trace}-00f067aa0ba902b7-00"))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200);
    let promoted = wait_for("the promoted trace", Duration::from_secs(10), || async {
        let list = api("/observe/api/v1/traces?name=GET%20/slo/breach/%7Bid%7D").await;
        list["traces"]
            .as_array()?
            .iter()
            .find(|t| t["trace_id"] == trace)
            .map(|t| t["promoted"].clone())
    })
    .await;
    assert_eq!(promoted, "slow");
}
