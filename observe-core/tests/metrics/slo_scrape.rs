//! A real Prometheus scrapes an instance's `observe_slo_*` metrics and computes
//! the burn rate with its own recording rule over observe's counters:
//!
//! ```text
//! (1 - increase(observe_slo_good_total[5m]) / increase(observe_slo_requests_total[5m]))
//!   / (1 - observe_slo_objective)
//! ```
//!
//! It must agree with observe's own `observe_slo_burn_rate{window="5m"}` within
//! 1 % (relative). Both count from the same cumulative counters, and the ratio of
//! two `increase()`s over the same samples cancels Prometheus's extrapolation, so
//! the only gap is when each side last looked; the test compares once traffic has
//! stopped and both have seen the last request, where they agree to rounding.
//!
//! Bounded: every wait polls with a deadline; the server is killed and its
//! directory removed however the test ends. Skips, loudly, only when the
//! `prometheus` binary is not installed.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use observe_core::metrics::prometheus::{Encoder, Format};
use observe_core::metrics::{Registry, RequestType};
use observe_core::slo::{Slo, SloEngine};

use crate::scrape::{Cleanup, free_port, http_get, query, value, wait_for};

/// The registry and the engine's metrics on a loopback port, as `/metrics`
/// serves them.
fn serve(registry: Registry, engine: Arc<SloEngine>, stop: Arc<AtomicBool>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(90);
        while !stop.load(Ordering::SeqCst) && Instant::now() < deadline {
            let Ok((mut conn, _)) = listener.accept() else {
                std::thread::sleep(Duration::from_millis(10));
                continue;
            };
            let _ = conn.set_nonblocking(false);
            let _ = conn.set_read_timeout(Some(Duration::from_secs(2)));
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let mut line = String::new();
            let mut accept = None;
            while reader.read_line(&mut line).map(|n| n > 0).unwrap_or(false) {
                if line == "\r\n" {
                    break;
                }
                if let Some((k, v)) = line.split_once(':')
                    && k.eq_ignore_ascii_case("accept")
                {
                    accept = http::HeaderValue::from_str(v.trim()).ok();
                }
                line.clear();
            }
            let format = Format::negotiate(accept.as_ref());
            let mut body = Encoder::new(format).encode(&registry);
            let eof = body.ends_with("# EOF\n");
            if eof {
                body.truncate(body.len() - 6);
            }
            body.push_str(&observe_core::slo::prometheus_text(&engine, format));
            if eof {
                body.push_str("# EOF\n");
            }
            let _ = write!(
                conn,
                "HTTP/1.1 200 OK\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
                format.content_type(),
                body.len(),
                body
            );
        }
    });
    port
}

fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

#[test]
fn a_prometheus_recording_rule_over_observe_counters_agrees_with_observes_burn_rate() {
    let binary = ["/usr/bin/prometheus", "prometheus"].into_iter().find(|b| {
        Command::new(b)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok()
    });
    let Some(binary) = binary else {
        #[allow(clippy::print_stderr)]
        {
            eprintln!(
                "\n\n*** SKIPPED a_prometheus_recording_rule_over_observe_counters_agrees_with_observes_burn_rate: `prometheus` not found (scripts/setup.sh installs it) ***\n\n"
            );
        }
        return;
    };

    let registry = Registry::new();
    let engine = Arc::new(
        SloEngine::builder()
            .registry(registry.clone())
            .slo(
                Slo::latency("GET /checkout", 0.99, Duration::from_millis(300))
                    .named("checkout-fast"),
            )
            .build()
            .unwrap(),
    );
    let stop = Arc::new(AtomicBool::new(false));
    {
        // observe's background tick, here on a thread of the test's own.
        let (engine, stop) = (engine.clone(), stop.clone());
        std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(90);
            while !stop.load(Ordering::SeqCst) && Instant::now() < deadline {
                engine.tick();
                std::thread::sleep(Duration::from_millis(50));
            }
        });
    }
    let port = serve(registry.clone(), engine.clone(), stop.clone());

    let dir = std::env::temp_dir().join(format!("observe-slo-prom-{}-{port}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut cleanup = Cleanup {
        child: None,
        dir: dir.clone(),
        stop,
    };
    let rules = dir.join("rules.yml");
    std::fs::write(
        &rules,
        "groups:\n  - name: slo\n    interval: 250ms\n    rules:\n      - record: slo:burn_rate:5m\n        expr: (1 - increase(observe_slo_good_total[5m]) / increase(observe_slo_requests_total[5m])) / (1 - observe_slo_objective)\n",
    )
    .unwrap();
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 250ms\n  scrape_timeout: 250ms\n  evaluation_interval: 250ms\nrule_files:\n  - {}\nscrape_configs:\n  - job_name: observe\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\n",
            rules.display()
        ),
    )
    .unwrap();
    let mut prom = 0;
    for _attempt in 0..2 {
        prom = free_port();
        let child = Command::new(binary)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{prom}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus starts");
        cleanup.child = Some(child);
        let up = Instant::now() + Duration::from_secs(10);
        while Instant::now() < up && http_get(prom, "/-/ready").is_none() {
            if let Some(Ok(Some(_))) = cleanup.child.as_mut().map(|c| c.try_wait()) {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        if http_get(prom, "/-/ready").is_some() {
            break;
        }
        if let Some(mut c) = cleanup.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
    assert!(cleanup.child.is_some(), "prometheus did not become ready");

    // The counters are scraped at 0 before any traffic.
    wait_for(
        "a scrape of the SLO counters at 0",
        Duration::from_secs(20),
        || {
            query(prom, "observe_slo_requests_total", now_secs())
                .first()
                .and_then(value)
                == Some(0.0)
        },
    );

    // 1000 fast requests, then 50 slow ones, a few batches apart.
    let fast =
        registry.http_server_duration("/checkout", "GET", 200, "http", None, RequestType::Standard);
    for _ in 0..4 {
        for _ in 0..250 {
            fast.record(20_000_000);
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    for _ in 0..50 {
        fast.record(400_000_000);
    }

    // Both sides have seen every request.
    wait_for(
        "observe's evaluation of all 1050 requests",
        Duration::from_secs(10),
        || {
            engine
                .status()
                .first()
                .is_some_and(|s| s.requests_total == 1050)
        },
    );
    wait_for(
        "prometheus's scrape of all 1050 requests",
        Duration::from_secs(20),
        || {
            query(prom, "observe_slo_requests_total", now_secs())
                .first()
                .and_then(value)
                == Some(1050.0)
        },
    );
    let observed = engine.status()[0]
        .windows
        .iter()
        .find(|w| w.window == "5m")
        .unwrap()
        .burn_rate;
    // Exactly 50 bad of 1050 against a 1 % budget.
    let exact = (50.0 / 1050.0) / 0.01;
    assert!((observed - exact).abs() < 1e-9, "observe: {observed}");
    let mut rule = None;
    wait_for(
        "the recording rule over the last scrape",
        Duration::from_secs(20),
        || {
            rule = query(prom, "slo:burn_rate:5m", now_secs())
                .first()
                .and_then(value);
            rule.is_some_and(|r| ((r - observed) / observed).abs() <= 0.01)
        },
    );
    let rule = rule.unwrap();
    assert!(
        ((rule - observed) / observed).abs() <= 0.01,
        "prometheus {rule} vs observe {observed}"
    );
    // observe's own gauge, as Prometheus stored it, is the same figure.
    let gauge = query(
        prom,
        "observe_slo_burn_rate{slo=\"checkout-fast\",window=\"5m\"}",
        now_secs(),
    )
    .first()
    .and_then(value)
    .expect("observe_slo_burn_rate is scraped");
    assert!((gauge - observed).abs() < 1e-6, "{gauge} vs {observed}");
    drop(cleanup);
}
