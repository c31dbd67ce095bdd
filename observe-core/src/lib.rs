//! # observe-core
//!
//! The engine of [observe](https://github.com/observe-rs/observe): request context,
//! W3C propagation, a span engine built for the hot path, structured JSON logs with
//! the request's context on every line, HDR latency histograms, OTLP export, the
//! flight recorder and the tracer bullet.
//!
//! Most services depend on an adapter (`observe-axum`, `observe-tonic`) that
//! re-exports this crate; programs without HTTP or gRPC use it directly.

#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod clock;
pub mod config;
pub mod context;
pub mod ids;
mod init;
mod layer;
pub mod log;
pub mod metrics;
mod pipeline;
pub mod propagation;
pub mod server;
pub mod span;
pub mod testing;
pub mod tracer_bullet;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

pub use ids::{SpanContext, SpanId, TraceFlags, TraceId};
pub use init::{DefaultGuard, Guard, InitError, Observe, init, layer};
pub use layer::ObserveLayer;
pub use span::FutureExt;

/// Sinks: where spans and log records go on the background thread.
pub mod sink {
    pub use crate::pipeline::sink::Sink;
}

#[cfg(test)]
mod engine_tests;
#[cfg(test)]
mod quickbench;
