//! The settings given in code, before the environment and the defaults are applied:
//! plain data that [`resolve`](super::resolve) turns into a [`Config`](super::Config).

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use super::export::{BatchConfig, Compression, ExporterKind, Protocol};
use super::service::ServiceInfo;
use super::{InboundContext, LogFormat, LogOutput, Sampler, TracerBulletPolicy, UntrustedMarker};

/// A replacement for the process environment.
pub(crate) type Lookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// Where variables are read from.
#[derive(Clone, Default)]
pub(crate) enum EnvSource {
    /// `std::env::var_os`.
    #[default]
    Process,
    /// An injected lookup.
    Lookup(Lookup),
    /// Nowhere: only the builder and the defaults count.
    Ignore,
}

impl fmt::Debug for EnvSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EnvSource::Process => "Process",
            EnvSource::Lookup(_) => "Lookup(..)",
            EnvSource::Ignore => "Ignore",
        })
    }
}

/// A value `Debug` prints as `<redacted>`.
#[derive(Clone, Default)]
pub(crate) struct Redacted<T>(pub(crate) T);

impl<T> fmt::Debug for Redacted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(super::error::REDACTED)
    }
}

/// OTLP settings given in code, generic or for one signal.
#[derive(Clone, Debug, Default)]
pub(crate) struct OtlpSettings {
    pub(crate) endpoint: Option<String>,
    pub(crate) protocol: Option<Protocol>,
    /// `None` until a header is added; names in clear, values redacted.
    pub(crate) headers: Option<Vec<(String, Redacted<String>)>>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) compression: Option<Compression>,
    pub(crate) tls: super::OtlpTls,
}

/// Every setting code can give, each `None` (or empty) until given. A new setting is
/// a field here, a builder method, and its line in `resolve.rs`.
#[derive(Clone, Debug, Default)]
pub(crate) struct Overrides {
    pub(crate) env: EnvSource,
    pub(crate) disabled: Option<bool>,
    pub(crate) service_info: Option<ServiceInfo>,
    pub(crate) service_name: Option<String>,
    pub(crate) environment: Option<String>,
    pub(crate) resource_attributes: Vec<(String, String)>,
    pub(crate) otlp: OtlpSettings,
    pub(crate) otlp_signal: [OtlpSettings; 3],
    pub(crate) exporters: [Option<ExporterKind>; 3],
    pub(crate) span_batch: Option<BatchConfig>,
    pub(crate) log_batch: Option<BatchConfig>,
    pub(crate) metric_export_interval: Option<Duration>,
    pub(crate) metric_export_timeout: Option<Duration>,
    pub(crate) sampler: Option<Sampler>,
    pub(crate) log_filter: Option<String>,
    pub(crate) log_format: Option<LogFormat>,
    pub(crate) log_output: Option<LogOutput>,
    /// Code gave a log writer (`Builder::log_writer`): the output is not a terminal.
    pub(crate) log_writer_given: bool,
    pub(crate) log_buffer_lines: Option<usize>,
    pub(crate) redact_fields: Vec<String>,
    pub(crate) admin_addr: Option<Option<SocketAddr>>,
    /// No admin listener whatever `OBSERVE_ADMIN_ADDR` says (`serve!`'s
    /// `without_admin`: the application serves the admin routes itself).
    pub(crate) admin_off: bool,
    pub(crate) metrics_window: Option<Duration>,
    pub(crate) metrics_slice: Option<Duration>,
    pub(crate) metrics_max_keys: Option<usize>,
    pub(crate) metrics_exposition: Option<crate::metrics::Exposition>,
    pub(crate) slos: Vec<super::slo::Slo>,
    pub(crate) alert_snapshot_dir: Option<std::path::PathBuf>,
    pub(crate) alert_snapshot_interval: Option<Duration>,
    pub(crate) flight_recorder_bytes: Option<usize>,
    pub(crate) flight_recorder_window: Option<Option<Duration>>,
    pub(crate) slow_threshold: Option<Option<Duration>>,
    pub(crate) shutdown_timeout: Option<Duration>,
    pub(crate) shutdown_delay: Option<Duration>,
    pub(crate) internal_hosts: Option<Vec<String>>,
    pub(crate) inbound_context: Option<InboundContext>,
    pub(crate) trusted_callers: Option<Vec<String>>,
    pub(crate) untrusted_sampled_per_second: Option<u32>,
    pub(crate) tracer_bullet_policy: Option<TracerBulletPolicy>,
    pub(crate) tracer_bullet_key: Option<Redacted<Vec<u8>>>,
    pub(crate) tracer_bullet_max_age: Option<Duration>,
    pub(crate) tracer_bullet_untrusted_marker: Option<UntrustedMarker>,
}
