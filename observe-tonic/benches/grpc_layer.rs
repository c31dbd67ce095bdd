//! The gRPC server layer alone, without TCP: `tower::Service::call` on a tonic
//! service of the test protocol (`observe.test.Echo/Unary`, a 14-byte message
//! echoed back) with an in-memory request body, the response future and the
//! response body (its message and trailers) polled to completion on this thread.
//! Four variants: bare tonic, observe's default layer, observe without the access
//! log, and tower-http's `TraceLayer::new_for_grpc()` (spans at INFO) with
//! `tracing-opentelemetry` (SDK, always-on sampler, no exporter, INFO filter), as
//! the gRPC benchmark sets them up. A counting global allocator reports allocations
//! per call (every thread's, and the calling thread's alone).
//!
//! Run with:
//! - `cargo bench -p observe-tonic --bench grpc_layer -- --warm-up-time 1 --measurement-time 3 2>/dev/null`
//!   (criterion; observe's log lines go to stderr);
//! - `target/release/deps/grpc_layer-* --variant observe --iters 20000 2>&1 >/dev/null`
//!   (one variant, `iters` calls, then a flush: prints the allocations per call;
//!   `scripts/bench-instructions.sh --grpc` counts instructions under callgrind;
//!   docs/bench/grpc.md has the commands).
//!
//! Without `--bench` (as `cargo test` runs it) each variant answers one call.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use criterion::Criterion;
use http_body::Body as _;
use http_body_util::Full;
use tonic::transport::server::TcpConnectInfo;
use tonic::{Request, Response, Status, Streaming};
use tower::util::BoxCloneService;

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
use proto::echo_server::{Echo, EchoServer};

use observe_bench_support::{Setup, VARIANTS};

#[global_allocator]
static GLOBAL: observe_bench_support::Counting = observe_bench_support::Counting;

#[derive(Debug, Default, Clone)]
struct Bench;

type Stream = Pin<Box<dyn tokio_stream::Stream<Item = Result<Msg, Status>> + Send>>;

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

type Body = Full<Bytes>;
type Service = BoxCloneService<http::Request<Body>, http::Response<tonic::body::Body>, Error>;
type Error = std::convert::Infallible;

/// The request's one message, framed: a flag byte, the length, the protobuf.
fn frame() -> Bytes {
    let msg = Msg {
        text: "hello, world!!".into(),
        count: 0,
        fail: 0,
    };
    let encoded = prost::Message::encode_to_vec(&msg);
    let mut framed = Vec::with_capacity(5 + encoded.len());
    framed.push(0);
    framed.extend_from_slice(&u32::try_from(encoded.len()).unwrap().to_be_bytes());
    framed.extend_from_slice(&encoded);
    Bytes::from(framed)
}

/// What a tonic client sends, as tonic's server hands it to the service (with the
/// connection's addresses).
fn request(frame: &Bytes) -> http::Request<Body> {
    let mut request = http::Request::post("http://127.0.0.1:50051/observe.test.Echo/Unary")
        .version(http::Version::HTTP_2)
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .header("user-agent", "tonic/0.14.2")
        .body(Full::new(frame.clone()))
        .unwrap();
    request.extensions_mut().insert(TcpConnectInfo {
        local_addr: Some(SocketAddr::from(([127, 0, 0, 1], 50051))),
        remote_addr: Some(SocketAddr::from(([127, 0, 0, 1], 40000))),
    });
    request
}

/// One call through `service`, polled to completion on this thread: the response
/// head, then its body to the trailers. Returns the bytes of messages answered.
#[inline(always)]
fn one(service: &mut Service, frame: &Bytes) -> usize {
    let mut cx = Context::from_waker(Waker::noop());
    let ready = tower::Service::poll_ready(service, &mut cx);
    debug_assert!(ready.is_ready());
    let mut future = pin!(tower::Service::call(service, request(frame)));
    let response = loop {
        if let Poll::Ready(response) = future.as_mut().poll(&mut cx) {
            break response.unwrap();
        }
    };
    let mut body = pin!(response.into_body());
    let (mut data, mut trailers) = (0, false);
    loop {
        match body.as_mut().poll_frame(&mut cx) {
            Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                Ok(d) => data += d.len(),
                Err(frame) => trailers |= frame.is_trailers(),
            },
            Poll::Ready(Some(Err(e))) => panic!("response body: {e}"),
            Poll::Ready(None) => break,
            Poll::Pending => {}
        }
    }
    assert!(trailers, "a status in the trailers");
    data
}

fn boxed<S>(service: S) -> Service
where
    S: tower::Service<http::Request<Body>, Error = Error> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Response: Into<http::Response<tonic::body::Body>>,
{
    BoxCloneService::new(tower::ServiceExt::<http::Request<Body>>::map_response(
        service,
        Into::into,
    ))
}

/// The service of `variant`, with what it needs installed: observe as the process's
/// instance, tracing-opentelemetry as this thread's default subscriber.
fn service(variant: &str, setup: &mut Setup) -> Service {
    let echo = EchoServer::new(Bench);
    match variant {
        "bare" => boxed(echo),
        "observe" | "observe-quiet" => {
            setup.observe();
            let layer = if variant == "observe" {
                observe_tonic::layer()
            } else {
                observe_tonic::layer().access_log(None)
            };
            let service = tower_layer::Layer::layer(&layer, echo);
            BoxCloneService::new(tower::ServiceExt::<http::Request<Body>>::map_response(
                service,
                |r: http::Response<_>| r.map(tonic::body::Body::new),
            ))
        }
        "tower-http-otel" => {
            setup.otel(Some(tracing_subscriber::filter::LevelFilter::INFO));
            let layer = tower_http::trace::TraceLayer::new_for_grpc().make_span_with(
                tower_http::trace::DefaultMakeSpan::new().level(tracing::Level::INFO),
            );
            let service = tower_layer::Layer::layer(&layer, echo);
            BoxCloneService::new(tower::ServiceExt::<http::Request<Body>>::map_response(
                service,
                |r: http::Response<_>| r.map(tonic::body::Body::new),
            ))
        }
        other => panic!("unknown variant {other}"),
    }
}

/// `--variant V --iters N`: N calls, a flush, the allocations per call.
fn measure(variant: &str, iters: u64) {
    let mut setup = Setup::default();
    let mut service = service(variant, &mut setup);
    let frame = frame();
    // Warm up: first-use pages, metric series, thread-local state.
    for _ in 0..100 {
        assert_eq!(one(&mut service, &frame), frame.len());
    }
    setup.drain();
    observe_bench_support::count_allocations(
        variant,
        "call",
        iters,
        || {
            std::hint::black_box(one(&mut service, &frame));
        },
        || setup.drain(),
    );
    if let Some(guard) = setup.guard() {
        // Records dropped at a full ring were never processed: the counts would
        // be too low (a run under valgrind serialises the threads).
        eprintln!("{variant}: {:?}", guard.stats());
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
    };
    if let Some(variant) = arg("--variant") {
        let iters = arg("--iters").map_or(10_000, |n| n.parse().expect("--iters N"));
        measure(variant, iters);
        return;
    }
    if args.iter().any(|a| a == "--list") {
        println!("grpc_layer: test");
        return;
    }
    let frame = frame();
    if !args.iter().any(|a| a == "--bench") {
        // As a test: every variant answers.
        for variant in VARIANTS {
            let mut setup = Setup::default();
            let mut service = service(variant, &mut setup);
            assert_eq!(one(&mut service, &frame), frame.len(), "{variant}");
        }
        return;
    }
    let mut criterion = Criterion::default().configure_from_args();
    let mut group = criterion.benchmark_group("grpc_layer");
    for variant in VARIANTS {
        let mut setup = Setup::default();
        let mut service = service(variant, &mut setup);
        group.bench_function(variant, |b| b.iter(|| one(&mut service, &frame)));
        // observe stays installed (one instance per process); the tracing default
        // of the OpenTelemetry variant ends with its setup.
        drop(setup);
    }
    group.finish();
    criterion.final_summary();
}
