//! `init()` is process-wide by nature, so each scenario runs in a child process of
//! this test binary (selected by an environment variable), whatever the test runner.

use std::process::Command;

mod supervision;

const SCENARIO: &str = "OBSERVE_TEST_INIT_SCENARIO";

/// Runs `scenario` in a child process and returns its stdout and stderr.
fn run(scenario: &str, env: &[(&str, &str)]) -> (String, String) {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "--exact",
        "child",
        "--nocapture",
        "--test-threads=1",
        "--quiet",
    ])
    .env(SCENARIO, scenario)
    .env_remove("RUST_LOG");
    for k in observe_core::config::VARIABLES {
        cmd.env_remove(k);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "scenario {scenario} failed:\n{stdout}\n{stderr}"
    );
    (stdout, stderr)
}

/// The child side: does what the scenario says and prints `RESULT:` lines.
#[test]
fn child() {
    let Ok(scenario) = std::env::var(SCENARIO) else {
        return;
    };
    #[allow(clippy::print_stdout)]
    let say = |s: String| println!("RESULT: {s}");
    match scenario.as_str() {
        "twice" => {
            let guard = observe_core::init().expect("first init");
            tracing::info!(answer = 42, "hello from init");
            let second = observe_core::init().expect_err("second init must fail");
            say(format!("{second}"));
            say(format!(
                "{:?}",
                matches!(second, observe_core::InitError::AlreadyInitialized)
            ));
            drop(guard);
        }
        "after-other-subscriber" => {
            tracing::subscriber::set_global_default(tracing_subscriber::registry()).unwrap();
            let err = observe_core::init().expect_err("init must refuse");
            say(format!("{err}"));
            say(format!(
                "{:?}",
                matches!(err, observe_core::InitError::SubscriberExists)
            ));
        }
        "layer" => {
            use tracing_subscriber::layer::SubscriberExt as _;
            let (layer, guard) = observe_core::layer().expect("layer");
            tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer))
                .unwrap();
            observe_core::span::Span::new("composed")
                .in_scope(|| tracing::info!("through my own subscriber"));
            drop(guard);
        }
        "disabled" => {
            let guard = observe_core::init().expect("disabled init is Ok");
            say(format!("enabled={}", guard.is_enabled()));
            tracing::info!("this goes nowhere");
        }
        "bad-config" => {
            let err = observe_core::init().expect_err("bad config");
            say(format!("{err}"));
        }
        "panicking-sink" => {
            struct Broken;
            impl observe_core::sink::Sink for Broken {
                fn on_log(&mut self, _: &observe_core::log::LogRecord) {
                    panic!("broken sink");
                }
            }
            let guard = observe_core::Observe::builder()
                .sink(Broken)
                .init()
                .expect("init");
            tracing::info!("one");
            tracing::info!("two");
            drop(guard);
        }
        "metrics-collector-down" => {
            let guard = observe_core::init().expect("init");
            observe_core::metrics::counter("jobs", &[]).add(1);
            // A few failed sends (every 100 ms), and the worker's once-a-second look.
            std::thread::sleep(std::time::Duration::from_millis(2500));
            drop(guard);
        }
        "summary" => {
            let guard = observe_core::init().expect("init");
            tracing::info!("after the summary");
            drop(guard);
        }
        "exposition" => {
            let guard = observe_core::init().expect("init");
            observe_core::metrics::duration_histogram("job.duration", &[])
                .record_duration(std::time::Duration::from_millis(3));
            let text = observe_core::metrics::prometheus_text();
            say(format!(
                "buckets={} quantiles={}",
                text.contains("job_duration_seconds_bucket{"),
                text.contains("job_duration_seconds{quantile=")
            ));
            drop(guard);
        }
        "traces-collector-down" => {
            let guard = observe_core::init().expect("init");
            for _ in 0..50 {
                observe_core::span::Span::new("job").end();
            }
            // Attempts refused and retried, and the worker's once-a-second look.
            std::thread::sleep(std::time::Duration::from_millis(2500));
            for line in observe_core::metrics::prometheus_text().lines() {
                if line.starts_with("observe_export_pending{")
                    || line.starts_with("observe_export_retries_total{")
                {
                    say(line.to_owned());
                }
            }
            drop(guard);
        }
        "endless-timeouts" => {
            let guard = observe_core::init().expect("init");
            tracing::info!("before an endless flush");
            say(format!("flushed={}", guard.flush(std::time::Duration::MAX)));
            // Dropped: shut down with OBSERVE_SHUTDOWN_TIMEOUT, past what an
            // `Instant` holds.
            drop(guard);
            say("stopped".to_owned());
        }
        other => panic!("unknown scenario {other}"),
    }
}

fn results(stdout: &str) -> Vec<&str> {
    stdout
        .lines()
        .filter_map(|l| l.split_once("RESULT: ").map(|(_, r)| r))
        .collect()
}

fn json_lines(stdout: &str) -> Vec<serde_json::Value> {
    stdout
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Timeouts past what an `Instant` can hold mean "as long as it takes": they
/// used to panic when shutdown added them to the current instant.
#[test]
fn timeouts_past_what_an_instant_holds_wait_instead_of_panicking() {
    let (stdout, stderr) = run(
        "endless-timeouts",
        &[("OBSERVE_SHUTDOWN_TIMEOUT", "18446744073709551615s")],
    );
    assert_eq!(results(&stdout), ["flushed=true", "stopped"], "{stderr}");
}

#[test]
fn a_second_init_is_an_error_value_and_the_first_keeps_working() {
    let (out, _) = run("twice", &[("OTEL_SERVICE_NAME", "twice")]);
    let r = results(&out);
    assert!(r[0].contains("already initialised"), "{r:?}");
    assert_eq!(r[1], "true");
    let lines = json_lines(&out);
    let hello = lines
        .iter()
        .find(|l| l["message"] == "hello from init")
        .expect("the log line was flushed on drop");
    assert_eq!(hello["service"], "twice");
    assert_eq!(hello["fields"]["answer"], 42);
}

#[test]
fn init_after_another_global_subscriber_says_to_use_layer() {
    let (out, _) = run("after-other-subscriber", &[]);
    let r = results(&out);
    assert!(r[0].contains("observe_core::layer()"), "{r:?}");
    assert_eq!(r[1], "true");
}

#[test]
fn layer_composes_with_a_users_subscriber() {
    let (out, _) = run("layer", &[]);
    let lines = json_lines(&out);
    let l = lines
        .iter()
        .find(|l| l["message"] == "through my own subscriber")
        .expect("line written");
    assert_eq!(l["span"], "composed");
    assert!(l["trace_id"].is_string());
}

#[test]
fn otel_sdk_disabled_turns_everything_off() {
    let (out, _) = run("disabled", &[("OTEL_SDK_DISABLED", "true")]);
    assert_eq!(results(&out), ["enabled=false"]);
    assert!(json_lines(&out).is_empty());
}

#[test]
fn bad_configuration_is_one_error_naming_every_variable() {
    let (out, _) = run(
        "bad-config",
        &[
            ("OTEL_TRACES_SAMPLER", "sometimes"),
            ("OBSERVE_LOG_FORMAT", "xml"),
            ("RUST_LOG", "info"),
        ],
    );
    // The error spans several lines: one per problem.
    let r = out;
    assert!(r.contains("2 problems"), "{r}");
    assert!(r.contains("OTEL_TRACES_SAMPLER=\"sometimes\""), "{r}");
    assert!(r.contains("OBSERVE_LOG_FORMAT=\"xml\""), "{r}");
}

#[test]
fn the_guard_says_on_drop_what_supervision_caught() {
    // No admin listener: its start-up line would be one more record for the sink.
    let (out, err) = run("panicking-sink", &[("OBSERVE_ADMIN_ADDR", "off")]);
    let report: Vec<&str> = err.lines().filter(|l| l.starts_with("observe: ")).collect();
    assert_eq!(report.len(), 1, "{err}");
    // The startup summary, the two lines, and the supervision warning (which this
    // sink gets too).
    assert!(
        report[0].contains("caught 4 panic(s) in sinks and 0 in background threads"),
        "{err}"
    );
    // The log lines were written all the same.
    let lines = json_lines(&out);
    assert!(lines.iter().any(|l| l["message"] == "one"), "{out}");
    assert!(lines.iter().any(|l| l["message"] == "two"), "{out}");
}

#[test]
fn observe_metrics_exposition_chooses_summaries_for_the_process() {
    let (out, _) = run("exposition", &[]);
    assert_eq!(results(&out), ["buckets=true quantiles=false"]);
    let (out, _) = run("exposition", &[("OBSERVE_METRICS_EXPOSITION", "summary")]);
    assert_eq!(results(&out), ["buckets=false quantiles=true"]);
}

#[test]
fn failing_metric_exports_are_logged_once_like_span_and_log_exports() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let endpoint = format!("http://127.0.0.1:{port}/v1/metrics");
    let (out, _) = run(
        "metrics-collector-down",
        &[
            ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", endpoint.as_str()),
            ("OTEL_METRIC_EXPORT_INTERVAL", "100"),
            ("OTEL_EXPORTER_OTLP_METRICS_TIMEOUT", "200"),
        ],
    );
    let warnings: Vec<serde_json::Value> = json_lines(&out)
        .into_iter()
        .filter(|l| {
            l["message"] == "OTLP metric export is failing (collector down, slow or refusing)"
        })
        .collect();
    assert_eq!(warnings.len(), 1, "rate-limited to one: {out}");
    let w = &warnings[0];
    assert_eq!(w["level"], "WARN");
    assert_eq!(w["target"], "observe");
    assert_eq!(w["fields"]["component"], "export");
    assert!(w["fields"]["failed_requests"].as_u64().unwrap() >= 1, "{w}");
    assert!(
        w["fields"]["last_error"]
            .as_str()
            .unwrap()
            .starts_with("metrics:"),
        "{w}"
    );
}

/// A collector that keeps failing shows on `/metrics` as pending items and retries
/// before anything is dropped.
#[test]
fn a_collector_retried_shows_as_pending_items_and_retries() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let endpoint = format!("http://127.0.0.1:{port}/v1/traces");
    let (out, _) = run(
        "traces-collector-down",
        &[
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", endpoint.as_str()),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
            ("OBSERVE_LOG_OUTPUT", "none"),
            ("OBSERVE_SHUTDOWN_TIMEOUT", "0"),
        ],
    );
    let value = |prefix: &str| -> f64 {
        results(&out)
            .iter()
            .find(|l| l.starts_with(prefix))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{prefix}: {out}"))
    };
    assert_eq!(
        value("observe_export_pending{signal=\"spans\"}"),
        50.0,
        "{out}"
    );
    assert!(
        value("observe_export_retries_total{signal=\"spans\"}") >= 1.0,
        "{out}"
    );
}

#[test]
fn the_summary_shows_the_port_the_admin_listener_got_not_the_configured_zero() {
    let (out, _) = run("summary", &[("OBSERVE_ADMIN_ADDR", "127.0.0.1:0")]);
    let lines = json_lines(&out);
    let summary = &lines[0];
    let admin = summary["fields"]["admin"].as_str().unwrap();
    assert!(admin.starts_with("http://127.0.0.1:"), "{out}");
    assert_ne!(admin, "http://127.0.0.1:0", "{out}");
    // The listener's own line, after the summary, names the same address.
    let listening = lines
        .iter()
        .position(|l| {
            l["target"] == "observe::admin"
                && l["message"]
                    == format!(
                        "observe admin listening: {admin}/metrics and the page at {admin}/observe"
                    )
        })
        .unwrap_or_else(|| panic!("no listening line for {admin}:\n{out}"));
    assert!(listening > 0);
    let message = summary["message"].as_str().unwrap();
    assert!(message.contains(&format!("admin {admin}")), "{message}");
    assert!(
        message.contains(&format!("metrics → Prometheus at {admin}/metrics")),
        "{message}"
    );
}

#[test]
fn init_says_what_it_did_in_one_line_and_warns_about_unknown_variables() {
    let (out, _) = run(
        "summary",
        &[
            ("OTEL_SERVICE_NAME", "summarised"),
            ("OBSERVE_LOG_FROMAT", "pretty"),
            ("OTEL_PROPAGATORS", "b3"),
        ],
    );
    let lines = json_lines(&out);
    // The summary comes first, then the warnings, then the application's lines.
    let summary = &lines[0];
    assert_eq!(summary["level"], "INFO", "{out}");
    let message = summary["message"].as_str().unwrap();
    assert!(
        message.starts_with("observe started: summarised "),
        "{message}"
    );
    for part in [
        "traces → ",
        "metrics → ",
        "logs → stdout (json)",
        "sampler parentbased_always_on",
        "admin http://127.0.0.1:9464",
    ] {
        assert!(message.contains(part), "{part} missing from {message}");
    }
    assert_eq!(summary["fields"]["log_format"], "json");
    assert_eq!(
        lines
            .iter()
            .filter(|l| l["message"]
                .as_str()
                .unwrap()
                .starts_with("observe started"))
            .count(),
        1
    );
    // The admin listener's own warning (its default port taken by a test running
    // beside this one) is not about variables.
    let warnings: Vec<&str> = lines
        .iter()
        .filter(|l| l["level"] == "WARN" && l["target"] != "observe::admin")
        .map(|l| l["message"].as_str().unwrap())
        .collect();
    assert_eq!(
        warnings,
        [
            "OBSERVE_LOG_FROMAT is not an observe variable; it is ignored (did you mean OBSERVE_LOG_FORMAT?)",
            "OTEL_PROPAGATORS is not supported by observe; it is ignored (docs/configuration.md lists every variable)",
        ],
        "{out}"
    );
    assert!(lines.iter().any(|l| l["message"] == "after the summary"));
}
