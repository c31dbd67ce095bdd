//! # observe-tonic
//!
//! observe for [tonic] gRPC services: one line makes a service observable.
//!
//! ```no_run
//! use tonic::service::Routes;
//! # fn greeter() -> tonic_health::pb::health_server::HealthServer<impl tonic_health::pb::health_server::Health> {
//! #     tonic_health::server::health_reporter().1
//! # }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let listener = tokio::net::TcpListener::bind("127.0.0.1:50051").await?;
//!     observe_tonic::serve!(listener, Routes::new(greeter())).await?; // replaces Server::builder()..serve()
//!     Ok(())
//! }
//! ```
//!
//! - [`serve!`] / [`serve()`]: start observe, add the layer, run the admin listener,
//!   shut down gracefully on SIGINT/SIGTERM and flush.
//! - [`layer()`]: the server's tower layer alone ([`ObserveLayer`]), for servers
//!   built with `tonic::transport::Server::builder().layer(..)`.
//! - [`client`]: an observed [`Channel`](tonic::transport::Channel) in one line
//!   ([`client::connect`]), or its layer for `tower::ServiceBuilder`.
//! - [`serve_admin`]: the admin routes (`/metrics`, `/observe/api/...`) on a
//!   listener of your choosing.
//!
//! Per call, the server records a span named `package.Service/Method` with
//! OpenTelemetry's RPC attributes, the request context on every log line, the
//! access-log line and `rpc.server.call.duration`; the client does the same on its
//! side and propagates the context. `grpc.health.v1` and server reflection are
//! left out by default ([`ObserveLayer::skip_services`]).
//!
//! This crate re-exports [`observe_core`], so it is the only observe dependency a
//! tonic service needs. The user guide is `docs/tonic.md`.

#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "admin")]
mod admin;
pub mod client;
pub mod layer;
mod serve;
mod wire;

pub use observe_core;

/// `#[traced]` on a function: a span, a latency histogram and error status per call
/// (see `observe_core::traced`). Through this re-export a tonic service needs no
/// other dependency.
#[doc(inline)]
pub use observe_core::__macros::traced_tonic as traced;

#[cfg(feature = "admin")]
pub use admin::serve_admin;
pub use layer::{ObserveLayer, ObserveService, ResponseFuture};
pub use serve::{Serve, ServeError, serve};

/// The server middleware with the default options: policies from the running
/// configuration, access log at `INFO`, panics answered with a recorded
/// `INTERNAL`, health checks and reflection skipped. Add it with
/// [`Server::layer`](tonic::transport::Server::layer).
pub fn layer() -> ObserveLayer {
    ObserveLayer::new()
}

/// The user guide, compiled only for doctests so that its examples build.
#[cfg(doctest)]
#[doc = include_str!("../../docs/tonic.md")]
struct UserGuide;
