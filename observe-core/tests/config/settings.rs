//! Each setting's valid and invalid values, through the injected lookup.

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::time::Duration;

use observe_core::Builder;
use observe_core::config::{
    Config, InboundContext, LogFormat, LogOutput, Sampler, TracerBulletPolicy, UntrustedMarker,
};

use crate::support::{config, env, error, problem, rejects, resolve};

const KEY_HEX: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

#[test]
fn nothing_set_gives_the_embedded_default() {
    let c = config(&[]);
    assert_eq!(c, Config::default());
    assert!(!c.disabled);
    assert_eq!(c.sampler, Sampler::ParentBasedAlwaysOn);
    assert_eq!(c.logs.filter, "info");
    assert_eq!(c.logs.format, LogFormat::Json);
    assert_eq!(c.logs.output, LogOutput::Stdout);
    assert_eq!(c.logs.buffer_lines, 8192);
    assert_eq!(
        c.admin.addr,
        Some("127.0.0.1:9464".parse::<SocketAddr>().unwrap())
    );
    assert!(!c.admin.non_loopback);
    assert_eq!(c.metrics.window, Duration::from_secs(300));
    assert_eq!(c.metrics.slice, Duration::from_secs(10));
    assert_eq!(c.metrics.slices(), 30);
    assert_eq!(c.metrics.max_keys, 2000);
    assert_eq!(c.flight_recorder.bytes, NonZeroUsize::new(64 << 20));
    assert_eq!(c.flight_recorder.slow_threshold, None);
    assert_eq!(c.shutdown_timeout, Duration::from_secs(5));
    assert!(c.propagation.internal_hosts.is_empty());
    assert_eq!(c.propagation.inbound_context, InboundContext::Continue);
    assert!(c.propagation.trusted_callers.is_empty());
    assert_eq!(c.propagation.untrusted_sampled_per_second, 10);
    assert_eq!(
        c.propagation.tracer_bullet_untrusted_marker,
        UntrustedMarker::Refuse
    );
    assert_eq!(c.propagation.tracer_bullet_policy, TracerBulletPolicy::Deny);
    assert!(c.propagation.tracer_bullet_key.is_none());
    assert_eq!(
        c.propagation.tracer_bullet_max_age,
        Duration::from_secs(300)
    );
    assert!(c.export.traces.is_none() && c.export.logs.is_none() && c.export.metrics.is_none());
}

#[test]
fn empty_and_blank_values_count_as_unset() {
    let c = config(&[
        ("OTEL_TRACES_SAMPLER", ""),
        ("RUST_LOG", "   "),
        ("OBSERVE_ADMIN_ADDR", ""),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", ""),
    ]);
    assert_eq!(c, Config::default());
}

#[test]
fn surrounding_whitespace_is_ignored() {
    let c = config(&[
        ("OBSERVE_LOG_FORMAT", "  pretty\n"),
        ("OBSERVE_METRICS_MAX_KEYS", " 10 "),
    ]);
    assert_eq!(c.logs.format, LogFormat::Pretty);
    assert_eq!(c.metrics.max_keys, 10);
}

#[test]
fn sdk_disabled_is_an_otel_boolean() {
    assert!(config(&[("OTEL_SDK_DISABLED", "true")]).disabled);
    assert!(config(&[("OTEL_SDK_DISABLED", "TRUE")]).disabled);
    assert!(!config(&[("OTEL_SDK_DISABLED", "False")]).disabled);
    rejects("OTEL_SDK_DISABLED", &["yes", "1", "on"], "true or false");
}

#[test]
fn a_disabled_sdk_starts_even_when_other_values_are_bad() {
    let c = config(&[
        ("OTEL_SDK_DISABLED", "true"),
        ("OTEL_TRACES_SAMPLER_ARG", "1.5"),
        ("OBSERVE_ADMIN_ADDR", "nowhere"),
    ]);
    assert!(c.disabled);
}

#[test]
fn every_sampler_name_is_accepted_case_insensitively() {
    let cases = [
        ("always_on", Sampler::AlwaysOn),
        ("ALWAYS_OFF", Sampler::AlwaysOff),
        ("traceidratio", Sampler::TraceIdRatio(1.0)),
        ("parentbased_always_on", Sampler::ParentBasedAlwaysOn),
        ("ParentBased_Always_Off", Sampler::ParentBasedAlwaysOff),
        (
            "parentbased_traceidratio",
            Sampler::ParentBasedTraceIdRatio(1.0),
        ),
    ];
    for (name, expected) in cases {
        assert_eq!(
            config(&[("OTEL_TRACES_SAMPLER", name)]).sampler,
            expected,
            "{name}"
        );
    }
}

#[test]
fn the_sampler_argument_sets_the_ratio() {
    let c = config(&[
        ("OTEL_TRACES_SAMPLER", "traceidratio"),
        ("OTEL_TRACES_SAMPLER_ARG", "0.25"),
    ]);
    assert_eq!(c.sampler, Sampler::TraceIdRatio(0.25));
    let c = config(&[
        ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
        ("OTEL_TRACES_SAMPLER_ARG", "0"),
    ]);
    assert_eq!(c.sampler, Sampler::ParentBasedTraceIdRatio(0.0));
    assert_eq!(c.sampler.ratio(), Some(0.0));
    assert_eq!(c.sampler.name(), "parentbased_traceidratio");
}

#[test]
fn a_bad_sampler_argument_is_named_with_its_value() {
    let (var, value, expected) = problem(&[
        ("OTEL_TRACES_SAMPLER", "traceidratio"),
        ("OTEL_TRACES_SAMPLER_ARG", "1.5"),
    ]);
    assert_eq!(
        (var.as_str(), value.as_str(), expected.as_str()),
        ("OTEL_TRACES_SAMPLER_ARG", "1.5", "a ratio between 0 and 1")
    );
    let err = error(&[("OTEL_TRACES_SAMPLER_ARG", "1.5")]);
    assert_eq!(
        err.to_string(),
        r#"OTEL_TRACES_SAMPLER_ARG="1.5": expected a ratio between 0 and 1"#
    );
    rejects(
        "OTEL_TRACES_SAMPLER_ARG",
        &["-0.1", "NaN", "ten percent"],
        "a ratio between 0 and 1",
    );
}

#[test]
fn an_argument_for_a_sampler_that_takes_none_is_an_error() {
    let (var, _, expected) = problem(&[
        ("OTEL_TRACES_SAMPLER", "always_on"),
        ("OTEL_TRACES_SAMPLER_ARG", "0.1"),
    ]);
    assert_eq!(var, "OTEL_TRACES_SAMPLER_ARG");
    assert!(
        expected.contains("the sampler always_on (OTEL_TRACES_SAMPLER) takes none"),
        "{expected}"
    );
    let (_, _, expected) = problem(&[("OTEL_TRACES_SAMPLER_ARG", "0.1")]);
    assert!(
        expected.contains("parentbased_always_on (the default)"),
        "{expected}"
    );
}

#[test]
fn unsupported_samplers_say_so() {
    rejects(
        "OTEL_TRACES_SAMPLER",
        &["jaeger_remote"],
        "(jaeger_remote is not supported)",
    );
    rejects("OTEL_TRACES_SAMPLER", &["xray"], "(xray is not supported)");
    rejects(
        "OTEL_TRACES_SAMPLER",
        &["sometimes"],
        "one of always_on, always_off, traceidratio",
    );
    // A bad sampler is reported once, not again through its argument.
    let err = error(&[
        ("OTEL_TRACES_SAMPLER", "jaeger_remote"),
        ("OTEL_TRACES_SAMPLER_ARG", "0.5"),
    ]);
    assert_eq!(err.problems().len(), 1, "{err}");
}

#[test]
fn rust_log_is_validated_and_kept() {
    let c = config(&[("RUST_LOG", "warn, my_app=debug,tower_http::trace=info")]);
    assert_eq!(c.logs.filter, "warn,my_app=debug,tower_http::trace=info");
    rejects("RUST_LOG", &["my_app=inof"], "`my_app=inof`");
    rejects("RUST_LOG", &["warning"], "would be read as a target name");
    rejects("RUST_LOG", &["info,=debug,["], "tracing filter directives");
}

#[test]
fn log_format_output_and_buffer() {
    assert_eq!(
        config(&[("OBSERVE_LOG_FORMAT", "PRETTY")]).logs.format,
        LogFormat::Pretty
    );
    assert_eq!(
        config(&[("OBSERVE_LOG_FORMAT", "json")]).logs.format,
        LogFormat::Json
    );
    rejects(
        "OBSERVE_LOG_FORMAT",
        &["yaml", "logfmt"],
        "json, pretty or text",
    );
    assert_eq!(
        config(&[("OBSERVE_LOG_OUTPUT", "stderr")]).logs.output,
        LogOutput::Stderr
    );
    assert_eq!(
        config(&[("OBSERVE_LOG_OUTPUT", "none")]).logs.output,
        LogOutput::None
    );
    rejects(
        "OBSERVE_LOG_OUTPUT",
        &["file", "/var/log/x"],
        "stdout, stderr or none",
    );
    assert_eq!(
        config(&[("OBSERVE_LOG_BUFFER", "100")]).logs.buffer_lines,
        100
    );
    rejects(
        "OBSERVE_LOG_BUFFER",
        &["0", "-5", "8k"],
        "a whole number greater than 0",
    );
}

#[test]
fn redact_fields_add_to_the_defaults() {
    let c = config(&[("OBSERVE_REDACT_FIELDS", "email, user.ssn,,")]);
    let r = &c.logs.redaction;
    assert!(r.is_sensitive("email"));
    assert!(r.is_sensitive("customer.Email"));
    assert!(r.is_sensitive("user.ssn"));
    assert!(r.is_sensitive("password"), "the defaults stay");
    assert!(r.is_sensitive("http.request.header.authorization"));
    assert!(!r.is_sensitive("ssn"));
    assert_eq!(r.names().count(), 8);
    rejects(
        "OBSERVE_REDACT_FIELDS",
        &["email,credit card"],
        "\"credit card\" has a space",
    );
}

#[test]
fn admin_address_off_and_non_loopback() {
    let c = config(&[("OBSERVE_ADMIN_ADDR", "0.0.0.0:9000")]);
    assert_eq!(c.admin.addr, Some("0.0.0.0:9000".parse().unwrap()));
    assert!(c.admin.non_loopback, "0.0.0.0 is reachable from elsewhere");
    let c = config(&[("OBSERVE_ADMIN_ADDR", "[::1]:9000")]);
    assert!(!c.admin.non_loopback);
    let c = config(&[("OBSERVE_ADMIN_ADDR", "10.1.2.3:9464")]);
    assert!(c.admin.non_loopback);
    let c = config(&[("OBSERVE_ADMIN_ADDR", "OFF")]);
    assert_eq!(c.admin.addr, None);
    assert!(!c.admin.non_loopback);
    rejects(
        "OBSERVE_ADMIN_ADDR",
        &["localhost:9464", "9464", "127.0.0.1", "127.0.0.1:99999"],
        "an IP socket address such as 127.0.0.1:9464",
    );
}

#[test]
fn metrics_window_slice_and_keys() {
    let c = config(&[
        ("OBSERVE_METRICS_WINDOW", "10m"),
        ("OBSERVE_METRICS_SLICE", "30s"),
        ("OBSERVE_METRICS_MAX_KEYS", "500"),
    ]);
    assert_eq!(c.metrics.window, Duration::from_secs(600));
    assert_eq!(c.metrics.slice, Duration::from_secs(30));
    assert_eq!(c.metrics.slices(), 20);
    assert_eq!(c.metrics.max_keys, 500);
    let c = config(&[
        ("OBSERVE_METRICS_WINDOW", "1m30s"),
        ("OBSERVE_METRICS_SLICE", "250ms"),
    ]);
    assert_eq!(c.metrics.slices(), 360);
    rejects(
        "OBSERVE_METRICS_WINDOW",
        &["5", "0s", "five minutes"],
        "a duration greater than 0",
    );
    rejects("OBSERVE_METRICS_SLICE", &["0"], "a duration greater than 0");
    rejects(
        "OBSERVE_METRICS_MAX_KEYS",
        &["0", "lots"],
        "a whole number greater than 0",
    );
}

#[test]
fn metrics_exposition_is_histogram_by_default_and_the_environment_beats_code() {
    use observe_core::Builder;
    use observe_core::metrics::Exposition;
    assert_eq!(config(&[]).metrics.exposition, Exposition::Histogram);
    let c = config(&[("OBSERVE_METRICS_EXPOSITION", "Summary")]);
    assert_eq!(c.metrics.exposition, Exposition::Summary);
    let code = Builder::new()
        .metrics_exposition(Exposition::Summary)
        .env_lookup(|_| None)
        .build_config()
        .unwrap();
    assert_eq!(code.metrics.exposition, Exposition::Summary);
    let env_wins = Builder::new()
        .metrics_exposition(Exposition::Summary)
        .env_lookup(|v| (v == "OBSERVE_METRICS_EXPOSITION").then(|| "histogram".to_owned()))
        .build_config()
        .unwrap();
    assert_eq!(env_wins.metrics.exposition, Exposition::Histogram);
    rejects(
        "OBSERVE_METRICS_EXPOSITION",
        &["summaries", "native", "le"],
        "histogram (le buckets, the default) or summary (quantiles)",
    );
}

#[test]
fn the_window_must_be_a_whole_multiple_of_the_slice() {
    let (var, value, expected) = problem(&[
        ("OBSERVE_METRICS_WINDOW", "5m"),
        ("OBSERVE_METRICS_SLICE", "7s"),
    ]);
    assert_eq!(
        (var.as_str(), value.as_str()),
        ("OBSERVE_METRICS_WINDOW", "5m")
    );
    assert_eq!(
        expected,
        "a whole multiple of the slice, 7s (OBSERVE_METRICS_SLICE)"
    );
    // Only the slice set: the slice is to blame.
    let (var, value, expected) = problem(&[("OBSERVE_METRICS_SLICE", "7s")]);
    assert_eq!(
        (var.as_str(), value.as_str()),
        ("OBSERVE_METRICS_SLICE", "7s")
    );
    assert!(expected.contains("divides the window, 300s"), "{expected}");
    // A window shorter than the slice is no multiple either.
    let (var, ..) = problem(&[("OBSERVE_METRICS_WINDOW", "5s")]);
    assert_eq!(var, "OBSERVE_METRICS_WINDOW");
}

#[test]
fn flight_recorder_bytes_and_slow_threshold() {
    let bytes = |v| {
        config(&[("OBSERVE_FLIGHT_RECORDER_BYTES", v)])
            .flight_recorder
            .bytes
    };
    assert_eq!(bytes("512KB"), NonZeroUsize::new(512_000));
    assert_eq!(bytes("16MiB"), NonZeroUsize::new(16 << 20));
    assert_eq!(bytes("1 gib"), NonZeroUsize::new(1 << 30));
    assert_eq!(bytes("4096"), NonZeroUsize::new(4096));
    assert_eq!(bytes("0"), None, "0 disables the recorder");
    rejects(
        "OBSERVE_FLIGHT_RECORDER_BYTES",
        &["64M", "1.5GiB", "-1", "big"],
        "a size such as 64MiB",
    );

    let slow = |v| {
        config(&[("OBSERVE_SLOW_THRESHOLD", v)])
            .flight_recorder
            .slow_threshold
    };
    assert_eq!(slow("250ms"), Some(Duration::from_millis(250)));
    assert_eq!(slow("2s"), Some(Duration::from_secs(2)));
    assert_eq!(slow("auto"), None);
    rejects("OBSERVE_SLOW_THRESHOLD", &["0s", "fast", "250"], "or auto");
}

#[test]
fn shutdown_timeout_is_a_duration() {
    let t = |v| config(&[("OBSERVE_SHUTDOWN_TIMEOUT", v)]).shutdown_timeout;
    assert_eq!(t("1m30s"), Duration::from_secs(90));
    assert_eq!(t("500ms"), Duration::from_millis(500));
    assert_eq!(t("0"), Duration::ZERO, "zero: do not wait");
    rejects(
        "OBSERVE_SHUTDOWN_TIMEOUT",
        &["soon", "5", "5 s", "1.5s"],
        "a duration such as 250ms",
    );
}

#[test]
fn inbound_context_policy_and_max_age() {
    let c = config(&[("OBSERVE_INBOUND_CONTEXT", "restart")]);
    assert_eq!(c.propagation.inbound_context, InboundContext::Restart);
    let c = config(&[("OBSERVE_INBOUND_CONTEXT", "Continue")]);
    assert_eq!(c.propagation.inbound_context, InboundContext::Continue);
    assert!(c.propagation.trusted_callers.is_empty());
    rejects(
        "OBSERVE_INBOUND_CONTEXT",
        &["ignore"],
        "continue or restart",
    );

    let c = config(&[("OBSERVE_TRACER_BULLET_POLICY", "Trusted")]);
    assert_eq!(
        c.propagation.tracer_bullet_policy,
        TracerBulletPolicy::Trusted
    );
    rejects(
        "OBSERVE_TRACER_BULLET_POLICY",
        &["allow", "signed-ish"],
        "deny, trusted or signed",
    );

    let c = config(&[("OBSERVE_TRACER_BULLET_MAX_AGE", "30s")]);
    assert_eq!(c.propagation.tracer_bullet_max_age, Duration::from_secs(30));
    rejects(
        "OBSERVE_TRACER_BULLET_MAX_AGE",
        &["0s", "30"],
        "a duration greater than 0",
    );
}

#[test]
fn a_signed_policy_needs_a_key() {
    let c = config(&[
        ("OBSERVE_TRACER_BULLET_POLICY", "signed"),
        ("OBSERVE_TRACER_BULLET_KEY", KEY_HEX),
    ]);
    assert_eq!(
        c.propagation.tracer_bullet_policy,
        TracerBulletPolicy::Signed
    );
    let key = c.propagation.tracer_bullet_key.expect("key");
    assert_eq!(key.expose_bytes().len(), 32);
    assert_eq!(key.expose_bytes()[..2], [0x00, 0x11]);

    let (var, value, expected) = problem(&[("OBSERVE_TRACER_BULLET_POLICY", "signed")]);
    assert_eq!(
        (var.as_str(), value.as_str()),
        ("OBSERVE_TRACER_BULLET_POLICY", "signed")
    );
    assert!(
        expected.starts_with("OBSERVE_TRACER_BULLET_KEY to be set as well"),
        "{expected}"
    );
}

#[test]
fn a_key_without_the_signed_policy_is_kept_for_signing_outgoing_bullets() {
    let c = config(&[("OBSERVE_TRACER_BULLET_KEY", KEY_HEX)]);
    assert_eq!(c.propagation.tracer_bullet_policy, TracerBulletPolicy::Deny);
    assert!(c.propagation.tracer_bullet_key.is_some());
}

#[test]
fn keys_are_hex_or_base64_and_at_least_32_bytes() {
    let key = |v: &str| {
        config(&[("OBSERVE_TRACER_BULLET_KEY", v)])
            .propagation
            .tracer_bullet_key
            .unwrap()
    };
    // The same 32 bytes, three ways.
    let b64 = "ABEiM0RVZneImaq7zN3u/wARIjNEVWZ3iJmqu8zd7v8=";
    assert_eq!(key(KEY_HEX), key(b64));
    assert_eq!(
        key(KEY_HEX),
        key(&format!("base64:{}", b64.trim_end_matches('=')))
    );
    assert_eq!(
        key(KEY_HEX),
        key(&format!("hex:{}", KEY_HEX.to_uppercase()))
    );

    for short in [&KEY_HEX[..62], "c2hvcnQ=", "hex:0011"] {
        let (var, value, expected) = problem(&[("OBSERVE_TRACER_BULLET_KEY", short)]);
        assert_eq!(var, "OBSERVE_TRACER_BULLET_KEY");
        assert_eq!(value, "<redacted>", "the key never appears in an error");
        assert!(
            expected.starts_with("a key of at least 32 bytes"),
            "{expected}"
        );
    }
    // A bad key with the signed policy is one problem, not two.
    let err = error(&[
        ("OBSERVE_TRACER_BULLET_POLICY", "signed"),
        ("OBSERVE_TRACER_BULLET_KEY", "short"),
    ]);
    assert_eq!(err.problems().len(), 1, "{err}");
}

#[test]
fn the_old_trust_value_keeps_its_meaning_and_cannot_meet_trusted_callers() {
    // observe 0.1's default: continue, and believe every caller's identity.
    let c = config(&[("OBSERVE_INBOUND_CONTEXT", "trust")]);
    assert_eq!(c.propagation.inbound_context, InboundContext::Continue);
    assert!(c.propagation.trusted_callers.is_any());
    let c = resolve(
        Builder::new()
            .ignore_env()
            .inbound_context(InboundContext::Trust),
    );
    assert!(c.propagation.trusted_callers.is_any());

    let (var, value, expected) = problem(&[
        ("OBSERVE_INBOUND_CONTEXT", "trust"),
        ("OBSERVE_TRUSTED_CALLERS", "10.0.0.0/8"),
    ]);
    assert_eq!(
        (var.as_str(), value.as_str()),
        ("OBSERVE_INBOUND_CONTEXT", "trust")
    );
    assert!(expected.contains("write continue"), "{expected}");
    let err = Builder::new()
        .ignore_env()
        .inbound_context(InboundContext::Trust)
        .trusted_callers(["loopback"])
        .build_config()
        .unwrap_err();
    assert_eq!(err.problems()[0].variable(), "Builder::inbound_context");
}

#[test]
fn trusted_callers_and_the_untrusted_sampled_budget() {
    let c = config(&[("OBSERVE_TRUSTED_CALLERS", "10.0.0.0/8, loopback")]);
    let callers = &c.propagation.trusted_callers;
    assert!(callers.contains(Some("10.9.8.7".parse().unwrap())));
    assert!(callers.contains(Some("::1".parse().unwrap())));
    assert!(!callers.contains(Some("192.168.1.1".parse().unwrap())));
    assert_eq!(callers.to_string(), "10.0.0.0/8,127.0.0.0/8,::1/128");
    rejects(
        "OBSERVE_TRUSTED_CALLERS",
        &["gateway.internal", "10.0.0.1/8", "none,any"],
        "a comma-separated list of IP addresses",
    );
    // The environment replaces the builder's list.
    let c = resolve(env(&[("OBSERVE_TRUSTED_CALLERS", "none")]).trusted_callers(["private"]));
    assert!(c.propagation.trusted_callers.is_empty());
    let err = Builder::new()
        .ignore_env()
        .trusted_callers(["not an address"])
        .build_config()
        .unwrap_err();
    assert_eq!(err.problems()[0].variable(), "Builder::trusted_callers");

    let c = config(&[("OBSERVE_UNTRUSTED_SAMPLED_PER_SECOND", "0")]);
    assert_eq!(c.propagation.untrusted_sampled_per_second, 0);
    let c = resolve(Builder::new().ignore_env().untrusted_sampled_per_second(3));
    assert_eq!(c.propagation.untrusted_sampled_per_second, 3);
    rejects(
        "OBSERVE_UNTRUSTED_SAMPLED_PER_SECOND",
        &["-1", "ten", "1.5"],
        "a whole number, 0 or more",
    );
}

#[test]
fn the_untrusted_marker_is_refused_unless_the_edge_opts_in() {
    let c = config(&[("OBSERVE_TRACER_BULLET_UNTRUSTED_MARKER", "Strip")]);
    assert_eq!(
        c.propagation.tracer_bullet_untrusted_marker,
        UntrustedMarker::Strip
    );
    let c = resolve(
        Builder::new()
            .ignore_env()
            .tracer_bullet_untrusted_marker(UntrustedMarker::Strip),
    );
    assert_eq!(
        c.propagation.tracer_bullet_untrusted_marker,
        UntrustedMarker::Strip
    );
    rejects(
        "OBSERVE_TRACER_BULLET_UNTRUSTED_MARKER",
        &["serve", "allow"],
        "refuse or strip",
    );
}
