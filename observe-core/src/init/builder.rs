//! The builder: the application's defaults in code, and what only code can give
//! (sinks, a log writer); it resolves the configuration and starts an instance.

use std::fmt;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{Guard, InitError, Observe, apply_metrics_config};
use crate::bridge::ObserveLayer;
use crate::config::{
    BatchConfig, Compression, Config, ConfigError, EnvSource, ExporterKind, InboundContext,
    LogFormat, LogOutput, OtlpSettings, OtlpTls, Overrides, Protocol, Redacted, Sampler,
    ServiceInfo, Signal, TracerBulletPolicy, UntrustedMarker,
};
use crate::pipeline::Sink;

/// Configuration in code: each method sets the application's default for one
/// setting, which the environment may override (see the [module
/// docs](crate::config#precedence-code-sets-defaults-operators-override)).
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
#[derive(Clone, Debug, Default)]
#[must_use = "a builder does nothing until it is resolved or installed"]
pub struct Builder {
    /// The settings given in code, resolved against the environment.
    pub(crate) overrides: Overrides,
    /// What only code can give: extra sinks and a log writer.
    extras: Extras,
}

impl Builder {
    /// A builder that reads the process environment and sets nothing in code.
    pub fn new() -> Self {
        Builder::default()
    }

    // ----- where variables come from -------------------------------------------------

    /// Reads variables through `lookup` instead of the process environment: tests use
    /// this (never `std::env::set_var`), and so can an application that keeps its
    /// settings elsewhere. `None` or an empty string means unset.
    ///
    /// ```
    /// use std::collections::HashMap;
    /// use observe_core::Builder;
    /// use observe_core::config::LogFormat;
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
        self.overrides.env = EnvSource::Lookup(Arc::new(lookup));
        self
    }

    /// Whether the configuration comes from the process environment (not from a
    /// lookup given in code): then observe warns about the variables it ignores.
    pub(crate) fn reads_process_env(&self) -> bool {
        matches!(self.overrides.env, EnvSource::Process)
    }

    /// Reads no variable at all: only this builder and the defaults count.
    pub fn ignore_env(mut self) -> Self {
        self.overrides.env = EnvSource::Ignore;
        self
    }

    // ----- identity ----------------------------------------------------------------

    /// Turns everything off (`OTEL_SDK_DISABLED`).
    pub fn disabled(mut self, disabled: bool) -> Self {
        self.overrides.disabled = Some(disabled);
        self
    }

    /// The application's identity, from [`service_info!`](crate::service_info).
    pub fn service_info(mut self, info: ServiceInfo) -> Self {
        self.overrides.service_info = Some(info);
        self
    }

    /// The service name, replacing the one in [`service_info`](Self::service_info)
    /// (`OTEL_SERVICE_NAME`).
    pub fn service_name(mut self, name: impl Into<String>) -> Self {
        self.overrides.service_name = Some(name.into());
        self
    }

    /// The deployment environment, such as `production` (`OBSERVE_ENV`).
    pub fn environment(mut self, environment: impl Into<String>) -> Self {
        self.overrides.environment = Some(environment.into());
        self
    }

    /// Adds a resource attribute (`OTEL_RESOURCE_ATTRIBUTES`); a later call with the
    /// same key replaces the value.
    pub fn resource_attribute(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        let (key, value) = (key.into(), value.into());
        match self
            .overrides
            .resource_attributes
            .iter_mut()
            .find(|(k, _)| *k == key)
        {
            Some(entry) => entry.1 = value,
            None => self.overrides.resource_attributes.push((key, value)),
        }
        self
    }

    // ----- OTLP export -------------------------------------------------------------

    /// The OTLP endpoint for every signal (`OTEL_EXPORTER_OTLP_ENDPOINT`); for
    /// `http/protobuf`, `/v1/traces` etc. are appended. Setting it turns export on.
    pub fn otlp_endpoint(mut self, url: impl Into<String>) -> Self {
        self.overrides.otlp.endpoint = Some(url.into());
        self
    }

    /// The OTLP endpoint of one signal, used as given
    /// (`OTEL_EXPORTER_OTLP_<SIGNAL>_ENDPOINT`).
    pub fn otlp_signal_endpoint(mut self, signal: Signal, url: impl Into<String>) -> Self {
        self.overrides.otlp_signal[signal.index()].endpoint = Some(url.into());
        self
    }

    /// The OTLP transport for every signal (`OTEL_EXPORTER_OTLP_PROTOCOL`).
    pub fn otlp_protocol(mut self, protocol: Protocol) -> Self {
        self.overrides.otlp.protocol = Some(protocol);
        self
    }

    /// The OTLP transport of one signal (`OTEL_EXPORTER_OTLP_<SIGNAL>_PROTOCOL`).
    pub fn otlp_signal_protocol(mut self, signal: Signal, protocol: Protocol) -> Self {
        self.overrides.otlp_signal[signal.index()].protocol = Some(protocol);
        self
    }

    /// Adds a header to every export request (`OTEL_EXPORTER_OTLP_HEADERS`). The value
    /// is treated as a secret.
    pub fn otlp_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        push_header(&mut self.overrides.otlp, name.into(), value.into());
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
            &mut self.overrides.otlp_signal[signal.index()],
            name.into(),
            value.into(),
        );
        self
    }

    /// How long one export request may take (`OTEL_EXPORTER_OTLP_TIMEOUT`, default
    /// 10 s).
    pub fn otlp_timeout(mut self, timeout: Duration) -> Self {
        self.overrides.otlp.timeout = Some(timeout);
        self
    }

    /// The export timeout of one signal (`OTEL_EXPORTER_OTLP_<SIGNAL>_TIMEOUT`).
    pub fn otlp_signal_timeout(mut self, signal: Signal, timeout: Duration) -> Self {
        self.overrides.otlp_signal[signal.index()].timeout = Some(timeout);
        self
    }

    /// Request body compression (`OTEL_EXPORTER_OTLP_COMPRESSION`, default none).
    pub fn otlp_compression(mut self, compression: Compression) -> Self {
        self.overrides.otlp.compression = Some(compression);
        self
    }

    /// The compression of one signal (`OTEL_EXPORTER_OTLP_<SIGNAL>_COMPRESSION`).
    pub fn otlp_signal_compression(mut self, signal: Signal, compression: Compression) -> Self {
        self.overrides.otlp_signal[signal.index()].compression = Some(compression);
        self
    }

    /// Whether a signal is exported (`OTEL_TRACES_EXPORTER`, `OTEL_LOGS_EXPORTER`,
    /// `OTEL_METRICS_EXPORTER`). Unset, a signal is exported when an endpoint is
    /// configured.
    pub fn exporter(mut self, signal: Signal, exporter: ExporterKind) -> Self {
        self.overrides.exporters[signal.index()] = Some(exporter);
        self
    }

    /// Span batching (`OTEL_BSP_*`); each variable overrides its own field.
    pub fn span_batch(mut self, batch: BatchConfig) -> Self {
        self.overrides.span_batch = Some(batch);
        self
    }

    /// Log batching (`OTEL_BLRP_*`); each variable overrides its own field.
    pub fn log_batch(mut self, batch: BatchConfig) -> Self {
        self.overrides.log_batch = Some(batch);
        self
    }

    /// The interval between metric exports (`OTEL_METRIC_EXPORT_INTERVAL`, default
    /// 60 s).
    pub fn metric_export_interval(mut self, interval: Duration) -> Self {
        self.overrides.metric_export_interval = Some(interval);
        self
    }

    /// How long one metric export may take (`OTEL_METRIC_EXPORT_TIMEOUT`, default
    /// 30 s).
    pub fn metric_export_timeout(mut self, timeout: Duration) -> Self {
        self.overrides.metric_export_timeout = Some(timeout);
        self
    }

    // ----- sampling and logs ---------------------------------------------------------

    /// The head sampler (`OTEL_TRACES_SAMPLER`, `OTEL_TRACES_SAMPLER_ARG`; default
    /// `parentbased_always_on`). `OTEL_TRACES_SAMPLER_ARG` alone replaces the ratio of
    /// a ratio sampler set here.
    pub fn sampler(mut self, sampler: Sampler) -> Self {
        self.overrides.sampler = Some(sampler);
        self
    }

    /// `tracing` filter directives (`RUST_LOG`, default `info`).
    pub fn log_filter(mut self, directives: impl Into<String>) -> Self {
        self.overrides.log_filter = Some(directives.into());
        self
    }

    /// The log line format (`OBSERVE_LOG_FORMAT`, default JSON).
    pub fn log_format(mut self, format: LogFormat) -> Self {
        self.overrides.log_format = Some(format);
        self
    }

    /// Where log lines go (`OBSERVE_LOG_OUTPUT`, default stdout).
    pub fn log_output(mut self, output: LogOutput) -> Self {
        self.overrides.log_output = Some(output);
        self
    }

    /// Lines the non-blocking log writer may queue (`OBSERVE_LOG_BUFFER`, default
    /// 8192).
    pub fn log_buffer_lines(mut self, lines: usize) -> Self {
        self.overrides.log_buffer_lines = Some(lines);
        self
    }

    /// Adds sensitive field names to the defaults (`OBSERVE_REDACT_FIELDS` adds more;
    /// see [`Redaction`](crate::config::Redaction) for the matching rule).
    pub fn redact_fields<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.overrides
            .redact_fields
            .extend(names.into_iter().map(Into::into));
        self
    }

    // ----- admin, metrics, flight recorder, shutdown -------------------------------

    /// The admin listener's address, or `None` for no listener
    /// (`OBSERVE_ADMIN_ADDR`, default `127.0.0.1:9464`).
    pub fn admin_addr(mut self, addr: impl Into<Option<SocketAddr>>) -> Self {
        self.overrides.admin_addr = Some(addr.into());
        self
    }

    /// No admin listener, whatever `OBSERVE_ADMIN_ADDR` says: for `serve!`'s
    /// `without_admin`, where the application serves the admin routes itself.
    pub(crate) fn without_admin_listener(mut self) -> Self {
        self.overrides.admin_off = true;
        self
    }

    /// The rolling window of latency metrics (`OBSERVE_METRICS_WINDOW`, default
    /// 5 min); a whole multiple of the slice.
    pub fn metrics_window(mut self, window: Duration) -> Self {
        self.overrides.metrics_window = Some(window);
        self
    }

    /// The slice the window rolls by (`OBSERVE_METRICS_SLICE`, default 10 s).
    pub fn metrics_slice(mut self, slice: Duration) -> Self {
        self.overrides.metrics_slice = Some(slice);
        self
    }

    /// The most label sets per metric (`OBSERVE_METRICS_MAX_KEYS`, default 2000).
    pub fn metrics_max_keys(mut self, max: usize) -> Self {
        self.overrides.metrics_max_keys = Some(max);
        self
    }

    /// How histograms appear at `/metrics` unless a metric says otherwise
    /// (`OBSERVE_METRICS_EXPOSITION`, default [`Exposition::Histogram`](crate::metrics::Exposition::Histogram)).
    pub fn metrics_exposition(mut self, exposition: crate::metrics::Exposition) -> Self {
        self.overrides.metrics_exposition = Some(exposition);
        self
    }

    /// The flight recorder's byte budget, 0 for none
    /// (`OBSERVE_FLIGHT_RECORDER_BYTES`, default 64 MiB).
    pub fn flight_recorder_bytes(mut self, bytes: usize) -> Self {
        self.overrides.flight_recorder_bytes = Some(bytes);
        self
    }

    /// How far back the flight recorder keeps records, or `None` to keep as many
    /// as its byte budget holds (`OBSERVE_FLIGHT_RECORDER_WINDOW`, default 5
    /// minutes): its memory follows the traffic of the last minutes, up to the
    /// byte budget.
    pub fn flight_recorder_window(mut self, window: impl Into<Option<Duration>>) -> Self {
        self.overrides.flight_recorder_window = Some(window.into());
        self
    }

    /// A fixed latency above which a local root is promoted, or `None` for "per key,
    /// from its running p99" (`OBSERVE_SLOW_THRESHOLD`, default `None`).
    pub fn slow_threshold(mut self, threshold: impl Into<Option<Duration>>) -> Self {
        self.overrides.slow_threshold = Some(threshold.into());
        self
    }

    /// How long shutdown may take to flush (`OBSERVE_SHUTDOWN_TIMEOUT`, default 5 s).
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.overrides.shutdown_timeout = Some(timeout);
        self
    }

    /// How long the adapters' `serve` keeps accepting requests after the shutdown
    /// signal, while readiness already answers 503, so that load balancers stop
    /// sending before the listener closes (`OBSERVE_SHUTDOWN_DELAY`, default 0).
    pub fn shutdown_delay(mut self, delay: Duration) -> Self {
        self.overrides.shutdown_delay = Some(delay);
        self
    }

    // ----- propagation and trust -----------------------------------------------------

    /// The internal host patterns (`OBSERVE_INTERNAL_HOSTS` replaces them); see
    /// [`InternalHosts`](crate::config::InternalHosts) for the syntax.
    pub fn internal_hosts<I, S>(mut self, patterns: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.overrides.internal_hosts = Some(patterns.into_iter().map(Into::into).collect());
        self
    }

    /// What to do with an inbound trace context (`OBSERVE_INBOUND_CONTEXT`, default
    /// continue).
    pub fn inbound_context(mut self, inbound: InboundContext) -> Self {
        self.overrides.inbound_context = Some(inbound);
        self
    }

    /// The callers whose identity and tracer-bullet marker are believed
    /// (`OBSERVE_TRUSTED_CALLERS` replaces them; default none); see
    /// [`TrustedCallers`](crate::config::TrustedCallers) for the syntax.
    ///
    /// ```
    /// use observe_core::Builder;
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
        self.overrides.trusted_callers = Some(items.into_iter().map(Into::into).collect());
        self
    }

    /// How many requests a second from untrusted callers may have their `sampled`
    /// flag honoured; beyond that the local sampler decides
    /// (`OBSERVE_UNTRUSTED_SAMPLED_PER_SECOND`, default 10; 0: never).
    pub fn untrusted_sampled_per_second(mut self, per_second: u32) -> Self {
        self.overrides.untrusted_sampled_per_second = Some(per_second);
        self
    }

    /// Whether inbound tracer bullets are honoured (`OBSERVE_TRACER_BULLET_POLICY`,
    /// default deny). [`Signed`](TracerBulletPolicy::Signed) needs a key.
    pub fn tracer_bullet_policy(mut self, policy: TracerBulletPolicy) -> Self {
        self.overrides.tracer_bullet_policy = Some(policy);
        self
    }

    /// The tracer-bullet signing key as raw bytes, at least 32
    /// (`OBSERVE_TRACER_BULLET_KEY`, which takes hex or base64).
    pub fn tracer_bullet_key(mut self, key: impl Into<Vec<u8>>) -> Self {
        self.overrides.tracer_bullet_key = Some(Redacted(key.into()));
        self
    }

    /// How old a signed tracer-bullet token may be (`OBSERVE_TRACER_BULLET_MAX_AGE`,
    /// default 5 min).
    pub fn tracer_bullet_max_age(mut self, max_age: Duration) -> Self {
        self.overrides.tracer_bullet_max_age = Some(max_age);
        self
    }

    /// What a request marked as a tracer bullet by its baggage alone gets when this
    /// service does not accept the marker: refused (the default) or served as a
    /// standard request with the marker removed, for a public edge
    /// (`OBSERVE_TRACER_BULLET_UNTRUSTED_MARKER`).
    pub fn tracer_bullet_untrusted_marker(mut self, marker: UntrustedMarker) -> Self {
        self.overrides.tracer_bullet_untrusted_marker = Some(marker);
        self
    }
}

/// What only code can hand to the builder: extra sinks and a log writer. Shared
/// between clones of a builder; the first instance started takes them.
#[derive(Clone, Default)]
pub(crate) struct Extras {
    pub(super) sinks: Arc<Mutex<Vec<Box<dyn Sink>>>>,
    pub(super) log_writer: Arc<Mutex<Option<Box<dyn Write + Send>>>>,
    /// The SLO alert callbacks (`Builder::on_alert`).
    pub(crate) alert_callbacks: Arc<Mutex<Vec<crate::slo::AlertCallback>>>,
    /// The admin listener's socket, when given in code.
    #[cfg(feature = "admin")]
    pub(super) admin_listener: Arc<Mutex<Option<std::net::TcpListener>>>,
}

impl fmt::Debug for Extras {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sinks = self.sinks.lock().map_or(0, |s| s.len());
        f.debug_struct("Extras")
            .field("sinks", &sinks)
            .finish_non_exhaustive()
    }
}

impl PartialEq for Extras {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.sinks, &other.sinks)
    }
}

impl Builder {
    /// Resolves and validates the configuration without installing anything: the
    /// environment (or the injected lookup) over this builder's values over the
    /// defaults.
    ///
    /// Every bad value is reported in the one error. With `OTEL_SDK_DISABLED=true`
    /// the result is `Ok` with [`Config::disabled`] set, whatever else is wrong.
    ///
    /// ```
    /// use observe_core::Builder;
    ///
    /// let err = Builder::new()
    ///     .env_lookup(|name| match name {
    ///         "OBSERVE_METRICS_WINDOW" => Some("5m".into()),
    ///         "OBSERVE_METRICS_SLICE" => Some("7s".into()),
    ///         "OTEL_BSP_MAX_QUEUE_SIZE" => Some("lots".into()),
    ///         _ => None,
    ///     })
    ///     .build_config()
    ///     .unwrap_err();
    /// assert_eq!(
    ///     err.to_string(),
    ///     "invalid observe configuration (2 problems):\n  \
    ///      OTEL_BSP_MAX_QUEUE_SIZE=\"lots\": expected a whole number greater than 0\n  \
    ///      OBSERVE_METRICS_WINDOW=\"5m\": expected a whole multiple of the slice, 7s (OBSERVE_METRICS_SLICE)"
    /// );
    /// ```
    pub fn build_config(&self) -> Result<Config, ConfigError> {
        self.overrides.resolve()
    }

    /// Adds a sink: it receives every finished span and log record on observe's
    /// background thread (see [`Sink`]).
    pub fn sink(self, sink: impl Sink) -> Self {
        self.extras
            .sinks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Box::new(sink));
        self
    }

    /// Writes log lines to `writer` instead of the configured output (a file, or a
    /// buffer in tests). Writes happen on observe's own writer thread.
    pub fn log_writer(mut self, writer: impl Write + Send + 'static) -> Self {
        self.overrides.log_writer_given = true;
        *self
            .extras
            .log_writer
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(Box::new(writer));
        self
    }

    /// Serves the admin listener on `listener` (bound by you, in blocking or
    /// non-blocking mode) instead of binding `OBSERVE_ADMIN_ADDR`. Only
    /// [`init`](Self::init) and [`layer`](Self::layer) start the admin listener;
    /// an instance that is only [`build`](Self::build)t starts none.
    #[cfg(feature = "admin")]
    pub fn admin_listener(self, listener: std::net::TcpListener) -> Self {
        *self
            .extras
            .admin_listener
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(listener);
        self
    }

    /// Resolves the configuration and installs observe for the whole process: the
    /// global `tracing` subscriber (a `Registry` with the `RUST_LOG` filter and
    /// observe's layer), the background threads, and the `log` crate bridge.
    ///
    /// # Errors
    /// An invalid configuration, a second `init`, or another global subscriber.
    pub fn init(self) -> Result<Guard, InitError> {
        let process_env = self.reads_process_env();
        match self.build()? {
            Some(observe) => observe.install_announcing(Some(process_env)),
            None => Ok(Guard::disabled()),
        }
    }

    /// Resolves the configuration and starts an instance without installing it
    /// anywhere: make it current on a thread with [`Observe::set_default`] (tests), or
    /// install it with [`Observe::install`]. `Ok(None)` when `OTEL_SDK_DISABLED=true`.
    ///
    /// # Errors
    /// An invalid configuration, or a background thread that could not start.
    pub fn build(self) -> Result<Option<Observe>, InitError> {
        let extras = self.extras.clone();
        let config = self.overrides.resolve()?;
        if config.disabled {
            return Ok(None);
        }
        Observe::from_config(&config, extras).map(Some)
    }

    /// Resolves the configuration and starts observe for the whole process without
    /// installing a `tracing` subscriber: add the returned layer to your own. Spans
    /// and logs work as with [`init`](Self::init).
    ///
    /// # Errors
    /// An invalid configuration, or a second initialisation.
    pub fn layer(self) -> Result<(ObserveLayer, Guard), InitError> {
        let process_env = self.reads_process_env();
        let Some(observe) = self.build()? else {
            return Ok((ObserveLayer::new(), Guard::disabled()));
        };
        observe
            .pipeline
            .install_global()
            .map_err(|_| InitError::AlreadyInitialized)?;
        apply_metrics_config(&observe.pipeline.settings.config);
        if let Some(r) = &observe.recorder {
            let _ = crate::recorder::install(r.clone());
        }
        crate::span::install_panic_hook();
        Ok((
            ObserveLayer::new(),
            observe.announce_and_listen(Some(process_env)),
        ))
    }
}

impl Builder {
    /// TLS settings for every signal's `https://` endpoint: trusted CA, client
    /// certificate and key (`OTEL_EXPORTER_OTLP_CERTIFICATE`,
    /// `OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE`, `OTEL_EXPORTER_OTLP_CLIENT_KEY`,
    /// which override each field). Needs the `tls` feature, as any `https://`
    /// endpoint does.
    pub fn otlp_tls(mut self, tls: OtlpTls) -> Self {
        self.overrides.otlp.tls = tls;
        self
    }

    /// TLS settings of one signal (`OTEL_EXPORTER_OTLP_<SIGNAL>_CERTIFICATE`,
    /// `..._CLIENT_CERTIFICATE`, `..._CLIENT_KEY`); each field set here wins over
    /// the same field of [`otlp_tls`](Self::otlp_tls).
    pub fn otlp_signal_tls(mut self, signal: Signal, tls: OtlpTls) -> Self {
        self.overrides.otlp_signal[signal.index()].tls = tls;
        self
    }

    /// Starts observe beside a `tracing` subscriber the application installed
    /// itself (`tracing_subscriber::fmt().init()`, ...): what the adapters' `serve!`
    /// does when it finds one. observe records spans and metrics, exports them and
    /// serves the admin routes; the application's subscriber keeps writing the log
    /// lines (observe's own writer stays off unless `OBSERVE_LOG_OUTPUT` says
    /// otherwise, so each line is written once). Events do not reach observe, so
    /// the lines carry no trace ids: for that, start observe first with
    /// [`init`](Self::init) instead of the other subscriber, or add
    /// [`layer`](Self::layer) to it (see `docs/migrating.md`). The startup summary
    /// and the unknown-variable warnings go through the application's subscriber.
    ///
    /// # Errors
    /// An invalid configuration, or a second initialisation.
    pub fn init_beside_subscriber(mut self) -> Result<Guard, InitError> {
        let process_env = self.reads_process_env();
        if self.overrides.log_output.is_none() {
            self.overrides.log_output = Some(LogOutput::None);
        }
        let (_layer, guard) = self.layer()?;
        let Some(p) = guard.pipeline else {
            return Ok(guard);
        };
        let config = &p.settings.config;
        if config.logs.output == LogOutput::None {
            tracing::info!(target: "observe", "{}", config.summary_beside_subscriber());
            tracing::info!(
                target: "observe",
                "a tracing subscriber was already installed: it writes the log lines, and observe \
                 records spans and metrics beside it (to get the request's trace id on every line, \
                 start observe first: see docs/migrating.md)"
            );
            if process_env {
                let names = std::env::vars_os().filter_map(|(k, _)| k.into_string().ok());
                for (_, warning) in crate::startup::unknown_variables(names) {
                    tracing::warn!(target: "observe", "{warning}");
                }
            }
        }
        Ok(guard)
    }
}

// ----- service-level objectives ----------------------------------------------------

impl Builder {
    /// Declares a service-level objective (see [`crate::slo`]).
    ///
    /// ```
    /// use std::time::Duration;
    /// use observe_core::slo::Slo;
    ///
    /// let config = observe_core::Observe::builder()
    ///     .ignore_env()
    ///     .slo(Slo::latency("GET /orders/{id}", 0.99, Duration::from_millis(300)))
    ///     .build_config()?;
    /// assert_eq!(config.slo.slos.len(), 1);
    /// # Ok::<(), observe_core::config::ConfigError>(())
    /// ```
    pub fn slo(mut self, slo: crate::slo::Slo) -> Self {
        self.overrides.slos.push(slo);
        self
    }

    /// Calls `f` with every SLO alert, on observe's background thread (keep it
    /// short; a panic is caught and counted).
    pub fn on_alert(self, f: impl Fn(&crate::slo::Alert) + Send + Sync + 'static) -> Self {
        self.extras
            .alert_callbacks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Arc::new(f));
        self
    }

    /// Where alert snapshots of the flight recorder go (default:
    /// `OBSERVE_DUMP_DIR`, else the system's temporary directory), and the least
    /// time between two (default 5 minutes).
    pub fn alert_snapshots(
        mut self,
        dir: impl Into<std::path::PathBuf>,
        min_interval: Duration,
    ) -> Self {
        self.overrides.alert_snapshot_dir = Some(dir.into());
        self.overrides.alert_snapshot_interval = Some(min_interval);
        self
    }
}

fn push_header(settings: &mut OtlpSettings, name: String, value: String) {
    settings
        .headers
        .get_or_insert_with(Vec::new)
        .push((name, Redacted(value)));
}
