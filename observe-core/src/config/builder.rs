//! The typed builder: the application's defaults, in code.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use super::export::{BatchConfig, Compression, Exporter, Protocol, Signal};
use super::service::ServiceInfo;
use super::{InboundContext, LogFormat, LogOutput, Sampler, TracerBulletPolicy, UntrustedMarker};

/// A replacement for the process environment.
pub(crate) type Lookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// Where variables are read from.
#[derive(Clone)]
pub(crate) enum EnvSource {
    /// `std::env::var_os`.
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
}

/// Configuration in code: each method sets the application's default for one
/// setting, which the environment may override (see the [module
/// docs](super#precedence-code-sets-defaults-operators-override)).
///
/// `observe_core::Observe::builder()` returns one; `init()` installs it.
/// [`build_config`](Self::build_config) only resolves and validates, which is what
/// tests, and a `--check-config` flag, want.
///
/// Values that need parsing (URLs, filter directives, host patterns) are checked
/// when the configuration is resolved, and a bad one is reported with the method's
/// name, `Builder::otlp_endpoint("collector:4318"): expected ...`, along with any bad
/// environment variable.
///
/// `Debug` redacts secrets.
#[derive(Clone, Debug)]
#[must_use = "a builder does nothing until it is resolved or installed"]
pub struct Builder {
    pub(crate) env: EnvSource,
    pub(crate) disabled: Option<bool>,
    pub(crate) service_info: Option<ServiceInfo>,
    pub(crate) service_name: Option<String>,
    pub(crate) environment: Option<String>,
    pub(crate) resource_attributes: Vec<(String, String)>,
    pub(crate) otlp: OtlpSettings,
    pub(crate) otlp_signal: [OtlpSettings; 3],
    pub(crate) exporters: [Option<Exporter>; 3],
    pub(crate) span_batch: Option<BatchConfig>,
    pub(crate) log_batch: Option<BatchConfig>,
    pub(crate) metric_export_interval: Option<Duration>,
    pub(crate) metric_export_timeout: Option<Duration>,
    pub(crate) sampler: Option<Sampler>,
    pub(crate) log_filter: Option<String>,
    pub(crate) log_format: Option<LogFormat>,
    pub(crate) log_output: Option<LogOutput>,
    pub(crate) log_buffer_lines: Option<usize>,
    pub(crate) redact_fields: Vec<String>,
    pub(crate) admin_addr: Option<Option<SocketAddr>>,
    pub(crate) metrics_window: Option<Duration>,
    pub(crate) metrics_slice: Option<Duration>,
    pub(crate) metrics_max_keys: Option<usize>,
    pub(crate) flight_recorder_bytes: Option<usize>,
    pub(crate) flight_recorder_window: Option<Option<Duration>>,
    pub(crate) slow_threshold: Option<Option<Duration>>,
    pub(crate) shutdown_timeout: Option<Duration>,
    pub(crate) internal_hosts: Option<Vec<String>>,
    pub(crate) inbound_context: Option<InboundContext>,
    pub(crate) trusted_callers: Option<Vec<String>>,
    pub(crate) untrusted_sampled_per_second: Option<u32>,
    pub(crate) tracer_bullet_policy: Option<TracerBulletPolicy>,
    pub(crate) tracer_bullet_key: Option<Redacted<Vec<u8>>>,
    pub(crate) tracer_bullet_max_age: Option<Duration>,
    pub(crate) tracer_bullet_untrusted_marker: Option<UntrustedMarker>,
    /// What only code can give: extra sinks and a log writer (see `init.rs`).
    pub(crate) extras: crate::init::Extras,
}

impl Default for Builder {
    fn default() -> Self {
        Builder::new()
    }
}

impl Builder {
    /// A builder that reads the process environment and sets nothing in code.
    pub fn new() -> Self {
        Builder {
            env: EnvSource::Process,
            disabled: None,
            service_info: None,
            service_name: None,
            environment: None,
            resource_attributes: Vec::new(),
            otlp: OtlpSettings::default(),
            otlp_signal: Default::default(),
            exporters: [None; 3],
            span_batch: None,
            log_batch: None,
            metric_export_interval: None,
            metric_export_timeout: None,
            sampler: None,
            log_filter: None,
            log_format: None,
            log_output: None,
            log_buffer_lines: None,
            redact_fields: Vec::new(),
            admin_addr: None,
            metrics_window: None,
            metrics_slice: None,
            metrics_max_keys: None,
            flight_recorder_bytes: None,
            flight_recorder_window: None,
            slow_threshold: None,
            shutdown_timeout: None,
            internal_hosts: None,
            inbound_context: None,
            trusted_callers: None,
            untrusted_sampled_per_second: None,
            tracer_bullet_policy: None,
            tracer_bullet_key: None,
            tracer_bullet_max_age: None,
            tracer_bullet_untrusted_marker: None,
            extras: Default::default(),
        }
    }

    // ----- where variables come from -------------------------------------------------

    /// Reads variables through `lookup` instead of the process environment: tests use
    /// this (never `std::env::set_var`), and so can an application that keeps its
    /// settings elsewhere. `None` or an empty string means unset.
    ///
    /// ```
    /// use std::collections::HashMap;
    /// use observe_core::config::{Builder, LogFormat};
    ///
    /// let vars = HashMap::from([("OBSERVE_LOG_FORMAT", "pretty")]);
    /// let config = Builder::new()
    ///     .env_lookup(move |name| vars.get(name).map(|v| v.to_string()))
    ///     .build_config()?;
    /// assert_eq!(config.logs.format, LogFormat::Pretty);
    /// # Ok::<(), observe_core::config::ConfigError>(())
    /// ```
    pub fn env_lookup(
        mut self,
        lookup: impl Fn(&str) -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        self.env = EnvSource::Lookup(Arc::new(lookup));
        self
    }

    /// Reads no variable at all: only this builder and the defaults count.
    pub fn ignore_env(mut self) -> Self {
        self.env = EnvSource::Ignore;
        self
    }

    // ----- identity ----------------------------------------------------------------

    /// Turns everything off (`OTEL_SDK_DISABLED`).
    pub fn disabled(mut self, disabled: bool) -> Self {
        self.disabled = Some(disabled);
        self
    }

    /// The application's identity, from [`service_info!`](crate::service_info).
    pub fn service_info(mut self, info: ServiceInfo) -> Self {
        self.service_info = Some(info);
        self
    }

    /// The service name, replacing the one in [`service_info`](Self::service_info)
    /// (`OTEL_SERVICE_NAME`).
    pub fn service_name(mut self, name: impl Into<String>) -> Self {
        self.service_name = Some(name.into());
        self
    }

    /// The deployment environment, such as `production` (`OBSERVE_ENV`).
    pub fn environment(mut self, environment: impl Into<String>) -> Self {
        self.environment = Some(environment.into());
        self
    }

    /// Adds a resource attribute (`OTEL_RESOURCE_ATTRIBUTES`); a later call with the
    /// same key replaces the value.
    pub fn resource_attribute(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        let (key, value) = (key.into(), value.into());
        match self.resource_attributes.iter_mut().find(|(k, _)| *k == key) {
            Some(entry) => entry.1 = value,
            None => self.resource_attributes.push((key, value)),
        }
        self
    }

    // ----- OTLP export -------------------------------------------------------------

    /// The OTLP endpoint for every signal (`OTEL_EXPORTER_OTLP_ENDPOINT`); for
    /// `http/protobuf`, `/v1/traces` etc. are appended. Setting it turns export on.
    pub fn otlp_endpoint(mut self, url: impl Into<String>) -> Self {
        self.otlp.endpoint = Some(url.into());
        self
    }

    /// The OTLP endpoint of one signal, used as given
    /// (`OTEL_EXPORTER_OTLP_<SIGNAL>_ENDPOINT`).
    pub fn otlp_signal_endpoint(mut self, signal: Signal, url: impl Into<String>) -> Self {
        self.otlp_signal[signal.index()].endpoint = Some(url.into());
        self
    }

    /// The OTLP transport for every signal (`OTEL_EXPORTER_OTLP_PROTOCOL`).
    pub fn otlp_protocol(mut self, protocol: Protocol) -> Self {
        self.otlp.protocol = Some(protocol);
        self
    }

    /// The OTLP transport of one signal (`OTEL_EXPORTER_OTLP_<SIGNAL>_PROTOCOL`).
    pub fn otlp_signal_protocol(mut self, signal: Signal, protocol: Protocol) -> Self {
        self.otlp_signal[signal.index()].protocol = Some(protocol);
        self
    }

    /// Adds a header to every export request (`OTEL_EXPORTER_OTLP_HEADERS`). The value
    /// is treated as a secret.
    pub fn otlp_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        push_header(&mut self.otlp, name.into(), value.into());
        self
    }

    /// Adds a header to one signal's export requests
    /// (`OTEL_EXPORTER_OTLP_<SIGNAL>_HEADERS`); a signal with its own headers does not
    /// use the generic ones.
    pub fn otlp_signal_header(
        mut self,
        signal: Signal,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Self {
        push_header(
            &mut self.otlp_signal[signal.index()],
            name.into(),
            value.into(),
        );
        self
    }

    /// How long one export request may take (`OTEL_EXPORTER_OTLP_TIMEOUT`, default
    /// 10 s).
    pub fn otlp_timeout(mut self, timeout: Duration) -> Self {
        self.otlp.timeout = Some(timeout);
        self
    }

    /// The export timeout of one signal (`OTEL_EXPORTER_OTLP_<SIGNAL>_TIMEOUT`).
    pub fn otlp_signal_timeout(mut self, signal: Signal, timeout: Duration) -> Self {
        self.otlp_signal[signal.index()].timeout = Some(timeout);
        self
    }

    /// Request body compression (`OTEL_EXPORTER_OTLP_COMPRESSION`, default none).
    pub fn otlp_compression(mut self, compression: Compression) -> Self {
        self.otlp.compression = Some(compression);
        self
    }

    /// The compression of one signal (`OTEL_EXPORTER_OTLP_<SIGNAL>_COMPRESSION`).
    pub fn otlp_signal_compression(mut self, signal: Signal, compression: Compression) -> Self {
        self.otlp_signal[signal.index()].compression = Some(compression);
        self
    }

    /// Whether a signal is exported (`OTEL_TRACES_EXPORTER`, `OTEL_LOGS_EXPORTER`,
    /// `OTEL_METRICS_EXPORTER`). Unset, a signal is exported when an endpoint is
    /// configured.
    pub fn exporter(mut self, signal: Signal, exporter: Exporter) -> Self {
        self.exporters[signal.index()] = Some(exporter);
        self
    }

    /// Span batching (`OTEL_BSP_*`); each variable overrides its own field.
    pub fn span_batch(mut self, batch: BatchConfig) -> Self {
        self.span_batch = Some(batch);
        self
    }

    /// Log batching (`OTEL_BLRP_*`); each variable overrides its own field.
    pub fn log_batch(mut self, batch: BatchConfig) -> Self {
        self.log_batch = Some(batch);
        self
    }

    /// The interval between metric exports (`OTEL_METRIC_EXPORT_INTERVAL`, default
    /// 60 s).
    pub fn metric_export_interval(mut self, interval: Duration) -> Self {
        self.metric_export_interval = Some(interval);
        self
    }

    /// How long one metric export may take (`OTEL_METRIC_EXPORT_TIMEOUT`, default
    /// 30 s).
    pub fn metric_export_timeout(mut self, timeout: Duration) -> Self {
        self.metric_export_timeout = Some(timeout);
        self
    }

    // ----- sampling and logs ---------------------------------------------------------

    /// The head sampler (`OTEL_TRACES_SAMPLER`, `OTEL_TRACES_SAMPLER_ARG`; default
    /// `parentbased_always_on`). `OTEL_TRACES_SAMPLER_ARG` alone replaces the ratio of
    /// a ratio sampler set here.
    pub fn sampler(mut self, sampler: Sampler) -> Self {
        self.sampler = Some(sampler);
        self
    }

    /// `tracing` filter directives (`RUST_LOG`, default `info`).
    pub fn log_filter(mut self, directives: impl Into<String>) -> Self {
        self.log_filter = Some(directives.into());
        self
    }

    /// The log line format (`OBSERVE_LOG_FORMAT`, default JSON).
    pub fn log_format(mut self, format: LogFormat) -> Self {
        self.log_format = Some(format);
        self
    }

    /// Where log lines go (`OBSERVE_LOG_OUTPUT`, default stdout).
    pub fn log_output(mut self, output: LogOutput) -> Self {
        self.log_output = Some(output);
        self
    }

    /// Lines the non-blocking log writer may queue (`OBSERVE_LOG_BUFFER`, default
    /// 8192).
    pub fn log_buffer_lines(mut self, lines: usize) -> Self {
        self.log_buffer_lines = Some(lines);
        self
    }

    /// Adds sensitive field names to the defaults (`OBSERVE_REDACT_FIELDS` adds more;
    /// see [`Redaction`](super::Redaction) for the matching rule).
    pub fn redact_fields<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.redact_fields.extend(names.into_iter().map(Into::into));
        self
    }

    // ----- admin, metrics, flight recorder, shutdown -------------------------------

    /// The admin listener's address, or `None` for no listener
    /// (`OBSERVE_ADMIN_ADDR`, default `127.0.0.1:9464`).
    pub fn admin_addr(mut self, addr: impl Into<Option<SocketAddr>>) -> Self {
        self.admin_addr = Some(addr.into());
        self
    }

    /// The rolling window of latency metrics (`OBSERVE_METRICS_WINDOW`, default
    /// 5 min); a whole multiple of the slice.
    pub fn metrics_window(mut self, window: Duration) -> Self {
        self.metrics_window = Some(window);
        self
    }

    /// The slice the window rolls by (`OBSERVE_METRICS_SLICE`, default 10 s).
    pub fn metrics_slice(mut self, slice: Duration) -> Self {
        self.metrics_slice = Some(slice);
        self
    }

    /// The most label sets per metric (`OBSERVE_METRICS_MAX_KEYS`, default 2000).
    pub fn metrics_max_keys(mut self, max: usize) -> Self {
        self.metrics_max_keys = Some(max);
        self
    }

    /// The flight recorder's byte budget, 0 for none
    /// (`OBSERVE_FLIGHT_RECORDER_BYTES`, default 64 MiB).
    pub fn flight_recorder_bytes(mut self, bytes: usize) -> Self {
        self.flight_recorder_bytes = Some(bytes);
        self
    }

    /// How far back the flight recorder keeps records, or `None` to keep as many
    /// as its byte budget holds (`OBSERVE_FLIGHT_RECORDER_WINDOW`, default 5
    /// minutes): its memory follows the traffic of the last minutes, up to the
    /// byte budget.
    pub fn flight_recorder_window(mut self, window: impl Into<Option<Duration>>) -> Self {
        self.flight_recorder_window = Some(window.into());
        self
    }

    /// A fixed latency above which a local root is promoted, or `None` for "per key,
    /// from its running p99" (`OBSERVE_SLOW_THRESHOLD`, default `None`).
    pub fn slow_threshold(mut self, threshold: impl Into<Option<Duration>>) -> Self {
        self.slow_threshold = Some(threshold.into());
        self
    }

    /// How long shutdown may take to flush (`OBSERVE_SHUTDOWN_TIMEOUT`, default 5 s).
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = Some(timeout);
        self
    }

    // ----- propagation and trust -----------------------------------------------------

    /// The internal host patterns (`OBSERVE_INTERNAL_HOSTS` replaces them); see
    /// [`InternalHosts`](super::InternalHosts) for the syntax.
    pub fn internal_hosts<I, S>(mut self, patterns: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.internal_hosts = Some(patterns.into_iter().map(Into::into).collect());
        self
    }

    /// What to do with an inbound trace context (`OBSERVE_INBOUND_CONTEXT`, default
    /// continue).
    pub fn inbound_context(mut self, inbound: InboundContext) -> Self {
        self.inbound_context = Some(inbound);
        self
    }

    /// The callers whose identity and tracer-bullet marker are believed
    /// (`OBSERVE_TRUSTED_CALLERS` replaces them; default none); see
    /// [`TrustedCallers`](super::TrustedCallers) for the syntax.
    ///
    /// ```
    /// use observe_core::config::Builder;
    ///
    /// let config = Builder::new()
    ///     .ignore_env()
    ///     .trusted_callers(["10.0.0.0/8", "loopback"])
    ///     .build_config()?;
    /// assert!(config.propagation.trusted_callers.contains(Some("10.1.2.3".parse().unwrap())));
    /// # Ok::<(), observe_core::config::ConfigError>(())
    /// ```
    pub fn trusted_callers<I, S>(mut self, items: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.trusted_callers = Some(items.into_iter().map(Into::into).collect());
        self
    }

    /// How many requests a second from untrusted callers may have their `sampled`
    /// flag honoured; beyond that the local sampler decides
    /// (`OBSERVE_UNTRUSTED_SAMPLED_PER_SECOND`, default 10; 0: never).
    pub fn untrusted_sampled_per_second(mut self, per_second: u32) -> Self {
        self.untrusted_sampled_per_second = Some(per_second);
        self
    }

    /// Whether inbound tracer bullets are honoured (`OBSERVE_TRACER_BULLET_POLICY`,
    /// default deny). [`Signed`](TracerBulletPolicy::Signed) needs a key.
    pub fn tracer_bullet_policy(mut self, policy: TracerBulletPolicy) -> Self {
        self.tracer_bullet_policy = Some(policy);
        self
    }

    /// The tracer-bullet signing key as raw bytes, at least 32
    /// (`OBSERVE_TRACER_BULLET_KEY`, which takes hex or base64).
    pub fn tracer_bullet_key(mut self, key: impl Into<Vec<u8>>) -> Self {
        self.tracer_bullet_key = Some(Redacted(key.into()));
        self
    }

    /// How old a signed tracer-bullet token may be (`OBSERVE_TRACER_BULLET_MAX_AGE`,
    /// default 5 min).
    pub fn tracer_bullet_max_age(mut self, max_age: Duration) -> Self {
        self.tracer_bullet_max_age = Some(max_age);
        self
    }

    /// What a request marked as a tracer bullet by its baggage alone gets when this
    /// service does not accept the marker: refused (the default) or served as a
    /// standard request with the marker removed, for a public edge
    /// (`OBSERVE_TRACER_BULLET_UNTRUSTED_MARKER`).
    pub fn tracer_bullet_untrusted_marker(mut self, marker: UntrustedMarker) -> Self {
        self.tracer_bullet_untrusted_marker = Some(marker);
        self
    }
}

fn push_header(settings: &mut OtlpSettings, name: String, value: String) {
    settings
        .headers
        .get_or_insert_with(Vec::new)
        .push((name, Redacted(value)));
}
