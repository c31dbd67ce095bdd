//! The server layer alone, without TCP: `tower::Service::call` on a ready axum
//! `Router` and the response future polled to completion on this thread, for a
//! hello-world route. Four variants: bare axum, observe's default layer, observe
//! without the access log, and tower-http's `TraceLayer` with
//! `tracing-opentelemetry` (SDK, always-on sampler, no exporter), as the HTTP
//! benchmark sets them up. A counting global allocator reports allocations per
//! request (every thread's, and the calling thread's alone).
//!
//! Run with:
//! - `cargo bench -p observe-axum --bench layer -- --warm-up-time 1 --measurement-time 3 2>/dev/null`
//!   (criterion; observe's log lines go to stderr);
//! - `target/release/deps/layer-* --variant observe --iters 20000 2>&1 >/dev/null`
//!   (one variant, `iters` requests, then a flush: prints the allocations per
//!   request; run it under `valgrind --tool=callgrind` or `strace -f -c` for
//!   instructions or system calls; docs/bench/http.md has the commands).
//!
//! Without `--bench` (as `cargo test` runs it) each variant answers one request.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::net::SocketAddr;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::routing::get;
use criterion::Criterion;
use http::Request;

use observe_bench_support::{Setup, VARIANTS};

#[global_allocator]
static GLOBAL: observe_bench_support::Counting = observe_bench_support::Counting;

fn app() -> Router {
    Router::new().route("/hello", get(|| async { "hello, world" }))
}

/// What `wrk` sends, as hyper hands it to the service (with the peer address
/// `into_make_service_with_connect_info` adds).
fn request() -> Request<Body> {
    let mut request = Request::get("/hello")
        .header(http::header::HOST, "127.0.0.1:3000")
        .body(Body::empty())
        .unwrap();
    request
        .extensions_mut()
        .insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40000))));
    request
}

/// One request through `router`, polled to completion on this thread.
#[inline(always)]
fn one(router: &mut Router) -> u16 {
    let mut cx = Context::from_waker(Waker::noop());
    let ready = <Router as tower::Service<Request<Body>>>::poll_ready(router, &mut cx);
    debug_assert!(ready.is_ready());
    let mut future = pin!(<Router as tower::Service<Request<Body>>>::call(
        router,
        request()
    ));
    loop {
        if let Poll::Ready(response) = future.as_mut().poll(&mut cx) {
            return response.unwrap().status().as_u16();
        }
    }
}

/// The router of `variant`, with what it needs installed: observe as the process's
/// instance, tracing-opentelemetry as this thread's default subscriber.
fn router(variant: &str, setup: &mut Setup) -> Router {
    match variant {
        "bare" => app(),
        "observe" => {
            setup.observe();
            app().layer(observe_axum::layer())
        }
        "observe-quiet" => {
            setup.observe();
            app().layer(observe_axum::layer().access_log(None))
        }
        "tower-http-otel" => {
            setup.otel(None);
            app().layer(tower_http::trace::TraceLayer::new_for_http())
        }
        other => panic!("unknown variant {other}"),
    }
}

/// `--variant V --iters N`: N requests, a flush, the allocations per request.
fn measure(variant: &str, iters: u64) {
    let mut setup = Setup::default();
    let mut router = router(variant, &mut setup);
    // Warm up: first-use pages, metric series, thread-local state.
    for _ in 0..100 {
        assert_eq!(one(&mut router), 200);
    }
    setup.drain();
    observe_bench_support::count_allocations(
        variant,
        "request",
        iters,
        || {
            std::hint::black_box(one(&mut router));
        },
        || setup.drain(),
    );
    if let Some(guard) = setup.guard() {
        // Records dropped at a full ring were never processed: the counts would
        // be too low (a run under valgrind serialises the threads).
        eprintln!("{variant}: {:?}", guard.stats());
    }
}

/// Resident memory of this process, in KiB (`/proc/self/status`).
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// `--threads N [--lines K]`: what each thread that logs K lines (default 1)
/// costs in resident memory (its ring and staging buffer), against the same
/// threads that do not log. Past the ring's capacity (4096 records) every page
/// of the ring has been written.
fn ring_memory(n: usize, lines: usize) {
    let mut setup = Setup::default();
    setup.observe();
    let run = |log: bool| {
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(n + 1));
        let done = std::sync::Arc::new(std::sync::Barrier::new(n + 1));
        let threads: Vec<_> = (0..n)
            .map(|i| {
                let (barrier, done) = (barrier.clone(), done.clone());
                std::thread::spawn(move || {
                    if log {
                        for j in 0..lines {
                            tracing::info!(thread = i, line = j, "a line");
                            if j % 64 == 63 {
                                // Let the worker keep up: the ring wraps around
                                // rather than dropping.
                                std::thread::yield_now();
                            }
                        }
                    }
                    barrier.wait();
                    done.wait();
                })
            })
            .collect();
        barrier.wait();
        let rss = rss_kib();
        done.wait();
        for t in threads {
            t.join().unwrap();
        }
        rss
    };
    let before = rss_kib();
    let quiet = run(false);
    let logging = run(true);
    eprintln!(
        "{n} threads: resident {before} KiB before, {quiet} KiB with {n} threads that do not log, {logging} KiB with {n} threads that log {lines} line(s): {:.0} KiB per logging thread ({:.1} MiB in all)",
        (logging.saturating_sub(quiet)) as f64 / n as f64,
        (logging.saturating_sub(quiet)) as f64 / 1024.0
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
    };
    if let Some(n) = arg("--threads") {
        let lines = arg("--lines").map_or(1, |n| n.parse().expect("--lines K"));
        ring_memory(n.parse().expect("--threads N"), lines);
        return;
    }
    if let Some(variant) = arg("--variant") {
        let iters = arg("--iters").map_or(10_000, |n| n.parse().expect("--iters N"));
        measure(variant, iters);
        return;
    }
    if args.iter().any(|a| a == "--list") {
        println!("layer: test");
        return;
    }
    if !args.iter().any(|a| a == "--bench") {
        // As a test: every variant answers.
        for variant in VARIANTS {
            let mut setup = Setup::default();
            assert_eq!(one(&mut router(variant, &mut setup)), 200, "{variant}");
        }
        return;
    }
    let mut criterion = Criterion::default().configure_from_args();
    let mut group = criterion.benchmark_group("layer");
    for variant in VARIANTS {
        let mut setup = Setup::default();
        let mut router = router(variant, &mut setup);
        group.bench_function(variant, |b| b.iter(|| one(&mut router)));
        // observe stays installed (one instance per process); the tracing default
        // of the OpenTelemetry variant ends with its setup.
        drop(setup);
    }
    group.finish();
    criterion.final_summary();
}
