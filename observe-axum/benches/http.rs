//! HTTP throughput and latency of a hello-world route under one load generator
//! (Debian's `wrk`), in one run: bare axum, observe's layer (access log on and
//! off), and tower-http's `TraceLayer` with `tracing-opentelemetry`.
//!
//! Run with: `cargo bench -p observe-axum --bench http` (needs `wrk`; results and
//! the method are in `docs/bench/http.md`). Each variant is served by a child
//! process of this binary (its own global subscriber) on a 2-worker Tokio runtime,
//! loaded for `HTTP_BENCH_SECONDS` (default 4) by `wrk -t1 -c16`, after a 1 s
//! warm-up. Without `--bench` (as `cargo test` runs it) each variant answers one
//! request, to check the harness itself.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use axum::Router;
use axum::routing::get;

const VARIANTS: [(&str, &str); 4] = [
    ("bare", "axum, no instrumentation"),
    (
        "observe",
        "observe_axum::layer() (span, context, metrics, access log to /dev/null)",
    ),
    ("observe-quiet", "observe_axum::layer().access_log(None)"),
    (
        "tower-http-otel",
        "tower_http TraceLayer + tracing-opentelemetry (SDK, no exporter)",
    ),
];

fn app() -> Router {
    Router::new().route("/hello", get(|| async { "hello, world" }))
}

fn serve(variant: &str) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // Held for the life of the process.
    let mut _observe = None;
    let mut _provider = None;
    let app = match variant {
        "bare" => app(),
        "observe" | "observe-quiet" => {
            _observe = Some(
                observe_core::Observe::builder()
                    .admin_addr(None)
                    .init()
                    .expect("observe starts"),
            );
            let layer = if variant == "observe" {
                observe_axum::layer()
            } else {
                observe_axum::layer().access_log(None)
            };
            app().layer(layer)
        }
        "tower-http-otel" => {
            use opentelemetry::trace::TracerProvider as _;
            use tracing_subscriber::layer::SubscriberExt as _;
            let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
            let tracer = provider.tracer("bench");
            let subscriber = tracing_subscriber::registry()
                .with(tracing_opentelemetry::layer().with_tracer(tracer));
            tracing::subscriber::set_global_default(subscriber).unwrap();
            _provider = Some(provider);
            app().layer(tower_http::trace::TraceLayer::new_for_http())
        }
        other => panic!("unknown variant {other}"),
    };
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        eprintln!("PORT {}", listener.local_addr().unwrap().port());
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
}

struct Server {
    child: Child,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(variant: &str) -> Server {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--serve", variant])
        .env("OBSERVE_LOG_OUTPUT", "stdout")
        .env("RUST_LOG", "info")
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while stderr.read_line(&mut line).unwrap() > 0 {
        if let Some(port) = line.trim().strip_prefix("PORT ") {
            let port = port.parse().unwrap();
            std::thread::spawn(move || for _ in stderr.lines() {});
            return Server { child, port };
        }
        line.clear();
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("{variant} did not start");
}

fn get_once(port: u16) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
        .write_all(b"GET /hello HTTP/1.1\r\nhost: bench\r\nconnection: close\r\n\r\n")
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

#[derive(Debug, Default)]
struct Result {
    rps: f64,
    p50: f64,
    p90: f64,
    p99: f64,
}

/// Milliseconds from wrk's `12.34us` / `1.2ms` / `1.00s`.
fn millis(v: &str) -> f64 {
    let (num, unit) = v.split_at(v.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(v.len()));
    let n: f64 = num.parse().unwrap_or(f64::NAN);
    match unit {
        "us" => n / 1e3,
        "ms" => n,
        "s" => n * 1e3,
        "m" => n * 60e3,
        _ => f64::NAN,
    }
}

fn wrk(port: u16, seconds: u64) -> Result {
    let out = Command::new("wrk")
        .args(["-t1", "-c16", &format!("-d{seconds}s"), "--latency"])
        .arg(format!("http://127.0.0.1:{port}/hello"))
        .output()
        .expect("wrk runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut r = Result::default();
    for line in text.lines() {
        let parts: Vec<&str> = line.split_whitespace().collect();
        match parts.as_slice() {
            ["Requests/sec:", v] => r.rps = v.parse().unwrap_or(f64::NAN),
            ["50%", v] => r.p50 = millis(v),
            ["90%", v] => r.p90 = millis(v),
            ["99%", v] => r.p99 = millis(v),
            _ => {}
        }
    }
    r
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--serve") {
        serve(&args[i + 1]);
        return;
    }
    if args.iter().any(|a| a == "--list") {
        // Listed as a test: run without `--bench` (as test runners do), it checks that
        // every variant answers, so CI keeps the benchmark working.
        println!("http: test");
        return;
    }
    if !args.iter().any(|a| a == "--bench") {
        for (variant, _) in VARIANTS {
            let server = start(variant);
            let response = get_once(server.port);
            assert!(
                response.starts_with("HTTP/1.1 200"),
                "{variant}: {response}"
            );
        }
        println!("http bench harness: every variant answers (run with cargo bench for numbers)");
        return;
    }
    if Command::new("wrk").arg("--version").output().is_err() {
        println!("http bench skipped: wrk is not installed (apt-get install wrk)");
        return;
    }
    let seconds: u64 = std::env::var("HTTP_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(4);
    let mut results = Vec::new();
    for (variant, what) in VARIANTS {
        let server = start(variant);
        assert!(get_once(server.port).starts_with("HTTP/1.1 200"));
        let _warm = wrk(server.port, 1);
        let r = wrk(server.port, seconds);
        results.push((variant, what, r));
    }
    let bare = results[0].2.rps;
    println!("| variant | what | requests/s | vs bare | p50 ms | p90 ms | p99 ms |");
    println!("| --- | --- | ---: | ---: | ---: | ---: | ---: |");
    for (variant, what, r) in &results {
        println!(
            "| {variant} | {what} | {:.0} | {:.2} | {:.3} | {:.3} | {:.3} |",
            r.rps,
            r.rps / bare,
            r.p50,
            r.p90,
            r.p99
        );
    }
}
