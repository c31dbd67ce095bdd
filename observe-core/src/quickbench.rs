#[repr(C)]
struct Timespec {
    sec: i64,
    nsec: i64,
}
unsafe extern "C" {
    fn clock_gettime(clk: i32, ts: *mut Timespec) -> i32;
}
fn cpu_now() -> u64 {
    let mut t = Timespec { sec: 0, nsec: 0 };
    unsafe { clock_gettime(3, &mut t) };
    t.sec as u64 * 1_000_000_000 + t.nsec as u64
}

#[test]
#[ignore]
fn quick_span_cost() {
    use crate::span::*;
    let big = std::env::var("BIG").is_ok();
    let settings = if big {
        crate::pipeline::Settings {
            ring_capacity: 4_000_000,
            drain_interval: std::time::Duration::from_secs(100),
            ..Default::default()
        }
    } else {
        Default::default()
    };
    let (o, _c, _b) = crate::engine_tests::observe_with(1.0, settings);
    let _g = o.set_default();
    static CS: Callsite = Callsite::new(
        "f",
        "m::f",
        "f.rs",
        1,
        tracing_core::Level::INFO,
        SpanKind::Internal,
    );
    let n = 200_000;
    let time = |label: &str, f: &mut dyn FnMut()| {
        for _ in 0..3 {
            let t = std::time::Instant::now();
            let c = cpu_now();
            for _ in 0..n {
                f();
            }
            let el = t.elapsed();
            let cpu = cpu_now() - c;
            eprintln!(
                "{label}: {:.1} ns wall {:.1} ns cpu",
                el.as_nanos() as f64 / n as f64,
                cpu as f64 / n as f64
            );
            if !big {
                assert!(o.flush(std::time::Duration::from_secs(5)));
            }
        }
    };
    time("root span", &mut || {
        let s = std::pin::pin!(ScopedSpan::new(Span::builder("f").callsite(&CS).start()));
        let _e = s.as_ref().enter();
    });
    let root = Span::new("root");
    root.in_scope(|| {
        time("child span", &mut || {
            let s = std::pin::pin!(ScopedSpan::new(Span::builder("f").callsite(&CS).start()));
            let _e = s.as_ref().enter();
        });
        time("child span via in_scope closure", &mut || {
            let s = Span::builder("f").callsite(&CS).start();
            s.in_scope(|| std::hint::black_box(1));
        });
        time("child span via __private::start + in_scope", &mut || {
            crate::__private::start(&CS).in_scope(|| std::hint::black_box(1));
        });
        let tid = crate::TraceId::random();
        time("metrics record_with_exemplar", &mut || {
            CS.metrics
                .histogram(false, crate::context::RequestType::Standard)
                .record_with_exemplar(std::hint::black_box(12_345), tid, false);
        });
        time("open + finish without metrics (ring push)", &mut || {
            let d = crate::span::open(
                "f".into(),
                SpanKind::Internal,
                Parent::Current,
                None,
                None,
                None,
                None,
            )
            .unwrap();
            crate::span::finish(d, crate::clock::Tick::now());
        });
        time("open only (child, dropped as disabled)", &mut || {
            let s = Span::builder("f").callsite(&CS).start();
            std::mem::forget(s);
        });
    });
    root.in_scope(|| {
        time("child span, record dropped instead of pushed", &mut || {
            let d = crate::span::open(
                "f".into(),
                SpanKind::Internal,
                Parent::Current,
                None,
                None,
                Some(&CS),
                None,
            )
            .unwrap();
            let end = crate::clock::Tick::now();
            std::hint::black_box(d.into_record(end));
        });
    });
    root.in_scope(|| {
        let d = crate::span::open(
            "f".into(),
            SpanKind::Internal,
            Parent::Current,
            None,
            None,
            Some(&CS),
            None,
        )
        .unwrap();
        time("stack push+pop (inside root)", &mut || {
            crate::span::stack::push(&d);
            crate::span::stack::pop(&d);
        });

        time("depth()", &mut || {
            std::hint::black_box(crate::span::stack::depth());
        });
    });
    time("tick", &mut || {
        std::hint::black_box(crate::clock::Tick::now());
    });
    time("span id", &mut || {
        std::hint::black_box(crate::SpanId::random());
    });
    eprintln!(
        "sizes: SpanData {} SpanRecord {} Record {} LogRecord {}",
        std::mem::size_of::<SpanData>(),
        std::mem::size_of::<SpanRecord>(),
        std::mem::size_of::<crate::pipeline::Record>(),
        std::mem::size_of::<crate::log::LogRecord>()
    );
}

#[test]
#[ignore]
fn quick_child_only() {
    use crate::span::*;
    let (o, _c, _b) = crate::engine_tests::observe_with(1.0, Default::default());
    let _g = o.set_default();
    static CS: Callsite = Callsite::new(
        "f",
        "m::f",
        "f.rs",
        1,
        tracing_core::Level::INFO,
        SpanKind::Internal,
    );
    let root = Span::new("root");
    root.in_scope(|| {
        for _ in 0..20_000_000 {
            let s = std::pin::pin!(ScopedSpan::new(Span::builder("f").callsite(&CS).start()));
            let _e = s.as_ref().enter();
        }
    });
}
