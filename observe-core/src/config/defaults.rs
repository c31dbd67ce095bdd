//! observe's defaults: what a setting is when neither the environment nor the
//! builder gives it. The defaults of OTLP export are beside [`ExportConfig`]
//! (`export.rs`), those of redaction beside [`Redaction`](super::Redaction).
//!
//! [`ExportConfig`]: super::ExportConfig

use std::net::SocketAddr;
use std::time::Duration;

/// The admin listener's default address.
pub(crate) const DEFAULT_ADMIN_ADDR: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 9464);
/// The default log filter.
pub(crate) const DEFAULT_LOG_FILTER: &str = "info";
/// The default queue of the non-blocking log writer, in lines.
pub(crate) const DEFAULT_LOG_BUFFER: usize = 8192;
/// The default rolling window.
pub(crate) const DEFAULT_METRICS_WINDOW: Duration = Duration::from_secs(300);
/// The default slice of the rolling window.
pub(crate) const DEFAULT_METRICS_SLICE: Duration = Duration::from_secs(10);
/// The default cardinality cap per metric.
pub(crate) const DEFAULT_METRICS_MAX_KEYS: usize = 2000;
/// The default flight-recorder budget.
pub(crate) const DEFAULT_FLIGHT_RECORDER_BYTES: usize = 64 << 20;
/// The default shutdown deadline.
pub(crate) const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);
/// How long `serve!` keeps serving, not ready, after the shutdown signal.
pub(crate) const DEFAULT_SHUTDOWN_DELAY: Duration = Duration::ZERO;
/// The default validity of a signed tracer-bullet token.
pub(crate) const DEFAULT_TRACER_BULLET_MAX_AGE: Duration = Duration::from_secs(300);
/// How many untrusted callers' `sampled` flags are honoured a second by default.
pub(crate) const DEFAULT_UNTRUSTED_SAMPLED_PER_SECOND: u32 = 10;

/// How far back the flight recorder keeps records by default
/// (`OBSERVE_FLIGHT_RECORDER_WINDOW`; `recorder::DEFAULT_WINDOW`).
pub const DEFAULT_RECORDER_WINDOW: Duration = Duration::from_secs(300);
