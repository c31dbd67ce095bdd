//! The span stack under `tracing` guards used the ways safe code allows: exited
//! out of order, on another thread, after the span closed, leaked, held across
//! `.await`. Each test breaks the invariant of `stack`'s docs on purpose and checks
//! that nothing dangles, nothing leaks into other code, and the misuse is counted.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Waker};

use super::stack;
use crate::span::engine_tests::observe;
use crate::span::{ScopedSpan, Span, current_context};
use crate::{FutureExt as _, context};

/// The ids of a `tracing` span's observe span, read while it is entered.
fn ids_of(span: &tracing::Span) -> crate::SpanContext {
    span.in_scope(|| current_context().expect("entered"))
}

/// The observe span ids of the current span, if any.
fn current() -> Option<crate::SpanContext> {
    current_context()
}

#[test]
fn tracing_spans_exited_out_of_order_leave_the_stack_consistent() {
    let (o, _, _) = observe(1.0);
    let _g = o.set_default();
    let a = tracing::info_span!("a");
    let b = tracing::info_span!("b");
    let (ida, idb) = (ids_of(&a), ids_of(&b));
    let ga = a.enter();
    assert_eq!(current(), Some(ida));
    let gb = b.enter();
    assert_eq!(current(), Some(idb));
    drop(ga);
    // `b` is still entered: still current.
    assert_eq!(current(), Some(idb));
    assert_eq!(stack::depth(), 1);
    drop(gb);
    assert_eq!(current(), None);
    assert_eq!(stack::depth(), 0);
    assert_eq!(o.stats().misnested_spans, 0);
}

#[test]
fn a_guard_exited_on_another_thread_is_counted_and_current_nowhere() {
    let (o, _, _) = observe(1.0);
    let _g = o.set_default();
    let span = tracing::info_span!("moved");
    let id = ids_of(&span);
    std::thread::scope(|scope| {
        let guard = span.enter();
        assert_eq!(current(), Some(id));
        // The guard is `Send`: exited on another thread.
        scope.spawn(move || drop(guard)).join().unwrap();
    });
    // Nothing entered it any more: this thread's entry is stale.
    assert_eq!(current(), None);
    assert_eq!(o.stats().misnested_spans, 1);
    // Closed on another thread: this thread's stack never refers to freed data.
    std::thread::scope(|scope| {
        scope.spawn(move || drop(span)).join().unwrap();
    });
    assert_eq!(current(), None);
    tracing::info!("after");
    assert_eq!(stack::depth(), 0);
    assert_eq!(o.stats().misnested_spans, 1, "counted once per span");
}

#[test]
fn a_span_closed_while_entered_elsewhere_is_current_nowhere() {
    let (o, captured, _) = observe(1.0);
    let _g = o.set_default();
    let span = tracing::info_span!("leaked");
    let id = ids_of(&span);
    // A leaked guard: the span stays entered on this thread...
    #[allow(clippy::mem_forget)]
    std::mem::forget(span.enter());
    assert_eq!(current(), Some(id));
    // ... and is closed on another one.
    std::thread::scope(|scope| {
        scope.spawn(move || drop(span)).join().unwrap();
    });
    assert_eq!(current(), None);
    Span::new("after close").end();
    assert!(o.flush(std::time::Duration::from_secs(10)));
    assert!(!captured.span("after close").parent_id().is_valid());
    assert_eq!(captured.spans_named("leaked").len(), 1);
    assert_eq!(o.stats().misnested_spans, 1);
    assert_eq!(stack::depth(), 0);
}

#[test]
fn a_span_closed_on_its_own_thread_while_entered_is_removed_at_once() {
    let (o, _, _) = observe(1.0);
    let _g = o.set_default();
    let span = tracing::info_span!("leaked here");
    #[allow(clippy::mem_forget)]
    std::mem::forget(span.enter());
    assert_eq!(stack::depth(), 1);
    drop(span);
    assert_eq!(stack::depth(), 0);
    assert_eq!(current(), None);
    assert_eq!(o.stats().misnested_spans, 1);
}

#[test]
fn scopes_remove_what_they_left_entered_and_count_it() {
    let (o, _, _) = observe(1.0);
    let _g = o.set_default();
    let t1 = tracing::info_span!("left by in_scope");
    Span::new("scope").in_scope(|| {
        #[allow(clippy::mem_forget)]
        std::mem::forget(t1.enter());
    });
    assert_eq!(stack::depth(), 0);
    assert_eq!(current(), None);

    let t2 = tracing::info_span!("left by run");
    let scoped = pin!(ScopedSpan::new(Span::new("scoped")));
    scoped.as_ref().run(|| {
        #[allow(clippy::mem_forget)]
        std::mem::forget(t2.enter());
    });
    assert_eq!(stack::depth(), 0);
    assert_eq!(o.stats().misnested_spans, 2);
}

/// A future that enters a `tracing` span and holds the guard across an `.await`.
async fn holds_guard(span: tracing::Span) {
    let _guard = span.enter();
    tokio::task::yield_now().await;
}

#[test]
fn a_poll_removes_a_guard_held_across_await() {
    let (o, _, _) = observe(1.0);
    let _g = o.set_default();
    let held = tracing::info_span!("held");
    let mut fut = pin!(holds_guard(held.clone()).in_span(Span::new("task")));
    let mut cx = Context::from_waker(Waker::noop());
    assert!(fut.as_mut().poll(&mut cx).is_pending());
    // Between polls, this thread runs other tasks: nothing of this one is left.
    assert_eq!(stack::depth(), 0);
    assert_eq!(current(), None);
    assert_eq!(o.stats().misnested_spans, 1);
    assert!(fut.as_mut().poll(&mut cx).is_ready());
    assert_eq!(stack::depth(), 0);
    // The guard's exit found no entry: the same span, not counted twice.
    assert_eq!(o.stats().misnested_spans, 1);
}

#[test]
fn another_tasks_tracing_span_is_not_current() {
    let (o, captured, _) = observe(1.0);
    let _g = o.set_default();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let (entered_tx, entered_rx) = tokio::sync::oneshot::channel::<()>();
    let (checked_tx, checked_rx) = tokio::sync::oneshot::channel::<()>();
    let request = Span::builder("holder request")
        .context(context::RequestContext::builder().user("holder").build())
        .start();
    let held = request.in_scope(|| tracing::info_span!("held"));
    drop(request);
    let held_id = ids_of(&held);
    rt.block_on(async move {
        // A bare task holding a guard across `.await` on this thread...
        let holder = tokio::spawn(async move {
            let _guard = held.enter();
            entered_tx.send(()).unwrap();
            checked_rx.await.unwrap();
            // Its own span again when it resumes.
            assert_eq!(current(), Some(held_id));
        });
        // ... while another task runs on the same thread.
        let other = tokio::spawn(async move {
            entered_rx.await.unwrap();
            assert_eq!(current(), None, "another task's span is current");
            assert!(context::current().is_none());
            Span::new("other root").end();
            checked_tx.send(()).unwrap();
        });
        other.await.unwrap();
        holder.await.unwrap();
    });
    assert!(o.flush(std::time::Duration::from_secs(10)));
    assert!(!captured.span("other root").parent_id().is_valid());
    assert_eq!(stack::depth(), 0);
    assert_eq!(o.stats().misnested_spans, 0, "used within its task: fine");
}

#[test]
fn misnestings_warn_once_then_at_powers_of_ten() {
    let (o, captured, _) = observe(1.0);
    let _g = o.set_default();
    for _ in 0..12 {
        let t = tracing::info_span!("leaky");
        Span::new("scope").in_scope(|| {
            #[allow(clippy::mem_forget)]
            std::mem::forget(t.enter());
        });
    }
    assert!(o.flush(std::time::Duration::from_secs(10)));
    assert_eq!(o.stats().misnested_spans, 12);
    let warnings: Vec<_> = captured
        .logs()
        .into_iter()
        .filter(|l| l.target() == "observe" && l.level() == tracing::Level::WARN)
        .collect();
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert_eq!(
        warnings[1].field("misnested_spans").map(|v| v.to_string()),
        Some("10".into())
    );
    assert_eq!(
        warnings[0].field("span").map(|v| v.to_string()),
        Some("leaky".into())
    );
    let metric = crate::metrics::snapshot()
        .counters
        .into_iter()
        .find(|c| c.name == "observe.span_stack.misnested")
        .expect("metric registered");
    assert!(metric.value >= 12);
}

#[test]
fn a_thread_that_exits_inside_a_span_delivers_what_it_staged() {
    let (o, captured, _) = observe(1.0);
    let kept = std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let _g = o.set_default();
                let span = tracing::info_span!("never exited");
                #[allow(clippy::mem_forget)]
                std::mem::forget(span.enter());
                // Inside a span: staged, waiting for the span to be left.
                tracing::info!("staged line");
                // The span stays open (held by the caller) and entered here.
                span
            })
            .join()
            .unwrap()
    });
    assert!(o.flush(std::time::Duration::from_secs(10)));
    assert!(
        captured.logs().iter().any(|l| l.message() == "staged line"),
        "lost when its thread exited"
    );
    drop(kept);
}

/// The ids of every span entered for the code running now, innermost first.
fn all_current() -> Vec<crate::SpanContext> {
    let mut all = Vec::new();
    stack::for_each(|d| {
        all.push(d.span_context());
        true
    });
    all
}

#[test]
fn scopes_and_tracing_spans_interleave_in_the_order_they_were_entered() {
    let (o, _, _) = observe(1.0);
    let _g = o.set_default();
    let b = tracing::info_span!("b");
    let d = tracing::info_span!("d");
    let (idb, idd) = (ids_of(&b), ids_of(&d));
    let a = Span::new("a");
    let ida = a.span_context().unwrap();
    a.in_scope(|| {
        assert_eq!(current(), Some(ida));
        let gb = b.enter();
        assert_eq!(
            current(),
            Some(idb),
            "a tracing span entered inside a scope is above it"
        );
        let c = Span::new("c");
        let idc = c.span_context().unwrap();
        c.in_scope(|| {
            assert_eq!(
                current(),
                Some(idc),
                "a scope inside a tracing span is above it"
            );
            let gd = d.enter();
            assert_eq!(current(), Some(idd));
            assert_eq!(all_current(), [idd, idc, idb, ida]);
            assert_eq!(stack::depth(), 4);
            drop(gd);
            assert_eq!(current(), Some(idc));
        });
        assert_eq!(current(), Some(idb));
        drop(gb);
        assert_eq!(current(), Some(ida));
    });
    assert_eq!(current(), None);
    assert_eq!(stack::depth(), 0);
    assert_eq!(o.stats().misnested_spans, 0);
}

#[test]
fn a_tracing_span_exited_inside_a_scope_it_was_entered_before_leaves_the_order_intact() {
    let (o, _, _) = observe(1.0);
    let _g = o.set_default();
    let outer = tracing::info_span!("entered before the scope");
    let inner = tracing::info_span!("left entered inside the scope");
    let (ido, idi) = (ids_of(&outer), ids_of(&inner));
    let guard = outer.enter();
    let scope = Span::new("scope");
    let ids = scope.span_context().unwrap();
    assert_eq!(ids.trace_id, ido.trace_id, "a child of the tracing span");
    scope.in_scope(|| {
        assert_eq!(current(), Some(ids));
        // Exited below the scope: the scope stays current, the order holds.
        drop(guard);
        assert_eq!(current(), Some(ids));
        assert_eq!(all_current(), [ids]);
        #[allow(clippy::mem_forget)]
        std::mem::forget(inner.enter());
        assert_eq!(current(), Some(idi));
        assert_eq!(all_current(), [idi, ids]);
    });
    // What the scope left entered was above it: removed and counted.
    assert_eq!(current(), None);
    assert_eq!(stack::depth(), 0);
    assert_eq!(o.stats().misnested_spans, 1);
}

#[test]
fn records_staged_in_a_scope_wait_for_a_tracing_span_entered_around_it() {
    let (o, captured, _) = observe(1.0);
    let _g = o.set_default();
    let around = tracing::info_span!("around");
    let guard = around.enter();
    Span::new("scope").in_scope(|| tracing::info!("inside both"));
    // Still inside `around`: the line is staged on this thread, not yet in the ring.
    assert!(o.flush(std::time::Duration::from_secs(10)));
    assert!(!captured.logs().iter().any(|l| l.message() == "inside both"));
    drop(guard);
    assert!(o.flush(std::time::Duration::from_secs(10)));
    assert!(captured.logs().iter().any(|l| l.message() == "inside both"));
}
