//! Health checks (and reflection) pass through unobserved by default; the list is
//! configurable.

use observe_core::metrics;
use observe_core::span::SpanKind;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

use crate::support::*;

const CHECK: &str = "grpc.health.v1.Health/Check";

async fn check(base: &str) {
    let channel = tonic::transport::Endpoint::from_shared(base.to_owned())
        .unwrap()
        .connect_lazy();
    HealthClient::new(channel)
        .check(HealthCheckRequest::default())
        .await
        .unwrap();
}

fn health_keys() -> usize {
    metrics::snapshot()
        .histograms
        .iter()
        .filter(|h| {
            h.name == "rpc.server.call.duration"
                && h.labels.get("rpc.service").map(String::as_str) == Some("grpc.health.v1.Health")
        })
        .count()
}

#[tokio::test]
async fn health_checks_are_skipped_by_default() {
    let h = Harness::new();
    let base = spawn(observe_tonic::layer()).await;
    check(&base).await;
    // A call after it, so that the server has finished with the check.
    client(&base).unary(msg("after")).await.unwrap();
    h.wait_for(&format!("{SERVICE}/Unary"), SpanKind::Server)
        .await;
    assert!(h.spans_of(CHECK, SpanKind::Server).is_empty());
    assert!(
        !h.log_lines()
            .iter()
            .any(|l| l["message"].as_str().is_some_and(|m| m.starts_with(CHECK))),
        "no access-log line"
    );
}

#[tokio::test]
async fn health_checks_are_observed_when_asked() {
    let h = Harness::new();
    let base = spawn(observe_tonic::layer().skip_services([])).await;
    check(&base).await;
    let span = h.wait_for(CHECK, SpanKind::Server).await;
    assert_eq!(
        attr(&span, "rpc.service").as_deref(),
        Some("grpc.health.v1.Health")
    );
    assert!(health_keys() >= 1);
}
