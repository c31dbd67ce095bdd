//! OTLP export settings: the variables and builder methods of each scope (generic and
//! per signal), how they resolve into each signal's destination, and the batch
//! processors' variables.

use std::fmt;
use std::time::Duration;

use super::error::Problem;
use super::export::{self, BatchConfig, Compression, ExporterKind, OtlpExport, Protocol, Signal};
use super::overrides::OtlpSettings;
use super::parse::{self, parse_compression, parse_exporter, parse_headers, parse_protocol};
use super::secret::Headers;
use super::sourced::{Reader, Sourced, Src, first, push_once};
use super::tls;

/// The OTLP destination of each signal, in [`Signal::ALL`] order (`None` for a signal
/// not exported): every setting by the OpenTelemetry precedence (the signal's
/// variable, the generic variable, the signal's builder setting, the generic builder
/// setting), its TLS files, and a problem for what this build cannot do.
pub(super) fn destinations(
    r: &mut Reader<'_>,
    generic: &OtlpSettings,
    signals: &[OtlpSettings; 3],
    exporters: &[Option<ExporterKind>; 3],
) -> [Option<OtlpExport>; 3] {
    let env_generic = EnvOtlp::read(r, &GENERIC_VARS);
    let env_signal = SIGNAL_VARS.map(|vars| EnvOtlp::read(r, &vars));
    let env_exporters = EXPORTER_VARS.map(|var| r.var(var, parse_exporter));
    let env_tls = tls::EnvTls::read(|var| r.raw(var, false));

    let code_generic = CodeOtlp::new(r, generic, &GENERIC_METHODS);
    let code_signal = signals
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
            .or_else(|| exporters[i].map(|e| Sourced::code(EXPORTER_METHOD, e)));
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
            && tls::is_https(&e.value)
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
        let (tls, tls_problems) = tls::resolve(
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
    destinations
}

/// The variables of one scope (generic or one signal).
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

/// The builder methods of one scope (generic or per signal), named in problems.
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

/// The variables of the batch span processor, in [`resolve_batch`] order.
pub(super) const BSP_VARS: [&str; 4] = [
    "OTEL_BSP_SCHEDULE_DELAY",
    "OTEL_BSP_EXPORT_TIMEOUT",
    "OTEL_BSP_MAX_QUEUE_SIZE",
    "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
];

/// The variables of the batch log record processor, in [`resolve_batch`] order.
pub(super) const BLRP_VARS: [&str; 4] = [
    "OTEL_BLRP_SCHEDULE_DELAY",
    "OTEL_BLRP_EXPORT_TIMEOUT",
    "OTEL_BLRP_MAX_QUEUE_SIZE",
    "OTEL_BLRP_MAX_EXPORT_BATCH_SIZE",
];

/// One batch configuration: each variable overrides its own field of the builder's
/// value (or the default); the batch never exceeds the queue.
pub(super) fn resolve_batch(
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
