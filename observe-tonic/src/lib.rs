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
//! This crate re-exports [`observe_core`], and under its own name what an
//! application uses ([`context`], [`tracing`], [`init!`], [`spawn`], [`metrics`],
//! [`span`], ...), so it is the only observe dependency a service needs:
//! `observe_tonic::tracing::info!(..)`, `observe_tonic::context::set_user(..)`. The guides:
//! [`docs::tonic`], and [`observe_core::docs`] (migrating an existing service,
//! configuration, troubleshooting, ...).

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

// The parts of observe-core an application uses, under this crate's name, so that
// one dependency is enough: `observe_tonic::context::set_user(..)`,
// `observe_tonic::tracing::info!(..)`, `observe_tonic::init()`. Everything else is under
// [`observe_core`].
#[doc(no_inline)]
pub use observe_core::{
    DryRun, FutureExt, Guard, InitError, Observe, PipelineStats, config, context, footprint, init,
    log, metrics, propagation, recorder, sampling, service_info, side_effect, sink, span, spawn,
    spawn_blocking, stats, task, testing, thread, tracer_bullet, tracing,
};

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

/// The guides, as in the repository's `docs/` (`observe-tonic/docs` links there, so that
/// the published crate carries them); the rest are in [`observe_core::docs`].
#[cfg(not(doctest))]
pub mod docs {
    /// The tonic guide: `serve!`, the layers, observed channels, the admin listener.
    pub mod tonic {
        #![doc = include_str!("../docs/tonic.md")]
    }
}
