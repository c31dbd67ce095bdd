//! Tests of the span engine, the context and the log pipeline working together,
//! on scoped instances (no globals).

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::config::Service;
use crate::context::{self, ContextState, RequestContext, RequestType};
use crate::init::{Observe, Parts};
use crate::log::{LogFormat, Output};
use crate::pipeline::Settings;
use crate::span::{Parent, Span, SpanKind, StatusCode};
use crate::testing::{Captured, MemorySink};
use crate::{FutureExt as _, SpanContext, SpanId, TraceFlags, TraceId};

#[derive(Clone, Default)]
pub(crate) struct SharedBuf(pub(crate) Arc<Mutex<Vec<u8>>>);

impl Write for SharedBuf {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl SharedBuf {
    pub(crate) fn lines(&self) -> Vec<serde_json::Value> {
        let bytes = self.0.lock().unwrap().clone();
        String::from_utf8(bytes)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}")))
            .collect()
    }
}

pub(crate) fn observe(ratio: f64) -> (Observe, Captured, SharedBuf) {
    observe_with(ratio, Settings::default())
}

pub(crate) fn observe_with(ratio: f64, settings: Settings) -> (Observe, Captured, SharedBuf) {
    let (sink, captured) = MemorySink::new();
    // The filter decides the span level, as `RUST_LOG` does.
    let settings_filter = settings.span_level.to_string().to_lowercase();
    let buf = SharedBuf::default();
    let observe = Observe::start(Parts {
        settings,
        resource: Service {
            name: "svc".into(),
            version: "1.2.3".into(),
            environment: Some("test".into()),
            host: "host-1".into(),
            ..Service::default()
        },
        log: Some((
            LogFormat::Json,
            Output::Writer(Box::new(buf.clone())),
            100_000,
        )),
        filter: settings_filter,
        ..crate::testing::parts(ratio, vec![Box::new(sink)])
    })
    .unwrap();
    (observe, captured, buf)
}

fn flush(o: &Observe) {
    assert!(o.flush(Duration::from_secs(10)));
}

#[test]
fn nested_spans_form_a_tree() {
    let (o, captured, _) = observe(1.0);
    let _g = o.set_default();
    let outer = Span::new("outer");
    outer.in_scope(|| {
        let inner = Span::new("inner");
        inner.in_scope(|| {
            Span::new("leaf").end();
        });
    });
    drop(outer);
    flush(&o);
    let outer = captured.span("outer");
    let inner = captured.span("inner");
    let leaf = captured.span("leaf");
    assert!(!outer.parent_id().is_valid());
    assert!(outer.is_local_root());
    assert_eq!(inner.parent_id(), outer.span_id());
    assert_eq!(leaf.parent_id(), inner.span_id());
    assert_eq!(inner.trace_id(), outer.trace_id());
    assert_eq!(leaf.trace_id(), outer.trace_id());
    assert!(outer.is_sampled() && leaf.is_sampled());
    assert!(outer.duration() >= inner.duration());
}

#[test]
fn disabled_without_instance() {
    let span = Span::new("nothing");
    assert!(!span.is_enabled() || crate::pipeline::Pipeline::current().is_some());
}

#[test]
fn remote_parent_is_continued() {
    let (o, captured, _) = observe(0.0);
    let _g = o.set_default();
    let remote = SpanContext {
        trace_id: TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
        span_id: SpanId::from_hex("00f067aa0ba902b7").unwrap(),
        flags: TraceFlags::new(0x03),
        is_remote: true,
    };
    Span::builder("server")
        .kind(SpanKind::Server)
        .parent(Parent::Remote(remote))
        .start()
        .end();
    flush(&o);
    let s = captured.span("server");
    assert_eq!(s.trace_id(), remote.trace_id);
    assert_eq!(s.parent_id(), remote.span_id);
    assert!(s.parent_is_remote() && s.is_local_root());
    // Parent-based: the remote sampled flag wins over the ratio of 0.
    assert!(s.is_sampled());
    assert_eq!(s.kind(), SpanKind::Server);
}

#[test]
fn ratio_zero_still_records_but_unsampled() {
    let (o, captured, _) = observe(0.0);
    let _g = o.set_default();
    Span::new("quiet").end();
    flush(&o);
    assert!(!captured.span("quiet").is_sampled());
}

#[test]
fn tracer_bullets_are_always_sampled() {
    let (o, captured, _) = observe(0.0);
    let _g = o.set_default();
    let cx = RequestContext::from_state(ContextState {
        request_type: RequestType::TracerBullet,
        ..Default::default()
    });
    let s = Span::builder("probe").context(cx).start();
    s.in_scope(|| assert!(context::is_tracer_bullet()));
    s.end();
    flush(&o);
    let s = captured.span("probe");
    assert!(s.is_sampled());
    assert_eq!(s.request_type(), RequestType::TracerBullet);
}

#[test]
fn futures_carry_their_span_across_awaits_and_interleaving() {
    let (o, captured, _) = observe(1.0);
    let _g = o.set_default();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async {
        async fn unit(name: &'static str) {
            for _ in 0..3 {
                tokio::task::yield_now().await;
                Span::new(name).end();
            }
        }
        let a = unit("a-child").in_span(Span::new("a"));
        let b = unit("b-child").in_span(Span::new("b"));
        tokio::join!(a, b);
    });
    flush(&o);
    let a = captured.span("a");
    let b = captured.span("b");
    assert_ne!(a.trace_id(), b.trace_id());
    for c in captured.spans_named("a-child") {
        assert_eq!(c.parent_id(), a.span_id());
        assert_eq!(c.trace_id(), a.trace_id());
    }
    for c in captured.spans_named("b-child") {
        assert_eq!(c.parent_id(), b.span_id());
    }
    assert_eq!(captured.spans_named("a-child").len(), 3);
    assert_eq!(crate::span::stack::depth(), 0);
}

#[test]
fn context_crosses_threads_on_a_multi_thread_runtime() {
    let (o, captured, buf) = observe(1.0);
    let _g = o.set_default();
    // tracing's default dispatcher is per thread: give the runtime's workers ours,
    // as a global `init()` would.
    let dispatch = o.dispatch.clone();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .on_thread_start(move || {
            // Kept in the worker thread's own storage: dropped when the thread ends.
            thread_local! {
                static DISPATCH: std::cell::RefCell<Option<tracing::dispatcher::DefaultGuard>> =
                    const { std::cell::RefCell::new(None) };
            }
            let guard = tracing::dispatcher::set_default(&dispatch);
            DISPATCH.with(|d| *d.borrow_mut() = Some(guard));
        })
        .enable_all()
        .build()
        .unwrap();
    let root = Span::builder("request")
        .context(RequestContext::new())
        .start();
    let trace = root.span_context().unwrap().trace_id;
    rt.block_on(
        async move {
            context::set_user("u-7");
            let handle = tokio::spawn(
                async {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    tracing::info!(n = 1, "in spawned task");
                    Span::new("spawned-child").end();
                }
                .in_current_context(),
            );
            handle.await.unwrap();
            tracing::info!("after join");
        }
        .in_span(root),
    );
    flush(&o);
    let request = captured.span("request");
    let child = captured.span("spawned-child");
    assert_eq!(child.trace_id(), trace);
    assert_eq!(child.parent_id(), request.span_id());
    let lines = buf.lines();
    let ours: Vec<_> = lines
        .iter()
        .filter(|l| l["message"] == "in spawned task" || l["message"] == "after join")
        .collect();
    assert_eq!(ours.len(), 2, "{lines:?}");
    for l in ours {
        assert_eq!(l["trace_id"], trace.to_string());
        assert_eq!(l["user_id"], "u-7");
        assert_eq!(l["service"], "svc");
        assert!(l["request_id"].as_str().is_some());
    }
}

#[test]
fn panics_are_recorded_and_re_raised() {
    let (o, captured, _) = observe(1.0);
    let _g = o.set_default();
    let result = std::panic::catch_unwind(|| {
        let s = Box::pin(crate::span::ScopedSpan::new(Span::new("boom")));
        s.as_ref().run(|| panic!("kaboom {}", 42))
    });
    let payload = result.unwrap_err();
    // The payload is re-raised unchanged: whatever `panic!` made of the message.
    let text = payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied());
    assert_eq!(text, Some("kaboom 42"));
    flush(&o);
    let s = captured.span("boom");
    assert_eq!(s.status(), StatusCode::Error);
    assert_eq!(s.status_message(), Some("kaboom 42"));
    assert_eq!(s.events()[0].name, "exception");
    assert_eq!(crate::span::stack::depth(), 0);
}

#[test]
fn async_panics_are_recorded() {
    let (o, captured, _) = observe(1.0);
    let _g = o.set_default();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rt.block_on(async { panic!("async boom") }.in_span(Span::new("apanic")))
    }));
    assert!(r.is_err());
    flush(&o);
    let s = captured.span("apanic");
    assert_eq!(s.status_message(), Some("async boom"));
}

#[test]
fn tracing_spans_join_the_tree_both_ways() {
    let (o, captured, buf) = observe(1.0);
    let _g = o.set_default();
    let outer = Span::new("observe-outer");
    outer.in_scope(|| {
        let t = tracing::info_span!(
            "tracing-middle",
            db.system = "postgresql",
            password = "hunter2"
        );
        t.in_scope(|| {
            tracing::info!(order_id = 17, "inside");
            Span::new("observe-inner").end();
        });
    });
    drop(outer);
    flush(&o);
    let outer = captured.span("observe-outer");
    let middle = captured.span("tracing-middle");
    let inner = captured.span("observe-inner");
    assert_eq!(middle.parent_id(), outer.span_id());
    assert_eq!(inner.parent_id(), middle.span_id());
    assert_eq!(
        middle.attribute("db.system").unwrap().to_string(),
        "postgresql"
    );
    assert_eq!(
        middle.attribute("password").unwrap().to_string(),
        "[REDACTED]"
    );
    let line = buf
        .lines()
        .into_iter()
        .find(|l| l["message"] == "inside")
        .unwrap();
    assert_eq!(line["span_id"], middle.span_id().to_string());
    assert_eq!(line["parent_id"], outer.span_id().to_string());
    assert_eq!(line["span"], "tracing-middle");
    assert_eq!(line["fields"]["order_id"], 17);
}

#[test]
fn json_lines_have_the_schema_and_redact() {
    let (o, _captured, buf) = observe(1.0);
    let _g = o.set_default();
    let cx = RequestContext::new();
    let s = Span::builder("req").context(cx).start();
    s.in_scope(|| {
        context::set_user("alice");
        context::set_account("acme");
        context::set_flag("new_checkout", "on");
        tracing::warn!(password = "hunter2", token = %"abc", attempt = 3u64, ratio = 0.5, ok = true, "login \"quoted\"\n");
    });
    drop(s);
    tracing::info!("outside any span");
    flush(&o);
    let lines = buf.lines();
    let l = lines.iter().find(|l| l["level"] == "WARN").unwrap();
    assert_eq!(l["message"], "login \"quoted\"\n");
    assert_eq!(l["user_id"], "alice");
    assert_eq!(l["account_id"], "acme");
    assert_eq!(l["flags"]["new_checkout"], "on");
    assert_eq!(l["request_type"], "standard");
    assert_eq!(l["fields"]["password"], "[REDACTED]");
    assert_eq!(l["fields"]["token"], "[REDACTED]");
    assert_eq!(l["fields"]["attempt"], 3);
    assert_eq!(l["fields"]["ratio"], 0.5);
    assert_eq!(l["fields"]["ok"], true);
    assert_eq!(l["service"], "svc");
    assert_eq!(l["version"], "1.2.3");
    assert_eq!(l["env"], "test");
    assert_eq!(l["host"], "host-1");
    assert_eq!(l["span"], "req");
    assert!(l["timestamp"].as_str().unwrap().ends_with('Z'));
    assert!(l["file"].as_str().unwrap().ends_with("engine_tests.rs"));
    let outside = lines
        .iter()
        .find(|l| l["message"] == "outside any span")
        .unwrap();
    assert!(outside.get("trace_id").is_none());
    assert!(
        !String::from_utf8(buf.0.lock().unwrap().clone())
            .unwrap()
            .contains("hunter2")
    );
}

#[test]
fn set_user_before_any_context_creates_one_for_the_unit_of_work() {
    let (o, _captured, buf) = observe(1.0);
    let _g = o.set_default();
    let root = Span::new("job");
    root.in_scope(|| {
        let child = Span::new("step");
        child.in_scope(|| {
            assert!(context::set_user("worker-user"));
        });
        tracing::info!("back in root");
    });
    flush(&o);
    let line = buf
        .lines()
        .into_iter()
        .find(|l| l["message"] == "back in root")
        .unwrap();
    assert_eq!(line["user_id"], "worker-user");
}

#[test]
fn ids_unique_over_many_spans() {
    let (o, captured, _) = observe(1.0);
    let _g = o.set_default();
    let root = Span::new("many-root");
    root.in_scope(|| {
        for _ in 0..20_000 {
            Span::new("many").end();
        }
    });
    drop(root);
    flush(&o);
    let spans = captured.spans_named("many");
    let dropped = o
        .pipeline
        .stats
        .dropped_spans
        .load(std::sync::atomic::Ordering::Relaxed) as usize;
    // Every span is either delivered or counted as dropped (the root included).
    let root_delivered = captured.spans_named("many-root").len();
    assert_eq!(spans.len() + root_delivered + dropped, 20_001);
    assert!(!spans.is_empty());
    let ids: std::collections::HashSet<_> = spans.iter().map(|s| s.span_id()).collect();
    assert_eq!(ids.len(), spans.len());
}

fn function_count(function: &str, outcome: &str) -> u64 {
    crate::metrics::snapshot()
        .histograms
        .iter()
        .filter(|s| {
            s.name == "observe.function.duration"
                && s.labels.get("code.function").map(String::as_str) == Some(function)
                && s.labels.get("outcome").map(String::as_str) == Some(outcome)
        })
        .map(|s| s.cumulative.count)
        .sum()
}

#[test]
fn callsites_record_latency_per_outcome_even_when_filtered() {
    use crate::span::{Callsite, ScopedSpan};
    static OK: Callsite = Callsite::new(
        "engine_ok",
        "engine_tests::engine_ok",
        file!(),
        line!(),
        tracing_core::Level::INFO,
        SpanKind::Internal,
    );
    static TRACE_LEVEL: Callsite = Callsite::new(
        "engine_verbose",
        "engine_tests::engine_verbose",
        file!(),
        line!(),
        tracing_core::Level::TRACE,
        SpanKind::Internal,
    );
    let (o, captured, _) = observe_with(
        1.0,
        Settings {
            span_level: tracing_core::LevelFilter::INFO,
            ..Settings::default()
        },
    );
    let _g = o.set_default();
    for i in 0..5 {
        let s = std::pin::pin!(ScopedSpan::new(crate::__private::start(&OK)));
        s.as_ref().run(|| {
            if i % 2 == 1 {
                crate::__private::record_error_display(s.span(), "boom");
            }
        });
    }
    for _ in 0..3 {
        let s = std::pin::pin!(ScopedSpan::new(crate::__private::start(&TRACE_LEVEL)));
        s.as_ref().run(|| ());
    }
    flush(&o);
    assert_eq!(function_count("engine_tests::engine_ok", "ok"), 3);
    assert_eq!(function_count("engine_tests::engine_ok", "error"), 2);
    // Below the enabled level: no span, but the latency is still recorded.
    assert!(captured.spans_named("engine_verbose").is_empty());
    assert_eq!(function_count("engine_tests::engine_verbose", "ok"), 3);
    let err = captured
        .spans_named("engine_ok")
        .into_iter()
        .find(|s| s.status() == StatusCode::Error)
        .unwrap();
    assert_eq!(err.attribute("error.message").unwrap().to_string(), "boom");
}

#[test]
fn event_fields_named_counter_or_histogram_become_metrics() {
    let (o, _captured, _) = observe(1.0);
    let _g = o.set_default();
    for _ in 0..4 {
        tracing::info!(
            counter.engine_orders_placed = 2u64,
            histogram.engine_basket_items = 7u64,
            "placed"
        );
    }
    flush(&o);
    let snap = crate::metrics::snapshot();
    let counter = snap
        .counters
        .iter()
        .find(|c| c.name == "engine_orders_placed")
        .expect("counter registered");
    assert_eq!(counter.value, 8);
    let h = snap
        .histograms
        .iter()
        .find(|s| s.name == "engine_basket_items")
        .expect("histogram registered");
    assert_eq!(h.cumulative.count, 4);
}

/// A span that ends lets go of its request context, whether it was given when
/// the span opened (or inherited from its parent) or set later
/// (`finish_in_place` drops only what a span still owns once its record is
/// taken, and forgets the rest).
#[test]
fn ended_spans_release_their_request_context() {
    let (o, captured, _) = observe(1.0);
    let _g = o.set_default();
    let given = RequestContext::from_state(ContextState::default());
    let root = Span::builder("given").context(given.clone()).start();
    root.in_scope(|| Span::new("inherited").in_scope(|| {}));
    drop(root);
    let job = Span::new("job");
    let later = job.in_scope(|| {
        assert!(context::set_user("u"));
        job.data.as_ref().and_then(|d| d.ctx.get().cloned())
    });
    drop(job);
    flush(&o);
    for name in ["given", "inherited", "job"] {
        assert_eq!(captured.spans_named(name).len(), 1, "{name}");
    }
    assert_eq!(
        Arc::strong_count(&given),
        1,
        "the given context is released"
    );
    let later = later.expect("set_user gave the span a context");
    assert_eq!(
        Arc::strong_count(&later),
        1,
        "the later context is released"
    );
}
