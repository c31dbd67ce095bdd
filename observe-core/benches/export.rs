//! Export and flight recorder costs.
//!
//! - `calling_thread`: what a request of four spans (a root and three children)
//!   costs the thread that runs it, with the flight recorder and the OTLP exporter
//!   attached (into a no-op exporter), sampled in and out; peers: observe with no
//!   sink, and the OpenTelemetry SDK with its batch processor and a no-op exporter.
//!   Batches of requests are timed with the pipeline flushed between them
//!   (untimed), so the rings never overflow and the figure is the steady cost.
//! - `background`: spans per second the worker-side sinks take in and the
//!   exporter thread converts and exports into a no-op exporter; the recorder
//!   sink alone.
//! - `saturation`: the exporter is slower than the producers (a collector taking
//!   2 ms a batch): cost per span offered, and the drops and queue bound printed.
//!
//! Run with:
//! `cargo bench -p observe-core --bench export -- --warm-up-time 1 --measurement-time 2`

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use observe_core::config::BatchConfig;
use observe_core::config::ExportConfig;
use observe_core::config::Service;
use observe_core::export::Exporter;
use observe_core::recorder::{FlightRecorder, RecorderSettings};
use observe_core::sink::Sink;
use observe_core::span::{Span, SpanRecord};
use observe_core::testing::MemorySink;
use opentelemetry::trace::{TraceContextExt as _, Tracer as _, TracerProvider as _};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::logs::{LogBatch, LogExporter};
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanData, SpanExporter};

/// Accepts and discards everything, after an optional pause per batch.
#[derive(Debug, Clone, Default)]
struct Noop {
    pause: Duration,
}

impl SpanExporter for Noop {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        black_box(&batch);
        if !self.pause.is_zero() {
            tokio::time::sleep(self.pause).await;
        }
        Ok(())
    }
}

impl LogExporter for Noop {
    async fn export(&self, batch: LogBatch<'_>) -> OTelSdkResult {
        black_box(&batch);
        Ok(())
    }
}

fn exporter(queue: usize, pause: Duration) -> Exporter {
    let mut batch = BatchConfig::SPANS;
    batch.schedule_delay = Duration::from_millis(20);
    batch.max_queue_size = queue;
    batch.max_export_batch_size = 512;
    Exporter::with_exporters(
        ExportConfig {
            span_batch: batch,
            log_batch: batch,
            ..ExportConfig::default()
        },
        &Service::default(),
        Some(Noop { pause }),
        Some(Noop { pause }),
    )
    .expect("exporter")
}

fn request() {
    let root = Span::new("GET /orders/{id}");
    root.in_scope(|| {
        for _ in 0..3 {
            Span::new("load").end();
        }
    });
    root.end();
}

/// Times `iters` requests in batches, flushing between batches (untimed).
fn timed_requests(observe: &observe_core::Observe, iters: u64) -> Duration {
    const BATCH: u64 = 500;
    let mut total = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let n = left.min(BATCH);
        let start = Instant::now();
        for _ in 0..n {
            request();
        }
        total += start.elapsed();
        left -= n;
        observe.flush(Duration::from_secs(30));
    }
    total
}

fn calling_thread(c: &mut Criterion) {
    let mut g = c.benchmark_group("calling_thread");
    g.throughput(Throughput::Elements(4));
    for (label, ratio, sinks) in [
        ("observe, no sink", 1.0, false),
        ("observe + recorder + exporter, sampled", 1.0, true),
        ("observe + recorder + exporter, unsampled", 0.0, true),
    ] {
        let exp = exporter(1 << 16, Duration::ZERO);
        let recorder = FlightRecorder::new(RecorderSettings::default());
        let s: Vec<Box<dyn Sink>> = if sinks {
            vec![
                Box::new(recorder.sink_promoting_to(exp.clone())),
                Box::new(exp.sink()),
            ]
        } else {
            Vec::new()
        };
        let observe = observe_core::testing::instance(ratio, s, Duration::from_secs(5)).unwrap();
        let _guard = observe.set_default();
        g.bench_function(BenchmarkId::new("request of 4 spans", label), |b| {
            b.iter_custom(|iters| timed_requests(&observe, iters))
        });
    }

    // Peer: the OpenTelemetry SDK, batch processor, no-op exporter.
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(Noop::default())
        .build();
    let tracer = provider.tracer("bench");
    g.bench_function(
        BenchmarkId::new(
            "request of 4 spans",
            "opentelemetry sdk, batch, no-op exporter",
        ),
        |b| {
            b.iter(|| {
                let root = tracer.start("GET /orders/{id}");
                let cx = opentelemetry::Context::current_with_span(root);
                for _ in 0..3 {
                    let _child = tracer.start_with_context("load", &cx);
                }
                cx.span().end();
            })
        },
    );
    g.finish();
    let _ = provider.shutdown();
}

/// Real span records to feed sinks with directly.
fn records(n: usize) -> Vec<SpanRecord> {
    let (sink, captured) = MemorySink::new();
    let observe =
        observe_core::testing::instance(1.0, vec![Box::new(sink)], Duration::from_secs(5)).unwrap();
    {
        let _g = observe.set_default();
        for i in 0..n / 4 {
            let root = Span::new("GET /orders/{id}");
            root.set_attribute("http.route", "/orders/{id}");
            root.set_attribute("i", i as u64);
            root.in_scope(|| {
                for _ in 0..3 {
                    Span::new("load").end();
                }
            });
            root.end();
        }
    }
    observe.shutdown();
    captured.spans()
}

fn background(c: &mut Criterion) {
    const N: usize = 8192;
    let spans = records(N);
    let mut g = c.benchmark_group("background");
    g.throughput(Throughput::Elements(spans.len() as u64));
    g.sample_size(20);

    let exp = exporter(1 << 16, Duration::ZERO);
    let mut sink = exp.sink();
    g.bench_function("exporter sink + convert + no-op export", |b| {
        b.iter(|| {
            for s in &spans {
                sink.on_span(s);
            }
            sink.flush(Instant::now() + Duration::from_secs(30));
        })
    });
    assert_eq!(
        exp.stats().spans_dropped,
        0,
        "the throughput run must not drop"
    );

    let recorder = FlightRecorder::new(RecorderSettings::default());
    let mut rsink = recorder.sink();
    g.bench_function("flight recorder sink", |b| {
        b.iter(|| {
            for s in &spans {
                rsink.on_span(s);
            }
        })
    });
    g.finish();
}

fn saturation(c: &mut Criterion) {
    const N: usize = 20_000;
    let spans = records(N);
    let exp = exporter(2048, Duration::from_millis(2));
    let mut sink = exp.sink();
    let mut g = c.benchmark_group("saturation");
    g.throughput(Throughput::Elements(spans.len() as u64));
    g.sample_size(10);
    let mut max_queued = 0;
    g.bench_function("exporter sink, collector at 2 ms a batch", |b| {
        b.iter(|| {
            for (i, s) in spans.iter().enumerate() {
                sink.on_span(s);
                if i % 256 == 0 {
                    // What the worker does every tick.
                    sink.on_tick(Instant::now());
                    max_queued = max_queued.max(exp.stats().spans_queued);
                }
            }
        })
    });
    g.finish();
    sink.shutdown(Instant::now() + Duration::from_secs(5));
    let st = exp.stats();
    // Only after a run that offered spans (not when the harness lists or tests).
    if st.spans_exported + st.spans_dropped + st.spans_failed + st.spans_queued == 0 {
        return;
    }
    #[allow(clippy::print_stderr)]
    {
        eprintln!(
            "saturation: offered {} spans, exported {}, dropped {} (counted), failed {}, \
             largest queue seen {} (bound 2048)",
            st.spans_exported + st.spans_dropped + st.spans_failed + st.spans_queued,
            st.spans_exported,
            st.spans_dropped,
            st.spans_failed,
            max_queued
        );
    }
}

criterion_group!(benches, calling_thread, background, saturation);
criterion_main!(benches);
