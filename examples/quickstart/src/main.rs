//! An axum service made observable with one line.
//!
//! Run with: `cargo run -p quickstart` and open the printed addresses (`--addr
//! 0.0.0.0:8080` to listen elsewhere), or `cargo run -p quickstart -- --self-test`
//! (what CI runs: it fires a few requests at itself, checks `/metrics`, shuts down
//! gracefully and exits 0).
//!
//! Routes:
//! - `GET /orders/{id}`: loads an order (`#[traced]` functions: a span each, a
//!   latency histogram each, and the error status of a `Result`), reserves it with a
//!   `#[traced(side_effect)]` write that a tracer bullet skips, then
//!   asks `/inventory/{id}` of this same service through observe's reqwest
//!   middleware: both requests share one trace, and the second gets the first's
//!   baggage (user, flags) because 127.0.0.1 is declared internal and the service
//!   trusts callers on loopback (by default a service believes no caller's
//!   identity: `OBSERVE_TRUSTED_CALLERS`);
//! - `GET /inventory/{id}`: the downstream call;
//! - `GET /slow`: 250 ms, to see a tail in the percentiles;
//! - `GET /fail`: a 500, recorded as an error with its trace id as exemplar.
//!
//! Two SLOs on `GET /orders/{id}` are declared in `Cargo.toml`
//! (`[package.metadata.observe] slos`): the SLOs card of `/observe`,
//! `observe_slo_*` on `/metrics`.
//!
//! A tracer bullet: start it with `OBSERVE_TRACER_BULLET_POLICY=trusted
//! OBSERVE_TRUSTED_CALLERS=loopback cargo run -p quickstart`, then press the
//! button of `/observe`'s Controls card with `GET /orders/7`, or `curl -X POST
//! http://127.0.0.1:9464/observe/api/v1/bullet -d '{"method":"GET","path":"/orders/7"}'`:
//! the request runs for real but `reserve` is skipped, and the log's footprint line
//! says so.
//!
//! The whole integration is the `observe_axum::serve!` line in `main`, plus
//! `#[traced]` on the functions worth their own span and histogram.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use observe_axum::client::{ClientOptions, ObserveMiddleware};
use observe_axum::observe_core::context;
use observe_axum::traced;
use reqwest_middleware::ClientWithMiddleware;

#[derive(Clone)]
struct App {
    /// This service's own address, to call itself as if it were another service.
    base: Arc<str>,
    http: ClientWithMiddleware,
}

/// A stand-in for a database query: a span, a latency histogram, and an error status
/// when it fails (order 0 does not exist).
#[traced(fields(order_id = id))]
async fn load_order(id: u32) -> Result<String, String> {
    tokio::time::sleep(Duration::from_millis(5)).await;
    if id == 0 {
        return Err(format!("no order {id}"));
    }
    tracing::info!("order loaded");
    Ok(format!("order-{id}"))
}

/// A write to the outside world: in a tracer bullet it does not run and returns
/// `DryRun::dry_run()` (here `Ok(false)`), recording that it was skipped.
#[traced(side_effect)]
async fn reserve(id: u32) -> Result<bool, String> {
    tracing::info!(order_id = id, "stock reserved");
    Ok(true)
}

async fn order(
    State(app): State<App>,
    Path(id): Path<u32>,
) -> Result<Json<serde_json::Value>, (StatusCode, String)> {
    // Pretend authentication told us who this is: every later log line and every
    // internal call carries it.
    context::set_user("u-42");
    context::set_flag("new_checkout", "on");
    let order = load_order(id)
        .await
        .map_err(|e| (StatusCode::NOT_FOUND, e))?;
    let reserved = reserve(id)
        .await
        .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e))?;
    let stock: serde_json::Value = app
        .http
        .get(format!("{}/inventory/{id}", app.base))
        .send()
        .await
        .map_err(|e| (StatusCode::BAD_GATEWAY, e.to_string()))?
        .json()
        .await
        .map_err(|e| (StatusCode::BAD_GATEWAY, e.to_string()))?;
    Ok(Json(
        serde_json::json!({ "order": order, "reserved": reserved, "stock": stock }),
    ))
}

async fn inventory(Path(id): Path<u32>) -> Json<serde_json::Value> {
    let user = context::current().and_then(|c| c.user_id().map(str::to_owned));
    tracing::info!(sku = id, "stock checked");
    Json(serde_json::json!({ "sku": id, "available": 7, "seen_user": user }))
}

async fn slow() -> &'static str {
    tokio::time::sleep(Duration::from_millis(250)).await;
    "slow"
}

async fn fail() -> (StatusCode, &'static str) {
    tracing::error!("the payment provider is down");
    (StatusCode::INTERNAL_SERVER_ERROR, "failed")
}

fn router(app: App) -> Router {
    Router::new()
        .route("/", get(|| async { "try /orders/1, /slow, /fail" }))
        .route("/orders/{id}", get(order))
        .route("/inventory/{id}", get(inventory))
        .route("/slow", get(slow))
        .route("/fail", get(fail))
        .with_state(app)
}

fn http_client() -> ClientWithMiddleware {
    let options = ClientOptions::new()
        .internal_hosts(["127.0.0.1", "localhost"])
        .unwrap_or_default();
    // Redirects are followed by the middleware, hop by hop, never by reqwest.
    ObserveMiddleware::with_options(options)
        .client_builder(reqwest::Client::builder())
        .expect("a reqwest client")
        .build()
}

/// The layer `serve!` adds: this service calls itself as if it were another, so it
/// trusts the identity its loopback callers send.
fn layer() -> observe_axum::ObserveLayer {
    observe_axum::layer().trusted_callers(
        observe_axum::observe_core::config::TrustedCallers::from_patterns(["loopback"])
            .expect("a valid list"),
    )
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let self_test = args.iter().any(|a| a == "--self-test");
    let addr = match args.iter().position(|a| a == "--addr") {
        Some(i) => args.get(i + 1).ok_or("--addr needs an address")?.clone(),
        None if self_test => "127.0.0.1:0".to_owned(),
        None => "127.0.0.1:3000".to_owned(),
    };
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    let addr = listener.local_addr()?;
    let app = router(App {
        base: format!("http://{addr}").into(),
        http: http_client(),
    });

    if !self_test {
        print_banner(&format!("http://{addr}"));
        // The one line.
        observe_axum::serve!(listener, app).layer(layer()).await?;
        return Ok(());
    }

    // Self-test: the same one line, with an ephemeral admin port and a shutdown
    // signal we control.
    let admin = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let admin_addr = admin.local_addr()?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = observe_axum::observe_core::spawn(
        observe_axum::serve!(listener, app)
            .layer(layer())
            .admin_listener(admin)
            .with_graceful_shutdown(async move {
                let _ = stop_rx.await;
            })
            .into_future(),
    );
    let result = run_self_test(&format!("http://{addr}"), &format!("http://{admin_addr}")).await;
    let _ = stop_tx.send(());
    server.await??;
    result?;
    report("self-test passed");
    Ok(())
}

#[allow(clippy::print_stdout)]
fn print_banner(base: &str) {
    println!("quickstart listening on {base}  (try {base}/orders/1, {base}/slow, {base}/fail)");
    println!(
        "metrics and the /observe page: see the \"observe admin listening\" line below (default \
         http://127.0.0.1:9464/metrics and http://127.0.0.1:9464/observe, OBSERVE_ADMIN_ADDR to change it)"
    );
}

#[allow(clippy::print_stderr)]
fn report(message: &str) {
    eprintln!("quickstart: {message}");
}

async fn run_self_test(base: &str, admin: &str) -> Result<(), Box<dyn std::error::Error>> {
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()?;
    let order: serde_json::Value = client
        .get(format!("{base}/orders/1"))
        .send()
        .await?
        .json()
        .await?;
    if order["stock"]["seen_user"] != "u-42" {
        return Err(format!("the inventory call did not receive the user: {order}").into());
    }
    let status = client.get(format!("{base}/slow")).send().await?.status();
    if status != 200 {
        return Err(format!("/slow answered {status}").into());
    }
    let fail = client.get(format!("{base}/fail")).send().await?;
    if fail.status() != 500 || !fail.headers().contains_key("traceresponse") {
        return Err(format!("/fail answered {} without traceresponse", fail.status()).into());
    }
    let metrics = client
        .get(format!("{admin}/metrics"))
        .send()
        .await?
        .text()
        .await?;
    for route in ["/orders/{id}", "/inventory/{id}", "/slow", "/fail"] {
        let needle = format!(r#"http_route="{route}""#);
        if !metrics.contains(&needle) {
            return Err(format!("/metrics has no {needle}").into());
        }
    }
    if !metrics.contains("http_client_request_duration") {
        return Err("/metrics has no client duration".into());
    }
    Ok(())
}
