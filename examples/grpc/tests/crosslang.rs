//! Cross-language, checked on what a real collector forwards: a Python `grpcio`
//! client instrumented with `opentelemetry-instrumentation-grpc` calls the example;
//! the example exports OTLP to `rotel` (an OpenTelemetry collector), which forwards
//! it to a receiver that decodes with OpenTelemetry's own protobuf definitions
//! (`observe-core/tests/support/otlp_receiver.py`). The example's server span
//! shares the Python client's trace id and has its span as parent, and the HTTP
//! call the example makes is in the same trace.
//!
//! The interpreter comes from `OBSERVE_TEST_PYTHON` (set by `scripts/test.sh`), else
//! the workspace's `.venv/bin/python`; without either, or without the `rotel`
//! wheel, the test says so and skips.

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn python() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("OBSERVE_TEST_PYTHON") {
        return Some(PathBuf::from(p));
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python");
    venv.exists().then_some(venv)
}

#[allow(clippy::print_stderr)]
fn skip(why: &str) {
    eprintln!(
        "\n\n!!!!! SKIPPING the gRPC cross-language test: {why} (run ./scripts/setup.sh) !!!!!\n"
    );
}

/// A child process, killed on drop.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_listening(port: u16, what: &str) {
    let until = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < until, "{what} did not listen within 20 s");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The receiver (OTLP/gRPC on an ephemeral port, records to `out`).
fn receiver(python: &Path, out: &Path) -> (Process, u16) {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../observe-core/tests/support/otlp_receiver.py");
    let mut child = Command::new(python)
        .arg(script)
        .args([
            "--out",
            out.to_str().unwrap(),
            "--grpc-port",
            "0",
            "--http-port",
            "-1",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the receiver");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line
        .trim()
        .strip_prefix("READY grpc=")
        .and_then(|rest| rest.split(' ').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("unexpected receiver output {line:?}"));
    (Process(child), port)
}

/// `rotel-agent` from the `rotel` wheel, forwarding to `receiver_port`; returns its
/// OTLP/HTTP port.
fn rotel(python: &Path, receiver_port: u16) -> Option<(Process, u16)> {
    let out = Command::new(python)
        .args([
            "-c",
            "import os, rotel; print(os.path.join(os.path.dirname(rotel.__file__), 'rotel-agent'))",
        ])
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    let agent = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    if !agent.exists() {
        return None;
    }
    let (grpc_port, http_port) = (free_port(), free_port());
    let log =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("rotel-grpc-{http_port}.log"));
    let child = Command::new(agent)
        .arg("start")
        .args(["--otlp-grpc-endpoint", &format!("127.0.0.1:{grpc_port}")])
        .args(["--otlp-http-endpoint", &format!("127.0.0.1:{http_port}")])
        .args(["--exporter", "otlp"])
        .args([
            "--otlp-exporter-endpoint",
            &format!("http://127.0.0.1:{receiver_port}"),
        ])
        .args(["--otlp-exporter-protocol", "grpc"])
        .args(["--log-file", log.to_str().unwrap()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start rotel-agent");
    let rotel = Process(child);
    wait_listening(http_port, "rotel");
    Some((rotel, http_port))
}

fn records(out: &Path) -> Vec<Value> {
    std::fs::read_to_string(out)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn a_python_grpc_client_and_the_example_share_one_trace_through_a_collector() {
    let Some(python) = python() else {
        return skip("no Python with the OpenTelemetry peers");
    };
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("grpc-crosslang-{}.jsonl", std::process::id()));
    let _ = std::fs::remove_file(&out);
    let (_receiver, receiver_port) = receiver(&python, &out);
    let Some((_rotel, rotel_http)) = rotel(&python, receiver_port) else {
        return skip("the rotel wheel is not installed");
    };

    // The example, exporting to the collector.
    let mut example = Process(
        Command::new(env!("CARGO_BIN_EXE_grpc"))
            .args(["--addr", "127.0.0.1:0"])
            .env(
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                format!("http://127.0.0.1:{rotel_http}"),
            )
            .env("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
            .env_remove("OTEL_SDK_DISABLED")
            .env("OBSERVE_ADMIN_ADDR", "off")
            .env("OBSERVE_LOG_FORMAT", "json")
            .env("OBSERVE_LOG_OUTPUT", "stdout")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut stdout = BufReader::new(example.0.stdout.take().unwrap());
    let marker = "gRPC listening on http://";
    let mut addr = None;
    let mut line = String::new();
    for _ in 0..50 {
        line.clear();
        if stdout.read_line(&mut line).unwrap() == 0 {
            break;
        }
        if let Some(at) = line.find(marker) {
            let rest = &line[at + marker.len()..];
            addr = Some(rest[..rest.find('"').unwrap()].to_owned());
            break;
        }
    }
    let addr = addr.expect("the example says where it listens");
    // Keep draining its output so that it never blocks on a full pipe (a test
    // harness thread: there is no request context to carry).
    #[allow(clippy::disallowed_methods)]
    std::thread::spawn(move || for _ in stdout.lines() {});

    let peer = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/peer.py");
    let output = Command::new(&python)
        .arg(peer)
        .arg(&addr)
        .env("OTEL_SDK_DISABLED", "false")
        .output()
        .expect("python runs");
    assert!(
        output.status.success(),
        "peer.py failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(report["reply_bytes"].as_u64().unwrap() > 0, "{report}");
    let py_client = report["spans"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["kind"] == "CLIENT")
        .unwrap_or_else(|| panic!("no Python client span in {report}"))
        .clone();
    let trace = py_client["trace_id"].as_str().unwrap().to_owned();

    // SIGTERM: the example finishes, flushes its spans to the collector, and exits.
    let killed = Command::new("kill")
        .args(["-TERM", &example.0.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = example.0.wait().unwrap();
    assert!(status.success(), "{status:?}");

    // What came out of the collector.
    let until = Instant::now() + Duration::from_secs(30);
    let find = |records: &[Value], name: &str| {
        records
            .iter()
            .find(|r| r["signal"] == "span" && r["name"] == name && r["trace_id"] == trace)
            .cloned()
    };
    let (server, http_server) = loop {
        let r = records(&out);
        if let (Some(g), Some(h)) = (
            find(&r, "shop.Orders/GetOrder"),
            find(&r, "GET /prices/{id}"),
        ) {
            break (g, h);
        }
        assert!(
            Instant::now() < until,
            "no gRPC and HTTP server spans of trace {trace} through the collector: {r:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(server["kind"], 2, "SPAN_KIND_SERVER");
    assert_eq!(
        server["parent_span_id"], py_client["span_id"],
        "the Python span is the parent"
    );
    assert_eq!(server["attributes"]["rpc.system"], "grpc");
    assert_eq!(server["attributes"]["rpc.method"], "GetOrder");
    assert_eq!(server["attributes"]["rpc.grpc.status_code"], 0);
    assert_eq!(server["resource"]["service.name"], "grpc");
    assert_eq!(http_server["kind"], 2);
}
