//! Resolution: the builder's values, the environment and the defaults become one
//! typed [`Config`], or one [`ConfigError`] listing every problem.
//!
//! One function per part of [`Config`], each reading its variables and the builder's
//! values by the precedence of [`sourced`](super::sourced); the parsers are in
//! [`parse`](super::parse), the defaults in [`defaults`](super::defaults), OTLP export
//! in [`otlp`](super::otlp).

use std::borrow::Cow;
use std::io::IsTerminal as _;
use std::num::NonZeroUsize;

use super::callers::TrustedCallers;
use super::defaults::{
    DEFAULT_ADMIN_ADDR, DEFAULT_FLIGHT_RECORDER_BYTES, DEFAULT_LOG_BUFFER, DEFAULT_LOG_FILTER,
    DEFAULT_METRICS_MAX_KEYS, DEFAULT_METRICS_SLICE, DEFAULT_METRICS_WINDOW,
    DEFAULT_RECORDER_WINDOW, DEFAULT_SHUTDOWN_DELAY, DEFAULT_SHUTDOWN_TIMEOUT,
    DEFAULT_TRACER_BULLET_MAX_AGE, DEFAULT_UNTRUSTED_SAMPLED_PER_SECOND,
};
use super::error::{ConfigError, Problem};
use super::export::{self, BatchConfig, ExportConfig};
use super::hosts::InternalHosts;
use super::otlp;
use super::overrides::Overrides;
use super::parse::{self, parse_filter, parse_sampler};
use super::redact::Redaction;
use super::secret::TracerBulletKey;
use super::service::{self, ServiceInfo};
use super::sourced::{Reader, Sourced, non_empty, take};
use super::{
    AdminConfig, Config, FlightRecorderConfig, InboundContext, LogConfig, LogFormat, LogOutput,
    MetricsConfig, PropagationConfig, Sampler, Service, TracerBulletPolicy,
};

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
        let mut r = Reader::new(&self.env);
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
        let shutdown_delay = r
            .var("OBSERVE_SHUTDOWN_DELAY", parse::duration)
            .map(|s| s.value)
            .or(self.shutdown_delay)
            .unwrap_or(DEFAULT_SHUTDOWN_DELAY);
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
            shutdown_delay,
            propagation,
            slo,
        };
        (config, r.problems)
    }

    fn resolve_service(&self, r: &mut Reader<'_>) -> Service {
        let env_name = r.var("OTEL_SERVICE_NAME", parse::text);
        let mut env_attrs = r
            .var("OTEL_RESOURCE_ATTRIBUTES", parse::resource_attributes)
            .map(|s| s.value)
            .unwrap_or_default();
        let env_environment = r.var("OBSERVE_ENV", parse::text);
        let env_team = r.var("OBSERVE_SERVICE_TEAM", parse::text).map(|s| s.value);
        let env_owner = r.var("OBSERVE_SERVICE_OWNER", parse::text).map(|s| s.value);
        let env_runbook = r
            .var("OBSERVE_SERVICE_RUNBOOK", parse::text)
            .map(|s| s.value);

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
        let [traces, logs, metrics] =
            otlp::destinations(r, &self.otlp, &self.otlp_signal, &self.exporters);

        let span_batch = otlp::resolve_batch(
            r,
            self.span_batch,
            BatchConfig::SPANS,
            &otlp::BSP_VARS,
            "Builder::span_batch",
        );
        let log_batch = otlp::resolve_batch(
            r,
            self.log_batch,
            BatchConfig::LOGS,
            &otlp::BLRP_VARS,
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
            .var("OBSERVE_LOG_FORMAT", parse::log_format)
            .map(|s| s.value)
            .or(self.log_format);
        let output = r
            .var("OBSERVE_LOG_OUTPUT", parse::log_output)
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
        if let Some(added) = r.var("OBSERVE_REDACT_FIELDS", |s| {
            parse::redact_fields(s, &redaction)
        }) {
            redaction = added.value;
        }
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
            .var("OBSERVE_ADMIN_ADDR", parse::admin_addr)
            .map(|s| s.value)
            .or(self.admin_addr)
            .unwrap_or(Some(DEFAULT_ADMIN_ADDR))
            .filter(|_| !self.admin_off);
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
            .var("OBSERVE_FLIGHT_RECORDER_BYTES", parse::memory_budget)
            .map(|s| s.value)
            .or(self.flight_recorder_bytes)
            .unwrap_or(DEFAULT_FLIGHT_RECORDER_BYTES);
        let window = r
            .var("OBSERVE_FLIGHT_RECORDER_WINDOW", parse::recorder_window)
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
            .unwrap_or(Some(DEFAULT_RECORDER_WINDOW));
        let slow_threshold = r
            .var("OBSERVE_SLOW_THRESHOLD", parse::slow_threshold)
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
            .var("OBSERVE_INTERNAL_HOSTS", parse::internal_hosts)
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
            .var("OBSERVE_INBOUND_CONTEXT", parse::inbound_context)
            .or_else(|| {
                self.inbound_context
                    .map(|c| Sourced::code("Builder::inbound_context", c))
            })
            .unwrap_or_else(|| Sourced::fallback(InboundContext::default()));
        let env_callers = r
            .var("OBSERVE_TRUSTED_CALLERS", parse::trusted_callers)
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
                    "{} (trust, the old default, also believes every caller's identity, which OBSERVE_TRUSTED_CALLERS now decides: write continue)",
                    parse::INBOUND_CONTEXT
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
            .var("OBSERVE_TRACER_BULLET_POLICY", parse::tracer_bullet_policy)
            .or_else(|| {
                self.tracer_bullet_policy
                    .map(|p| Sourced::code("Builder::tracer_bullet_policy", p))
            })
            .unwrap_or_else(|| Sourced::fallback(TracerBulletPolicy::default()));

        let problems_before_key = r.problems.len();
        let env_key = r
            .secret_var("OBSERVE_TRACER_BULLET_KEY", parse::tracer_bullet_key)
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
            .var(
                "OBSERVE_TRACER_BULLET_UNTRUSTED_MARKER",
                parse::untrusted_marker,
            )
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::overrides::EnvSource;

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
    fn no_admin_listener_in_code_wins_over_the_environment() {
        let env = |n: &str| (n == "OBSERVE_ADMIN_ADDR").then(|| "127.0.0.1:9471".to_owned());
        let resolve = |admin_off| {
            Overrides {
                env: EnvSource::Lookup(std::sync::Arc::new(env)),
                admin_off,
                ..Overrides::default()
            }
            .resolve()
            .unwrap()
            .admin
            .addr
        };
        assert_eq!(resolve(false), Some("127.0.0.1:9471".parse().unwrap()));
        assert_eq!(resolve(true), None);
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
