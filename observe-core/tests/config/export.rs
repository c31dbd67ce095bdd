//! OTLP export: endpoint resolution (the OpenTelemetry specification's examples),
//! protocol, headers, timeouts, compression, exporters and batching.

use std::time::Duration;

use observe_core::config::{BatchConfig, Compression, Config, OtlpExport, Protocol, Signal};

use crate::support::{config, error, problem, rejects};

fn endpoints(c: &Config) -> [Option<&str>; 3] {
    Signal::ALL.map(|s| c.export.signal(s).map(|e| e.endpoint.as_str()))
}

fn traces(c: &Config) -> &OtlpExport {
    c.export.traces.as_ref().expect("traces are exported")
}

#[test]
fn no_endpoint_means_no_export() {
    assert_eq!(endpoints(&config(&[])), [None, None, None]);
}

#[test]
fn the_generic_endpoint_gets_the_signal_path_appended() {
    // Spec: OTEL_EXPORTER_OTLP_ENDPOINT=http://collector:4318
    let c = config(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")]);
    assert_eq!(
        endpoints(&c),
        [
            Some("http://collector:4318/v1/traces"),
            Some("http://collector:4318/v1/logs"),
            Some("http://collector:4318/v1/metrics"),
        ]
    );
    let t = traces(&c);
    assert_eq!(t.protocol, Protocol::HttpProtobuf);
    assert_eq!(t.timeout, Duration::from_secs(10));
    assert_eq!(t.compression, Compression::None);
    assert!(t.headers.is_empty());
}

#[test]
fn a_base_path_is_kept_and_joined_with_one_slash() {
    // Spec: https://collector.example.com:4318/mycollector/ (and without the slash).
    for base in [
        "https://collector.example.com:4318/mycollector/",
        "https://collector.example.com:4318/mycollector",
    ] {
        let c = config(&[("OTEL_EXPORTER_OTLP_ENDPOINT", base)]);
        assert_eq!(
            endpoints(&c),
            [
                Some("https://collector.example.com:4318/mycollector/v1/traces"),
                Some("https://collector.example.com:4318/mycollector/v1/logs"),
                Some("https://collector.example.com:4318/mycollector/v1/metrics"),
            ],
            "{base}"
        );
    }
}

#[test]
fn a_per_signal_endpoint_is_used_as_is_and_wins_over_the_generic_one() {
    // Spec: OTEL_EXPORTER_OTLP_ENDPOINT=http://collector:4318 and
    // OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=http://collector:4318/v1/traces.
    let c = config(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
        (
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "https://traces.example.com/custom",
        ),
    ]);
    assert_eq!(
        endpoints(&c),
        [
            Some("https://traces.example.com/custom"),
            Some("http://collector:4318/v1/logs"),
            Some("http://collector:4318/v1/metrics"),
        ]
    );
    // Spec: no path is added to a per-signal endpoint, even a bare host or a
    // trailing slash.
    for given in [
        "https://collector.example.com",
        "https://collector.example.com/",
        "https://collector.example.com/v1/traces/",
    ] {
        let c = config(&[("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", given)]);
        assert_eq!(traces(&c).endpoint, given);
    }
}

#[test]
fn only_signals_with_an_endpoint_are_exported() {
    let c = config(&[(
        "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
        "http://m:4318/v1/metrics",
    )]);
    assert_eq!(
        endpoints(&c),
        [None, None, Some("http://m:4318/v1/metrics")]
    );
}

#[test]
fn exporters_switch_signals_off_and_on() {
    let c = config(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
        ("OTEL_TRACES_EXPORTER", "none"),
        ("OTEL_METRICS_EXPORTER", "NONE"),
    ]);
    assert_eq!(
        endpoints(&c),
        [None, Some("http://collector:4318/v1/logs"), None]
    );

    // `otlp` set explicitly without an endpoint: the OpenTelemetry default.
    let c = config(&[("OTEL_LOGS_EXPORTER", "otlp")]);
    assert_eq!(
        endpoints(&c),
        [None, Some("http://localhost:4318/v1/logs"), None]
    );

    rejects(
        "OTEL_TRACES_EXPORTER",
        &["console"],
        "otlp or none (console is not supported)",
    );
    rejects(
        "OTEL_METRICS_EXPORTER",
        &["prometheus"],
        "(prometheus is not supported)",
    );
    rejects(
        "OTEL_LOGS_EXPORTER",
        &["otlp,console", "kafka"],
        "otlp or none",
    );
}

#[test]
fn endpoints_must_be_http_urls() {
    rejects(
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        &[
            "collector:4318",
            "localhost",
            "ftp://collector",
            "//collector:4318",
        ],
        "an http:// or https:// URL such as http://collector:4318",
    );
    rejects(
        "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
        &["not a url"],
        "an http:// or https:// URL",
    );
}

#[test]
fn credentials_in_an_endpoint_are_refused_and_never_echoed() {
    let (var, value, expected) = problem(&[(
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "https://user:hunter2@collector:4318",
    )]);
    assert_eq!(var, "OTEL_EXPORTER_OTLP_ENDPOINT");
    assert!(
        !value.contains("hunter2") && !value.contains("user"),
        "{value}"
    );
    assert!(value.contains("collector:4318"), "{value}");
    assert!(
        expected.contains("OTEL_EXPORTER_OTLP_HEADERS"),
        "{expected}"
    );
}

#[test]
fn protocols_are_resolved_per_signal() {
    rejects(
        "OTEL_EXPORTER_OTLP_PROTOCOL",
        &["http/json"],
        "grpc or http/protobuf (http/json is not supported)",
    );
    rejects(
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        &["thrift"],
        "grpc or http/protobuf",
    );
    let c = config(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "HTTP/PROTOBUF"),
    ]);
    assert_eq!(traces(&c).protocol, Protocol::HttpProtobuf);
}

#[cfg(feature = "grpc")]
#[test]
fn grpc_uses_the_generic_endpoint_as_is() {
    let c = config(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ("OTEL_EXPORTER_OTLP_LOGS_PROTOCOL", "http/protobuf"),
    ]);
    assert_eq!(
        endpoints(&c),
        [
            Some("http://collector:4317"),
            Some("http://collector:4317/v1/logs"),
            Some("http://collector:4317"),
        ]
    );
    assert_eq!(traces(&c).protocol, Protocol::Grpc);
    let c = config(&[
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ("OTEL_TRACES_EXPORTER", "otlp"),
    ]);
    assert_eq!(traces(&c).endpoint, "http://localhost:4317");
}

#[cfg(not(feature = "grpc"))]
#[test]
fn grpc_without_the_feature_is_an_error_naming_the_protocol_variable() {
    let (var, value, expected) = problem(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
    ]);
    assert_eq!(
        (var.as_str(), value.as_str()),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
    );
    assert!(
        expected
            .contains("enable the `grpc` feature of observe-axum, observe-tonic or observe-core"),
        "{expected}"
    );
    // Without an exported signal, grpc is never used, so it is not an error.
    assert!(
        config(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")])
            .export
            .traces
            .is_none()
    );
}

#[test]
fn headers_are_decoded_and_per_signal_headers_replace_generic_ones() {
    let c = config(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
        (
            "OTEL_EXPORTER_OTLP_HEADERS",
            "Api-Key=abc%3D%3D, x-tenant = acme",
        ),
        ("OTEL_EXPORTER_OTLP_LOGS_HEADERS", "x-logs-token=t"),
    ]);
    let traces = &traces(&c).headers;
    assert_eq!(
        traces.iter().collect::<Vec<_>>(),
        [("api-key", "abc=="), ("x-tenant", "acme")]
    );
    let logs = &c.export.logs.as_ref().unwrap().headers;
    assert_eq!(logs.iter().collect::<Vec<_>>(), [("x-logs-token", "t")]);
}

#[test]
fn bad_headers_name_the_variable_but_not_the_value() {
    for bad in ["api-key", "bad name=v", "k=%zz", "k=a\u{7f}b"] {
        let (var, value, expected) = problem(&[("OTEL_EXPORTER_OTLP_TRACES_HEADERS", bad)]);
        assert_eq!(var, "OTEL_EXPORTER_OTLP_TRACES_HEADERS", "{bad:?}");
        assert_eq!(value, "<redacted>", "{bad:?}");
        assert!(
            expected.starts_with("a comma-separated list of name=value headers"),
            "{expected}"
        );
    }
}

#[test]
fn timeouts_are_milliseconds_and_per_signal_ones_win() {
    let c = config(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
        ("OTEL_EXPORTER_OTLP_METRICS_TIMEOUT", "30000"),
    ]);
    assert_eq!(traces(&c).timeout, Duration::from_millis(2500));
    assert_eq!(
        c.export.metrics.as_ref().unwrap().timeout,
        Duration::from_secs(30)
    );
    rejects(
        "OTEL_EXPORTER_OTLP_TIMEOUT",
        &["2s", "0", "-1", "1.5"],
        "a whole number of milliseconds",
    );
}

#[test]
fn compression_is_gzip_or_none() {
    rejects(
        "OTEL_EXPORTER_OTLP_COMPRESSION",
        &["zstd", "deflate"],
        "gzip or none",
    );
    let vars = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
        ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
        ("OTEL_EXPORTER_OTLP_LOGS_COMPRESSION", "none"),
    ];
    if cfg!(feature = "gzip") {
        let c = config(&vars);
        assert_eq!(traces(&c).compression, Compression::Gzip);
        assert_eq!(
            c.export.logs.as_ref().unwrap().compression,
            Compression::None
        );
    } else {
        let (var, _, expected) = problem(&vars);
        assert_eq!(var, "OTEL_EXPORTER_OTLP_COMPRESSION");
        assert!(
            expected.contains(
                "enable the `gzip` feature of observe-axum, observe-tonic or observe-core"
            ),
            "{expected}"
        );
    }
}

#[test]
fn batch_settings_follow_the_spec_defaults_and_override_field_by_field() {
    let c = config(&[]);
    assert_eq!(c.export.span_batch, BatchConfig::SPANS);
    assert_eq!(c.export.log_batch, BatchConfig::LOGS);
    assert_eq!(c.export.metric_export_interval, Duration::from_secs(60));
    assert_eq!(c.export.metric_export_timeout, Duration::from_secs(30));

    let c = config(&[
        ("OTEL_BSP_SCHEDULE_DELAY", "200"),
        ("OTEL_BSP_EXPORT_TIMEOUT", "1000"),
        ("OTEL_BSP_MAX_QUEUE_SIZE", "8192"),
        ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "1024"),
        ("OTEL_BLRP_MAX_QUEUE_SIZE", "100"),
        ("OTEL_BLRP_MAX_EXPORT_BATCH_SIZE", "100"),
        ("OTEL_BLRP_SCHEDULE_DELAY", "50"),
        ("OTEL_BLRP_EXPORT_TIMEOUT", "700"),
        ("OTEL_METRIC_EXPORT_INTERVAL", "15000"),
        ("OTEL_METRIC_EXPORT_TIMEOUT", "5000"),
    ]);
    let spans = c.export.span_batch;
    assert_eq!(spans.schedule_delay, Duration::from_millis(200));
    assert_eq!(spans.export_timeout, Duration::from_secs(1));
    assert_eq!(
        (spans.max_queue_size, spans.max_export_batch_size),
        (8192, 1024)
    );
    let logs = c.export.log_batch;
    assert_eq!(
        (logs.max_queue_size, logs.max_export_batch_size),
        (100, 100)
    );
    assert_eq!(logs.schedule_delay, Duration::from_millis(50));
    assert_eq!(logs.export_timeout, Duration::from_millis(700));
    assert_eq!(c.export.metric_export_interval, Duration::from_secs(15));
    assert_eq!(c.export.metric_export_timeout, Duration::from_secs(5));

    for var in [
        "OTEL_BSP_SCHEDULE_DELAY",
        "OTEL_BLRP_EXPORT_TIMEOUT",
        "OTEL_METRIC_EXPORT_INTERVAL",
    ] {
        rejects(var, &["5s", "0"], "a whole number of milliseconds");
    }
    for var in ["OTEL_BSP_MAX_QUEUE_SIZE", "OTEL_BLRP_MAX_EXPORT_BATCH_SIZE"] {
        rejects(var, &["0", "many"], "a whole number greater than 0");
    }
}

#[test]
fn the_batch_may_not_exceed_the_queue() {
    let (var, value, expected) = problem(&[("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "10000")]);
    assert_eq!(
        (var.as_str(), value.as_str()),
        ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "10000")
    );
    assert_eq!(
        expected,
        "at most the queue size, 8192 (OTEL_BSP_MAX_QUEUE_SIZE)"
    );

    // Only the queue set, below the default batch: the queue is to blame.
    let (var, value, expected) = problem(&[("OTEL_BLRP_MAX_QUEUE_SIZE", "100")]);
    assert_eq!(
        (var.as_str(), value.as_str()),
        ("OTEL_BLRP_MAX_QUEUE_SIZE", "100")
    );
    assert_eq!(
        expected,
        "at least the batch size, 512 (OTEL_BLRP_MAX_EXPORT_BATCH_SIZE)"
    );

    let err = error(&[
        ("OTEL_BSP_MAX_QUEUE_SIZE", "10"),
        ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "20"),
    ]);
    assert_eq!(err.problems().len(), 1);
    assert_eq!(
        err.problems()[0].variable(),
        "OTEL_BSP_MAX_EXPORT_BATCH_SIZE"
    );
}

#[cfg(all(feature = "otlp", not(feature = "tls")))]
#[test]
fn https_without_the_tls_feature_is_an_error_naming_the_endpoint_variable() {
    let (var, value, expected) = problem(&[(
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "https://collector:4318/v1/traces",
    )]);
    assert_eq!(
        (var.as_str(), value.as_str()),
        (
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "https://collector:4318/v1/traces"
        )
    );
    assert!(
        expected
            .contains("enable the `tls` feature of observe-axum, observe-tonic or observe-core"),
        "{expected}"
    );
}

#[cfg(feature = "tls")]
#[test]
fn https_with_the_tls_feature_and_no_files_uses_the_platform_store() {
    let c = config(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "https://collector:4318")]);
    assert_eq!(traces(&c).endpoint, "https://collector:4318/v1/traces");
    assert!(traces(&c).tls.is_empty());
}
