//! Shutdown flushes what is queued, within its deadline, with or without an
//! application runtime.

use std::time::{Duration, Instant};

use observe_core::config::OtlpExport;
use observe_core::export::Exporter;
use observe_core::span::Span;

use crate::support::{Instance, Receiver, Silent, resource, settings, unique_span_ids};

#[test]
fn shutdown_delivers_everything_queued() {
    let Some(rx) = Receiver::start(-1, 0, None) else {
        return;
    };
    let mut s = settings(rx.http("traces"), Some(rx.http("logs")));
    // Nothing would leave before an hour: only shutdown sends it.
    s.span_batch.schedule_delay = Duration::from_secs(3600);
    s.log_batch.schedule_delay = Duration::from_secs(3600);
    let exporter = Exporter::start(s, &resource()).unwrap();
    let mut inst = Instance::start(&exporter, 1.0, Duration::from_secs(10));
    for i in 0..300 {
        Span::new("job").in_scope(|| tracing::info!(i, "step"));
    }
    assert!(inst.shutdown(), "shutdown finished in time");
    let recs = rx.records();
    assert_eq!(unique_span_ids(&recs).len(), 300);
    assert_eq!(crate::support::logs_of(&recs).len(), 300);
    let st = exporter.stats();
    assert_eq!((st.spans_exported, st.logs_exported), (300, 300), "{st:?}");
}

#[test]
fn dead_collector_does_not_stretch_shutdown() {
    let silent = Silent::start();
    let mut s = OtlpExport::http(format!("http://127.0.0.1:{}/v1/traces", silent.port));
    // Export requests may hang for a minute; shutdown allows 500 ms.
    s.timeout = Duration::from_secs(60);
    let exporter = Exporter::start(settings(s, None), &resource()).unwrap();
    let mut inst = Instance::start(&exporter, 1.0, Duration::from_millis(500));
    for _ in 0..1000 {
        Span::new("job").end();
    }
    let started = Instant::now();
    // Whether the worker's confirmation lands just before or just after the deadline
    // is a race; what matters is that shutdown returns near it and nothing vanishes.
    let _ = inst.shutdown();
    let took = started.elapsed();
    // Generous bound: the deadline is 500 ms; anything near the 60 s export timeout
    // would mean the deadline was not honoured.
    assert!(took < Duration::from_secs(10), "shutdown took {took:?}");
    let st = exporter.stats();
    assert_eq!(st.spans_exported, 0);
    assert_eq!(
        st.spans_dropped + st.spans_failed + st.spans_queued + st.spans_in_flight,
        1000,
        "every span is accounted for: {st:?}"
    );
}

#[test]
fn works_from_a_current_thread_runtime() {
    let Some(rx) = Receiver::start(-1, 0, None) else {
        return;
    };
    let exporter = Exporter::start(settings(rx.http("traces"), None), &resource()).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut inst = Instance::start(&exporter, 1.0, Duration::from_secs(5));
    rt.block_on(async {
        for _ in 0..50 {
            use observe_core::FutureExt as _;
            async { tokio::task::yield_now().await }
                .in_span(Span::new("async job"))
                .await;
        }
        // Shutting down from inside the runtime: the exporter has its own thread.
        assert!(inst.shutdown());
    });
    assert_eq!(unique_span_ids(&rx.records()).len(), 50);
}

#[test]
fn works_without_any_runtime() {
    let Some(rx) = Receiver::start(-1, 0, None) else {
        return;
    };
    let exporter = Exporter::start(settings(rx.http("traces"), None), &resource()).unwrap();
    let mut inst = Instance::start(&exporter, 1.0, Duration::from_secs(5));
    std::thread::scope(|s| {
        for _ in 0..2 {
            // Spans on other threads carry the instance with them when they start
            // inside one of its spans.
            let parent = Span::new("fan-out");
            s.spawn(move || {
                parent.in_scope(|| {
                    for _ in 0..10 {
                        Span::new("worker step").end();
                    }
                });
            });
        }
    });
    assert!(inst.shutdown());
    assert_eq!(unique_span_ids(&rx.records()).len(), 22);
}

/// A collector that asks for a retry after the deadline: flush and shutdown say
/// that not everything was delivered (they used to say true: the answer came in
/// time, and the batch waiting for its retry was given up silently).
#[test]
fn a_retry_due_after_the_deadline_is_not_reported_as_delivered() {
    let args = [
        "--fail-count",
        "1",
        "--fail-status",
        "429",
        "--retry-after",
        "30",
    ];
    let Some(rx) = Receiver::start_with(-1, 0, None, &args) else {
        return;
    };
    let exporter = Exporter::start(settings(rx.http("traces"), None), &resource()).unwrap();
    let mut inst = Instance::start(&exporter, 1.0, Duration::from_secs(1));
    for _ in 0..300 {
        Span::new("job").end();
    }
    assert!(
        !inst.flush(Duration::from_secs(1)),
        "a batch waits 30 s for its retry: not flushed"
    );
    assert!(!inst.shutdown(), "shutdown gave the batch up");
    let st = exporter.stats();
    assert_eq!(st.spans_exported, 0, "{st:?}");
    assert_eq!(
        st.spans_failed + st.spans_dropped,
        300,
        "given up and counted: {st:?}"
    );
}

/// A flush whose own records overflow the export queue (the oldest dropped to make
/// room) did not deliver everything, and says so.
#[test]
fn a_flush_that_overflows_the_queue_is_not_reported_as_delivered() {
    let Some(rx) = Receiver::start(-1, 0, None) else {
        return;
    };
    let mut s = settings(rx.http("traces"), None);
    s.span_batch.schedule_delay = Duration::from_secs(3600);
    s.span_batch.max_queue_size = 8;
    s.span_batch.max_export_batch_size = 8;
    let exporter = Exporter::start(s, &resource()).unwrap();
    let inst = Instance::start(&exporter, 1.0, Duration::from_secs(10));
    // Held by the pipeline's export sink until the flush hands them over at once.
    for _ in 0..20 {
        Span::new("job").end();
    }
    assert!(
        !inst.flush(Duration::from_secs(10)),
        "12 of 20 dropped for room: {:?}",
        exporter.stats()
    );
    let st = exporter.stats();
    assert_eq!(st.spans_exported + st.spans_dropped, 20, "{st:?}");
    assert!(st.spans_dropped > 0, "{st:?}");
    // The next flush, with nothing lost, delivers everything again.
    Span::new("one more").end();
    assert!(
        inst.flush(Duration::from_secs(10)),
        "{:?}",
        exporter.stats()
    );
}
