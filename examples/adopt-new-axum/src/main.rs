//! A new axum service adopting observe: `observe-axum` is its only observe
//! dependency. `observe_axum::init!()` starts observe first thing in `main` (so the
//! lines logged before the server runs are observe's too) and `serve!` reuses it;
//! `serve!` alone would do for a service that logs nothing before it serves.
//! Logging goes through `observe_axum::tracing`, the request context through
//! `observe_axum::context`.
//!
//! Run with: `cargo run -p adopt-new-axum`, then `curl localhost:3000/orders/7`
//! (`ADDR` to listen elsewhere). A bad variable (`OTEL_TRACES_SAMPLER_ARG=1.5`) stops
//! it at start with the configuration's message.

use axum::Router;
use axum::extract::Path;
use axum::routing::get;
use observe_axum::{context, traced, tracing};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // First, so that the lines logged before `serve!` (configuration, database,
    // migrations) have observe's format and context too; `serve!` reuses it.
    let _observe = observe_axum::init!()?;
    tracing::info!("loading configuration");
    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:3000".to_owned());
    let app = Router::new().route("/orders/{id}", get(get_order));
    let listener = tokio::net::TcpListener::bind(addr).await?;
    observe_axum::serve!(listener, app).await?; // replaces axum::serve
    Ok(())
}

async fn get_order(Path(id): Path<u64>) -> String {
    context::set_user("u-ada");
    tracing::info!(order_id = id, "order requested");
    match load_order(id).await {
        Ok(order) => order,
        Err(e) => e,
    }
}

/// A span, a latency histogram and the error status of its `Result`.
#[traced]
async fn load_order(id: u64) -> Result<String, String> {
    if id == 0 {
        return Err("no order 0".to_owned());
    }
    Ok(format!("order {id}\n"))
}
