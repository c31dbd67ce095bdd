//! The example runs: its self-test passes, and one trace crosses gRPC and HTTP.

use std::process::{Command, Stdio};

#[test]
fn the_self_test_passes_and_one_trace_crosses_grpc_and_http() {
    let output = Command::new(env!("CARGO_BIN_EXE_grpc"))
        .arg("--self-test")
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .env_remove("OTEL_SDK_DISABLED")
        .env("RUST_LOG", "info")
        .env("OBSERVE_LOG_FORMAT", "json")
        .env("OBSERVE_LOG_OUTPUT", "stdout")
        .env("OBSERVE_ADMIN_ADDR", "off")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "exit {:?}: {stderr}",
        output.status
    );
    assert!(stderr.contains("self-test passed"), "{stderr}");
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
        .collect();
    let access = |message: &str| {
        lines
            .iter()
            .find(|l| l["target"] == "observe::access" && l["message"] == message)
            .unwrap_or_else(|| panic!("no access line {message:?}"))
    };
    let grpc = access("shop.Orders/GetOrder OK");
    let http = access("GET /prices/{id} 200");
    assert_eq!(
        grpc["trace_id"], http["trace_id"],
        "one trace across gRPC and HTTP"
    );
    assert_eq!(
        http["user_id"], "u-42",
        "baggage reached the internal HTTP callee"
    );
    let watch = access("shop.Orders/WatchOrder OK");
    let events: Vec<_> = lines
        .iter()
        .filter(|l| l["message"] == "order event")
        .collect();
    assert_eq!(events.len(), 3);
    assert!(
        events.iter().all(|e| e["span_id"] == watch["span_id"]),
        "the stream ran inside the call's span"
    );
    assert!(
        lines
            .iter()
            .all(|l| l["service"] == "grpc" && l["version"] == env!("CARGO_PKG_VERSION"))
    );
}
