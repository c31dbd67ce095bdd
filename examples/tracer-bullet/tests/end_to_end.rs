//! The tracer bullet end to end, on loopback: the three services as separate
//! processes (this example's binary), configured by the environment as in
//! production, exporting spans over OTLP to the Python receiver of observe-core's
//! export tests, each with its own admin listener.
//!
//! A signed bullet fired with the operator command's code (`observe_cli::bullet`)
//! leaves the SQLite file byte for byte unchanged and the payment provider without
//! a request, while the same request without the marker writes the row and calls
//! the provider; the trace holds both services' spans and the skipped-effect
//! events; the metrics show the bullet under `request_type="tracer_bullet"` only;
//! the footprint at the edge lists the skipped writes and the blocked call. One hop
//! in, a `deny` service refuses instead of writing.

use std::io::{BufRead as _, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use observe_cli::bullet::{self, Bullet};
use serde_json::Value;

const KEY: &str = "5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("tracer-bullet-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// One service process, killed on drop; its JSON log lines go to a file.
struct Service {
    child: Child,
    port: u16,
    admin: u16,
    log: PathBuf,
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Service {
    fn start(role: &str, args: &[&str], env: &[(&str, String)]) -> Service {
        let (port, admin) = (free_port(), free_port());
        let log = scratch(&format!("{role}-{port}.log"));
        let mut command = Command::new(env!("CARGO_BIN_EXE_tracer-bullet"));
        command
            .arg(role)
            .args(["--addr", &format!("127.0.0.1:{port}")])
            .args(args)
            .env_clear()
            .env("OTEL_SERVICE_NAME", role)
            .env("OBSERVE_ADMIN_ADDR", format!("127.0.0.1:{admin}"))
            .env("OBSERVE_LOG_FORMAT", "json")
            .env("OBSERVE_LOG_OUTPUT", "stdout")
            .env("RUST_LOG", "info")
            .env("OBSERVE_INTERNAL_HOSTS", "localhost")
            .env("OTEL_BSP_SCHEDULE_DELAY", "50")
            .env("OTEL_METRICS_EXPORTER", "none")
            .env("OTEL_LOGS_EXPORTER", "none")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(Stdio::inherit());
        for (k, v) in env {
            command.env(k, v);
        }
        let child = command.spawn().expect("the example runs");
        let service = Service {
            child,
            port,
            admin,
            log,
        };
        service.wait_listening(port);
        if role != "provider" {
            service.wait_listening(admin);
        }
        service
    }

    fn wait_listening(&self, port: u16) {
        let until = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < until,
                "nothing listens on {port}; log:\n{}",
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn url(&self, host: &str) -> String {
        format!("http://{host}:{}", self.port)
    }

    /// The log lines of `trace`, once one of them satisfies `last` (the writer
    /// thread writes in batches; waits up to 20 s).
    fn trace_lines(&self, trace: &str, last: impl Fn(&Value) -> bool) -> Vec<Value> {
        let until = Instant::now() + Duration::from_secs(20);
        loop {
            let lines: Vec<Value> = std::fs::read_to_string(&self.log)
                .unwrap_or_default()
                .lines()
                .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                .filter(|l| l["trace_id"] == trace)
                .collect();
            if lines.iter().any(&last) || Instant::now() > until {
                return lines;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// The Python OTLP receiver (observe-core's `tests/support/otlp_receiver.py`),
/// killed on drop; `None`, said loudly, without a Python that has its packages.
struct Receiver {
    child: Child,
    _stdin: ChildStdin,
    port: u16,
    out: PathBuf,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Receiver {
    fn start() -> Option<Receiver> {
        let python = std::env::var_os("OBSERVE_TEST_PYTHON")
            .map(PathBuf::from)
            .or_else(|| {
                let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python");
                venv.exists().then_some(venv)
            });
        let Some(python) = python else {
            #[allow(clippy::print_stderr)]
            {
                eprintln!(
                    "\n!!!!! NO TRACE CHECK: no Python with the OTLP receiver's packages \
                     (run ./scripts/setup.sh, or set OBSERVE_TEST_PYTHON) !!!!!\n"
                );
            }
            return None;
        };
        let out = scratch("otlp.jsonl");
        let script = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../observe-core/tests/support/otlp_receiver.py");
        let mut child = Command::new(python)
            .arg(script)
            .args(["--out", out.to_str().unwrap()])
            .args(["--grpc-port", "-1", "--http-port", "0"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the receiver");
        let stdin = child.stdin.take().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .rsplit("http=")
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("unexpected receiver output {line:?}"));
        Some(Receiver {
            child,
            _stdin: stdin,
            port,
            out,
        })
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The spans of `trace` received so far.
    fn spans(&self, trace: &str) -> Vec<Value> {
        std::fs::read_to_string(&self.out)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v["signal"] == "span" && v["trace_id"] == trace)
            .collect()
    }

    /// Waits (up to 20 s) until `done` holds for the spans of `trace`.
    fn wait_for(&self, trace: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let until = Instant::now() + Duration::from_secs(20);
        loop {
            let spans = self.spans(trace);
            if done(&spans) || Instant::now() > until {
                return spans;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

async fn get_text(url: String) -> String {
    client()
        .get(url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// `http.server.request.duration`'s count for `route` and `request_type` on a
/// service's `/metrics` (0 when there is no such series).
async fn served(service: &Service, route: &str, request_type: &str) -> u64 {
    let metrics = get_text(format!("http://127.0.0.1:{}/metrics", service.admin)).await;
    metrics
        .lines()
        .filter(|l| {
            l.starts_with("http_server_request_duration_seconds_count{")
                && l.contains(&format!(r#"http_route="{route}""#))
                && l.contains(&format!(r#"request_type="{request_type}""#))
        })
        .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
        .sum()
}

fn order() -> Bullet {
    Bullet::get("")
        .method(http::Method::POST)
        .header("content-type", "application/json")
        .body(r#"{"sku":"A-1","cents":1250}"#)
}

async fn fire_at(edge: &Service) -> bullet::Outcome {
    let key = bullet::parse_key(KEY).unwrap();
    let mut request = order();
    request.url = format!("{}/checkout", edge.url("127.0.0.1"));
    bullet::fire(&key, &request).await.expect("an answer")
}

fn rows(db: &Path, table: &str) -> i64 {
    let db = rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .unwrap();
    db.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
        .unwrap()
}

fn event_names(span: &Value) -> Vec<String> {
    span["events"]
        .as_array()
        .map(|e| {
            e.iter()
                .map(|e| e["name"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_bullet_through_three_services_changes_nothing() {
    let receiver = Receiver::start();
    let otlp: Vec<(&str, String)> = receiver
        .iter()
        .map(|r| ("OTEL_EXPORTER_OTLP_ENDPOINT", r.endpoint()))
        .collect();
    let db = scratch("orders.db");
    let _ = std::fs::remove_file(&db);

    let provider = Service::start("provider", &[], &[]);
    let mut orders_env = vec![
        ("OBSERVE_TRACER_BULLET_POLICY", "trusted".to_owned()),
        ("OBSERVE_TRUSTED_CALLERS", "loopback".to_owned()),
    ];
    orders_env.extend(otlp.iter().cloned());
    let orders = Service::start(
        "orders",
        &[
            "--db",
            db.to_str().unwrap(),
            // A third party, reached by address: not in OBSERVE_INTERNAL_HOSTS.
            "--provider",
            &provider.url("127.0.0.1"),
        ],
        &orders_env,
    );
    let mut edge_env = vec![
        ("OBSERVE_TRACER_BULLET_POLICY", "signed".to_owned()),
        ("OBSERVE_TRACER_BULLET_KEY", KEY.to_owned()),
    ];
    edge_env.extend(otlp.iter().cloned());
    // orders is internal: reached as localhost.
    let edge = Service::start("edge", &["--orders", &orders.url("localhost")], &edge_env);

    let before = std::fs::read(&db).expect("orders created its database");

    // ---- the tracer bullet
    let outcome = fire_at(&edge).await;
    let body = String::from_utf8_lossy(&outcome.body).into_owned();
    assert_eq!(outcome.status, 200, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["order"]["request_type"], "tracer_bullet", "{answer}");
    assert_eq!(answer["order"]["order_id"], Value::Null, "{answer}");
    assert_eq!(answer["order"]["charged"], false, "{answer}");
    assert_eq!(answer["order"]["orders_in_db"], 0, "reads run: {answer}");

    assert_eq!(
        std::fs::read(&db).unwrap(),
        before,
        "the database file changed in a tracer bullet"
    );
    assert_eq!(
        get_text(format!("{}/count", provider.url("127.0.0.1"))).await,
        "0",
        "the payment provider received a request"
    );

    // The footprint at the edge: both services, the skipped writes, the blocked call.
    let footprint = outcome.footprint.clone().expect("a footprint").unwrap();
    assert_eq!(footprint.services(), ["edge", "orders"], "{footprint:?}");
    let mut skipped: Vec<_> = footprint
        .skipped()
        .iter()
        .map(|e| (e.service.as_str(), e.name.as_str(), e.count))
        .collect();
    skipped.sort();
    assert_eq!(
        skipped,
        [
            ("orders", "insert_order", 1),
            ("orders", "queue_receipt", 1)
        ]
    );
    let blocked: Vec<_> = footprint
        .blocked()
        .iter()
        .map(|e| (e.service.as_str(), e.host.as_str(), e.count))
        .collect();
    assert_eq!(blocked, [("orders", "127.0.0.1", 1)]);
    assert_eq!(footprint.cut(), 0);
    let trace = outcome.trace_id.to_string();

    // The edge's last line of the bullet tells the whole path.
    let edge_lines = edge.trace_lines(&trace, |l| l["target"] == "observe::tracer_bullet");
    let last = edge_lines.last().expect("the edge logged the bullet");
    assert_eq!(last["target"], "observe::tracer_bullet", "{last}");
    assert_eq!(
        last["fields"]["footprint"].as_str(),
        outcome.footprint_header.as_deref()
    );
    assert!(
        edge_lines
            .iter()
            .all(|l| l["request_type"] == "tracer_bullet")
    );

    // Metrics: the bullet under request_type="tracer_bullet" only.
    assert_eq!(served(&edge, "/checkout", "tracer_bullet").await, 1);
    assert_eq!(served(&edge, "/checkout", "standard").await, 0);
    assert_eq!(served(&orders, "/orders", "tracer_bullet").await, 1);
    assert_eq!(served(&orders, "/orders", "standard").await, 0);

    // The trace: every service's spans, the skipped-effect events, the footprint.
    if let Some(receiver) = &receiver {
        let spans = receiver.wait_for(&trace, |spans| {
            spans.iter().any(|s| s["name"] == "POST /checkout")
                && spans.iter().any(|s| s["name"] == "POST /orders")
                && spans.iter().any(|s| s["name"] == "insert_order")
                && spans.iter().any(|s| s["name"] == "queue_receipt")
        });
        let names: Vec<_> = spans.iter().map(|s| s["name"].to_string()).collect();
        let span = |name: &str| {
            spans
                .iter()
                .find(|s| s["name"] == name)
                .unwrap_or_else(|| panic!("no span {name} in {names:?}"))
        };
        let service_of = |s: &Value| s["resource"]["service.name"].as_str().unwrap().to_owned();
        assert_eq!(service_of(span("POST /checkout")), "edge");
        assert_eq!(service_of(span("POST /orders")), "orders");
        for write in ["insert_order", "queue_receipt"] {
            assert_eq!(service_of(span(write)), "orders");
            assert_eq!(
                event_names(span(write)),
                ["side_effect.skipped"],
                "{}",
                span(write)
            );
        }
        assert!(
            spans
                .iter()
                .all(|s| s["attributes"]["observe.request_type"].is_null()
                    || s["attributes"]["observe.request_type"] == "tracer_bullet")
        );
        let blocked = spans
            .iter()
            .find(|s| s["attributes"]["error.type"] == "tracer_bullet_blocked")
            .unwrap_or_else(|| panic!("no blocked client span in {names:?}"));
        assert_eq!(service_of(blocked), "orders");
        let edge_events = event_names(span("POST /checkout"));
        assert!(
            edge_events.contains(&"tracer_bullet.footprint".to_owned()),
            "{edge_events:?}"
        );
    }

    // ---- the same request without the marker writes and charges
    let standard = client()
        .post(format!("{}/checkout", edge.url("127.0.0.1")))
        .header("content-type", "application/json")
        .body(r#"{"sku":"A-1","cents":1250}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(standard.status(), 200);
    assert!(
        !standard
            .headers()
            .contains_key("observe-tracer-bullet-footprint")
    );
    let answer: Value = standard.json().await.unwrap();
    assert_eq!(answer["order"]["order_id"], 1, "{answer}");
    assert_eq!(answer["order"]["charged"], true, "{answer}");
    assert_ne!(std::fs::read(&db).unwrap(), before);
    assert_eq!(rows(&db, "orders"), 1);
    assert_eq!(rows(&db, "outbox"), 1);
    assert_eq!(
        get_text(format!("{}/count", provider.url("127.0.0.1"))).await,
        "1"
    );
    assert_eq!(served(&edge, "/checkout", "standard").await, 1);
    assert_eq!(served(&edge, "/checkout", "tracer_bullet").await, 1);
    assert_eq!(served(&orders, "/orders", "standard").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deny_service_one_hop_in_refuses_instead_of_writing() {
    let db = scratch("deny.db");
    let _ = std::fs::remove_file(&db);
    let provider = Service::start("provider", &[], &[]);
    let orders = Service::start(
        "orders",
        &[
            "--db",
            db.to_str().unwrap(),
            "--provider",
            &provider.url("127.0.0.1"),
        ],
        // The default policy: deny.
        &[],
    );
    let edge = Service::start(
        "edge",
        &["--orders", &orders.url("localhost")],
        &[
            ("OBSERVE_TRACER_BULLET_POLICY", "signed".to_owned()),
            ("OBSERVE_TRACER_BULLET_KEY", KEY.to_owned()),
        ],
    );
    let before = std::fs::read(&db).unwrap();
    let outcome = fire_at(&edge).await;
    let body = String::from_utf8_lossy(&outcome.body).into_owned();
    assert_eq!(outcome.status, 502, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["refused"], "policy_deny", "{answer}");
    assert_eq!(std::fs::read(&db).unwrap(), before);
    assert_eq!(
        get_text(format!("{}/count", provider.url("127.0.0.1"))).await,
        "0"
    );
    let footprint = outcome.footprint.expect("a footprint").unwrap();
    assert_eq!(footprint.services(), ["edge"]);
    let refused: Vec<_> = footprint
        .refused()
        .iter()
        .map(|e| (e.service.as_str(), e.host.as_str(), e.reason.as_str()))
        .collect();
    assert_eq!(refused, [("edge", "localhost", "policy_deny")]);
    // orders counted the refusal, and served nothing.
    let metrics = get_text(format!("http://127.0.0.1:{}/metrics", orders.admin)).await;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("observe_tracer_bullet_refused")
                && l.contains(r#"reason="policy_deny""#)),
        "{metrics}"
    );
    assert_eq!(served(&orders, "/orders", "tracer_bullet").await, 0);
}
