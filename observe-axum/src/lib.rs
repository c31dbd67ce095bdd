//! # observe-axum
//!
//! observe for [axum] services: one line makes a service observable.
//!
//! ```no_run
//! use axum::{Router, routing::get};
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let app = Router::new().route("/orders/{id}", get(|| async { "order" }));
//!     let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//!     observe_axum::serve!(listener, app).await?; // replaces axum::serve
//!     Ok(())
//! }
//! ```
//!
//! - [`serve!`] / [`serve()`]: start observe, add the layer, run the admin listener,
//!   shut down gracefully on SIGINT/SIGTERM and flush.
//! - [`layer()`]: the tower layer alone ([`ObserveLayer`]), for services that run
//!   their own server.
//! - [`admin_routes`]: the admin router (`/metrics`, `/observe/api/...`).
//! - [`client`] (feature `http-client`, on by default): the outgoing HTTP layer that
//!   propagates the request's context to the services it calls.
//!
//! This crate re-exports [`observe_core`], so it is the only observe dependency an
//! axum service needs. The user guide is `docs/axum.md`.
//!
//! | feature | default | what |
//! | --- | --- | --- |
//! | `http-client` | yes | [`client`]: the outgoing tower layer |
//! | `reqwest` | no | the reqwest middleware in [`client`] |

#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "admin")]
mod admin;
pub mod layer;
mod serve;

pub use observe_core;

/// `#[traced]` on a function: a span, a latency histogram and error status per call
/// (see `observe_core::traced`). Through this re-export an axum service needs no
/// other dependency.
#[doc(inline)]
pub use observe_core::__macros::traced_axum as traced;

#[cfg(feature = "admin")]
pub use admin::admin_routes;
pub use layer::{ObserveLayer, ObserveService, ResponseFuture};
pub use serve::{Serve, ServeError, serve};

/// Outgoing HTTP: observe-core's client layer, re-exported.
#[cfg(feature = "http-client")]
pub use observe_core::client;

/// The server middleware with the default options: policies from the running
/// configuration, access log at `INFO`, query values redacted, panics answered with
/// a recorded 500. Add it with [`Router::layer`](axum::Router::layer).
pub fn layer() -> ObserveLayer {
    ObserveLayer::new()
}

/// The user guide, compiled only for doctests so that its examples build.
#[cfg(doctest)]
#[doc = include_str!("../../docs/axum.md")]
struct UserGuide;
