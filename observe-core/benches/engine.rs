//! The span engine and the log path against their peers, in one run.
//!
//! Run with: `cargo bench -p observe-core --bench engine`
//!
//! - `span/*`: open and close a span (a child of a root, as in a request; also under
//!   a root carrying a request context), a nested pair, and a future polled several
//!   times, for observe's engine, `tracing` with a `Registry`, `tracing` +
//!   `tracing-opentelemetry` (SDK with a no-op exporter), and fastrace (sampled root,
//!   no-op reporter).
//! - `log/*`: one `info!` with three fields inside a span, through observe (capture on
//!   the calling thread; formatting and writing happen on observe's threads) versus
//!   `tracing-subscriber`'s JSON formatter writing to `io::sink` on the calling thread.
//!
//! Results and ratios: docs/BENCHMARKS.md.

mod support;

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use observe_core::span::Span;
use support::{Yields, block_on};
use tracing_subscriber::layer::SubscriberExt as _;

fn observe_instance() -> observe_core::Observe {
    observe_core::Observe::builder()
        .ignore_env()
        .log_writer(std::io::sink())
        .log_filter("info")
        .build()
        .expect("observe starts")
        .expect("observe is enabled")
}

/// Children per root: every variant measures spans inside roots of this many, so
/// the root's own cost (and fastrace's collection at the end of a root) is shared
/// out as in a request with that many spans.
const CHILDREN: u64 = 100;

/// Times `iters` calls of `child`, run inside roots made by `root`.
fn in_roots(
    iters: u64,
    root: &mut dyn FnMut(&mut dyn FnMut()),
    child: &mut dyn FnMut(),
) -> Duration {
    let start = Instant::now();
    let mut done = 0;
    while done < iters {
        let n = CHILDREN.min(iters - done);
        root(&mut || {
            for _ in 0..n {
                child();
            }
        });
        done += n;
    }
    start.elapsed()
}

fn spans(c: &mut Criterion) {
    let mut g = c.benchmark_group("span");

    g.bench_function("bare call", |b| b.iter(|| black_box(1u64) + 1));

    {
        let o = observe_instance();
        let _d = o.set_default();
        let mut root = |f: &mut dyn FnMut()| Span::new("root").in_scope(f);
        g.bench_function("observe child", |b| {
            b.iter_custom(|n| {
                in_roots(n, &mut root, &mut || {
                    Span::new("child").in_scope(|| {
                        black_box(1);
                    })
                })
            })
        });
        // As in a served request: the root carries a request context (request id,
        // user), which every child shares.
        let mut request_root = |f: &mut dyn FnMut()| {
            let ctx = observe_core::context::RequestContext::builder()
                .request_id("req-42")
                .user("u-7")
                .build();
            Span::builder("GET /orders/{id}")
                .context(ctx)
                .start()
                .in_scope(f)
        };
        g.bench_function("observe child, in a request context", |b| {
            b.iter_custom(|n| {
                in_roots(n, &mut request_root, &mut || {
                    Span::new("child").in_scope(|| {
                        black_box(1);
                    })
                })
            })
        });
        g.bench_function("observe nested pair", |b| {
            b.iter_custom(|n| {
                in_roots(n, &mut root, &mut || {
                    Span::new("outer").in_scope(|| Span::new("inner").in_scope(|| black_box(1)));
                })
            })
        });
        g.bench_function("observe future, 4 polls", |b| {
            b.iter_custom(|n| {
                in_roots(n, &mut root, &mut || {
                    block_on(observe_core::FutureExt::in_span(
                        Yields(3),
                        Span::new("fut"),
                    ))
                })
            })
        });
        g.bench_function("observe root", |b| {
            b.iter(|| Span::new("root").in_scope(|| black_box(1)))
        });
    }

    {
        let dispatch = tracing::Dispatch::new(tracing_subscriber::registry());
        tracing::dispatcher::with_default(&dispatch, || {
            let mut root = |f: &mut dyn FnMut()| tracing::info_span!("root").in_scope(f);
            g.bench_function("tracing registry child", |b| {
                b.iter_custom(|n| {
                    in_roots(n, &mut root, &mut || {
                        tracing::info_span!("child").in_scope(|| {
                            black_box(1);
                        })
                    })
                })
            });
            g.bench_function("tracing registry nested pair", |b| {
                b.iter_custom(|n| {
                    in_roots(n, &mut root, &mut || {
                        tracing::info_span!("outer")
                            .in_scope(|| tracing::info_span!("inner").in_scope(|| black_box(1)));
                    })
                })
            });
            g.bench_function("tracing registry future, 4 polls", |b| {
                b.iter_custom(|n| {
                    in_roots(n, &mut root, &mut || {
                        block_on(tracing::Instrument::instrument(
                            Yields(3),
                            tracing::info_span!("fut"),
                        ))
                    })
                })
            });
        });
    }

    {
        use opentelemetry::trace::TracerProvider as _;
        let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
            .with_simple_exporter(opentelemetry_sdk::testing::trace::NoopSpanExporter::new())
            .build();
        let tracer = provider.tracer("bench");
        let subscriber =
            tracing_subscriber::registry().with(tracing_opentelemetry::layer().with_tracer(tracer));
        let dispatch = tracing::Dispatch::new(subscriber);
        tracing::dispatcher::with_default(&dispatch, || {
            let mut root = |f: &mut dyn FnMut()| tracing::info_span!("root").in_scope(f);
            g.bench_function("tracing-opentelemetry child", |b| {
                b.iter_custom(|n| {
                    in_roots(n, &mut root, &mut || {
                        tracing::info_span!("child").in_scope(|| {
                            black_box(1);
                        })
                    })
                })
            });
        });
    }

    {
        fastrace::set_reporter(NoopReporter, fastrace::collector::Config::default());
        let mut root = |f: &mut dyn FnMut()| {
            let root = fastrace::Span::root("root", fastrace::collector::SpanContext::random());
            let _g = root.set_local_parent();
            f()
        };
        g.bench_function("fastrace child", |b| {
            b.iter_custom(|n| {
                in_roots(n, &mut root, &mut || {
                    let _s = fastrace::local::LocalSpan::enter_with_local_parent("child");
                    black_box(1);
                })
            })
        });
        g.bench_function("fastrace nested pair", |b| {
            b.iter_custom(|n| {
                in_roots(n, &mut root, &mut || {
                    let _o = fastrace::local::LocalSpan::enter_with_local_parent("outer");
                    let _i = fastrace::local::LocalSpan::enter_with_local_parent("inner");
                    black_box(1);
                })
            })
        });
        g.bench_function("fastrace future, 4 polls", |b| {
            b.iter_custom(|n| {
                in_roots(n, &mut root, &mut || {
                    block_on(fastrace::future::FutureExt::in_span(
                        Yields(3),
                        fastrace::Span::enter_with_local_parent("fut"),
                    ))
                })
            })
        });
    }
    g.finish();
}

struct NoopReporter;

impl fastrace::collector::Reporter for NoopReporter {
    fn report(&mut self, spans: Vec<fastrace::collector::SpanRecord>) {
        black_box(spans);
    }
}

fn logs(c: &mut Criterion) {
    let mut g = c.benchmark_group("log");
    {
        let o = observe_instance();
        let _d = o.set_default();
        let cx = observe_core::context::RequestContext::new();
        let root = Span::builder("request").context(cx).start();
        root.in_scope(|| {
            observe_core::context::set_user("u-42");
            g.bench_function("observe info! 3 fields, full context", |b| {
                b.iter(|| tracing::info!(order_id = 17u64, sku = "A-1", ok = true, "order loaded"))
            });
        });
        // Let the worker catch up so the next group starts quiet.
        o.flush(Duration::from_secs(10));
    }
    {
        let subscriber = tracing_subscriber::registry().with(
            tracing_subscriber::fmt::layer()
                .json()
                .with_current_span(true)
                .with_span_list(false)
                .with_writer(std::io::sink),
        );
        let dispatch = tracing::Dispatch::new(subscriber);
        tracing::dispatcher::with_default(&dispatch, || {
            let span = tracing::info_span!("request", user_id = "u-42", request_id = "r-1");
            let _e = span.enter();
            g.bench_function("tracing-subscriber json info! 3 fields", |b| {
                b.iter(|| tracing::info!(order_id = 17u64, sku = "A-1", ok = true, "order loaded"))
            });
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = spans, logs
}
criterion_main!(benches);
