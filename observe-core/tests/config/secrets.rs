//! Secrets never appear in `Debug` output or in error messages.

use observe_core::Builder;
use observe_core::config::Signal;

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

/// A secret variable whose value is not UTF-8 is reported like any bad secret:
/// named, its value redacted. Only the process environment can hold such a value,
/// so this runs in a child process of this test binary.
#[test]
fn a_non_utf8_secret_is_redacted_in_the_error() {
    use std::os::unix::ffi::OsStrExt as _;
    const CHILD: &str = "OBSERVE_CONFIG_TEST_CHILD";
    if std::env::var_os(CHILD).is_some() {
        let err = Builder::new().build_config().unwrap_err();
        #[allow(clippy::print_stdout)]
        {
            // On lines of their own (the test harness prints its name first).
            println!("\nDISPLAY: {}", err.to_string().replace('\n', " | "));
            println!("\nDEBUG: {}", format!("{err:?}").replace('\n', " | "));
            println!("\nSTRUCTURE: {}", format!("{err:#?}").replace('\n', " "));
        }
        return;
    }
    let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "--exact",
        "secrets::a_non_utf8_secret_is_redacted_in_the_error",
        "--nocapture",
        "--test-threads=1",
    ])
    .env(CHILD, "1");
    for k in observe_core::config::VARIABLES {
        cmd.env_remove(k);
    }
    let secret = |s: &str| {
        let mut bytes = s.as_bytes().to_vec();
        bytes.push(0xff);
        std::ffi::OsStr::from_bytes(&bytes).to_owned()
    };
    cmd.env("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")
        .env(
            "OTEL_EXPORTER_OTLP_HEADERS",
            secret(&format!("authorization={HEADER_SECRET}")),
        )
        .env("OBSERVE_TRACER_BULLET_KEY", secret(KEY_HEX))
        .env("OBSERVE_ADMIN_ADDR", secret("not-a-secret"));
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    let display = stdout
        .lines()
        .find(|l| l.starts_with("DISPLAY: "))
        .unwrap_or_else(|| panic!("no error printed:\n{stdout}"));
    let debug = stdout.lines().find(|l| l.starts_with("DEBUG: ")).unwrap();
    let structure = stdout
        .lines()
        .find(|l| l.starts_with("STRUCTURE: "))
        .unwrap();
    for text in [display, debug, structure] {
        assert_no_secret(text);
        assert!(text.contains("OTEL_EXPORTER_OTLP_HEADERS"), "{text}");
        assert!(text.contains("OBSERVE_TRACER_BULLET_KEY"), "{text}");
        // A variable that is not a secret still shows its value.
        assert!(text.contains("not-a-secret"), "{text}");
    }
}
