//! Three services on loopback, and a tracer bullet through them that changes nothing.
//!
//! Run with: `examples/tracer-bullet/run.sh` (it builds this example and the
//! `observe` command, starts the three services, fires a signed bullet at the edge
//! with `observe bullet`, then the same request without the marker, and prints the
//! footprints, the trace's log lines and the database before and after). One
//! service alone: `cargo run -p tracer-bullet -- <edge|orders|provider> --addr
//! 127.0.0.1:<port> ...`, configured by the environment as in production (see
//! `run.sh`).
//!
//! - **edge** (`--orders <url>`): the public service, `OBSERVE_TRACER_BULLET_POLICY=signed`.
//!   `POST /checkout` asks orders for an order.
//! - **orders** (`--db <file> --provider <url>`): an internal service,
//!   `OBSERVE_TRACER_BULLET_POLICY=trusted` with `OBSERVE_TRUSTED_CALLERS=loopback`.
//!   `POST /orders` writes the order to SQLite from the blocking pool
//!   (`observe_core::spawn_blocking`), queues a receipt from a task of its own
//!   (`observe_core::spawn`), reads the number of orders, and charges the payment
//!   provider. The writes go through the repository, the storage layer, whose
//!   write methods are `#[traced(side_effect)]`: in a tracer bullet they do not run.
//! - **provider**: a third party (no observe), reached as `127.0.0.1` while
//!   `OBSERVE_INTERNAL_HOSTS=localhost`: a bullet never calls it. `POST /charge`
//!   counts, `GET /count` says how many it received.

use std::error::Error;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use observe_axum::client::ObserveMiddleware;
use observe_axum::observe_core;
use observe_axum::traced;
use reqwest_middleware::ClientWithMiddleware;
use serde_json::{Value, json};

const USAGE: &str = "usage: tracer-bullet edge --addr <addr> --orders <url>\n\
                     \x20      tracer-bullet orders --addr <addr> --db <file> --provider <url>\n\
                     \x20      tracer-bullet provider --addr <addr>";

fn arg(args: &[String], name: &str) -> Result<String, String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
        .ok_or_else(|| format!("{name} is required\n{USAGE}"))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().collect();
    let role = args.get(1).map(String::as_str).unwrap_or_default();
    let addr = arg(&args, "--addr")?;
    // Each service is ready (its database too) before it listens.
    match role {
        "edge" => {
            let app = Edge {
                orders: arg(&args, "--orders")?.into(),
                http: http_client(),
            };
            let listener = tokio::net::TcpListener::bind(addr).await?;
            observe_axum::serve!(listener, edge(app)).await?;
        }
        "orders" => {
            let app = Orders {
                repository: Arc::new(Repository::open(&arg(&args, "--db")?)?),
                provider: arg(&args, "--provider")?.into(),
                http: http_client(),
            };
            let listener = tokio::net::TcpListener::bind(addr).await?;
            observe_axum::serve!(listener, orders(app)).await?;
        }
        "provider" => {
            // A third party: it knows nothing of observe.
            let listener = tokio::net::TcpListener::bind(addr).await?;
            axum::serve(listener, provider()).await?;
        }
        _ => return Err(USAGE.into()),
    }
    Ok(())
}

/// Outgoing calls through observe: internal hosts (`OBSERVE_INTERNAL_HOSTS`) get
/// the request's context and the tracer bullet; other hosts get `traceparent`
/// only, and nothing at all in a tracer bullet.
fn http_client() -> ClientWithMiddleware {
    ObserveMiddleware::new()
        .client_builder(reqwest::Client::builder().no_proxy())
        .expect("a reqwest client")
        .build()
}

// ------------------------------------------------------------------------ edge

#[derive(Clone)]
struct Edge {
    orders: Arc<str>,
    http: ClientWithMiddleware,
}

fn edge(app: Edge) -> Router {
    Router::new()
        .route("/checkout", post(checkout))
        .with_state(app)
}

/// Places an order through the orders service.
async fn checkout(State(app): State<Edge>, Json(order): Json<Value>) -> (StatusCode, Json<Value>) {
    let answer = app
        .http
        .post(format!("{}/orders", app.orders))
        .header("content-type", "application/json")
        .body(order.to_string())
        .send()
        .await;
    match answer {
        Ok(response) if response.status().is_success() => {
            let order: Value = response.json().await.unwrap_or_default();
            (StatusCode::OK, Json(json!({ "order": order })))
        }
        Ok(response) => {
            // A refused tracer bullet says why; the operator sees it here.
            let refused = response
                .headers()
                .get("observe-tracer-bullet-refused")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let status = response.status().as_u16();
            tracing::warn!(status, ?refused, "orders did not take the order");
            (
                StatusCode::BAD_GATEWAY,
                Json(json!({ "error": format!("orders answered {status}"), "refused": refused })),
            )
        }
        Err(e) => (
            StatusCode::BAD_GATEWAY,
            Json(json!({ "error": e.to_string() })),
        ),
    }
}

// ---------------------------------------------------------------------- orders

/// The storage layer. Every write of the service goes through it, and its write
/// methods are marked `#[traced(side_effect)]`: that is the one place to mark, and
/// in a tracer bullet they return `DryRun::dry_run()` without touching the file.
/// Reads are not marked: they run in a tracer bullet too.
struct Repository {
    db: Mutex<rusqlite::Connection>,
}

impl Repository {
    fn open(path: &str) -> rusqlite::Result<Repository> {
        let db = rusqlite::Connection::open(path)?;
        db.execute_batch(
            "CREATE TABLE IF NOT EXISTS orders (id INTEGER PRIMARY KEY, sku TEXT NOT NULL, cents INTEGER NOT NULL);
             CREATE TABLE IF NOT EXISTS outbox (id INTEGER PRIMARY KEY, order_sku TEXT NOT NULL, kind TEXT NOT NULL);",
        )?;
        Ok(Repository { db: Mutex::new(db) })
    }

    fn db(&self) -> std::sync::MutexGuard<'_, rusqlite::Connection> {
        self.db.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Inserts an order; its id. In a tracer bullet: `Ok(None)`, nothing written.
    #[traced(side_effect)]
    fn insert_order(&self, sku: &str, cents: u64) -> Result<Option<i64>, rusqlite::Error> {
        let db = self.db();
        db.execute(
            "INSERT INTO orders (sku, cents) VALUES (?1, ?2)",
            rusqlite::params![sku, i64::try_from(cents).unwrap_or(i64::MAX)],
        )?;
        Ok(Some(db.last_insert_rowid()))
    }

    /// Queues the receipt e-mail. In a tracer bullet: `Ok(false)`.
    #[traced(side_effect)]
    fn queue_receipt(&self, sku: &str) -> Result<bool, rusqlite::Error> {
        self.db().execute(
            "INSERT INTO outbox (order_sku, kind) VALUES (?1, 'receipt')",
            [sku],
        )?;
        Ok(true)
    }

    /// How many orders there are (a read: it runs in a tracer bullet too).
    #[traced]
    fn count_orders(&self) -> Result<i64, rusqlite::Error> {
        self.db()
            .query_row("SELECT count(*) FROM orders", [], |row| row.get(0))
    }
}

#[derive(Clone)]
struct Orders {
    repository: Arc<Repository>,
    provider: Arc<str>,
    http: ClientWithMiddleware,
}

fn orders(app: Orders) -> Router {
    Router::new()
        .route("/orders", post(create_order))
        .with_state(app)
}

fn internal(e: impl std::fmt::Display) -> (StatusCode, String) {
    (StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
}

async fn create_order(
    State(app): State<Orders>,
    Json(order): Json<Value>,
) -> Result<Json<Value>, (StatusCode, String)> {
    let sku = order["sku"].as_str().unwrap_or("A-1").to_owned();
    let cents = order["cents"].as_u64().unwrap_or(1250);

    // rusqlite blocks: the write runs on the blocking pool. observe_core's
    // spawn_blocking carries the request's context there, so a tracer bullet
    // still skips it (a bare tokio::task::spawn_blocking would not: clippy flags
    // it in this workspace, see examples/clippy.toml).
    let repository = app.repository.clone();
    let (for_insert, for_receipt) = (sku.clone(), sku.clone());
    let order_id =
        observe_core::spawn_blocking(move || repository.insert_order(&for_insert, cents))
            .await
            .map_err(internal)?
            .map_err(internal)?;

    // The receipt is queued by a task of its own, with the context too.
    let repository = app.repository.clone();
    let receipt_queued = observe_core::spawn(async move { repository.queue_receipt(&for_receipt) })
        .await
        .map_err(internal)?
        .map_err(internal)?;

    let orders_in_db = app.repository.count_orders().map_err(internal)?;

    // The payment provider is not an internal host: a tracer bullet does not call
    // it (the call fails with TracerBulletBlocked, and the footprint says so).
    let charged = match app
        .http
        .post(format!("{}/charge", app.provider))
        .header("content-type", "application/json")
        .body(json!({ "sku": sku, "cents": cents }).to_string())
        .send()
        .await
    {
        Ok(response) => response.status().is_success(),
        Err(e) => {
            tracing::info!(error = %e, "payment not sent");
            false
        }
    };
    tracing::info!(?order_id, receipt_queued, charged, "order handled");
    let request_type = observe_core::context::current().map(|c| c.request_type().as_str());
    Ok(Json(json!({
        "order_id": order_id,
        "receipt_queued": receipt_queued,
        "charged": charged,
        "orders_in_db": orders_in_db,
        "request_type": request_type,
    })))
}

// -------------------------------------------------------------------- provider

fn provider() -> Router {
    let received = Arc::new(AtomicU64::new(0));
    let counter = received.clone();
    Router::new()
        .route(
            "/charge",
            post(move || {
                counter.fetch_add(1, Ordering::SeqCst);
                async { Json(json!({ "charged": true })) }
            }),
        )
        .route(
            "/count",
            get(move || {
                let n = received.load(Ordering::SeqCst);
                async move { n.to_string() }
            }),
        )
}
