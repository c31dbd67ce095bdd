//! gRPC unary throughput and per-call CPU on loopback, in one run: bare tonic,
//! observe's server layer (access log on and off) and client layer, and tower-http's
//! `TraceLayer::new_for_grpc()` with `tracing-opentelemetry` on each side.
//!
//! Run with: `cargo bench -p observe-tonic --bench grpc` (results and the method
//! are in `docs/bench/grpc.md`). Each server variant is a child process of this
//! binary (its own global subscriber) on a 2-worker Tokio runtime; each load is
//! another child: 16 tasks calling `Unary` in a loop over one HTTP/2 channel for
//! `GRPC_BENCH_SECONDS` (default 3) after a 1 s warm-up. CPU per call is each
//! process's user+system time (`/proc/<pid>/stat`, all threads) over the measured
//! window divided by the calls. Without `--bench` (as `cargo test` runs it) each
//! pairing answers one call, to check the harness itself.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tonic::transport::{Endpoint, Server};
use tonic::{Request, Response, Status, Streaming};

#[allow(
    clippy::all,
    clippy::pedantic,
    missing_docs,
    missing_debug_implementations,
    unreachable_pub,
    dead_code
)]
mod proto {
    include!("../tests/grpc/echo.rs");
}

use proto::Msg;
use proto::echo_client::EchoClient;
use proto::echo_server::{Echo, EchoServer};

/// (server, client, what).
const PAIRINGS: [(&str, &str, &str); 7] = [
    ("bare", "bare", "tonic, no instrumentation"),
    (
        "observe",
        "bare",
        "server: observe_tonic::layer() (span, context, metric, access log to /dev/null)",
    ),
    (
        "observe-uninit",
        "bare",
        "server: observe_tonic::layer(), observe not started (the layer's plumbing alone)",
    ),
    (
        "observe-quiet",
        "bare",
        "server: observe_tonic::layer().access_log(None)",
    ),
    (
        "tower-http-otel",
        "bare",
        "server: tower-http TraceLayer::new_for_grpc (spans at INFO) + tracing-opentelemetry (SDK, no exporter, INFO filter)",
    ),
    (
        "bare",
        "observe",
        "client: observe_tonic::client::connect (span, propagation, metric)",
    ),
    (
        "bare",
        "tower-http-otel",
        "client: tower-http TraceLayer::new_for_grpc (spans at INFO) + tracing-opentelemetry (INFO filter)",
    ),
];

#[derive(Debug, Default, Clone)]
struct Bench;

type Stream = std::pin::Pin<Box<dyn tokio_stream::Stream<Item = Result<Msg, Status>> + Send>>;

#[tonic::async_trait]
impl Echo for Bench {
    async fn unary(&self, request: Request<Msg>) -> Result<Response<Msg>, Status> {
        Ok(Response::new(request.into_inner()))
    }
    type ServerStreamStream = Stream;
    async fn server_stream(&self, _: Request<Msg>) -> Result<Response<Stream>, Status> {
        Err(Status::unimplemented("bench"))
    }
    async fn client_stream(&self, _: Request<Streaming<Msg>>) -> Result<Response<Msg>, Status> {
        Err(Status::unimplemented("bench"))
    }
    type BidiStream = Stream;
    async fn bidi(&self, _: Request<Streaming<Msg>>) -> Result<Response<Stream>, Status> {
        Err(Status::unimplemented("bench"))
    }
}

/// tower-http's gRPC trace layer, its spans at INFO (its default is DEBUG, which the
/// INFO filter of [`tracing_opentelemetry`] would switch off).
fn trace_layer() -> tower_http::trace::TraceLayer<
    tower_http::classify::SharedClassifier<tower_http::classify::GrpcErrorsAsFailures>,
> {
    tower_http::trace::TraceLayer::new_for_grpc()
        .make_span_with(tower_http::trace::DefaultMakeSpan::new().level(tracing::Level::INFO))
}

/// The global subscriber of a `tower-http-otel` process; held for its life.
fn tracing_opentelemetry() -> opentelemetry_sdk::trace::SdkTracerProvider {
    use opentelemetry::trace::TracerProvider as _;
    use tracing_subscriber::layer::SubscriberExt as _;
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
    let tracer = provider.tracer("bench");
    // As an application would: spans at INFO and above (h2 and hyper have spans at
    // TRACE for every frame).
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(tracer))
        .with(tracing_subscriber::filter::LevelFilter::INFO);
    tracing::subscriber::set_global_default(subscriber).unwrap();
    provider
}

fn observe() -> observe_core::Guard {
    observe_core::Observe::builder()
        .admin_addr(None)
        .init()
        .expect("observe starts")
}

fn runtime(workers: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .unwrap()
}

fn serve(variant: &str) {
    let (mut _observe, mut _provider) = (None, None);
    runtime(2).block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        eprintln!("PORT {}", listener.local_addr().unwrap().port());
        let incoming = tonic::transport::server::TcpIncoming::from(listener);
        let service = EchoServer::new(Bench);
        match variant {
            "bare" => Server::builder()
                .add_service(service)
                .serve_with_incoming(incoming)
                .await
                .unwrap(),
            "observe" | "observe-quiet" => {
                _observe = Some(observe());
                let layer = if variant == "observe" {
                    observe_tonic::layer()
                } else {
                    observe_tonic::layer().access_log(None)
                };
                Server::builder()
                    .layer(layer)
                    .add_service(service)
                    .serve_with_incoming(incoming)
                    .await
                    .unwrap();
            }
            "observe-uninit" => Server::builder()
                .layer(observe_tonic::layer())
                .add_service(service)
                .serve_with_incoming(incoming)
                .await
                .unwrap(),
            "tower-http-otel" => {
                _provider = Some(tracing_opentelemetry());
                Server::builder()
                    .layer(trace_layer())
                    .add_service(service)
                    .serve_with_incoming(incoming)
                    .await
                    .unwrap();
            }
            other => panic!("unknown server variant {other}"),
        }
    });
}

/// Calls `Unary` from 16 tasks until `stop`; counts the calls.
async fn hammer<S>(client: EchoClient<S>, calls: Arc<AtomicU64>, stop: Arc<AtomicBool>)
where
    S: tonic::client::GrpcService<tonic::body::Body> + Clone + Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    S::ResponseBody: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    <S::ResponseBody as http_body::Body>::Error:
        Into<Box<dyn std::error::Error + Send + Sync>> + Send,
    S::Future: Send,
{
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let (mut client, calls, stop) = (client.clone(), calls.clone(), stop.clone());
            tokio::spawn(async move {
                let msg = Msg {
                    text: "hello, world".into(),
                    ..Msg::default()
                };
                while !stop.load(Ordering::Relaxed) {
                    client.unary(msg.clone()).await.unwrap();
                    calls.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
}

/// The load child: `--load <variant> <port> <seconds>`; prints `CALLS <n>` for the
/// measured window, between `START` and `END` lines (the parent reads CPU times
/// there).
fn load(variant: &str, port: u16, seconds: u64) {
    let (mut _observe, mut _provider) = (None, None);
    let target = format!("http://127.0.0.1:{port}");
    runtime(2).block_on(async move {
        let calls = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let endpoint = Endpoint::from_shared(target.clone()).unwrap();
        let channel = endpoint.connect().await.unwrap();
        let run = {
            let (calls, stop) = (calls.clone(), stop.clone());
            match variant {
                "bare" => tokio::spawn(hammer(EchoClient::new(channel), calls, stop)),
                "observe" => {
                    _observe = Some(observe());
                    let channel = observe_tonic::client::observe(&endpoint, channel);
                    tokio::spawn(hammer(EchoClient::new(channel), calls, stop))
                }
                "tower-http-otel" => {
                    _provider = Some(tracing_opentelemetry());
                    let channel = tower::ServiceBuilder::new()
                        .layer(trace_layer())
                        .service(channel);
                    tokio::spawn(hammer(EchoClient::new(channel), calls, stop))
                }
                other => panic!("unknown client variant {other}"),
            }
        };
        if seconds == 0 {
            // Harness check: one call is enough.
            while calls.load(Ordering::Relaxed) == 0 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            stop.store(true, Ordering::Relaxed);
            run.await.unwrap();
            println!("CALLS 1");
            return;
        }
        tokio::time::sleep(Duration::from_secs(1)).await; // warm-up
        let before = calls.load(Ordering::Relaxed);
        println!("START");
        tokio::time::sleep(Duration::from_secs(seconds)).await;
        let after = calls.load(Ordering::Relaxed);
        println!("END");
        stop.store(true, Ordering::Relaxed);
        run.await.unwrap();
        println!("CALLS {}", after - before);
    });
}

/// User + system CPU time of a process, all threads, in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command (which may hold spaces) start after the last ')'.
    let rest = &stat[stat.rfind(')').map_or(0, |i| i + 2)..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the command.
    (ticks(11) + ticks(12)) / 100.0
}

struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_server(variant: &str) -> (Process, u16) {
    let mut child = Process(
        Command::new(std::env::current_exe().unwrap())
            .args(["--serve", variant])
            .env("OBSERVE_LOG_OUTPUT", "stdout")
            .env("RUST_LOG", "info")
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut stderr = BufReader::new(child.0.stderr.take().unwrap());
    let mut line = String::new();
    while stderr.read_line(&mut line).unwrap() > 0 {
        if let Some(port) = line.trim().strip_prefix("PORT ") {
            let port = port.parse().unwrap();
            std::thread::spawn(move || for _ in stderr.lines() {});
            return (child, port);
        }
        line.clear();
    }
    panic!("{variant} did not start");
}

#[derive(Debug, Default)]
struct Measured {
    calls_per_sec: f64,
    server_us: f64,
    client_us: f64,
}

fn run_load(client: &str, server: &Process, port: u16, seconds: u64) -> Measured {
    let mut child = Process(
        Command::new(std::env::current_exe().unwrap())
            .args(["--load", client, &port.to_string(), &seconds.to_string()])
            .env("OBSERVE_LOG_OUTPUT", "stderr")
            .env("RUST_LOG", "info")
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let pid = child.0.id();
    let stdout = BufReader::new(child.0.stdout.take().unwrap());
    let (mut server_cpu, mut client_cpu) = ((0.0, 0.0), (0.0, 0.0));
    let mut calls = 0u64;
    for line in stdout.lines() {
        let line = line.unwrap();
        match line.as_str() {
            "START" => {
                server_cpu.0 = cpu_seconds(server.0.id());
                client_cpu.0 = cpu_seconds(pid);
            }
            "END" => {
                server_cpu.1 = cpu_seconds(server.0.id());
                client_cpu.1 = cpu_seconds(pid);
            }
            l => {
                if let Some(n) = l.strip_prefix("CALLS ") {
                    calls = n.parse().unwrap();
                }
            }
        }
    }
    assert!(calls > 0, "{client}: no call answered");
    let per_call = |(a, b): (f64, f64)| (b - a) / calls as f64 * 1e6;
    Measured {
        calls_per_sec: calls as f64 / seconds.max(1) as f64,
        server_us: per_call(server_cpu),
        client_us: per_call(client_cpu),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--serve") {
        serve(&args[i + 1]);
        return;
    }
    if let Some(i) = args.iter().position(|a| a == "--load") {
        load(
            &args[i + 1],
            args[i + 2].parse().unwrap(),
            args[i + 3].parse().unwrap(),
        );
        return;
    }
    if args.iter().any(|a| a == "--list") {
        println!("grpc: test");
        return;
    }
    if !args.iter().any(|a| a == "--bench") {
        for (server, client, _) in PAIRINGS {
            let (process, port) = start_server(server);
            run_load(client, &process, port, 0);
        }
        println!("grpc bench harness: every pairing answers (run with cargo bench for numbers)");
        return;
    }
    let seconds: u64 = env_or("GRPC_BENCH_SECONDS", 3);
    // Rounds run every pairing once, in order, so that a change in the machine's
    // load spreads over all of them; each cell is the median of its rounds.
    let rounds: usize = env_or("GRPC_BENCH_ROUNDS", 1).max(1);
    // `GRPC_BENCH_ONLY=bare,observe` keeps the pairings whose server or client
    // variant is listed (bare/bare always runs: the ratios are to it).
    let only: Option<Vec<String>> = std::env::var("GRPC_BENCH_ONLY")
        .ok()
        .map(|s| s.split(',').map(|v| v.trim().to_owned()).collect());
    let pairings: Vec<_> = PAIRINGS
        .iter()
        .filter(|(server, client, _)| {
            (*server == "bare" && *client == "bare")
                || only.as_ref().is_none_or(|o| {
                    o.iter().any(|v| {
                        (v == server && *client == "bare") || (v == client && *server == "bare")
                    })
                })
        })
        .collect();
    let mut samples: Vec<Vec<Measured>> = pairings.iter().map(|_| Vec::new()).collect();
    for _ in 0..rounds {
        for (i, (server, client, _)) in pairings.iter().enumerate() {
            let (process, port) = start_server(server);
            samples[i].push(run_load(client, &process, port, seconds));
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let results: Vec<_> = samples
        .iter()
        .map(|s| Measured {
            calls_per_sec: median(&mut s.iter().map(|m| m.calls_per_sec).collect()),
            server_us: median(&mut s.iter().map(|m| m.server_us).collect()),
            client_us: median(&mut s.iter().map(|m| m.client_us).collect()),
        })
        .collect();
    let bare = results[0].calls_per_sec;
    if rounds > 1 {
        println!("median of {rounds} rounds of {seconds} s per pairing");
    }
    println!(
        "| server | client | what | calls/s | vs bare | server CPU µs/call | client CPU µs/call |"
    );
    println!("| --- | --- | --- | ---: | ---: | ---: | ---: |");
    for ((server, client, what), m) in pairings.iter().zip(&results) {
        println!(
            "| {server} | {client} | {what} | {:.0} | {:.2} | {:.1} | {:.1} |",
            m.calls_per_sec,
            m.calls_per_sec / bare,
            m.server_us,
            m.client_us
        );
    }
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}
