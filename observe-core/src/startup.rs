//! What observe says when it starts: one summary line (the service, where each
//! signal goes, the sampler, the log format, the admin address), and a warning for
//! each environment variable that looks like observe's or OpenTelemetry's but is
//! not one observe reads (with the closest known name).
//!
//! Both are log records handed to the pipeline directly (not through a `tracing`
//! macro), so they reach observe's writer whether observe owns the global
//! subscriber ([`init`](crate::init())) or the application composes its own
//! ([`layer`](crate::layer())).

use std::fmt::Write as _;

use tracing_core::{Level, Metadata};

use crate::config::{Config, LogFormat, LogOutput, OtlpExport, VARIABLES};
use crate::log::LogRecord;
use crate::pipeline::Pipeline;
use crate::span::KeyValue;

/// Variables with the `OBSERVE_` prefix that observe's other tools read (the proc
/// macro's debugging switch, this repository's test harnesses): not warned about.
const OTHER_TOOLS: &[&str] = &["OBSERVE_MACROS_DEBUG", "OBSERVE_REGENERATE"];

/// A prefix reserved for test harnesses.
const TEST_PREFIX: &str = "OBSERVE_TEST_";

impl Config {
    /// The startup summary as one readable line: the service, where traces,
    /// metrics and logs go (endpoint and protocol, or nowhere), the sampler, the
    /// log format and the admin address. observe logs it at `INFO` when it starts.
    ///
    /// ```
    /// let config = observe_core::Builder::new()
    ///     .ignore_env()
    ///     .service_name("orders")
    ///     .build_config()?;
    /// let line = config.summary();
    /// assert!(line.starts_with("observe started: orders "), "{line}");
    /// assert!(line.contains("traces → not exported"), "{line}");
    /// # Ok::<(), observe_core::config::ConfigError>(())
    /// ```
    pub fn summary(&self) -> String {
        Fields::of(self, AdminAddr::configured(self)).line()
    }

    /// The summary of an instance started beside the application's own `tracing`
    /// subscriber, which writes the log lines (observe's writer is off).
    pub(crate) fn summary_beside_subscriber(&self) -> String {
        let mut fields = Fields::of(self, AdminAddr::configured(self));
        // Its events do not reach observe: nothing of them to export either.
        fields.logs = "written by the application's tracing subscriber".to_owned();
        fields.line()
    }
}

/// The admin listener as the summary shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AdminAddr {
    /// None configured (or a build without the `admin` feature).
    Off,
    /// Listening here (the port the system chose, for `:0`).
    Listening(std::net::SocketAddr),
    /// Configured here, but it could not be set up (a warning follows).
    #[cfg_attr(not(feature = "admin"), allow(dead_code))]
    Failed(std::net::SocketAddr),
}

impl AdminAddr {
    /// What the configuration asks for, before anything is bound.
    fn configured(config: &Config) -> AdminAddr {
        config
            .admin
            .addr
            .map_or(AdminAddr::Off, AdminAddr::Listening)
    }
}

/// The summary's parts, also logged as the line's fields.
struct Fields {
    service: String,
    version: String,
    traces: String,
    metrics: String,
    logs: String,
    sampler: String,
    log_format: &'static str,
    admin: String,
}

impl Fields {
    fn of(config: &Config, admin: AdminAddr) -> Fields {
        let otlp = |e: &OtlpExport| {
            format!(
                "{} ({})",
                crate::config::shown_endpoint(&e.endpoint),
                e.protocol.as_str()
            )
        };
        let log_format = match config.logs.format {
            LogFormat::Pretty => "pretty",
            _ => "json",
        };
        let traces = match &config.export.traces {
            Some(e) => otlp(e),
            None if config.flight_recorder.bytes.is_some() => {
                "not exported (kept in the flight recorder)".to_owned()
            }
            None => "not exported".to_owned(),
        };
        let metrics = match (&config.export.metrics, admin) {
            (Some(e), _) => otlp(e),
            (None, AdminAddr::Listening(addr)) => format!("Prometheus at http://{addr}/metrics"),
            (None, AdminAddr::Failed(_)) => "not exported".to_owned(),
            // The application may serve `admin_routes()` itself (`serve!` with
            // `without_admin()`): observe cannot tell, so it says where they are.
            (None, AdminAddr::Off) => {
                "not exported by observe (no admin listener: /metrics is served where the \
                 application mounts the admin routes, if it does)"
                    .to_owned()
            }
        };
        let mut logs = match config.logs.output {
            LogOutput::Stdout => format!("stdout ({log_format})"),
            LogOutput::Stderr => format!("stderr ({log_format})"),
            _ => "not written".to_owned(),
        };
        if let Some(e) = &config.export.logs {
            let _ = write!(logs, " and {}", otlp(e));
        }
        let sampler = match config.sampler.ratio() {
            Some(r) => format!("{}({r})", config.sampler.name()),
            None => config.sampler.name().to_owned(),
        };
        let admin = match admin {
            AdminAddr::Listening(addr) => format!("http://{addr}"),
            AdminAddr::Failed(addr) => {
                format!("http://{addr} (not listening: it failed, see below)")
            }
            AdminAddr::Off => "off".to_owned(),
        };
        Fields {
            service: config.service.name.clone(),
            version: config.service.version.clone(),
            traces,
            metrics,
            logs,
            sampler,
            log_format,
            admin,
        }
    }

    /// The summary line ([`Config::summary`]).
    fn line(&self) -> String {
        let mut s = format!("observe started: {} {}", self.service, self.version);
        let _ = write!(
            s,
            "; traces → {}; metrics → {}; logs → {}; sampler {}; admin {}",
            self.traces, self.metrics, self.logs, self.sampler, self.admin
        );
        s
    }
}

/// Logs the summary line and the unknown-variable warnings into `pipeline`.
/// `process_env`: the configuration was read from the process environment (not
/// from a lookup given in code), so its other variables are worth a look.
/// `admin`: the admin listener as it was set up (its port chosen by the system when
/// the configuration said `:0`), shown instead of the configured address.
pub(crate) fn announce(
    pipeline: &'static Pipeline,
    config: &Config,
    admin: AdminAddr,
    process_env: bool,
) {
    let f = Fields::of(config, admin);
    let fields = [
        ("service", f.service.clone()),
        ("version", f.version.clone()),
        ("traces", f.traces.clone()),
        ("metrics", f.metrics.clone()),
        ("logs", f.logs.clone()),
        ("sampler", f.sampler.clone()),
        ("log_format", f.log_format.to_owned()),
        ("admin", f.admin.clone()),
    ];
    pipeline.push_log(record(&SUMMARY, f.line(), &fields));
    if process_env {
        let names = std::env::vars_os().filter_map(|(k, _)| k.into_string().ok());
        for (name, message) in unknown_variables(names) {
            pipeline.push_log(record(&WARNING, message, &[("variable", name)]));
        }
    }
}

fn record(
    metadata: &'static Metadata<'static>,
    message: String,
    fields: &[(&'static str, String)],
) -> LogRecord {
    LogRecord {
        time: crate::clock::Tick::now(),
        metadata,
        message: message.into(),
        fields: fields
            .iter()
            .map(|(k, v)| KeyValue::new(*k, v.clone()))
            .collect(),
        span: None,
        context: None,
    }
}

/// The `OBSERVE_*` and `OTEL_*` names among `names` that observe does not read,
/// each with the warning to log (sorted by name).
pub(crate) fn unknown_variables(names: impl Iterator<Item = String>) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = names
        .filter(|n| n.starts_with("OBSERVE_") || n.starts_with("OTEL_"))
        .filter(|n| !VARIABLES.contains(&n.as_str()))
        .filter(|n| !OTHER_TOOLS.contains(&n.as_str()) && !n.starts_with(TEST_PREFIX))
        .map(|name| {
            let mut message = if name.starts_with("OBSERVE_") {
                format!("{name} is not an observe variable; it is ignored")
            } else {
                format!("{name} is not supported by observe; it is ignored")
            };
            match closest(&name) {
                Some(known) => {
                    let _ = write!(message, " (did you mean {known}?)");
                }
                None => message.push_str(" (docs/configuration.md lists every variable)"),
            }
            (name, message)
        })
        .collect();
    out.sort();
    out
}

/// The known variable closest to `name`, when it is close enough to be a typo.
fn closest(name: &str) -> Option<&'static str> {
    let (best, distance) = VARIABLES
        .iter()
        .map(|known| (*known, edit_distance(name, known)))
        .min_by_key(|&(_, d)| d)?;
    // A few typed characters, more for long names.
    (distance <= 2 + name.len() / 12).then_some(best)
}

/// Levenshtein distance over bytes (the names are ASCII).
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for (i, &ca) in a.iter().enumerate() {
        current[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let substitute = previous[j] + usize::from(ca != cb);
            current[j + 1] = substitute.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

crate::log::direct_event!(
    /// The summary line's callsite: built here, not by a `tracing` macro, because
    /// the record goes into the pipeline directly.
    static SUMMARY = (
        "observe startup summary",
        "observe",
        Level::INFO,
        &[
            "message",
            "service",
            "version",
            "traces",
            "metrics",
            "logs",
            "sampler",
            "log_format",
            "admin",
        ],
    );
);

crate::log::direct_event!(
    /// The unknown-variable warning's callsite (see [`SUMMARY`]).
    static WARNING = (
        "observe unknown variable",
        "observe",
        Level::WARN,
        &["message", "variable"],
    );
);

#[cfg(test)]
mod tests {
    use super::*;

    fn unknown(names: &[&str]) -> Vec<(String, String)> {
        unknown_variables(names.iter().map(|n| (*n).to_owned()))
    }

    #[test]
    fn a_typo_in_an_observe_variable_suggests_the_known_one() {
        let w = unknown(&["OBSERVE_LOG_FROMAT", "PATH", "OBSERVE_LOG_FORMAT"]);
        assert_eq!(w.len(), 1, "{w:?}");
        assert_eq!(w[0].0, "OBSERVE_LOG_FROMAT");
        assert_eq!(
            w[0].1,
            "OBSERVE_LOG_FROMAT is not an observe variable; it is ignored \
             (did you mean OBSERVE_LOG_FORMAT?)"
        );
    }

    #[test]
    fn an_unsupported_otel_variable_is_named_and_far_ones_get_no_guess() {
        let w = unknown(&[
            "OTEL_PROPAGATORS",
            "OTEL_TRACE_SAMPLER",
            "OTEL_SERVICE_NAME",
        ]);
        assert_eq!(w.len(), 2, "{w:?}");
        assert_eq!(w[0].0, "OTEL_PROPAGATORS");
        assert!(w[0].1.contains("not supported by observe"), "{}", w[0].1);
        assert!(w[0].1.contains("docs/configuration.md"), "{}", w[0].1);
        assert!(
            w[1].1.ends_with("(did you mean OTEL_TRACES_SAMPLER?)"),
            "{}",
            w[1].1
        );
    }

    #[test]
    fn tools_and_test_harness_variables_are_not_warned_about() {
        assert!(unknown(&["OBSERVE_MACROS_DEBUG", "OBSERVE_TEST_PYTHON", "RUST_LOG"]).is_empty());
    }

    #[test]
    fn edit_distance_counts_insertions_deletions_and_substitutions() {
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("same", "same"), 0);
    }

    #[test]
    fn beside_the_applications_subscriber_the_summary_says_who_writes_the_lines() {
        let config = crate::Builder::new()
            .env_lookup(|name| (name == "OBSERVE_LOG_OUTPUT").then(|| "none".into()))
            .build_config()
            .unwrap();
        assert!(config.summary().contains("logs → not written;"));
        let line = config.summary_beside_subscriber();
        assert!(
            line.contains("logs → written by the application's tracing subscriber;"),
            "{line}"
        );
    }

    #[test]
    fn the_summary_says_where_each_signal_goes() {
        let config = crate::Builder::new()
            .env_lookup(|name| match name {
                "OTEL_SERVICE_NAME" => Some("orders".into()),
                "OTEL_EXPORTER_OTLP_ENDPOINT" => Some("http://collector:4318".into()),
                "OTEL_TRACES_SAMPLER" => Some("traceidratio".into()),
                "OTEL_TRACES_SAMPLER_ARG" => Some("0.25".into()),
                "OBSERVE_LOG_FORMAT" => Some("json".into()),
                _ => None,
            })
            .build_config()
            .unwrap();
        let line = config.summary();
        assert!(line.starts_with("observe started: orders "), "{line}");
        assert!(
            line.contains("traces → http://collector:4318/v1/traces (http/protobuf)"),
            "{line}"
        );
        assert!(
            line.contains("logs → stdout (json) and http://collector"),
            "{line}"
        );
        assert!(line.contains("sampler traceidratio(0.25)"), "{line}");
        assert!(line.contains("admin http://127.0.0.1:9464"), "{line}");
    }

    #[test]
    fn without_an_admin_listener_the_summary_does_not_claim_metrics_are_unserved() {
        let config = crate::Builder::new()
            .ignore_env()
            .admin_addr(None)
            .build_config()
            .unwrap();
        let line = config.summary();
        assert!(
            line.contains("metrics → not exported by observe (no admin listener"),
            "{line}"
        );
    }

    #[test]
    fn an_admin_listener_that_failed_is_not_shown_as_listening() {
        let config = crate::Builder::new().ignore_env().build_config().unwrap();
        let addr: std::net::SocketAddr = "127.0.0.1:9464".parse().unwrap();
        let line = Fields::of(&config, AdminAddr::Failed(addr)).line();
        assert!(
            line.contains("admin http://127.0.0.1:9464 (not listening: it failed"),
            "{line}"
        );
        assert!(
            !line.contains("/metrics"),
            "no Prometheus to scrape: {line}"
        );
        let line = Fields::of(&config, AdminAddr::Listening(addr)).line();
        assert!(
            line.contains("Prometheus at http://127.0.0.1:9464/metrics"),
            "{line}"
        );
    }
}
