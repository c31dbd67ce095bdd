//! The quickstart runs: its self-test passes, and SIGTERM lets an in-flight request
//! finish before the process exits cleanly.

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

fn quickstart() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_quickstart"));
    command
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .env_remove("OTEL_SDK_DISABLED")
        .env("RUST_LOG", "info")
        .env("OBSERVE_LOG_FORMAT", "json")
        .env("OBSERVE_LOG_OUTPUT", "stdout")
        .stdin(Stdio::null());
    command
}

#[test]
fn the_self_test_passes_and_every_request_line_has_a_trace() {
    let output = quickstart()
        .arg("--self-test")
        .env("OBSERVE_ADMIN_ADDR", "off")
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
    let access: Vec<_> = lines
        .iter()
        .filter(|l| l["target"] == "observe::access")
        .collect();
    assert_eq!(access.len(), 4, "orders, inventory, slow, fail");
    assert!(
        access
            .iter()
            .all(|l| l["trace_id"].as_str().is_some_and(|t| t.len() == 32))
    );
    assert!(
        lines
            .iter()
            .all(|l| l["service"] == "quickstart" && l["version"] == env!("CARGO_PKG_VERSION"))
    );
    let order = access
        .iter()
        .find(|l| l["fields"]["http.route"] == "/orders/{id}")
        .unwrap();
    let inventory = access
        .iter()
        .find(|l| l["fields"]["http.route"] == "/inventory/{id}")
        .unwrap();
    assert_eq!(
        order["trace_id"], inventory["trace_id"],
        "one trace across the call"
    );
    assert_eq!(
        inventory["user_id"], "u-42",
        "baggage reached the internal callee"
    );
}

/// A plain HTTP/1.1 GET, the body as text.
fn http_get(addr: &str, path: &str) -> String {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    std::io::Write::write_all(
        &mut stream,
        // The address connected to: the admin listener refuses other names (421).
        format!("GET {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n").as_bytes(),
    )
    .unwrap();
    let mut response = String::new();
    std::io::Read::read_to_string(&mut stream, &mut response).unwrap();
    response
}

#[cfg(unix)]
#[test]
fn sigterm_finishes_in_flight_requests_then_exits_cleanly() {
    let mut child = quickstart()
        .args(["--addr", "127.0.0.1:0"])
        .env("OBSERVE_ADMIN_ADDR", "127.0.0.1:0")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    // The addresses, from the start-up lines.
    let (mut base, mut admin) = (None, None);
    let mut line = String::new();
    for _ in 0..50 {
        line.clear();
        if stdout.read_line(&mut line).unwrap() == 0 {
            break;
        }
        let after = |marker: &str| {
            line.find(marker).map(|at| {
                let rest = &line[at + marker.len()..];
                rest[..rest.find(['"', '/']).unwrap()].to_owned()
            })
        };
        admin = admin.or_else(|| after(r#""message":"observe admin listening: http://"#));
        base = base.or_else(|| after(r#""message":"listening on http://"#));
        if base.is_some() {
            break;
        }
    }
    let base = base.expect("the quickstart says where it listens");
    let admin = admin.expect("the quickstart says where its admin listens");

    // A slow request in flight, then SIGTERM.
    #[allow(clippy::disallowed_methods)] // test plumbing, no request context
    let slow = std::thread::spawn(move || {
        let stream = std::net::TcpStream::connect(&base).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut writer = stream.try_clone().unwrap();
        std::io::Write::write_all(
            &mut writer,
            b"GET /slow HTTP/1.1\r\nhost: q\r\nconnection: close\r\n\r\n",
        )
        .unwrap();
        let mut response = String::new();
        std::io::Read::read_to_string(&mut BufReader::new(stream), &mut response).unwrap();
        response
    });
    // Signal only once the request is in flight: the in-flight gauge says 1.
    let mut in_flight = false;
    for _ in 0..500 {
        let metrics = http_get(&admin, "/metrics");
        if metrics
            .lines()
            .any(|l| l.starts_with("http_server_active_requests") && l.ends_with(" 1"))
        {
            in_flight = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(in_flight, "the slow request never showed as in flight");
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());

    let response = slow.join().unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let rest: Vec<String> = stdout.lines().map(Result::unwrap).collect();
    assert!(
        rest.iter().any(|l| l.contains("shutting down")),
        "the shutdown is logged: {rest:?}"
    );
    assert!(
        rest.iter()
            .any(|l| l.contains(r#""message":"GET /slow 200""#)),
        "the in-flight request was logged before exit: {rest:?}"
    );
}
