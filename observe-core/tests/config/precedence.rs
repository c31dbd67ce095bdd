//! Precedence: the environment overrides the builder, which overrides the defaults;
//! values given in code are validated too.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use observe_core::Builder;
use observe_core::config::{
    BatchConfig, Compression, ExporterKind, InboundContext, LogFormat, LogOutput, Protocol,
    Sampler, Signal, TracerBulletPolicy,
};

use crate::support::{env, resolve};

fn admin() -> SocketAddr {
    "127.0.0.1:7000".parse().unwrap()
}

#[test]
fn builder_values_apply_when_the_environment_is_silent() {
    let c = resolve(
        env(&[])
            .sampler(Sampler::TraceIdRatio(0.3))
            .log_filter("debug")
            .log_format(LogFormat::Pretty)
            .log_output(LogOutput::Stderr)
            .log_buffer_lines(10)
            .admin_addr(admin())
            .metrics_window(Duration::from_secs(60))
            .metrics_slice(Duration::from_secs(5))
            .metrics_max_keys(7)
            .flight_recorder_bytes(0)
            .slow_threshold(Duration::from_millis(800))
            .shutdown_timeout(Duration::from_secs(1))
            .inbound_context(InboundContext::Restart)
            .tracer_bullet_policy(TracerBulletPolicy::Trusted)
            .tracer_bullet_max_age(Duration::from_secs(20))
            .metric_export_interval(Duration::from_secs(10))
            .span_batch(BatchConfig::SPANS.with_max_queue_size(4096)),
    );
    assert_eq!(c.sampler, Sampler::TraceIdRatio(0.3));
    assert_eq!(c.logs.filter, "debug");
    assert_eq!(c.logs.format, LogFormat::Pretty);
    assert_eq!(c.logs.output, LogOutput::Stderr);
    assert_eq!(c.logs.buffer_lines, 10);
    assert_eq!(c.admin.addr, Some(admin()));
    assert_eq!(c.metrics.slices(), 12);
    assert_eq!(c.metrics.max_keys, 7);
    assert_eq!(c.flight_recorder.bytes, None);
    assert_eq!(
        c.flight_recorder.slow_threshold,
        Some(Duration::from_millis(800))
    );
    assert_eq!(c.shutdown_timeout, Duration::from_secs(1));
    assert_eq!(c.propagation.inbound_context, InboundContext::Restart);
    assert_eq!(
        c.propagation.tracer_bullet_policy,
        TracerBulletPolicy::Trusted
    );
    assert_eq!(c.propagation.tracer_bullet_max_age, Duration::from_secs(20));
    assert_eq!(c.export.metric_export_interval, Duration::from_secs(10));
    assert_eq!(c.export.span_batch.max_queue_size, 4096);
}

#[test]
fn the_environment_overrides_the_builder() {
    let c = resolve(
        env(&[
            ("OTEL_TRACES_SAMPLER", "always_off"),
            ("RUST_LOG", "warn"),
            ("OBSERVE_LOG_FORMAT", "json"),
            ("OBSERVE_ADMIN_ADDR", "off"),
            ("OBSERVE_SLOW_THRESHOLD", "auto"),
            ("OBSERVE_INBOUND_CONTEXT", "trust"),
            ("OTEL_BSP_MAX_QUEUE_SIZE", "1024"),
            ("OBSERVE_FLIGHT_RECORDER_BYTES", "1MiB"),
        ])
        .sampler(Sampler::TraceIdRatio(0.3))
        .log_filter("debug")
        .log_format(LogFormat::Pretty)
        .admin_addr(admin())
        .slow_threshold(Duration::from_millis(800))
        .inbound_context(InboundContext::Restart)
        .span_batch(
            BatchConfig::SPANS
                .with_max_queue_size(4096)
                .with_max_export_batch_size(1000),
        )
        .flight_recorder_bytes(0),
    );
    assert_eq!(c.sampler, Sampler::AlwaysOff);
    assert_eq!(c.logs.filter, "warn");
    assert_eq!(c.logs.format, LogFormat::Json);
    assert_eq!(c.admin.addr, None);
    assert_eq!(c.flight_recorder.slow_threshold, None);
    // `trust`: continue, and believe every caller (observe 0.1's meaning).
    assert_eq!(c.propagation.inbound_context, InboundContext::Continue);
    assert!(c.propagation.trusted_callers.is_any());
    // One field from the environment, the other from the builder.
    assert_eq!(c.export.span_batch.max_queue_size, 1024);
    assert_eq!(c.export.span_batch.max_export_batch_size, 1000);
    assert_eq!(c.flight_recorder.bytes.map(|b| b.get()), Some(1 << 20));
}

#[test]
fn the_sampler_argument_alone_replaces_the_builders_ratio() {
    let c = resolve(
        env(&[("OTEL_TRACES_SAMPLER_ARG", "0.05")]).sampler(Sampler::ParentBasedTraceIdRatio(0.5)),
    );
    assert_eq!(c.sampler, Sampler::ParentBasedTraceIdRatio(0.05));
    let err = env(&[("OTEL_TRACES_SAMPLER_ARG", "0.05")])
        .sampler(Sampler::AlwaysOn)
        .build_config()
        .unwrap_err();
    assert!(
        err.problems()[0]
            .expected()
            .contains("always_on (Builder::sampler)"),
        "{err}"
    );
}

#[test]
fn redaction_names_accumulate_and_internal_hosts_are_replaced() {
    let c = resolve(
        env(&[
            ("OBSERVE_REDACT_FIELDS", "email"),
            ("OBSERVE_INTERNAL_HOSTS", "*.prod.internal"),
        ])
        .redact_fields(["ssn"])
        .internal_hosts(["*.dev.internal"]),
    );
    assert!(c.logs.redaction.is_sensitive("ssn"));
    assert!(c.logs.redaction.is_sensitive("email"));
    let hosts = &c.propagation.internal_hosts;
    assert!(hosts.is_internal("a.prod.internal", Some(80)));
    assert!(!hosts.is_internal("a.dev.internal", Some(80)));
}

#[test]
fn otlp_precedence_is_env_signal_env_generic_code_signal_code_generic() {
    let builder = || {
        Builder::new()
            .otlp_endpoint("http://code-generic:4318")
            .otlp_signal_endpoint(Signal::Logs, "http://code-logs:4318/ingest")
            .otlp_protocol(Protocol::HttpProtobuf)
            .otlp_header("x-code", "1")
            .otlp_signal_header(Signal::Metrics, "x-code-metrics", "2")
            .otlp_timeout(Duration::from_secs(3))
            .otlp_signal_timeout(Signal::Logs, Duration::from_secs(4))
            .otlp_compression(Compression::None)
            .otlp_signal_compression(Signal::Traces, Compression::None)
            .exporter(Signal::Metrics, ExporterKind::Otlp)
    };
    // Code only.
    let c = resolve(builder().ignore_env());
    let [t, l, m] = Signal::ALL.map(|s| c.export.signal(s).unwrap().clone());
    assert_eq!(t.endpoint, "http://code-generic:4318/v1/traces");
    assert_eq!(
        l.endpoint, "http://code-logs:4318/ingest",
        "per-signal, as given"
    );
    assert_eq!(m.endpoint, "http://code-generic:4318/v1/metrics");
    assert_eq!(t.headers.get("x-code"), Some("1"));
    assert_eq!(
        m.headers.get("x-code"),
        None,
        "per-signal headers replace generic ones"
    );
    assert_eq!(m.headers.get("x-code-metrics"), Some("2"));
    assert_eq!(t.timeout, Duration::from_secs(3));
    assert_eq!(l.timeout, Duration::from_secs(4));

    // The generic variable beats even a per-signal builder value: operators win.
    let vars = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://env-generic:4318"),
        (
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "http://env-traces:4318/t",
        ),
        ("OTEL_EXPORTER_OTLP_HEADERS", "x-env=3"),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "6000"),
        ("OTEL_METRICS_EXPORTER", "none"),
    ];
    let map: std::collections::HashMap<_, _> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let c = resolve(builder().env_lookup(move |n| map.get(n).cloned()));
    let t = c.export.traces.as_ref().unwrap();
    let l = c.export.logs.as_ref().unwrap();
    assert_eq!(t.endpoint, "http://env-traces:4318/t");
    assert_eq!(l.endpoint, "http://env-generic:4318/v1/logs");
    assert_eq!(
        c.export.metrics, None,
        "OTEL_METRICS_EXPORTER=none beats Builder::exporter"
    );
    assert_eq!(t.headers.iter().collect::<Vec<_>>(), [("x-env", "3")]);
    assert_eq!(l.timeout, Duration::from_secs(6));
}

#[test]
fn ignore_env_never_calls_the_lookup() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    let builder = Builder::new()
        .env_lookup(move |_| {
            counter.fetch_add(1, Ordering::Relaxed);
            Some("garbage".to_owned())
        })
        .ignore_env();
    let c = resolve(builder);
    assert_eq!(calls.load(Ordering::Relaxed), 0);
    assert_eq!(c.logs.filter, "info");
}

#[test]
fn bad_values_in_code_are_reported_with_the_method_name() {
    let err = Builder::new()
        .ignore_env()
        .otlp_endpoint("collector:4318")
        .log_filter("my_app=loud")
        .internal_hosts(["ok.internal", "*"])
        .sampler(Sampler::TraceIdRatio(2.0))
        .metrics_slice(Duration::from_secs(7))
        .log_buffer_lines(0)
        .tracer_bullet_key(vec![1u8; 8])
        .otlp_header("bad name", "v")
        .build_config()
        .unwrap_err();
    let got: Vec<(&str, &str, bool)> = err
        .problems()
        .iter()
        .map(|p| (p.variable(), p.value(), p.is_from_code()))
        .collect();
    assert_eq!(
        got,
        [
            ("Builder::otlp_endpoint", "collector:4318", true),
            ("Builder::otlp_header", "<redacted>", true),
            ("Builder::sampler", "TraceIdRatio(2.0)", true),
            ("Builder::log_filter", "my_app=loud", true),
            ("Builder::log_buffer_lines", "0", true),
            ("Builder::metrics_slice", "7s", true),
            ("Builder::internal_hosts", "ok.internal,*", true),
            ("Builder::tracer_bullet_key", "<redacted>", true),
        ]
    );
    assert!(
        err.to_string().contains(
            r#"Builder::otlp_endpoint("collector:4318"): expected an http:// or https:// URL"#
        ),
        "{err}"
    );
}

#[test]
fn values_in_code_are_validated_even_when_the_environment_overrides_them() {
    // A bug in code is reported where it is, not only once the operator unsets the
    // variable that hid it.
    let err = env(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
        ("RUST_LOG", "info"),
    ])
    .otlp_endpoint("not a url")
    .log_filter("my_app=loud")
    .build_config()
    .unwrap_err();
    let variables: Vec<&str> = err.problems().iter().map(|p| p.variable()).collect();
    assert_eq!(variables, ["Builder::otlp_endpoint", "Builder::log_filter"]);
}
