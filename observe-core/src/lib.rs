//! # observe-core
//!
//! The engine of [observe](https://github.com/observe-rs/observe): request context,
//! W3C propagation, a span engine built for the hot path, structured JSON logs with
//! the request's context on every line, HDR latency histograms, OTLP export, the
//! flight recorder and the tracer bullet.
//!
//! Most services depend on an adapter (`observe-axum`, `observe-tonic`) that
//! re-exports this crate; programs without HTTP or gRPC use it directly.
//!
//! # Modules
//!
//! | for | modules |
//! |---|---|
//! | services | [`init()`], [`Builder`], [`config`], [`context`], [`span`], [`log`], [`metrics`], [`sampling`], [`recorder`], [`task`], [`thread`], [`testing`] |
//! | adapter authors | [`server`] (inbound requests), [`client`] (outgoing calls, feature `http-client`), [`propagation`] (W3C headers), [`footprint`] and [`tracer_bullet`] (the tracer bullet on the wire) |
//! | both | [`ids`], [`clock`], [`export`] (an exporter started in code) |

#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "admin")]
pub mod admin;
// What a service uses: start observe, configure it, record.
pub mod config;
pub mod context;
pub mod controls;
pub mod dependencies;
pub mod health;
pub mod log;
pub mod metrics;
pub mod recorder;
pub mod sampling;
pub mod slo;
pub mod span;
mod startup;
pub mod task;
pub mod testing;
pub mod thread;

// What adapter authors use (observe-axum, observe-tonic, or your own): inbound and
// outbound requests, the wire formats, the tracer bullet.
#[cfg(feature = "http-client")]
pub mod client;
pub mod footprint;
pub mod propagation;
pub mod server;
pub mod tracer_bullet;

// Building blocks both name; export for tests and programs that start an exporter
// in code.
pub mod clock;
pub mod export;
pub mod ids;

// The inside (ARCHITECTURE.md, "Layers of observe-core").
mod bridge;
mod dry_run;
mod init;
pub mod otel;
mod pipeline;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

/// The adapters' `#[traced]`: the same attribute, expanding through the adapter's
/// re-export of this crate. Not a stable API.
#[doc(hidden)]
pub mod __macros {
    pub use observe_macros::{__service_info, traced_axum, traced_tonic};
}

pub use bridge::ObserveLayer;
pub use dry_run::{DryRun, side_effect};
pub use ids::{SpanContext, SpanId, TraceFlags, TraceId};
pub use init::{Builder, DefaultGuard, Guard, InitError, Observe, init, layer};
pub use observe_macros::traced;
pub use span::FutureExt;
pub use task::{spawn, spawn_blocking};

/// The `tracing` crate observe is built on, re-exported so that
/// `observe_core::tracing::info!(..)` (and the adapters' `observe_axum::tracing`)
/// logs without a second dependency. `#[tracing::instrument]` names `::tracing`
/// in its expansion, so a crate that uses it depends on `tracing` itself.
pub use tracing;

/// What a pipeline dropped and delivered: nothing is lost silently.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct PipelineStats {
    /// Span records dropped because a thread's queue was full (or the thread was
    /// exiting, or observe was shutting down).
    pub dropped_spans: u64,
    /// Log records dropped for the same reasons.
    pub dropped_log_records: u64,
    /// Records handed to the sinks.
    pub processed_records: u64,
    /// Log lines dropped because the output did not keep up.
    pub dropped_log_lines: u64,
    /// Log lines written.
    pub written_log_lines: u64,
    /// Calls of a sink (the log writer, the flight recorder, the exporter's sink,
    /// your own) that panicked. The sink missed that record; the others got it, and
    /// the worker went on.
    pub sink_panics: u64,
    /// Panics caught in observe's own background threads (the worker outside
    /// sinks, the log writer, the exporters); the record or batch in hand was
    /// dropped and the thread went on.
    pub thread_panics: u64,
    /// Background threads that stopped without being asked to (a panic that
    /// supervision could not catch). While one is dead, `flush` and `shutdown`
    /// report `false`.
    pub dead_threads: u64,
    /// `tracing` spans observe found entered where they should not be: left entered
    /// when the poll or call around them ended (an `Entered` guard held across
    /// `.await`, or leaked), exited on a thread that had not entered them (a guard
    /// moved to another thread), or closed while still entered. Each is taken off
    /// the span stack so no other task inherits it, and counted once (also as the
    /// `observe.span_stack.misnested` metric, with a warning in the log the first
    /// time and at every power of ten).
    pub misnested_spans: u64,
}

/// The counters of the current instance (the thread's default, else the global
/// one); zeros before `init`.
pub fn stats() -> PipelineStats {
    pipeline::Pipeline::current()
        .map(pipeline::Pipeline::snapshot_stats)
        .unwrap_or_default()
}

/// Sinks: where spans and log records go on the background thread.
pub mod sink {
    pub use crate::pipeline::sink::Sink;
}

/// The guides, as on the repository's `docs/` (`observe-core/docs` links there, so
/// that the published crate carries them). Their examples run as doctests through
/// the `guides` module below and the modules that include them.
#[cfg(not(doctest))]
pub mod docs {
    /// The guide: from the one line to the primitives.
    pub mod guide {
        #![doc = include_str!("../docs/guide.md")]
    }
    /// Every environment variable and builder method.
    pub mod configuration {
        #![doc = include_str!("../docs/configuration.md")]
    }
    /// Traces: spans, sampling, the flight recorder, export.
    pub mod traces {
        #![doc = include_str!("../docs/traces.md")]
    }
    /// Propagation: what goes on the wire, to whom.
    pub mod propagation {
        #![doc = include_str!("../docs/propagation.md")]
    }
    /// Metrics: HDR histograms, Prometheus, OTLP.
    pub mod metrics {
        #![doc = include_str!("../docs/metrics.md")]
    }
    /// The tracer bullet.
    pub mod tracer_bullet {
        #![doc = include_str!("../docs/tracer-bullet.md")]
    }
    /// Migrating from tracing-subscriber and tracing-opentelemetry.
    pub mod migrating {
        #![doc = include_str!("../docs/migrating.md")]
    }
    /// See it in Jaeger, Prometheus and Grafana, without Docker.
    pub mod backends {
        #![doc = include_str!("../docs/backends.md")]
    }
    /// What a symptom means and what to do.
    pub mod troubleshooting {
        #![doc = include_str!("../docs/troubleshooting.md")]
    }
}

/// The guides under `docs/`, compiled only for doctests so that their examples run.
#[cfg(doctest)]
mod guides {
    #[doc = include_str!("../../docs/guide.md")]
    struct Guide;
    #[doc = include_str!("../../docs/traces.md")]
    struct Traces;
    #[doc = include_str!("../../docs/propagation.md")]
    struct Propagation;
}
