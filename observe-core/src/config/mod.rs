//! Typed configuration, environment first.
//!
//! observe reads OpenTelemetry's variable names where they exist
//! (`OTEL_SERVICE_NAME`, `OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_TRACES_SAMPLER`, ...),
//! `RUST_LOG` for the log filter, and `OBSERVE_*` for the rest. Every string is parsed
//! once, at start-up, into a typed [`Config`] (durations, enums, socket addresses, byte
//! sizes, validated filter directives). A bad value is an error that names the
//! variable, the value and what is accepted, and when several are bad, one
//! [`ConfigError`] lists them all:
//!
//! ```text
//! invalid observe configuration (2 problems):
//!   OTEL_TRACES_SAMPLER_ARG="1.5": expected a ratio between 0 and 1
//!   OBSERVE_METRICS_WINDOW="5m": expected a whole multiple of the slice, 7s (OBSERVE_METRICS_SLICE)
//! ```
//!
//! The reference of every variable (type, default, example, error) is
//! `docs/configuration.md`.
//!
//! # Precedence: code sets defaults, operators override
//!
//! A [`Builder`](crate::Builder) method sets the *application's default* for a setting; the
//! environment, when it sets the same setting, wins, so operators can change a
//! deployed service without a rebuild. In order, highest first:
//!
//! 1. the environment variable (a per-signal OTLP variable before the generic one);
//! 2. the builder method (a per-signal method before the generic one);
//! 3. observe's default (listed on each field below and in `docs/configuration.md`).
//!
//! Only code can supply some things, which the environment therefore never replaces:
//! the [`ServiceInfo`] captured by [`service_info!`](crate::service_info) (team,
//! owner, runbook; its name and version *are* overridden by `OTEL_SERVICE_NAME` and
//! `OTEL_RESOURCE_ATTRIBUTES`), and the lookup itself ([`Builder::env_lookup`](crate::Builder::env_lookup),
//! [`Builder::ignore_env`](crate::Builder::ignore_env)). Sensitive field names only accumulate: code and
//! environment both add to the defaults.
//!
//! An empty variable counts as unset (the OpenTelemetry rule), and surrounding
//! whitespace is ignored. Enumerated values (`json`, `parentbased_always_on`, ...)
//! are case-insensitive.
//!
//! `OTEL_SDK_DISABLED=true` turns everything off ([`Config::disabled`]); then a bad
//! value elsewhere does not stop the start-up, so the switch always works.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use observe_core::Builder;
//! use observe_core::config::Sampler;
//!
//! let config = Builder::new()
//!     .sampler(Sampler::ParentBasedTraceIdRatio(0.5))    // the app's default
//!     .shutdown_timeout(Duration::from_secs(2))
//!     .env_lookup(|name| match name {                     // tests inject the environment
//!         "OTEL_TRACES_SAMPLER_ARG" => Some("0.1".into()), // the operator's override
//!         "OBSERVE_ADMIN_ADDR" => Some("off".into()),
//!         _ => None,
//!     })
//!     .build_config()?;
//! assert_eq!(config.sampler, Sampler::ParentBasedTraceIdRatio(0.1));
//! assert_eq!(config.shutdown_timeout, Duration::from_secs(2));
//! assert_eq!(config.admin.addr, None);
//! # Ok::<(), observe_core::config::ConfigError>(())
//! ```

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::time::Duration;

mod callers;
mod defaults;
mod error;
mod export;
mod hosts;
mod otlp;
mod overrides;
mod parse;
#[cfg(feature = "tls")]
pub(crate) mod pem;
mod redact;
mod resolve;
mod secret;
mod service;
pub(crate) mod slo;
mod sourced;
mod tls;

pub use callers::TrustedCallers;
pub use defaults::DEFAULT_RECORDER_WINDOW;
pub use error::{ConfigError, Problem};
pub(crate) use export::shown_endpoint;
pub use export::{
    BatchConfig, Compression, DEFAULT_QUEUE_BYTES, ExportConfig, ExporterKind, OtlpExport,
    Protocol, Signal,
};
pub use hosts::InternalHosts;
pub(crate) use overrides::{EnvSource, OtlpSettings, Overrides, Redacted};

/// Checks log-filter directives as `RUST_LOG` is checked at start; the error is
/// what was expected.
pub(crate) fn check_log_filter(filter: &str) -> Result<String, String> {
    parse::parse_filter(filter).map_err(|e| format!("expected {}", e.expected))
}
/// Whether an `OBSERVE_ADMIN_ADDR` value asks for a listener (an address, not
/// `off`); `None` when it is not a valid value.
#[cfg(not(feature = "admin"))]
pub(crate) fn asks_for_admin_listener(value: &str) -> Option<bool> {
    parse::admin_addr(value.trim()).ok().map(|a| a.is_some())
}
pub(crate) use redact::{ACCESS_FIELDS, access_field, redact_query};
pub use redact::{DEFAULT_SENSITIVE_FIELDS, Redaction};
pub use secret::{Headers, TracerBulletKey};
pub use service::ServiceInfo;
pub use slo::SloConfig;
pub use tls::OtlpTls;
#[cfg(feature = "otlp")]
pub(crate) use tls::is_https;
#[cfg(feature = "tls")]
pub(crate) use tls::read_bounded;

/// The resolved, typed configuration.
///
/// Produced by [`Builder::build_config`](crate::Builder::build_config) (and by `init`), or [`Config::default`] for
/// the embedded default: JSON logs on stdout at `info`, the admin listener on
/// `127.0.0.1:9464`, no OTLP export (data stays in memory). Every value in it has been
/// validated. `Debug` never prints secrets (OTLP header values, the tracer-bullet key).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Config {
    /// `OTEL_SDK_DISABLED=true`: observe installs nothing and records nothing.
    pub disabled: bool,
    /// Who this service is.
    pub service: Service,
    /// OTLP export.
    pub export: ExportConfig,
    /// Head sampling (`OTEL_TRACES_SAMPLER`, `OTEL_TRACES_SAMPLER_ARG`).
    pub sampler: Sampler,
    /// Logs: filter, format, output, redaction.
    pub logs: LogConfig,
    /// The admin listener (`/metrics`, `/observe`).
    pub admin: AdminConfig,
    /// Latency metrics.
    pub metrics: MetricsConfig,
    /// The in-memory flight recorder.
    pub flight_recorder: FlightRecorderConfig,
    /// How long shutdown may take to flush (`OBSERVE_SHUTDOWN_TIMEOUT`, default 5 s).
    pub shutdown_timeout: Duration,
    /// How long `serve` keeps accepting, not ready, after the shutdown signal
    /// (`OBSERVE_SHUTDOWN_DELAY`, default 0).
    pub shutdown_delay: Duration,
    /// Context propagation, trust and the tracer bullet.
    pub propagation: PropagationConfig,
    /// Service-level objectives (`OBSERVE_SLOS` and `Builder::slo`) and where
    /// alert snapshots go (`OBSERVE_DUMP_DIR`).
    pub slo: SloConfig,
}

impl Default for Config {
    /// The embedded default: what runs with no variable set and no builder call.
    fn default() -> Self {
        Overrides {
            env: EnvSource::Ignore,
            ..Overrides::default()
        }
        .resolve_lenient()
        .0
    }
}

/// The service's identity, for the resource of every export and every log line: the
/// one type for it (log lines, the exported OpenTelemetry `Resource`, the flight
/// recorder's dumps and the metrics requests are all built from it).
///
/// In the exported resource the named fields win over the same keys in
/// `attributes`. They become `service.name`, `service.version`,
/// `deployment.environment.name`, `host.name` (when not empty), `observe.team`,
/// `observe.owner`, `observe.runbook` and `vcs.repository.url.full`; `process.pid`
/// and `telemetry.sdk.*` are added.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Service {
    /// `service.name`: `OTEL_SERVICE_NAME`, else `service.name` in
    /// `OTEL_RESOURCE_ATTRIBUTES`, else the builder's, else the executable's file name.
    pub name: String,
    /// `service.version`: from `OTEL_RESOURCE_ATTRIBUTES`, else the builder's, else
    /// `unknown`.
    pub version: String,
    /// `deployment.environment.name`: `OBSERVE_ENV`, else from
    /// `OTEL_RESOURCE_ATTRIBUTES`, else the builder's, else none.
    pub environment: Option<String>,
    /// `host.name`: from `OTEL_RESOURCE_ATTRIBUTES`, else detected.
    pub host: String,
    /// The owning team: `OBSERVE_SERVICE_TEAM`, else from [`ServiceInfo`].
    pub team: Option<String>,
    /// The owner to page: `OBSERVE_SERVICE_OWNER`, else from [`ServiceInfo`].
    pub owner: Option<String>,
    /// The runbook link: `OBSERVE_SERVICE_RUNBOOK`, else from [`ServiceInfo`].
    pub runbook: Option<String>,
    /// The source repository, from [`ServiceInfo`].
    pub repository: Option<String>,
    /// The other resource attributes (builder's, then `OTEL_RESOURCE_ATTRIBUTES`, the
    /// environment replacing a key the builder set), without the four keys above
    /// (`service.name`, `service.version`, `deployment.environment.name` and its older
    /// name `deployment.environment`, `host.name`), whose final values are the fields.
    pub attributes: Vec<(String, String)>,
}

/// The head sampler (`OTEL_TRACES_SAMPLER`), with the OpenTelemetry meanings. Ratios
/// are within `[0, 1]`.
///
/// Tracer bullets and errors are kept whatever the sampler says.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[non_exhaustive]
pub enum Sampler {
    /// `always_on`: every trace.
    AlwaysOn,
    /// `always_off`: no trace (the flight recorder still sees every span).
    AlwaysOff,
    /// `traceidratio`: this fraction of traces, by trace id, ignoring the parent.
    TraceIdRatio(f64),
    /// `parentbased_always_on`: follow the parent's decision; roots are sampled. The
    /// default.
    #[default]
    ParentBasedAlwaysOn,
    /// `parentbased_always_off`: follow the parent's decision; roots are not sampled.
    ParentBasedAlwaysOff,
    /// `parentbased_traceidratio`: follow the parent's decision; this fraction of
    /// roots is sampled.
    ParentBasedTraceIdRatio(f64),
}

impl Sampler {
    /// The `OTEL_TRACES_SAMPLER` name (`parentbased_traceidratio`, ...).
    pub const fn name(&self) -> &'static str {
        match self {
            Sampler::AlwaysOn => "always_on",
            Sampler::AlwaysOff => "always_off",
            Sampler::TraceIdRatio(_) => "traceidratio",
            Sampler::ParentBasedAlwaysOn => "parentbased_always_on",
            Sampler::ParentBasedAlwaysOff => "parentbased_always_off",
            Sampler::ParentBasedTraceIdRatio(_) => "parentbased_traceidratio",
        }
    }

    /// The ratio, for the two ratio samplers.
    pub const fn ratio(&self) -> Option<f64> {
        match self {
            Sampler::TraceIdRatio(r) | Sampler::ParentBasedTraceIdRatio(r) => Some(*r),
            _ => None,
        }
    }
}

/// Log settings.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct LogConfig {
    /// `tracing` filter directives (`RUST_LOG`, default `info`), validated: build the
    /// filter with `tracing_subscriber::EnvFilter::new(&filter)`.
    pub filter: String,
    /// Line format (`OBSERVE_LOG_FORMAT`).
    pub format: LogFormat,
    /// Destination (`OBSERVE_LOG_OUTPUT`).
    pub output: LogOutput,
    /// Lines the non-blocking writer may queue before it drops and counts
    /// (`OBSERVE_LOG_BUFFER`, default 8192).
    pub buffer_lines: usize,
    /// Fields whose values are redacted (`OBSERVE_REDACT_FIELDS`).
    pub redaction: Redaction,
}

/// The format of log lines (`OBSERVE_LOG_FORMAT`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LogFormat {
    /// One JSON object per line (`json`): the default when the output is not a
    /// terminal.
    #[default]
    Json,
    /// Human-readable lines for a terminal (`pretty` or `text`): the default when the
    /// output is a terminal.
    Pretty,
}

/// Where log lines go (`OBSERVE_LOG_OUTPUT`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LogOutput {
    /// Standard output (`stdout`), the default.
    #[default]
    Stdout,
    /// Standard error (`stderr`).
    Stderr,
    /// Nowhere (`none`); log records still reach the flight recorder and OTLP.
    None,
}

/// The admin listener serving `/metrics` and `/observe`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct AdminConfig {
    /// The address to bind (`OBSERVE_ADMIN_ADDR`, default `127.0.0.1:9464`), or `None`
    /// when set to `off`.
    pub addr: Option<SocketAddr>,
    /// `true` when `addr` is not a loopback address: the admin surface is reachable
    /// from other machines. Allowed; `observe_axum::serve` logs a warning at start.
    pub non_loopback: bool,
}

/// Latency metrics settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct MetricsConfig {
    /// The rolling window SLOs are evaluated on (`OBSERVE_METRICS_WINDOW`, default
    /// 5 min); a whole multiple of `slice`.
    pub window: Duration,
    /// The granularity the window rolls by (`OBSERVE_METRICS_SLICE`, default 10 s).
    pub slice: Duration,
    /// The most label sets per metric; more are counted as overflow
    /// (`OBSERVE_METRICS_MAX_KEYS`, default 2000).
    pub max_keys: usize,
    /// How histograms without a setting of their own appear at `/metrics`
    /// (`OBSERVE_METRICS_EXPOSITION`: `histogram`, the default, or `summary`);
    /// a metric's own [`metrics::set_exposition`](crate::metrics::set_exposition)
    /// wins.
    pub exposition: crate::metrics::Exposition,
}

impl MetricsConfig {
    /// How many slices make the window (`window / slice`, at least 1).
    pub fn slices(&self) -> usize {
        let n = self.window.as_nanos() / self.slice.as_nanos().max(1);
        usize::try_from(n).unwrap_or(usize::MAX).max(1)
    }
}

/// The in-memory flight recorder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct FlightRecorderConfig {
    /// Its byte budget (`OBSERVE_FLIGHT_RECORDER_BYTES`, default 64 MiB), or `None`
    /// when set to 0 (no recorder).
    pub bytes: Option<NonZeroUsize>,
    /// How far back it keeps records (`OBSERVE_FLIGHT_RECORDER_WINDOW`, default 5
    /// minutes), or `None` (`off`) to keep as many as the byte budget holds.
    pub window: Option<Duration>,
    /// A local root slower than this is promoted (exported even if head sampling
    /// dropped it). `None` (the default) means per key, from its running p99
    /// (`OBSERVE_SLOW_THRESHOLD`).
    pub slow_threshold: Option<Duration>,
}

/// Context propagation, trust at the edge, and the tracer bullet.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PropagationConfig {
    /// Hosts that receive baggage, `x-request-id` and the tracer-bullet mode
    /// (`OBSERVE_INTERNAL_HOSTS`, default none).
    pub internal_hosts: InternalHosts,
    /// What to do with an inbound trace context (`OBSERVE_INBOUND_CONTEXT`, default
    /// [`Continue`](InboundContext::Continue)). Never
    /// [`Trust`](InboundContext::Trust) once resolved: that old spelling resolves to
    /// `Continue` with [`trusted_callers`](Self::trusted_callers) = any.
    pub inbound_context: InboundContext,
    /// The callers whose identity (baggage) and tracer-bullet marker are believed
    /// (`OBSERVE_TRUSTED_CALLERS`, default none).
    pub trusted_callers: TrustedCallers,
    /// How many requests a second from untrusted callers may have their `sampled`
    /// flag honoured; beyond that the local sampler decides
    /// (`OBSERVE_UNTRUSTED_SAMPLED_PER_SECOND`, default 10; 0: never).
    pub untrusted_sampled_per_second: u32,
    /// Whether inbound tracer bullets are honoured (`OBSERVE_TRACER_BULLET_POLICY`).
    pub tracer_bullet_policy: TracerBulletPolicy,
    /// The key that signs and verifies tracer-bullet tokens
    /// (`OBSERVE_TRACER_BULLET_KEY`); always present when the policy is
    /// [`Signed`](TracerBulletPolicy::Signed).
    pub tracer_bullet_key: Option<TracerBulletKey>,
    /// The validity window of a signed token (`OBSERVE_TRACER_BULLET_MAX_AGE`,
    /// default 5 min).
    pub tracer_bullet_max_age: Duration,
    /// What a request marked as a tracer bullet by its baggage alone gets when this
    /// service does not accept the marker (`OBSERVE_TRACER_BULLET_UNTRUSTED_MARKER`,
    /// default [`Refuse`](UntrustedMarker::Refuse)).
    pub tracer_bullet_untrusted_marker: UntrustedMarker,
}

/// What to do with the trace context of an inbound request (`OBSERVE_INBOUND_CONTEXT`).
///
/// It decides the trace only (`traceparent`, `tracestate`); whose identity is
/// believed is [`TrustedCallers`]' business.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum InboundContext {
    /// Continue the caller's trace (`continue`), the default, whoever the caller is.
    #[default]
    Continue,
    /// Start a new trace and keep the caller's as a span link (`restart`), unless
    /// the caller is trusted: for a public edge that should not let clients choose
    /// trace ids or sampling.
    Restart,
    /// The spelling of observe 0.1 (`trust`, its default): continue the trace **and
    /// believe every caller's identity**, the same as `Continue` with
    /// [`TrustedCallers::any`]. Kept so that a service configured with it behaves
    /// as before; it cannot be combined with trusted callers. Prefer `Continue`.
    Trust,
}

/// What a request marked as a tracer bullet only by its baggage
/// (`observe.request_type=tracer_bullet`, no token) gets when this service does not
/// accept the marker (`OBSERVE_TRACER_BULLET_UNTRUSTED_MARKER`).
///
/// A request with an `observe-tracer-bullet` token that is not accepted is refused
/// whatever this says: a token is sent on purpose, never relayed by accident.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum UntrustedMarker {
    /// Refuse it (`refuse`), the default: 403 with
    /// `observe-tracer-bullet-refused: <reason>`, logged and counted. It is never
    /// served as a standard request (that would write).
    #[default]
    Refuse,
    /// Serve it as a standard request with the marker removed (`strip`), logged and
    /// counted: for a public edge whose clients relay baggage they received
    /// elsewhere. The marker goes no further (it is not in the request context, so
    /// outgoing calls do not carry it).
    Strip,
}

/// Whether inbound requests may ask to be tracer bullets
/// (`OBSERVE_TRACER_BULLET_POLICY`). A marked request the policy does not accept is
/// refused (see [`UntrustedMarker`] for the one exception).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum TracerBulletPolicy {
    /// Never (`deny`), the default.
    #[default]
    Deny,
    /// When the baggage says so and the caller is trusted (`trusted`): for internal
    /// services behind a gateway that strips the mode from outside traffic. A token
    /// header alone counts only if this service can verify it.
    Trusted,
    /// Only with a valid token signed by the shared key (`signed`), from any caller.
    Signed,
}

/// Every environment variable observe reads, in the order it reads them: the
/// `OTEL_*` variables of the OpenTelemetry specification observe honours and its
/// own `OBSERVE_*` ones, each described in `docs/configuration.md`.
///
/// ```
/// let vars = observe_core::config::VARIABLES;
/// assert!(vars.contains(&"OTEL_EXPORTER_OTLP_ENDPOINT"));
/// assert!(vars.contains(&"OBSERVE_SLOS"));
/// ```
pub const VARIABLES: &[&str] = &concat::<{ total(&VARIABLE_GROUPS) }>(&VARIABLE_GROUPS);

/// [`VARIABLES`] in the groups it is written in: the TLS variables are named once, in
/// `tls.rs`, which reads them.
const VARIABLE_GROUPS: [&[&str]; 6] = [
    &[
        "OTEL_SDK_DISABLED",
        "OTEL_SERVICE_NAME",
        "OTEL_RESOURCE_ATTRIBUTES",
        "OBSERVE_ENV",
        "OBSERVE_SERVICE_TEAM",
        "OBSERVE_SERVICE_OWNER",
        "OBSERVE_SERVICE_RUNBOOK",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
        "OTEL_EXPORTER_OTLP_HEADERS",
        "OTEL_EXPORTER_OTLP_TIMEOUT",
        "OTEL_EXPORTER_OTLP_COMPRESSION",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
        "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
        "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
        "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
        "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL",
        "OTEL_EXPORTER_OTLP_LOGS_HEADERS",
        "OTEL_EXPORTER_OTLP_LOGS_TIMEOUT",
        "OTEL_EXPORTER_OTLP_LOGS_COMPRESSION",
        "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
        "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL",
        "OTEL_EXPORTER_OTLP_METRICS_HEADERS",
        "OTEL_EXPORTER_OTLP_METRICS_TIMEOUT",
        "OTEL_EXPORTER_OTLP_METRICS_COMPRESSION",
        "OTEL_TRACES_EXPORTER",
        "OTEL_LOGS_EXPORTER",
        "OTEL_METRICS_EXPORTER",
    ],
    &tls::GENERIC_VARS,
    &tls::SIGNAL_VARS[0],
    &tls::SIGNAL_VARS[1],
    &tls::SIGNAL_VARS[2],
    &[
        "OTEL_BSP_SCHEDULE_DELAY",
        "OTEL_BSP_EXPORT_TIMEOUT",
        "OTEL_BSP_MAX_QUEUE_SIZE",
        "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
        "OTEL_BLRP_SCHEDULE_DELAY",
        "OTEL_BLRP_EXPORT_TIMEOUT",
        "OTEL_BLRP_MAX_QUEUE_SIZE",
        "OTEL_BLRP_MAX_EXPORT_BATCH_SIZE",
        "OTEL_METRIC_EXPORT_INTERVAL",
        "OTEL_METRIC_EXPORT_TIMEOUT",
        "OTEL_TRACES_SAMPLER",
        "OTEL_TRACES_SAMPLER_ARG",
        "RUST_LOG",
        "OBSERVE_LOG_FORMAT",
        "OBSERVE_LOG_OUTPUT",
        "OBSERVE_LOG_BUFFER",
        "OBSERVE_REDACT_FIELDS",
        "OBSERVE_ADMIN_ADDR",
        "OBSERVE_METRICS_WINDOW",
        "OBSERVE_METRICS_SLICE",
        "OBSERVE_METRICS_MAX_KEYS",
        "OBSERVE_METRICS_EXPOSITION",
        "OBSERVE_FLIGHT_RECORDER_BYTES",
        "OBSERVE_FLIGHT_RECORDER_WINDOW",
        "OBSERVE_SLOW_THRESHOLD",
        "OBSERVE_SHUTDOWN_TIMEOUT",
        "OBSERVE_SHUTDOWN_DELAY",
        "OBSERVE_INTERNAL_HOSTS",
        "OBSERVE_INBOUND_CONTEXT",
        "OBSERVE_TRUSTED_CALLERS",
        "OBSERVE_UNTRUSTED_SAMPLED_PER_SECOND",
        "OBSERVE_TRACER_BULLET_POLICY",
        "OBSERVE_TRACER_BULLET_KEY",
        "OBSERVE_TRACER_BULLET_MAX_AGE",
        "OBSERVE_TRACER_BULLET_UNTRUSTED_MARKER",
        "OBSERVE_SLOS",
        "OBSERVE_DUMP_DIR",
    ],
];

/// How many names `groups` holds.
const fn total(groups: &[&[&str]]) -> usize {
    let (mut n, mut i) = (0, 0);
    while i < groups.len() {
        n += groups[i].len();
        i += 1;
    }
    n
}

/// The names of `groups`, in order, in one array of `N` (their [`total`]).
const fn concat<const N: usize>(groups: &[&[&'static str]]) -> [&'static str; N] {
    let mut all = [""; N];
    let (mut n, mut i) = (0, 0);
    while i < groups.len() {
        let mut j = 0;
        while j < groups[i].len() {
            all[n] = groups[i][j];
            n += 1;
            j += 1;
        }
        i += 1;
    }
    assert!(n == N, "N is the total of the groups");
    all
}

/// The configuration reference, compiled only for doctests so that its examples run.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/configuration.md")]
struct ConfigurationReference;
