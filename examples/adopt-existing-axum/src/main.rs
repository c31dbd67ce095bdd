//! An existing axum service adopting observe. It had `tracing_subscriber::fmt()`
//! and `#[tracing::instrument]` functions before; adopting observe changed one
//! line (`axum::serve` became `observe_axum::serve!`).
//!
//! `serve!` finds the subscriber already installed and starts observe beside it:
//! the subscriber keeps writing every line (once), observe adds request spans,
//! latency histograms, the admin routes and OTLP export, and says so in its
//! startup summary. To get the request's trace id on every line as well, start
//! observe first instead of the fmt subscriber: `docs/migrating.md`.
//!
//! Run with: `cargo run -p adopt-existing-axum`, then
//! `curl localhost:3000/orders/7`.

use axum::Router;
use axum::extract::Path;
use axum::routing::get;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt().init();
    // Logged before observe starts: the service's own subscriber writes it.
    tracing::info!("connecting to the database");
    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:3000".to_owned());
    let app = Router::new().route("/orders/{id}", get(get_order));
    let listener = tokio::net::TcpListener::bind(addr).await?;
    observe_axum::serve!(listener, app).await?; // was: axum::serve(listener, app)
    Ok(())
}

async fn get_order(Path(id): Path<u64>) -> String {
    match load_order(id).await {
        Ok(order) => order,
        Err(e) => e.to_string(),
    }
}

#[tracing::instrument(err)]
async fn load_order(id: u64) -> Result<String, std::io::Error> {
    tracing::info!("loading order");
    if id == 0 {
        return Err(std::io::Error::other("no order 0"));
    }
    Ok(format!("order {id}\n"))
}
