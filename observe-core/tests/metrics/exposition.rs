//! The Prometheus text format: its shape, and `promtool check metrics` on a
//! realistic registry.

use std::io::Write;
use std::process::{Command, Stdio};

use observe_core::TraceId;
use observe_core::metrics::{Registry, RequestType, Unit};

use crate::support::ManualClock;

/// A registry like a busy service's: every semantic-convention metric, tracer
/// bullets, awkward label values, a key whose window aged out, an overflow, a clamp.
pub(crate) fn realistic_registry() -> Registry {
    let clock = ManualClock::at_secs(1_000);
    let r = clock.registry(300, 10);
    r.set_max_keys(40);
    // A key that aged out of the window before everything else was recorded.
    r.histogram("old.key", &[]).record(5);
    let _ = r.snapshot();
    clock.set_secs_f64(1_400.0);
    for (i, route) in ["/orders/{id}", "/orders", "/health", ""]
        .iter()
        .enumerate()
    {
        for status in [200u16, 404, 503] {
            let h = r.http_server_duration(route, "GET", status, RequestType::Standard);
            for k in 0..200u64 {
                h.record_with_exemplar(
                    1_000_000 + k * 10_000 * (i as u64 + 1),
                    TraceId::random(),
                    status >= 500,
                );
            }
        }
        r.http_server_duration(route, "POST", 201, RequestType::TracerBullet)
            .record(9_000_000);
    }
    r.http_server_duration("/weird", "BREW", 999, RequestType::Standard)
        .record(1);
    r.http_client_duration(
        "payments.internal",
        "POST",
        Some(200),
        RequestType::Standard,
    )
    .record(20_000_000);
    r.http_client_duration("api.example.com", "GET", None, RequestType::Standard)
        .record(30_000_000_000);
    r.rpc_server_duration("grpc", "shop.Orders", "Get", Some(0), RequestType::Standard)
        .record(300_000);
    r.rpc_client_duration(
        "10.0.0.7:50051",
        "grpc",
        "stock.Stock",
        "Reserve",
        Some(14),
        RequestType::Standard,
    )
    .record(700_000);
    r.function_duration("shop::orders::load_order", false, RequestType::Standard)
        .record(120_000);
    r.function_duration("shop::orders::load_order", true, RequestType::Standard)
        .record(90_000);
    // Label values that need escaping, and unicode.
    r.histogram(
        "tricky.values",
        &[("v", "a \"quoted\" back\\slash\nnew line, ünïcødé")],
    )
    .record(5_000);
    // Bytes and plain units.
    r.describe("payload.size", Unit::Bytes, "Request payload size.")
        .unwrap();
    r.histogram("payload.size", &[]).record(1_500);
    r.describe(
        "batch.size",
        Unit::None,
        "Messages per batch,\nwith a newline and a \\ backslash.",
    )
    .unwrap();
    r.histogram("batch.size", &[]).record(12);
    // Counters and gauges.
    r.counter("orders.placed", &[("channel", "web")]).add(17);
    r.counter("retries_total", &[]).add(2);
    r.gauge("http.server.active_requests", &[]).set(3);
    r.gauge("queue.depth", &[("queue", "emails")]).add(-4);
    // Overflow.
    for i in 0..45 {
        r.counter("per.user", &[("user", &i.to_string())]).inc();
    }
    // Clamp.
    r.histogram("very.slow", &[]).record(u64::MAX);
    r
}

#[test]
fn summary_shape_names_units_and_escaping() {
    let text = realistic_registry().prometheus_text();
    let route = r#"http_request_method="GET",http_response_status_code="200",http_route="/orders/{id}",request_type="standard""#;
    assert!(text.contains(
        "# HELP http_server_request_duration_seconds Duration of HTTP server requests.\n"
    ));
    assert!(text.contains("# TYPE http_server_request_duration_seconds summary\n"));
    for q in ["0.5", "0.9", "0.99", "0.999", "0.9999", "0.99999", "1"] {
        assert!(
            text.contains(&format!(
                "http_server_request_duration_seconds{{{route},quantile=\"{q}\"}} "
            )),
            "quantile {q} missing"
        );
    }
    assert!(text.contains(&format!(
        "http_server_request_duration_seconds_count{{{route}}} 200\n"
    )));
    assert!(text.contains(&format!(
        "http_server_request_duration_seconds_sum{{{route}}} "
    )));
    // Unmatched route and unknown method and status are bounded.
    assert!(text.contains(r#"http_route="unmatched""#));
    assert!(text.contains(r#"http_request_method="_OTHER",http_response_status_code="_OTHER""#));
    // Tracer bullets stay separable.
    assert!(text.contains(r#"request_type="tracer_bullet""#));
    // Escaping.
    assert!(
        text.contains(
            r#"tricky_values_seconds_count{v="a \"quoted\" back\\slash\nnew line, ünïcødé"} 1"#
        ),
        "{text}"
    );
    assert!(text.contains(
        "# HELP batch_size Messages per batch,\\nwith a newline and a \\\\ backslash.\n"
    ));
    // Units and suffixes.
    assert!(text.contains("# TYPE payload_size_bytes summary\n"));
    assert!(text.contains("orders_placed_total{channel=\"web\"} 17\n"));
    assert!(text.contains("retries_total 2\n"));
    assert!(text.contains("queue_depth{queue=\"emails\"} -4\n"));
    // Seconds: 30 s client call.
    assert!(text.contains("http_client_request_duration_seconds_sum{http_request_method=\"GET\",request_type=\"standard\",server_address=\"api.example.com\"} 30\n"));
    // The aged-out key: empty window, NaN quantiles, cumulative count kept.
    assert!(text.contains("old_key_seconds{quantile=\"0.99\"} NaN\n"));
    assert!(text.contains("old_key_seconds_count 1\n"));
    // Every sample line is `name{labels} value` with a parseable value.
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let value = line.rsplit(' ').next().unwrap();
        assert!(
            value == "NaN" || value.parse::<f64>().is_ok(),
            "bad value in {line:?}"
        );
    }
}

/// `promtool check metrics` accepts the text with no lint complaint. Skips, loudly,
/// only when promtool is not installed (Debian: `apt-get install prometheus`).
#[test]
fn promtool_check_metrics_passes() {
    let text = realistic_registry().prometheus_text();
    let child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            #[allow(clippy::print_stderr)]
            {
                eprintln!(
                    "\n\n*** SKIPPED promtool_check_metrics_passes: `promtool` not found (apt-get install prometheus) ***\n\n"
                );
            }
            return;
        }
        Err(e) => panic!("cannot run promtool: {e}"),
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && report.trim().is_empty(),
        "promtool: {report}\n---\n{text}"
    );
}
