//! Propagation codecs on a typical inbound header set (`traceparent`, `tracestate`
//! with 2 members, `baggage` with 4), over the same `http::HeaderMap`: observe's
//! `extract`/`inject` against `opentelemetry_sdk`'s `TraceContextPropagator` +
//! `BaggagePropagator` wired the way an application wires them (through
//! `opentelemetry-http`'s `HeaderExtractor`/`HeaderInjector`).
//!
//! - `extract`: read all three headers into each library's own types.
//! - `inject`: write them for an outgoing call, from a context built beforehand.
//! - `extract+inject`: one hop of a service: read, make a child span, write.
//! - `inbound/<case>`: `extract` of a whole inbound header set (`traceparent`,
//!   `tracestate`, `baggage`, `x-request-id`) by size: 1 KB, 64 KB and 1 MB of
//!   valid-looking members, the set at the W3C limits (32 `tracestate` members in
//!   512 characters, 180 `baggage` members within 8192 bytes, a 128-byte request
//!   id), and a duplicate flood (30 long `tracestate` members then `,z=1` repeated
//!   to 207 KB, and the same shape in `baggage`). Parsing stops at the limits, so
//!   the 1 MB set should cost about what the limit-sized one costs.
//!
//! Run: `cargo bench -p observe-core --bench propagation -- --warm-up-time 1 --measurement-time 3`

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

/// A header set whose `tracestate` and `baggage` are each about `total / 2` bytes
/// of distinct, valid members (40 bytes each), with a valid traceparent and a
/// 36-byte request id.
fn sized_set(total: usize) -> HeaderMap {
    let members = |prefix: char| {
        let mut out = String::with_capacity(total / 2 + 64);
        let mut i = 0;
        while out.len() + 41 <= total / 2 {
            if !out.is_empty() {
                out.push(',');
            }
            out.push_str(&format!("{prefix}{i:07}={}", "v".repeat(31)));
            i += 1;
        }
        out
    };
    header_set(&members('t'), &members('k'), REQUEST_ID)
}

/// The set at the limits observe keeps: 32 `tracestate` members making exactly 512
/// characters, 180 `baggage` members of 44 bytes (8099 bytes with the commas), a
/// 128-byte request id.
fn limit_set() -> HeaderMap {
    let tracestate: Vec<String> = (0..32)
        .map(|i| {
            // 15 characters each (16 for the first), 31 commas: 512 in all.
            let len = if i == 0 { 16 } else { 15 };
            let key = format!("t{i:02}");
            format!("{key}={}", "v".repeat(len - key.len() - 1))
        })
        .collect();
    let tracestate = tracestate.join(",");
    assert_eq!(tracestate.len(), 512);
    let baggage: Vec<String> = (0..180)
        .map(|i| format!("k{i:03}={}", "v".repeat(39)))
        .collect();
    let baggage = baggage.join(",");
    assert!(baggage.len() <= 8192);
    header_set(&tracestate, &baggage, &"r".repeat(128))
}

/// The shape that took 547 times the normal time: 30 long `tracestate` members,
/// then `,z=1` until the header is 207 KB; `baggage` the same.
fn duplicate_flood() -> HeaderMap {
    let flood = |prefix: char| {
        let mut out: Vec<String> = (0..30)
            .map(|i| format!("{prefix}{i:02}={}", "x".repeat(125)))
            .collect();
        let mut len = out.iter().map(|m| m.len() + 1).sum::<usize>();
        while len < 207 * 1024 {
            out.push("z=1".to_owned());
            len += 4;
        }
        out.join(",")
    };
    header_set(&flood('t'), &flood('k'), REQUEST_ID)
}

const REQUEST_ID: &str = "5b1f0c1e-6a0b-4f5e-9b0a-2f6c1d3e4a5b";

fn header_set(tracestate: &str, baggage: &str, request_id: &str) -> HeaderMap {
    let mut map = HeaderMap::new();
    map.insert("traceparent", HeaderValue::from_static(TRACEPARENT));
    map.insert("tracestate", HeaderValue::from_str(tracestate).unwrap());
    map.insert("baggage", HeaderValue::from_str(baggage).unwrap());
    map.insert("x-request-id", HeaderValue::from_str(request_id).unwrap());
    map
}

fn header_bytes(map: &HeaderMap) -> usize {
    map.iter().map(|(k, v)| k.as_str().len() + v.len()).sum()
}

#[allow(clippy::print_stderr)] // says what each case keeps, next to its numbers
fn bench_inbound_sizes(c: &mut Criterion, otel: &Otel) {
    let cases = [
        ("1KB", sized_set(1024)),
        ("64KB", sized_set(64 * 1024)),
        ("1MB", sized_set(1024 * 1024)),
        ("limit", limit_set()),
        ("duplicate-flood", duplicate_flood()),
    ];
    let mut group = c.benchmark_group("propagation/inbound");
    for (name, inbound) in &cases {
        let extracted = propagation::extract(inbound);
        assert!(extracted.parent.is_some(), "{name}");
        eprintln!(
            "{name}: {} header bytes; observe keeps {} tracestate members ({} bytes), \
             {} baggage members ({} bytes), request id {}",
            header_bytes(inbound),
            extracted.trace_state.len(),
            extracted.trace_state.as_str().len(),
            extracted.baggage.len(),
            extracted.baggage.encoded_len(),
            if extracted.request_id.is_some() {
                "kept"
            } else {
                "dropped"
            },
        );
        group.bench_function(format!("{name}/observe"), |b| {
            b.iter(|| propagation::extract(black_box(inbound)))
        });
        group.bench_function(format!("{name}/opentelemetry_sdk"), |b| {
            b.iter(|| otel.extract(black_box(inbound)))
        });
    }
    group.finish();
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

    bench_inbound_sizes(c, &otel);
}

criterion_group!(benches, bench);
criterion_main!(benches);
