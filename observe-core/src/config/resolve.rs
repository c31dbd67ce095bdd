//! Resolution: the builder's values, the environment and the defaults become one
//! typed [`Config`], or one [`ConfigError`] listing every problem.

use std::borrow::Cow;
use std::fmt;
use std::io::IsTerminal as _;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::time::Duration;

use super::callers::TrustedCallers;
use super::error::{ConfigError, Origin, Problem};
use super::export::{
    self, BatchConfig, Compression, ExportConfig, ExporterKind, OtlpExport, Protocol, Signal,
};
use super::hosts::InternalHosts;
use super::overrides::{EnvSource, OtlpSettings, Overrides};
use super::parse::{
    self, Invalid, Parsed, parse_compression, parse_exporter, parse_filter, parse_headers,
    parse_protocol, parse_sampler,
};
use super::redact::Redaction;
use super::secret::{self, Headers, TracerBulletKey};
use super::service::{self, ServiceInfo};
use super::{
    AdminConfig, Config, FlightRecorderConfig, InboundContext, LogConfig, LogFormat, LogOutput,
    MetricsConfig, PropagationConfig, Sampler, Service, TracerBulletPolicy, UntrustedMarker,
};

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
/// The default validity of a signed tracer-bullet token.
pub(crate) const DEFAULT_TRACER_BULLET_MAX_AGE: Duration = Duration::from_secs(300);
/// How many untrusted callers' `sampled` flags are honoured a second by default.
pub(crate) const DEFAULT_UNTRUSTED_SAMPLED_PER_SECOND: u32 = 10;

impl Overrides {
    /// Resolves and validates: the environment over these values over the defaults,
    /// every bad value in the one error (see [`Builder::build_config`]).
    ///
    /// [`Builder::build_config`]: crate::Builder::build_config
    pub(crate) fn resolve(&self) -> Result<Config, ConfigError> {
        let (config, problems) = self.resolve_lenient();
        if problems.is_empty() || config.disabled {
            Ok(config)
        } else {
            Err(ConfigError::new(problems))
        }
    }

    /// The configuration with every bad value replaced by its default, and the
    /// problems found.
    pub(crate) fn resolve_lenient(&self) -> (Config, Vec<Problem>) {
        let mut r = Reader {
            env: &self.env,
            problems: Vec::new(),
        };
        let disabled = r
            .var("OTEL_SDK_DISABLED", parse::boolean)
            .map(|s| s.value)
            .or(self.disabled)
            .unwrap_or(false);
        let service = self.resolve_service(&mut r);
        let export = self.resolve_export(&mut r);
        let sampler = self.resolve_sampler(&mut r);
        let logs = self.resolve_logs(&mut r);
        let admin = self.resolve_admin(&mut r);
        let metrics = self.resolve_metrics(&mut r);
        let flight_recorder = self.resolve_flight_recorder(&mut r);
        let shutdown_timeout = r
            .var("OBSERVE_SHUTDOWN_TIMEOUT", parse::duration)
            .map(|s| s.value)
            .or(self.shutdown_timeout)
            .unwrap_or(DEFAULT_SHUTDOWN_TIMEOUT);
        let propagation = self.resolve_propagation(&mut r);
        let slo = {
            let slos = r.raw("OBSERVE_SLOS", false);
            let dir = r.raw("OBSERVE_DUMP_DIR", false);
            super::slo::resolve(self, slos, dir, &mut r.problems)
        };
        let config = Config {
            disabled,
            service,
            export,
            sampler,
            logs,
            admin,
            metrics,
            flight_recorder,
            shutdown_timeout,
            propagation,
            slo,
        };
        (config, r.problems)
    }

    fn resolve_service(&self, r: &mut Reader<'_>) -> Service {
        let env_name = r.var("OTEL_SERVICE_NAME", text);
        let mut env_attrs = r
            .var("OTEL_RESOURCE_ATTRIBUTES", |s| {
                parse::key_values(s, RESOURCE_ATTRIBUTES)
            })
            .map(|s| s.value)
            .unwrap_or_default();
        let env_environment = r.var("OBSERVE_ENV", text);
        let env_team = r.var("OBSERVE_SERVICE_TEAM", text).map(|s| s.value);
        let env_owner = r.var("OBSERVE_SERVICE_OWNER", text).map(|s| s.value);
        let env_runbook = r.var("OBSERVE_SERVICE_RUNBOOK", text).map(|s| s.value);

        let mut code_attrs = Vec::with_capacity(self.resource_attributes.len());
        for (key, value) in &self.resource_attributes {
            if key.trim().is_empty() {
                r.problems.push(Problem::code(
                    "Builder::resource_attribute",
                    key.clone(),
                    "a non-empty key",
                ));
            } else {
                code_attrs.push((key.trim().to_owned(), value.clone()));
            }
        }
        let info = self.service_info.as_ref();
        if let Some(info) = info {
            r.problems.extend_from_slice(info.problems());
        }

        let mut lift = |key: &str| (take(&mut env_attrs, key), take(&mut code_attrs, key));
        let (env_attr_name, code_attr_name) = lift("service.name");
        let (env_attr_version, code_attr_version) = lift("service.version");
        let (env_attr_env, code_attr_env) = lift("deployment.environment.name");
        let (env_attr_env_old, code_attr_env_old) = lift("deployment.environment");
        let (env_attr_host, code_attr_host) = lift("host.name");

        let name = env_name
            .map(|s| s.value)
            .or(env_attr_name)
            .or_else(|| non_empty(self.service_name.as_deref()))
            .or(code_attr_name)
            .or_else(|| info.map(|i| i.name.to_string()))
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(service::executable_name);
        let version = env_attr_version
            .or(code_attr_version)
            .or_else(|| info.map(|i| i.version.to_string()))
            .filter(|v| !v.trim().is_empty())
            .unwrap_or_else(|| "unknown".to_owned());
        let environment = env_environment
            .map(|s| s.value)
            .or(env_attr_env)
            .or(env_attr_env_old)
            .or_else(|| non_empty(self.environment.as_deref()))
            .or(code_attr_env)
            .or(code_attr_env_old);
        let host = env_attr_host
            .or(code_attr_host)
            .unwrap_or_else(service::host_name);

        let mut attributes = code_attrs;
        for (key, value) in env_attrs {
            match attributes.iter_mut().find(|(k, _)| *k == key) {
                Some(entry) => entry.1 = value,
                None => attributes.push((key, value)),
            }
        }
        let meta = |get: fn(&ServiceInfo) -> Option<&Cow<'static, str>>| {
            info.and_then(get).map(|v| v.to_string())
        };
        Service {
            name,
            version,
            environment,
            host,
            team: env_team.or_else(|| meta(|i| i.team.as_ref())),
            owner: env_owner.or_else(|| meta(|i| i.owner.as_ref())),
            runbook: env_runbook.or_else(|| meta(|i| i.runbook.as_ref())),
            repository: meta(|i| i.repository.as_ref()),
            attributes,
        }
    }

    fn resolve_export(&self, r: &mut Reader<'_>) -> ExportConfig {
        let env_generic = EnvOtlp::read(r, &GENERIC_VARS);
        let env_signal = SIGNAL_VARS.map(|vars| EnvOtlp::read(r, &vars));
        let env_exporters = EXPORTER_VARS.map(|var| r.var(var, parse_exporter));
        let env_tls = super::tls::EnvTls::read(|var| r.raw(var, false));

        let code_generic = CodeOtlp::new(r, &self.otlp, &GENERIC_METHODS);
        let code_signal = self
            .otlp_signal
            .each_ref()
            .map(|s| CodeOtlp::new(r, s, &SIGNAL_METHODS));
        let mut feature_problems: Vec<Problem> = Vec::new();

        let mut destinations: [Option<OtlpExport>; 3] = [None, None, None];
        for signal in Signal::ALL {
            let i = signal.index();
            let env_own = &env_signal[i];
            let code_own = &code_signal[i];

            let protocol = first([
                env_own.protocol.clone(),
                env_generic.protocol.clone(),
                code_own
                    .settings
                    .protocol
                    .map(|p| Sourced::code(code_own.methods.protocol, p)),
                code_generic
                    .settings
                    .protocol
                    .map(|p| Sourced::code(code_generic.methods.protocol, p)),
            ])
            .unwrap_or_else(|| Sourced::fallback(Protocol::default()));

            // The endpoint: a per-signal one as given, a generic one with the signal path
            // appended for http/protobuf.
            let endpoint: Option<Sourced<String>> = if let Some(own) = &env_own.endpoint {
                Some(own.as_given())
            } else if let Some(generic) = &env_generic.endpoint {
                Some(generic.for_signal(signal, protocol.value))
            } else if let Some(own) = &code_own.endpoint {
                Some(own.as_given())
            } else {
                code_generic
                    .endpoint
                    .as_ref()
                    .map(|generic| generic.for_signal(signal, protocol.value))
            };

            let exporter = env_exporters[i]
                .clone()
                .or_else(|| self.exporters[i].map(|e| Sourced::code(EXPORTER_METHOD, e)));
            let exported = match exporter.as_ref().map(|e| e.value) {
                Some(ExporterKind::None) => false,
                Some(ExporterKind::Otlp) => true,
                None => endpoint.is_some(),
            };
            if !exported {
                continue;
            }

            let headers = match (&env_own.headers, &env_generic.headers) {
                (Some(own), _) => own.value.clone(),
                (None, Some(generic)) => generic.value.clone(),
                (None, None) => code_own
                    .headers
                    .as_ref()
                    .or(code_generic.headers.as_ref())
                    .cloned()
                    .unwrap_or_default(),
            };
            let timeout = first([
                env_own.timeout.clone(),
                env_generic.timeout.clone(),
                code_own.timeout.clone(),
                code_generic.timeout.clone(),
            ])
            .map_or(export::DEFAULT_TIMEOUT, |t| t.value);
            let compression = first([
                env_own.compression.clone(),
                env_generic.compression.clone(),
                code_own
                    .settings
                    .compression
                    .map(|c| Sourced::code(code_own.methods.compression, c)),
                code_generic
                    .settings
                    .compression
                    .map(|c| Sourced::code(code_generic.methods.compression, c)),
            ])
            .unwrap_or_else(|| Sourced::fallback(Compression::default()));

            // A transport or compression this build cannot do is an error: the operator
            // asked for export that cannot work. A build without the `otlp` feature is
            // different: its developer chose not to export, and an endpoint injected into
            // every pod must not stop it, so export settings are kept but unused there.
            if protocol.value == Protocol::Grpc
                && !cfg!(feature = "grpc")
                && let Some(problem) = protocol.src.problem(NO_GRPC_FEATURE)
            {
                push_once(&mut feature_problems, problem);
            }
            if compression.value == Compression::Gzip
                && !cfg!(feature = "gzip")
                && let Some(problem) = compression.src.problem(NO_GZIP_FEATURE)
            {
                push_once(&mut feature_problems, problem);
            }

            // An `https://` endpoint needs TLS: never a silent plaintext fallback.
            if cfg!(feature = "otlp")
                && !cfg!(feature = "tls")
                && let Some(e) = &endpoint
                && super::tls::is_https(&e.value)
                && let Some(problem) = e.src.problem(NO_TLS_FEATURE)
            {
                push_once(&mut feature_problems, problem);
            }

            let endpoint = match endpoint {
                Some(e) => e.value,
                None => match protocol.value {
                    Protocol::Grpc => export::DEFAULT_GRPC_ENDPOINT.to_owned(),
                    Protocol::HttpProtobuf => {
                        format!("{}/{}", export::DEFAULT_HTTP_ENDPOINT, signal.http_path())
                    }
                },
            };
            let (tls, tls_problems) = super::tls::resolve(
                &env_tls,
                signal,
                &code_own.settings.tls,
                &code_generic.settings.tls,
                &endpoint,
            );
            tls_problems
                .into_iter()
                .for_each(|p| push_once(&mut feature_problems, p));
            destinations[i] = Some(OtlpExport {
                tls,
                endpoint,
                protocol: protocol.value,
                headers,
                timeout,
                compression: compression.value,
            });
        }
        r.problems.extend(feature_problems);

        let span_batch = resolve_batch(
            r,
            self.span_batch,
            BatchConfig::SPANS,
            &BSP_VARS,
            "Builder::span_batch",
        );
        let log_batch = resolve_batch(
            r,
            self.log_batch,
            BatchConfig::LOGS,
            &BLRP_VARS,
            "Builder::log_batch",
        );
        let metric_export_interval = r
            .var("OTEL_METRIC_EXPORT_INTERVAL", parse::millis)
            .map(|s| s.value)
            .or(r.positive_code(
                "Builder::metric_export_interval",
                self.metric_export_interval,
            ))
            .unwrap_or(export::DEFAULT_METRIC_INTERVAL);
        let metric_export_timeout = r
            .var("OTEL_METRIC_EXPORT_TIMEOUT", parse::millis)
            .map(|s| s.value)
            .or(r.positive_code("Builder::metric_export_timeout", self.metric_export_timeout))
            .unwrap_or(export::DEFAULT_METRIC_TIMEOUT);
        let [traces, logs, metrics] = destinations;
        ExportConfig {
            traces,
            logs,
            metrics,
            span_batch,
            log_batch,
            metric_export_interval,
            metric_export_timeout,
            ..ExportConfig::default()
        }
    }

    fn resolve_sampler(&self, r: &mut Reader<'_>) -> Sampler {
        let problems_before = r.problems.len();
        let env_kind = r.var("OTEL_TRACES_SAMPLER", parse_sampler);
        let kind_was_bad = r.problems.len() > problems_before;
        let env_arg = r.var("OTEL_TRACES_SAMPLER_ARG", parse::ratio);
        let code = self.sampler.and_then(|sampler| match sampler.ratio() {
            Some(ratio) if !(0.0..=1.0).contains(&ratio) => {
                r.problems.push(Problem::code(
                    "Builder::sampler",
                    format!("{sampler:?}"),
                    parse::RATIO,
                ));
                None
            }
            _ => Some(sampler),
        });
        let (sampler, from_env) = match (env_kind, code) {
            (Some(kind), _) => (kind.value, true),
            (None, Some(sampler)) => (sampler, false),
            (None, None) => (Sampler::default(), false),
        };
        let Some(arg) = env_arg else {
            return sampler;
        };
        if kind_was_bad {
            // The sampler's own error says enough.
            return sampler;
        }
        match sampler {
            Sampler::TraceIdRatio(_) => Sampler::TraceIdRatio(arg.value),
            Sampler::ParentBasedTraceIdRatio(_) => Sampler::ParentBasedTraceIdRatio(arg.value),
            other => {
                let set_by = if from_env {
                    "OTEL_TRACES_SAMPLER"
                } else if self.sampler.is_some() {
                    "Builder::sampler"
                } else {
                    "the default"
                };
                r.problems.extend(arg.src.problem(format!(
                    "no argument: the sampler {} ({set_by}) takes none; set OTEL_TRACES_SAMPLER to traceidratio or parentbased_traceidratio to sample a ratio",
                    other.name()
                )));
                other
            }
        }
    }

    fn resolve_logs(&self, r: &mut Reader<'_>) -> LogConfig {
        let env_filter = r.var("RUST_LOG", parse_filter).map(|s| s.value);
        let code_filter = self
            .log_filter
            .as_deref()
            .and_then(|code| r.code("Builder::log_filter", code, parse_filter));
        let filter = env_filter
            .or(code_filter)
            .unwrap_or_else(|| DEFAULT_LOG_FILTER.to_owned());
        let format = r
            .var("OBSERVE_LOG_FORMAT", |s| {
                parse::one_of(
                    s,
                    &[
                        ("json", LogFormat::Json),
                        ("pretty", LogFormat::Pretty),
                        ("text", LogFormat::Pretty),
                    ],
                    "json, pretty or text",
                )
            })
            .map(|s| s.value)
            .or(self.log_format);
        let output = r
            .var("OBSERVE_LOG_OUTPUT", |s| {
                parse::one_of(
                    s,
                    &[
                        ("stdout", LogOutput::Stdout),
                        ("stderr", LogOutput::Stderr),
                        ("none", LogOutput::None),
                    ],
                    "stdout, stderr or none",
                )
            })
            .map(|s| s.value)
            .or(self.log_output)
            .unwrap_or_default();
        // Unset: readable lines for a person at a terminal, JSON for everything else
        // (a pipe, a file, a container's log driver, a writer given in code).
        let format = format.unwrap_or_else(|| {
            let terminal = !self.log_writer_given
                && match output {
                    LogOutput::Stdout => std::io::stdout().is_terminal(),
                    LogOutput::Stderr => std::io::stderr().is_terminal(),
                    _ => false,
                };
            if terminal {
                LogFormat::Pretty
            } else {
                LogFormat::Json
            }
        });
        let buffer_lines = r
            .var("OBSERVE_LOG_BUFFER", parse::positive_int)
            .map(|s| s.value)
            .or(r.positive_code_int("Builder::log_buffer_lines", self.log_buffer_lines))
            .unwrap_or(DEFAULT_LOG_BUFFER);

        let mut redaction = Redaction::default();
        for name in &self.redact_fields {
            if let Err(expected) = redaction.add(name) {
                r.problems.push(Problem::code(
                    "Builder::redact_fields",
                    name.clone(),
                    expected,
                ));
            }
        }
        r.var("OBSERVE_REDACT_FIELDS", |s| {
            // Validate the whole list before adding any of it.
            let mut added = redaction.clone();
            for name in parse::comma_list(s) {
                added.add(name)?;
            }
            redaction = added;
            Ok(())
        });
        LogConfig {
            filter,
            format,
            output,
            buffer_lines,
            redaction,
        }
    }

    fn resolve_admin(&self, r: &mut Reader<'_>) -> AdminConfig {
        let addr = r
            .var("OBSERVE_ADMIN_ADDR", |s| {
                if s.eq_ignore_ascii_case("off") {
                    Ok(None)
                } else {
                    s.parse::<SocketAddr>().map(Some).map_err(|_| {
                        Invalid::from(
                            "an IP socket address such as 127.0.0.1:9464 or [::1]:9464, or off",
                        )
                    })
                }
            })
            .map(|s| s.value)
            .or(self.admin_addr)
            .unwrap_or(Some(DEFAULT_ADMIN_ADDR));
        AdminConfig {
            addr,
            non_loopback: addr.is_some_and(|a| !a.ip().is_loopback()),
        }
    }

    fn resolve_metrics(&self, r: &mut Reader<'_>) -> MetricsConfig {
        let window = r
            .var("OBSERVE_METRICS_WINDOW", parse::positive_duration)
            .or(r.positive_code_sourced("Builder::metrics_window", self.metrics_window))
            .unwrap_or_else(|| Sourced::fallback(DEFAULT_METRICS_WINDOW));
        let slice = r
            .var("OBSERVE_METRICS_SLICE", parse::positive_duration)
            .or(r.positive_code_sourced("Builder::metrics_slice", self.metrics_slice))
            .unwrap_or_else(|| Sourced::fallback(DEFAULT_METRICS_SLICE));
        let max_keys = r
            .var("OBSERVE_METRICS_MAX_KEYS", parse::positive_int)
            .map(|s| s.value)
            .or(r.positive_code_int("Builder::metrics_max_keys", self.metrics_max_keys))
            .unwrap_or(DEFAULT_METRICS_MAX_KEYS);
        let exposition = r
            .var("OBSERVE_METRICS_EXPOSITION", parse::exposition)
            .map(|s| s.value)
            .or(self.metrics_exposition)
            .unwrap_or_default();

        let (mut window_value, mut slice_value) = (window.value, slice.value);
        if !window
            .value
            .as_nanos()
            .is_multiple_of(slice.value.as_nanos())
        {
            let problem = window
                .src
                .problem(format!(
                    "a whole multiple of the slice, {:?} ({})",
                    slice.value,
                    slice.src.name("OBSERVE_METRICS_SLICE")
                ))
                .or_else(|| {
                    slice.src.problem(format!(
                        "a duration that divides the window, {:?} ({}), into whole slices",
                        window.value,
                        window.src.name("OBSERVE_METRICS_WINDOW")
                    ))
                });
            r.problems.extend(problem);
            (window_value, slice_value) = (DEFAULT_METRICS_WINDOW, DEFAULT_METRICS_SLICE);
        }
        MetricsConfig {
            window: window_value,
            slice: slice_value,
            max_keys,
            exposition,
        }
    }

    fn resolve_flight_recorder(&self, r: &mut Reader<'_>) -> FlightRecorderConfig {
        let bytes = r
            .var("OBSERVE_FLIGHT_RECORDER_BYTES", |s| {
                let bytes = parse::byte_size(s)?;
                usize::try_from(bytes).map_err(|_| {
                    Invalid::from(format!(
                        "{} (at most {} bytes on this platform)",
                        parse::BYTE_SIZE,
                        usize::MAX
                    ))
                })
            })
            .map(|s| s.value)
            .or(self.flight_recorder_bytes)
            .unwrap_or(DEFAULT_FLIGHT_RECORDER_BYTES);
        let window = r
            .var("OBSERVE_FLIGHT_RECORDER_WINDOW", |s| {
                if s.eq_ignore_ascii_case("off") {
                    Ok(None)
                } else {
                    parse::positive_duration(s)
                        .map(Some)
                        .map_err(|_| Invalid::from(format!("{} or off", parse::POSITIVE_DURATION)))
                }
            })
            .map(|s| s.value)
            .or(match self.flight_recorder_window {
                Some(Some(d)) if d.is_zero() => {
                    r.problems.push(Problem::code(
                        "Builder::flight_recorder_window",
                        format!("{d:?}"),
                        "a duration greater than 0, or None for the byte budget alone",
                    ));
                    None
                }
                other => other,
            })
            .unwrap_or(Some(super::DEFAULT_RECORDER_WINDOW));
        let slow_threshold = r
            .var("OBSERVE_SLOW_THRESHOLD", |s| {
                if s.eq_ignore_ascii_case("auto") {
                    Ok(None)
                } else {
                    parse::positive_duration(s)
                        .map(Some)
                        .map_err(|_| Invalid::from(format!("{} or auto", parse::POSITIVE_DURATION)))
                }
            })
            .map(|s| s.value)
            .or(match self.slow_threshold {
                Some(Some(d)) if d.is_zero() => {
                    r.problems.push(Problem::code(
                        "Builder::slow_threshold",
                        format!("{d:?}"),
                        "a duration greater than 0, or None for per-key p99",
                    ));
                    None
                }
                other => other,
            })
            .unwrap_or(None);
        FlightRecorderConfig {
            bytes: NonZeroUsize::new(bytes),
            window,
            slow_threshold,
        }
    }

    fn resolve_propagation(&self, r: &mut Reader<'_>) -> PropagationConfig {
        let env_hosts = r
            .var("OBSERVE_INTERNAL_HOSTS", |s| {
                InternalHosts::parse(parse::comma_list(s)).map_err(Invalid::from)
            })
            .map(|s| s.value);
        let code_hosts =
            self.internal_hosts.as_ref().and_then(|patterns| {
                match InternalHosts::parse(patterns.iter().map(String::as_str)) {
                    Ok(hosts) => Some(hosts),
                    Err(expected) => {
                        r.problems.push(Problem::code(
                            "Builder::internal_hosts",
                            patterns.join(","),
                            expected,
                        ));
                        None
                    }
                }
            });
        let internal_hosts = env_hosts.or(code_hosts).unwrap_or_default();
        let inbound = r
            .var("OBSERVE_INBOUND_CONTEXT", |s| {
                parse::one_of(
                    s,
                    &[
                        ("continue", InboundContext::Continue),
                        ("restart", InboundContext::Restart),
                        ("trust", InboundContext::Trust),
                    ],
                    INBOUND_CONTEXT,
                )
            })
            .or_else(|| {
                self.inbound_context
                    .map(|c| Sourced::code("Builder::inbound_context", c))
            })
            .unwrap_or_else(|| Sourced::fallback(InboundContext::default()));
        let env_callers = r
            .var("OBSERVE_TRUSTED_CALLERS", |s| {
                TrustedCallers::from_patterns(parse::comma_list(s)).map_err(Invalid::from)
            })
            .map(|s| s.value);
        let code_callers = self.trusted_callers.as_ref().and_then(|items| {
            match TrustedCallers::from_patterns(items.iter().map(String::as_str)) {
                Ok(callers) => Some(callers),
                Err(expected) => {
                    r.problems.push(Problem::code(
                        "Builder::trusted_callers",
                        items.join(","),
                        expected,
                    ));
                    None
                }
            }
        });
        let callers_given = env_callers.is_some() || code_callers.is_some();
        let mut trusted_callers = env_callers.or(code_callers).unwrap_or_default();
        // `trust`, observe 0.1's default, also believed every caller's identity: it
        // keeps that meaning, which a list of trusted callers would contradict.
        let inbound_context = match inbound.value {
            InboundContext::Trust if callers_given => {
                r.problems.extend(inbound.src.problem(format!(
                    "{INBOUND_CONTEXT} (trust, the old default, also believes every caller's identity, which OBSERVE_TRUSTED_CALLERS now decides: write continue)"
                )));
                InboundContext::Continue
            }
            InboundContext::Trust => {
                trusted_callers = TrustedCallers::any();
                InboundContext::Continue
            }
            other => other,
        };
        let untrusted_sampled_per_second = r
            .var("OBSERVE_UNTRUSTED_SAMPLED_PER_SECOND", parse::count)
            .map(|s| s.value)
            .or(self.untrusted_sampled_per_second)
            .unwrap_or(DEFAULT_UNTRUSTED_SAMPLED_PER_SECOND);
        let policy = r
            .var("OBSERVE_TRACER_BULLET_POLICY", |s| {
                parse::one_of(
                    s,
                    &[
                        ("deny", TracerBulletPolicy::Deny),
                        ("trusted", TracerBulletPolicy::Trusted),
                        ("signed", TracerBulletPolicy::Signed),
                    ],
                    "deny, trusted or signed",
                )
            })
            .or_else(|| {
                self.tracer_bullet_policy
                    .map(|p| Sourced::code("Builder::tracer_bullet_policy", p))
            })
            .unwrap_or_else(|| Sourced::fallback(TracerBulletPolicy::default()));

        let problems_before_key = r.problems.len();
        let env_key = r
            .secret_var("OBSERVE_TRACER_BULLET_KEY", |s| {
                TracerBulletKey::parse(s).ok_or_else(|| Invalid::from(secret::KEY))
            })
            .map(|s| s.value);
        let code_key = self.tracer_bullet_key.as_ref().and_then(|bytes| {
            let key = TracerBulletKey::from_bytes(bytes.0.clone());
            if key.is_none() {
                r.problems.push(
                    Problem::code("Builder::tracer_bullet_key", "", "at least 32 bytes").redacted(),
                );
            }
            key
        });
        let key = env_key.or(code_key);
        let key_was_bad = r.problems.len() > problems_before_key;
        let mut tracer_bullet_policy = policy.value;
        if policy.value == TracerBulletPolicy::Signed && key.is_none() {
            if !key_was_bad {
                r.problems.extend(policy.src.problem(
                    "OBSERVE_TRACER_BULLET_KEY to be set as well: the signed policy needs a key of at least 32 bytes (hex or base64)",
                ));
            }
            // Never honour unsigned bullets because the key is missing.
            tracer_bullet_policy = TracerBulletPolicy::Deny;
        }
        let tracer_bullet_max_age = r
            .var("OBSERVE_TRACER_BULLET_MAX_AGE", parse::positive_duration)
            .map(|s| s.value)
            .or(r.positive_code("Builder::tracer_bullet_max_age", self.tracer_bullet_max_age))
            .unwrap_or(DEFAULT_TRACER_BULLET_MAX_AGE);
        let tracer_bullet_untrusted_marker = r
            .var("OBSERVE_TRACER_BULLET_UNTRUSTED_MARKER", |s| {
                parse::one_of(
                    s,
                    &[
                        ("refuse", UntrustedMarker::Refuse),
                        ("strip", UntrustedMarker::Strip),
                    ],
                    "refuse or strip",
                )
            })
            .map(|s| s.value)
            .or(self.tracer_bullet_untrusted_marker)
            .unwrap_or_default();
        PropagationConfig {
            internal_hosts,
            inbound_context,
            trusted_callers,
            untrusted_sampled_per_second,
            tracer_bullet_policy,
            tracer_bullet_key: key,
            tracer_bullet_max_age,
            tracer_bullet_untrusted_marker,
        }
    }
}

const INBOUND_CONTEXT: &str = "continue or restart";

// ----- reading values ---------------------------------------------------------------

/// Reads variables and collects problems.
struct Reader<'a> {
    env: &'a EnvSource,
    problems: Vec<Problem>,
}

impl Reader<'_> {
    /// The trimmed value of a variable; `None` when unset or blank. A value that is not
    /// UTF-8 is a problem, its value redacted when the variable holds a secret.
    fn raw(&mut self, var: &'static str, secret: bool) -> Option<String> {
        let value = match self.env {
            EnvSource::Ignore => return None,
            EnvSource::Lookup(lookup) => lookup(var)?,
            EnvSource::Process => match std::env::var_os(var)?.into_string() {
                Ok(value) => value,
                Err(value) => {
                    let problem = Problem::env(var, value.to_string_lossy(), "valid UTF-8");
                    self.problems
                        .push(if secret { problem.redacted() } else { problem });
                    return None;
                }
            },
        };
        let value = value.trim();
        (!value.is_empty()).then(|| value.to_owned())
    }

    /// Reads and parses a variable. A bad value is recorded and reads as unset.
    fn var<T>(
        &mut self,
        var: &'static str,
        parse: impl FnOnce(&str) -> Parsed<T>,
    ) -> Option<Sourced<T>> {
        self.var_with(var, parse, false)
    }

    /// [`var`](Self::var) for a secret: a bad value is reported as `<redacted>`.
    fn secret_var<T>(
        &mut self,
        var: &'static str,
        parse: impl FnOnce(&str) -> Parsed<T>,
    ) -> Option<Sourced<T>> {
        self.var_with(var, parse, true)
    }

    fn var_with<T>(
        &mut self,
        var: &'static str,
        parse: impl FnOnce(&str) -> Parsed<T>,
        secret: bool,
    ) -> Option<Sourced<T>> {
        let raw = self.raw(var, secret)?;
        match parse(&raw) {
            Ok(value) => Some(Sourced {
                value,
                src: Src::Env {
                    var,
                    // Whatever reads the source later (a check across settings)
                    // never sees a secret.
                    raw: if secret {
                        super::error::REDACTED.to_owned()
                    } else {
                        raw
                    },
                },
            }),
            Err(invalid) => {
                let problem = Problem::env(var, invalid.shown.unwrap_or(raw), invalid.expected);
                self.problems
                    .push(if secret { problem.redacted() } else { problem });
                None
            }
        }
    }

    /// Parses a string given to a builder method. A bad value is recorded and reads as
    /// unset.
    fn code<T>(
        &mut self,
        method: &'static str,
        value: &str,
        parse: impl FnOnce(&str) -> Parsed<T>,
    ) -> Option<T> {
        match parse(value.trim()) {
            Ok(value) => Some(value),
            Err(invalid) => {
                self.problems.push(Problem::code(
                    method,
                    invalid.shown.unwrap_or_else(|| value.to_owned()),
                    invalid.expected,
                ));
                None
            }
        }
    }

    /// A duration from a builder method that must not be zero.
    fn positive_code(&mut self, method: &'static str, value: Option<Duration>) -> Option<Duration> {
        self.positive_code_sourced(method, value).map(|s| s.value)
    }

    fn positive_code_sourced(
        &mut self,
        method: &'static str,
        value: Option<Duration>,
    ) -> Option<Sourced<Duration>> {
        let value = value?;
        if value.is_zero() {
            self.problems.push(Problem::code(
                method,
                format!("{value:?}"),
                "a duration greater than 0",
            ));
            return None;
        }
        Some(Sourced::code(method, value))
    }

    /// A count from a builder method that must not be zero.
    fn positive_code_int(&mut self, method: &'static str, value: Option<usize>) -> Option<usize> {
        let value = value?;
        if value == 0 {
            self.problems
                .push(Problem::code(method, "0", parse::POSITIVE_INT));
            return None;
        }
        Some(value)
    }
}

/// A value and where it came from, so that a check across settings can blame the
/// right one.
#[derive(Clone, Debug)]
struct Sourced<T> {
    value: T,
    src: Src,
}

#[derive(Clone, Debug)]
enum Src {
    Default,
    Env { var: &'static str, raw: String },
    Code { method: &'static str, shown: String },
}

impl<T> Sourced<T> {
    fn fallback(value: T) -> Self {
        Sourced {
            value,
            src: Src::Default,
        }
    }
}

impl<T: fmt::Debug> Sourced<T> {
    fn code(method: &'static str, value: T) -> Self {
        Sourced {
            src: Src::Code {
                method,
                shown: format!("{value:?}"),
            },
            value,
        }
    }
}

impl Src {
    /// A problem blaming this source; `None` for a default (defaults are valid).
    fn problem(&self, expected: impl Into<Cow<'static, str>>) -> Option<Problem> {
        match self {
            Src::Default => None,
            Src::Env { var, raw } => Some(Problem::new(Origin::Env, *var, raw.clone(), expected)),
            Src::Code { method, shown } => {
                Some(Problem::new(Origin::Code, *method, shown.clone(), expected))
            }
        }
    }

    /// How to name this source in another setting's error.
    fn name(&self, variable: &'static str) -> &'static str {
        match self {
            Src::Code { method, .. } => method,
            Src::Env { .. } | Src::Default => variable,
        }
    }
}

/// The first value present, highest precedence first.
fn first<T, const N: usize>(candidates: [Option<Sourced<T>>; N]) -> Option<Sourced<T>> {
    candidates.into_iter().flatten().next()
}

fn push_once(problems: &mut Vec<Problem>, problem: Problem) {
    if !problems.iter().any(|p| p.variable() == problem.variable()) {
        problems.push(problem);
    }
}

fn text(s: &str) -> Parsed<String> {
    Ok(s.to_owned())
}

fn non_empty(s: Option<&str>) -> Option<String> {
    s.map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// Removes every entry with `key`, returning the last value.
fn take(attrs: &mut Vec<(String, String)>, key: &str) -> Option<String> {
    let mut found = None;
    attrs.retain(|(k, v)| {
        if k == key {
            found = Some(v.clone());
            false
        } else {
            true
        }
    });
    found.filter(|v| !v.trim().is_empty())
}

const RESOURCE_ATTRIBUTES: &str = "a comma-separated list of key=value pairs with percent-encoded values, such as service.version=1.2.0,team=payments";

// ----- OTLP ---------------------------------------------------------------------------

struct OtlpVars {
    endpoint: &'static str,
    protocol: &'static str,
    headers: &'static str,
    timeout: &'static str,
    compression: &'static str,
}

const GENERIC_VARS: OtlpVars = OtlpVars {
    endpoint: "OTEL_EXPORTER_OTLP_ENDPOINT",
    protocol: "OTEL_EXPORTER_OTLP_PROTOCOL",
    headers: "OTEL_EXPORTER_OTLP_HEADERS",
    timeout: "OTEL_EXPORTER_OTLP_TIMEOUT",
    compression: "OTEL_EXPORTER_OTLP_COMPRESSION",
};

const SIGNAL_VARS: [OtlpVars; 3] = [
    OtlpVars {
        endpoint: "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        protocol: "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        headers: "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
        timeout: "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
        compression: "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
    },
    OtlpVars {
        endpoint: "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
        protocol: "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL",
        headers: "OTEL_EXPORTER_OTLP_LOGS_HEADERS",
        timeout: "OTEL_EXPORTER_OTLP_LOGS_TIMEOUT",
        compression: "OTEL_EXPORTER_OTLP_LOGS_COMPRESSION",
    },
    OtlpVars {
        endpoint: "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
        protocol: "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL",
        headers: "OTEL_EXPORTER_OTLP_METRICS_HEADERS",
        timeout: "OTEL_EXPORTER_OTLP_METRICS_TIMEOUT",
        compression: "OTEL_EXPORTER_OTLP_METRICS_COMPRESSION",
    },
];

const EXPORTER_VARS: [&str; 3] = [
    "OTEL_TRACES_EXPORTER",
    "OTEL_LOGS_EXPORTER",
    "OTEL_METRICS_EXPORTER",
];
const EXPORTER_METHOD: &str = "Builder::exporter";

struct OtlpMethods {
    endpoint: &'static str,
    protocol: &'static str,
    headers: &'static str,
    timeout: &'static str,
    compression: &'static str,
}

const GENERIC_METHODS: OtlpMethods = OtlpMethods {
    endpoint: "Builder::otlp_endpoint",
    protocol: "Builder::otlp_protocol",
    headers: "Builder::otlp_header",
    timeout: "Builder::otlp_timeout",
    compression: "Builder::otlp_compression",
};

const SIGNAL_METHODS: OtlpMethods = OtlpMethods {
    endpoint: "Builder::otlp_signal_endpoint",
    protocol: "Builder::otlp_signal_protocol",
    headers: "Builder::otlp_signal_header",
    timeout: "Builder::otlp_signal_timeout",
    compression: "Builder::otlp_signal_compression",
};

const NO_GRPC_FEATURE: &str = "http/protobuf: this build of observe-core cannot speak grpc \
     (enable the `grpc` feature of observe-axum, observe-tonic or observe-core)";
const NO_TLS_FEATURE: &str = "an http:// endpoint: this build of observe-core cannot speak TLS \
     (enable the `tls` feature of observe-axum, observe-tonic or observe-core)";
const NO_GZIP_FEATURE: &str = "none: this build of observe-core cannot compress \
     (enable the `gzip` feature of observe-axum, observe-tonic or observe-core)";

/// The OTLP variables of one scope (generic or one signal), parsed.
struct EnvOtlp {
    endpoint: Option<Sourced<url::Url>>,
    protocol: Option<Sourced<Protocol>>,
    headers: Option<Sourced<Headers>>,
    timeout: Option<Sourced<Duration>>,
    compression: Option<Sourced<Compression>>,
}

impl EnvOtlp {
    fn read(r: &mut Reader<'_>, vars: &OtlpVars) -> Self {
        EnvOtlp {
            endpoint: r.var(vars.endpoint, parse::endpoint),
            protocol: r.var(vars.protocol, parse_protocol),
            headers: r.secret_var(vars.headers, parse_headers),
            timeout: r.var(vars.timeout, parse::millis),
            compression: r.var(vars.compression, parse_compression),
        }
    }
}

/// The OTLP settings of one scope given in code, validated.
struct CodeOtlp<'b> {
    settings: &'b OtlpSettings,
    methods: &'static OtlpMethods,
    endpoint: Option<Sourced<url::Url>>,
    headers: Option<Headers>,
    timeout: Option<Sourced<Duration>>,
}

impl<'b> CodeOtlp<'b> {
    fn new(r: &mut Reader<'_>, settings: &'b OtlpSettings, methods: &'static OtlpMethods) -> Self {
        let endpoint = settings.endpoint.as_deref().and_then(|given| {
            let url = r.code(methods.endpoint, given, parse::endpoint)?;
            Some(Sourced {
                value: url,
                src: Src::Code {
                    method: methods.endpoint,
                    shown: given.trim().to_owned(),
                },
            })
        });
        let headers = settings.headers.as_ref().and_then(|pairs| {
            let pairs = pairs
                .iter()
                .map(|(n, v)| (n.trim().to_owned(), v.0.clone()))
                .collect();
            match Headers::from_pairs(pairs) {
                Ok(headers) => Some(headers),
                Err(expected) => {
                    r.problems
                        .push(Problem::code(methods.headers, "", expected).redacted());
                    None
                }
            }
        });
        let timeout = r.positive_code_sourced(methods.timeout, settings.timeout);
        CodeOtlp {
            settings,
            methods,
            endpoint,
            headers,
            timeout,
        }
    }
}

impl Sourced<url::Url> {
    /// A per-signal endpoint: the URL as given.
    fn as_given(&self) -> Sourced<String> {
        let value = match &self.src {
            Src::Env { raw, .. } => raw.clone(),
            Src::Code { shown, .. } => shown.clone(),
            Src::Default => self.value.to_string(),
        };
        Sourced {
            value,
            src: self.src.clone(),
        }
    }

    /// A generic endpoint, for one signal: the signal path appended for OTLP/HTTP, the
    /// URL as given for gRPC.
    fn for_signal(&self, signal: Signal, protocol: Protocol) -> Sourced<String> {
        match protocol {
            Protocol::HttpProtobuf => Sourced {
                value: export::append_signal_path(&self.value, signal),
                src: self.src.clone(),
            },
            Protocol::Grpc => self.as_given(),
        }
    }
}

// ----- batching -----------------------------------------------------------------------

const BSP_VARS: [&str; 4] = [
    "OTEL_BSP_SCHEDULE_DELAY",
    "OTEL_BSP_EXPORT_TIMEOUT",
    "OTEL_BSP_MAX_QUEUE_SIZE",
    "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
];

const BLRP_VARS: [&str; 4] = [
    "OTEL_BLRP_SCHEDULE_DELAY",
    "OTEL_BLRP_EXPORT_TIMEOUT",
    "OTEL_BLRP_MAX_QUEUE_SIZE",
    "OTEL_BLRP_MAX_EXPORT_BATCH_SIZE",
];

/// One batch configuration: each variable overrides its own field of the builder's
/// value (or the default); the batch never exceeds the queue.
fn resolve_batch(
    r: &mut Reader<'_>,
    code: Option<BatchConfig>,
    default: BatchConfig,
    vars: &[&'static str; 4],
    method: &'static str,
) -> BatchConfig {
    let field = |name: &str, value: &dyn fmt::Debug| Src::Code {
        method,
        shown: format!("{name} = {value:?}"),
    };
    let base = code.unwrap_or(default);
    let base_src = |name: &str, value: &dyn fmt::Debug| match code {
        Some(_) => field(name, value),
        None => Src::Default,
    };

    let delay = r.var(vars[0], parse::millis);
    let timeout = r.var(vars[1], parse::millis);
    let queue = r.var(vars[2], parse::positive_int);
    let batch = r.var(vars[3], parse::positive_int);

    // Values from code are typed, but zero is as wrong there as in the environment.
    let mut code_count = |name: &str, current: usize| {
        if code.is_some() && current == 0 {
            r.problems
                .extend(field(name, &current).problem(parse::POSITIVE_INT));
            None
        } else {
            Some(Sourced {
                value: current,
                src: base_src(name, &current),
            })
        }
    };
    let code_queue = code_count("max_queue_size", base.max_queue_size);
    let code_batch = code_count("max_export_batch_size", base.max_export_batch_size);
    let queue = queue
        .or(code_queue)
        .unwrap_or_else(|| Sourced::fallback(default.max_queue_size));
    let batch = batch
        .or(code_batch)
        .unwrap_or_else(|| Sourced::fallback(default.max_export_batch_size));
    let mut code_duration = |name: &str, current: Duration, fallback: Duration| {
        if code.is_some() && current.is_zero() {
            r.problems
                .extend(field(name, &current).problem("a duration greater than 0"));
            fallback
        } else {
            current
        }
    };
    let code_delay = code_duration(
        "schedule_delay",
        base.schedule_delay,
        default.schedule_delay,
    );
    let code_timeout = code_duration(
        "export_timeout",
        base.export_timeout,
        default.export_timeout,
    );
    let schedule_delay = delay.map_or(code_delay, |s| s.value);
    let export_timeout = timeout.map_or(code_timeout, |s| s.value);

    let (mut max_queue_size, mut max_export_batch_size) = (queue.value, batch.value);
    if batch.value > queue.value {
        let problem = batch
            .src
            .problem(format!(
                "at most the queue size, {} ({})",
                queue.value,
                queue.src.name(vars[2])
            ))
            .or_else(|| {
                queue.src.problem(format!(
                    "at least the batch size, {} ({})",
                    batch.value,
                    batch.src.name(vars[3])
                ))
            });
        r.problems.extend(problem);
        (max_queue_size, max_export_batch_size) =
            (default.max_queue_size, default.max_export_batch_size);
    }
    BatchConfig {
        schedule_delay,
        export_timeout,
        max_queue_size,
        max_export_batch_size,
    }
}

// ----- sampling and logs ----------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_default_has_no_problem() {
        let (config, problems) = Overrides {
            env: EnvSource::Ignore,
            ..Overrides::default()
        }
        .resolve_lenient();
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(config, Config::default());
        assert_eq!(config.logs.filter, DEFAULT_LOG_FILTER);
        assert_eq!(config.admin.addr, Some(DEFAULT_ADMIN_ADDR));
        assert!(config.export.traces.is_none());
    }

    #[test]
    fn filters_are_validated_and_normalised() {
        assert_eq!(
            parse_filter("info, hyper=warn ,,my_crate::db=trace").unwrap(),
            "info,hyper=warn,my_crate::db=trace"
        );
        assert_eq!(
            parse_filter("[span{user=42}]=debug").unwrap(),
            "[span{user=42}]=debug"
        );
        assert!(
            parse_filter("my_crate=inof")
                .unwrap_err()
                .expected
                .contains("`my_crate=inof`")
        );
        assert!(
            parse_filter("warning")
                .unwrap_err()
                .expected
                .contains("read as a target name")
        );
        assert!(parse_filter("a=b=c").is_err());
        assert!(parse_filter("$$$").is_err());
    }

    #[test]
    fn redaction_list_is_all_or_nothing() {
        let (config, problems) = Overrides {
            env: EnvSource::Lookup(std::sync::Arc::new(|n| {
                (n == "OBSERVE_REDACT_FIELDS").then(|| "email,two words".to_owned())
            })),
            ..Overrides::default()
        }
        .resolve_lenient();
        assert_eq!(problems.len(), 1);
        assert_eq!(config.logs.redaction, Redaction::default());
    }
}
