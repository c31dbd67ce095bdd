//! Cross-language: a Python client instrumented with
//! `opentelemetry-instrumentation-requests` calls this Rust service, which calls a
//! Python Flask service instrumented with `opentelemetry-instrumentation-flask`.
//! One trace id end to end, correct parents, baggage passed through.
//!
//! The interpreter comes from `OBSERVE_TEST_PYTHON` (set by `scripts/test.sh`), else
//! the workspace's `.venv/bin/python`; without either the test says so and skips.

#[path = "../http/support.rs"]
#[allow(dead_code)]
mod support;

use std::path::PathBuf;

use axum::Router;
use axum::extract::Query;
use axum::routing::get;
use observe_core::client::{ClientOptions, ObserveMiddleware};
use observe_core::span::SpanKind;

use support::*;

fn python() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("OBSERVE_TEST_PYTHON") {
        return Some(PathBuf::from(p));
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python");
    venv.exists().then_some(venv)
}

#[derive(serde::Deserialize)]
struct Relay {
    target: String,
}

#[tokio::test]
async fn one_trace_from_python_through_rust_to_flask() {
    let Some(python) = python() else {
        #[allow(clippy::print_stderr)]
        {
            eprintln!(
                "SKIPPED one_trace_from_python_through_rust_to_flask: no Python with the \
                 OpenTelemetry peers (run ./scripts/setup.sh, or set OBSERVE_TEST_PYTHON)"
            );
        }
        return;
    };
    // The Python client is a trusted caller: its baggage is believed.
    let h = Harness::with(trust_loopback);
    let http = ObserveMiddleware::with_options(
        ClientOptions::new().internal_hosts(["127.0.0.1"]).unwrap(),
    )
    .client_builder(client_builder())
    .unwrap()
    .build();
    let app = Router::new()
        .route(
            "/relay",
            get(move |Query(relay): Query<Relay>| {
                let http = http.clone();
                async move {
                    let response = http
                        .get(&relay.target)
                        .send()
                        .await
                        .map_err(|e| e.to_string())?;
                    response.text().await.map_err(|e| e.to_string())
                }
            }),
        )
        .layer(observe_axum::layer());
    let base = spawn(app).await;

    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/crosslang/peer.py");
    let output = tokio::process::Command::new(&python)
        .arg(&script)
        .arg(&base)
        .env("OTEL_SDK_DISABLED", "false")
        .kill_on_drop(true)
        .output()
        .await
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "peer.py failed: {}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(report["status"], 200, "{report}");

    let py_spans = report["spans"].as_array().unwrap();
    let py = |kind: &str| {
        py_spans
            .iter()
            .find(|s| s["kind"] == kind)
            .unwrap_or_else(|| panic!("no {kind} span in {report}"))
    };
    let py_client = py("CLIENT");
    let flask_server = py("SERVER");
    let trace = py_client["trace_id"].as_str().unwrap();

    let spans = h.spans();
    let rust_server = spans.iter().find(|s| s.name() == "GET /relay").unwrap();
    let rust_client = spans.iter().find(|s| s.kind() == SpanKind::Client).unwrap();

    // One trace id end to end.
    assert_eq!(rust_server.trace_id().to_string(), trace);
    assert_eq!(rust_client.trace_id().to_string(), trace);
    assert_eq!(flask_server["trace_id"], trace);
    // Parents: python client -> rust server -> rust client -> flask server.
    assert_eq!(
        rust_server.parent_id().to_string(),
        py_client["span_id"].as_str().unwrap()
    );
    assert!(rust_server.parent_is_remote());
    assert_eq!(rust_client.parent_id(), rust_server.span_id());
    assert_eq!(flask_server["parent_id"], rust_client.span_id().to_string());
    // The Python SDK's flags (whatever bits it sets besides sampled) were accepted:
    // the trace continued and stayed sampled.
    assert!(rust_server.is_sampled());
    assert_eq!(flask_server["flags"].as_u64().unwrap() & 1, 1);

    // Baggage went through Rust to Flask (127.0.0.1 is internal here).
    assert_eq!(
        report["flask_baggage"]["observe.user_id"], "py-user",
        "{report}"
    );
    assert_eq!(report["flask_baggage"]["vendor"], "py", "{report}");
}
