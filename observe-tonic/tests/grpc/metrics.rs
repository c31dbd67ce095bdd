//! `rpc.server.call.duration` and `rpc.client.call.duration`: one histogram per
//! service, method, status code and request type (per target on the client), with
//! exemplars; a made-up method cannot add keys.

use observe_core::metrics;
use observe_core::span::SpanKind;

use crate::support::*;

fn server_labels<'a>(method: &'a str, code: &'a str) -> [(&'a str, &'a str); 5] {
    [
        ("rpc.system", "grpc"),
        ("rpc.service", SERVICE),
        ("rpc.method", method),
        ("rpc.grpc.status_code", code),
        ("request_type", "standard"),
    ]
}

fn count(name: &str, labels: &[(&str, &str)]) -> u64 {
    metrics::snapshot()
        .histogram(name, labels)
        .map_or(0, |h| h.cumulative.count)
}

#[tokio::test]
async fn calls_land_in_the_histogram_of_their_method_and_code() {
    let h = Harness::new();
    let base = spawn(observe_tonic::layer()).await;
    // Codes no other test uses: the registry is process-wide.
    let (already, aborted) = (server_labels("Unary", "6"), server_labels("Unary", "10"));
    let before = (
        count("rpc.server.call.duration", &already),
        count("rpc.server.call.duration", &aborted),
    );
    let mut echo = client(&base);
    for fail in [6, 10, 10] {
        let status = echo
            .unary(Msg {
                fail,
                ..Msg::default()
            })
            .await
            .unwrap_err();
        assert_eq!(status.code() as u32, fail);
    }
    // The server records a call when its status is sent; wait for the last one.
    for _ in 0..2 {
        h.wait_for(&format!("{SERVICE}/Unary"), SpanKind::Server)
            .await;
    }
    h.flush();
    assert_eq!(count("rpc.server.call.duration", &already), before.0 + 1);
    assert_eq!(count("rpc.server.call.duration", &aborted), before.1 + 2);
    let client_aborted = [
        ("server.address", "127.0.0.1"),
        ("rpc.system", "grpc"),
        ("rpc.service", SERVICE),
        ("rpc.method", "Unary"),
        ("rpc.grpc.status_code", "10"),
        ("request_type", "standard"),
    ];
    assert!(count("rpc.client.call.duration", &client_aborted) >= 2);
    let snap = metrics::snapshot();
    let failed = snap
        .histogram("rpc.client.call.duration", &client_aborted)
        .unwrap();
    let aborted_traces: Vec<String> = h
        .spans_of(&format!("{SERVICE}/Unary"), SpanKind::Client)
        .iter()
        .filter(|s| attr(s, "rpc.grpc.status_code").as_deref() == Some("10"))
        .map(|s| s.trace_id().to_string())
        .collect();
    let exemplars = serde_json::to_value(failed).unwrap();
    let exemplar = exemplars["exemplars"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "error")
        .unwrap_or_else(|| panic!("an error exemplar: {exemplars}"));
    assert!(
        aborted_traces.iter().any(|t| exemplar["trace_id"] == *t),
        "a failing call's trace is the exemplar: {exemplars}"
    );
}

#[tokio::test]
async fn made_up_methods_share_one_key() {
    let h = Harness::new();
    let base = spawn(observe_tonic::layer()).await;
    let other = [
        ("rpc.system", "grpc"),
        ("rpc.service", "_OTHER"),
        ("rpc.method", "_OTHER"),
        ("rpc.grpc.status_code", "12"),
        ("request_type", "standard"),
    ];
    let before = count("rpc.server.call.duration", &other);
    let mut grpc = tonic::client::Grpc::new(observe_tonic::client::connect_lazy(base).unwrap());
    for i in 0..3 {
        grpc.ready().await.unwrap();
        let path = format!("/metrics.MadeUp{i}/Method{i}");
        let _ = grpc
            .unary(
                tonic::Request::new(msg("x")),
                http::uri::PathAndQuery::try_from(path).unwrap(),
                tonic_prost::ProstCodec::<Msg, Msg>::default(),
            )
            .await
            .unwrap_err();
    }
    h.wait_for("metrics.MadeUp2/Method2", SpanKind::Server)
        .await;
    h.flush();
    assert_eq!(count("rpc.server.call.duration", &other), before + 3);
    assert!(
        metrics::snapshot()
            .histograms
            .iter()
            .filter(|h| h.name == "rpc.server.call.duration")
            .all(|h| !h.labels.values().any(|v| v.starts_with("metrics.MadeUp"))),
        "no made-up service as a label"
    );
}
