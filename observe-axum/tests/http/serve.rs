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
    // No longer listening: the connection is refused, unless a test running
    // beside this one was given the freed port since (it happened once in a
    // full-suite run); then it is not this app that answers.
    if let Ok(response) = client().get(format!("{base}/served/1")).send().await {
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        assert!(
            !(status == 200 && body == "ok"),
            "still served after shutdown"
        );
    }
}

/// Whether this is the child process that runs the scenario of test `name`: the
/// parent (the test as the runner starts it) runs the test again in a child
/// process of this binary, checks that it passed, and returns `false`. For
/// scenarios that change what is process-wide (the service shutting down).
fn in_child(name: &str) -> bool {
    const CHILD: &str = "OBSERVE_AXUM_SERVE_CHILD";
    if std::env::var_os(CHILD).is_some() {
        return true;
    }
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            name,
            "--nocapture",
            "--test-threads=1",
            "--quiet",
        ])
        .env(CHILD, "1")
        .status()
        .unwrap();
    assert!(
        status.success(),
        "the scenario failed in its child: {status}"
    );
    false
}

/// Whether the readiness probe at `admin_base` reports the service shutting down.
async fn shutting_down(admin_base: &str) -> bool {
    let answer = get_json(format!("{admin_base}/observe/health/ready")).await;
    answer["checks"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["name"] == "observe.shutdown" && c["status"] == "down")
}

/// Waits (boundedly) until the readiness probe at `admin_base` reports shutting down.
async fn until_shutting_down(admin_base: &str) -> bool {
    for _ in 0..500 {
        if shutting_down(admin_base).await {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    false
}

/// Readiness reports the service's own recent error ratio (and stays ready).
#[tokio::test]
async fn readiness_reports_the_recent_error_ratio() {
    let _h = Harness::new();
    let admin = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let admin_base = format!("http://{}", admin.local_addr().unwrap());
    let app = Router::new()
        .route("/fine", get(|| async { "fine" }))
        .route(
            "/broken",
            get(|| async { (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "broken") }),
        );
    let (base, stop, server) = serve_app(app, |s| s.admin_listener(admin)).await;
    for path in ["/fine", "/fine", "/fine", "/broken"] {
        client().get(format!("{base}{path}")).send().await.unwrap();
    }
    let ready = get_json(format!("{admin_base}/observe/health/ready")).await;
    let errors = ready["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "observe.errors")
        .unwrap_or_else(|| panic!("{ready}"))
        .clone();
    assert_eq!(
        errors["status"], "up",
        "reported, not a readiness condition"
    );
    let (requests, failed) = (
        errors["requests"].as_u64().unwrap(),
        errors["failed_requests"].as_u64().unwrap(),
    );
    // Other tests of this binary may serve in the same process (`cargo test`).
    assert!(
        requests >= 4 && failed >= 1 && failed < requests,
        "{errors}"
    );
    assert!(
        errors["detail"]
            .as_str()
            .unwrap()
            .contains("requests failed"),
        "{errors}"
    );
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}

/// A process-wide observe under the `trusted` tracer-bullet policy (the admin
/// handlers run on the blocking pool, which sees only a global instance), with
/// `configure` applied; an admin listener, and the URL of its bullet endpoint.
async fn bullet_service(
    configure: impl FnOnce(observe_core::Builder) -> observe_core::Builder,
) -> (observe_core::Guard, tokio::net::TcpListener, String) {
    let builder = observe_core::Observe::builder()
        .ignore_env()
        .admin_addr(None)
        .tracer_bullet_policy(observe_core::config::TracerBulletPolicy::Trusted)
        .log_writer(std::io::sink());
    let guard = configure(builder).init().unwrap();
    let admin = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/observe/api/v1/bullet",
        admin.local_addr().unwrap()
    );
    (guard, admin, url)
}

/// The page's tracer-bullet button: `POST /observe/api/v1/bullet` sends a tracer
/// bullet to the address `serve!` registered, marked the way this service's policy
/// honours; the bullet is served as one (its trace in the recorder says so).
#[tokio::test]
async fn the_admin_api_fires_a_tracer_bullet_at_the_service() {
    if !in_child("serve::the_admin_api_fires_a_tracer_bullet_at_the_service") {
        return;
    }
    let (_guard, admin, bullet_url) = bullet_service(|b| b.trusted_callers(["loopback"])).await;
    let app = Router::new().route(
        "/orders/{id}",
        get(|| async {
            if observe_core::context::is_tracer_bullet() {
                "a tracer bullet"
            } else {
                "a real order"
            }
        }),
    );
    let (_base, stop, server) = serve_app(app, |s| s.admin_listener(admin)).await;
    let status = get_json(bullet_url.clone()).await;
    assert_eq!(status["enabled"], true, "{status}");

    let fired = client()
        .post(&bullet_url)
        .json(&serde_json::json!({ "method": "GET", "path": "/orders/7" }))
        .send()
        .await
        .unwrap();
    assert_eq!(fired.status(), 200);
    let fired: serde_json::Value = fired.json().await.unwrap();
    assert_eq!(fired["status"], 200, "{fired}");
    assert_eq!(fired["refused"], serde_json::Value::Null, "{fired}");
    let trace = fired["trace_id"].as_str().unwrap().to_owned();
    let base_admin = bullet_url
        .trim_end_matches("/observe/api/v1/bullet")
        .to_owned();
    let mut seen = serde_json::Value::Null;
    for _ in 0..100 {
        seen = get_json(format!(
            "{base_admin}/observe/api/v1/traces?name=GET%20/orders/%7Bid%7D"
        ))
        .await;
        if seen["traces"]
            .as_array()
            .is_some_and(|t| t.iter().any(|t| t["trace_id"] == trace.as_str()))
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let one = seen["traces"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["trace_id"] == trace.as_str())
        .unwrap_or_else(|| panic!("{seen}"));
    assert_eq!(one["tracer_bullet"], true, "{one}");

    // Nothing but a path: a URL, or a path that leaves the service, is refused.
    for path in ["http://example.com/", "//example.com/x", "orders"] {
        let refused = client()
            .post(&bullet_url)
            .json(&serde_json::json!({ "method": "GET", "path": path }))
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 400, "{path}");
    }
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}

/// Under `trusted`, a bullet from an untrusted caller is refused whatever token it
/// carries: with loopback not trusted, the button is disabled (not enabled and
/// then refused by the service).
#[tokio::test]
async fn the_bullet_button_is_disabled_when_the_service_would_refuse_it() {
    if !in_child("serve::the_bullet_button_is_disabled_when_the_service_would_refuse_it") {
        return;
    }
    let (_guard, admin, bullet_url) = bullet_service(|b| b.tracer_bullet_key([7u8; 32])).await;
    let (_base, stop, server) = serve_app(Router::new(), |s| s.admin_listener(admin)).await;
    let status = get_json(bullet_url.clone()).await;
    assert_eq!(status["enabled"], false, "{status}");
    assert!(
        status["reason"]
            .as_str()
            .unwrap()
            .contains("OBSERVE_TRUSTED_CALLERS"),
        "{status}"
    );
    let fired = client()
        .post(&bullet_url)
        .json(&serde_json::json!({ "method": "GET", "path": "/" }))
        .send()
        .await
        .unwrap();
    assert_eq!(fired.status(), 409);
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}

/// With `OBSERVE_SHUTDOWN_DELAY`, `serve` still accepts new requests after the
/// signal, while readiness already answers 503, then stops.
#[tokio::test]
async fn the_shutdown_delay_keeps_serving_while_not_ready() {
    if !in_child("serve::the_shutdown_delay_keeps_serving_while_not_ready") {
        return;
    }
    let _h = Harness::with(|b| b.shutdown_delay(std::time::Duration::from_secs(3)));
    let admin = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let admin_base = format!("http://{}", admin.local_addr().unwrap());
    let app = Router::new().route("/", get(|| async { "still here" }));
    let (base, stop, server) = serve_app(app, |s| s.admin_listener(admin)).await;
    stop.send(()).unwrap();
    assert!(
        until_shutting_down(&admin_base).await,
        "not ready after the signal"
    );
    // A new connection after the signal: served, the listener is still open.
    let answer = client().get(&base).send().await.unwrap();
    assert_eq!(answer.text().await.unwrap(), "still here");
    assert!(!server.is_finished(), "stopped before the delay was over");
    server.await.unwrap().unwrap();
}

/// A second SIGTERM ends the shutdown delay at once.
#[tokio::test]
async fn a_second_signal_ends_the_shutdown_delay() {
    if !in_child("serve::a_second_signal_ends_the_shutdown_delay") {
        return;
    }
    let _h = Harness::with(|b| b.shutdown_delay(std::time::Duration::from_secs(600)));
    let admin = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let admin_base = format!("http://{}", admin.local_addr().unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = tokio::spawn(
        observe_axum::serve!(listener, Router::new())
            .admin_listener(admin)
            .into_future(),
    );
    let terminate = || {
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &std::process::id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
    };
    // The handlers are installed when `serve` starts: wait until it answers.
    for _ in 0..500 {
        if client()
            .get(format!("{admin_base}/observe/health/live"))
            .send()
            .await
            .is_ok()
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    terminate();
    assert!(
        until_shutting_down(&admin_base).await,
        "not ready after the signal"
    );
    assert!(!server.is_finished(), "the delay was not waited");
    terminate();
    // Bounded so that a wait of the whole delay fails rather than hangs.
    let stopped = tokio::time::timeout(std::time::Duration::from_secs(60), server).await;
    stopped
        .expect("the second signal ended the delay")
        .unwrap()
        .unwrap();
}

/// Serves `app` with `serve!` (configured by `configure`) until the returned
/// sender is used; the base URL of the app.
async fn serve_app(
    app: Router,
    configure: impl FnOnce(observe_axum::Serve) -> observe_axum::Serve,
) -> (
    String,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<Result<(), ServeError>>,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serve = observe_axum::serve!(listener, app).with_graceful_shutdown(async move {
        let _ = stopped.await;
    });
    let server = tokio::spawn(configure(serve).into_future());
    (base, stop, server)
}

/// The application's router with its own layer, and `/admin` nested after it (as
/// docs/axum.md shows for the admin routes behind authentication).
fn app_with_its_own_layer() -> Router {
    Router::new()
        .route("/orders/{id}", get(|| async { "order" }))
        .layer(observe_axum::layer())
        .nest(
            "/admin",
            Router::new().route("/ping", get(|| async { "pong" })),
        )
}

#[tokio::test]
async fn a_layer_added_twice_observes_each_request_once_and_says_so() {
    let h = Harness::new();
    let (base, stop, server) = serve_app(app_with_its_own_layer(), |s| s.without_admin()).await;
    for _ in 0..3 {
        let response = client()
            .get(format!("{base}/orders/1"))
            .header("traceparent", TRACEPARENT)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers().get_all("traceresponse").iter().count(),
            1,
            "one set of observe's response headers"
        );
    }
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
    let spans: Vec<_> = h
        .spans()
        .into_iter()
        .filter(|s| s.name() == "GET /orders/{id}")
        .collect();
    assert_eq!(spans.len(), 3, "one server span per request: {spans:#?}");
    assert!(spans.iter().all(|s| s.trace_id().to_string() == TRACE));
    let access = h.access_lines();
    assert_eq!(access.len(), 3, "one access line per request: {access:#?}");
    let warnings: Vec<_> = h
        .log_lines()
        .into_iter()
        .filter(|l| {
            l["level"] == "WARN"
                && l["message"]
                    .as_str()
                    .unwrap_or("")
                    .contains("applied twice")
        })
        .collect();
    assert_eq!(warnings.len(), 1, "warned once: {warnings:#?}");
}

#[tokio::test]
async fn without_layer_keeps_the_routers_own_and_leaves_what_it_did_not_wrap() {
    let h = Harness::new();
    let (base, stop, server) = serve_app(app_with_its_own_layer(), |s| {
        s.without_layer().without_admin()
    })
    .await;
    for path in ["/orders/1", "/admin/ping"] {
        let response = client().get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
    }
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
    let names: Vec<String> = h
        .spans()
        .into_iter()
        .map(|s| s.name().to_string())
        .collect();
    assert_eq!(names, ["GET /orders/{id}"], "/admin is not measured");
    let access = h.access_lines();
    assert_eq!(access.len(), 1, "{access:#?}");
}

/// Once the shutdown signal arrives, readiness answers 503 (a load balancer stops
/// sending) while the request in flight finishes; liveness stays 200. Whether a
/// service is shutting down is process-wide and cannot be undone, and every
/// `serve` test's shutdown sets it: the scenario runs in a child process of this
/// test binary.
#[tokio::test]
async fn readiness_is_down_while_serve_drains() {
    if !in_child("serve::readiness_is_down_while_serve_drains") {
        return;
    }
    let _h = Harness::new();
    let admin = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let admin_base = format!("http://{}", admin.local_addr().unwrap());
    let (arrived, arrival) = tokio::sync::oneshot::channel::<()>();
    let (release, released) = tokio::sync::oneshot::channel::<()>();
    let waiting = std::sync::Arc::new(tokio::sync::Mutex::new(Some((arrived, released))));
    let app = Router::new().route(
        "/slow",
        get(move || {
            let waiting = waiting.clone();
            async move {
                if let Some((arrived, released)) = waiting.lock().await.take() {
                    let _ = arrived.send(());
                    let _ = released.await;
                }
                "done"
            }
        }),
    );
    let (base, stop, server) = serve_app(app, |s| s.admin_listener(admin)).await;
    // (This test's observe instance is current on its own thread only, so the
    // probe, answered on the blocking pool, also reports `observe.init` down: the
    // shutdown check is what is looked at.)
    assert!(!shutting_down(&admin_base).await);
    let in_flight = tokio::spawn(client().get(format!("{base}/slow")).send());
    arrival.await.unwrap();
    stop.send(()).unwrap();
    assert!(
        until_shutting_down(&admin_base).await,
        "not ready while draining"
    );
    assert!(
        !observe_core::health::check().ready(),
        "the report says not ready"
    );
    let live = client()
        .get(format!("{admin_base}/observe/health/live"))
        .send()
        .await
        .unwrap();
    assert_eq!(live.status(), 200);
    release.send(()).unwrap();
    let answer = in_flight.await.unwrap().unwrap();
    assert_eq!(
        answer.text().await.unwrap(),
        "done",
        "the request in flight finished"
    );
    server.await.unwrap().unwrap();
    // Serving again in the same process (a restart in place): ready again.
    let admin = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let admin_base = format!("http://{}", admin.local_addr().unwrap());
    let (_base, stop, server) = serve_app(Router::new(), |s| s.admin_listener(admin)).await;
    let ready = get_json(format!("{admin_base}/observe/health/ready")).await;
    let checks = ready["checks"].as_array().unwrap();
    assert!(
        !checks.iter().any(|c| c["name"] == "observe.shutdown"),
        "{ready}"
    );
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
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

/// Serves an empty app with the admin routes on `admin`, until the returned sender
/// is used or dropped.
async fn serve_admin(
    admin: tokio::net::TcpListener,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<Result<(), ServeError>>,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(
        observe_axum::serve(listener, Router::new())
            .admin_listener(admin)
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .into_future(),
    );
    (stop, server)
}

async fn admin_get(addr: std::net::SocketAddr, host: Option<&str>) -> u16 {
    let mut request = client().get(format!("http://{addr}/metrics"));
    if let Some(host) = host {
        request = request.header("host", host);
    }
    request.send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn the_admin_listener_refuses_a_foreign_host_header() {
    let _h = Harness::new();
    let admin = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = admin.local_addr().unwrap();
    let (stop, server) = serve_admin(admin).await;
    let port = addr.port();
    // What a browser sends after a DNS rebinding: the attacker's name.
    assert_eq!(admin_get(addr, Some("evil.example")).await, 421);
    assert_eq!(
        admin_get(addr, Some(&format!("evil.example:{port}"))).await,
        421
    );
    assert_eq!(admin_get(addr, Some("localhost.evil.example")).await, 421);
    // The listener's own address, localhost and loopback literals are fine.
    assert_eq!(admin_get(addr, None).await, 200);
    assert_eq!(
        admin_get(addr, Some(&format!("localhost:{port}"))).await,
        200
    );
    assert_eq!(admin_get(addr, Some("localhost")).await, 200);
    assert_eq!(admin_get(addr, Some(&format!("[::1]:{port}"))).await, 200);
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_non_loopback_admin_listener_logs_a_warning() {
    let h = Harness::new();
    let admin = tokio::net::TcpListener::bind("0.0.0.0:0").await.unwrap();
    let port = admin.local_addr().unwrap().port();
    let (stop, server) = serve_admin(admin).await;
    // Served: the listener is up once it answers.
    let local: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
    assert_eq!(admin_get(local, None).await, 200);
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
    let warning = h
        .log_lines()
        .into_iter()
        .find(|l| l["target"] == "observe::admin" && l["level"] == "WARN")
        .expect("a warning about the non-loopback admin listener");
    let message = warning["message"].as_str().unwrap();
    assert!(message.contains("0.0.0.0"), "{message}");
    assert!(message.contains("OBSERVE_ADMIN_ADDR"), "{message}");

    // A loopback one does not warn.
    drop(h);
    let h = Harness::new();
    let admin = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = admin.local_addr().unwrap();
    let (stop, server) = serve_admin(admin).await;
    assert_eq!(admin_get(addr, None).await, 200);
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
    assert!(
        h.log_lines()
            .iter()
            .all(|l| !(l["target"] == "observe::admin" && l["level"] == "WARN"))
    );
}
