//! A tonic service made observable with one line, calling an axum service over
//! HTTP: one trace crosses gRPC and HTTP.
//!
//! Run with: `cargo run -p grpc` (gRPC on 127.0.0.1:50051, `--addr` to change it),
//! then call it with any gRPC client (with `grpcurl`, which the setup script does
//! not install: `grpcurl -plaintext -import-path examples/grpc/proto -proto shop.proto -d '{"id":7}' 127.0.0.1:50051 shop.Orders/GetOrder`),
//! or run `cargo run -p grpc -- --self-test`, which needs no client (what CI runs: it
//! calls itself through an observed channel, both methods, checks `/metrics`,
//! shuts down gracefully and exits 0).
//! Build needs `protoc` (Debian's `protobuf-compiler`, installed by
//! `scripts/setup.sh`): `build.rs` compiles `proto/shop.proto` with
//! tonic-prost-build.
//!
//! - `shop.Orders/GetOrder` (unary): loads the order in a `#[traced]` function,
//!   which asks the pricing service `GET /prices/{id}` (axum, observe-axum's layer,
//!   served by this same process on its own port) through observe's reqwest
//!   middleware. The gRPC server span, the `#[traced]` span, the HTTP client span
//!   and the HTTP server span are one trace; the pricing service gets the caller's
//!   baggage because 127.0.0.1 is declared internal.
//! - `shop.Orders/WatchOrder` (server streaming): three events; the server span
//!   covers the whole stream and counts its messages.
//!
//! The whole gRPC integration is the `observe_tonic::serve!` line in `main`, plus
//! `#[traced]` on the function worth its own span and histogram.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::Path;
use axum::routing::get;
use axum::{Json, Router};
use observe_axum::client::{ClientOptions, ObserveMiddleware};
use observe_tonic::observe_core::context;
use observe_tonic::traced;
use reqwest_middleware::ClientWithMiddleware;
use tokio_stream::Stream;
use tonic::service::Routes;
use tonic::{Request, Response, Status};

/// The code tonic-prost-build generated from `proto/shop.proto`.
#[allow(
    clippy::all,
    clippy::pedantic,
    missing_docs,
    missing_debug_implementations,
    unreachable_pub
)]
pub mod shop {
    tonic::include_proto!("shop");
}

use shop::orders_server::{Orders, OrdersServer};
use shop::{Order, OrderEvent, OrderRequest};

struct Shop {
    /// The pricing service's address.
    pricing: Arc<str>,
    http: ClientWithMiddleware,
}

/// The price of an order, from the pricing service: a span, a latency histogram and
/// an error status when it fails; its HTTP call is a child span in the same trace.
#[traced(fields(order_id = id))]
async fn price_of(http: &ClientWithMiddleware, pricing: &str, id: u32) -> Result<u64, String> {
    let price: serde_json::Value = http
        .get(format!("{pricing}/prices/{id}"))
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    price["cents"]
        .as_u64()
        .ok_or_else(|| format!("no price in {price}"))
}

type Events = Pin<Box<dyn Stream<Item = Result<OrderEvent, Status>> + Send>>;

#[tonic::async_trait]
impl Orders for Shop {
    async fn get_order(&self, request: Request<OrderRequest>) -> Result<Response<Order>, Status> {
        let id = request.into_inner().id;
        // Pretend authentication told us who this is: every later log line and every
        // internal call carries it.
        context::set_user("u-42");
        let price_cents = price_of(&self.http, &self.pricing, id)
            .await
            .map_err(Status::unavailable)?;
        tracing::info!(order_id = id, price_cents, "order priced");
        Ok(Response::new(Order {
            id,
            item: format!("item-{id}"),
            price_cents,
        }))
    }

    type WatchOrderStream = Events;

    async fn watch_order(
        &self,
        request: Request<OrderRequest>,
    ) -> Result<Response<Events>, Status> {
        let id = request.into_inner().id;
        let steps = ["received", "packed", "shipped"];
        let events = tokio_stream::iter(steps.map(move |status| {
            tracing::info!(order_id = id, status, "order event");
            Ok(OrderEvent {
                id,
                status: status.to_owned(),
            })
        }));
        Ok(Response::new(Box::pin(events)))
    }
}

/// The pricing service: plain axum with observe-axum's layer.
async fn price(Path(id): Path<u32>) -> Json<serde_json::Value> {
    let user = context::current().and_then(|c| c.user_id().map(str::to_owned));
    tracing::info!(order_id = id, "price looked up");
    Json(serde_json::json!({ "id": id, "cents": 1250 + u64::from(id), "seen_user": user }))
}

async fn spawn_pricing() -> Result<SocketAddr, std::io::Error> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let app = Router::new().route("/prices/{id}", get(price)).layer(
        observe_axum::layer().trusted_callers(
            observe_tonic::observe_core::config::TrustedCallers::from_patterns(["loopback"])
                .expect("a valid list"),
        ),
    );
    // With the peer's address: trust is decided by it.
    let app = app.into_make_service_with_connect_info::<SocketAddr>();
    observe_tonic::observe_core::spawn(async move { axum::serve(listener, app).await });
    Ok(addr)
}

fn http_client() -> ClientWithMiddleware {
    let options = ClientOptions::new()
        .internal_hosts(["127.0.0.1", "localhost"])
        .unwrap_or_default();
    reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(ObserveMiddleware::with_options(options))
        .build()
}

/// The layer `serve!` adds: the self-test and the Python peer call from loopback
/// and send a user id in their baggage, which a service believes only from callers
/// it trusts (`OBSERVE_TRUSTED_CALLERS`, none by default).
fn layer() -> observe_tonic::ObserveLayer {
    observe_tonic::layer().trusted_callers(
        observe_tonic::observe_core::config::TrustedCallers::from_patterns(["loopback"])
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
        None => "127.0.0.1:50051".to_owned(),
    };
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    let addr = listener.local_addr()?;
    let pricing = spawn_pricing().await?;
    let routes = Routes::new(OrdersServer::new(Shop {
        pricing: format!("http://{pricing}").into(),
        http: http_client(),
    }));

    if !self_test {
        // The one line (and the layer: this example's clients run on loopback, and
        // their baggage is believed only from callers the service trusts).
        observe_tonic::serve!(listener, routes)
            .layer(layer())
            .await?;
        return Ok(());
    }

    // Self-test: the same one line, with an ephemeral admin port and a shutdown
    // signal we control.
    let admin = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let admin_addr = admin.local_addr()?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = observe_tonic::observe_core::spawn(
        observe_tonic::serve!(listener, routes)
            .layer(layer())
            .admin_listener(admin)
            .with_graceful_shutdown(async move {
                let _ = stop_rx.await;
            })
            .into_future(),
    );
    let result = run_self_test(&format!("http://{addr}"), admin_addr).await;
    let _ = stop_tx.send(());
    server.await??;
    result?;
    report("self-test passed");
    Ok(())
}

#[allow(clippy::print_stderr)]
fn report(message: &str) {
    eprintln!("grpc: {message}");
}

async fn run_self_test(base: &str, admin: SocketAddr) -> Result<(), Box<dyn std::error::Error>> {
    let channel = observe_tonic::client::connect(base.to_owned()).await?;
    let mut orders = shop::orders_client::OrdersClient::new(channel);
    let order = orders.get_order(OrderRequest { id: 7 }).await?.into_inner();
    if order.price_cents != 1257 {
        return Err(format!("unexpected order {order:?}").into());
    }
    let mut events = orders
        .watch_order(OrderRequest { id: 7 })
        .await?
        .into_inner();
    let mut seen = 0;
    while events.message().await?.is_some() {
        seen += 1;
    }
    if seen != 3 {
        return Err(format!("{seen} events, expected 3").into());
    }
    let metrics = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()?
        .get(format!("http://{admin}/metrics"))
        .send()
        .await?
        .text()
        .await?;
    for method in ["GetOrder", "WatchOrder"] {
        let needle = format!(r#"rpc_method="{method}""#);
        if !metrics
            .lines()
            .any(|l| l.starts_with("rpc_server_call_duration") && l.contains(&needle))
        {
            return Err(format!("no rpc.server.call.duration for {method} in /metrics").into());
        }
    }
    Ok(())
}
