//! Secrets never appear in `Debug` output or in error messages.

use observe_core::config::{Builder, Signal};

use crate::support::{env, error, resolve};

const HEADER_SECRET: &str = "hunter2-header";
const KEY_HEX: &str = "5ec2e75ec2e75ec2e75ec2e75ec2e75ec2e75ec2e75ec2e75ec2e75ec2e75ec2";

fn assert_no_secret(text: &str) {
    for secret in [
        HEADER_SECRET,
        KEY_HEX,
        "5ec2e7",
        "code-secret",
        "signal-secret",
    ] {
        assert!(!text.contains(secret), "{secret:?} leaked in:\n{text}");
    }
}

#[test]
fn config_debug_redacts_header_values_and_the_key() {
    let c = resolve(env(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
        (
            "OTEL_EXPORTER_OTLP_HEADERS",
            &format!("authorization=Bearer%20{HEADER_SECRET}"),
        ),
        ("OBSERVE_TRACER_BULLET_POLICY", "signed"),
        ("OBSERVE_TRACER_BULLET_KEY", KEY_HEX),
    ]));
    // The values are there for the exporter and the verifier...
    let headers = &c.export.traces.as_ref().unwrap().headers;
    assert_eq!(
        headers.get("authorization"),
        Some(&*format!("Bearer {HEADER_SECRET}"))
    );
    assert!(c.propagation.tracer_bullet_key.is_some());
    // ...but no rendering shows them.
    for rendering in [format!("{c:?}"), format!("{c:#?}")] {
        assert_no_secret(&rendering);
        assert!(
            rendering.contains("authorization"),
            "header names stay visible"
        );
        assert!(rendering.contains("<redacted>"));
    }
}

#[test]
fn builder_debug_redacts_what_code_gave() {
    let builder = Builder::new()
        .otlp_header("x-api-key", "code-secret")
        .otlp_signal_header(Signal::Logs, "x-api-key", "signal-secret")
        .tracer_bullet_key(KEY_HEX.as_bytes().to_vec());
    let rendering = format!("{builder:?}");
    assert_no_secret(&rendering);
    assert!(rendering.contains("x-api-key"));
}

#[test]
fn errors_never_echo_secret_values() {
    let err = error(&[
        (
            "OTEL_EXPORTER_OTLP_HEADERS",
            &format!("a={HEADER_SECRET},broken"),
        ),
        (
            "OTEL_EXPORTER_OTLP_LOGS_HEADERS",
            &format!("bad name={HEADER_SECRET}"),
        ),
        ("OBSERVE_TRACER_BULLET_KEY", &KEY_HEX[..40]),
        (
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "https://me:5ec2e7@collector",
        ),
    ]);
    assert_eq!(err.problems().len(), 4, "{err}");
    assert_no_secret(&err.to_string());
    assert_no_secret(&format!("{err:?}"));

    let err = Builder::new()
        .ignore_env()
        .otlp_header("x", "code-secret\n")
        .tracer_bullet_key(b"code-secret".to_vec())
        .build_config()
        .unwrap_err();
    assert_eq!(err.problems().len(), 2, "{err}");
    assert_no_secret(&err.to_string());
}
