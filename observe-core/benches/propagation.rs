//! Propagation codecs on a typical inbound header set (`traceparent`, `tracestate`
//! with 2 members, `baggage` with 4), over the same `http::HeaderMap`: observe's
//! `extract`/`inject` against `opentelemetry_sdk`'s `TraceContextPropagator` +
//! `BaggagePropagator` wired the way an application wires them (through
//! `opentelemetry-http`'s `HeaderExtractor`/`HeaderInjector`).
//!
//! - `extract`: read all three headers into each library's own types.
//! - `inject`: write them for an outgoing call, from a context built beforehand.
//! - `extract+inject`: one hop of a service: read, make a child span, write.
//!
//! Run: `cargo bench -p observe-core --bench propagation -- --warm-up-time 1 --measurement-time 2`

use std::collections::BTreeSet;
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use http::{HeaderMap, HeaderValue};
use observe_core::propagation::{self, Audience};
use observe_core::{SpanContext, SpanId};
use opentelemetry::Context;
use opentelemetry::baggage::BaggageExt;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{self as otel_trace, TraceContextExt};
use opentelemetry_http::{HeaderExtractor, HeaderInjector};
use opentelemetry_sdk::propagation::{BaggagePropagator, TraceContextPropagator};

const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const TRACESTATE: &str = "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE";
const BAGGAGE: &str = "observe.user_id=u-1234567,observe.account_id=acme-corp,\
                       observe.flag.new_checkout=on,session=Am%C3%A9lie%20B";
const CHILD_SPAN: u64 = 0x0123_4567_89ab_cdef;

fn inbound() -> HeaderMap {
    let mut map = HeaderMap::new();
    map.insert("traceparent", HeaderValue::from_static(TRACEPARENT));
    map.insert("tracestate", HeaderValue::from_static(TRACESTATE));
    map.insert("baggage", HeaderValue::from_static(BAGGAGE));
    map
}

struct Otel {
    trace_context: TraceContextPropagator,
    baggage: BaggagePropagator,
}

impl Otel {
    fn extract(&self, headers: &HeaderMap) -> Context {
        let extractor = HeaderExtractor(headers);
        let cx = self.trace_context.extract(&extractor);
        self.baggage.extract_with_context(&cx, &extractor)
    }

    /// The context a service holds while calling out: a child of the caller's span.
    fn child(cx: &Context) -> Context {
        let parent = cx.span().span_context().clone();
        let child = otel_trace::SpanContext::new(
            parent.trace_id(),
            otel_trace::SpanId::from(CHILD_SPAN),
            parent.trace_flags(),
            false,
            parent.trace_state().clone(),
        );
        cx.with_remote_span_context(child)
    }

    fn inject(&self, cx: &Context, out: &mut HeaderMap) {
        let mut injector = HeaderInjector(out);
        self.trace_context.inject_context(cx, &mut injector);
        self.baggage.inject_context(cx, &mut injector);
    }
}

fn observe_child(parent: SpanContext) -> SpanContext {
    SpanContext {
        span_id: SpanId::new(CHILD_SPAN),
        is_remote: false,
        ..parent
    }
}

/// Both sides must write the same headers, or the comparison means nothing.
fn check_same_output(otel: &Otel, inbound: &HeaderMap) {
    let extracted = propagation::extract(inbound);
    let mut ours = HeaderMap::new();
    let child = observe_child(extracted.parent.expect("valid traceparent"));
    propagation::inject(
        &extracted.propagation_data(child),
        &mut ours,
        Audience::Internal,
    );

    let mut theirs = HeaderMap::new();
    otel.inject(&Otel::child(&otel.extract(inbound)), &mut theirs);
    assert_eq!(otel.extract(inbound).baggage().len(), 4);

    for name in ["traceparent", "tracestate"] {
        assert_eq!(ours.get(name), theirs.get(name), "{name}");
    }
    // OpenTelemetry keeps baggage in a hash map: compare the members as a set.
    let members = |map: &HeaderMap| -> BTreeSet<String> {
        map["baggage"]
            .to_str()
            .unwrap()
            .split(',')
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(members(&ours), members(&theirs));
}

fn bench(c: &mut Criterion) {
    let inbound = inbound();
    let otel = Otel {
        trace_context: TraceContextPropagator::new(),
        baggage: BaggagePropagator::new(),
    };
    check_same_output(&otel, &inbound);

    let mut group = c.benchmark_group("propagation/extract");
    group.bench_function("observe", |b| {
        b.iter(|| propagation::extract(black_box(&inbound)))
    });
    group.bench_function("opentelemetry_sdk", |b| {
        b.iter(|| otel.extract(black_box(&inbound)))
    });
    group.finish();

    let mut out = HeaderMap::with_capacity(8);
    let extracted = propagation::extract(&inbound);
    let child = observe_child(extracted.parent.expect("valid traceparent"));
    let data = extracted.propagation_data(child);
    let otel_cx = Otel::child(&otel.extract(&inbound));

    let mut group = c.benchmark_group("propagation/inject");
    group.bench_function("observe", |b| {
        b.iter(|| {
            out.clear();
            propagation::inject(black_box(&data), &mut out, Audience::Internal);
        })
    });
    group.bench_function("opentelemetry_sdk", |b| {
        b.iter(|| {
            out.clear();
            otel.inject(black_box(&otel_cx), &mut out);
        })
    });
    group.finish();

    let mut group = c.benchmark_group("propagation/extract+inject");
    group.bench_function("observe", |b| {
        b.iter(|| {
            out.clear();
            let extracted = propagation::extract(black_box(&inbound));
            if let Some(parent) = extracted.parent {
                let data = extracted.propagation_data(observe_child(parent));
                propagation::inject(&data, &mut out, Audience::Internal);
            }
        })
    });
    group.bench_function("opentelemetry_sdk", |b| {
        b.iter(|| {
            out.clear();
            let cx = Otel::child(&otel.extract(black_box(&inbound)));
            otel.inject(&cx, &mut out);
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
