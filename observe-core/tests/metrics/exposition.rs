//! The Prometheus text format and OpenMetrics: their shape, the buckets against the
//! raw samples, units, the summary option, and Prometheus's own tools on a
//! realistic registry (`promtool check metrics` for the text format; Prometheus's
//! OpenMetrics parser, through `promtool tsdb create-blocks-from openmetrics`, for
//! OpenMetrics, which `promtool check metrics` cannot parse).

use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::process::{Command, Stdio};

use observe_core::TraceId;
use observe_core::metrics::prometheus::{Encoder, Format};
use observe_core::metrics::{
    DEFAULT_DURATION_BUCKETS, Exposition, MetricError, Registry, RequestType, Unit,
};

use crate::support::{ManualClock, Rng};

/// A registry like a busy service's: every semantic-convention metric, tracer
/// bullets, errors, awkward label values, a key whose window aged out, an
/// overflow, a clamp, and the trace ids offered as exemplars.
pub(crate) fn realistic_registry_with_traces() -> (Registry, HashSet<TraceId>) {
    let clock = ManualClock::at_secs(1_000);
    let r = clock.registry(300, 10);
    let mut traces = HashSet::new();
    r.set_max_keys(40);
    // A key that aged out of the window before everything else was recorded.
    r.duration_histogram("old.key", &[]).record(5);
    let _ = r.snapshot();
    clock.set_secs_f64(1_400.0);
    for (i, route) in ["/orders/{id}", "/orders", "/health", ""]
        .iter()
        .enumerate()
    {
        for status in [200u16, 404, 503] {
            let h =
                r.http_server_duration(route, "GET", status, "http", None, RequestType::Standard);
            for k in 0..200u64 {
                let t = TraceId::random();
                traces.insert(t);
                h.record_with_exemplar(1_000_000 + k * 10_000 * (i as u64 + 1), t, status >= 500);
            }
        }
        r.http_server_duration(route, "POST", 201, "https", None, RequestType::TracerBullet)
            .record(9_000_000);
    }
    r.http_server_duration(
        "/weird",
        "BREW",
        999,
        "http",
        Some("panic"),
        RequestType::Standard,
    )
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
    r.duration_histogram(
        "tricky.values",
        &[("v", "a \"quoted\" back\\slash\nnew line, ünïcødé")],
    )
    .record(5_000);
    // Bytes, plain and custom units.
    r.describe("payload.size", Unit::Bytes, "Request payload size.")
        .unwrap();
    r.histogram("payload.size", Unit::Bytes, &[]).record(1_500);
    r.describe(
        "batch.size",
        Unit::custom("{message}"),
        "Messages per batch,\nwith a newline, a \"quote\" and a \\ backslash.",
    )
    .unwrap();
    r.histogram("batch.size", Unit::custom("{message}"), &[])
        .record(12);
    r.histogram("basket.items", Unit::None, &[]).record(3);
    // A summary among histograms.
    r.set_exposition("queue.wait", Exposition::Summary).unwrap();
    r.duration_histogram("queue.wait", &[("queue", "emails")])
        .record(2_000_000);
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
    r.duration_histogram("very.slow", &[]).record(u64::MAX);
    (r, traces)
}

pub(crate) fn realistic_registry() -> Registry {
    realistic_registry_with_traces().0
}

/// What `/metrics` would serve for this registry: `target_info` and the process
/// metrics included.
fn full(format: Format, r: &Registry) -> String {
    Encoder::new(format)
        .target_info(&[
            ("service.name", "shop"),
            ("service.version", "1.4.2"),
            ("observe.team", "payments"),
            ("observe.owner", "oncall@example.com"),
        ])
        .process_metrics(true)
        .encode(r)
}

/// One sample line: name, labels, value, and the exemplar (trace id, value) if any.
#[derive(Debug)]
pub(crate) struct Sample {
    pub(crate) name: String,
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) value: f64,
    pub(crate) exemplar: Option<(String, f64)>,
}

fn parse_labels(s: &str) -> BTreeMap<String, String> {
    // `k="v",k2="v2"` with `\"`, `\\`, `\n` escapes.
    let mut out = BTreeMap::new();
    let mut chars = s.chars().peekable();
    loop {
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if key.is_empty() {
            break;
        }
        assert_eq!(chars.next(), Some('"'), "label {key} in {s}");
        let mut value = String::new();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some('n') => value.push('\n'),
                    Some(c) => value.push(c),
                    None => break,
                },
                '"' => break,
                c => value.push(c),
            }
        }
        out.insert(key, value);
        if chars.peek() == Some(&',') {
            chars.next();
        }
    }
    out
}

/// Splits a sample line at its label set, respecting quoted values.
fn split_sample(line: &str) -> (&str, &str, &str) {
    let Some(open) = line
        .find('{')
        .filter(|i| line.find(' ').is_none_or(|s| *i < s))
    else {
        let (name, rest) = line.split_once(' ').unwrap();
        return (name, "", rest);
    };
    let mut in_quotes = false;
    let mut escaped = false;
    for (i, c) in line[open..].char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => in_quotes = !in_quotes,
            '}' if !in_quotes => {
                let close = open + i;
                return (
                    &line[..open],
                    &line[open + 1..close],
                    line[close + 1..].trim_start(),
                );
            }
            _ => {}
        }
    }
    panic!("unterminated label set: {line}")
}

pub(crate) fn parse(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|line| {
            let (name, labels, rest) = split_sample(line);
            let (value, exemplar) = match rest.split_once(" # ") {
                Some((v, e)) => {
                    let (labels, rest) = e
                        .strip_prefix('{')
                        .and_then(|e| e.split_once("} "))
                        .unwrap_or_else(|| panic!("exemplar in {line}"));
                    let trace = parse_labels(labels)["trace_id"].clone();
                    let value: f64 = rest.split(' ').next().unwrap().parse().unwrap();
                    (v, Some((trace, value)))
                }
                None => (rest, None),
            };
            let value = match value {
                "+Inf" => f64::INFINITY,
                "NaN" => f64::NAN,
                v => v
                    .parse()
                    .unwrap_or_else(|_| panic!("bad value in {line:?}")),
            };
            Sample {
                name: name.to_owned(),
                labels: parse_labels(labels),
                value,
                exemplar,
            }
        })
        .collect()
}

fn find<'a>(samples: &'a [Sample], name: &str, labels: &[(&str, &str)]) -> Option<&'a Sample> {
    samples.iter().find(|s| {
        s.name == name
            && s.labels.len() == labels.len()
            && labels
                .iter()
                .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(v))
    })
}

const ROUTE: [(&str, &str); 5] = [
    ("http_request_method", "GET"),
    ("http_response_status_code", "200"),
    ("http_route", "/orders/{id}"),
    ("request_type", "standard"),
    ("url_scheme", "http"),
];

#[test]
fn histogram_shape_names_units_and_escaping() {
    let text = realistic_registry().prometheus_text();
    let samples = parse(&text);
    assert!(text.contains(
        "# HELP http_server_request_duration_seconds Duration of HTTP server requests.\n# TYPE http_server_request_duration_seconds histogram\n"
    ));
    // Every default boundary, canonical, cumulative, then +Inf, _sum and _count.
    let mut previous = 0.0;
    for b in DEFAULT_DURATION_BUCKETS
        .iter()
        .map(|b| Some(*b))
        .chain([None])
    {
        let le = b.map_or("+Inf".to_owned(), |b| {
            let s = format!("{b}");
            if s.contains('.') { s } else { format!("{s}.0") }
        });
        let mut labels = ROUTE.to_vec();
        labels.push(("le", &le));
        let s = find(
            &samples,
            "http_server_request_duration_seconds_bucket",
            &labels,
        )
        .unwrap_or_else(|| panic!("bucket le={le} missing"));
        assert!(s.value >= previous, "le={le} is not cumulative");
        previous = s.value;
    }
    assert_eq!(previous, 200.0);
    assert_eq!(
        find(
            &samples,
            "http_server_request_duration_seconds_count",
            &ROUTE
        )
        .map(|s| s.value),
        Some(200.0)
    );
    // 200 observations 1 ms + k * 10 µs: 1.0 .. 2.99 ms, sum 398 ms.
    let sum = find(&samples, "http_server_request_duration_seconds_sum", &ROUTE).unwrap();
    assert!((sum.value - 0.399).abs() < 1e-9, "{}", sum.value);
    let le = |v: &str| {
        let mut l = ROUTE.to_vec();
        l.push(("le", v));
        find(&samples, "http_server_request_duration_seconds_bucket", &l)
            .unwrap()
            .value
    };
    assert_eq!(le("0.001"), 1.0); // exactly 1 ms is counted in le=0.001
    assert_eq!(le("0.0015"), 51.0); // 1.00 .. 1.50 ms
    assert_eq!(le("0.0025"), 151.0);
    assert_eq!(le("0.0035"), 200.0);
    // The text format has no exemplars.
    assert!(samples.iter().all(|s| s.exemplar.is_none()));
    // Unmatched route, unknown method, status and scheme are bounded; 5xx carries
    // error.type, a failure without a status its type.
    assert!(text.contains(r#"http_route="unmatched""#));
    assert!(text.contains(
        r#"{error_type="panic",http_request_method="_OTHER",http_response_status_code="_OTHER",http_route="/weird",request_type="standard",url_scheme="http",le="#
    ));
    assert!(
        text.contains(
            r#"error_type="503",http_request_method="GET",http_response_status_code="503""#
        )
    );
    assert!(!text.contains(r#"error_type="404""#));
    assert!(text.contains(r#"http_client_request_duration_seconds_count{error_type="_OTHER",http_request_method="GET",request_type="standard",server_address="api.example.com"} 1"#));
    // Tracer bullets stay separable.
    assert!(text.contains(r#"request_type="tracer_bullet",url_scheme="https""#));
    // Escaping.
    assert!(
        text.contains(
            r#"tricky_values_seconds_count{v="a \"quoted\" back\\slash\nnew line, ünïcødé"} 1"#
        ),
        "{text}"
    );
    assert!(text.contains(
        "# HELP batch_size Messages per batch,\\nwith a newline, a \"quote\" and a \\\\ backslash.\n"
    ));
    // Units and suffixes.
    assert!(text.contains("# TYPE payload_size_bytes histogram\n"));
    assert!(text.contains("payload_size_bytes_bucket{le=\"2500.0\"} 1\n"));
    assert!(text.contains("basket_items_sum 3\n"));
    assert!(
        text.contains("basket_items_bucket{le=\"2.5\"} 0\nbasket_items_bucket{le=\"5.0\"} 1\n")
    );
    assert!(text.contains("orders_placed_total{channel=\"web\"} 17\n"));
    assert!(text.contains("# TYPE retries_total counter\nretries_total 2\n"));
    assert!(text.contains("queue_depth{queue=\"emails\"} -4\n"));
    // Seconds: the 30 s client call.
    assert!(text.contains("http_client_request_duration_seconds_sum{error_type=\"_OTHER\",http_request_method=\"GET\",request_type=\"standard\",server_address=\"api.example.com\"} 30\n"));
    // The aged-out key keeps its cumulative buckets.
    assert!(text.contains("old_key_seconds_count 1\n"));
    assert!(text.contains("old_key_seconds_bucket{le=\"0.0001\"} 1\n"));
    // The summary set for one metric: window quantiles, the maximum as "1.0".
    assert!(text.contains("# TYPE queue_wait_seconds summary\n"));
    assert!(text.contains("queue_wait_seconds{queue=\"emails\",quantile=\"1.0\"} 0.002"));
    // The clamp and the overflow are counted.
    assert!(
        text.contains(
            "observe_metrics_clamped_observations_total{metric=\"very_slow_seconds\"} 1\n"
        )
    );
    assert!(
        text.contains("observe_metrics_overflow_label_sets_total{metric=\"per_user_total\"} 5\n")
    );
}

/// Buckets derived from the HDR bins against the raw samples: `le` counts every
/// sample at or below it (exactly on the boundary included), and nothing above
/// `le + le / 1024` (the HDR bin width at `le`, the stated bound).
#[test]
fn buckets_are_inclusive_and_exact_within_the_stated_bound() {
    let r = Registry::new();
    let h = r.duration_histogram("bound.check", &[]);
    let mut rng = Rng::new(7);
    let mut samples: Vec<u64> = (0..50_000)
        .map(|_| (2e6 * (1.4 * rng.normal()).exp()) as u64)
        .collect();
    // Every boundary exactly, one below, one above, and a bin width above.
    for &b in &DEFAULT_DURATION_BUCKETS {
        let t = (b * 1e9).round() as u64;
        samples.extend([t, t - 1, t + 1, t + t / 1024]);
    }
    for &v in &samples {
        h.record(v);
    }
    let text = r.prometheus_text();
    let got = parse(&text);
    for &b in &DEFAULT_DURATION_BUCKETS {
        let t = (b * 1e9).round() as u64;
        let le = got
            .iter()
            .find(|s| {
                s.name == "bound_check_seconds_bucket"
                    && s.labels["le"].parse::<f64>().unwrap() == b
            })
            .unwrap()
            .value as usize;
        let at_or_below = samples.iter().filter(|&&v| v <= t).count();
        let within_bound = samples.iter().filter(|&&v| v <= t + t / 1024).count();
        assert!(
            at_or_below <= le && le <= within_bound,
            "le={b}: {le} not in [{at_or_below}, {within_bound}]"
        );
    }
    let inf = find(&got, "bound_check_seconds_bucket", &[("le", "+Inf")]).unwrap();
    assert_eq!(inf.value as usize, samples.len());
    let sum = find(&got, "bound_check_seconds_sum", &[]).unwrap();
    let exact: u64 = samples.iter().sum();
    assert!((sum.value - exact as f64 / 1e9).abs() < 1e-6 * sum.value);
}

#[test]
fn boundaries_are_configurable_and_checked() {
    let r = Registry::new();
    r.set_buckets("items", &[1.0, 2.0, 3.0]).unwrap();
    let h = r.histogram("items", Unit::None, &[]);
    for v in [0, 1, 2, 2, 3, 4, 100] {
        h.record(v);
    }
    let text = r.prometheus_text();
    assert!(
        text.contains(
            "items_bucket{le=\"1.0\"} 2\nitems_bucket{le=\"2.0\"} 4\nitems_bucket{le=\"3.0\"} 5\nitems_bucket{le=\"+Inf\"} 7\nitems_sum 112\nitems_count 7\n"
        ),
        "{text}"
    );
    // After creation too; for durations they are seconds.
    let d = r.duration_histogram("slow.op", &[]);
    d.record(700_000_000);
    r.set_buckets("slow.op", &[0.5, 1.0]).unwrap();
    assert!(
        r.prometheus_text().contains(
            "slow_op_seconds_bucket{le=\"0.5\"} 0\nslow_op_seconds_bucket{le=\"1.0\"} 1\n"
        )
    );
    for bad in [&[][..], &[2.0, 1.0], &[f64::NAN], &[-1.0]] {
        let e = r.set_buckets("items", bad).unwrap_err();
        assert!(matches!(e, MetricError::InvalidBuckets { .. }), "{e}");
    }
    r.counter("not.a.histogram", &[]).inc();
    assert!(matches!(
        r.set_buckets("not.a.histogram", &[1.0]),
        Err(MetricError::Conflict { .. })
    ));
}

#[test]
fn summaries_are_an_option_globally_and_per_metric() {
    let r = Registry::new();
    r.duration_histogram("a.duration", &[]).record(3_000_000);
    r.duration_histogram("b.duration", &[]).record(3_000_000);
    assert!(
        r.prometheus_text()
            .contains("# TYPE a_duration_seconds histogram\n")
    );
    r.set_default_exposition(Exposition::Summary);
    r.set_exposition("b.duration", Exposition::Histogram)
        .unwrap();
    let text = r.prometheus_text();
    assert!(
        text.contains("# TYPE a_duration_seconds summary\n"),
        "{text}"
    );
    for q in ["0.5", "0.9", "0.99", "0.999", "0.9999", "0.99999", "1.0"] {
        assert!(
            text.contains(&format!("a_duration_seconds{{quantile=\"{q}\"}} 0.003")),
            "quantile {q} missing:\n{text}"
        );
    }
    assert!(text.contains("a_duration_seconds_count 1\n"));
    assert!(text.contains("# TYPE b_duration_seconds histogram\n"));
    let built = Registry::builder()
        .exposition(Exposition::Summary)
        .build()
        .unwrap();
    assert_eq!(built.default_exposition(), Exposition::Summary);
}

/// Issue 18: `histogram("basket.items").record(3)` was exposed as
/// `basket_items_seconds` 3e-9. Units are explicit now: a count stays a count, a
/// duration goes through the duration API, and neither is mistaken for the other.
#[test]
fn units_are_explicit_and_never_assumed() {
    let r = Registry::new();
    r.histogram("basket.items", Unit::None, &[]).record(3);
    r.histogram("render.time", Unit::custom("ms"), &[])
        .record(12);
    r.histogram("batch.size", Unit::custom("{message}"), &[])
        .record(7);
    r.duration_histogram("checkout.duration", &[])
        .record_duration(std::time::Duration::from_millis(40));
    let text = r.prometheus_text();
    assert!(!text.contains("basket_items_seconds"), "{text}");
    assert!(text.contains("basket_items_sum 3\n"));
    assert!(text.contains("render_time_milliseconds_sum 12\n"));
    assert!(text.contains("batch_size_sum 7\n"));
    assert!(text.contains("checkout_duration_seconds_sum 0.04\n"));
    let om = r.openmetrics_text();
    assert!(om.contains(
        "# TYPE render_time_milliseconds histogram\n# UNIT render_time_milliseconds milliseconds\n"
    ));
    assert!(om.contains("# TYPE basket_items histogram\n# HELP basket_items"));
    let snap = r.snapshot();
    assert_eq!(
        snap.histogram("basket.items", &[]).unwrap().unit,
        Unit::None
    );
    assert_eq!(
        snap.histogram("render.time", &[]).unwrap().unit.otel(),
        "ms"
    );
    let json = snap.to_json();
    assert!(
        json.contains(r#""unit":"none""#) && json.contains(r#""unit":"ms""#),
        "{json}"
    );

    // A duration into a count is refused, not misread.
    let items = r.histogram("basket.items", Unit::None, &[]);
    items.record_duration(std::time::Duration::from_secs(1));
    assert_eq!(
        r.snapshot()
            .histogram("basket.items", &[])
            .unwrap()
            .cumulative
            .count,
        1
    );
    // The unit is part of the metric: asking for another is an error.
    assert!(matches!(
        r.try_histogram("basket.items", Unit::Bytes, &[]),
        Err(MetricError::Conflict { .. })
    ));
    assert!(matches!(
        r.try_histogram("http.server.request.duration", Unit::None, &[]),
        Err(MetricError::Conflict { .. })
    ));
    assert!(matches!(
        r.try_histogram("bad.unit", Unit::custom("n s"), &[]),
        Err(MetricError::InvalidUnit { .. })
    ));
    assert!(matches!(
        r.try_histogram("bad.unit", Unit::custom("ns"), &[]),
        Err(MetricError::InvalidUnit { .. })
    ));
}

/// Runs promtool with `stdin`; `None` (and a loud message) if it is not installed.
fn promtool(args: &[&str], stdin: &str, test: &str) -> Option<(bool, String)> {
    let child = Command::new("promtool")
        .args(args)
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
                    "\n\n*** SKIPPED {test}: `promtool` not found (apt-get install prometheus; scripts/setup.sh installs it) ***\n\n"
                );
            }
            return None;
        }
        Err(e) => panic!("cannot run promtool: {e}"),
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    Some((
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    ))
}

/// `promtool check metrics` accepts the text with no lint complaint: histograms
/// (the default), summaries (the option), `target_info` and the process metrics.
#[test]
fn promtool_check_metrics_passes() {
    let r = realistic_registry();
    for exposition in [Exposition::Histogram, Exposition::Summary] {
        r.set_default_exposition(exposition);
        let text = full(Format::Text, &r);
        assert!(text.starts_with("# HELP target_info "));
        assert!(text.contains("# TYPE target_info gauge\ntarget_info{service_name=\"shop\",service_version=\"1.4.2\",observe_team=\"payments\",observe_owner=\"oncall@example.com\"} 1\n"));
        #[cfg(target_os = "linux")]
        for name in [
            "process_cpu_seconds_total ",
            "process_resident_memory_bytes ",
            "process_open_fds ",
            "process_max_fds ",
            "process_start_time_seconds ",
        ] {
            assert!(text.contains(&format!("\n{name}")), "{name} missing");
        }
        let Some((ok, report)) = promtool(
            &["check", "metrics"],
            &text,
            "promtool_check_metrics_passes",
        ) else {
            return;
        };
        assert!(
            ok && report.trim().is_empty(),
            "promtool ({exposition:?}): {report}\n---\n{text}"
        );
    }
}

/// The OpenMetrics output: its structure, exemplars whose trace ids were
/// recorded, and Prometheus's own OpenMetrics parser accepting every line.
#[test]
fn openmetrics_is_valid_and_carries_the_recorded_exemplars() {
    let (r, traces) = realistic_registry_with_traces();
    let text = full(Format::OpenMetrics, &r);
    assert!(text.ends_with("\n# EOF\n"), "{text}");
    assert!(text.starts_with("# TYPE target info\n# HELP target "));
    assert!(text.contains("\ntarget_info{service_name=\"shop\","));
    assert!(text.contains(
        "# TYPE http_server_request_duration_seconds histogram\n# UNIT http_server_request_duration_seconds seconds\n# HELP http_server_request_duration_seconds Duration of HTTP server requests.\n"
    ));
    assert!(text.contains("# TYPE orders_placed counter\n# HELP orders_placed "));
    assert!(text.contains("\norders_placed_total{channel=\"web\"} 17\n"));
    assert!(text.contains("# TYPE retries counter\n"));
    assert!(text.contains("\nretries_total 2\n"));
    assert!(
        text.contains("# TYPE payload_size_bytes histogram\n# UNIT payload_size_bytes bytes\n")
    );
    assert!(text.contains("# TYPE observe_metrics_overflow_label_sets counter\n"));
    // HELP escapes the quote in OpenMetrics.
    assert!(text.contains("a \\\"quote\\\" and a \\\\ backslash."));
    #[cfg(target_os = "linux")]
    assert!(
        text.contains("# TYPE process_cpu_seconds counter\n# UNIT process_cpu_seconds seconds\n")
    );

    // Exemplars: on buckets only, at most one per bucket, each a recorded trace
    // id, its value inside its bucket.
    let samples = parse(&text);
    let mut previous_le: BTreeMap<String, f64> = BTreeMap::new();
    let mut seen = 0;
    for s in &samples {
        let key = format!("{}{:?}", s.name, {
            let mut l = s.labels.clone();
            l.remove("le");
            l
        });
        let le = s.labels.get("le").map(|v| v.parse::<f64>().unwrap());
        if let Some((trace, value)) = &s.exemplar {
            assert!(s.name.ends_with("_bucket"), "exemplar on {}", s.name);
            let t = TraceId::from_hex(trace).expect("a trace id");
            assert!(traces.contains(&t), "{trace} was never recorded");
            let le = le.unwrap();
            let low = previous_le.get(&key).copied().unwrap_or(f64::NEG_INFINITY);
            assert!(
                *value <= le && *value > low,
                "{value} outside ({low}, {le}]"
            );
            seen += 1;
        }
        if let Some(le) = le {
            previous_le.insert(key, le);
        }
    }
    // Every route and status has a slowest exemplar; the 503s have errors too.
    assert!(seen >= 12, "{seen} exemplars");
    let error_buckets = samples
        .iter()
        .filter(|s| {
            s.exemplar.is_some() && s.labels.get("error_type").map(String::as_str) == Some("503")
        })
        .count();
    assert!(error_buckets >= 4, "{error_buckets}");

    // Prometheus's OpenMetrics parser: backfilling needs a timestamp on every
    // sample, the only change made to the text.
    let ts = 1_700_000_000;
    let mut stamped = String::new();
    let mut sample_lines = 0;
    for line in text.lines() {
        if line.starts_with('#') {
            stamped.push_str(line);
        } else {
            sample_lines += 1;
            match line.split_once(" # ") {
                Some((sample, exemplar)) => {
                    stamped.push_str(&format!("{sample} {ts} # {exemplar}"));
                }
                None => stamped.push_str(&format!("{line} {ts}")),
            }
        }
        stamped.push('\n');
    }
    let dir = std::env::temp_dir().join(format!("observe-om-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("metrics.om");
    std::fs::write(&file, &stamped).unwrap();
    let out = Command::new("promtool")
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&file)
        .arg(dir.join("blocks"))
        .output();
    let out = match out {
        Ok(o) => o,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            #[allow(clippy::print_stderr)]
            {
                eprintln!(
                    "\n\n*** SKIPPED the OpenMetrics parser check: `promtool` not found (apt-get install prometheus) ***\n\n"
                );
            }
            return;
        }
        Err(e) => panic!("cannot run promtool: {e}"),
    };
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
    assert!(out.status.success(), "promtool: {report}\n---\n{text}");
    // The block table: BLOCK ULID, MIN TIME, MAX TIME, DURATION, NUM SAMPLES, ...
    let row: Vec<&str> = report
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some("1700000000000"))
        .unwrap_or_else(|| panic!("no block in {report}"))
        .split_whitespace()
        .collect();
    assert_eq!(row[4].parse::<usize>().unwrap(), sample_lines, "{report}");
}
