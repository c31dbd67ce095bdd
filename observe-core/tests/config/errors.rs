//! One error lists every problem; every variable read is in `VARIABLES`.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use observe_core::Builder;
use observe_core::config::VARIABLES;

use crate::support::error;

#[test]
fn several_bad_variables_make_one_error_listing_all_of_them() {
    let err = error(&[
        ("OTEL_SDK_DISABLED", "nope"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318"),
        ("OTEL_TRACES_SAMPLER_ARG", "1.5"),
        ("RUST_LOG", "my_app=loud"),
        ("OBSERVE_ADMIN_ADDR", "localhost:9464"),
        ("OBSERVE_METRICS_SLICE", "0s"),
        ("OBSERVE_TRACER_BULLET_POLICY", "maybe"),
    ]);
    let got: Vec<(&str, &str)> = err
        .problems()
        .iter()
        .map(|p| (p.variable(), p.value()))
        .collect();
    assert_eq!(
        got,
        [
            ("OTEL_SDK_DISABLED", "nope"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318"),
            ("OTEL_TRACES_SAMPLER_ARG", "1.5"),
            ("RUST_LOG", "my_app=loud"),
            ("OBSERVE_ADMIN_ADDR", "localhost:9464"),
            ("OBSERVE_METRICS_SLICE", "0s"),
            ("OBSERVE_TRACER_BULLET_POLICY", "maybe"),
        ]
    );
    let text = err.to_string();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("invalid observe configuration (7 problems):")
    );
    assert_eq!(
        lines.next(),
        Some(r#"  OTEL_SDK_DISABLED="nope": expected true or false"#)
    );
    assert_eq!(lines.clone().count(), 6);
    for (line, problem) in lines.zip(&err.problems()[1..]) {
        assert_eq!(line, format!("  {problem}"));
        assert!(!problem.is_from_code());
    }
    let as_error: &dyn std::error::Error = &err;
    assert!(as_error.source().is_none());
}

#[test]
fn values_are_quoted_and_escaped_in_messages() {
    let err = error(&[("OBSERVE_LOG_FORMAT", "json\"x")]);
    assert_eq!(
        err.to_string(),
        r#"OBSERVE_LOG_FORMAT="json\"x": expected json, pretty or text"#
    );
}

#[test]
fn the_lookup_is_asked_for_exactly_the_documented_variables_in_order() {
    let asked = Arc::new(Mutex::new(Vec::new()));
    let recorder = Arc::clone(&asked);
    Builder::new()
        .env_lookup(move |name| {
            recorder.lock().unwrap().push(name.to_owned());
            None
        })
        .build_config()
        .unwrap();
    let asked = asked.lock().unwrap().clone();
    assert_eq!(asked, VARIABLES);
    let unique: BTreeSet<&String> = asked.iter().collect();
    assert_eq!(unique.len(), asked.len(), "each variable is read once");
}
