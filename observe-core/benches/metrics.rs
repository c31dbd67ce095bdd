//! Latency recording: observe's per-thread recorder against its peers, from one
//! thread and from two threads at once, in one run.
//!
//! Run with:
//! `cargo bench -p observe-core --bench metrics -- --warm-up-time 1 --measurement-time 2`
//! (a substring after `--` selects benchmarks: `read/50_keys`, `events/`).
//!
//! Two-thread cases time both threads recording `iters` values each into the same
//! key at the same time (the slower thread's time), so a reported time `t` means
//! `2 / t` records per second in total.

use std::hint::black_box;
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use metrics::Recorder as _;
use observe_core::TraceId;
use observe_core::metrics::{Exposition, FunctionMetrics, Registry, RequestType};

/// 1024 log-uniform latencies from 1 µs to 100 ms, the same for every peer.
fn values() -> Vec<u64> {
    let mut x = 0x2545_f491_4f6c_dd1du64;
    (0..1024)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let u = (x >> 11) as f64 / (1u64 << 53) as f64;
            (1_000.0 * 100_000f64.powf(u)) as u64
        })
        .collect()
}

/// Runs `run(state, iters)` on `threads` threads at once; returns the slowest
/// thread's time. Per-thread state is built before the start line.
fn concurrent<S>(
    threads: usize,
    iters: u64,
    make: impl Fn() -> S + Sync,
    run: impl Fn(&mut S, u64) + Sync,
) -> Duration {
    if threads == 1 {
        let mut s = make();
        let t = Instant::now();
        run(&mut s, iters);
        return t.elapsed();
    }
    let barrier = Barrier::new(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut s = make();
                    barrier.wait();
                    let t = Instant::now();
                    run(&mut s, iters);
                    t.elapsed()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .max()
            .unwrap_or_default()
    })
}

fn record_peers(c: &mut Criterion) {
    let values = Arc::new(values());
    for threads in [1usize, 2] {
        let mut group = c.benchmark_group(format!(
            "record/{threads}_thread{}",
            if threads > 1 { "s" } else { "" }
        ));

        let registry = Registry::new();
        let h = registry.duration_histogram("bench.duration", &[("k", "v")]);
        group.bench_function(BenchmarkId::from_parameter("observe"), |b| {
            b.iter_custom(|iters| {
                concurrent(
                    threads,
                    iters,
                    || (),
                    |_, n| {
                        for i in 0..n {
                            h.record(values[(i & 1023) as usize]);
                        }
                    },
                )
            })
        });

        let m = Mutex::new(
            hdrhistogram::Histogram::<u64>::new_with_bounds(1, (1 << 42) - 1, 3).unwrap(),
        );
        group.bench_function(BenchmarkId::from_parameter("mutex_hdrhistogram"), |b| {
            b.iter_custom(|iters| {
                concurrent(
                    threads,
                    iters,
                    || (),
                    |_, n| {
                        for i in 0..n {
                            let _ = m.lock().unwrap().record(values[(i & 1023) as usize]);
                        }
                    },
                )
            })
        });

        let sync = hdrhistogram::Histogram::<u64>::new_with_bounds(1, (1 << 42) - 1, 3)
            .unwrap()
            .into_sync();
        let sync = Mutex::new(sync);
        group.bench_function(
            BenchmarkId::from_parameter("hdrhistogram_sync_recorder"),
            |b| {
                b.iter_custom(|iters| {
                    concurrent(
                        threads,
                        iters,
                        || sync.lock().unwrap().recorder(),
                        |r, n| {
                            for i in 0..n {
                                let _ = r.record(values[(i & 1023) as usize]);
                            }
                        },
                    )
                })
            },
        );

        let prom = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let handle = prom.handle();
        let key = metrics::Key::from_parts("bench_duration", vec![metrics::Label::new("k", "v")]);
        let meta = metrics::Metadata::new("bench", metrics::Level::INFO, None);
        let ph = prom.register_histogram(&key, &meta);
        group.bench_function(
            BenchmarkId::from_parameter("metrics_exporter_prometheus"),
            |b| {
                b.iter_custom(|iters| {
                    let t = concurrent(
                        threads,
                        iters,
                        || (),
                        |_, n| {
                            for i in 0..n {
                                ph.record(values[(i & 1023) as usize] as f64);
                            }
                        },
                    );
                    // Drain the recorder's buffers outside the timed region (memory).
                    handle.run_upkeep();
                    t
                })
            },
        );
        group.finish();
    }
}

static FN_METRICS: FunctionMetrics = FunctionMetrics::new("bench::traced_fn");

fn observe_paths(c: &mut Criterion) {
    let values = Arc::new(values());
    let registry = Registry::new();
    let trace = TraceId::random();
    for threads in [1usize, 2] {
        let mut group = c.benchmark_group(format!(
            "observe/{threads}_thread{}",
            if threads > 1 { "s" } else { "" }
        ));
        let h = registry.duration_histogram("bench.exemplar", &[]);
        group.bench_function("record", |b| {
            b.iter_custom(|iters| {
                concurrent(
                    threads,
                    iters,
                    || (),
                    |_, n| {
                        for i in 0..n {
                            h.record(values[(i & 1023) as usize]);
                        }
                    },
                )
            })
        });
        group.bench_function("record_with_exemplar", |b| {
            b.iter_custom(|iters| {
                concurrent(
                    threads,
                    iters,
                    || (),
                    |_, n| {
                        for i in 0..n {
                            h.record_with_exemplar(values[(i & 1023) as usize], trace, false);
                        }
                    },
                )
            })
        });
        let counter = registry.counter("bench.count", &[]);
        group.bench_function("counter_inc", |b| {
            b.iter_custom(|iters| {
                concurrent(
                    threads,
                    iters,
                    || (),
                    |_, n| (0..n).for_each(|_| counter.inc()),
                )
            })
        });
        let gauge = registry.gauge("bench.in_flight", &[]);
        group.bench_function("gauge_inc_dec", |b| {
            b.iter_custom(|iters| {
                concurrent(
                    threads,
                    iters,
                    || (),
                    |_, n| {
                        for _ in 0..n {
                            gauge.inc();
                            gauge.dec();
                        }
                    },
                )
            })
        });
        group.bench_function("function_metrics_static_record", |b| {
            b.iter_custom(|iters| {
                concurrent(
                    threads,
                    iters,
                    || (),
                    |_, n| {
                        for i in 0..n {
                            FN_METRICS
                                .histogram(false, RequestType::Standard)
                                .record(values[(i & 1023) as usize]);
                        }
                    },
                )
            })
        });
        group.bench_function("http_server_duration_lookup_and_record", |b| {
            b.iter_custom(|iters| {
                concurrent(
                    threads,
                    iters,
                    || (),
                    |_, n| {
                        for i in 0..n {
                            observe_core::metrics::http_server_duration(
                                black_box("/orders/{id}"),
                                black_box("GET"),
                                200,
                                "http",
                                None,
                                RequestType::Standard,
                            )
                            .record(values[(i & 1023) as usize]);
                        }
                    },
                )
            })
        });
        group.bench_function("registry_http_server_duration_clone_and_record", |b| {
            b.iter_custom(|iters| {
                concurrent(
                    threads,
                    iters,
                    || (),
                    |_, n| {
                        for i in 0..n {
                            registry
                                .http_server_duration(
                                    black_box("/orders/{id}"),
                                    black_box("GET"),
                                    200,
                                    "http",
                                    None,
                                    RequestType::Standard,
                                )
                                .record(values[(i & 1023) as usize]);
                        }
                    },
                )
            })
        });
        group.finish();
    }
}

fn read_paths(c: &mut Criterion) {
    let values = values();
    let registry = Registry::new();
    for route in 0..50 {
        let h = registry.http_server_duration(
            &format!("/r{route}"),
            "GET",
            200,
            "http",
            None,
            RequestType::Standard,
        );
        for v in &values {
            h.record(*v);
        }
    }
    let mut group = c.benchmark_group("read/50_keys");
    group.sample_size(10);
    group.bench_function("snapshot", |b| b.iter(|| black_box(registry.snapshot())));
    // Prometheus text with `le` buckets (the default), as summaries (the option,
    // and what the text always was before), and OpenMetrics with exemplars.
    group.bench_function("prometheus_text", |b| {
        b.iter(|| black_box(registry.prometheus_text()))
    });
    registry.set_default_exposition(Exposition::Summary);
    group.bench_function("prometheus_text_summaries", |b| {
        b.iter(|| black_box(registry.prometheus_text()))
    });
    registry.set_default_exposition(Exposition::Histogram);
    group.bench_function("openmetrics_text", |b| {
        b.iter(|| black_box(registry.openmetrics_text()))
    });
    // The background tick: fold every key when nothing new was recorded (the
    // steady cost of an idle service), and after one new record per key.
    group.bench_function("tick_idle", |b| b.iter(|| registry.tick()));
    let handles: Vec<_> = (0..50)
        .map(|route| {
            registry.http_server_duration(
                &format!("/r{route}"),
                "GET",
                200,
                "http",
                None,
                RequestType::Standard,
            )
        })
        .collect();
    group.bench_function("tick_after_one_record_per_key", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for i in 0..iters {
                for h in &handles {
                    h.record(values[(i & 1023) as usize]);
                }
                let t = Instant::now();
                registry.tick();
                total += t.elapsed();
            }
            total
        })
    });
    group.finish();
}

/// `counter.*`/`histogram.*` fields of `tracing` events become metrics: the same
/// event with a plain field, a counter field and a histogram field, through an
/// observe instance whose log lines go to `io::sink`. The difference to
/// `plain_field` is what the metric costs. Then the hook alone: what it did per
/// event before the per-callsite cache (a registry lookup: `try_counter` and
/// `add`), and the hook as the layer calls it now.
fn event_paths(c: &mut Criterion) {
    let o = observe_core::Observe::builder()
        .ignore_env()
        .log_writer(std::io::sink())
        .log_filter("info")
        .build()
        .expect("observe starts")
        .expect("observe is enabled");
    let _d = o.set_default();
    let mut group = c.benchmark_group("events");
    group.bench_function("plain_field", |b| {
        b.iter(|| tracing::info!(bench_items = black_box(3u64), "basket"))
    });
    group.bench_function("counter_field", |b| {
        b.iter(|| tracing::info!(counter.bench.baskets = black_box(1u64), "basket"))
    });
    group.bench_function("histogram_field", |b| {
        b.iter(|| tracing::info!(histogram.bench.basket_items = black_box(3u64), "basket"))
    });
    group.bench_function("hook_registry_lookup_per_event", |b| {
        b.iter(|| {
            let name = black_box("counter.bench.hook").strip_prefix("counter.");
            if let Ok(c) = observe_core::metrics::global().try_counter(name.unwrap_or(""), &[]) {
                c.add(black_box(1));
            }
        })
    });
    group.bench_function("hook_cached_per_callsite", |b| {
        b.iter(|| {
            observe_core::metrics::__record_event_field_u64("counter.bench.hook", black_box(1))
        })
    });
    group.finish();
}

criterion_group!(
    benches,
    record_peers,
    observe_paths,
    read_paths,
    event_paths
);
criterion_main!(benches);
