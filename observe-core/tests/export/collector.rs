//! Through a real OpenTelemetry collector: observe sends to `rotel` (a Rust OTLP
//! collector, from PyPI's `rotel` wheel), which forwards over OTLP/gRPC to the
//! receiver that decodes with OpenTelemetry's own protobuf definitions. What a
//! collector accepts, re-batches and forwards must still be one trace: the same ids,
//! parents, resource and attributes, for spans, logs and metrics.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use observe_core::config::Protocol;

use crate::support::{Receiver, python};
use crate::through_init;

/// A running `rotel-agent`, killed on drop.
struct Rotel {
    child: Child,
    #[cfg_attr(not(feature = "grpc"), allow(dead_code))]
    grpc_port: u16,
    http_port: u16,
}

impl Rotel {
    /// Starts rotel forwarding everything to `receiver`'s gRPC port; `None` (after a
    /// loud message) when the wheel is not installed.
    fn start(receiver: &Receiver) -> Option<Rotel> {
        let agent = agent()?;
        let grpc_port = free_port();
        let http_port = free_port();
        let log = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("rotel-{}-{grpc_port}.log", std::process::id()));
        let child = Command::new(agent)
            .arg("start")
            .args(["--otlp-grpc-endpoint", &format!("127.0.0.1:{grpc_port}")])
            .args(["--otlp-http-endpoint", &format!("127.0.0.1:{http_port}")])
            .args(["--exporter", "otlp"])
            .args([
                "--otlp-exporter-endpoint",
                &format!("http://127.0.0.1:{}", receiver.grpc_port),
            ])
            .args(["--otlp-exporter-protocol", "grpc"])
            .args(["--log-file", log.to_str().expect("utf-8 path")])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start rotel-agent");
        let rotel = Rotel {
            child,
            grpc_port,
            http_port,
        };
        let until = Instant::now() + Duration::from_secs(20);
        while [grpc_port, http_port]
            .iter()
            .any(|p| TcpStream::connect(("127.0.0.1", *p)).is_err())
        {
            assert!(
                Instant::now() < until,
                "rotel did not listen within 20 s; its log: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(rotel)
    }
}

impl Drop for Rotel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `rotel-agent` binary the `rotel` wheel ships, beside its Python package.
fn agent() -> Option<PathBuf> {
    let py = python()?;
    let out = Command::new(py)
        .args([
            "-c",
            "import os, rotel; print(os.path.join(os.path.dirname(rotel.__file__), 'rotel-agent'))",
        ])
        .output()
        .ok()
        .filter(|o| o.status.success());
    let path = out.map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    match path {
        Some(p) if p.exists() => Some(p),
        _ => {
            #[allow(clippy::print_stderr)]
            {
                eprintln!(
                    "\n\n!!!!! SKIPPING COLLECTOR TESTS: the `rotel` wheel is not installed \
                     (scripts/setup.sh installs it). !!!!!\n"
                );
            }
            None
        }
    }
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("address").port()
}

/// Sends through rotel with `protocol` to the port `port` picks, and checks what
/// comes out the other side.
fn through_rotel(protocol: Protocol, port: fn(&Rotel) -> u16, metric: &str) {
    let Some(rx) = Receiver::start(0, -1, None) else {
        return;
    };
    let Some(rotel) = Rotel::start(&rx) else {
        return;
    };
    let endpoint = format!("http://127.0.0.1:{}", port(&rotel));
    through_init::run(&rx, protocol, endpoint, metric);
}

#[cfg(feature = "grpc")]
#[test]
fn spans_logs_and_metrics_pass_through_a_collector_over_grpc() {
    through_rotel(
        Protocol::Grpc,
        |r| r.grpc_port,
        "collector.grpc.basket_value",
    );
}

#[test]
fn spans_logs_and_metrics_pass_through_a_collector_over_http() {
    through_rotel(
        Protocol::HttpProtobuf,
        |r| r.http_port,
        "collector.http.basket_value",
    );
}
